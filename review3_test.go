package goray_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/gcs"
)

// Tests named TestRegression… are bugs found in the third review, fixed since: each says what used to go wrong.

// r3hold makes r3.holder hold its call for a while without answering.
type r3hold struct {
	MS int `cbor:"1,keyasint"`
}

type r3holder struct{}

func (r3holder) Receive(c *actor.Context) {
	if m, ok := c.Message().(*r3hold); ok {
		time.Sleep(time.Duration(m.MS) * time.Millisecond)
	}
}

func init() {
	goray.RegisterMessage[*r3hold]("goray_test.review3.hold")
	goray.RegisterActor("review3.holder", func() actor.Actor { return r3holder{} })
}

// TestRegressionConcurrentShutdownReturnsBeforeShutdown used to fail: of two Shutdowns called
// at once (a signal handler and a deferred Shutdown, say), the second
// returns nil at once while the first is still stopping the raylet, the
// GCS and the bus: a caller that then exits, or starts a head again on
// the same storage, finds the old one still running (here: the storage
// is still locked).
//
// init.go (Runtime.Shutdown): `if !rt.closed.CompareAndSwap(false, true)
// { return nil }` makes every call but the first return without waiting;
// both callers also send FinishJob, since closed is read before the CAS.
//
// The fix: run the teardown under a sync.Once (or a mutex) and have every
// caller wait for it and return its error; check-and-set closed before
// sending FinishJob.
func TestRegressionConcurrentShutdownReturnsBeforeShutdown(t *testing.T) {
	dir := t.TempDir()
	ctx := tctx(t, 20*time.Second)
	rt, err := goray.Init(ctx, goray.WithoutObjectStore(), goray.WithLogger(quietLog), goray.AsHead(0, dir))
	require.NoError(t, err)
	// A call in progress makes the raylet's stop (and so Shutdown) last a
	// while, as any busy actor does.
	busy, err := rt.NewActor(ctx, "review3.holder")
	require.NoError(t, err)
	require.NoError(t, busy.Tell(ctx, &r3hold{MS: 1500}))
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- rt.Shutdown(ctx) }()
	}
	<-done // the first Shutdown to return: the runtime should be gone
	f, err := os.OpenFile(filepath.Join(dir, "gcs.lock"), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	<-done
	assert.NoError(t, err, "the GCS storage is still locked (the GCS still runs) after a Shutdown returned")
}

// TestRegressionAskOnLostNodeWaitsForRestart used to fail: a call whose actor's node goes down
// under it (MaxTaskRetries 0) does not fail when the node is gone: Ask
// waits until the actor is alive again somewhere, or its context ends.
// An actor that restarts but has no room waits for ever, and so does the
// call (for ever with a context without deadline: wait goes in 30 s
// rounds), though it failed long ago; the ActorDiedError comes only when
// the caller's context ends.
//
// handle.go (Ask): when retries are used up and the failure was not a
// crash, `h.resolve(ctx)` is called with the caller's whole context to
// learn whether the actor is dead for good; resolve waits (after
// staleWait) for ALIVE or DEAD, and RESTARTING is neither.
//
// The fix: bound that look-up (a short context, or a WaitActor that also
// answers RESTARTING / a plain GetActor-like query of the current state),
// and return the ActorDiedError with the node-down cause at once when the
// GCS does not say DEAD.
func TestRegressionAskOnLostNodeWaitsForRestart(t *testing.T) {
	head := headRT(t, "", goray.WithResources(cpus(0)))
	w1 := joinRT(t, head, "w1", goray.WithResources(cpus(1)))
	ctx := tctx(t, 20*time.Second)
	h, err := head.NewActor(ctx, "review3.holder", goray.MaxRestarts(1), goray.Resources(cpus(1)))
	require.NoError(t, err)
	require.Equal(t, w1.NodeID(), actorInfo(t, head, h.ID()).NodeID)

	type result struct {
		err  error
		took time.Duration
	}
	out := make(chan result, 1)
	askCtx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	go func() {
		start := time.Now()
		_, err := h.Ask(askCtx, &r3hold{MS: 3000})
		out <- result{err, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond) // the call runs on w1

	sctx, scancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_ = w1.Shutdown(sctx) // w1 leaves; its raylet cannot wait for the held call
	scancel()
	eventually(t, "the actor restarts (and waits for room)", func() bool {
		return actorInfo(t, head, h.ID()).State == gcs.ActorRestarting
	})
	r := <-out
	t.Logf("Ask returned after %v: %v", r.took, r.err)
	var died *goray.ActorDiedError
	assert.True(t, errors.As(r.err, &died), "want ActorDiedError, got %v", r.err)
	assert.Less(t, r.took, 4*time.Second, "the call failed when w1 went down, yet Ask waited for the actor to come back")
}
