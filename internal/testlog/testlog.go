// Package testlog gives tests and benchmarks a logger that writes to the
// test's own log, shown only for failures and -v, so that a component's
// logs never mix into benchmark output.
package testlog

import (
	"log/slog"
	"strings"
	"testing"
)

// New returns a logger that writes to tb's log at level Info and above;
// Warn and above for a benchmark, whose log is always printed.
func New(tb testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if _, ok := tb.(*testing.B); ok {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(writer{tb}, &slog.HandlerOptions{Level: level}))
}

type writer struct{ tb testing.TB }

func (w writer) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
