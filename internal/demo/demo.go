// Package demo holds the actor kinds that the generic goray binary can
// host, so that a cluster started with `goray start` alone has something
// to run: the README's walkthrough and the CLI's tests use them. A real
// deployment registers its own kinds in its own binary.
package demo

import (
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/actor"
)

// Kinds.
const (
	Counter = "demo.counter" // counts Add messages; answers with the sum and its node
	Sleeper = "demo.sleeper" // answers Sleep after sleeping
)

// Add adds By to a counter; the answer is a Count.
type Add struct {
	By int `cbor:"1,keyasint"`
}

// Count is a counter's answer: its sum, and the node it runs on.
type Count struct {
	N    int    `cbor:"1,keyasint"`
	Node string `cbor:"2,keyasint"`
}

// Sleep asks a sleeper to sleep for D before it answers with a Count.
type Sleep struct {
	D time.Duration `cbor:"1,keyasint"`
}

func init() {
	goray.RegisterMessage[*Add]("goray.demo.Add")
	goray.RegisterMessage[*Count]("goray.demo.Count")
	goray.RegisterMessage[*Sleep]("goray.demo.Sleep")
	goray.RegisterActor(Counter, func() actor.Actor { return &counter{} })
	goray.RegisterActor(Sleeper, func() actor.Actor { return &sleeper{} })
}

type counter struct{ n int }

func (c *counter) Receive(ctx *actor.Context) {
	if m, ok := ctx.Message().(*Add); ok {
		c.n += m.By
		ctx.Respond(&Count{N: c.n, Node: ctx.Self().Node})
	}
}

type sleeper struct{}

// Receive sleeps on the actor's turn on purpose: the sleeper stands for a
// long call, so that a test can kill its node while the call is in flight.
func (s *sleeper) Receive(ctx *actor.Context) {
	if m, ok := ctx.Message().(*Sleep); ok {
		time.Sleep(m.D)
		ctx.Respond(&Count{Node: ctx.Self().Node})
	}
}
