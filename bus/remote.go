package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/goray-dev/goray/actor"
)

// The Node is the actor system's Remote: these methods carry messages and
// signals from local actors to actors on other nodes.

var _ actor.Remote = (*Node)(nil)

// Send encodes msg into an envelope for target's node. A request (sender
// is a future) is remembered so its reply, or its node's death, completes
// it. The error fails this send only.
func (n *Node) Send(_ context.Context, target, sender *actor.PID, msg any) error {
	err := n.send(target, sender, msg)
	if err != nil {
		n.counters.sendErrors.Add(1)
		n.throttled.logAt(slog.LevelWarn, "send", "bus: send failed", "to", target.String(), "type", fmt.Sprintf("%T", msg), "error", err)
	}
	return err
}

func (n *Node) send(target, sender *actor.PID, msg any) error {
	mt := typeOf(msg)
	if mt == nil {
		return fmt.Errorf("send %T to %v: %w (call bus.Register)", msg, target, ErrUnregisteredType)
	}
	l, err := n.link(target.Node)
	if err != nil {
		return fmt.Errorf("send to %v: %w: %w", target, ErrNotSent, err)
	}
	h := header{kind: kindUser, typ: mt.name, target: n.wireTarget(target)}
	var req uint64
	if f := actor.FutureOf(sender); f != nil {
		req = n.pending.add(f, target.Node)
		h.sender = wirePID{node: n.cfg.Node, req: req}
	} else {
		h.sender = n.wireSender(sender)
	}
	if err := l.append(&h, msg, true); err != nil {
		if req != 0 {
			n.pending.take(req)
		}
		return err
	}
	return nil
}

// checkPeer refuses sends to a node known to be down; a node never seen
// yet is given the benefit of the doubt.
func (n *Node) checkPeer(node string) error {
	if p, seen := n.members.state(node); seen && !p.Alive {
		return &NodeDownError{Node: node, Reason: p.reason}
	}
	return nil
}

// wireTarget is target as an envelope names it: a reply to a remote
// request names the request id.
func (n *Node) wireTarget(target *actor.PID) wirePID {
	if req, ok := requestID(target.ID); ok {
		return wirePID{node: target.Node, req: req}
	}
	return wirePID{node: target.Node, id: target.ID}
}

// wireSender is a sender as an envelope names it; a local actor is
// exported on the way, so the reply can find it.
func (n *Node) wireSender(sender *actor.PID) wirePID {
	if sender == nil {
		return wirePID{}
	}
	if sender.Node == n.cfg.Node {
		sender.Export()
	}
	return n.wireTarget(sender)
}

// Signal sends a control signal to target on another node. Signals to a
// node that is down are answered here: a watch gets Terminated at once.
func (n *Node) Signal(target *actor.PID, sig actor.Signal) {
	switch sig.Kind {
	case actor.SignalWatch:
		w := watchOut{watcher: sig.PID, target: target, since: time.Now()}
		if err := n.checkPeer(target.Node); err != nil {
			n.sys.ApplySignal(sig.PID, actor.Signal{Kind: actor.SignalTerminated, PID: target, Reason: actor.ReasonNodeDown})
			return
		}
		n.members.addWatch(n.members.out, target.Node, w)
	case actor.SignalUnwatch:
		n.members.removeWatch(n.members.out, target.Node, keyOf(watchOut{watcher: sig.PID, target: target}))
	case actor.SignalTerminated:
		// A local actor we told about is gone: its remote watcher's
		// watch ends here.
		n.members.removeWatch(n.members.in, target.Node, keyOf(watchOut{watcher: target, target: sig.PID}))
	}
	h := header{
		kind:   kindSignal,
		target: n.wireTarget(target),
		signal: uint64(sig.Kind),
		reason: uint64(sig.Reason),
	}
	if sig.PID != nil {
		h.pid = n.wireSender(sig.PID)
	}
	if err := n.sendHeader(target.Node, &h); err != nil {
		n.throttled.logAt(slog.LevelWarn, "signal", "bus: signal not sent", "to", target.String(), "error", err)
	}
}

func (n *Node) sendHeader(node string, h *header) error {
	l, err := n.link(node)
	if err != nil {
		return err
	}
	return l.append(h, nil, false)
}

// Undeliverable answers a remote request whose message went to dead
// letters here, so the requester fails at once.
func (n *Node) Undeliverable(target, sender *actor.PID, _ any) {
	n.replyError(sender, CodeDeadLetter, fmt.Sprintf("no actor %v", target))
}

// replyError fails the remote request sender stands for, if it is one.
func (n *Node) replyError(sender *actor.PID, code ErrorCode, text string) {
	if sender == nil {
		return
	}
	req, ok := requestID(sender.ID)
	if !ok {
		return
	}
	h := header{kind: kindError, target: wirePID{node: sender.Node, req: req}, sender: wirePID{node: n.cfg.Node}, code: uint64(code), text: text}
	_ = n.sendHeader(sender.Node, &h)
}

// ErrorCode says why a request failed on the far side.
type ErrorCode uint8

// Error codes of RemoteError.
const (
	CodeDeadLetter  ErrorCode = 1 // no such actor, or it stopped
	CodeUnknownType ErrorCode = 2 // the message's type is not registered there
	CodeMalformed   ErrorCode = 3 // the body could not be decoded there
	CodeTooLarge    ErrorCode = 4 // the body exceeded MaxMessageBytes there
)

// ErrMalformed matches malformed input: RemoteError with CodeMalformed,
// and MalformedError.
var ErrMalformed = errors.New("bus: malformed message")

// ErrTooLarge matches TooLargeError and RemoteError with CodeTooLarge.
var ErrTooLarge = errors.New("bus: message too large")

// RemoteError fails a request that could not be delivered on the far
// side. errors.Is matches it against actor.ErrDeadLetter, ErrUnknownType,
// ErrMalformed or ErrTooLarge according to its code.
type RemoteError struct {
	Node string
	Code ErrorCode
	Text string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("bus: on node %s: %s", e.Node, e.Text)
}

// Is maps the code to the matching sentinel error.
func (e *RemoteError) Is(target error) bool {
	switch e.Code {
	case CodeDeadLetter:
		return target == actor.ErrDeadLetter
	case CodeUnknownType:
		return target == ErrUnknownType
	case CodeMalformed:
		return target == ErrMalformed
	case CodeTooLarge:
		return target == ErrTooLarge
	}
	return false
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }
