package bus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/goray-dev/goray/actor"
)

// Node joins an actor system to the bus: it runs (or connects to) NATS,
// receives the envelopes addressed to this node's actors, carries the
// system's messages to other nodes, and tracks which peers are alive.
type Node struct {
	cfg         Config
	sys         *actor.System
	log         *slog.Logger
	throttled   *throttledLog
	subjects    Subjects
	srv         *server.Server // nil when connected to an external NATS
	nc          *nats.Conn     // envelopes
	ctl         *nats.Conn     // heartbeats and flow control
	incarnation uint64

	counters counters
	pending  *pendingRequests
	members  *membership

	linksMu sync.RWMutex
	links   map[string]*link
	retired map[string]*link // links being closed, by peer
	linkGen atomic.Uint64
	closing bool

	inboxSub, hbSub, ackSub *nats.Subscription
	senders                 senderCache   // used by the inbox goroutine only
	recent                  recentLookups // used by the inbox goroutine only
	acks                    inboxAcks     // used by the inbox goroutine only

	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start joins sys to the bus as the node cfg.Node, which must also be
// sys's node name. It returns once NATS is up and this node's inbox is
// subscribed; peers are found as their heartbeats arrive (see WaitForNode).
func Start(ctx context.Context, sys *actor.System, cfg Config) (*Node, error) {
	if cfg.Node == "" {
		cfg.Node = sys.Node()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Node != sys.Node() {
		return nil, configError("node %q differs from the actor system's node %q", cfg.Node, sys.Node())
	}
	if err := resolveToken(&cfg); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         cfg,
		sys:         sys,
		log:         cfg.Logger.With("node", cfg.Node),
		subjects:    NewSubjects(cfg.Cluster),
		incarnation: randomIncarnation(),
		pending:     newPendingRequests(),
		members:     newMembership(),
		links:       make(map[string]*link),
		retired:     make(map[string]*link),
		acks:        make(inboxAcks),
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
	}
	n.throttled = newThrottledLog(n.log, time.Second)
	if cfg.URL == "" {
		if n.srv, err = startServer(&n.cfg); err != nil {
			return nil, err
		}
	}
	spawner := spawnService(n)
	if err := n.connect(ctx); err != nil {
		sys.Stop(spawner)
		n.shutdownServer()
		return nil, err
	}
	sys.SetRemote(n)
	go n.loop()
	// Peers learn of this node from its first heartbeat: only now, when
	// it can answer and send.
	n.publishHeartbeat(false)
	n.log.Debug("bus: node started", "cluster", cfg.Cluster, "client_url", n.ClientURL(), "cluster_url", n.ClusterURL())
	return n, nil
}

// resolveToken fills cfg.Token: from TokenFile, or a fresh one for an
// embedded server nobody else can reach. A listening server needs one.
func resolveToken(cfg *Config) error {
	if cfg.Token != "" || cfg.User != "" || cfg.NKeySeedFile != "" {
		return nil
	}
	if cfg.TokenFile != "" {
		tok, err := LoadOrCreateToken(cfg.TokenFile)
		if err != nil {
			return err
		}
		cfg.Token = tok
		return nil
	}
	if cfg.URL != "" {
		return nil // an external NATS may need no credentials
	}
	if cfg.listens() {
		return configError("a node that listens needs the cluster token: set Token or TokenFile")
	}
	cfg.Token = NewToken()
	return nil
}

func randomIncarnation() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// connect opens the node's two connections and subscribes. Envelopes
// travel on the data connection; heartbeats and flow-control
// acknowledgements on a control connection of their own, so that a
// congested data path (a slow peer, a full flow window) can delay neither
// the news that a node is alive nor the acknowledgements that unblock it.
func (n *Node) connect(ctx context.Context) (err error) {
	if n.nc, err = connect(ctx, &n.cfg, n.srv, "data", n.onAsyncError); err != nil {
		return err
	}
	if n.ctl, err = connect(ctx, &n.cfg, n.srv, "control", n.onAsyncError); err != nil {
		n.nc.Close()
		return err
	}
	defer func() {
		if err != nil {
			n.nc.Close()
			n.ctl.Close()
		}
	}()
	// Before anything reads the limits: the server may accept less.
	if err := n.fitServerPayload(); err != nil {
		return err
	}
	if n.inboxSub, err = n.nc.Subscribe(n.subjects.Inbox(n.cfg.Node), n.onInbox); err != nil {
		return fmt.Errorf("bus: subscribe inbox: %w", err)
	}
	// A burst must not make NATS drop envelopes for want of client-side
	// buffer: allow many messages, bounded in bytes. The flow window keeps
	// each peer far below it.
	if err := n.inboxSub.SetPendingLimits(-1, 512<<20); err != nil {
		return fmt.Errorf("bus: inbox limits: %w", err)
	}
	if n.hbSub, err = n.ctl.Subscribe(n.subjects.heartbeats(), n.onHeartbeat); err != nil {
		return fmt.Errorf("bus: subscribe heartbeats: %w", err)
	}
	if n.ackSub, err = n.ctl.Subscribe(n.acksSubject(), n.onAck); err != nil {
		return fmt.Errorf("bus: subscribe acknowledgements: %w", err)
	}
	fctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	for _, c := range []*nats.Conn{n.nc, n.ctl} {
		if err := c.FlushWithContext(fctx); err != nil {
			return fmt.Errorf("bus: connect: %w", err)
		}
	}
	return nil
}

// fitServerPayload lowers MaxPayload (and what depends on it) to what the
// NATS server accepts, which an external server may set lower: a batch
// the server refuses would be lost whole.
func (n *Node) fitServerPayload() error {
	limit := int(n.nc.MaxPayload())
	if limit <= 0 || limit >= n.cfg.MaxPayload {
		return nil
	}
	if limit < 64<<10 {
		return configError("the NATS server's max_payload of %d bytes is below the 64 KiB the bus needs", limit)
	}
	n.log.Info("bus: NATS server's max_payload is below MaxPayload; using it", "max_payload", limit, "configured", n.cfg.MaxPayload)
	n.cfg.MaxPayload = limit
	n.cfg.MaxMessageBytes = min(n.cfg.MaxMessageBytes, limit-envelopeRoom)
	n.cfg.FlushBytes = min(n.cfg.FlushBytes, limit/2)
	return nil
}

// leaveGrace is how long requests to a node that said goodbye may still
// get their replies.
const leaveGrace = 250 * time.Millisecond

// withDefaultTimeout bounds a wait on NATS that ctx leaves unbounded.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, 10*time.Second)
}

func (n *Node) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		n.counters.slowConsumer.Add(1)
		n.throttled.logAt(slog.LevelWarn, "slow consumer", "bus: NATS dropped messages: this node cannot keep up with its inbox", "error", err)
		return
	}
	n.throttled.logAt(slog.LevelWarn, "nats error", "bus: NATS error", "error", err)
}

// Name returns this node's name.
func (n *Node) Name() string { return n.cfg.Node }

// System returns the actor system this node serves.
func (n *Node) System() *actor.System { return n.sys }

// Subjects returns the cluster's subject scheme.
func (n *Node) Subjects() Subjects { return n.subjects }

// Conn returns the node's NATS connection, for services layered on the
// bus (request/reply subjects, events). Do not close it.
func (n *Node) Conn() *nats.Conn { return n.nc }

// Token returns the cluster token this node uses ("" with other
// credentials), so that the processes it starts can join.
func (n *Node) Token() string { return n.cfg.Token }

// ClientURL returns the URL where other processes can connect to this
// node's embedded server, or "" when it has no client listener.
func (n *Node) ClientURL() string {
	if n.srv == nil || n.cfg.Listen == "" {
		return ""
	}
	return n.srv.ClientURL()
}

// ClusterURL returns the route URL of this node's embedded server
// (host:port, for other nodes' Routes), or "" when it has none.
func (n *Node) ClusterURL() string {
	if n.srv == nil || n.cfg.ClusterListen == "" {
		return ""
	}
	if a := n.srv.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	st := n.counters.snapshot()
	st.PendingRequests = n.pending.len()
	return st
}

// Peers returns what this node knows of the others, sorted by name.
func (n *Node) Peers() []PeerState { return n.members.list() }

// WaitForNode returns once a heartbeat of node has arrived, or with ctx's
// error. It says nothing of which actors that node runs yet: a node that
// starts its actors after joining may answer the first requests with
// dead letters. Messages sent to a node before its inbox subscription reached
// this node's server may be lost (delivery is at-most-once); waiting for
// the peer first avoids that at start-up.
func (n *Node) WaitForNode(ctx context.Context, node string) error {
	if node == n.cfg.Node {
		return nil
	}
	return n.members.waitFor(ctx, node)
}

// loop beats and checks peers until the node closes.
func (n *Node) loop() {
	defer close(n.loopDone)
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.publishHeartbeat(false)
			for _, node := range n.members.expire(now, n.cfg.NodeTimeout) {
				n.nodeDown(node, "no heartbeat")
			}
			n.failStaleRequests(now)
			n.retireUnknownLinks(now)
		}
	}
}

func (n *Node) publishHeartbeat(leaving bool) {
	b, err := Marshal(&heartbeat{Node: n.cfg.Node, Incarnation: n.incarnation, MaxPayload: n.cfg.MaxPayload, Leaving: leaving})
	if err == nil {
		err = n.ctl.Publish(n.subjects.Heartbeat(n.cfg.Node), b)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		n.throttled.logAt(slog.LevelWarn, "heartbeat", "bus: heartbeat not sent", "error", err)
	}
}

func (n *Node) onHeartbeat(m *nats.Msg) {
	var hb heartbeat
	if err := Unmarshal(m.Data, &hb); err != nil || checkToken("node", hb.Node) != nil {
		n.counters.malformed.Add(1)
		n.throttled.logAt(slog.LevelWarn, "heartbeat malformed", "bus: malformed heartbeat", "subject", m.Subject, "error", err)
		return
	}
	if hb.Node == n.cfg.Node {
		if hb.Incarnation != n.incarnation {
			n.throttled.logAt(slog.LevelError, "duplicate node", "bus: another process uses this node's name; node names must be unique", "name", hb.Node)
		}
		return
	}
	cameUp, replaced, down := n.members.heard(&hb, time.Now())
	if replaced != nil {
		n.nodeDown(hb.Node, replaced.reason)
	}
	if down {
		// The goodbye travels on the control connection and may overtake
		// the node's last replies on the data connection: new sends fail
		// at once, but what is pending gets a moment to arrive.
		node := hb.Node
		time.AfterFunc(leaveGrace, func() { n.nodeDown(node, "left") })
	}
	if cameUp {
		if hb.MaxPayload != n.cfg.MaxPayload {
			n.log.Error("bus: peer has a different MaxPayload; it must be equal across the cluster",
				"peer", hb.Node, "peer_max_payload", hb.MaxPayload, "max_payload", n.cfg.MaxPayload)
		}
		n.log.Info("bus: node up", "peer", hb.Node)
	}
}

// nodeDown fails what depended on node: requests to it, and watches of
// its actors (watchers get Terminated with ReasonNodeDown). Watches its
// actors held on ours are dropped.
func (n *Node) nodeDown(node, reason string) {
	n.counters.nodesDown.Add(1)
	level := slog.LevelWarn
	if reason == "left" {
		level = slog.LevelInfo // a clean goodbye is not a problem
	}
	n.log.Log(context.Background(), level, "bus: node down", "peer", node, "reason", reason)
	err := &NodeDownError{Node: node, Reason: reason}
	for _, r := range n.pending.sweep(func(r pendingRequest) bool { return r.node == node }) {
		r.f.Fail(err)
	}
	// The link's flow accounting belongs to the incarnation that is gone;
	// the next send makes a fresh link. What the old one still holds is
	// dropped as it notices the peer is down.
	n.retireLink(node)
	out, in := n.members.takeWatches(node)
	for _, w := range out {
		n.sys.ApplySignal(w.watcher, actor.Signal{Kind: actor.SignalTerminated, PID: w.target, Reason: actor.ReasonNodeDown})
	}
	for _, w := range in {
		n.sys.ApplySignal(w.target, actor.Signal{Kind: actor.SignalUnwatch, PID: w.watcher})
	}
}

// failStaleRequests fails requests to nodes never heard from within
// NodeTimeout of the request, and forgets requests that completed on
// their own.
func (n *Node) failStaleRequests(now time.Time) {
	failed := n.pending.sweep(func(r pendingRequest) bool {
		if now.Sub(r.since) <= n.cfg.NodeTimeout {
			return false
		}
		p, seen := n.members.state(r.node)
		return !seen || !p.Alive
	})
	for _, r := range failed {
		r.f.Fail(&NodeDownError{Node: r.node, Reason: "never seen"})
	}
	for _, w := range n.members.staleWatches(now, n.cfg.NodeTimeout) {
		n.sys.ApplySignal(w.watcher, actor.Signal{Kind: actor.SignalTerminated, PID: w.target, Reason: actor.ReasonNodeDown})
	}
}

// retireLink drops the link to peer and what it has not sent: its flow
// accounting belongs to an incarnation that is gone. The next send makes a
// fresh link, which publishes only after the old one has stopped, so that
// nothing the old one was still publishing can overtake it.
func (n *Node) retireLink(peer string) {
	n.linksMu.Lock()
	l := n.links[peer]
	if l != nil {
		delete(n.links, peer)
		n.retired[peer] = l
	}
	n.linksMu.Unlock()
	if l == nil {
		return
	}
	l.abandon()
	go func() {
		l.close(context.Background()) // prompt: an abandoned link drops what is left
		n.linksMu.Lock()
		if n.retired[peer] == l {
			delete(n.retired, peer)
		}
		n.linksMu.Unlock()
	}()
}

// retireUnknownLinks retires links to peers never heard from within
// NodeTimeout of the link's making: their messages go nowhere, and a
// stranger naming made-up nodes must not make links pile up.
func (n *Node) retireUnknownLinks(now time.Time) {
	var stale []string
	n.linksMu.RLock()
	for peer, l := range n.links {
		if now.Sub(l.created) > n.cfg.NodeTimeout {
			if _, seen := n.members.state(peer); !seen {
				stale = append(stale, peer)
			}
		}
	}
	n.linksMu.RUnlock()
	for _, peer := range stale {
		n.retireLink(peer)
	}
}

// link returns the batcher for peer, making it on first use. A peer known
// to be down has none (nodeDown removes it) and gets none: sends to it
// fail with a NodeDownError until it is heard from again.
func (n *Node) link(peer string) (*link, error) {
	n.linksMu.RLock()
	l := n.links[peer]
	closing := n.closing
	n.linksMu.RUnlock()
	if l != nil {
		return l, nil
	}
	if closing {
		return nil, errLinkClosed
	}
	if err := checkToken("node", peer); err != nil {
		return nil, fmt.Errorf("bus: send to node %q: %w", peer, err)
	}
	if err := n.checkPeer(peer); err != nil {
		return nil, err
	}
	n.linksMu.Lock()
	defer n.linksMu.Unlock()
	if n.closing {
		return nil, errLinkClosed
	}
	if l = n.links[peer]; l == nil {
		l = newLink(n, peer, n.retired[peer])
		n.links[peer] = l
	}
	return l, nil
}

// Close leaves the cluster: it tells peers (so they notice at once rather
// than after NodeTimeout), publishes what is still batched, drains the
// connection and stops the embedded server. Stop the actor system's
// actors before, so that their last messages still go out.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.close(ctx) })
	return n.closeErr
}

func (n *Node) close(ctx context.Context) error {
	close(n.stop)
	<-n.loopDone
	n.linksMu.Lock()
	n.closing = true
	links := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		links = append(links, l)
	}
	n.linksMu.Unlock()
	for _, l := range links {
		l.close(ctx)
	}
	n.publishHeartbeat(true)
	n.sys.SetRemote(nil)
	fctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	err := n.nc.FlushWithContext(fctx)
	if cerr := n.ctl.FlushWithContext(fctx); err == nil {
		err = cerr
	}
	n.nc.Close()
	n.ctl.Close()
	n.shutdownServer()
	for _, r := range n.pending.sweep(func(pendingRequest) bool { return true }) {
		r.f.Fail(fmt.Errorf("bus: node %s closed: %w", n.cfg.Node, actor.ErrShutdown))
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("bus: close: %w", err)
	}
	return nil
}

func (n *Node) shutdownServer() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}
