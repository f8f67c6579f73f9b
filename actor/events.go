package actor

import (
	"sync"
	"sync/atomic"

	"github.com/goray-dev/goray/supervisor"
)

// DeadLetter is published for every message that could not be delivered:
// its target was stopped or unknown, or a bounded mailbox dropped it.
type DeadLetter struct {
	PID     *PID
	Message any
	Sender  *PID
}

// ActorFailed is published when an actor's Receive panicked, or when an
// actor escalated a child's failure and so failed itself.
type ActorFailed struct {
	PID     *PID
	Reason  any
	Stack   []byte
	Message any
}

// SupervisionDecided is published when a supervisor has decided what to do
// about a failed child.
type SupervisionDecided struct {
	Supervisor    *PID
	Child         *PID
	Reason        any
	Directive     supervisor.Directive
	LimitExceeded bool
}

// ActorRestarted is published when a fresh instance has replaced a failed
// one.
type ActorRestarted struct {
	PID    *PID
	Reason any
}

// EventStream carries system events (dead letters, failures, supervision
// decisions, restarts) to subscribers. Handlers run synchronously on the
// publishing goroutine, often an actor's: they must be quick and must not
// block.
type EventStream struct {
	mu     sync.Mutex
	subs   atomic.Pointer[[]*Subscription]
	panics atomic.Uint64
}

// Subscription is a handle for Unsubscribe.
type Subscription struct {
	stream *EventStream
	fn     func(any)
}

// Subscribe calls fn for every event published from now on.
func (es *EventStream) Subscribe(fn func(event any)) *Subscription {
	s := &Subscription{stream: es, fn: fn}
	es.mu.Lock()
	defer es.mu.Unlock()
	var next []*Subscription
	if cur := es.subs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	es.subs.Store(&next)
	return s
}

// Subscribe calls fn for every event of type T published on es.
func Subscribe[T any](es *EventStream, fn func(T)) *Subscription {
	return es.Subscribe(func(e any) {
		if t, ok := e.(T); ok {
			fn(t)
		}
	})
}

// Unsubscribe stops the deliveries to s. It is safe to call twice.
func (s *Subscription) Unsubscribe() {
	es := s.stream
	es.mu.Lock()
	defer es.mu.Unlock()
	cur := es.subs.Load()
	if cur == nil {
		return
	}
	next := make([]*Subscription, 0, len(*cur))
	for _, x := range *cur {
		if x != s {
			next = append(next, x)
		}
	}
	es.subs.Store(&next)
}

// Publish delivers event to every subscriber. A subscriber that panics is
// skipped for this event (the panic is counted in Panics): events are
// published from the runtime's own paths, failure handling among them,
// which a faulty handler must not break.
func (es *EventStream) Publish(event any) {
	cur := es.subs.Load()
	if cur == nil {
		return
	}
	for _, s := range *cur {
		es.deliver(s, event)
	}
}

func (es *EventStream) deliver(s *Subscription, event any) {
	defer func() {
		if recover() != nil {
			es.panics.Add(1)
		}
	}()
	s.fn(event)
}

// Panics returns how many times a subscriber panicked.
func (es *EventStream) Panics() uint64 { return es.panics.Load() }
