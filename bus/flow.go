package bus

import (
	"encoding/binary"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
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
	window := l.n.flowWindow()
	var waited time.Duration
	for l.published+uint64(size)-l.acked.Load() > window && l.published > l.acked.Load() {
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

// inboxAcks tracks, per sending link, the bytes handled from it, and when
// the last acknowledgement went out. It is used by the inbox goroutine only.
type inboxAcks map[string]*ackState

type ackState struct{ handled, acked uint64 }

// handled counts a batch from the link whose acknowledgements go to reply,
// and acknowledges every window/4 bytes.
func (n *Node) handled(reply string, size int) {
	if reply == "" {
		return
	}
	st := n.acks[reply]
	if st == nil {
		if len(n.acks) >= maxCachedSenders {
			clear(n.acks) // senders that left; the live ones re-enter
		}
		st = &ackState{}
		n.acks[reply] = st
	}
	st.handled += uint64(size)
	if st.handled-st.acked < n.flowWindow()/4 {
		return
	}
	st.acked = st.handled
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], st.handled)
	_ = n.ctl.Publish(reply, b[:])
}

// ackedCounter is the type of link.acked.
type ackedCounter = atomic.Uint64
