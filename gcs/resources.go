package gcs

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/goray-dev/goray/internal/bytesize"
)

// Resources maps a resource name ("CPU", "GPU", "memory" or a custom
// name) to a quantity. Quantities are kept to four decimal places, as
// Ray does, so that sums and differences of fractions stay exact enough
// to compare.
type Resources map[string]float64

// The resources every node reports.
const (
	CPU    = "CPU"
	GPU    = "GPU"
	Memory = "memory"
)

// resolution is the smallest quantity told apart.
const resolution = 1e-4

// Round rounds a quantity to the resolution resources are kept at.
func Round(v float64) float64 { return math.Round(v/resolution) * resolution }

// Clone returns a copy of r.
func (r Resources) Clone() Resources {
	if r == nil {
		return Resources{}
	}
	return maps.Clone(r)
}

// Fits reports whether demand fits in r.
func (r Resources) Fits(demand Resources) bool {
	for k, v := range demand {
		if v > 0 && r[k]+resolution/2 < v {
			return false
		}
	}
	return true
}

// sub takes demand out of r, in place.
func (r Resources) sub(demand Resources) {
	for k, v := range demand {
		if v != 0 {
			r[k] = Round(r[k] - v)
		}
	}
}

// add gives demand back to r, in place, never above total.
func (r Resources) add(demand, total Resources) {
	for k, v := range demand {
		if v != 0 {
			r[k] = min(Round(r[k]+v), total[k])
		}
	}
}

// Validate reports a negative, NaN or infinite quantity, or an empty name.
func (r Resources) Validate() error {
	for k, v := range r {
		if k == "" {
			return fmt.Errorf("%w: a resource with an empty name", ErrInvalid)
		}
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: resource %s = %v; quantities are finite and not negative", ErrInvalid, k, v)
		}
	}
	return nil
}

// String formats r as "CPU: 2, GPU: 1", names sorted.
func (r Resources) String() string {
	keys := slices.Sorted(maps.Keys(r))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", k, FormatQuantity(k, r[k]))
	}
	return b.String()
}

// FormatQuantity prints a quantity of resource name: bytes for memory,
// a plain number otherwise.
func FormatQuantity(name string, v float64) string {
	if name == Memory {
		return bytesize.Format(uint64(max(v, 0)))
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
}

// utilization is the largest share used of any resource of total that
// demand or used touch: the critical resource decides how full a node is.
func utilization(available, total Resources) float64 {
	u := 0.0
	for k, t := range total {
		if t > 0 {
			u = max(u, (t-available[k])/t)
		}
	}
	return u
}
