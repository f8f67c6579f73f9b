package plasma

import (
	"context"
	"fmt"
	"sync/atomic"
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
			t.cid, t.key = rep.Client, rep.Key
			var arena *Arena
			if arena, err = OpenArena(rep.ArenaPath, rep.ArenaSize); err == nil {
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
	key   uint64
	req   atomic.Uint64 // numbers the requests that may wait
}

func (t *remoteTransport) call(ctx context.Context, msg any) (reply, error) {
	r, err := t.sys.Request(ctx, t.store, msg)
	if err != nil {
		return reply{}, fmt.Errorf("plasma: %w", err)
	}
	return t.unpack(r)
}

// callWaiting sends a request that may wait in the store, numbered req;
// if this side stops waiting first, the store is told to cancel it, so
// that it undoes what it did for nobody.
func (t *remoteTransport) callWaiting(ctx context.Context, req uint64, msg any) (reply, error) {
	r, err := t.sys.Request(ctx, t.store, msg)
	if err != nil {
		if ctx.Err() != nil {
			_ = t.sys.SendContext(context.Background(), t.store, cancelRequest{Client: t.cid, Key: t.key, Req: req})
		}
		return reply{}, fmt.Errorf("plasma: %w", err)
	}
	return t.unpack(r)
}

// waiting numbers a request that may wait and reads ctx's deadline.
func (t *remoteTransport) waiting(ctx context.Context) (req uint64, deadline int64) {
	if d, ok := ctx.Deadline(); ok {
		deadline = d.UnixNano()
	}
	return t.req.Add(1), deadline
}

func (t *remoteTransport) unpack(r any) (reply, error) {
	rep, ok := r.(reply)
	if !ok {
		return reply{}, fmt.Errorf("plasma: unexpected reply %T", r)
	}
	return rep, rep.Err.err()
}

func (t *remoteTransport) create(ctx context.Context, id ObjectID, size uint64, pin bool) (Location, error) {
	req, deadline := t.waiting(ctx)
	r, err := t.callWaiting(ctx, req, createRequest{Client: t.cid, Key: t.key, Req: req, Deadline: deadline, ID: id, Size: size, Pin: pin})
	return r.Loc, err
}

func (t *remoteTransport) put(ctx context.Context, id ObjectID, data []byte, pin bool) error {
	req, deadline := t.waiting(ctx)
	_, err := t.callWaiting(ctx, req, putRequest{Client: t.cid, Key: t.key, Req: req, Deadline: deadline, ID: id, Data: data, Pin: pin})
	return err
}

func (t *remoteTransport) seal(ctx context.Context, id ObjectID) error {
	_, err := t.call(ctx, sealRequest{Client: t.cid, Key: t.key, ID: id})
	return err
}

func (t *remoteTransport) abort(ctx context.Context, id ObjectID) error {
	_, err := t.call(ctx, sealRequest{Client: t.cid, Key: t.key, ID: id, Abort: true})
	return err
}

// get asks for at most maxGetIDs objects per request, so that no reply
// outgrows the bus's message limit; later chunks wait only for what is
// left of the timeout.
func (t *remoteTransport) get(ctx context.Context, ids []ObjectID, timeout time.Duration) ([]Location, error) {
	var end time.Time
	if timeout > 0 {
		end = time.Now().Add(timeout)
	}
	locs := make([]Location, 0, len(ids))
	all := ids
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxGetIDs)]
		ids = ids[len(chunk):]
		left := timeout
		if timeout > 0 {
			left = max(time.Until(end), 0)
		}
		req, deadline := t.waiting(ctx)
		r, err := t.callWaiting(ctx, req, getRequest{Client: t.cid, Key: t.key, Req: req, Deadline: deadline, IDs: chunk, Timeout: left})
		if err == nil && len(r.Locs) != len(chunk) {
			err = fmt.Errorf("plasma: get: %d locations for %d objects", len(r.Locs), len(chunk))
		}
		if err != nil {
			for i, loc := range locs {
				if loc.Found {
					_ = t.release(all[i])
				}
			}
			return nil, err
		}
		locs = append(locs, r.Locs...)
	}
	return locs, nil
}

// release is a one-way message: it is ordered after the Get that made the
// hold, and a failure has no one to report to but the store's log.
func (t *remoteTransport) release(id ObjectID) error {
	return t.sys.SendContext(context.Background(), t.store, releaseRequest{Client: t.cid, Key: t.key, ID: id})
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
