package actor_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
)

// rtGoroutinesBackTo waits until the number of goroutines is back to base.
// It polls on the test's goroutine: require.Eventually would count its own.
func rtGoroutinesBackTo(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			require.FailNowf(t, "goroutines leaked", "baseline %d, now %d:\n%s", base, runtime.NumGoroutine(), buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShutdownManyTrees(t *testing.T) {
	base := runtime.NumGoroutine()
	sys := actor.NewSystem(actor.WithLogger(rtDiscardLogger()))
	t.Cleanup(func() { // only matters if the test failed half-way
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sys.Shutdown(ctx)
	})
	const n = 10_000
	var childrenStarted, childrenStopped, parentsStopped, parentsEarly atomic.Int64
	allStarted := make(chan struct{})
	child := actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			if childrenStarted.Add(1) == n {
				close(allStarted)
			}
		case actor.Stopped:
			childrenStopped.Add(1)
		}
	})
	parent := actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			c.Spawn(child)
		case actor.Stopped:
			if len(c.Children()) != 0 {
				parentsEarly.Add(1)
			}
			parentsStopped.Add(1)
		}
	})
	for range n {
		sys.Spawn(parent)
	}
	select {
	case <-allStarted:
	case <-time.After(30 * time.Second):
		require.FailNow(t, "not all actors started", "%d of %d children", childrenStarted.Load(), n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, sys.Shutdown(ctx))
	elapsed := time.Since(start)
	require.Less(t, elapsed, 10*time.Second)
	t.Logf("shutdown of %d trees took %v", n, elapsed)
	require.EqualValues(t, n, childrenStopped.Load(), "every child got Stopped")
	require.EqualValues(t, n, parentsStopped.Load(), "every parent got Stopped")
	require.Zero(t, parentsEarly.Load(), "a parent got Stopped while it still had children")
	rtGoroutinesBackTo(t, base)
}

func TestShutdownStopsChildrenBeforeParents(t *testing.T) {
	base := runtime.NumGoroutine()
	sys := actor.NewSystem(actor.WithLogger(rtDiscardLogger()))
	log := &rtLog{}
	started := make(chan struct{}, 8)
	var node func(name string, kids ...string) *actor.Props
	node = func(name string, kids ...string) *actor.Props {
		return actor.PropsFromFunc(func(c *actor.Context) {
			switch c.Message().(type) {
			case actor.Started:
				if len(kids) > 0 {
					c.Spawn(node(kids[0], kids[1:]...))
				}
				started <- struct{}{}
			case actor.Stopping:
				log.add(name + ":Stopping")
			case actor.Stopped:
				log.add(name + ":Stopped")
			}
		})
	}
	sys.Spawn(node("root", "child", "grandchild"))
	sys.Spawn(node("other"))
	for range 4 {
		rtRecv(t, started, "Started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, sys.Shutdown(ctx))

	entries := log.snapshot()
	idx := func(s string) int {
		i := slices.Index(entries, s)
		require.GreaterOrEqual(t, i, 0, "%s missing from %v", s, entries)
		return i
	}
	require.Less(t, idx("root:Stopping"), idx("child:Stopping"))
	require.Less(t, idx("child:Stopping"), idx("grandchild:Stopping"))
	require.Less(t, idx("grandchild:Stopped"), idx("child:Stopped"))
	require.Less(t, idx("child:Stopped"), idx("root:Stopped"))
	require.Less(t, idx("other:Stopping"), idx("other:Stopped"))
	require.Len(t, entries, 8)

	require.NoError(t, sys.Shutdown(ctx), "a second Shutdown is harmless")
	rtGoroutinesBackTo(t, base)
}

func TestShutdownWithStuckActorReturnsContextError(t *testing.T) {
	base := runtime.NumGoroutine()
	sys := actor.NewSystem(actor.WithLogger(rtDiscardLogger()))
	entered, release := make(chan struct{}), make(chan struct{})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	stopped := make(chan struct{})
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message() {
		case "block":
			close(entered)
			rtBlock(release)
		case actor.Stopped{}:
			close(stopped)
		}
	}))
	sys.Spawn(actor.PropsFromFunc(func(*actor.Context) {})) // a healthy neighbour
	sys.Send(pid, "block")
	rtClosed(t, entered, "the actor to block")

	const deadline = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := sys.Shutdown(ctx)
	elapsed := time.Since(start)
	require.Error(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, elapsed, deadline)
	require.Less(t, elapsed, deadline+time.Second, "Shutdown returns when its ctx ends")

	_, err = sys.SpawnNamed(actor.PropsFromFunc(func(*actor.Context) {}), "late")
	require.ErrorIs(t, err, actor.ErrShutdown, "spawns fail once Shutdown has begun, even if it gave up")

	// Unblock the actor: it stops, and a second Shutdown completes.
	released = true
	close(release)
	rtClosed(t, stopped, "the stuck actor to stop")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	require.NoError(t, sys.Shutdown(ctx2))
	rtGoroutinesBackTo(t, base)
}

func TestSpawnAfterShutdown(t *testing.T) {
	sys := actor.NewSystem(actor.WithLogger(rtDiscardLogger()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, sys.Shutdown(ctx))

	var produced atomic.Int32
	props := actor.PropsFromProducer(func() actor.Actor {
		produced.Add(1)
		return actor.ReceiveFunc(func(*actor.Context) {})
	})
	pid, err := sys.SpawnNamed(props, "after")
	require.ErrorIs(t, err, actor.ErrShutdown)
	require.Nil(t, pid)
	require.Nil(t, sys.Lookup("after"))

	// Spawn cannot fail; it returns a PID whose messages are dead letters.
	dead := sys.Spawn(props)
	require.NotNil(t, dead)
	before := sys.DeadLetterCount()
	sys.Send(dead, "hello?")
	require.Equal(t, before+1, sys.DeadLetterCount())
	_, err = sys.Request(ctx, dead, "anyone?")
	require.ErrorIs(t, err, actor.ErrDeadLetter)
	require.Zero(t, produced.Load(), "no actor was made")
}

func TestShutdownStopsEveryActor(t *testing.T) {
	sys := actor.NewSystem(actor.WithLogger(rtDiscardLogger()))
	const n = 500
	var started, stopping, stopped atomic.Int32
	props := actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			started.Add(1)
		case actor.Stopping:
			stopping.Add(1)
		case actor.Stopped:
			stopped.Add(1)
		}
	})
	pids := make([]*actor.PID, n)
	for i := range pids {
		pids[i] = sys.Spawn(props)
	}
	named, err := sys.SpawnNamed(props, "named")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return started.Load() == n+1 }, rtWait, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, sys.Shutdown(ctx))
	assert.EqualValues(t, n+1, stopping.Load())
	assert.EqualValues(t, n+1, stopped.Load())
	require.Nil(t, sys.Lookup("named"))
	before := sys.DeadLetterCount()
	sys.Send(pids[0], 1)
	sys.Send(named, 2)
	require.Equal(t, before+2, sys.DeadLetterCount(), "sends after Shutdown are dead letters")
}

// Idle actors hold no goroutine and little memory.
func TestIdleActorsAreCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 100 000 actors")
	}
	const n = 100_000
	perActor, goroutines := measureIdleActors(t, n)
	t.Logf("heap per idle actor: %.0f bytes, goroutines per actor: %g", perActor, goroutines)
	require.LessOrEqual(t, goroutines*n, 4.0, "idle actors must not hold goroutines")
	require.Less(t, perActor, 1024.0, "heap per idle actor")
}

// Spawns racing with Shutdown: each spawn either fails or makes an actor
// that gets Started first and Stopped last, and Shutdown still completes.
func TestShutdownRacingSpawns(t *testing.T) {
	base := runtime.NumGoroutine()
	for round := range 100 {
		sys := actor.NewSystem(actor.WithLogger(rtDiscardLogger()))
		var started, stopped, badOrder, spawned atomic.Int64
		props := actor.PropsFromProducer(func() actor.Actor {
			gotStarted := false
			return actor.ReceiveFunc(func(c *actor.Context) {
				switch c.Message().(type) {
				case actor.Started:
					gotStarted = true
					started.Add(1)
				case actor.Stopping:
					if !gotStarted {
						badOrder.Add(1)
					}
				case actor.Stopped:
					if !gotStarted {
						badOrder.Add(1)
					}
					stopped.Add(1)
				}
			})
		})
		stop := make(chan struct{})
		done := make(chan struct{})
		const spawners = 4
		for g := range spawners {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range 400 {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := sys.SpawnNamed(props, fmt.Sprintf("a-%d-%d", g, i)); err == nil {
						spawned.Add(1)
					} else if !errors.Is(err, actor.ErrShutdown) {
						t.Errorf("SpawnNamed: %v", err)
						return
					}
				}
			}()
		}
		for spawned.Load() < 200 {
			runtime.Gosched()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := sys.Shutdown(ctx)
		cancel()
		close(stop)
		for range spawners {
			<-done
		}
		require.NoError(t, err, "round %d", round)
		require.Zero(t, badOrder.Load(), "round %d: an actor got Stopping/Stopped without Started", round)
		require.Equal(t, spawned.Load(), started.Load(), "round %d: every successful spawn got Started", round)
		require.Equal(t, started.Load(), stopped.Load(), "round %d: every started actor got Stopped", round)
	}
	rtGoroutinesBackTo(t, base)
}
