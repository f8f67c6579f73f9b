package actor

import (
	"github.com/goray-dev/goray/mailbox"
	"github.com/goray-dev/goray/supervisor"
)

// Props says how to make and run an actor: its producer, the strategy it
// applies to its children, its mailbox and its middleware. Props are
// immutable and may be shared by any number of actors.
type Props struct {
	producer   Producer
	strategy   supervisor.Strategy
	middleware []Middleware
	chain      ReceiveFunc // middleware around the current behaviour; nil without middleware
	throughput int
	bounded    int // mailbox bound; 0 for unbounded
	policy     mailbox.Policy
}

// PropsOption configures Props.
type PropsOption func(*Props)

// PropsFromProducer returns props for actors made by p.
func PropsFromProducer(p Producer, opts ...PropsOption) *Props {
	props := &Props{producer: p, strategy: supervisor.Default}
	for _, o := range opts {
		o(props)
	}
	if len(props.middleware) > 0 {
		chain := ReceiveFunc((*Context).dispatch)
		for i := len(props.middleware) - 1; i >= 0; i-- {
			chain = props.middleware[i](chain)
		}
		props.chain = chain
	}
	return props
}

// PropsFromFunc returns props for an actor whose behaviour is f.
func PropsFromFunc(f ReceiveFunc, opts ...PropsOption) *Props {
	return PropsFromProducer(func() Actor { return f }, opts...)
}

// WithSupervisor sets the strategy the actor applies to its children's
// failures. The default is supervisor.Default.
func WithSupervisor(s supervisor.Strategy) PropsOption {
	return func(p *Props) { p.strategy = s }
}

// WithBoundedMailbox gives the actor a mailbox that never holds more than
// capacity user messages, with policy deciding what a full mailbox does.
// Dropped messages go to dead letters.
func WithBoundedMailbox(capacity int, policy mailbox.Policy) PropsOption {
	return func(p *Props) { p.bounded, p.policy = max(capacity, 1), policy }
}

// WithThroughput sets how many messages the actor processes per turn before
// it yields its worker; the default is mailbox.DefaultThroughput.
func WithThroughput(n int) PropsOption {
	return func(p *Props) { p.throughput = n }
}

// WithMiddleware wraps the actor's Receive; the first middleware is the
// outermost.
func WithMiddleware(m ...Middleware) PropsOption {
	return func(p *Props) { p.middleware = append(p.middleware, m...) }
}
