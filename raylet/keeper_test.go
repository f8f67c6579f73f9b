package raylet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/gcs"
)

type boom struct{}

// probe answers a string with itself and panics on boom.
type probe struct{}

func (probe) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case string:
		c.Respond(m)
	case boom:
		panic("boom")
	}
}

// recorder is a stand-in raylet: it forwards what keepers report.
func recorder(sys *actor.System, out chan<- any) *actor.PID {
	return sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case hostedStarted, hostedRestarted, hostedEnded:
			out <- m
		}
	}))
}

func next[T any](t *testing.T, ch <-chan any) T {
	t.Helper()
	select {
	case m := <-ch:
		v, ok := m.(T)
		require.True(t, ok, "got %T %+v", m, m)
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no report from the keeper")
	}
	var zero T
	return zero
}

// TestKeeperAppliesMaxRestarts: with one restart left, the first crash
// restarts the actor in place (same PID) and is reported; the second ends
// it with a cause that says no restarts were left; the requests that
// crashed it are answered with CallFailed.
func TestKeeperAppliesMaxRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sys := actor.NewSystem()
	defer sys.Shutdown(ctx)
	reports := make(chan any, 16)
	k := &keeper{id: "a1", producer: func() actor.Actor { return probe{} }, left: 1, raylet: recorder(sys, reports), sys: sys}
	sys.Spawn(k.props())
	started := next[hostedStarted](t, reports)

	r, err := sys.Request(ctx, started.pid, "hello")
	require.NoError(t, err)
	assert.Equal(t, "hello", r)

	r, err = sys.Request(ctx, started.pid, boom{})
	require.NoError(t, err)
	require.IsType(t, &CallFailed{}, r)
	assert.Contains(t, r.(*CallFailed).Cause, "boom")
	restarted := next[hostedRestarted](t, reports)
	assert.Contains(t, restarted.cause, "crashed: boom")
	r, err = sys.Request(ctx, started.pid, "again")
	require.NoError(t, err)
	assert.Equal(t, "again", r, "restarted in place, same PID")

	_, err = sys.Request(ctx, started.pid, boom{})
	require.NoError(t, err)
	ended := next[hostedEnded](t, reports)
	assert.Contains(t, ended.cause, "no restarts left")
}

// TestKeeperCrashAndStop: crash (Kill without NoRestart) restarts an actor
// that may restart, with the kill's cause; stopHosted stops it silently.
func TestKeeperCrashAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sys := actor.NewSystem()
	defer sys.Shutdown(ctx)
	reports := make(chan any, 16)
	k := &keeper{id: "a2", producer: func() actor.Actor { return probe{} }, left: -1, raylet: recorder(sys, reports), sys: sys}
	kpid := sys.Spawn(k.props())
	started := next[hostedStarted](t, reports)

	for range 3 {
		sys.Send(kpid, crash{cause: "killed by goray.Kill"})
		assert.Equal(t, "killed by goray.Kill", next[hostedRestarted](t, reports).cause)
	}
	sys.Send(kpid, stopHosted{cause: "test"})
	require.Eventually(t, func() bool { return !started.pid.Alive() && !kpid.Alive() }, 5*time.Second, 10*time.Millisecond)
	select {
	case m := <-reports:
		t.Fatalf("a stop on purpose is not reported; got %T", m)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestDetectResourcesAndKinds(t *testing.T) {
	r := DetectResources()
	assert.Positive(t, r[gcs.CPU])
	assert.Positive(t, r[gcs.Memory])
	require.NoError(t, r.Validate())

	RegisterKind("raylet.test.probe", func() actor.Actor { return probe{} })
	assert.Contains(t, Kinds(), "raylet.test.probe")
	assert.NotNil(t, producerOf("raylet.test.probe"))
	assert.Panics(t, func() { RegisterKind("raylet.test.probe", func() actor.Actor { return probe{} }) })
}
