// Package goray is the user API of goray, a Go framework for distributed
// programs built from actors, in the spirit of Ray.
//
// Init starts goray in a process. Without an address it starts a whole
// single-node cluster inside the process, like ray.init(): an embedded
// NATS server with no network listener, the GCS, a raylet and a
// shared-memory object store. With an address (WithAddress or
// GORAY_ADDRESS, the head's host:port) the process joins that cluster as a
// node of its own; GORAY_ROLE=worker makes it serve actors and never
// return. `goray start --head` runs a head from the generic binary.
//
// Actors are registered by kind at init time, in every binary that may
// host them (Go code cannot be shipped), and created through the GCS:
//
//	func init() { goray.RegisterActor("counter", func() actor.Actor { return &counter{} }) }
//
//	rt, err := goray.Init(ctx)
//	defer rt.Shutdown(ctx)
//	h, err := rt.NewActor(ctx, "counter", goray.Name("c"), goray.MaxRestarts(1))
//	reply, err := h.Ask(ctx, Add{1})
//
// The GCS places an actor on a node with room for its Resources,
// restarts it after a crash or the loss of its node while MaxRestarts
// allows, and keeps named actors unique per namespace. A handle follows
// its actor wherever it restarts; a call that the actor's death
// interrupts fails with an ActorDiedError unless MaxTaskRetries lets it
// run again. Actors that are not Detached die with their job (the
// driver's Runtime).
//
// Message types that cross processes are registered once by name
// (RegisterMessage); messages between actors of one process need not be.
//
// A Runtime is not global state: a process may hold several (tests do),
// each with its own node.
package goray
