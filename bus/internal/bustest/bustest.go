// Package bustest holds the message types and actors shared by the bus
// package's multi-process tests and the busnode program they start.
package bustest

import (
	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// Ping asks an Echo actor for a Pong with N+1.
type Ping struct {
	N    int    `cbor:"1,keyasint"`
	Text string `cbor:"2,keyasint,omitempty"`
}

// Pong answers Ping.
type Pong struct {
	N int `cbor:"1,keyasint"`
}

// Tick is the message of the throughput benchmark: a few fields, encoded
// by reflection.
type Tick struct {
	Seq uint64 `cbor:"1,keyasint"`
	A   int64  `cbor:"2,keyasint"`
	B   int64  `cbor:"3,keyasint"`
	C   uint32 `cbor:"4,keyasint"`
	D   bool   `cbor:"5,keyasint"`
}

// Count asks a Sink for its count once it reaches At.
type Count struct {
	At uint64 `cbor:"1,keyasint"`
}

// Counted answers Count.
type Counted struct {
	N uint64 `cbor:"1,keyasint"`
}

// StatsRequest asks a Stats actor for its node's bus counters.
type StatsRequest struct{}

// Watch asks a Watcher actor to watch PID and report its end to ReportTo.
type Watch struct {
	PID      *actor.PID `cbor:"1,keyasint"`
	ReportTo *actor.PID `cbor:"2,keyasint"`
}

// Ended is what a Watcher reports.
type Ended struct {
	PID    *actor.PID `cbor:"1,keyasint"`
	Reason uint8      `cbor:"2,keyasint"`
}

func init() {
	bus.Register[*Ping]("bustest.ping")
	bus.Register[Pong]("bustest.pong")
	bus.Register[*Tick]("bustest.tick")
	bus.Register[*FastTick]("bustest.fasttick")
	bus.Register[*Count]("bustest.count")
	bus.Register[Counted]("bustest.counted")
	bus.Register[*StatsRequest]("bustest.stats")
	bus.Register[bus.Stats]("bustest.statsreply")
	bus.Register[*Watch]("bustest.watch")
	bus.Register[*Ended]("bustest.ended")
	bus.RegisterKind("echo", func() *actor.Props { return actor.PropsFromFunc(Echo) })
	bus.RegisterKind("sink", func() *actor.Props { return actor.PropsFromProducer(func() actor.Actor { return &Sink{} }) })
	bus.RegisterKind("watcher", func() *actor.Props { return actor.PropsFromProducer(func() actor.Actor { return &Watcher{} }) })
}

// Echo answers Ping with Pong.
func Echo(c *actor.Context) {
	if m, ok := c.Message().(*Ping); ok {
		c.Respond(Pong{N: m.N + 1})
	}
}

// Sink counts Ticks and answers Count once the count reaches its At.
type Sink struct {
	n       uint64
	waiting []waiter
}

type waiter struct {
	at  uint64
	pid *actor.PID
}

// Receive implements actor.Actor.
func (s *Sink) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case *Tick, *FastTick:
		s.n++
		if len(s.waiting) > 0 {
			s.answer(c)
		}
	case *Count:
		s.waiting = append(s.waiting, waiter{at: m.At, pid: c.Sender()})
		s.answer(c)
	}
}

func (s *Sink) answer(c *actor.Context) {
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		if s.n >= w.at {
			c.Send(w.pid, Counted{N: s.n})
		} else {
			kept = append(kept, w)
		}
	}
	s.waiting = kept
}

// Watcher watches the PIDs it is told to and reports their end.
type Watcher struct {
	reportTo map[string]*actor.PID
}

// Receive implements actor.Actor.
func (w *Watcher) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case *Watch:
		if w.reportTo == nil {
			w.reportTo = make(map[string]*actor.PID)
		}
		w.reportTo[m.PID.String()] = m.ReportTo
		c.Watch(m.PID)
	case actor.Terminated:
		if to := w.reportTo[m.PID.String()]; to != nil {
			c.Send(to, &Ended{PID: m.PID, Reason: uint8(m.Reason)})
		}
	}
}

// StatsServer answers StatsRequest with its node's counters.
func StatsServer(n *bus.Node) actor.ReceiveFunc {
	return func(c *actor.Context) {
		if _, ok := c.Message().(*StatsRequest); ok {
			c.Respond(n.Stats())
		}
	}
}

// FastTick is Tick on the fast path: it encodes and decodes itself.
type FastTick Tick

// AppendCBOR implements bus.Appender.
func (t *FastTick) AppendCBOR(b []byte) ([]byte, error) {
	b = bus.AppendMap(b, 5)
	b = bus.AppendUint(bus.AppendUint(b, 1), t.Seq)
	b = bus.AppendInt(bus.AppendUint(b, 2), t.A)
	b = bus.AppendInt(bus.AppendUint(b, 3), t.B)
	b = bus.AppendUint(bus.AppendUint(b, 4), uint64(t.C))
	b = bus.AppendBool(bus.AppendUint(b, 5), t.D)
	return b, nil
}

// UnmarshalCBOR implements cbor.Unmarshaler.
func (t *FastTick) UnmarshalCBOR(data []byte) error {
	d := bus.NewDecoder(data)
	n, err := d.Map()
	for ; err == nil && n > 0; n-- {
		var key, u uint64
		if key, err = d.Uint(); err != nil {
			break
		}
		switch key {
		case 1:
			t.Seq, err = d.Uint()
		case 2:
			t.A, err = d.Int()
		case 3:
			t.B, err = d.Int()
		case 4:
			u, err = d.Uint()
			t.C = uint32(u)
		case 5:
			t.D, err = d.Bool()
		default:
			err = d.Skip()
		}
	}
	return err
}

// BareEchoSubject is where a busnode answers plain NATS requests with
// their own payload.
func BareEchoSubject(node string) string { return "bench.echo." + node }
