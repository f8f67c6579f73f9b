package plasma

import (
	"context"
	"errors"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// ActorName is the name of the store's actor on every node.
const ActorName = "plasma"

// maxInlinePut is the largest value a client in another process sends
// with its Put request instead of writing it into the arena itself.
const maxInlinePut = 64 << 10

// maxListedObjects bounds the object list of a Stats reply over the bus,
// and maxGetIDs the ids of one Get request, so that a reply stays well
// under the bus's message limit.
const (
	maxListedObjects = 4096
	maxGetIDs        = 4096
)

// The messages of the store's actor. Every request of a client names it
// by the number and key Connect gave it; the key, random, keeps one
// client's mistakes (or another process's) from acting for another.
// Requests that may wait carry a number of the client's own (Req) and the
// client's deadline, and the client cancels them (cancelRequest) when it
// stops waiting, so the store undoes what it did for nobody.
type (
	connectRequest struct {
		Client *actor.PID `cbor:"1,keyasint"` // watched: its end releases the client's holds
	}
	connectReply struct {
		Client    uint64     `cbor:"1,keyasint"`
		Key       uint64     `cbor:"5,keyasint"`
		ArenaPath string     `cbor:"2,keyasint"`
		ArenaSize uint64     `cbor:"3,keyasint"`
		Err       *wireError `cbor:"4,keyasint,omitempty"`
	}
	createRequest struct {
		Client   uint64   `cbor:"1,keyasint"`
		ID       ObjectID `cbor:"2,keyasint"`
		Size     uint64   `cbor:"3,keyasint"`
		Pin      bool     `cbor:"4,keyasint,omitempty"`
		Key      uint64   `cbor:"5,keyasint"`
		Req      uint64   `cbor:"6,keyasint"`
		Deadline int64    `cbor:"7,keyasint,omitempty"` // Unix nanoseconds; 0: none
	}
	putRequest struct {
		Client   uint64   `cbor:"1,keyasint"`
		ID       ObjectID `cbor:"2,keyasint"`
		Data     []byte   `cbor:"3,keyasint"`
		Pin      bool     `cbor:"4,keyasint,omitempty"`
		Key      uint64   `cbor:"5,keyasint"`
		Req      uint64   `cbor:"6,keyasint"`
		Deadline int64    `cbor:"7,keyasint,omitempty"`
	}
	sealRequest struct {
		Client uint64   `cbor:"1,keyasint"`
		ID     ObjectID `cbor:"2,keyasint"`
		Abort  bool     `cbor:"3,keyasint,omitempty"`
		Key    uint64   `cbor:"5,keyasint"`
	}
	getRequest struct {
		Client   uint64        `cbor:"1,keyasint"`
		IDs      []ObjectID    `cbor:"2,keyasint"`
		Timeout  time.Duration `cbor:"3,keyasint"`
		Key      uint64        `cbor:"5,keyasint"`
		Req      uint64        `cbor:"6,keyasint"`
		Deadline int64         `cbor:"7,keyasint,omitempty"`
	}
	releaseRequest struct {
		Client uint64   `cbor:"1,keyasint"`
		ID     ObjectID `cbor:"2,keyasint"`
		Key    uint64   `cbor:"5,keyasint"`
	}
	cancelRequest struct {
		Client uint64 `cbor:"1,keyasint"`
		Key    uint64 `cbor:"5,keyasint"`
		Req    uint64 `cbor:"6,keyasint"`
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
	bus.Register[cancelRequest]("plasma.cancel")
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
	nil, ErrObjectExists, ErrNoObject, ErrSealed, ErrNotHeld, ErrNotCreator,
	ErrClosed, ErrUnknownClient, ErrObjectTooLarge, context.DeadlineExceeded, context.Canceled,
	ErrSpillCorrupt,
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
