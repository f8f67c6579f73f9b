package bus

import (
	"encoding/binary"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Flow control. NATS has none between a publisher and a subscriber: a
// sender faster than its receiver fills the receiving client's buffers
// until the server cuts it off as a slow consumer and drops messages. So
// each link keeps a window: it publishes at most flowWindow bytes that the
// peer has not yet acknowledged, then waits. The peer acknowledges the
// cumulative bytes it has handled every flowWindow/4, on the reply subject
// each batch carries. A sender blocked on the window is the backpressure:
// the actors sending to a slow node slow down instead of losing messages.

// flowWait bounds one wait for acknowledgements from a peer that is still
// alive; past it the link publishes anyway and logs, rather than stall for
// good on a lost acknowledgement.
const flowWait = 5 * time.Second

// flowWindow is how many unacknowledged bytes a link may have in flight.
func (n *Node) flowWindow() uint64 { return uint64(2 * n.cfg.MaxPayload) }

// ackSubject is where peer acknowledges what the link of generation gen
// sent it. Each link has its own subject, so the receiver counts every
// link's bytes from zero: a link replaced after the peer restarted starts
// afresh.
func (n *Node) ackSubject(peer string, gen uint64) string {
	return n.acksPrefix() + peer + "." + strconv.FormatUint(gen, 36)
}

func (n *Node) acksPrefix() string {
	return n.subjects.prefix + "n." + n.cfg.Node + ".ack." + strconv.FormatUint(n.incarnation, 36) + "."
}

// acksSubject matches ackSubject for every peer and link.
func (n *Node) acksSubject() string { return n.acksPrefix() + "*.*" }

// onAck records a peer's acknowledgement: the total bytes it has handled
// from one of this node's links to it.
func (n *Node) onAck(m *nats.Msg) {
	peer, gen, ok := strings.Cut(strings.TrimPrefix(m.Subject, n.acksPrefix()), ".")
	if !ok || len(m.Data) != 8 {
		n.counters.malformed.Add(1)
		return
	}
	n.linksMu.RLock()
	l := n.links[peer]
	n.linksMu.RUnlock()
	if l != nil && strconv.FormatUint(l.gen, 36) == gen {
		l.acknowledged(binary.BigEndian.Uint64(m.Data))
	}
}

// acknowledged raises the link's acknowledged byte count and wakes a
// publisher waiting for room.
func (l *link) acknowledged(total uint64) {
	for {
		old := l.acked.Load()
		if total <= old || l.acked.CompareAndSwap(old, total) {
			break
		}
	}
	select {
	case l.ackSignal <- struct{}{}:
	default:
	}
}

// awaitWindow waits, before publishing size more bytes, until the peer
// has acknowledged enough. It gives up when the peer is down or the link
// closes (the batch is then dropped: there is nobody to deliver it to),
// or after flowWait (the batch goes out anyway).
func (l *link) awaitWindow(size int) bool {
	if l.abandoned.Load() {
		return false
	}
	window := l.n.flowWindow()
	var waited time.Duration
	for l.published+uint64(size)-l.acked.Load() > window && l.published > l.acked.Load() {
		if l.abandoned.Load() {
			return false
		}
		if err := l.n.checkPeer(l.peer); err != nil {
			return false
		}
		if _, seen := l.n.members.state(l.peer); !seen && time.Since(l.created) > l.n.cfg.NodeTimeout {
			return false // a node that never answered: nobody will acknowledge
		}
		if waited >= flowWait {
			l.n.throttled.logAt(slog.LevelWarn, "flow", "bus: peer has not acknowledged for a while; publishing anyway",
				"peer", l.peer, "unacknowledged_bytes", l.published-l.acked.Load())
			return true
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-l.ackSignal:
		case <-t.C:
			waited += 100 * time.Millisecond
		}
		t.Stop()
	}
	return true
}

// inboxAcks remembers, per sending link (by its reply subject), the last
// offset acknowledged, so acknowledgements go out every quarter window
// rather than per batch. Used by the inbox goroutine only. Forgetting an
// entry costs nothing but an early acknowledgement.
type inboxAcks map[string]uint64

// keyFlowOffset is the key of a flow envelope's offset.
const keyFlowOffset = 16

// appendFlowMark appends the flow envelope that ends every batch: the
// link's byte offset after the batch.
func appendFlowMark(b []byte, offset uint64) []byte {
	b = appendHead(b, majorMap, 2)
	b = appendUint(appendUint(b, keyKind), kindFlow)
	return appendUint(appendUint(b, keyFlowOffset), offset)
}

// acknowledge tells the sending link, on its reply subject, that its bytes
// up to offset are handled, unless it was told less than a quarter window
// ago.
func (n *Node) acknowledge(reply string, offset uint64) {
	if offset == 0 || !strings.HasPrefix(reply, n.subjects.prefix+"n.") || !strings.Contains(reply, ".ack.") {
		return // not a link of this cluster: never publish where a stranger says
	}
	last, known := n.acks[reply]
	if known && offset > last && offset-last < n.flowWindow()/4 {
		return
	}
	if !known && len(n.acks) >= maxCachedSenders {
		clear(n.acks) // links that went away; live ones re-enter with an early ack
	}
	n.acks[reply] = offset
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], offset)
	_ = n.ctl.Publish(reply, b[:])
}
