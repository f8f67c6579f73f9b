package actor

import (
	"sync"
	"sync/atomic"
	"time"
)

const (
	wheelTick  = 10 * time.Millisecond
	wheelSlots = 512 // one turn of the wheel spans ~5 s; longer timeouts wait more turns
)

// timerWheel times out futures. A runtime timer per request costs more than
// the request itself, so timeouts are kept coarse (one tick) in buckets
// that one goroutine sweeps; it runs only while some future is pending.
type timerWheel struct {
	start   time.Time
	buckets [wheelSlots]wheelBucket
	pending atomic.Int64
	// swept is the last tick whose bucket the sweeper has expired; it is
	// advanced under that bucket's lock, so an add holding the lock of
	// the bucket for tick due can tell whether due has been swept.
	swept   atomic.Int64
	stopped atomic.Bool

	mu      sync.Mutex
	running bool
	closed  bool
	done    chan struct{} // closed by close to stop the sweeper
	wg      sync.WaitGroup
}

type wheelBucket struct {
	mu   sync.Mutex
	head *Future
}

func newTimerWheel() *timerWheel {
	return &timerWheel{start: time.Now(), done: make(chan struct{})}
}

func (w *timerWheel) now() int64 { return int64(time.Since(w.start) / wheelTick) }

// add arms f to fail with ErrTimeout once d has passed, at most about a
// tick later: never earlier.
func (w *timerWheel) add(f *Future, d time.Duration) {
	if w.stopped.Load() {
		return // shut down: the request fails as a dead letter instead
	}
	due := int64((time.Since(w.start) + d + wheelTick - 1) / wheelTick)
	var b *wheelBucket
	for {
		due = max(due, w.swept.Load()+1)
		b = &w.buckets[due%wheelSlots]
		b.mu.Lock()
		if due > w.swept.Load() {
			break
		}
		b.mu.Unlock() // swept meanwhile: take the next tick
	}
	f.due, f.home = due, b
	f.linked = true
	f.next = b.head
	if b.head != nil {
		b.head.prev = f
	}
	b.head = f
	b.mu.Unlock()
	if w.pending.Add(1) == 1 {
		w.ensureRunning()
	}
}

// remove disarms f if it is still armed.
func (w *timerWheel) remove(f *Future) {
	b := f.home
	b.mu.Lock()
	linked := f.linked
	if linked {
		b.unlink(f)
	}
	b.mu.Unlock()
	if linked {
		w.pending.Add(-1)
	}
}

func (b *wheelBucket) unlink(f *Future) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		b.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	}
	f.prev, f.next, f.linked = nil, nil, false
}

func (w *timerWheel) ensureRunning() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || w.closed {
		return
	}
	w.running = true
	w.wg.Add(1)
	go w.sweep()
}

// sweep expires due futures every tick and exits when none is pending.
func (w *timerWheel) sweep() {
	defer w.wg.Done()
	swept := w.swept.Load()
	t := time.NewTicker(wheelTick)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
		}
		now := w.now()
		// After an idle spell, one turn of the wheel visits every bucket.
		swept = max(swept, now-wheelSlots)
		for swept < now {
			swept++
			w.expire(swept)
		}
		if w.pending.Load() == 0 {
			w.mu.Lock()
			if w.pending.Load() == 0 {
				w.running = false
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
		}
	}
}

// expire fails the futures due by tick in tick's bucket.
func (w *timerWheel) expire(tick int64) {
	b := &w.buckets[tick%wheelSlots]
	var due []*Future
	b.mu.Lock()
	for f := b.head; f != nil; {
		next := f.next
		if f.due <= tick {
			b.unlink(f)
			due = append(due, f)
		}
		f = next
	}
	w.swept.Store(tick)
	b.mu.Unlock()
	w.pending.Add(-int64(len(due)))
	for _, f := range due {
		f.complete(nil, ErrTimeout)
	}
}

// close stops the sweeper and fails every future still armed with
// ErrShutdown, so that nobody waits for a timeout that will never fire.
func (w *timerWheel) close() {
	w.stopped.Store(true)
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.done)
	}
	w.mu.Unlock()
	w.wg.Wait()
	for i := range w.buckets {
		b := &w.buckets[i]
		var armed []*Future
		b.mu.Lock()
		for f := b.head; f != nil; {
			next := f.next
			b.unlink(f)
			armed = append(armed, f)
			f = next
		}
		b.mu.Unlock()
		w.pending.Add(-int64(len(armed)))
		for _, f := range armed {
			f.complete(nil, ErrShutdown)
		}
	}
}
