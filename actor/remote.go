package actor

import (
	"context"
	"errors"
	"strings"
)

// Remote carries messages to actors on other nodes. A transport (the bus)
// implements it and installs it with System.SetRemote; this package knows
// nothing of how messages travel.
//
// A PID whose Node differs from the system's own node and that carries no
// local actor is remote: Send, Request, Watch, Unwatch, Stop and Poison to
// it go through Remote.
type Remote interface {
	// Send delivers a user message to target on another node. sender is
	// nil, a local actor's PID, or a request's future (see FutureOf). An
	// error fails that one send; a request whose send fails fails with it.
	Send(ctx context.Context, target, sender *PID, msg any) error
	// Signal delivers a control signal to target on another node.
	Signal(target *PID, sig Signal)
	// Undeliverable is told of a message that reached dead letters here
	// although its sender is on another node, so that a remote request
	// fails at once instead of waiting out its deadline.
	Undeliverable(target, sender *PID, msg any)
}

// SignalKind names a control signal between nodes.
type SignalKind uint8

const (
	// SignalWatch asks the target to tell Signal.PID when it terminates.
	SignalWatch SignalKind = iota + 1
	// SignalUnwatch cancels a SignalWatch from Signal.PID.
	SignalUnwatch
	// SignalStop stops the target after its current message.
	SignalStop
	// SignalPoison stops the target after the messages queued before it.
	SignalPoison
	// SignalTerminated tells the target (a watcher) that Signal.PID is gone
	// for Signal.Reason.
	SignalTerminated
)

// Signal is a control message between nodes: watching, stopping and the
// news of an actor's end. The actor package turns them into its own system
// messages, which never leave the process.
type Signal struct {
	Kind   SignalKind
	PID    *PID              // the watcher (Watch, Unwatch) or the terminated actor
	Reason TerminationReason // for SignalTerminated
}

// remoteHolder lets SetRemote swap the transport atomically.
type remoteHolder struct{ r Remote }

// SetRemote installs the transport for PIDs of other nodes (nil removes
// it). Without one, messages to other nodes go to dead letters.
func (s *System) SetRemote(r Remote) {
	if r == nil {
		s.remote.Store(nil)
		return
	}
	s.remote.Store(&remoteHolder{r: r})
}

// remoteFor returns the transport for pid when pid is on another node.
func (s *System) remoteFor(pid *PID) Remote {
	if pid == nil || pid.proc != nil || pid.Node == s.node {
		return nil
	}
	if h := s.remote.Load(); h != nil {
		return h.r
	}
	return nil
}

// remoteProcess is a PID on another node, seen as a process.
type remoteProcess struct {
	r   Remote
	pid *PID
}

func (p remoteProcess) sendUser(ctx context.Context, sender *PID, msg any) error {
	if _, ok := msg.(poison); ok {
		p.r.Signal(p.pid, Signal{Kind: SignalPoison})
		return nil
	}
	return p.r.Send(ctx, p.pid, sender, msg)
}

func (p remoteProcess) sendSystem(msg any) {
	switch m := msg.(type) {
	case *sysWatch:
		p.r.Signal(p.pid, Signal{Kind: SignalWatch, PID: m.watcher})
	case *sysUnwatch:
		p.r.Signal(p.pid, Signal{Kind: SignalUnwatch, PID: m.watcher})
	case *sysStop:
		p.r.Signal(p.pid, Signal{Kind: SignalStop})
	case *sysTerminated:
		p.r.Signal(p.pid, Signal{Kind: SignalTerminated, PID: m.pid, Reason: m.reason})
	}
	// Failures and restarts stay within a node: a supervisor is always on
	// its child's node.
}

// Deliver sends msg to target with the given sender, for a transport
// handing over a message that arrived from another node. It behaves like
// Send otherwise.
func (s *System) Deliver(ctx context.Context, target, sender *PID, msg any) error {
	return s.sendUser(ctx, target, sender, msg)
}

// ApplySignal applies a control signal that arrived from another node to
// the local actor target.
func (s *System) ApplySignal(target *PID, sig Signal) {
	proc := s.resolve(target)
	switch sig.Kind {
	case SignalWatch:
		proc.sendSystem(&sysWatch{watcher: sig.PID})
	case SignalUnwatch:
		proc.sendSystem(&sysUnwatch{watcher: sig.PID})
	case SignalStop:
		proc.sendSystem(stopNormal)
	case SignalPoison:
		_ = proc.sendUser(context.Background(), nil, poison{})
	case SignalTerminated:
		proc.sendSystem(&sysTerminated{pid: sig.PID, reason: sig.Reason})
	}
}

// DeadLetter hands msg to dead letters as undeliverable to target: it is
// counted, logged and published, and a request it belonged to fails.
// Transports use it for messages that arrived but cannot be delivered.
func (s *System) DeadLetter(target *PID, msg any, sender *PID) {
	s.deadLetter(target, msg, sender)
}

// FutureOf returns the future behind a request's sender PID, or nil when
// pid is not a local future's. A transport uses it to route the reply to a
// request that crosses nodes.
func FutureOf(pid *PID) *Future {
	if pid == nil {
		return nil
	}
	f, _ := pid.proc.(*Future)
	return f
}

// Alive reports whether p names a local actor that has not stopped. It
// is false for PIDs of other nodes and for PIDs that carry no actor.
func (p *PID) Alive() bool {
	a, ok := p.proc.(*actorProcess)
	return ok && !a.dead.Load()
}

// Export makes a local actor reachable by its id from other nodes for as
// long as it lives. Named actors always are; an unnamed actor is entered
// in the registry the first time its PID leaves the process, so that local
// actors cost nothing until then. Export is idempotent and cheap once
// done; it does nothing for other PIDs.
func (p *PID) Export() {
	if a, ok := p.proc.(*actorProcess); ok && !a.named && !a.exported.Load() {
		a.export()
	}
}

func (p *actorProcess) export() {
	if p.exported.Swap(true) {
		return
	}
	reg := p.ctx.sys.registry
	reg.add(p.ctx.self.ID, p)
	// finishStop removes exported actors after setting dead; whichever of
	// the two comes second sees the other's flag, so no stale entry stays.
	if p.dead.Load() {
		reg.removeIf(p.ctx.self.ID, p)
	}
}

// MarshalBinary encodes the PID as its node and id, so PIDs can travel
// inside messages. A local actor's PID is exported (see Export) on the way.
func (p *PID) MarshalBinary() ([]byte, error) {
	p.Export()
	b := make([]byte, 0, len(p.Node)+1+len(p.ID))
	b = append(b, p.Node...)
	b = append(b, 0)
	return append(b, p.ID...), nil
}

// ErrMalformedPID is returned by UnmarshalBinary for bytes that are not
// an encoded PID.
var ErrMalformedPID = errors.New("actor: malformed PID")

// UnmarshalBinary decodes a PID encoded by MarshalBinary. The PID carries
// no local actor: sending to it resolves its node and id.
func (p *PID) UnmarshalBinary(b []byte) error {
	node, id, ok := strings.Cut(string(b), "\x00")
	if !ok || id == "" {
		return ErrMalformedPID
	}
	*p = PID{Node: node, ID: id}
	return nil
}
