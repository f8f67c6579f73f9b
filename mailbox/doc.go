// Package mailbox holds the queues that sit in front of every actor and the
// dispatcher that runs actors on a bounded pool of goroutines.
//
// A Mailbox has two queues: system messages (stop, watch, failure, restart),
// which are always processed first, and user messages, which are processed
// only while the mailbox is not suspended. The user queue is either the
// unbounded lock-free MPSC [Queue] or a [Bounded] queue with an explicit
// overflow [Policy].
//
// An idle mailbox holds no goroutine and, once drained, no queue segment: the
// memory it keeps is its own small header. When a message arrives the sender
// schedules the mailbox on its [Dispatcher], which runs it for up to
// Throughput messages per turn and then yields to other mailboxes.
//
// This package knows nothing of actors, PIDs, supervision or the network: the
// actor runtime plugs in through the [Invoker] interface.
package mailbox
