package actor

import "fmt"

// Started is the first message every actor instance receives.
type Started struct{}

// Stopping is delivered when an actor begins to stop, before its children
// are stopped.
type Stopping struct{}

// Stopped is the last message an actor receives, after its children have
// stopped.
type Stopped struct{}

// Restarting is delivered to the old instance before a restart.
type Restarting struct {
	// Reason is the failure that caused the restart.
	Reason any
}

// ReceiveTimeout is delivered when no user message arrived for the duration
// set with Context.SetReceiveTimeout.
type ReceiveTimeout struct{}

// Terminated tells a watcher that the watched actor is gone.
type Terminated struct {
	PID    *PID
	Reason TerminationReason
}

// TerminationReason says why an actor is gone.
type TerminationReason uint8

const (
	// ReasonStopped: stopped by Stop, Poison, its parent stopping or
	// system shutdown.
	ReasonStopped TerminationReason = iota
	// ReasonFailed: stopped by its supervisor after a failure.
	ReasonFailed
	// ReasonNotFound: there was no such actor when it was watched.
	ReasonNotFound
	// ReasonNodeDown: the actor's node went away (its process died or the
	// link to it was cut), so the actor is presumed gone.
	ReasonNodeDown
)

// String returns the reason in words.
func (r TerminationReason) String() string {
	switch r {
	case ReasonStopped:
		return "stopped"
	case ReasonFailed:
		return "failed"
	case ReasonNotFound:
		return "not found"
	case ReasonNodeDown:
		return "node down"
	}
	return fmt.Sprintf("TerminationReason(%d)", uint8(r))
}

// envelope is what user mailboxes hold: a message and who sent it.
type envelope struct {
	msg    any
	sender *PID
}

// poison stops an actor once the messages queued before it are processed.
type poison struct{}

// Stop messages are shared: stopping costs no allocation.
var (
	stopNormal any = &sysStop{reason: ReasonStopped}
	stopFailed any = &sysStop{reason: ReasonFailed}
)

// System messages, processed before user messages.
type (
	sysStart   struct{}
	sysResume  struct{}
	sysStop    struct{ reason TerminationReason }
	sysWatch   struct{ watcher *PID }
	sysUnwatch struct{ watcher *PID }
	sysRestart struct{ reason any }
	sysTimeout struct{}
	sysFailure struct {
		child  *PID
		reason any
		stack  []byte
		msg    any
	}
	sysTerminated struct {
		pid    *PID
		reason TerminationReason
	}
)
