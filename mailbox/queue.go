package mailbox

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Segment sizes: the first segment of a burst is small so that an actor
// that receives one message now and then uses little memory; each following
// segment doubles, up to maxSegment.
const (
	minSegment   = 8
	sizeClasses  = 6 // 8, 16, …, 256
	maxSegment   = minSegment << (sizeClasses - 1)
	closed       = 1 << 30
	tombstoneBit = 1 << 31
	// maxLap bounds a segment's reuse: ready holds lap+1 below the
	// tombstone bit and must never wrap to the 0 of a fresh slot.
	maxLap = 1 << 30
	// cacheLine separates fields written on one core from fields read on
	// another, so that they do not share a cache line.
	cacheLine = 64
)

type slot[T any] struct {
	val T
	// ready is the segment's lap + 1 once val is written in that lap, so
	// that a reused segment needs no clearing; with tombstoneBit set it
	// marks a slot claimed by mistake, which the consumer skips.
	ready atomic.Uint32
}

// A segment is a fixed array of slots. Producers claim slots with an atomic
// add on claimed. While a segment is out of use (in a pool, or being set up
// for a new lap) claimed is at least closed, so claims land past its end.
type segment[T any] struct {
	claimed atomic.Uint32
	_       [cacheLine]byte // claimed changes with every message; the rest is read-mostly
	lap     atomic.Uint32
	owner   atomic.Pointer[queueTail[T]]
	next    atomic.Pointer[segment[T]]
	slots   []slot[T]
	class   uint8
}

// Segments is a pool of drained segments shared by many queues, so that
// queues that fill and drain over and over (an actor that goes idle between
// bursts) allocate nothing in steady state, while an idle queue keeps no
// segment of its own. The zero value is ready to use.
type Segments[T any] struct {
	pools [sizeClasses]sync.Pool
}

func (p *Segments[T]) get(class uint8) *segment[T] {
	if p != nil {
		// A segment that has served maxLap laps retires for good.
		if s, ok := p.pools[class].Get().(*segment[T]); ok && s.lap.Load() < maxLap {
			return s
		}
	}
	s := &segment[T]{slots: make([]slot[T], minSegment<<class), class: class}
	s.claimed.Store(closed)
	return s
}

func (p *Segments[T]) put(s *segment[T]) {
	if p != nil {
		p.pools[s.class].Put(s)
	}
}

// Queue is an unbounded multi-producer, single-consumer FIFO queue.
//
// A producer claims a slot with one atomic add and writes it in place; a
// message costs no allocation. Drained segments go back to the shared
// [Segments] pool, and when the consumer goes idle it calls [Queue.Release]
// so that the queue keeps no segment at all.
//
// Because segments are reused, a producer that was preempted between
// reading the tail and claiming a slot may find that the segment has since
// moved on, possibly to another queue. It detects that (the segment's owner
// or lap changed), marks the slot it claimed as a tombstone for the new
// consumer to skip, and tries again.
//
// Push may be called from any goroutine; Pop, Release and Mark only by the
// single consumer; Changed by anyone.
type Queue[T any] struct {
	queueTail[T]
	_ [cacheLine]byte
	queueHead[T]
}

// queueTail is the producers' half of a queue; queueHead the consumer's.
// They are separate types so that a Mailbox can lay them out with its
// read-mostly fields in between instead of padding.
type queueTail[T any] struct {
	tail  atomic.Pointer[segment[T]]
	first atomic.Pointer[segment[T]] // installed into an empty queue, not yet taken by the consumer
	segs  *Segments[T]
}

type queueHead[T any] struct {
	head    *segment[T]
	next    uint32 // index of the next slot to read in head
	headLap uint32 // ready value of head's slots in its current lap
}

// UseSegments makes the queue take segments from, and return them to, p.
// Call it before the queue is used.
func (q *queueTail[T]) UseSegments(p *Segments[T]) { q.segs = p }

// Push appends v to the queue. It never blocks on the consumer.
func (q *queueTail[T]) Push(v T) {
	for {
		seg := q.tail.Load()
		if seg == nil {
			if q.install(v) {
				return
			}
			continue
		}
		lap := seg.lap.Load()
		i := seg.claimed.Add(1) - 1
		n := uint32(len(seg.slots))
		if i < n {
			s := &seg.slots[i]
			now := seg.lap.Load()
			if now == lap && seg.owner.Load() == q {
				s.val = v
				s.ready.Store(now + 1)
				return
			}
			s.ready.Store((now + 1) | tombstoneBit)
			continue
		}
		if i == n {
			// This claim elects the one producer that links the next
			// segment in this lap. If the segment has moved on (to
			// another lap, maybe another queue) since we read the tail,
			// we still owe its owner that link, with an empty slot.
			if o := seg.owner.Load(); seg.lap.Load() != lap || o != q {
				var zero T
				o.link(seg, zero, true)
				continue
			}
			q.link(seg, v, false)
			return
		}
		q.awaitTail(seg)
	}
}

// prepare takes a segment for a new lap in this queue with v in slot 0
// (a tombstone if tomb). Its claims stay closed until the caller has made
// it reachable.
func (q *queueTail[T]) prepare(class uint8, v T, tomb bool) *segment[T] {
	s := q.segs.get(class)
	lap := s.lap.Add(1)
	s.owner.Store(q)
	s.next.Store(nil)
	s.slots[0].val = v
	ready := lap + 1
	if tomb {
		ready |= tombstoneBit
	}
	s.slots[0].ready.Store(ready)
	return s
}

func (q *queueTail[T]) abandon(s *segment[T]) {
	var zero T
	s.slots[0].val = zero
	s.owner.Store(nil)
	q.segs.put(s)
}

// link appends a segment holding v (or a tombstone) after seg, the full
// tail. Only the producer whose claim landed just past seg's end calls it,
// once per lap, and seg cannot be drained and reused before its next is
// set; so no compare-and-swap is needed, and none could be fooled by a
// reused segment. The tail moves first: the consumer reaches the new
// segment through next only once the tail no longer names seg, so seg is
// never recycled while the tail still points at it.
func (q *queueTail[T]) link(seg *segment[T], v T, tomb bool) {
	ns := q.prepare(min(seg.class+1, sizeClasses-1), v, tomb)
	q.tail.Store(ns)
	seg.next.Store(ns)
	ns.claimed.Store(1) // open: slot 0 is taken
}

// install puts a segment holding v into an empty queue.
func (q *queueTail[T]) install(v T) bool {
	ns := q.prepare(0, v, false)
	if !q.tail.CompareAndSwap(nil, ns) {
		q.abandon(ns)
		return false
	}
	q.first.Store(ns)
	ns.claimed.Store(1)
	return true
}

// awaitTail waits until seg is no longer the tail (its linker has moved
// it), or has room again (it was just opened).
func (q *queueTail[T]) awaitTail(seg *segment[T]) {
	for q.tail.Load() == seg {
		if seg.claimed.Load() < uint32(len(seg.slots)) {
			return // opened after we claimed: try again
		}
		runtime.Gosched()
	}
}

// Pop removes the oldest element. It reports false when the queue is empty
// or when the oldest element is still being written by its producer; a
// consumer that goes idle then must re-check with Changed, which sees the
// claim.
func (q *Queue[T]) Pop() (T, bool) { return q.queueHead.pop(&q.queueTail) }

func (q *queueHead[T]) pop(t *queueTail[T]) (T, bool) {
	var zero T
	for {
		seg := q.head
		if seg == nil {
			if seg = t.first.Load(); seg == nil {
				return zero, false
			}
			t.first.Store(nil)
			q.enter(seg)
		}
		if q.next == uint32(len(seg.slots)) {
			nx := seg.next.Load()
			if nx == nil {
				return zero, false
			}
			q.enter(nx)
			t.retire(seg)
			seg = nx
		}
		s := &seg.slots[q.next]
		switch s.ready.Load() {
		case q.headLap:
			v := s.val
			s.val = zero // let the message be collected
			q.next++
			return v, true
		case q.headLap | tombstoneBit:
			q.next++
		default:
			return zero, false
		}
	}
}

func (q *queueHead[T]) enter(seg *segment[T]) {
	q.head, q.next, q.headLap = seg, 0, seg.lap.Load()+1
}

// retire returns a drained segment to the pool. Every slot has been read,
// and the tail has moved on (link moves it before it sets next); closing
// its claims keeps them past the end until its next lap.
func (q *queueTail[T]) retire(seg *segment[T]) {
	seg.claimed.Store(closed)
	seg.owner.Store(nil)
	q.segs.put(seg)
}

// Release gives the queue's segment back to the pool if every claimed slot
// has been read, so that an idle queue keeps no memory. Call it only after
// Pop has reported the queue empty.
func (q *Queue[T]) Release() { q.queueHead.release(&q.queueTail) }

func (q *queueHead[T]) release(t *queueTail[T]) {
	seg := q.head
	// While the tail lags behind the head (a linker finishing) the segment
	// stays. Once the tail is seg, only a link after seg could move it,
	// and closing seg's claims rules that out.
	if seg == nil || t.tail.Load() != seg || !seg.claimed.CompareAndSwap(q.next, closed) {
		return
	}
	t.tail.CompareAndSwap(seg, nil)
	q.head, q.next = nil, 0
	seg.owner.Store(nil)
	t.segs.put(seg)
}

// Mark records the consumer's position so that a later call to Changed can
// tell, without touching consumer state, whether anything was pushed since.
type Mark[T any] struct {
	seg  *segment[T]
	next uint32
}

// Mark returns the consumer's current position.
func (q *queueHead[T]) Mark() Mark[T] { return Mark[T]{q.head, q.next} }

// Changed reports whether a producer has pushed since m was taken. It reads
// only producer-written state, so it is safe to call after the consumer has
// handed the queue over.
func (q *queueTail[T]) Changed(m Mark[T]) bool {
	tail := q.tail.Load()
	if tail != m.seg {
		return true
	}
	return tail != nil && tail.claimed.Load() != m.next
}
