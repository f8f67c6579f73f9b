// Package supervisor decides what happens to an actor that failed.
//
// A parent actor carries a [Strategy]. When one of its children fails (its
// Receive panicked), the runtime asks the strategy for a [Decision]: which
// [Directive] to apply (resume, restart, stop or escalate), whether to apply
// it to the failed child alone ([OneForOne]) or to all its siblings too
// ([AllForOne]), and how long to wait before a restart (exponential backoff
// with jitter). Each child's failures are remembered in [Stats] so that a
// child restarting more than MaxRetries times within the window is stopped
// and its failure escalated to the parent's own supervisor.
//
// The package is pure policy: it knows nothing of actors, mailboxes or the
// network, and it does no I/O. The actor runtime applies its decisions.
package supervisor
