package mailbox

import (
	"runtime"
	"sync/atomic"
)

// Segment sizes: the first segment of a burst is small so that an actor that
// receives one message now and then allocates little; each following segment
// doubles up to maxSegment, so a busy queue allocates once per maxSegment
// messages.
const (
	minSegment = 8
	maxSegment = 256
	// closed marks a segment that the consumer has retired: producers that
	// still hold it see a claim past its end and move on to the new tail.
	closed = 1 << 30
)

type slot[T any] struct {
	val   T
	ready atomic.Uint32
}

type segment[T any] struct {
	claimed atomic.Uint32 // slots claimed by producers
	next    atomic.Pointer[segment[T]]
	slots   []slot[T]
}

func newSegment[T any](size int) *segment[T] {
	return &segment[T]{slots: make([]slot[T], size)}
}

// Queue is an unbounded multi-producer, single-consumer FIFO queue.
//
// A producer claims a slot with one atomic add and writes it; a message costs
// no allocation of its own. Segments are linked as the queue grows and are
// dropped once the consumer has drained them and calls [Queue.Release], so an
// empty queue holds no memory beyond its header.
//
// Push may be called from any goroutine. Pop, Release and Snapshot belong to
// the single consumer. The zero value is an empty queue.
type Queue[T any] struct {
	// Written by producers.
	tail  atomic.Pointer[segment[T]]
	first atomic.Pointer[segment[T]] // a segment installed into an empty queue, not yet taken by the consumer
	// Written by the consumer only.
	head *segment[T]
	next uint32 // index of the next slot to read in head
}

// Push appends v to the queue. It never blocks on the consumer.
func (q *Queue[T]) Push(v T) {
	for {
		seg := q.tail.Load()
		if seg == nil {
			if q.install(v) {
				return
			}
			continue
		}
		i := seg.claimed.Add(1) - 1
		n := uint32(len(seg.slots))
		switch {
		case i < n:
			s := &seg.slots[i]
			s.val = v
			s.ready.Store(1)
			return
		case i == n:
			// This producer won the slot just past the end: it links the
			// next segment, with v already in it, and moves the tail.
			ns := newSegment[T](min(2*len(seg.slots), maxSegment))
			ns.slots[0].val = v
			ns.slots[0].ready.Store(1)
			ns.claimed.Store(1)
			seg.next.Store(ns)
			q.tail.Store(ns)
			return
		default:
			// Another producer is linking a new segment, or the consumer
			// is retiring this one; either way the tail moves shortly.
			for q.tail.Load() == seg {
				runtime.Gosched()
			}
		}
	}
}

// install puts a fresh segment holding v into an empty queue.
func (q *Queue[T]) install(v T) bool {
	ns := newSegment[T](minSegment)
	ns.slots[0].val = v
	ns.slots[0].ready.Store(1)
	ns.claimed.Store(1)
	if !q.tail.CompareAndSwap(nil, ns) {
		return false
	}
	q.first.Store(ns)
	return true
}

// Pop removes the oldest element. It reports false when the queue is empty
// or when the oldest element is still being written by its producer; that
// producer schedules the consumer again once it is done.
func (q *Queue[T]) Pop() (T, bool) {
	var zero T
	seg := q.head
	if seg == nil {
		if seg = q.first.Load(); seg == nil {
			return zero, false
		}
		q.first.Store(nil)
		q.head, q.next = seg, 0
	}
	if q.next == uint32(len(seg.slots)) {
		nx := seg.next.Load()
		if nx == nil {
			return zero, false
		}
		q.head, q.next = nx, 0
		seg = nx
	}
	s := &seg.slots[q.next]
	if s.ready.Load() == 0 {
		return zero, false
	}
	v := s.val
	s.val = zero // let the message be collected
	q.next++
	return v, true
}

// Release drops the consumer's segment if every claimed slot in it has been
// read, so that an idle queue keeps no memory. Call it only after Pop has
// reported the queue empty.
func (q *Queue[T]) Release() {
	seg := q.head
	if seg == nil || !seg.claimed.CompareAndSwap(q.next, closed) {
		return
	}
	q.tail.CompareAndSwap(seg, nil)
	q.head, q.next = nil, 0
}

// Mark records the consumer's position so that a later call to Changed can
// tell, without touching consumer state, whether anything was pushed since.
type Mark[T any] struct {
	seg  *segment[T]
	next uint32
}

// Mark returns the consumer's current position.
func (q *Queue[T]) Mark() Mark[T] { return Mark[T]{q.head, q.next} }

// Changed reports whether a producer has pushed since m was taken. It reads
// only producer-written state, so it is safe to call after the consumer has
// handed the queue over.
func (q *Queue[T]) Changed(m Mark[T]) bool {
	tail := q.tail.Load()
	if tail != m.seg {
		return true
	}
	return tail != nil && tail.claimed.Load() != m.next
}
