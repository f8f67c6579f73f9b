package mailbox

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// DefaultThroughput is how many user messages a mailbox processes per turn
// before it yields its worker to other mailboxes.
const DefaultThroughput = 256

// Invoker is what a mailbox delivers to: in goray, an actor's process.
// The mailbox calls it from one goroutine at a time.
type Invoker[T any] interface {
	// InvokeSystem handles a system message.
	InvokeSystem(msg any)
	// InvokeUser handles a user message.
	InvokeUser(msg T)
	// Failure is called after InvokeSystem or InvokeUser panicked, with the
	// recovered value and the stack of the panic; the invoker knows which
	// message it was handling. The mailbox is suspended at that point: it
	// processes system messages only until [Mailbox.Resume] is called.
	Failure(reason any, stack []byte)
}

// A mailbox is idle (producers schedule it), scheduled (waiting for a
// worker, or for a helper, whoever claims it first) or running (claimed).
const (
	idle uint32 = iota
	scheduled
	running
)

// Mailbox queues messages for one consumer and runs it on a [Dispatcher].
// It must be initialised with [Mailbox.Init] before use and must not be
// copied after that.
//
// Its fields come in three groups: written by producers, read-mostly, and
// written by the consumer. The read-mostly group (with a little padding)
// keeps the other two on different cache lines, so that senders and the
// running actor do not slow each other down; a test checks the distance.
type Mailbox[T any] struct {
	// Written by producers (and by the consumer when it goes idle).
	status atomic.Uint32
	sysIn  sysStack
	user   queueTail[T]

	// Set once by Init.
	bounded    *Bounded[T]
	invoker    Invoker[T]
	dispatcher Dispatcher
	throughput int32
	_          [sidePad]byte

	// Consumer-owned.
	head      queueHead[T]
	sysOut    sysPending
	suspended bool
	front     *[]T    // requeued messages, delivered before the queue
	worker    *Worker // running this mailbox now, nil when run inline
}

// sidePad tops up the read-mostly fields to a cache line between the
// producers' and the consumer's fields.
const sidePad = 12

// Init wires the mailbox to its consumer and dispatcher. A nil bounded queue
// selects the unbounded lock-free queue. throughput ≤ 0 selects
// DefaultThroughput.
func (m *Mailbox[T]) Init(inv Invoker[T], d Dispatcher, throughput int, bounded *Bounded[T]) {
	if throughput <= 0 {
		throughput = DefaultThroughput
	}
	m.invoker, m.dispatcher, m.throughput, m.bounded = inv, d, int32(throughput), bounded
}

// UseSegments makes the unbounded queue share segments with other
// mailboxes through p. Call it right after Init.
func (m *Mailbox[T]) UseSegments(p *Segments[T]) { m.user.UseSegments(p) }

// Post queues a user message and schedules the mailbox. Only a bounded
// mailbox can drop a message (reported as dropped) or fail (ctx ended while
// blocked, or the mailbox was closed). near is the worker the sender runs
// on, if any (see Dispatcher).
func (m *Mailbox[T]) Post(ctx context.Context, v T, near *Worker) (dropped T, didDrop bool, err error) {
	dropped, didDrop, queued, err := m.enqueue(ctx, v, near)
	if queued {
		m.schedule(near)
	}
	return dropped, didDrop, err
}

// enqueue adds v to the user queue. queued is false when v was not added:
// the bounded queue dropped v itself, or failed.
func (m *Mailbox[T]) enqueue(ctx context.Context, v T, w *Worker) (dropped T, didDrop, queued bool, err error) {
	if m.bounded == nil {
		m.user.Push(v)
		return dropped, false, true, nil
	}
	dropped, didDrop, err = m.bounded.Push(ctx, v, w)
	queued = err == nil && !(didDrop && m.bounded.policy == DropNewest)
	return dropped, didDrop, queued, err
}

// PostAndRun is Post for a caller that is about to wait for this mailbox's
// reply: if the message found the mailbox idle, the caller runs it right
// away on its own goroutine rather than waking a worker to do it.
func (m *Mailbox[T]) PostAndRun(ctx context.Context, v T) (dropped T, didDrop bool, err error) {
	dropped, didDrop, queued, err := m.enqueue(ctx, v, nil)
	if !queued {
		return dropped, didDrop, err
	}
	if m.status.Load() == idle && m.status.CompareAndSwap(idle, running) {
		m.runInline()
	}
	return dropped, didDrop, nil
}

// Prime queues a system message without scheduling the mailbox: for the
// first message of a mailbox that nobody else can see yet. Wake schedules
// it once it is visible.
func (m *Mailbox[T]) Prime(msg any) { m.sysIn.push(msg) }

// Wake schedules the mailbox if it is idle.
func (m *Mailbox[T]) Wake() { m.schedule(nil) }

// PostSystem queues a system message and schedules the mailbox.
func (m *Mailbox[T]) PostSystem(msg any) {
	m.sysIn.push(msg)
	m.schedule(nil)
}

func (m *Mailbox[T]) schedule(near *Worker) {
	if m.status.Load() == idle && m.status.CompareAndSwap(idle, scheduled) {
		m.dispatcher.Schedule(m, near)
	}
}

// Suspend stops the delivery of user messages; system messages still flow.
// Only the consumer may call it, from inside an Invoker method.
func (m *Mailbox[T]) Suspend() { m.suspended = true }

// Resume restarts the delivery of user messages. Only the consumer may call
// it, from inside an Invoker method.
func (m *Mailbox[T]) Resume() { m.suspended = false }

// Suspended reports whether user messages are held back.
func (m *Mailbox[T]) Suspended() bool { return m.suspended }

// Requeue makes vs the next user messages to be delivered, in order, ahead
// of everything already queued. Only the consumer may call it.
func (m *Mailbox[T]) Requeue(vs []T) {
	if len(vs) == 0 {
		return
	}
	if m.front == nil {
		m.front = new([]T)
	}
	*m.front = append(append(make([]T, 0, len(vs)+len(*m.front)), vs...), *m.front...)
}

// Close releases senders blocked on a full bounded mailbox; they get
// ErrClosed. Queued messages can still be processed.
func (m *Mailbox[T]) Close() {
	if m.bounded != nil {
		m.bounded.Close()
	}
}

// Dropped returns how many messages a bounded mailbox has discarded.
func (m *Mailbox[T]) Dropped() uint64 {
	if m.bounded == nil {
		return 0
	}
	return m.bounded.Dropped()
}

// Run processes messages for one turn, if the mailbox is still scheduled
// (a helper may have run it since it was queued). It reports true when it
// stopped because the turn's budget ran out with messages left, in which
// case the dispatcher must run it again; false when it went idle or was not
// its to run.
func (m *Mailbox[T]) Run(w *Worker) bool {
	if !m.status.CompareAndSwap(scheduled, running) {
		return false
	}
	m.worker = w
	return m.run(true)
}

// Worker returns the worker running this mailbox, or nil when a caller runs
// it inline. Consumer only.
func (m *Mailbox[T]) Worker() *Worker { return m.worker }

// Help runs the mailbox on the calling goroutine if it is scheduled and no
// worker has claimed it yet: a caller about to block on this mailbox's
// reply does the work itself instead of waiting for a worker to wake up.
// It reports whether it ran anything.
func (m *Mailbox[T]) Help() bool {
	if m.status.Load() != scheduled || !m.status.CompareAndSwap(scheduled, running) {
		return false
	}
	m.runInline()
	return true
}

// runInline runs the claimed mailbox on the calling goroutine, which is no
// worker of the dispatcher's. What a full turn leaves goes back to the
// dispatcher: any entry queued for the mailbox earlier may be gone.
func (m *Mailbox[T]) runInline() {
	m.worker = nil
	if m.run(false) {
		m.dispatcher.Schedule(m, nil)
	}
}

// run processes turns while the mailbox has work. spin lets a worker wait
// briefly for more before going idle.
func (m *Mailbox[T]) run(spin bool) bool {
	for {
		exhausted, handled := m.turn()
		if exhausted {
			m.worker = nil
			m.status.Store(scheduled)
			return true
		}
		// Only an actor in a conversation (it just handled user
		// messages) waits for the next one; a spawn or a stop does not.
		if spin && handled > 0 && m.awaitMore() {
			continue
		}
		// Going idle: drop the drained segments, then hand the mailbox
		// back to producers. Anything pushed after the mark was taken is
		// seen by workSince; its producer either found the mailbox idle
		// and scheduled it, or found it still ours, and we go on.
		var mark Mark[T]
		if m.bounded == nil {
			m.head.release(&m.user)
			mark = m.head.Mark()
		}
		suspended, sysLeft := m.suspended, m.sysOut.taken()
		w := m.worker
		m.worker = nil
		m.status.Store(idle)
		if !sysLeft && !m.workSince(mark, suspended) || !m.status.CompareAndSwap(idle, running) {
			return false
		}
		m.worker = w
		if handled == 0 {
			// A producer has claimed a slot but not written it yet; it
			// may be preempted, so let it run rather than spin on it.
			runtime.Gosched()
		}
	}
}

// idleSpins is how many times a drained mailbox looks for a new message
// before it goes idle. A sender in a steady stream is usually a few tens of
// nanoseconds behind; catching its next message here saves a trip through
// the dispatcher and keeps the queue's segments in use.
const idleSpins = 64

func (m *Mailbox[T]) awaitMore() bool {
	var mark Mark[T]
	if m.bounded == nil {
		mark = m.head.Mark()
	}
	for i := range idleSpins {
		if m.workSince(mark, m.suspended) {
			return true
		}
		// Other work waits for this worker, likely the very actor whose
		// reply we would wait for: stop waiting and let it run.
		if w := m.worker; w != nil && w.hasWork() {
			return false
		}
		if i%16 == 15 {
			runtime.Gosched()
		}
	}
	return false
}

func (m *Mailbox[T]) workSince(mark Mark[T], suspended bool) bool {
	if m.sysIn.waiting() {
		return true
	}
	if suspended {
		return false
	}
	if m.bounded != nil {
		return m.bounded.Len() > 0
	}
	return m.user.Changed(mark)
}

// turn processes system messages first, then user messages up to the
// throughput budget. It reports whether the budget ran out, and how many
// user messages it handled. A panic in the
// invoker ends the turn: the mailbox is suspended and the invoker told.
// The deferred recover runs before the stack unwinds, so the stack it
// reports shows where the panic happened.
func (m *Mailbox[T]) turn() (exhausted bool, handled int32) {
	defer func() {
		if r := recover(); r != nil {
			m.suspended = true
			m.invoker.Failure(r, debug.Stack())
			exhausted = false
		}
	}()
	for handled < m.throughput {
		if msg, ok := m.sysOut.pop(&m.sysIn); ok {
			m.invoker.InvokeSystem(msg)
			continue
		}
		if m.suspended {
			return false, handled
		}
		v, ok := m.popUser()
		if !ok {
			return false, handled
		}
		handled++
		m.invoker.InvokeUser(v)
	}
	return true, handled
}

func (m *Mailbox[T]) popUser() (T, bool) {
	if m.front != nil && len(*m.front) > 0 {
		f := *m.front
		v := f[0]
		var zero T
		f[0] = zero
		if *m.front = f[1:]; len(*m.front) == 0 {
			m.front = nil
		}
		return v, true
	}
	if m.bounded != nil {
		return m.bounded.Pop()
	}
	return m.head.pop(&m.user)
}
