package raylet

import (
	"fmt"
	"sync/atomic"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/supervisor"
)

// keeper supervises one hosted actor with that actor's restart policy:
// it restarts the actor in place while restarts remain, tells the raylet
// of each restart and of the actor's end, and stops with it.
type keeper struct {
	id       string
	producer actor.Producer
	left     int // restarts that remain; -1 for ever
	raylet   *actor.PID
	sys      *actor.System

	self     *actor.PID
	child    *actor.PID
	stopping bool   // stopped on purpose: nothing to report
	failure  string // the crash that ended it
}

// Messages between a raylet and its keepers.
type (
	// Every report names its keeper: one that was told to stop may still
	// report, and must not be taken for the keeper of a newer copy.
	hostedStarted struct {
		keeper *actor.PID
		id     string
		pid    *actor.PID
	}
	hostedRestarted struct {
		keeper    *actor.PID
		id, cause string
	}
	hostedEnded struct {
		keeper    *actor.PID
		id, cause string
		spawn     bool // it never started
	}
	stopHosted struct{ cause string }
)

func (k *keeper) props() *actor.Props {
	inner := supervisor.OneForOne(supervisor.MaxRetries(k.left), supervisor.Within(0))
	return actor.PropsFromProducer(func() actor.Actor { return k },
		actor.WithSupervisor(keeperStrategy{k: k, inner: inner}))
}

func (k *keeper) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		k.self = c.Self()
		// The first instance is made here, so that a constructor that
		// panics fails the creation itself; restarts use produce.
		first := k.produce()
		if b, ok := first.(broken); ok {
			c.Send(k.raylet, hostedEnded{keeper: k.self, id: k.id, cause: b.cause, spawn: true})
			c.Stop(c.Self())
			return
		}
		var made atomic.Bool
		producer := func() actor.Actor {
			if made.CompareAndSwap(false, true) {
				return first
			}
			return k.produce()
		}
		child, err := c.SpawnNamed(actor.PropsFromProducer(producer, actor.WithMiddleware(guard(k.id))), "actor")
		if err != nil {
			c.Send(k.raylet, hostedEnded{keeper: k.self, id: k.id, cause: fmt.Sprintf("could not start: %v", err), spawn: true})
			c.Stop(c.Self())
			return
		}
		k.child = child
		c.Watch(child)
		c.Send(k.raylet, hostedStarted{keeper: k.self, id: k.id, pid: child})
	case crash:
		c.Send(k.child, m)
	case stopHosted:
		k.stopping = true
		c.Stop(c.Self()) // children stop first
	case actor.Terminated:
		if m.PID.Equal(k.child) && !k.stopping {
			cause := k.failure
			if cause == "" {
				cause = "the actor stopped itself"
			}
			c.Send(k.raylet, hostedEnded{keeper: k.self, id: k.id, cause: cause})
			k.stopping = true
			c.Stop(c.Self())
		}
	}
}

// produce makes an instance of the actor. A constructor that panics
// yields a stand-in that fails at once with constructorPanicked, which
// the keeper's strategy stops for good: the panic must neither fail the
// keeper (and through it the raylet) nor leave a restart unfinished.
func (k *keeper) produce() (a actor.Actor) {
	defer func() {
		if r := recover(); r != nil {
			a = broken{cause: fmt.Sprintf("could not start: the constructor panicked: %v", r)}
		}
	}()
	return k.producer()
}

// constructorPanicked is the failure of a broken instance.
type constructorPanicked struct{ cause string }

func (p constructorPanicked) String() string { return p.cause }

// broken stands in for an instance whose constructor panicked.
type broken struct{ cause string }

func (b broken) Receive(c *actor.Context) {
	if _, ok := c.Message().(actor.Started); ok {
		panic(constructorPanicked(b))
	}
}

// keeperStrategy applies the actor's restart limit and reports what it
// decided; past the limit the actor stops (it never escalates to the
// raylet).
type keeperStrategy struct {
	k     *keeper
	inner supervisor.Strategy
}

func (s keeperStrategy) Decide(reason any, stats *supervisor.Stats) supervisor.Decision {
	if p, ok := reason.(constructorPanicked); ok {
		s.k.failure = p.cause // restarting would panic again
		return supervisor.Decision{Directive: supervisor.Stop}
	}
	d := s.inner.Decide(reason, stats)
	cause := fmt.Sprintf("crashed: %v", reason)
	if kl, ok := reason.(killed); ok {
		cause = kl.cause
	}
	if d.Directive == supervisor.Restart {
		s.k.sys.Send(s.k.raylet, hostedRestarted{keeper: s.k.self, id: s.k.id, cause: cause})
		return d
	}
	if s.k.left >= 0 {
		cause = fmt.Sprintf("%s; no restarts left (max_restarts reached)", cause)
	}
	s.k.failure = cause
	return supervisor.Decision{Directive: supervisor.Stop}
}
