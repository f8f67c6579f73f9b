package mailbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Policy says what a [Bounded] queue does with a message that arrives while
// it is full.
type Policy uint8

const (
	// Block makes the sender wait until there is room or its context ends.
	Block Policy = iota
	// DropNewest discards the arriving message.
	DropNewest
	// DropOldest discards the oldest queued message to make room.
	DropOldest
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case Block:
		return "block"
	case DropNewest:
		return "drop-newest"
	case DropOldest:
		return "drop-oldest"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ErrClosed is returned to a sender blocked on a full queue that was closed
// because its consumer went away.
var ErrClosed = errors.New("mailbox: closed")

// Bounded is a FIFO queue that never holds more than its capacity. Its ring
// grows on demand up to the capacity, so a large bound costs nothing until
// it is used.
type Bounded[T any] struct {
	mu      sync.Mutex
	ring    []T
	head    int // index of the oldest element
	n       int // elements queued
	limit   int
	policy  Policy
	closed  bool
	room    chan struct{} // closed and replaced when room appears, if anyone waits
	waiting int

	length  atomic.Int64
	dropped atomic.Uint64
}

// NewBounded returns an empty queue that holds at most capacity elements.
func NewBounded[T any](capacity int, policy Policy) *Bounded[T] {
	if capacity < 1 {
		capacity = 1
	}
	return &Bounded[T]{limit: capacity, policy: policy}
}

// Push adds v. When the queue is full it applies the policy: Block waits
// until there is room, the queue closes (ErrClosed) or ctx ends (ctx.Err());
// DropNewest returns v as dropped; DropOldest queues v and returns the
// oldest element as dropped. Every drop is counted. w is the pool worker
// the caller runs on, if any: a Block wait tells its pool, which hands the
// worker's next slot on and starts a stand-in, so that the consumer this
// sender waits for can still run.
func (b *Bounded[T]) Push(ctx context.Context, v T, w *Worker) (dropped T, didDrop bool, err error) {
	b.mu.Lock()
	for b.n == b.limit && !b.closed {
		switch b.policy {
		case DropNewest:
			b.mu.Unlock()
			b.dropped.Add(1)
			return v, true, nil
		case DropOldest:
			dropped = b.popLocked()
			didDrop = true
			b.dropped.Add(1)
		default:
			if err := b.waitLocked(ctx, w); err != nil {
				return dropped, false, err
			}
		}
	}
	if b.closed {
		b.mu.Unlock()
		return dropped, didDrop, ErrClosed
	}
	b.pushLocked(v)
	b.mu.Unlock()
	return dropped, didDrop, nil
}

// waitLocked releases the lock until room appears or ctx ends; it returns
// with the lock held on success.
func (b *Bounded[T]) waitLocked(ctx context.Context, w *Worker) error {
	if b.room == nil {
		b.room = make(chan struct{})
	}
	room := b.room
	b.waiting++
	b.mu.Unlock()
	if w != nil {
		w.pool.BlockingEnter(w)
		defer w.pool.BlockingExit()
	}
	select {
	case <-room:
		b.mu.Lock()
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		if b.room == room { // nobody woke this generation of waiters
			b.waiting--
		}
		b.mu.Unlock()
		return ctx.Err()
	}
}

func (b *Bounded[T]) pushLocked(v T) {
	if b.n == len(b.ring) {
		b.grow()
	}
	b.ring[(b.head+b.n)%len(b.ring)] = v
	b.n++
	b.length.Store(int64(b.n))
}

func (b *Bounded[T]) grow() {
	size := min(max(2*len(b.ring), minSegment), b.limit)
	ring := make([]T, size)
	for i := range b.n {
		ring[i] = b.ring[(b.head+i)%len(b.ring)]
	}
	b.ring, b.head = ring, 0
}

func (b *Bounded[T]) popLocked() T {
	var zero T
	v := b.ring[b.head]
	b.ring[b.head] = zero
	b.head = (b.head + 1) % len(b.ring)
	b.n--
	b.length.Store(int64(b.n))
	if b.waiting > 0 {
		close(b.room)
		b.room = nil
		b.waiting = 0
	}
	return v
}

// Pop removes the oldest element.
func (b *Bounded[T]) Pop() (T, bool) {
	if b.length.Load() == 0 {
		var zero T
		return zero, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 {
		var zero T
		return zero, false
	}
	v := b.popLocked()
	if b.n == 0 {
		// Give back the ring of an idle queue.
		b.ring, b.head = nil, 0
	}
	return v, true
}

// Close wakes every blocked sender with ErrClosed and refuses later pushes.
// Elements already queued can still be popped.
func (b *Bounded[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.waiting > 0 {
		close(b.room)
		b.room = nil
		b.waiting = 0
	}
}

// Len returns the number of queued elements.
func (b *Bounded[T]) Len() int { return int(b.length.Load()) }

// Cap returns the bound.
func (b *Bounded[T]) Cap() int { return b.limit }

// Dropped returns how many elements the overflow policy has discarded.
func (b *Bounded[T]) Dropped() uint64 { return b.dropped.Load() }
