package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/goray-dev/goray/actor"
)

// Kind makes the Props of an actor kind that other nodes may spawn here.
type Kind func() *actor.Props

// kinds is the registry of actor kinds, filled at init time.
var kinds struct {
	mu sync.RWMutex
	m  map[string]Kind
}

// RegisterKind makes an actor kind spawnable by name from other nodes
// (SpawnOn). Every node that may host it registers the same name, usually
// in an init function, since Go code cannot be shipped between processes.
// Registering a name twice panics.
func RegisterKind(name string, kind Kind) {
	if name == "" || kind == nil {
		panic("bus: RegisterKind: empty name or nil kind")
	}
	kinds.mu.Lock()
	defer kinds.mu.Unlock()
	if kinds.m == nil {
		kinds.m = make(map[string]Kind)
	}
	if _, ok := kinds.m[name]; ok {
		panic(fmt.Sprintf("bus: RegisterKind: kind %q is already registered", name))
	}
	kinds.m[name] = kind
}

func kindNamed(name string) Kind {
	kinds.mu.RLock()
	defer kinds.mu.RUnlock()
	return kinds.m[name]
}

// ErrUnknownKind fails SpawnOn when the kind is not registered on the
// target node.
var ErrUnknownKind = errors.New("bus: unknown actor kind")

// spawnerName is the id of the actor that serves remote spawns on every
// node.
const spawnerName = "bus.spawner"

// spawnRequest asks a node's spawner to start an actor of a kind.
type spawnRequest struct {
	Kind string `cbor:"1,keyasint"`
	Name string `cbor:"2,keyasint,omitempty"`
}

// spawnReply carries the new actor's PID, or why there is none.
type spawnReply struct {
	PID  *actor.PID `cbor:"1,keyasint,omitempty"`
	Code uint8      `cbor:"2,keyasint,omitempty"`
	Err  string     `cbor:"3,keyasint,omitempty"`
}

const (
	spawnUnknownKind = 1
	spawnNameTaken   = 2
	spawnFailed      = 3
)

func init() {
	Register[*spawnRequest]("goray.bus.spawn")
	Register[*spawnReply]("goray.bus.spawned")
}

// spawnService starts the node's spawner actor and returns its PID.
func spawnService(n *Node) *actor.PID {
	props := actor.PropsFromFunc(func(c *actor.Context) {
		if req, ok := c.Message().(*spawnRequest); ok {
			c.Respond(spawnLocal(n.sys, req))
		}
	})
	pid, err := n.sys.SpawnNamed(props, spawnerName)
	if err != nil {
		n.log.Error("bus: spawner not started; this node cannot host remote spawns", "error", err)
	}
	return pid
}

func spawnLocal(sys *actor.System, req *spawnRequest) *spawnReply {
	kind := kindNamed(req.Kind)
	if kind == nil {
		return &spawnReply{Code: spawnUnknownKind, Err: fmt.Sprintf("kind %q is not registered on node %s", req.Kind, sys.Node())}
	}
	if req.Name == "" {
		pid := sys.Spawn(kind())
		pid.Export()
		return &spawnReply{PID: pid}
	}
	pid, err := sys.SpawnNamed(kind(), req.Name)
	switch {
	case errors.Is(err, actor.ErrNameTaken):
		return &spawnReply{Code: spawnNameTaken, Err: err.Error()}
	case err != nil:
		return &spawnReply{Code: spawnFailed, Err: err.Error()}
	}
	return &spawnReply{PID: pid}
}

// SpawnOption configures SpawnOn.
type SpawnOption func(*spawnRequest)

// WithName spawns the actor under a name, unique on its node, so that it
// can be found by PID{Node, Name}.
func WithName(name string) SpawnOption { return func(r *spawnRequest) { r.Name = name } }

// SpawnOn starts an actor of a registered kind on the named node, as a
// top-level actor there (its supervisor is that node's root guardian), and
// returns its PID. It fails with ErrUnknownKind, actor.ErrNameTaken, a
// NodeDownError, or ctx's error. A kind spawned on this node itself is
// started directly.
func (n *Node) SpawnOn(ctx context.Context, node, kind string, opts ...SpawnOption) (*actor.PID, error) {
	req := &spawnRequest{Kind: kind}
	for _, o := range opts {
		o(req)
	}
	var reply *spawnReply
	if node == n.cfg.Node {
		reply = spawnLocal(n.sys, req)
	} else {
		res, err := n.sys.Request(ctx, &actor.PID{Node: node, ID: spawnerName}, req)
		if err != nil {
			return nil, fmt.Errorf("bus: spawn %s on %s: %w", kind, node, err)
		}
		var ok bool
		if reply, ok = res.(*spawnReply); !ok {
			return nil, fmt.Errorf("bus: spawn %s on %s: unexpected reply %T", kind, node, res)
		}
	}
	switch reply.Code {
	case 0:
		if reply.PID == nil {
			return nil, fmt.Errorf("bus: spawn %s on %s: reply without a PID", kind, node)
		}
		return reply.PID, nil
	case spawnUnknownKind:
		return nil, fmt.Errorf("bus: spawn on %s: %w: %s", node, ErrUnknownKind, reply.Err)
	case spawnNameTaken:
		return nil, fmt.Errorf("bus: spawn on %s: %w: %s", node, actor.ErrNameTaken, reply.Err)
	}
	return nil, fmt.Errorf("bus: spawn %s on %s: %s", kind, node, reply.Err)
}
