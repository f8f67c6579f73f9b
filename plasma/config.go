package plasma

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray/internal/bytesize"
	"github.com/goray-dev/goray/internal/sysmem"
)

// Config configures a node's store. The zero value is usable: every field
// has the default its comment gives.
type Config struct {
	// Name goes into the arena's file name, next to a random suffix; the
	// node's name, usually.
	Name string
	// Dir holds the arena file: a tmpfs. Default /dev/shm.
	Dir string
	// Capacity is the arena's size in bytes. Default DefaultCapacity(Dir):
	// 30% of RAM, at most half of Dir's free space.
	Capacity uint64
	// SpillDir holds the store's directory for spilled objects (and
	// fallback files). Default $TMPDIR/goray-spill.
	SpillDir string
	// SpillThreshold is the share of capacity above which pinned primary
	// copies are spilled to disk. Default 0.8.
	SpillThreshold float64
	// MinSpillingSize is the least a spill batch writes, unless fewer bytes
	// can be spilled: several objects go into one file. Default 100 MiB.
	MinSpillingSize uint64
	// DisableSpilling keeps every primary copy in memory.
	DisableSpilling bool
	// CreateGrace is how long a Create that finds no room waits for memory
	// to be freed before it fails with ObjectStoreFullError. Default 2 s.
	CreateGrace time.Duration
	// Fallback lets a Create that would fail with ObjectStoreFullError put
	// the object in a file-backed mapping in SpillDir instead.
	Fallback bool
	// NoPrefault skips mapping every page of the arena in the background
	// after start. Tests with many stores use it; a node should not.
	NoPrefault bool
	// Logger receives the store's logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultDir             = "/dev/shm"
	DefaultCapacityShare   = 0.3
	DefaultSpillThreshold  = 0.8
	DefaultMinSpillingSize = 100 << 20
	DefaultCreateGrace     = 2 * time.Second
	// minCapacity keeps the arena big enough for a slab or two.
	minCapacity = 64 << 10
)

// ErrConfig marks an invalid configuration.
var ErrConfig = errors.New("plasma: invalid config")

// DefaultCapacity is the arena size a store in dir gets when none is set:
// DefaultCapacityShare of RAM (at least 64 MiB), capped at half of what
// dir has free, so that the default fits a small tmpfs (a container's
// 64 MiB /dev/shm) instead of failing. capped says the cap applied.
func DefaultCapacity(dir string) (size uint64, capped bool) {
	size = max(uint64(float64(sysmem.Total())*DefaultCapacityShare), minDefaultCapacity)
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil {
		if free := st.Bavail * uint64(st.Bsize); size > free/2 {
			size, capped = free/2, true
		}
	}
	return size &^ (Alignment - 1), capped
}

// minDefaultCapacity is the least a default arena asks for, unless its
// tmpfs has less room.
const minDefaultCapacity = 64 << 20

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Capacity == 0 {
		var capped bool
		if c.Capacity, capped = DefaultCapacity(c.Dir); capped {
			c.Logger.Warn("plasma: the default arena is capped at half of its tmpfs's free space; enlarge it (docker: --shm-size) or set the capacity",
				"dir", c.Dir, "capacity", bytesize.Format(c.Capacity))
		}
	}
	c.Capacity &^= Alignment - 1
	if c.Capacity > MaxCapacity {
		return fmt.Errorf("%w: capacity %d is above the maximum %d", ErrConfig, c.Capacity, uint64(MaxCapacity))
	}
	if c.Capacity < minCapacity {
		return fmt.Errorf("%w: capacity %d is below the minimum %d", ErrConfig, c.Capacity, minCapacity)
	}
	if c.SpillDir == "" {
		c.SpillDir = filepath.Join(os.TempDir(), "goray-spill")
	}
	if c.SpillThreshold == 0 {
		c.SpillThreshold = DefaultSpillThreshold
	}
	if !(c.SpillThreshold > 0 && c.SpillThreshold <= 1) { // NaN too
		return fmt.Errorf("%w: spill threshold %v is not in (0, 1]", ErrConfig, c.SpillThreshold)
	}
	if c.MinSpillingSize == 0 {
		c.MinSpillingSize = DefaultMinSpillingSize
	}
	if c.CreateGrace == 0 {
		c.CreateGrace = DefaultCreateGrace
	}
	if c.CreateGrace < 0 {
		return fmt.Errorf("%w: negative create grace %v", ErrConfig, c.CreateGrace)
	}
	if c.Name == "" {
		c.Name = "node"
	}
	for _, r := range c.Name {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("%w: name %q: use letters, digits, '-' and '_'", ErrConfig, c.Name)
		}
	}
	return nil
}
