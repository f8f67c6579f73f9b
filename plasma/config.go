package plasma

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Config configures a node's store. The zero value is usable: every field
// has the default its comment gives.
type Config struct {
	// Name goes into the arena's file name, next to a random suffix; the
	// node's name, usually.
	Name string
	// Dir holds the arena file: a tmpfs. Default /dev/shm.
	Dir string
	// Capacity is the arena's size in bytes. Default 30% of RAM.
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

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.Capacity == 0 {
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return fmt.Errorf("plasma: read the memory size: %w", err)
		}
		c.Capacity = uint64(float64(uint64(si.Totalram)*uint64(si.Unit)) * DefaultCapacityShare)
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
	if c.Logger == nil {
		c.Logger = slog.Default()
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
