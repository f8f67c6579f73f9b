package actor

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Future is the pending reply to a request. Its PID stands in as the
// request's sender, so the responder's Respond completes it. Many futures
// can be in flight at once; each is completed exactly once, by the reply,
// by its timeout, or by its message going to dead letters.
type Future struct {
	pid    PID
	sys    *System
	target *PID
	done   chan struct{}
	state  atomic.Uint32
	result any
	err    error
	// blocking: created inside an actor, so waiting holds a pool worker.
	blocking bool

	// Timer wheel: home is set once before the future is shared; the rest
	// is guarded by home's lock.
	home       *wheelBucket
	linked     bool
	prev, next *Future
	due        int64
}

const (
	futurePending uint32 = iota
	futureCompleting
	futureDone
)

func (s *System) newFuture(target *PID, timeout time.Duration) *Future {
	f := &Future{sys: s, target: target, done: make(chan struct{})}
	f.pid = PID{Node: s.node, ID: "$future", proc: f}
	if timeout > 0 {
		s.wheel.add(f, timeout)
	}
	return f
}

// PID returns the future's PID, to be used as the sender of a request.
func (f *Future) PID() *PID { return &f.pid }

// Done is closed when the future is complete.
func (f *Future) Done() <-chan struct{} { return f.done }

// Result waits for the reply and returns it. It fails with ErrTimeout when
// the request's timeout elapsed first, ErrDeadLetter when the request could
// not be delivered, or ctx's error when ctx ends first (the future is then
// complete and a late reply is dropped).
func (f *Future) Result(ctx context.Context) (any, error) {
	select {
	case <-f.done:
		return f.outcome()
	default:
	}
	if f.blocking {
		f.sys.pool.BlockingEnter()
		defer f.sys.pool.BlockingExit()
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		f.complete(nil, ctx.Err())
		<-f.done
	}
	return f.outcome()
}

func (f *Future) outcome() (any, error) {
	if f.err != nil {
		return nil, fmt.Errorf("request to %v: %w", f.target, f.err)
	}
	return f.result, nil
}

// complete settles the future once; later calls do nothing.
func (f *Future) complete(result any, err error) bool {
	if !f.state.CompareAndSwap(futurePending, futureCompleting) {
		return false
	}
	f.result, f.err = result, err
	f.state.Store(futureDone)
	close(f.done)
	if f.home != nil {
		f.sys.wheel.remove(f)
	}
	return true
}

func (f *Future) sendUser(_ context.Context, _ *PID, msg any) error {
	f.complete(msg, nil)
	return nil
}

func (f *Future) sendSystem(msg any) {
	if w, ok := msg.(*sysWatch); ok {
		// A future never terminates in a way worth watching; answer at once
		// so the watcher is not left waiting.
		w.watcher.proc.sendSystem(&sysTerminated{pid: &f.pid, reason: ReasonNotFound})
	}
}
