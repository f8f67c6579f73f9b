package goray

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/raylet"
)

// ActorHandle calls an actor created through the GCS, wherever it runs
// now: after a restart on another node, the handle finds it again. It is
// safe for concurrent use.
type ActorHandle struct {
	rt      *Runtime
	id      string
	name    string
	kind    string
	retries int // MaxTaskRetries

	mu    sync.Mutex
	pid   *actor.PID      // nil until known alive
	stale *actor.PID      // a PID found dead: resolve waits for another
	dead  *ActorDiedError // set by Kill without restart
}

func (rt *Runtime) newHandle(a *gcs.ActorInfo) *ActorHandle {
	h := &ActorHandle{rt: rt, id: a.ID, name: a.Spec.Name, kind: a.Spec.Kind, retries: a.Spec.MaxTaskRetries}
	if a.State == gcs.ActorAlive {
		h.pid = a.PID
	}
	return h
}

// ID is the actor's id in the GCS.
func (h *ActorHandle) ID() string { return h.id }

// Name is the actor's name, "" if it has none.
func (h *ActorHandle) Name() string { return h.name }

// Kind is the actor's kind.
func (h *ActorHandle) Kind() string { return h.kind }

// PID is where the actor ran when the handle last saw it alive; nil
// before that.
func (h *ActorHandle) PID() *actor.PID {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pid
}

// Tell sends msg to the actor without waiting for an answer. It waits
// (until ctx ends) for a pending or restarting actor to be alive, and
// fails with ActorDiedError when the actor is dead.
func (h *ActorHandle) Tell(ctx context.Context, msg any) error {
	if h.rt.closed.Load() {
		return ErrShutdown
	}
	pid, err := h.resolve(ctx)
	if err != nil {
		return err
	}
	return h.rt.sys.SendContext(ctx, pid, msg)
}

// Ask sends msg to the actor and waits for its answer (the actor's
// Respond) until ctx ends. A call that the actor's death interrupts fails
// with ActorDiedError, or runs again on the restarted actor while
// MaxTaskRetries allows; a call that never reached the actor is sent to
// the restarted actor without using a retry.
func (h *ActorHandle) Ask(ctx context.Context, msg any) (any, error) {
	retried := 0
	for {
		if h.rt.closed.Load() {
			return nil, ErrShutdown
		}
		pid, err := h.resolve(ctx)
		if err != nil {
			return nil, err
		}
		res, err := h.rt.sys.Request(ctx, pid, msg)
		cause, died, delivered := h.classify(res, err)
		if !died {
			return res, err
		}
		// An actor that crashed restarts, if it may, where it was: the
		// handle asks the GCS again but may keep its PID. One whose node
		// went down or that was gone lives elsewhere, if anywhere.
		_, crashed := res.(*raylet.CallFailed)
		h.markStale(pid, !crashed)
		if !delivered {
			continue
		}
		if h.retries >= 0 && retried >= h.retries {
			if !crashed {
				// Its node went down: if the GCS already knows the actor
				// is dead for good, its cause says more. It is not
				// worth waiting for: the call has failed either way.
				lctx, cancel := context.WithTimeout(ctx, staleWait)
				_, err := h.resolve(lctx)
				cancel()
				if errors.As(err, new(*ActorDiedError)) {
					return nil, err
				}
			}
			return nil, &ActorDiedError{ActorID: h.id, Name: h.name, Cause: cause}
		}
		retried++
	}
}

// classify tells whether a call's outcome means the actor died under it,
// and whether the call may have reached it.
func (h *ActorHandle) classify(res any, err error) (cause string, died, delivered bool) {
	if f, ok := res.(*raylet.CallFailed); ok {
		return f.Cause, true, true
	}
	switch {
	case err == nil:
		return "", false, false
	case errors.Is(err, bus.ErrNotSent):
		return "its node was down when the call was sent", true, false
	case errors.Is(err, bus.ErrNodeDown):
		return fmt.Sprintf("its node went down during the call (%v)", err), true, true
	case errors.Is(err, actor.ErrDeadLetter):
		return "it was gone when the call arrived", true, false
	}
	return "", false, false
}

func (h *ActorHandle) markStale(pid *actor.PID, gone bool) {
	h.mu.Lock()
	if h.pid.Equal(pid) {
		h.pid, h.stale = nil, nil
		if gone {
			h.stale = pid
		}
	}
	h.mu.Unlock()
}

// resolve returns the actor's live PID, asking the GCS when the handle
// has none. After a failure it waits for the actor to be alive elsewhere
// than where it failed, or dead; if the GCS still places it there after
// staleWait (the failure was the bus's, not the node's), it goes back.
func (h *ActorHandle) resolve(ctx context.Context) (*actor.PID, error) {
	h.mu.Lock()
	if h.dead != nil {
		h.mu.Unlock()
		return nil, h.dead
	}
	if h.pid != nil && h.rt.declaredDead(h.pid.Node) {
		h.pid, h.stale = nil, h.pid
	}
	pid, stale := h.pid, h.stale
	h.mu.Unlock()
	if pid != nil {
		return pid, nil
	}
	var a *gcs.ActorInfo
	var err error
	if stale != nil {
		wctx, cancel := context.WithTimeout(ctx, staleWait)
		a, err = h.wait(wctx, stale)
		cancel()
	}
	if stale == nil || err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		a, err = h.wait(ctx, nil)
	}
	if err != nil {
		return nil, err
	}
	if a.State == gcs.ActorDead {
		h.markDead(a.DeathCause)
		return nil, h.dead
	}
	h.mu.Lock()
	h.pid, h.stale = a.PID, nil
	h.mu.Unlock()
	return a.PID, nil
}

// markDead makes every later call fail at once: the actor is dead for
// good.
func (h *ActorHandle) markDead(cause string) {
	h.mu.Lock()
	h.dead = &ActorDiedError{ActorID: h.id, Name: h.name, Cause: cause}
	h.mu.Unlock()
}

// staleWait bounds how long a handle waits for the GCS to move an actor
// it failed to reach before it tries the same place again.
const staleWait = time.Second

// wait asks the GCS for the actor once it is alive somewhere other than
// not (nil: anywhere), or dead. Each wait the GCS keeps has a deadline,
// so that one whose caller left is forgotten: without one from ctx, it
// waits in rounds of waitRound.
func (h *ActorHandle) wait(ctx context.Context, not *actor.PID) (*gcs.ActorInfo, error) {
	for {
		rctx, cancel := boundedContext(ctx, waitRound)
		d, _ := rctx.Deadline()
		res, err := h.rt.sys.Request(rctx, h.rt.gcsPID, &gcs.WaitActor{ID: h.id, Not: not, Deadline: d.UnixNano()})
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			continue // a round ended, not the caller's wait
		}
		if err != nil {
			return nil, fmt.Errorf("goray: find actor %s: %w", h.id, err)
		}
		return h.waitReply(res)
	}
}

// waitRound is how long one wait for an actor lasts when the caller's
// context has no deadline.
const waitRound = 30 * time.Second

func (h *ActorHandle) waitReply(res any) (*gcs.ActorInfo, error) {
	r, ok := res.(*gcs.ActorReply)
	if !ok {
		return nil, fmt.Errorf("goray: the GCS answered with %T", res)
	}
	if err := gcs.Err(r.Code, r.Err); err != nil {
		return nil, err
	}
	return &r.Actor, nil
}
