package actor

// Actor is the behaviour of an actor: Receive is called for each message,
// one at a time.
type Actor interface {
	Receive(c *Context)
}

// ReceiveFunc adapts a function to the Actor interface, for small actors.
type ReceiveFunc func(c *Context)

// Receive calls f(c).
func (f ReceiveFunc) Receive(c *Context) { f(c) }

// Producer makes a fresh actor instance: at spawn and at every restart.
type Producer func() Actor

// Middleware wraps the delivery of every message to an actor, for logging,
// metrics or tracing. It must call next to deliver the message.
type Middleware func(next ReceiveFunc) ReceiveFunc
