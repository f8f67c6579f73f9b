package actor_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
)

// fakeRemote records what the actor package hands to a transport.
type fakeRemote struct {
	mu            sync.Mutex
	sends         []sent
	signals       []signalled
	undeliverable []*actor.PID
	err           error
}

type sent struct {
	target, sender *actor.PID
	msg            any
}

type signalled struct {
	target *actor.PID
	sig    actor.Signal
}

func (f *fakeRemote) Send(_ context.Context, target, sender *actor.PID, msg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, sent{target, sender, msg})
	return f.err
}

func (f *fakeRemote) Signal(target *actor.PID, sig actor.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, signalled{target, sig})
}

func (f *fakeRemote) Undeliverable(_, sender *actor.PID, _ any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.undeliverable = append(f.undeliverable, sender)
}

func (f *fakeRemote) snapshot() ([]sent, []signalled, []*actor.PID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sends...), append([]signalled(nil), f.signals...), append([]*actor.PID(nil), f.undeliverable...)
}

func shutdown(t *testing.T, sys *actor.System) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sys.Shutdown(ctx)
	})
}

func TestRemotePIDsGoThroughTheTransport(t *testing.T) {
	sys := actor.NewSystem(actor.WithNode("here"))
	shutdown(t, sys)
	r := &fakeRemote{}
	sys.SetRemote(r)
	far := &actor.PID{Node: "there", ID: "worker"}

	sys.Send(far, "hello")
	sys.Poison(far)
	sys.Stop(far)
	watcher := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Started); ok {
			c.Watch(far)
		}
	}))
	require.Eventually(t, func() bool { _, s, _ := r.snapshot(); return len(s) == 3 }, 2*time.Second, time.Millisecond)

	sends, signals, _ := r.snapshot()
	require.Len(t, sends, 1)
	assert.Equal(t, "hello", sends[0].msg)
	assert.True(t, sends[0].target.Equal(far))
	assert.Nil(t, sends[0].sender)
	assert.Equal(t, actor.SignalPoison, signals[0].sig.Kind)
	assert.Equal(t, actor.SignalStop, signals[1].sig.Kind)
	assert.Equal(t, actor.SignalWatch, signals[2].sig.Kind)
	assert.True(t, signals[2].sig.PID.Equal(watcher))

	// A request's sender is its future, which the transport can find.
	f := sys.RequestFuture(far, "question", time.Second)
	sends, _, _ = r.snapshot()
	require.Len(t, sends, 2)
	assert.Same(t, f, actor.FutureOf(sends[1].sender))
	assert.Nil(t, actor.FutureOf(far))
	require.True(t, f.Fail(errors.New("link cut")))
	_, err := f.Result(context.Background())
	assert.ErrorContains(t, err, "link cut")
	assert.True(t, f.Completed())

	// A failing transport fails the request at once.
	r.mu.Lock()
	r.err = errors.New("unregistered")
	r.mu.Unlock()
	_, err = sys.Request(context.Background(), far, "again")
	assert.ErrorContains(t, err, "unregistered")
	assert.Error(t, sys.SendContext(context.Background(), far, "x"))
}

func TestWithoutTransportRemotePIDsAreDeadLetters(t *testing.T) {
	sys := actor.NewSystem(actor.WithNode("here"))
	shutdown(t, sys)
	_, err := sys.Request(context.Background(), &actor.PID{Node: "there", ID: "x"}, "hi")
	assert.ErrorIs(t, err, actor.ErrDeadLetter)
}

func TestSignalsFromAnotherNode(t *testing.T) {
	sys := actor.NewSystem(actor.WithNode("here"))
	shutdown(t, sys)
	r := &fakeRemote{}
	sys.SetRemote(r)
	got := make(chan any, 4)
	pid, err := sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case string:
			got <- m
			c.Respond("re: " + m)
		case actor.Terminated:
			got <- m
		}
	}), "local")
	require.NoError(t, err)
	remoteWatcher := &actor.PID{Node: "there", ID: "w"}
	remoteSender := &actor.PID{Node: "there", ID: "s"}

	// A message from a remote sender is answered through the transport.
	require.NoError(t, sys.Deliver(context.Background(), &actor.PID{Node: "here", ID: "local"}, remoteSender, "ping"))
	assert.Equal(t, "ping", <-got)
	require.Eventually(t, func() bool { s, _, _ := r.snapshot(); return len(s) == 1 }, 2*time.Second, time.Millisecond)
	sends, _, _ := r.snapshot()
	assert.Equal(t, "re: ping", sends[0].msg)
	assert.True(t, sends[0].target.Equal(remoteSender))

	// The news of a remote actor's end reaches a local watcher of it.
	watched := make(chan struct{})
	localWatcher := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Watch(remoteSender)
			close(watched)
		case actor.Terminated:
			got <- m
		}
	}))
	<-watched
	sys.ApplySignal(localWatcher, actor.Signal{Kind: actor.SignalTerminated, PID: remoteSender, Reason: actor.ReasonNodeDown})
	term := (<-got).(actor.Terminated)
	assert.True(t, term.PID.Equal(remoteSender))
	assert.Equal(t, actor.ReasonNodeDown, term.Reason)
	assert.Equal(t, "node down", term.Reason.String())

	// A remote watch, then a remote stop: the watcher hears of it through
	// the transport.
	sys.ApplySignal(pid, actor.Signal{Kind: actor.SignalWatch, PID: remoteWatcher})
	assert.True(t, pid.Alive())
	sys.ApplySignal(pid, actor.Signal{Kind: actor.SignalStop})
	// Signals so far: the local watcher's Watch of remoteSender; then the
	// Terminated for remoteWatcher.
	require.Eventually(t, func() bool { _, s, _ := r.snapshot(); return len(s) == 2 }, 2*time.Second, time.Millisecond)
	_, signals, _ := r.snapshot()
	assert.Equal(t, actor.SignalWatch, signals[0].sig.Kind)
	assert.Equal(t, actor.SignalTerminated, signals[1].sig.Kind)
	assert.True(t, signals[1].target.Equal(remoteWatcher))
	assert.True(t, signals[1].sig.PID.Equal(pid))
	assert.Equal(t, actor.ReasonStopped, signals[1].sig.Reason)
	assert.False(t, pid.Alive())

	// A remote request to an actor that is gone is reported back.
	sys.DeadLetter(pid, "late", remoteSender)
	_, _, undeliverable := r.snapshot()
	require.Len(t, undeliverable, 1)
	assert.True(t, undeliverable[0].Equal(remoteSender))
}

func TestExportedPIDsResolveByID(t *testing.T) {
	sys := actor.NewSystem(actor.WithNode("here"))
	shutdown(t, sys)
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(string); ok {
			c.Respond("yes")
		}
	}))
	assert.Nil(t, sys.Lookup(pid.ID), "unnamed actors are not registered until exported")
	b, err := pid.MarshalBinary()
	require.NoError(t, err)
	var back actor.PID
	require.NoError(t, back.UnmarshalBinary(b))
	assert.True(t, back.Equal(pid))
	assert.False(t, back.Alive(), "a decoded PID carries no actor")
	require.NotNil(t, sys.Lookup(pid.ID), "marshalling exports the actor")
	res, err := sys.Request(context.Background(), &back, "?")
	require.NoError(t, err)
	assert.Equal(t, "yes", res)

	sys.Stop(pid)
	require.Eventually(t, func() bool { return sys.Lookup(pid.ID) == nil }, 2*time.Second, time.Millisecond)
	assert.ErrorIs(t, back.UnmarshalBinary([]byte("no separator")), actor.ErrMalformedPID)
	_, err = sys.SpawnNamed(actor.PropsFromFunc(func(*actor.Context) {}), "$reserved")
	assert.Error(t, err)
}
