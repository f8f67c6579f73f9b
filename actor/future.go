package actor

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/mailbox"
)

// Future is the pending reply to a request. Its PID stands in as the
// request's sender, so the responder's Respond completes it. Many futures
// can be in flight at once; each is completed exactly once, by the reply,
// by its timeout, or by its message going to dead letters.
type Future struct {
	pid    PID
	sys    *System
	target *PID
	state  atomic.Uint32
	result any
	err    error
	// wake is held from creation until completion: a wait without a
	// context blocks on it, which costs no allocation. done is made only
	// for Done and for waits that select on a context.
	wake sync.Mutex
	done atomic.Pointer[chan struct{}]
	// blocking: created inside an actor, so waiting holds a pool worker.
	blocking bool
	worker   *mailbox.Worker // the requesting actor's worker, when blocking
	timed    bool            // has a timeout on the wheel

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
	f := &Future{sys: s, target: target}
	f.wake.Lock()
	f.pid = PID{Node: s.node, ID: "$future", proc: f}
	if timeout > 0 {
		f.timed = true
		s.wheel.add(f, timeout)
	}
	return f
}

// PID returns the future's PID, to be used as the sender of a request.
func (f *Future) PID() *PID { return &f.pid }

// closedChan stands in for done once the future is complete.
var closedChan = func() *chan struct{} {
	c := make(chan struct{})
	close(c)
	return &c
}()

// Done returns a channel that is closed when the future is complete.
func (f *Future) Done() <-chan struct{} {
	if p := f.done.Load(); p != nil {
		return *p
	}
	c := make(chan struct{})
	if f.done.CompareAndSwap(nil, &c) {
		return c
	}
	return *f.done.Load() // completed, or another caller made it first
}

// Result waits for the reply and returns it. It fails with ErrTimeout when
// the request's timeout elapsed first, ErrDeadLetter when the request could
// not be delivered, or ctx's error when ctx ends first (the future is then
// complete and a late reply is dropped).
func (f *Future) Result(ctx context.Context) (any, error) {
	if f.state.Load() == futureDone {
		return f.outcome()
	}
	if ctx.Done() == nil && !f.timed {
		f.help()
	}
	if f.spinWait() {
		return f.outcome()
	}
	if f.blocking {
		f.sys.pool.BlockingEnter(f.worker)
		defer f.sys.pool.BlockingExit()
	}
	if ctx.Done() == nil {
		// wake is held until the future completes: taking it is the wait.
		f.wake.Lock()
		//lint:ignore SA2001 the empty section is the point (see above)
		f.wake.Unlock() // let the next waiter through
		return f.outcome()
	}
	select {
	case <-f.Done():
	case <-ctx.Done():
		if !f.complete(nil, ctx.Err()) {
			<-f.Done()
		}
	}
	return f.outcome()
}

// help runs the target actor on the waiting goroutine while its mailbox is
// scheduled but not yet claimed by a worker: the waiter would only sleep
// meanwhile, and waking a worker costs more than the reply itself. Only a
// wait without a deadline may help: a slow Receive run here would hold the
// waiter past its deadline.
func (f *Future) help() {
	p, ok := f.sys.resolve(f.target).(*actorProcess)
	if !ok {
		return
	}
	for f.state.Load() != futureDone && p.mb.Help() {
	}
}

// replySpins is how many times a waiter checks for the reply before it
// parks: a worker on another core usually answers within a microsecond or
// two, and parking and waking cost more than that.
const replySpins = 256

func (f *Future) spinWait() bool {
	for i := range replySpins {
		if f.state.Load() == futureDone {
			return true
		}
		if i%32 == 31 {
			runtime.Gosched()
		}
	}
	return false
}

func (f *Future) outcome() (any, error) {
	if f.err != nil {
		return nil, fmt.Errorf("request to %v: %w", f.target, f.err)
	}
	return f.result, nil
}

// Fail completes the future with err, unless it is complete already; it
// reports whether it did. A transport uses it for a request that failed on
// the way (its node went down, its message could not be decoded there).
func (f *Future) Fail(err error) bool { return f.complete(nil, err) }

// Completed reports whether the future has its result or error.
func (f *Future) Completed() bool { return f.state.Load() == futureDone }

// complete settles the future once; later calls do nothing.
func (f *Future) complete(result any, err error) bool {
	if !f.state.CompareAndSwap(futurePending, futureCompleting) {
		return false
	}
	f.result, f.err = result, err
	f.state.Store(futureDone)
	f.wake.Unlock()
	if p := f.done.Swap(closedChan); p != nil && p != closedChan {
		close(*p)
	}
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

// requestContext lets a request's send wait for room in a full bounded
// mailbox only as long as the request itself may wait: it is done when the
// future is. It costs no allocation: it is the future, seen as a context.
type requestContext Future

func (c *requestContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *requestContext) Done() <-chan struct{} { return (*Future)(c).Done() }

func (c *requestContext) Err() error {
	f := (*Future)(c)
	if f.state.Load() != futureDone {
		return nil
	}
	if f.err != nil {
		return f.err
	}
	return context.Canceled
}

func (c *requestContext) Value(any) any { return nil }
