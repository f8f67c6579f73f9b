package plasma

import (
	"context"
	"fmt"
	"time"

	"github.com/goray-dev/goray/actor"
)

// Connect makes a client for a process of the node other than the store's
// own: it asks the store's actor on node for the arena, maps it once, and
// from then on talks to the store over the bus. The store watches the
// client's own actor, so that the client's holds end when it closes or its
// process dies.
//
// The store's node must be known to this process's bus node: call
// bus.Node.WaitForNode(ctx, node) first when both start together, or a
// Connect to a node not heard from yet fails after the bus's node timeout.
func Connect(ctx context.Context, sys *actor.System, node string) (*Client, error) {
	self := sys.Spawn(actor.PropsFromFunc(func(*actor.Context) {}))
	store := &actor.PID{Node: node, ID: ActorName}
	t := &remoteTransport{sys: sys, store: store, self: self}
	r, err := sys.Request(ctx, store, connectRequest{Client: self})
	if err == nil {
		if rep, ok := r.(connectReply); !ok {
			err = fmt.Errorf("plasma: connect: unexpected reply %T", r)
		} else if err = rep.Err.err(); err == nil {
			t.cid = rep.Client
			var arena *Arena
			if arena, err = OpenArena(rep.ArenaPath, rep.ArenaSize, false); err == nil {
				return &Client{t: t, arena: arena}, nil
			}
		}
	}
	sys.Stop(self)
	return nil, fmt.Errorf("plasma: connect to the store of %s: %w", node, err)
}

// remoteTransport reaches the store's actor over the bus.
type remoteTransport struct {
	sys   *actor.System
	store *actor.PID
	self  *actor.PID
	cid   uint64
}

func (t *remoteTransport) call(ctx context.Context, msg any) (reply, error) {
	r, err := t.sys.Request(ctx, t.store, msg)
	if err != nil {
		return reply{}, fmt.Errorf("plasma: %w", err)
	}
	rep, ok := r.(reply)
	if !ok {
		return reply{}, fmt.Errorf("plasma: unexpected reply %T", r)
	}
	return rep, rep.Err.err()
}

func (t *remoteTransport) create(ctx context.Context, id ObjectID, size uint64, pin bool) (Location, error) {
	r, err := t.call(ctx, createRequest{Client: t.cid, ID: id, Size: size, Pin: pin})
	return r.Loc, err
}

func (t *remoteTransport) put(ctx context.Context, id ObjectID, data []byte, pin bool) error {
	_, err := t.call(ctx, putRequest{Client: t.cid, ID: id, Data: data, Pin: pin})
	return err
}

func (t *remoteTransport) seal(ctx context.Context, id ObjectID) error {
	_, err := t.call(ctx, sealRequest{Client: t.cid, ID: id})
	return err
}

func (t *remoteTransport) abort(ctx context.Context, id ObjectID) error {
	_, err := t.call(ctx, sealRequest{Client: t.cid, ID: id, Abort: true})
	return err
}

func (t *remoteTransport) get(ctx context.Context, ids []ObjectID, timeout time.Duration) ([]Location, error) {
	r, err := t.call(ctx, getRequest{Client: t.cid, IDs: ids, Timeout: timeout})
	if err == nil && len(r.Locs) != len(ids) {
		return nil, fmt.Errorf("plasma: get: %d locations for %d objects", len(r.Locs), len(ids))
	}
	return r.Locs, err
}

// release is a one-way message: it is ordered after the Get that made the
// hold, and a failure has no one to report to but the store's log.
func (t *remoteTransport) release(id ObjectID) error {
	return t.sys.SendContext(context.Background(), t.store, releaseRequest{Client: t.cid, ID: id})
}

func (t *remoteTransport) remove(ctx context.Context, ids []ObjectID) error {
	_, err := t.call(ctx, deleteRequest{IDs: ids})
	return err
}

func (t *remoteTransport) contains(ctx context.Context, id ObjectID) (bool, error) {
	r, err := t.call(ctx, containsRequest{ID: id})
	return r.Has, err
}

func (t *remoteTransport) pin(ctx context.Context, id ObjectID, pin bool) error {
	_, err := t.call(ctx, pinRequest{ID: id, Pin: pin})
	return err
}

func (t *remoteTransport) stats(ctx context.Context, withObjects bool) (Stats, error) {
	r, err := t.sys.Request(ctx, t.store, statsRequest{Objects: withObjects})
	if err != nil {
		return Stats{}, fmt.Errorf("plasma: %w", err)
	}
	rep, ok := r.(statsReply)
	if !ok {
		return Stats{}, fmt.Errorf("plasma: unexpected reply %T", r)
	}
	return rep.Stats, rep.Err.err()
}

// close stops the client's actor; the store, which watches it, drops the
// client's holds.
func (t *remoteTransport) close(context.Context) error {
	t.sys.Stop(t.self)
	return nil
}
