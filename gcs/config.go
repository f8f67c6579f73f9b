package gcs

import (
	"fmt"
	"log/slog"
	"time"
)

// Config configures the GCS.
type Config struct {
	// StorageDir holds the JetStream files the tables are written through
	// to. A head started again on the same directory recovers its tables.
	// Empty: the tables are kept in memory and die with the process (the
	// embedded single-process cluster).
	StorageDir string
	// HealthPeriod is how often the GCS checks every raylet, and
	// HealthThreshold how many checks in a row a node may miss before it
	// is declared dead. Defaults 1 s and 5.
	HealthPeriod    time.Duration
	HealthThreshold int
	// Head is the bus name of the head node, where the GCS runs. Default
	// DefaultHead.
	Head string
	// Logger receives the GCS's logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultHealthPeriod    = time.Second
	DefaultHealthThreshold = 5
	DefaultHead            = "head"
)

func (c Config) withDefaults() (Config, error) {
	if c.HealthPeriod == 0 {
		c.HealthPeriod = DefaultHealthPeriod
	}
	if c.HealthThreshold == 0 {
		c.HealthThreshold = DefaultHealthThreshold
	}
	if c.Head == "" {
		c.Head = DefaultHead
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.HealthPeriod < 10*time.Millisecond:
		return c, fmt.Errorf("%w: HealthPeriod %v is below 10ms", ErrInvalid, c.HealthPeriod)
	case c.HealthThreshold < 1:
		return c, fmt.Errorf("%w: HealthThreshold %d is below 1", ErrInvalid, c.HealthThreshold)
	}
	return c, nil
}
