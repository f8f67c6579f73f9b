package mailbox

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Runnable is something a dispatcher runs: a mailbox with work to do.
type Runnable interface {
	// Run processes one turn. It returns true when work is left and the
	// runnable must be run again.
	Run() bool
}

// Dispatcher decides where and when runnables run.
type Dispatcher interface {
	// Schedule arranges for r.Run to be called. A runnable is scheduled at
	// most once at a time; its mailbox guarantees that.
	Schedule(r Runnable)
}

// spinRounds is how many times an idle worker looks for work before it
// parks. A parked worker costs a futex wake to start again, which on these
// virtual machines is slower than a short spin.
const spinRounds = 64

// Pool is a Dispatcher backed by a bounded set of worker goroutines sharing
// one run queue. Idle mailboxes cost no goroutine, and a burst that wakes a
// million actors queues a million small entries, not a million goroutines.
//
// A Receive that blocks holds its worker. Code that knows it is about to
// block (the actor runtime's synchronous requests) brackets the wait with
// BlockingEnter and BlockingExit, and the pool starts a stand-in worker for
// the duration, so a pool of N workers never deadlocks on N waiting actors.
type Pool struct {
	size int

	mu      sync.Mutex
	cond    sync.Cond
	queue   []Runnable // ring buffer
	head    int
	n       int
	workers int // live worker goroutines
	blocked int // workers inside BlockingEnter/Exit
	closed  bool

	queued   atomic.Int64 // mirrors n for lock-free peeks
	spinning atomic.Int32 // workers looking for work before they park
	parked   int          // workers waiting on cond, guarded by mu
	wg       sync.WaitGroup
}

// NewPool starts a pool of size workers; size ≤ 0 means GOMAXPROCS.
func NewPool(size int) *Pool {
	if size <= 0 {
		size = runtime.GOMAXPROCS(0)
	}
	p := &Pool{size: size}
	p.cond.L = &p.mu
	p.mu.Lock()
	for range size {
		p.startLocked()
	}
	p.mu.Unlock()
	return p
}

func (p *Pool) startLocked() {
	p.workers++
	p.wg.Add(1)
	go p.work()
}

// Size returns the number of workers the pool keeps when nothing blocks.
func (p *Pool) Size() int { return p.size }

// Schedule queues r to run on a worker. After Close it does nothing.
func (p *Pool) Schedule(r Runnable) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.pushLocked(r)
	// A spinning worker will find r; wake a parked one only if none spins.
	wake := p.parked > 0 && p.spinning.Load() == 0
	p.mu.Unlock()
	if wake {
		p.cond.Signal()
	}
}

func (p *Pool) pushLocked(r Runnable) {
	if p.n == len(p.queue) {
		q := make([]Runnable, max(2*len(p.queue), 64))
		for i := range p.n {
			q[i] = p.queue[(p.head+i)%len(p.queue)]
		}
		p.queue, p.head = q, 0
	}
	p.queue[(p.head+p.n)%len(p.queue)] = r
	p.n++
	p.queued.Store(int64(p.n))
}

func (p *Pool) popLocked() Runnable {
	r := p.queue[p.head]
	p.queue[p.head] = nil
	p.head = (p.head + 1) % len(p.queue)
	p.n--
	p.queued.Store(int64(p.n))
	return r
}

func (p *Pool) work() {
	defer p.wg.Done()
	for {
		r := p.next()
		if r == nil {
			return
		}
		for r.Run() {
			if p.queued.Load() > 0 {
				// Others are waiting: go to the back of the line.
				p.mu.Lock()
				p.pushLocked(r)
				p.mu.Unlock()
				break
			}
		}
	}
}

// next returns the next runnable, or nil when this worker should exit.
func (p *Pool) next() Runnable {
	p.spinning.Add(1)
	for range spinRounds {
		if p.queued.Load() > 0 {
			break
		}
		runtime.Gosched()
	}
	p.mu.Lock()
	p.spinning.Add(-1)
	defer p.mu.Unlock()
	for p.n == 0 {
		if p.closed || p.workers-p.blocked > p.size {
			p.workers--
			return nil
		}
		p.parked++
		p.cond.Wait()
		p.parked--
	}
	if p.closed {
		p.workers--
		return nil
	}
	return p.popLocked()
}

// BlockingEnter tells the pool that the calling worker is about to block.
// If that leaves fewer than Size runnable workers, a stand-in is started;
// it exits once the blocked worker is back and it finds no work.
func (p *Pool) BlockingEnter() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked++
	if !p.closed && p.workers-p.blocked < p.size {
		p.startLocked()
	}
}

// BlockingExit undoes BlockingEnter.
func (p *Pool) BlockingExit() {
	p.mu.Lock()
	p.blocked--
	p.mu.Unlock()
	p.cond.Signal() // let a surplus worker notice and exit
}

// Close stops the workers after their current turn and waits for them to
// exit, or for ctx to end (a worker stuck in a Receive that never returns
// cannot be stopped from outside). Runnables still queued are abandoned.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
