package plasma

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goray-dev/goray/actor"
)

// Serve starts the store's actor in sys under ActorName, so that clients
// in other processes of the node can Connect over the bus.
func (s *Store) Serve(sys *actor.System) (*actor.PID, error) {
	ctx, cancel := context.WithCancel(s.stopCtx)
	svc := &service{
		s: s, sys: sys, ctx: ctx, cancel: cancel,
		clients: make(map[uint64]*remoteClient), byPID: make(map[string][]uint64),
		inflight: make(map[reqKey]*asyncReq), recent: make(map[reqKey]func()),
	}
	pid, err := sys.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return svc }), ActorName)
	if err != nil {
		return nil, fmt.Errorf("plasma: start the store actor: %w", err)
	}
	return pid, nil
}

// service is the store's actor: it serves clients in other processes.
// Requests that need not wait are answered at once; those that must
// (Create, Put, Get) run on a goroutine of their own that ends with the
// request, its client's deadline or the store, so one client's wait never
// holds up another's request.
type service struct {
	s      *Store
	sys    *actor.System
	ctx    context.Context // ends when the actor or the store stops
	cancel context.CancelFunc

	clients map[uint64]*remoteClient
	byPID   map[string][]uint64 // client actor -> its client numbers

	mu       sync.Mutex // guards inflight and recent, which goroutines of async requests use
	inflight map[reqKey]*asyncReq
	recent   map[reqKey]func() // undo of requests answered lately, for a cancel that crosses the answer
	order    []reqKey          // recent, oldest first
	waiting  sync.WaitGroup
}

type remoteClient struct {
	key uint64
	pid *actor.PID
}

// reqKey names a request that may wait: the client and its own number.
type reqKey struct{ client, req uint64 }

type asyncReq struct {
	cancel   context.CancelFunc
	canceled bool
}

// recentAnswers is how many answered requests the service remembers, to
// undo one whose client gave up while the answer was on its way.
const recentAnswers = 1024

// Receive implements actor.Actor.
func (svc *service) Receive(ctx *actor.Context) {
	s := svc.s
	switch m := ctx.Message().(type) {
	case connectRequest:
		svc.connect(ctx, m)
	case actor.Terminated:
		svc.disconnect(m.PID)
	case createRequest:
		if !svc.auth(ctx, m.Client, m.Key) {
			return
		}
		svc.run(ctx, reqKey{m.Client, m.Req}, m.Deadline, func(c context.Context, wait bool) (reply, func(), error) {
			loc, err := s.create(c, m.Client, m.ID, m.Size, m.Pin, wait)
			return reply{Loc: loc}, func() { _ = s.abort(m.Client, m.ID) }, err
		})
	case putRequest:
		if !svc.auth(ctx, m.Client, m.Key) {
			return
		}
		svc.run(ctx, reqKey{m.Client, m.Req}, m.Deadline, func(c context.Context, wait bool) (reply, func(), error) {
			err := s.put(c, m.Client, m.ID, m.Data, m.Pin, wait)
			return reply{}, func() { _ = s.remove([]ObjectID{m.ID}) }, err
		})
	case getRequest:
		if !svc.auth(ctx, m.Client, m.Key) {
			return
		}
		if len(m.IDs) > maxGetIDs {
			ctx.Respond(reply{Err: toWire(fmt.Errorf("plasma: a get of %d objects; at most %d per request", len(m.IDs), maxGetIDs))})
			return
		}
		svc.run(ctx, reqKey{m.Client, m.Req}, m.Deadline, func(c context.Context, wait bool) (reply, func(), error) {
			locs, err := s.get(c, m.Client, m.IDs, m.Timeout, wait)
			return reply{Locs: locs}, func() { s.unhold(m.Client, m.IDs, locs) }, err
		})
	case cancelRequest:
		if svc.auth(ctx, m.Client, m.Key) {
			svc.cancelRequest(reqKey{m.Client, m.Req})
		}
	case sealRequest:
		if !svc.auth(ctx, m.Client, m.Key) {
			return
		}
		var err error
		if m.Abort {
			err = s.abort(m.Client, m.ID)
		} else {
			err = s.seal(m.Client, m.ID)
		}
		ctx.Respond(reply{Err: toWire(err)})
	case releaseRequest:
		if !svc.auth(ctx, m.Client, m.Key) {
			return
		}
		if err := s.release(m.Client, m.ID); err != nil {
			ctx.Logger().Warn("plasma: release from a client failed", "client", m.Client, "err", err)
		}
	case deleteRequest:
		ctx.Respond(reply{Err: toWire(s.remove(m.IDs))})
	case containsRequest:
		has, err := s.contains(m.ID)
		ctx.Respond(reply{Has: has, Err: toWire(err)})
	case pinRequest:
		ctx.Respond(reply{Err: toWire(s.setPinned(m.ID, m.Pin))})
	case statsRequest:
		limit := 0
		if m.Objects {
			limit = maxListedObjects
		}
		st, err := s.stats(limit)
		ctx.Respond(statsReply{Stats: st, Err: toWire(err)})
	case actor.Stopping:
		// Waiting requests end now; their callers get ErrClosed.
		svc.cancel()
		svc.waiting.Wait()
		for cid := range svc.clients {
			s.disconnect(cid)
		}
	}
}

// auth checks a request's client number and key, and answers a request
// that fails the check.
func (svc *service) auth(ctx *actor.Context, cid, key uint64) bool {
	if c := svc.clients[cid]; c != nil && c.key == key {
		return true
	}
	ctx.Logger().Warn("plasma: request from an unknown client, or with a wrong key", "client", cid, "from", ctx.Sender())
	if ctx.Sender() != nil {
		ctx.Respond(reply{Err: toWire(ErrUnknownClient)})
	}
	return false
}

// connect gives a client actor a new client number and key; the store
// watches the actor and drops its clients when it stops.
func (svc *service) connect(ctx *actor.Context, m connectRequest) {
	if m.Client == nil {
		ctx.Respond(connectReply{Err: toWire(fmt.Errorf("%w: connect without a client PID", ErrUnknownClient))})
		return
	}
	cid, err := svc.s.connect()
	if err != nil {
		ctx.Respond(connectReply{Err: toWire(err)})
		return
	}
	var key [8]byte
	_, _ = rand.Read(key[:])
	c := &remoteClient{key: binary.LittleEndian.Uint64(key[:]), pid: m.Client}
	svc.clients[cid] = c
	pid := m.Client.String()
	if len(svc.byPID[pid]) == 0 {
		ctx.Watch(m.Client)
	}
	svc.byPID[pid] = append(svc.byPID[pid], cid)
	ctx.Respond(connectReply{Client: cid, Key: c.key, ArenaPath: svc.s.arena.Path(), ArenaSize: svc.s.arena.Size()})
}

func (svc *service) disconnect(pid *actor.PID) {
	key := pid.String()
	for _, cid := range svc.byPID[key] {
		delete(svc.clients, cid)
		svc.s.disconnect(cid)
	}
	delete(svc.byPID, key)
}

// run answers a request that may wait: at once if it need not, else from
// a goroutine bounded by the client's deadline. Until its answer has been
// remembered, a cancel from the client undoes what it did.
func (svc *service) run(ctx *actor.Context, key reqKey, deadline int64, do func(context.Context, bool) (reply, func(), error)) {
	sender := ctx.Sender()
	r, undo, err := do(svc.ctx, false)
	if !errors.Is(err, errWouldBlock) {
		if err == nil {
			svc.remember(key, undo)
		}
		r.Err = toWire(err)
		ctx.Respond(r)
		return
	}
	c, cancel := svc.ctx, context.CancelFunc(func() {})
	if deadline != 0 {
		c, cancel = context.WithDeadline(svc.ctx, time.Unix(0, deadline))
	}
	a := &asyncReq{cancel: cancel}
	svc.mu.Lock()
	svc.inflight[key] = a
	svc.mu.Unlock()
	svc.waiting.Add(1)
	go func() {
		defer svc.waiting.Done()
		defer cancel()
		r, undo, err := do(c, true)
		if err != nil && svc.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: the store's actor stopped", ErrClosed)
		}
		svc.mu.Lock()
		delete(svc.inflight, key)
		canceled := a.canceled
		if !canceled && err == nil {
			svc.rememberLocked(key, undo)
		}
		svc.mu.Unlock()
		if canceled {
			if err == nil {
				undo()
			}
			return
		}
		r.Err = toWire(err)
		if sender != nil {
			svc.sys.Send(sender, r)
		}
	}()
}

// cancelRequest ends a request whose client stopped waiting for it, or
// undoes it if it was already answered.
func (svc *service) cancelRequest(key reqKey) {
	svc.mu.Lock()
	if a := svc.inflight[key]; a != nil {
		a.canceled = true
		a.cancel()
		svc.mu.Unlock()
		return
	}
	undo := svc.recent[key]
	delete(svc.recent, key)
	svc.mu.Unlock()
	if undo != nil {
		undo()
	}
}

func (svc *service) remember(key reqKey, undo func()) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	svc.rememberLocked(key, undo)
}

func (svc *service) rememberLocked(key reqKey, undo func()) {
	if len(svc.order) == recentAnswers {
		delete(svc.recent, svc.order[0])
		svc.order = svc.order[1:]
	}
	svc.recent[key] = undo
	svc.order = append(svc.order, key)
}
