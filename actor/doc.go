// Package actor is goray's in-process actor runtime: actors, their PIDs and
// contexts, spawning, messaging, request/reply with futures, watching,
// lifecycle, supervision trees, dead letters and an event stream.
//
// An actor implements [Actor]; its Receive is called with a [Context] for
// one message at a time, never concurrently, so an actor's own state needs
// no locks. Actors are created from [Props] by a [System] (top-level actors)
// or by another actor (children) and are addressed by [PID].
//
// Lifecycle messages arrive in a fixed order: [Started] before any user
// message; [Stopping] then [Stopped] when the actor stops; [Restarting] to
// the old instance before a restart, followed by [Started] to the new one.
//
// A panic in Receive is a failure. The runtime recovers it, suspends the
// actor's mailbox and asks the parent's supervisor.Strategy what to do;
// top-level actors are supervised by the root guardian, which by default
// stops a failing top-level actor and logs why. A failure never kills the
// process or another actor.
//
// Delivery is at-most-once and ordered per sender–receiver pair. Messages
// to a stopped or unknown PID go to dead letters: they are counted, logged
// at debug level and published on the [EventStream] as [DeadLetter]; a
// request whose message ends there fails at once with [ErrDeadLetter].
//
// Receive must not block for long: actors share a bounded pool of workers.
// Waiting on a Future obtained from Context.RequestFuture is safe (the pool
// starts a stand-in worker for the wait); for other long blocking work,
// start a goroutine and send the result back as a message.
//
// This package knows nothing of NATS, CBOR or tasks: remote delivery is
// layered on top of it.
package actor
