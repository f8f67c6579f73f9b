package mailbox

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Runnable is something a dispatcher runs: a mailbox with work to do.
type Runnable interface {
	// Run processes one turn on worker w (nil when the dispatcher has no
	// workers of its own). It returns true when work is left and the
	// runnable must be run again.
	Run(w *Worker) bool
}

// Dispatcher decides where and when runnables run.
type Dispatcher interface {
	// Schedule arranges for r.Run to be called. A mailbox schedules itself
	// once per idle spell, but an entry can outlive its purpose (a waiting
	// caller ran the mailbox first): Run must tolerate being called when
	// there is nothing for it to do. near, if not nil,
	// is the worker the caller runs on: r is woken by a message from there
	// and had best run there next, where that message is still in cache.
	Schedule(r Runnable, near *Worker)
}

// spinRounds is how many times an idle worker looks for work before it
// parks. A parked worker costs a futex wake to start again, which on these
// virtual machines is slower than a short spin.
const spinRounds = 64

// Pool is a Dispatcher backed by a bounded set of worker goroutines sharing
// one run queue. Idle mailboxes cost no goroutine, and a burst that wakes a
// million actors queues a million small entries, not a million goroutines.
//
// Each worker also has a "next" slot, like the Go scheduler's runnext: an
// actor woken by a message from an actor running on a worker runs next on
// that worker, so conversations between actors stay on one core instead of
// bouncing their messages between caches. A worker that runs only its next
// slot for too long gives the shared queue a turn, and an idle worker
// steals a next slot that its owner has left waiting.
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
	stopped atomic.Bool // mirrors closed for lock-free checks

	queued   atomic.Int64 // mirrors n for lock-free peeks
	spinning atomic.Int32 // workers looking for work before they park
	parked   atomic.Int32 // workers waiting on cond (changed under mu)
	wg       sync.WaitGroup

	// all lists the live workers, for stealing; copied on change.
	all atomic.Pointer[[]*Worker]
}

// Worker is a pool goroutine. A runnable learns its worker in Run and may
// pass it back to Schedule.
type Worker struct {
	pool    *Pool
	mu      sync.Mutex
	next    Runnable // guarded by mu
	hasNext atomic.Bool
	seq     atomic.Uint64 // bumped whenever next is set, so stealers can tell it waited
	streak  int           // runs in a row taken from next, owner only
}

// maxStreak is how many times in a row a worker runs its next slot before
// it takes a runnable from the shared queue, so that a pair of chatty
// actors cannot starve everyone else.
const maxStreak = 32

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
	w := &Worker{pool: p}
	p.register(w, true)
	go p.work(w)
}

// register adds or removes w from the list of workers; called with p.mu
// held, so that copies do not race.
func (p *Pool) register(w *Worker, add bool) {
	var next []*Worker
	if cur := p.all.Load(); cur != nil {
		for _, x := range *cur {
			if x != w {
				next = append(next, x)
			}
		}
	}
	if add {
		next = append(next, w)
	}
	p.all.Store(&next)
}

// Size returns the number of workers the pool keeps when nothing blocks.
func (p *Pool) Size() int { return p.size }

// Schedule queues r to run on a worker: next on near, if near is one of
// this pool's workers, else on the shared queue. After Close it does
// nothing.
func (p *Pool) Schedule(r Runnable, near *Worker) {
	if p.stopped.Load() {
		return
	}
	if near != nil && near.pool == p {
		near.mu.Lock()
		old := near.next
		near.next = r
		near.hasNext.Store(true)
		near.seq.Add(1)
		near.mu.Unlock()
		if old == nil {
			// near runs r once its current turn ends; if that turn is
			// long, an idle worker should steal r, and a parked one
			// cannot: make sure one is awake.
			if p.spinning.Load() == 0 && p.parked.Load() > 0 {
				p.wakeParked()
			}
			return
		}
		r = old // the slot held another: it goes to the shared queue
	}
	p.push(r)
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

func (p *Pool) work(w *Worker) {
	defer p.wg.Done()
	for {
		var r Runnable
		if !p.stopped.Load() {
			r = w.takeNext()
		}
		if r == nil {
			if r = p.next(w); r == nil {
				return
			}
		}
		for r.Run(w) {
			if w.hasWork() || p.stopped.Load() {
				// Others are waiting: go to the back of the line.
				p.push(r)
				break
			}
		}
	}
}

// wakeParked wakes a parked worker. Taking the lock orders this with a
// worker on its way to park: either it is already waiting and gets the
// signal, or it has yet to check for work and will find it.
func (p *Pool) wakeParked() {
	p.mu.Lock()
	wake := p.needsWakeLocked()
	p.mu.Unlock()
	if wake {
		p.cond.Signal()
	}
}

// needsWakeLocked reports whether new work needs a parked worker woken: a
// spinning one would find it by itself.
func (p *Pool) needsWakeLocked() bool {
	return p.parked.Load() > 0 && p.spinning.Load() == 0
}

// push queues r on the shared queue, unless the pool is closed.
func (p *Pool) push(r Runnable) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.pushLocked(r)
	wake := p.needsWakeLocked()
	p.mu.Unlock()
	if wake {
		p.cond.Signal()
	}
}

// takeNext empties w's next slot, unless w has run it too often in a row
// while others wait in the shared queue.
func (w *Worker) takeNext() Runnable {
	if !w.hasNext.Load() {
		w.streak = 0
		return nil
	}
	if w.streak >= maxStreak && w.pool.queued.Load() > 0 {
		w.streak = 0
		return nil
	}
	w.streak++
	return w.take()
}

// hasWork reports whether something waits to run on w: its next slot or
// the shared queue.
func (w *Worker) hasWork() bool { return w.hasNext.Load() || w.pool.queued.Load() > 0 }

func (w *Worker) take() Runnable {
	w.mu.Lock()
	r := w.next
	w.next = nil
	w.hasNext.Store(false)
	w.mu.Unlock()
	return r
}

// next returns the next runnable from the shared queue, or one stolen from
// another worker's next slot, or nil when this worker should exit. It
// spins a little before it parks, and after every wake-up.
func (p *Pool) next(w *Worker) Runnable {
	respins := 0
	for {
		if r := p.tryShared(); r != nil {
			return r
		}
		if r := p.spin(w); r != nil {
			return r
		}
		p.mu.Lock()
		p.parked.Add(1) // before spinning drops, so schedulers see one or the other
		p.spinning.Add(-1)
		r, act := p.beforeParkLocked(w, respins < maxRespins)
		if act != park {
			p.parked.Add(-1)
			p.mu.Unlock()
			switch act {
			case retry:
				respins++
				continue
			case runShared:
				p.wakeForRest()
			case runOwn:
				r = w.take()
			}
			return r // nil on exit
		}
		if p.othersHaveNext(w) {
			// Its owner keeps taking it, or is stuck in a long turn;
			// look again in a while rather than spin or sleep for good.
			t := time.AfterFunc(stealRecheck, p.cond.Broadcast)
			p.cond.Wait()
			t.Stop()
		} else {
			p.cond.Wait()
		}
		p.parked.Add(-1)
		p.mu.Unlock()
		respins = 0
	}
}

// What a worker about to park does instead, if anything.
type parkAction uint8

const (
	park      parkAction = iota
	exit                 // the pool is closed, or has a worker too many
	runShared            // run the runnable taken from the shared queue
	runOwn               // run what was left in its own next slot
	retry                // spin again: another worker's next slot filled up
)

// beforeParkLocked checks, under the lock, everything that may have
// arrived while the worker stopped spinning.
func (p *Pool) beforeParkLocked(w *Worker, mayRetry bool) (Runnable, parkAction) {
	switch {
	case p.closed:
		p.exitLocked(w)
		return nil, exit
	case p.n > 0:
		return p.popLocked(), runShared
	case w.hasNext.Load():
		return nil, runOwn // a blocking actor may have left work here
	case mayRetry && p.othersHaveNext(w):
		return nil, retry
	case p.workers-p.blocked > p.size:
		p.exitLocked(w)
		return nil, exit
	}
	return nil, park
}

// A worker that finds another's next slot full when it is about to park
// looks again up to maxRespins times, then parks for at most stealRecheck.
const (
	maxRespins   = 2
	stealRecheck = 2 * time.Millisecond
)

// spin looks for work for a while, counted as spinning so that schedulers
// need not wake anyone. It returns with spinning still counted unless it
// found something.
func (p *Pool) spin(w *Worker) Runnable {
	p.spinning.Add(1)
	for range spinRounds {
		if p.stopped.Load() {
			break
		}
		if p.queued.Load() > 0 {
			break
		}
		if w.hasNext.Load() {
			p.spinning.Add(-1)
			return w.take()
		}
		if r := p.steal(w); r != nil {
			p.spinning.Add(-1)
			return r
		}
		runtime.Gosched()
	}
	if p.queued.Load() > 0 {
		if r := p.tryShared(); r != nil {
			p.spinning.Add(-1)
			return r
		}
	}
	return nil
}

func (p *Pool) tryShared() Runnable {
	if p.queued.Load() == 0 {
		return nil
	}
	p.mu.Lock()
	if p.n == 0 || p.closed {
		p.mu.Unlock()
		return nil
	}
	r := p.popLocked()
	p.mu.Unlock()
	p.wakeForRest()
	return r
}

// wakeForRest wakes a parked worker when work is left in the shared queue
// and nobody spins for it: the schedulers of that work may have relied on a
// spinner, which is this worker, now busy.
func (p *Pool) wakeForRest() {
	if p.queued.Load() > 0 && p.spinning.Load() == 0 && p.parked.Load() > 0 {
		p.wakeParked()
	}
}

// exitLocked retires w; anything left in its next slot goes to the shared
// queue.
func (p *Pool) exitLocked(w *Worker) {
	p.workers--
	p.register(w, false)
	if r := w.take(); r != nil && !p.closed {
		p.pushLocked(r)
	}
}

// othersHaveNext reports whether another worker's next slot is full.
func (p *Pool) othersHaveNext(self *Worker) bool {
	if all := p.all.Load(); all != nil {
		for _, v := range *all {
			if v != self && v.hasNext.Load() {
				return true
			}
		}
	}
	return false
}

// steal takes a runnable that has sat in another worker's next slot for a
// while: its owner is busy with a long turn, or blocked.
func (p *Pool) steal(self *Worker) Runnable {
	all := p.all.Load()
	if all == nil {
		return nil
	}
	for _, v := range *all {
		if v == self || !v.hasNext.Load() {
			continue
		}
		seq := v.seq.Load()
		runtime.Gosched() // give the owner a chance to run it itself
		if !v.hasNext.Load() || v.seq.Load() != seq {
			continue
		}
		v.mu.Lock()
		var r Runnable
		if v.seq.Load() == seq {
			r = v.next
			v.next = nil
			v.hasNext.Store(false)
		}
		v.mu.Unlock()
		if r != nil {
			return r
		}
	}
	return nil
}

// BlockingEnter tells the pool that the calling worker w (nil if unknown)
// is about to block. Its next slot goes to the shared queue, and if that
// leaves fewer than Size runnable workers, a stand-in is started; it exits
// once the blocked worker is back and it finds no work.
func (p *Pool) BlockingEnter(w *Worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w != nil && w.pool == p {
		if r := w.take(); r != nil {
			p.pushLocked(r)
		}
	}
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
	p.stopped.Store(true)
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
