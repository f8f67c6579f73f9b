package bus

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are a node's bus counters since it started.
type Stats struct {
	Sent          uint64 // envelopes handed to NATS
	Batches       uint64 // NATS messages those envelopes went out in
	Received      uint64 // envelopes decoded from the inbox
	SendErrors    uint64 // sends that failed here (unregistered type, too large, node down)
	Malformed     uint64 // incoming bytes that were not a valid envelope or body
	UnknownType   uint64 // incoming messages of a type not registered here
	Oversized     uint64 // incoming bodies larger than MaxMessageBytes
	Undeliverable uint64 // incoming messages for actors that are not here
	NodesDown     uint64 // peers declared down
	SlowConsumer  uint64 // times NATS dropped messages for this node's subscriptions

	PendingRequests int // requests to other nodes awaiting their reply now
}

// counters are the live Stats, updated atomically.
type counters struct {
	sent, batches, received, sendErrors          atomic.Uint64
	malformed, unknownType, oversized, undeliver atomic.Uint64
	nodesDown, slowConsumer                      atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Sent:          c.sent.Load(),
		Batches:       c.batches.Load(),
		Received:      c.received.Load(),
		SendErrors:    c.sendErrors.Load(),
		Malformed:     c.malformed.Load(),
		UnknownType:   c.unknownType.Load(),
		Oversized:     c.oversized.Load(),
		Undeliverable: c.undeliver.Load(),
		NodesDown:     c.nodesDown.Load(),
		SlowConsumer:  c.slowConsumer.Load(),
	}
}

// throttledLog logs at most one line per key per period and says how many
// it held back, so a peer spewing garbage cannot flood the log.
type throttledLog struct {
	log    *slog.Logger
	period time.Duration
	mu     sync.Mutex
	keys   map[string]*throttleState
}

type throttleState struct {
	last       time.Time
	suppressed int
}

func newThrottledLog(log *slog.Logger, period time.Duration) *throttledLog {
	return &throttledLog{log: log, period: period, keys: make(map[string]*throttleState)}
}

// log logs msg under key unless a line with that key went out within the
// period.
func (t *throttledLog) logAt(level slog.Level, key, msg string, args ...any) {
	now := time.Now()
	t.mu.Lock()
	st := t.keys[key]
	if st == nil {
		st = &throttleState{}
		t.keys[key] = st
	}
	if !st.last.IsZero() && now.Sub(st.last) < t.period {
		st.suppressed++
		t.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.last, st.suppressed = now, 0
	t.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	t.log.Log(context.Background(), level, msg, args...)
}
