package mailbox

import (
	"runtime"
	"sync/atomic"
)

// Segment sizes: the first segment of a burst is small so that an actor that
// receives one message now and then allocates little; each following segment
// doubles up to maxSegment.
const (
	minSegment = 8
	maxSegment = 256
	// closed is added to a segment's claim counter when the consumer
	// retires it: a producer that still holds the segment claims a slot
	// past its end and moves on to the current tail.
	closed = 1 << 30
)

type slot[T any] struct {
	val T
	// ready is the segment's lap + 1 once val is written for that lap, so
	// that a recycled segment needs no clearing.
	ready atomic.Uint32
}

type segment[T any] struct {
	claimed atomic.Uint32 // slots claimed by producers in this lap
	// The claim counter changes with every message; what the consumer
	// reads lives on another cache line.
	_     [cacheLine]byte
	lap   atomic.Uint32 // how many times the segment has been reused
	next  atomic.Pointer[segment[T]]
	slots []slot[T]
}

// cacheLine separates fields written on one core from fields read on
// another, so that they do not share a cache line.
const cacheLine = 64

// Queue is an unbounded multi-producer, single-consumer FIFO queue.
//
// A producer claims a slot with one atomic add and writes it in place. The
// queue is a chain of segments; a segment the consumer has drained is kept
// as a spare and reused as the next tail, so a queue under steady load
// allocates nothing. When the consumer goes idle it calls [Queue.Release]
// and the queue gives up its segments, so an idle queue holds no memory
// beyond its header.
//
// Push may be called from any goroutine. Pop, Release, Mark and Changed
// belong to the single consumer (Changed may be called after handing the
// queue over). The zero value is an empty queue.
type Queue[T any] struct {
	// Written by producers.
	tail  atomic.Pointer[segment[T]]
	first atomic.Pointer[segment[T]] // installed into an empty queue, not yet taken by the consumer
	// Drained segments, put by the consumer, taken by a producer.
	spares [2]atomic.Pointer[segment[T]]

	_ [cacheLine]byte

	// Written by the consumer only.
	head    *segment[T]
	next    uint32 // index of the next slot to read in head
	headLap uint32 // ready value of head's slots in its current lap
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
			s.ready.Store(seg.lap.Load() + 1)
			return
		case i == n:
			// This producer won the slot just past the end: it links the
			// next segment, with v already in it.
			ns := q.nextSegment(2 * len(seg.slots))
			ns.slots[0].val = v
			ns.slots[0].ready.Store(ns.lap.Load() + 1)
			ns.claimed.Store(1)
			seg.next.Store(ns)
			q.tail.CompareAndSwap(seg, ns)
			return
		default:
			q.awaitTail(seg)
		}
	}
}

// awaitTail waits until the tail has moved past seg: another producer is
// linking a new segment, or the consumer is retiring this one. It helps a
// link along rather than waiting for the linker to finish.
func (q *Queue[T]) awaitTail(seg *segment[T]) {
	for q.tail.Load() == seg {
		if nx := seg.next.Load(); nx != nil {
			q.tail.CompareAndSwap(seg, nx)
			return
		}
		runtime.Gosched()
	}
}

// nextSegment returns the spare segment, ready for a new lap, or a new one.
func (q *Queue[T]) nextSegment(size int) *segment[T] {
	size = min(max(size, minSegment), maxSegment)
	for i := range q.spares {
		if s := q.spares[i].Swap(nil); s != nil && len(s.slots) >= size {
			s.lap.Add(1)
			s.next.Store(nil)
			return s
		}
	}
	return &segment[T]{slots: make([]slot[T], size)}
}

// install puts a fresh segment holding v into an empty queue.
func (q *Queue[T]) install(v T) bool {
	ns := q.nextSegment(minSegment)
	ns.slots[0].val = v
	ns.slots[0].ready.Store(ns.lap.Load() + 1)
	ns.claimed.Store(1)
	if !q.tail.CompareAndSwap(nil, ns) {
		var zero T
		ns.slots[0].val = zero
		q.recycle(ns)
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
		q.enter(seg)
	}
	if q.next == uint32(len(seg.slots)) {
		nx := seg.next.Load()
		if nx == nil {
			return zero, false
		}
		q.enter(nx)
		q.recycle(seg)
		seg = nx
	}
	s := &seg.slots[q.next]
	if s.ready.Load() != q.headLap {
		return zero, false
	}
	v := s.val
	s.val = zero // let the message be collected
	q.next++
	return v, true
}

func (q *Queue[T]) enter(seg *segment[T]) {
	q.head, q.next, q.headLap = seg, 0, seg.lap.Load()+1
}

// recycle keeps a drained segment as the spare. Every slot of it has been
// read and no producer can claim one again: its claim counter is past the
// end, and closed keeps it there until the segment's next lap.
func (q *Queue[T]) recycle(seg *segment[T]) {
	seg.claimed.Store(closed)
	for i := range q.spares {
		if q.spares[i].CompareAndSwap(nil, seg) {
			return
		}
	}
}

// Release gives up the queue's segments if every claimed slot has been
// read, so that an idle queue keeps no memory. Call it only after Pop has
// reported the queue empty.
func (q *Queue[T]) Release() {
	for i := range q.spares {
		q.spares[i].Store(nil)
	}
	seg := q.head
	// The tail may still lag behind the head while a linker finishes; then
	// the segment stays. Once the tail is seg, only a linker of seg could
	// move it, and closing seg's claims rules that out.
	if seg == nil || q.tail.Load() != seg || !seg.claimed.CompareAndSwap(q.next, closed) {
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
