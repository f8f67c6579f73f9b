package mailbox

import "sync/atomic"

type sysNode struct {
	msg  any
	next *sysNode
}

// System messages travel through a multi-producer, single-consumer FIFO:
// producers push onto a lock-free stack (sysStack); the consumer takes the
// whole stack at once, reverses it and works through it (sysPending).
// System messages are rare, so a node per message is fine here. The two
// halves are separate so that a Mailbox can keep them on different cache
// lines.
type sysStack struct{ stack atomic.Pointer[sysNode] }

type sysPending struct{ pending *sysNode }

func (q *sysStack) push(msg any) {
	n := &sysNode{msg: msg}
	for {
		old := q.stack.Load()
		n.next = old
		if q.stack.CompareAndSwap(old, n) {
			return
		}
	}
}

func (q *sysPending) pop(in *sysStack) (any, bool) {
	if q.pending == nil {
		if in.stack.Load() == nil {
			return nil, false
		}
		var fifo *sysNode
		for n := in.stack.Swap(nil); n != nil; {
			next := n.next
			n.next = fifo
			fifo, n = n, next
		}
		q.pending = fifo
	}
	n := q.pending
	q.pending = n.next
	return n.msg, true
}

// waiting reports whether producers have pushed anything not yet taken.
// It reads only producer-written state.
func (q *sysStack) waiting() bool { return q.stack.Load() != nil }

// taken reports whether the consumer holds messages it has not processed
// yet (a panic can end a turn with some left). Consumer only.
func (q *sysPending) taken() bool { return q.pending != nil }
