package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"unsafe"

	"github.com/nats-io/nats.go"

	"github.com/goray-dev/goray/actor"
)

// Undecodable is what goes to dead letters in place of an incoming
// message that could not be decoded: its type name (if it had one), why,
// and how many bytes it had. The bytes themselves are not kept.
type Undecodable struct {
	Type string
	Size int
	Err  error
}

// noWait is a context that is already done: a message from another node
// that meets a full bounded mailbox is dropped to dead letters instead of
// stalling the node's whole inbox.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// senderCache reuses the PIDs of remote senders, by node and id, so that a
// busy sender does not cost an allocation per message. It is bounded: it
// starts over when it holds maxCachedSenders PIDs.
type senderCache struct {
	byNode map[string]map[string]*actor.PID
	size   int
}

const maxCachedSenders = 4096

func (c *senderCache) get(node, id []byte) *actor.PID {
	m := c.byNode[string(node)]
	if pid := m[string(id)]; pid != nil {
		return pid
	}
	if c.byNode == nil || c.size >= maxCachedSenders {
		c.byNode, c.size, m = make(map[string]map[string]*actor.PID), 0, nil
	}
	if m == nil {
		m = make(map[string]*actor.PID)
		c.byNode[string(node)] = m
	}
	pid := &actor.PID{Node: string(node), ID: string(id)}
	m[pid.ID] = pid
	c.size++
	return pid
}

// onInbox decodes and delivers one batch of envelopes. NATS calls it on
// one goroutine, in order, which keeps the order of every sender–receiver
// pair. Delivering from here costs no hand-off: a reply completes its
// future at once, and an actor is scheduled on the system's workers.
//
// The batch is acknowledged before it is handled: it is in this process
// now, off NATS's buffers, and a delivery that blocks (a send of the inbox
// itself waiting on a busy link) must not keep the sender from hearing it.
func (n *Node) onInbox(m *nats.Msg) {
	if offset, ok := trailingFlowMark(m.Data); ok {
		n.acknowledge(m.Reply, offset)
	}
	n.handleBatch(m.Data)
}

// trailingFlowMark finds the flow envelope a batch ends with: a map of two
// pairs, kind 4 and the offset, the last item of the batch.
func trailingFlowMark(b []byte) (uint64, bool) {
	for _, size := range []int{1, 2, 3, 5, 9} { // the offset's encoded sizes
		start := len(b) - 4 - size
		if start < 0 {
			break
		}
		if b[start] != majorMap|2 || b[start+1] != keyKind || b[start+2] != kindFlow || b[start+3] != keyFlowOffset {
			continue
		}
		r := reader{b: b[start+4:]}
		if v, err := r.uint(); err == nil && r.done() {
			return v, true
		}
	}
	return 0, false
}

// handleBatch decodes and delivers a batch of envelopes.
func (n *Node) handleBatch(data []byte) {
	r := reader{b: data}
	var e inEnvelope
	for !r.done() {
		if err := decodeEnvelope(&r, &e); err != nil {
			// Nothing after a malformed envelope can be trusted to start
			// where it seems to: the rest of the batch is dropped with it.
			n.counters.malformed.Add(1)
			n.throttled.logAt(slog.LevelWarn, "malformed", "bus: malformed envelope dropped", "bytes", len(data), "error", err)
			n.sys.DeadLetter(nil, Undecodable{Size: len(data) - r.off, Err: err}, nil)
			return
		}
		if e.kind == kindFlow {
			continue // acknowledged before handling
		}
		n.counters.received.Add(1)
		n.handle(&e)
	}
}

func (n *Node) handle(e *inEnvelope) {
	if len(e.targetNode) > 0 && string(e.targetNode) != n.cfg.Node {
		n.reject(e, &n.counters.undeliver, CodeDeadLetter, fmt.Errorf("envelope for node %q arrived at %q", e.targetNode, n.cfg.Node))
		return
	}
	switch e.kind {
	case kindUser:
		n.handleUser(e)
	case kindSignal:
		n.handleSignal(e)
	case kindError:
		if f := n.pending.take(e.targetReq); f != nil {
			f.Fail(&RemoteError{Node: string(e.senderNode), Code: ErrorCode(e.code), Text: string(e.text)})
		}
	default:
		n.reject(e, &n.counters.malformed, CodeMalformed, fmt.Errorf("unknown envelope kind %d", e.kind))
	}
}

func (n *Node) handleUser(e *inEnvelope) {
	if len(e.body) > n.cfg.MaxMessageBytes {
		n.reject(e, &n.counters.oversized, CodeTooLarge, &TooLargeError{Size: len(e.body), Limit: n.cfg.MaxMessageBytes})
		return
	}
	mt := n.recent.typeOf(e.typ)
	if mt == nil {
		n.reject(e, &n.counters.unknownType, CodeUnknownType, fmt.Errorf("%w %q", ErrUnknownType, e.typ))
		return
	}
	if !e.hasBody {
		n.reject(e, &n.counters.malformed, CodeMalformed, fmt.Errorf("%s message without a body", mt.name))
		return
	}
	msg, err := decodeBody(mt, e.body)
	if err != nil {
		n.reject(e, &n.counters.malformed, CodeMalformed, fmt.Errorf("decode %s: %w", mt.name, err))
		return
	}
	sender := n.senderPID(e)
	if e.targetReq != 0 {
		if f := n.pending.take(e.targetReq); f != nil {
			_ = n.sys.Deliver(noWait, f.PID(), sender, msg)
		}
		return
	}
	target := n.recent.target(n, e.targetID)
	if target == nil {
		n.counters.undeliver.Add(1)
		n.sys.DeadLetter(n.targetPID(e), msg, sender)
		return
	}
	_ = n.sys.Deliver(noWait, target, sender, msg)
}

// recentLookups remembers the last message type and target actor the
// inbox resolved: a stream of messages to one actor, the common case under
// load, then skips both map lookups. Used by the inbox goroutine only.
type recentLookups struct {
	typ      *msgType
	targetID string
	pid      *actor.PID
}

func (r *recentLookups) typeOf(name []byte) *msgType {
	if r.typ != nil && string(name) == r.typ.name {
		return r.typ
	}
	r.typ = typeNamed(name)
	return r.typ
}

// target returns the live local actor with id. A remembered actor that has
// stopped is looked up again: its name may belong to a new actor now.
func (r *recentLookups) target(n *Node, id []byte) *actor.PID {
	if r.pid != nil && string(id) == r.targetID && r.pid.Alive() {
		return r.pid
	}
	r.pid = n.localPID(id)
	r.targetID = ""
	if r.pid != nil {
		r.targetID = r.pid.ID
	}
	return r.pid
}

// decodeBody decodes a message body; a panic in a type's own
// UnmarshalCBOR is a malformed message, not the end of the node.
func decodeBody(mt *msgType, body []byte) (msg any, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: decoder panicked: %v", ErrMalformed, r)
		}
	}()
	return mt.decode(body)
}

// localPID finds the local actor named by id without allocating.
func (n *Node) localPID(id []byte) *actor.PID {
	if len(id) == 0 {
		return nil
	}
	// The registry only hashes and compares the id; it does not keep it,
	// so the id may alias the batch.
	return n.sys.Lookup(unsafe.String(&id[0], len(id)))
}

// senderPID rebuilds the sender of an envelope: nil, a remote actor, or a
// remote request's future.
func (n *Node) senderPID(e *inEnvelope) *actor.PID {
	switch {
	case len(e.senderNode) == 0:
		return nil
	case e.senderReq != 0:
		if string(e.senderNode) == n.cfg.Node {
			// One of this node's own requests, forwarded back here: its
			// future is local, and the reply can go straight to it.
			if f := n.pending.peek(e.senderReq); f != nil {
				return f.PID()
			}
		}
		return &actor.PID{Node: string(e.senderNode), ID: requestPIDID(e.senderReq)}
	case len(e.senderID) > 0:
		return n.senders.get(e.senderNode, e.senderID)
	}
	return nil
}

func (n *Node) handleSignal(e *inEnvelope) {
	var about *actor.PID
	if len(e.pidNode) > 0 && len(e.pidID) > 0 {
		about = &actor.PID{Node: string(e.pidNode), ID: string(e.pidID)}
	}
	kind := actor.SignalKind(e.signal)
	// A signal for a request's future (someone watched a request's
	// sender) names no actor: a watch is answered with ReasonNotFound.
	target := n.targetPID(e)
	switch kind {
	case actor.SignalWatch, actor.SignalUnwatch:
		if about == nil {
			n.reject(e, &n.counters.malformed, CodeMalformed, fmt.Errorf("watch signal without a watcher"))
			return
		}
		w := watchOut{watcher: about, target: target}
		if kind == actor.SignalWatch {
			n.members.addWatch(n.members.in, about.Node, w)
		} else {
			n.members.removeWatch(n.members.in, about.Node, keyOf(w))
		}
	case actor.SignalTerminated:
		if about == nil {
			n.reject(e, &n.counters.malformed, CodeMalformed, fmt.Errorf("terminated signal without an actor"))
			return
		}
		n.members.removeWatch(n.members.out, about.Node, keyOf(watchOut{watcher: target, target: about}))
	case actor.SignalStop, actor.SignalPoison:
	default:
		n.reject(e, &n.counters.malformed, CodeMalformed, fmt.Errorf("unknown signal %d", e.signal))
		return
	}
	n.sys.ApplySignal(target, actor.Signal{Kind: kind, PID: about, Reason: actor.TerminationReason(e.reason)})
}

// reject counts (in counter) and logs an envelope that cannot be handled,
// hands it to dead letters, and fails the remote request it carried, if
// any.
func (n *Node) reject(e *inEnvelope, counter *atomic.Uint64, code ErrorCode, err error) {
	counter.Add(1)
	n.throttled.logAt(slog.LevelWarn, "reject "+code.String(), "bus: incoming message dropped",
		"from", string(e.senderNode), "type", string(e.typ), "error", err)
	sender := n.senderPID(e)
	// The precise reason goes to the requester first: dead-lettering
	// answers a remote request too, with a plain dead-letter error, which
	// then finds the request already failed.
	if code != CodeDeadLetter {
		n.replyError(sender, code, err.Error())
	}
	n.sys.DeadLetter(n.targetPID(e), Undecodable{Type: string(e.typ), Size: len(e.body), Err: err}, sender)
}

// targetPID is the local PID an envelope names: an actor id, or the
// future of one of this node's requests.
func (n *Node) targetPID(e *inEnvelope) *actor.PID {
	if e.targetReq != 0 {
		return &actor.PID{Node: n.cfg.Node, ID: requestPIDID(e.targetReq)}
	}
	return &actor.PID{Node: n.cfg.Node, ID: string(e.targetID)}
}

// String names the code.
func (c ErrorCode) String() string {
	switch c {
	case CodeDeadLetter:
		return "dead letter"
	case CodeUnknownType:
		return "unknown type"
	case CodeMalformed:
		return "malformed"
	case CodeTooLarge:
		return "too large"
	}
	return fmt.Sprintf("ErrorCode(%d)", uint8(c))
}
