package raylet

import (
	"fmt"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// CallFailed answers a request whose handling crashed the actor: the
// caller learns at once that its call died with the actor, instead of
// waiting out its timeout. Handles turn it into an ActorDiedError, or
// retry the call when MaxTaskRetries allows.
type CallFailed struct {
	ActorID string `cbor:"1,keyasint"`
	Cause   string `cbor:"2,keyasint"`
}

func init() { bus.Register[*CallFailed]("goray.raylet.CallFailed") }

// crash makes a hosted actor fail as if it had crashed (Kill without
// NoRestart): its supervisor restarts it if restarts remain.
type crash struct{ cause string }

// killed is the panic value of a crash.
type killed struct{ cause string }

func (k killed) String() string { return k.cause }

// guard wraps a hosted actor's behaviour: a crash message panics, and a
// panic while handling a request answers the requester with CallFailed
// before the supervisor sees the failure.
func guard(actorID string) actor.Middleware {
	return func(next actor.ReceiveFunc) actor.ReceiveFunc {
		return func(c *actor.Context) {
			if m, ok := c.Message().(crash); ok {
				panic(killed(m))
			}
			defer func() {
				if r := recover(); r != nil {
					if c.Sender() != nil {
						c.Respond(&CallFailed{ActorID: actorID, Cause: fmt.Sprintf("the actor crashed handling this call: %v", r)})
					}
					panic(r)
				}
			}()
			next(c)
		}
	}
}
