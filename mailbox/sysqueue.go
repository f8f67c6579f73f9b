package mailbox

import "sync/atomic"

type sysNode struct {
	msg  any
	next *sysNode
}

// sysQueue is a multi-producer, single-consumer FIFO for system messages:
// producers push onto a lock-free stack; the consumer takes the whole stack
// at once and reverses it. System messages are rare, so a node per message
// is fine here.
type sysQueue struct {
	stack   atomic.Pointer[sysNode] // written by producers
	pending *sysNode                // consumer-owned, oldest first
}

func (q *sysQueue) push(msg any) {
	n := &sysNode{msg: msg}
	for {
		old := q.stack.Load()
		n.next = old
		if q.stack.CompareAndSwap(old, n) {
			return
		}
	}
}

func (q *sysQueue) pop() (any, bool) {
	if q.pending == nil {
		if q.stack.Load() == nil {
			return nil, false
		}
		var fifo *sysNode
		for n := q.stack.Swap(nil); n != nil; {
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
func (q *sysQueue) waiting() bool { return q.stack.Load() != nil }

// taken reports whether the consumer holds messages it has not processed
// yet (a panic can end a turn with some left). Consumer only.
func (q *sysQueue) taken() bool { return q.pending != nil }
