package goray

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/raylet"
)

// RegisterActor makes kind an actor kind that NewActor can create on this
// node. Every binary of the cluster that may host it registers it under
// the same name, in an init function: Go code cannot be shipped between
// processes. Registering a kind twice panics.
func RegisterActor(kind string, factory func() actor.Actor) {
	raylet.RegisterKind(kind, factory)
}

// RegisterMessage makes T a message type that can travel to actors in
// other processes, under name; every binary registers it alike. Messages
// between actors of one process need no registration.
func RegisterMessage[T any](name string) { bus.Register[T](name) }

// NewActor creates an actor of kind through the GCS, which places it on
// a node with room for its resources, and returns its handle. It returns
// once the actor is alive, or, when no node has room now, once it is
// recorded as pending (calls then wait for it). An actor no node could
// ever run fails with ErrInfeasible; a name taken in the namespace with
// ErrNameTaken, unless GetIfExists.
func (rt *Runtime) NewActor(ctx context.Context, kind string, opts ...ActorOption) (*ActorHandle, error) {
	var c actorConfig
	for _, o := range opts {
		o(&c)
	}
	c.spec.Kind = kind
	c.spec.JobID = rt.job.ID
	if c.spec.Namespace == "" {
		c.spec.Namespace = rt.Namespace()
	}
	if rt.raylet != nil {
		c.spec.OwnerNode = rt.raylet.NodeID()
	}
	res, err := rt.request(ctx, &gcs.CreateActor{Spec: c.spec, GetIfExists: c.getIfExists})
	if err != nil {
		return nil, fmt.Errorf("goray: create actor %s: %w", kind, err)
	}
	return rt.handleFrom(res)
}

// GetActor returns the handle of the live actor named name in the job's
// namespace, or in Namespace(ns); ErrNotFound when there is none.
func (rt *Runtime) GetActor(ctx context.Context, name string, opts ...ActorOption) (*ActorHandle, error) {
	var c actorConfig
	for _, o := range opts {
		o(&c)
	}
	ns := cmp.Or(c.spec.Namespace, rt.Namespace())
	res, err := rt.request(ctx, &gcs.GetNamedActor{Name: name, Namespace: ns})
	if err != nil {
		return nil, fmt.Errorf("goray: get actor %q: %w", name, err)
	}
	return rt.handleFrom(res)
}

// Kill kills the actor. With noRestart it is dead for good; without, it
// dies as if it had crashed and restarts if restarts remain. Calls in
// flight fail with ActorDiedError (or retry, per MaxTaskRetries).
func (rt *Runtime) Kill(ctx context.Context, h *ActorHandle, noRestart bool) error {
	res, err := rt.request(ctx, &gcs.KillActor{ID: h.id, NoRestart: noRestart})
	if err != nil {
		return fmt.Errorf("goray: kill actor %s: %w", h.id, err)
	}
	if _, err = rt.handleFrom(res); err != nil && !errors.Is(err, ErrActorDied) {
		return err
	}
	if noRestart {
		h.markDead(causeKilled)
	}
	return nil
}

// causeKilled is what calls to an actor this process killed fail with.
const causeKilled = "killed by goray.Kill"

// Namespace is the job's namespace: WithNamespace, or its anonymous one.
func (rt *Runtime) Namespace() string {
	if rt.job.Namespace != "" {
		return rt.job.Namespace
	}
	return cmp.Or(rt.cfg.namespace, "default")
}

// JobID is the job this driver runs ("" for other roles).
func (rt *Runtime) JobID() string { return rt.job.ID }

func (rt *Runtime) handleFrom(res any) (*ActorHandle, error) {
	r, ok := res.(*gcs.ActorReply)
	if !ok {
		return nil, fmt.Errorf("goray: the GCS answered with %T", res)
	}
	if r.Actor.ID != "" && r.Actor.State == gcs.ActorDead {
		return nil, &ActorDiedError{ActorID: r.Actor.ID, Name: r.Actor.Spec.Name, Cause: r.Actor.DeathCause}
	}
	if err := gcs.Err(r.Code, r.Err); err != nil {
		return nil, err
	}
	return rt.newHandle(&r.Actor), nil
}
