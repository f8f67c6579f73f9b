package raylet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
)

// standIn is a stand-in raylet that, like the real one, spawns keepers
// as its children (so a keeper's failure goes to it), and forwards what
// they report.
type spawnKeeper struct{ k *keeper }

func standIn(sys *actor.System, out chan<- any) *actor.PID {
	return sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case spawnKeeper:
			m.k.raylet = c.Self()
			if _, err := c.SpawnNamed(m.k.props(), "a-"+m.k.id); err != nil {
				out <- err
			}
		case hostedStarted, hostedRestarted, hostedEnded:
			out <- m
		}
	}))
}

// TestRegressionConstructorPanicTakesDownRaylet used to fail: an actor kind whose constructor
// (the factory given to goray.RegisterActor) panics takes the whole node
// down. The keeper calls the producer inside its own Receive
// (keeper.Receive, actor.Started → c.SpawnNamed → actorProcess.init →
// props.producer()), so the panic is the keeper's failure; the keeper's
// supervisor is the raylet, whose props carry the default strategy
// (restart, 10 retries): the keeper is restarted ten times, each time
// panicking again, and then the failure escalates past the raylet to the
// root guardian, which stops the raylet. The node then answers no health
// check: the GCS declares it dead, every actor on it is lost, and a
// driver's job FAILS (an embedded cluster is dead for good). No
// hostedEnded is ever reported, so NewActor learns nothing until the
// node is declared dead ("node died (missed 5 health checks…)").
//
// The fix: in keeper.Receive(Started) call SpawnNamed under a recover and
// report hostedEnded{cause: "could not start: the constructor panicked: …"}
// (the GCS then fails NewActor with that cause); and give the raylet's
// props a strategy that never restarts or escalates a failed keeper
// (stop it and report the actor dead), so no hosted code can kill the
// raylet.
func TestRegressionConstructorPanicTakesDownRaylet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sys := actor.NewSystem()
	defer sys.Shutdown(ctx)
	reports := make(chan any, 64)
	parent := standIn(sys, reports)
	k := &keeper{id: "bad", producer: func() actor.Actor { panic("constructor failed") }, left: 0, sys: sys}
	sys.Send(parent, spawnKeeper{k: k})

	ended := next[hostedEnded](t, reports)
	assert.Contains(t, ended.cause, "constructor failed")
	time.Sleep(200 * time.Millisecond)
	assert.True(t, parent.Alive(), "a hosted actor's constructor took its raylet down")
}

// TestRegressionConstructorPanicOnRestartWedgesActor used to fail: a constructor that panics
// when the keeper restarts the actor after a crash (the first instance
// was fine) leaves the actor wedged: the restart never finishes
// (actor.Context.finishRestart → props.producer() panics), no
// hostedRestarted-then-Started nor hostedEnded reaches the raylet, the
// GCS keeps the actor ALIVE, and every later call through a handle waits
// for its whole timeout ("context deadline exceeded") instead of failing
// with ActorDiedError.
//
// keeper.go (keeperStrategy: Restart with a producer that is not
// guarded) — the actor runtime does not treat a panicking producer as a
// failure of the restart.
//
// The fix: wrap the producer the keeper hands to the child's props in a
// function that recovers a panic, reports hostedEnded{cause: "could not
// restart: the constructor panicked: …"} and stops the child (or returns
// a stand-in actor that stops itself at Started); better, make the actor
// runtime count a producer panic as a failure of the restarted actor.
func TestRegressionConstructorPanicOnRestartWedgesActor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sys := actor.NewSystem()
	defer sys.Shutdown(ctx)
	reports := make(chan any, 64)
	parent := standIn(sys, reports)
	var calls atomic.Int32
	k := &keeper{id: "badrestart", producer: func() actor.Actor {
		if calls.Add(1) > 1 {
			panic("constructor failed on restart")
		}
		return probe{}
	}, left: 3, sys: sys}
	sys.Send(parent, spawnKeeper{k: k})
	started := next[hostedStarted](t, reports)

	r, err := sys.Request(ctx, started.pid, boom{})
	require.NoError(t, err)
	require.IsType(t, &CallFailed{}, r)

	// Either the actor answers again, or its end is reported; a call must
	// not just hang.
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	defer rcancel()
	_, err = sys.Request(rctx, started.pid, "still there?")
	if err == nil {
		return
	}
	t.Logf("call after the failed restart: %v", err)
	deadline := time.After(3 * time.Second)
	for {
		select {
		case m := <-reports:
			if e, ok := m.(hostedEnded); ok {
				assert.Contains(t, e.cause, "constructor failed on restart")
				return
			}
			t.Logf("report: %T %+v", m, m)
		case <-deadline:
			t.Fatalf("the actor neither answers nor is reported ended after its constructor panicked on restart (%v)", err)
		}
	}
}
