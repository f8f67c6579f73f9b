package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/goray-dev/goray/actor"
)

// heartbeat is what a node announces every HeartbeatInterval on its
// heartbeat subject.
type heartbeat struct {
	Node        string `cbor:"1,keyasint"`
	Incarnation uint64 `cbor:"2,keyasint"` // random per start: a restart is a new node
	MaxPayload  int    `cbor:"3,keyasint"`
	Leaving     bool   `cbor:"4,keyasint,omitempty"` // sent once by a node closing cleanly
}

// ErrNodeDown is matched (errors.Is) by the error of a request whose
// target node went away or never answered, and of sends to such a node.
var ErrNodeDown = errors.New("bus: node down")

// ErrNotSent is wrapped, next to the reason, by a send that failed before
// the message left this node (its node was already known down): the
// message certainly never reached its target, so a caller may resend it
// elsewhere without risking a second delivery.
var ErrNotSent = errors.New("bus: message not sent")

// NodeDownError names the node that is down.
type NodeDownError struct {
	Node   string
	Reason string // "no heartbeat", "left", "restarted", "never seen"
}

func (e *NodeDownError) Error() string {
	return fmt.Sprintf("bus: node %s is down (%s)", e.Node, e.Reason)
}

// Is makes errors.Is(err, ErrNodeDown) true.
func (e *NodeDownError) Is(target error) bool { return target == ErrNodeDown }

// PeerState is what this node knows of another.
type PeerState struct {
	Node        string
	Alive       bool
	Incarnation uint64
	LastSeen    time.Time
	MaxPayload  int
}

type peer struct {
	PeerState
	reason string // why it was declared down
}

// watchOut is a local actor watching an actor on a peer; watchIn is an
// actor on a peer watching a local one.
type watchOut struct {
	watcher *actor.PID // local
	target  *actor.PID // on the peer
	since   time.Time
}

type watchKey struct{ watcherNode, watcherID, targetID string }

// membership tracks peers by their heartbeats, and what must happen when
// one goes away: the watches that involve it.
type membership struct {
	mu      sync.Mutex
	peers   map[string]*peer
	out     map[string]map[watchKey]watchOut // by the target's node
	in      map[string]map[watchKey]watchOut // by the watcher's node
	waiters map[string][]chan struct{}       // WaitForNode callers by node
}

func newMembership() *membership {
	return &membership{
		peers:   make(map[string]*peer),
		out:     make(map[string]map[watchKey]watchOut),
		in:      make(map[string]map[watchKey]watchOut),
		waiters: make(map[string][]chan struct{}),
	}
}

func keyOf(w watchOut) watchKey {
	return watchKey{watcherNode: w.watcher.Node, watcherID: w.watcher.ID, targetID: w.target.ID}
}

// maxPeers bounds how many node names a node remembers.
const maxPeers = 4096

// heard records a heartbeat. It returns whether the peer was down (or
// another incarnation) before, and the old incarnation's fate.
func (m *membership) heard(hb *heartbeat, now time.Time) (cameUp bool, replaced *peer, downNow bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peers[hb.Node]
	if hb.Leaving && (p == nil || p.Incarnation != hb.Incarnation) {
		return false, nil, false // the goodbye of an incarnation already gone
	}
	if p == nil && len(m.peers) >= maxPeers {
		return false, nil, false // refuse to remember ever more names
	}
	if p != nil && p.Alive && p.Incarnation != hb.Incarnation {
		// The node restarted faster than its timeout: the old one is gone.
		old := *p
		old.reason = "restarted"
		replaced = &old
		p.Alive = false
	}
	if hb.Leaving {
		if p != nil && p.Alive && p.Incarnation == hb.Incarnation {
			p.Alive, p.reason = false, "left"
			return false, replaced, true
		}
		return false, replaced, false
	}
	if p == nil {
		p = &peer{}
		m.peers[hb.Node] = p
	}
	cameUp = !p.Alive
	p.PeerState = PeerState{Node: hb.Node, Alive: true, Incarnation: hb.Incarnation, LastSeen: now, MaxPayload: hb.MaxPayload}
	if cameUp {
		for _, c := range m.waiters[hb.Node] {
			close(c)
		}
		delete(m.waiters, hb.Node)
	}
	return cameUp, replaced, false
}

// expire declares peers silent for longer than timeout down and returns
// their names. Peers down for forgetAfter timeouts are forgotten: a send
// to one then waits a timeout to fail instead of failing at once, and the
// table does not keep every name it ever heard.
func (m *membership) expire(now time.Time, timeout time.Duration) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var down []string
	for name, p := range m.peers {
		switch silent := now.Sub(p.LastSeen); {
		case p.Alive && silent > timeout:
			p.Alive, p.reason = false, "no heartbeat"
			down = append(down, name)
		case !p.Alive && silent > forgetAfter*timeout:
			delete(m.peers, name)
		}
	}
	return down
}

// forgetAfter is how many node timeouts a down peer is remembered.
const forgetAfter = 30

// state returns what is known of node: ok is false if it was never seen.
func (m *membership) state(node string) (p peer, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q := m.peers[node]; q != nil {
		return *q, true
	}
	return peer{}, false
}

func (m *membership) list() []PeerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]PeerState, 0, len(m.peers))
	for _, name := range slices.Sorted(maps.Keys(m.peers)) {
		out = append(out, m.peers[name].PeerState)
	}
	return out
}

// waitFor returns when node is alive or ctx ends.
func (m *membership) waitFor(ctx context.Context, node string) error {
	m.mu.Lock()
	if p := m.peers[node]; p != nil && p.Alive {
		m.mu.Unlock()
		return nil
	}
	c := make(chan struct{})
	m.waiters[node] = append(m.waiters[node], c)
	m.mu.Unlock()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bus: waiting for node %s: %w", node, ctx.Err())
	}
}

// addWatch records a watch; table is m.out or m.in and node is the peer
// it depends on.
func (m *membership) addWatch(table map[string]map[watchKey]watchOut, node string, w watchOut) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := table[node]
	if t == nil {
		t = make(map[watchKey]watchOut)
		table[node] = t
	}
	t[keyOf(w)] = w
}

func (m *membership) removeWatch(table map[string]map[watchKey]watchOut, node string, k watchKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := table[node]; t != nil {
		delete(t, k)
		if len(t) == 0 {
			delete(table, node)
		}
	}
}

// takeWatches removes and returns the watches that depend on node.
func (m *membership) takeWatches(node string) (out, in []watchOut) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.out[node] {
		out = append(out, w)
	}
	for _, w := range m.in[node] {
		in = append(in, w)
	}
	delete(m.out, node)
	delete(m.in, node)
	return out, in
}

// staleWatches removes and returns watches of actors on nodes never heard
// from within timeout of the watch: like a request, a watch of a node that
// never shows up ends as if the node were down.
func (m *membership) staleWatches(now time.Time, timeout time.Duration) []watchOut {
	m.mu.Lock()
	defer m.mu.Unlock()
	var stale []watchOut
	for node, t := range m.out {
		if _, seen := m.peers[node]; seen {
			continue
		}
		for k, w := range t {
			if now.Sub(w.since) > timeout {
				stale = append(stale, w)
				delete(t, k)
			}
		}
		if len(t) == 0 {
			delete(m.out, node)
		}
	}
	return stale
}
