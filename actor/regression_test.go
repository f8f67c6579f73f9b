package actor_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/mailbox"
	"github.com/goray-dev/goray/supervisor"
)

// Regression tests for bugs found in review.

// A sender inside Receive blocked on a full Block mailbox must not hold the
// only worker while the target waits to drain.
func TestBlockedSenderInsideReceiveDoesNotStallPool(t *testing.T) {
	sys := rtSystem(t, actor.WithWorkers(1))
	got := make(chan int, 10)
	target := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if v, ok := c.Message().(int); ok {
			got <- v
		}
	}, actor.WithBoundedMailbox(1, mailbox.Block)))
	sender := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "go" {
			for i := range 3 {
				c.Send(target, i)
			}
		}
	}))
	sys.Send(sender, "go")
	for i := range 3 {
		select {
		case v := <-got:
			assert.Equal(t, i, v)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of 3 messages delivered", i)
		}
	}
}

// An all-for-one sibling, restarted without having failed, gets no user
// message on its old instance after Restarting, even while its restart
// waits for a slow child.
func TestAllForOneSiblingGetsNothingAfterRestarting(t *testing.T) {
	sys := rtSystem(t)
	var mu sync.Mutex
	var events []string
	record := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	failer, sibling := make(chan *actor.PID, 1), make(chan *actor.PID, 1)
	generation := 0
	sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Started); !ok {
			return
		}
		failer <- c.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if c.Message() == "boom" {
				panic("boom")
			}
		}))
		sibling <- c.Spawn(actor.PropsFromProducer(func() actor.Actor {
			generation++
			gen := generation
			return actor.ReceiveFunc(func(c *actor.Context) {
				switch m := c.Message().(type) {
				case actor.Started:
					record("started")
					c.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
						if _, ok := c.Message().(actor.Stopping); ok {
							time.Sleep(200 * time.Millisecond) // holds the restart open
						}
					}))
				case actor.Restarting:
					record("restarting")
				case string:
					if gen == 1 {
						record(m + " to the old instance")
					} else {
						record(m)
					}
				}
			})
		}))
	}, actor.WithSupervisor(supervisor.AllForOne())))
	f, s := <-failer, <-sibling
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 1 }, 5*time.Second, time.Millisecond)
	sys.Send(f, "boom")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return slices.Contains(events, "restarting") }, 5*time.Second, time.Millisecond)
	sys.Send(s, "hello")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return slices.Contains(events, "hello") }, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"started", "restarting", "started", "hello"}, events)
}

// A future with a timeout fails at Shutdown rather than waiting for a
// sweeper that no longer runs.
func TestTimedFutureFailsAtShutdown(t *testing.T) {
	sys := actor.NewSystem(actor.WithLogger(slog.New(slog.DiscardHandler)))
	pid := sys.Spawn(actor.PropsFromFunc(func(*actor.Context) {})) // never replies
	f := sys.RequestFuture(pid, "ignored", time.Minute)
	require.NoError(t, sys.Shutdown(context.Background()))
	done := make(chan error, 1)
	go func() { _, err := f.Result(context.Background()); done <- err }()
	select {
	case err := <-done:
		assert.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Result still blocked after Shutdown")
	}
}
