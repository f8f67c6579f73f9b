package plasma

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// ActorName is the name of the store's actor on every node.
const ActorName = "plasma"

// maxInlinePut is the largest value a client in another process sends
// with its Put request instead of writing it into the arena itself.
const maxInlinePut = 64 << 10

// The messages of the store's actor. Every request names the client that
// sends it, as Connect numbered it.
type (
	connectRequest struct {
		Client *actor.PID `cbor:"1,keyasint"` // watched: its end releases the client's holds
	}
	connectReply struct {
		Client    uint64     `cbor:"1,keyasint"`
		ArenaPath string     `cbor:"2,keyasint"`
		ArenaSize uint64     `cbor:"3,keyasint"`
		Err       *wireError `cbor:"4,keyasint,omitempty"`
	}
	createRequest struct {
		Client uint64   `cbor:"1,keyasint"`
		ID     ObjectID `cbor:"2,keyasint"`
		Size   uint64   `cbor:"3,keyasint"`
		Pin    bool     `cbor:"4,keyasint,omitempty"`
	}
	putRequest struct {
		Client uint64   `cbor:"1,keyasint"`
		ID     ObjectID `cbor:"2,keyasint"`
		Data   []byte   `cbor:"3,keyasint"`
		Pin    bool     `cbor:"4,keyasint,omitempty"`
	}
	sealRequest struct {
		Client uint64   `cbor:"1,keyasint"`
		ID     ObjectID `cbor:"2,keyasint"`
		Abort  bool     `cbor:"3,keyasint,omitempty"`
	}
	getRequest struct {
		Client  uint64        `cbor:"1,keyasint"`
		IDs     []ObjectID    `cbor:"2,keyasint"`
		Timeout time.Duration `cbor:"3,keyasint"`
	}
	releaseRequest struct {
		Client uint64   `cbor:"1,keyasint"`
		ID     ObjectID `cbor:"2,keyasint"`
	}
	deleteRequest struct {
		IDs []ObjectID `cbor:"1,keyasint"`
	}
	containsRequest struct {
		ID ObjectID `cbor:"1,keyasint"`
	}
	pinRequest struct {
		ID  ObjectID `cbor:"1,keyasint"`
		Pin bool     `cbor:"2,keyasint,omitempty"`
	}
	statsRequest struct {
		Objects bool `cbor:"1,keyasint,omitempty"`
	}
	// reply answers every request but Connect and Stats.
	reply struct {
		Loc  Location   `cbor:"1,keyasint,omitempty"`
		Locs []Location `cbor:"2,keyasint,omitempty"`
		Has  bool       `cbor:"3,keyasint,omitempty"`
		Err  *wireError `cbor:"4,keyasint,omitempty"`
	}
	statsReply struct {
		Stats Stats      `cbor:"1,keyasint"`
		Err   *wireError `cbor:"2,keyasint,omitempty"`
	}
)

func init() {
	bus.Register[connectRequest]("plasma.connect")
	bus.Register[connectReply]("plasma.connected")
	bus.Register[createRequest]("plasma.create")
	bus.Register[putRequest]("plasma.put")
	bus.Register[sealRequest]("plasma.seal")
	bus.Register[getRequest]("plasma.get")
	bus.Register[releaseRequest]("plasma.release")
	bus.Register[deleteRequest]("plasma.delete")
	bus.Register[containsRequest]("plasma.contains")
	bus.Register[pinRequest]("plasma.pin")
	bus.Register[statsRequest]("plasma.stats")
	bus.Register[reply]("plasma.reply")
	bus.Register[statsReply]("plasma.statsReply")
}

// wireError carries a store error to another process, keeping what
// callers match with errors.Is and errors.As.
type wireError struct {
	Code uint8                 `cbor:"1,keyasint"`
	Msg  string                `cbor:"2,keyasint"`
	Full *ObjectStoreFullError `cbor:"3,keyasint,omitempty"`
}

// wireErrors lists the errors that keep their identity across processes;
// the code is the index.
var wireErrors = []error{
	nil, ErrObjectExists, ErrNoObject, ErrNotSealed, ErrSealed, ErrNotHeld, ErrNotCreator,
	ErrClosed, ErrUnknownClient, ErrObjectTooLarge, context.DeadlineExceeded, context.Canceled,
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Msg: err.Error()}
	if full := (*ObjectStoreFullError)(nil); errors.As(err, &full) {
		w.Full = full
		return w
	}
	for i, target := range wireErrors[1:] {
		if errors.Is(err, target) {
			w.Code = uint8(i + 1)
			break
		}
	}
	return w
}

func (w *wireError) err() error {
	switch {
	case w == nil:
		return nil
	case w.Full != nil:
		return w.Full
	case int(w.Code) < len(wireErrors) && w.Code > 0:
		return &remoteError{msg: w.Msg, is: wireErrors[w.Code]}
	}
	return errors.New(w.Msg)
}

// remoteError is a store error that came over the bus.
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }

// Serve starts the store's actor in sys under ActorName, so that clients
// in other processes of the node can Connect over the bus.
func (s *Store) Serve(sys *actor.System) (*actor.PID, error) {
	ctx, cancel := context.WithCancel(s.stopCtx)
	svc := &service{s: s, sys: sys, clients: make(map[string]uint64), ctx: ctx, cancel: cancel}
	pid, err := sys.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return svc }), ActorName)
	if err != nil {
		return nil, fmt.Errorf("plasma: start the store actor: %w", err)
	}
	return pid, nil
}

// service is the store's actor: it serves clients in other processes.
// Requests that may wait (Create, Put, Get) run on a goroutine of their
// own that ends with the request or the store, so one client's wait never
// holds up another's request.
type service struct {
	s       *Store
	sys     *actor.System
	clients map[string]uint64 // client PID -> client id
	ctx     context.Context   // ends when the actor or the store stops
	cancel  context.CancelFunc
	waiting sync.WaitGroup
}

// Receive implements actor.Actor.
func (svc *service) Receive(ctx *actor.Context) {
	s := svc.s
	switch m := ctx.Message().(type) {
	case connectRequest:
		svc.connect(ctx, m)
	case actor.Terminated:
		svc.disconnect(m.PID)
	case createRequest:
		if loc, done, err := s.tryCreate(m.Client, m.ID, m.Size, m.Pin); done {
			ctx.Respond(reply{Loc: loc, Err: toWire(err)})
			return
		}
		svc.async(ctx, func(c context.Context) any {
			loc, err := s.create(c, m.Client, m.ID, m.Size, m.Pin)
			return reply{Loc: loc, Err: toWire(err)}
		})
	case putRequest:
		if loc, done, err := s.tryCreate(m.Client, m.ID, uint64(len(m.Data)), m.Pin); done {
			if err == nil {
				if err = s.copyIn(loc, m.Data); err == nil {
					err = s.seal(m.Client, m.ID)
				}
			}
			ctx.Respond(reply{Err: toWire(err)})
			return
		}
		svc.async(ctx, func(c context.Context) any {
			return reply{Err: toWire(s.put(c, m.Client, m.ID, m.Data, m.Pin))}
		})
	case getRequest:
		if locs, ok := s.tryGet(m.Client, m.IDs); ok {
			ctx.Respond(reply{Locs: locs})
			return
		}
		svc.async(ctx, func(c context.Context) any {
			locs, err := s.get(c, m.Client, m.IDs, m.Timeout)
			return reply{Locs: locs, Err: toWire(err)}
		})
	case sealRequest:
		var err error
		if m.Abort {
			err = s.abort(m.Client, m.ID)
		} else {
			err = s.seal(m.Client, m.ID)
		}
		ctx.Respond(reply{Err: toWire(err)})
	case releaseRequest:
		if err := s.release(m.Client, m.ID); err != nil {
			ctx.Logger().Warn("plasma: release from a client failed", "client", m.Client, "err", err)
		}
	case deleteRequest:
		s.remove(m.IDs)
		ctx.Respond(reply{})
	case containsRequest:
		ctx.Respond(reply{Has: s.contains(m.ID)})
	case pinRequest:
		ctx.Respond(reply{Err: toWire(s.setPinned(m.ID, m.Pin))})
	case statsRequest:
		ctx.Respond(statsReply{Stats: s.stats(m.Objects)})
	case actor.Stopping:
		// Waiting requests end now; their callers get ErrClosed.
		svc.cancel()
		svc.waiting.Wait()
		for _, cid := range svc.clients {
			s.disconnect(cid)
		}
	}
}

func (svc *service) connect(ctx *actor.Context, m connectRequest) {
	if m.Client == nil {
		ctx.Respond(connectReply{Err: toWire(fmt.Errorf("%w: connect without a client PID", ErrUnknownClient))})
		return
	}
	if cid, ok := svc.clients[m.Client.String()]; ok {
		ctx.Respond(connectReply{Client: cid, ArenaPath: svc.s.arena.Path(), ArenaSize: svc.s.arena.Size()})
		return
	}
	cid, err := svc.s.connect()
	if err != nil {
		ctx.Respond(connectReply{Err: toWire(err)})
		return
	}
	svc.clients[m.Client.String()] = cid
	ctx.Watch(m.Client)
	ctx.Respond(connectReply{Client: cid, ArenaPath: svc.s.arena.Path(), ArenaSize: svc.s.arena.Size()})
}

func (svc *service) disconnect(pid *actor.PID) {
	key := pid.String()
	if cid, ok := svc.clients[key]; ok {
		delete(svc.clients, key)
		svc.s.disconnect(cid)
	}
}

// async runs a request that may wait and replies when it is done.
func (svc *service) async(ctx *actor.Context, do func(context.Context) any) {
	sender := ctx.Sender()
	svc.waiting.Add(1)
	go func() {
		defer svc.waiting.Done()
		r := do(svc.ctx)
		if sender != nil {
			svc.sys.Send(sender, r)
		}
	}()
}
