package bus

// Review tests: properties a review of the bus checked, and regressions
// for the defects it found (the comment above such a test describes the
// defect, since fixed).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
)

// rvMsg is the review tests' message type.
type rvMsg struct {
	N    int    `cbor:"1,keyasint"`
	Text string `cbor:"2,keyasint,omitempty"`
}

func init() { Register[*rvMsg]("review.msg") }

var rvQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type rvNode struct {
	sys  *actor.System
	node *Node
	once sync.Once
}

func (r *rvNode) close() {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.sys.Shutdown(ctx)
		_ = r.node.Close(ctx)
	})
}

// rvStart starts a node; fast heartbeats unless cfg says otherwise.
func rvStart(t testing.TB, cfg Config) *rvNode {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = rvQuiet
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
		cfg.NodeTimeout = 500 * time.Millisecond
	}
	if cfg.ClusterListen == "" {
		cfg.ClusterListen = "127.0.0.1:0"
	}
	sys := actor.NewSystem(actor.WithNode(cfg.Node), actor.WithLogger(cfg.Logger))
	n, err := Start(context.Background(), sys, cfg)
	require.NoError(t, err)
	r := &rvNode{sys: sys, node: n}
	t.Cleanup(r.close)
	return r
}

func rvWait(t testing.TB, x, y *rvNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, x.node.WaitForNode(ctx, y.node.Name()))
	require.NoError(t, y.node.WaitForNode(ctx, x.node.Name()))
}

// rvPair starts "a" and "b" joined by a route. b closes before a at
// cleanup (cleanups run last-in first-out), so that a's links notice b is
// gone rather than wait for acknowledgements.
func rvPair(t testing.TB, ca, cb Config) (a, b *rvNode) {
	t.Helper()
	tok := NewToken()
	ca.Node, ca.Token = "a", tok
	a = rvStart(t, ca)
	cb.Node, cb.Token, cb.Routes = "b", tok, []string{a.node.ClusterURL()}
	b = rvStart(t, cb)
	rvWait(t, a, b)
	return a, b
}

func rvEcho(c *actor.Context) {
	if m, ok := c.Message().(*rvMsg); ok {
		c.Respond(&rvMsg{N: m.N + 1})
	}
}

// rvRequest asks echo on node to answer within d.
func rvRequest(from *rvNode, node string, n int, d time.Duration) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return from.sys.Request(ctx, &actor.PID{Node: node, ID: "echo"}, &rvMsg{N: n})
}

// rvSink counts messages and reports on done once it has seen want.
func rvSink(want int, done chan<- struct{}) *actor.Props {
	seen := 0
	return actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(*rvMsg); ok {
			seen++
			if seen == want {
				close(done)
			}
		}
	})
}

func goroutineDump() string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	return buf.String()
}

// ---------------------------------------------------------------------------
// Goroutines.

// TestNodeCloseLeavesNoGoroutines starts and closes a pair of nodes (and
// their systems) a few times, with traffic, watches, requests in flight
// and a sender still sending while the nodes close, and checks that the
// goroutine count returns to its baseline.

func TestNodeCloseLeavesNoGoroutines(t *testing.T) {
	cycle := func(closeBFirst bool) {
		tok := NewToken()
		a := rvStart(t, Config{Node: "a", Token: tok})
		b := rvStart(t, Config{Node: "b", Token: tok, Routes: []string{a.node.ClusterURL()}})
		rvWait(t, a, b)
		for _, x := range []*rvNode{a, b} {
			_, err := x.sys.SpawnNamed(actor.PropsFromFunc(rvEcho), "echo")
			require.NoError(t, err)
		}
		_, err := rvRequest(a, "b", 1, 2*time.Second)
		require.NoError(t, err)
		_, err = rvRequest(b, "a", 1, 2*time.Second)
		require.NoError(t, err)
		// A watch across, a request that will never be answered, and a
		// link to a node that never shows up.
		a.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(actor.Started); ok {
				c.Watch(&actor.PID{Node: "b", ID: "echo"})
			}
		}))
		_, err = b.sys.SpawnNamed(actor.PropsFromFunc(func(*actor.Context) {}), "silent")
		require.NoError(t, err)
		a.sys.RequestFuture(&actor.PID{Node: "b", ID: "silent"}, &rvMsg{N: 1}, 0)
		a.sys.Send(&actor.PID{Node: "ghost", ID: "x"}, &rvMsg{N: 1})
		// A sender still sending while the nodes close.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = a.sys.SendContext(context.Background(), &actor.PID{Node: "b", ID: "echo"}, &rvMsg{N: i})
				if i%64 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
		time.Sleep(50 * time.Millisecond)
		if closeBFirst {
			b.close()
			time.Sleep(200 * time.Millisecond) // a sees b leave: nodeDown, go l.close()
			a.close()
		} else {
			a.close()
			b.close()
		}
		close(stop)
		wg.Wait()
	}
	cycle(true) // warm up: package-level goroutines, pools
	runtime.GC()
	base := runtime.NumGoroutine()
	for i := range 4 {
		cycle(i%2 == 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > base && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > base {
		t.Fatalf("goroutines: %d after closing, baseline %d\n%s", n, base, goroutineDump())
	}
	t.Logf("goroutines back to %d (baseline %d)", n, base)
}

// ---------------------------------------------------------------------------
// Flow control.

// TestAckStateResetDoesNotStallLink: inboxAcks (flow.go handled) keeps the
// cumulative bytes handled per reply subject and, once it holds
// maxCachedSenders subjects, clears itself ("the live ones re-enter").
// But acknowledgements are cumulative: a live link that re-enters counts
// from zero again, so its acknowledgements stay below what the sender has
// already seen acknowledged and are ignored (acknowledged keeps the max).
// The sender's window never reopens: every batch waits flowWait (5 s).
// Any peer, or plain link churn (each replaced link has a new reply
// subject), can fill the map; here a peer publishes 4096 empty batches
// with distinct reply subjects.
func TestAckStateResetDoesNotStallLink(t *testing.T) {
	cfg := Config{MaxPayload: 64 << 10} // window 128 KiB, acks every 32 KiB
	a, b := rvPair(t, cfg, cfg)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(rvEcho), "echo")
	require.NoError(t, err)
	text := strings.Repeat("x", 1<<10)

	send := func(name string, n int) chan struct{} {
		done := make(chan struct{})
		_, err := b.sys.SpawnNamed(rvSink(n, done), name)
		require.NoError(t, err)
		go func() {
			for i := range n {
				if a.sys.SendContext(context.Background(), &actor.PID{Node: "b", ID: name}, &rvMsg{N: i, Text: text}) != nil {
					return
				}
			}
		}()
		return done
	}
	// 300 KiB: a's link to b has about 300 KiB acknowledged.
	select {
	case <-send("sink1", 300):
	case <-time.After(5 * time.Second):
		t.Fatal("first 300 KiB not delivered")
	}
	_, err = rvRequest(a, "b", 1, 2*time.Second)
	require.NoError(t, err)

	// Junk batches with distinct reply subjects fill b's inboxAcks.
	for i := range maxCachedSenders {
		require.NoError(t, a.node.nc.PublishRequest(b.node.subjects.Inbox("b"), fmt.Sprintf("review.junk.%d", i), nil))
	}
	_, err = rvRequest(a, "b", 2, 2*time.Second) // same connection: behind the junk
	require.NoError(t, err)

	// 200 KiB more: past the window unless b's acknowledgements count.
	start := time.Now()
	select {
	case <-send("sink2", 200):
		t.Logf("200 KiB after the reset delivered in %v", time.Since(start))
	case <-time.After(4 * time.Second):
		t.Fatalf("200 KiB not delivered within 4s after b's acknowledgement state was cleared: the link stalls on flowWait")
	}
}

// TestPublishErrorDoesNotLeakFlowWindow: link.publish adds the batch to
// l.published before PublishRequest, and keeps it there when the publish
// fails. Those bytes never reach the peer, so they are never acknowledged:
// the window shrinks for good, and once the lost bytes exceed it every
// later batch waits flowWait (5 s) before going out. The same happens to
// bytes NATS drops on the way (slow consumer, reconnect buffer overflow).
// The trigger here is an envelope larger than MaxPayload (a long target
// id: only the body is checked against MaxMessageBytes), which NATS
// refuses.
func TestPublishErrorDoesNotLeakFlowWindow(t *testing.T) {
	cfg := Config{MaxPayload: 64 << 10} // window 128 KiB
	a, b := rvPair(t, cfg, cfg)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(rvEcho), "echo")
	require.NoError(t, err)
	_, err = rvRequest(a, "b", 1, 2*time.Second)
	require.NoError(t, err)

	a.sys.Send(&actor.PID{Node: "b", ID: strings.Repeat("x", 130<<10)}, &rvMsg{N: 1})
	require.Eventually(t, func() bool { return a.node.Stats().SendErrors > 0 }, 2*time.Second, 10*time.Millisecond)

	start := time.Now()
	_, err = rvRequest(a, "b", 2, 3*time.Second)
	t.Logf("request after a failed publish: %v after %v", err, time.Since(start))
	require.NoError(t, err, "a failed publish must not close the flow window of a healthy link")
}

// TestOversizedEnvelopeFailsItsRequest: a request whose batch is
// dropped by a failed publish (link.publish only counts and logs) stays
// pending while its peer is alive; a request without a timeout never
// completes. doc.go: "Requests make failures visible".
func TestOversizedEnvelopeFailsItsRequest(t *testing.T) {
	cfg := Config{MaxPayload: 64 << 10}
	a, _ := rvPair(t, cfg, cfg)
	f := a.sys.RequestFuture(&actor.PID{Node: "b", ID: strings.Repeat("x", 70<<10)}, &rvMsg{N: 1}, 0)
	select {
	case <-f.Done():
		_, err := f.Result(context.Background())
		t.Logf("request failed with: %v", err)
	case <-time.After(3 * time.Second):
		t.Fatalf("request whose envelope NATS refused is still pending after 3s (pending requests: %d, send errors: %d)",
			a.node.Stats().PendingRequests, a.node.Stats().SendErrors)
	}
}

// ---------------------------------------------------------------------------
// Order.

// TestLinkReplacementDoesNotReorder: nodeDown removes the peer's link and closes
// it in the background; what the old link still holds is published by its
// flusher whenever it gets there. If the peer is heard again meanwhile (a
// missed heartbeat under load, the very time the old flusher is stuck in
// awaitWindow, up to flowWait) the next send makes a fresh link, which
// publishes at once: a later envelope overtakes an earlier one from the
// same sender to the same receiver. Holding the old link's pubMu stands
// for its flusher being busy with the previous batch.
func TestLinkReplacementDoesNotReorder(t *testing.T) {
	a, b := rvPair(t, Config{}, Config{})
	got := make(chan int, 16)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
		if m, ok := c.Message().(*rvMsg); ok {
			got <- m.N
		}
	}), "seq")
	require.NoError(t, err)
	target := &actor.PID{Node: "b", ID: "seq"}

	old, err := a.node.link("b")
	require.NoError(t, err)
	old.pubMu.Lock() // the old flusher is busy publishing
	released := false
	defer func() {
		if !released {
			old.pubMu.Unlock()
		}
	}()
	a.sys.Send(target, &rvMsg{N: 1}) // into the old link's batch

	// b misses heartbeats: what loop does on expiry.
	for _, node := range a.node.members.expire(time.Now().Add(time.Hour), a.node.cfg.NodeTimeout) {
		a.node.nodeDown(node, "no heartbeat")
	}
	// b is heard again.
	require.Eventually(t, func() bool { p, _ := a.node.members.state("b"); return p.Alive }, 2*time.Second, 10*time.Millisecond)

	a.sys.Send(target, &rvMsg{N: 2}) // a fresh link
	time.Sleep(200 * time.Millisecond)
	old.pubMu.Unlock()
	released = true

	// The retired link drops what it still held (at-most-once allows
	// that), and the fresh one waits for it: 1 may be lost, but it never
	// arrives after 2.
	var order []int
	deadline := time.After(time.Second)
	for len(order) < 2 {
		select {
		case n := <-got:
			order = append(order, n)
			continue
		case <-deadline:
		}
		break
	}
	require.Contains(t, [][]int{{2}, {1, 2}}, order, "envelopes from a to b/seq reordered across a link replacement")
}

// ---------------------------------------------------------------------------
// Replies across incarnations.

// TestStaleReplyCannotCompleteNewIncarnationsRequest: request ids count from
// 1 in every process (pendingRequests.next), and a reply names only node
// and id. A reply to the previous incarnation of a node, sent after that
// node restarted under the same name, completes the new incarnation's
// request with the same id: with another actor's answer, to another
// question.
func TestStaleReplyCannotCompleteNewIncarnationsRequest(t *testing.T) {
	tok := NewToken()
	b := rvStart(t, Config{Node: "b", Token: tok})
	held := make(chan *actor.PID, 1)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(*rvMsg); ok {
			held <- c.Sender() // answered later
		}
	}), "slow")
	require.NoError(t, err)
	_, err = b.sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {}), "silent")
	require.NoError(t, err)

	a1 := rvStart(t, Config{Node: "a", Token: tok, Routes: []string{b.node.ClusterURL()}})
	rvWait(t, a1, b)
	a1.sys.RequestFuture(&actor.PID{Node: "b", ID: "slow"}, &rvMsg{N: 1}, 10*time.Second)
	var stale *actor.PID
	select {
	case stale = <-held:
	case <-time.After(3 * time.Second):
		t.Fatal("slow got no request")
	}
	a1.close()

	a2 := rvStart(t, Config{Node: "a", Token: tok, Routes: []string{b.node.ClusterURL()}})
	rvWait(t, a2, b)
	f := a2.sys.RequestFuture(&actor.PID{Node: "b", ID: "silent"}, &rvMsg{N: 100}, 2*time.Second)

	b.sys.Send(stale, &rvMsg{N: 2}) // slow answers a1's request at last
	res, err := f.Result(context.Background())
	t.Logf("a2's request to b/silent (sender id of a1's request: %s): %v, %v", stale.ID, res, err)
	require.Error(t, err, "a2's request to an actor that never answers completed with the answer to a1's request")
}

// ---------------------------------------------------------------------------
// Growth driven by peers.

// TestSenderCacheBound: senderCache says it "starts over when it grows
// past maxCachedSenders", but it bounds the nodes and the ids per node
// separately: up to maxCachedSenders² (16.7 M) PIDs. A peer naming many
// senders on a few node names grows it far past the bound.
func TestSenderCacheBound(t *testing.T) {
	var c senderCache
	for node := range 64 {
		for id := range maxCachedSenders {
			c.get([]byte(fmt.Sprintf("n%d", node)), []byte(fmt.Sprintf("$%d", id)))
		}
	}
	total := 0
	for _, m := range c.byNode {
		total += len(m)
	}
	require.LessOrEqual(t, total, maxCachedSenders, "senderCache holds %d PIDs on %d nodes", total, len(c.byNode))
}

// TestLinksToUnknownNodesAreFreed: every node name a send, a reply or
// a Terminated goes to gets a link with its own flusher goroutine, and
// only nodeDown removes links. A node never heard from never goes down,
// so its link stays for good. A peer makes as many as it likes: here it
// sends watch signals naming watchers on invented nodes for an actor that
// does not exist; the Terminated answer to each opens a link.
func TestLinksToUnknownNodesAreFreed(t *testing.T) {
	a, b := rvPair(t, Config{}, Config{})
	const ghosts = 200
	var batch []byte
	for i := range ghosts {
		batch = appendHeader(batch, &header{
			kind:   kindSignal,
			target: wirePID{node: "b", id: "nobody"},
			signal: uint64(actor.SignalWatch),
			pid:    wirePID{node: fmt.Sprintf("ghost%d", i), id: "w"},
		}, false)
	}
	require.NoError(t, a.node.nc.Publish(b.node.subjects.Inbox("b"), batch))
	require.NoError(t, a.node.nc.Flush())

	links := func() int {
		b.node.linksMu.RLock()
		defer b.node.linksMu.RUnlock()
		return len(b.node.links)
	}
	require.Eventually(t, func() bool { return links() >= ghosts }, 3*time.Second, 20*time.Millisecond)
	// Long after NodeTimeout (500 ms), the ghosts are still linked.
	time.Sleep(4 * b.node.cfg.NodeTimeout)
	require.LessOrEqual(t, links(), 1, "b keeps %d links (and flusher goroutines) to nodes it never heard from", links())
}

// ---------------------------------------------------------------------------
// Controls and further probes.

// TestReviewAckControl is TestAckStateResetDoesNotStallLink without the junk:
// the same 500 KiB go through at once.
func TestReviewAckControl(t *testing.T) {
	cfg := Config{MaxPayload: 64 << 10}
	a, b := rvPair(t, cfg, cfg)
	text := strings.Repeat("x", 1<<10)
	done := make(chan struct{})
	_, err := b.sys.SpawnNamed(rvSink(500, done), "sink")
	require.NoError(t, err)
	go func() {
		for i := range 500 {
			if a.sys.SendContext(context.Background(), &actor.PID{Node: "b", ID: "sink"}, &rvMsg{N: i, Text: text}) != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(4 * time.Second):
		t.Fatal("500 KiB not delivered within 4s")
	}
}

// TestCloseHonoursContext: Node.Close closes each link and waits for
// its flusher, which may sit in awaitWindow for flowWait (5 s) per batch
// while the peer is alive but not acknowledging; ctx does not bound it.
// The stuck window comes from TestPublishErrorDoesNotLeakFlowWindow's
// trigger; a slow peer does the same.
func TestCloseHonoursContext(t *testing.T) {
	cfg := Config{MaxPayload: 64 << 10}
	a, _ := rvPair(t, cfg, cfg)
	a.sys.Send(&actor.PID{Node: "b", ID: strings.Repeat("x", 130<<10)}, &rvMsg{N: 1})
	require.Eventually(t, func() bool { return a.node.Stats().SendErrors > 0 }, 2*time.Second, 10*time.Millisecond)
	a.sys.Send(&actor.PID{Node: "b", ID: "anyone"}, &rvMsg{N: 2}) // the flusher now waits for the window

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = a.node.Close(ctx)
	took := time.Since(start)
	t.Logf("Close with a 500ms context took %v", took)
	require.Less(t, took, 2*time.Second, "Close ignored its context")
}

// TestStaleLeavingNoticeIgnored: membership.heard takes any
// heartbeat with another incarnation as a restart, even a Leaving notice
// of an older incarnation arriving after the new one's first heartbeat
// (processes overlapping on restart). The live node is declared down:
// its requests fail and its watchers get Terminated(NodeDown).
func TestStaleLeavingNoticeIgnored(t *testing.T) {
	a, b := rvPair(t, Config{}, Config{})
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(func(*actor.Context) {}), "silent")
	require.NoError(t, err)
	f := a.sys.RequestFuture(&actor.PID{Node: "b", ID: "silent"}, &rvMsg{N: 1}, 3*time.Second)
	time.Sleep(100 * time.Millisecond)

	hb, err := Marshal(&heartbeat{Node: "b", Incarnation: b.node.incarnation ^ 2, MaxPayload: b.node.cfg.MaxPayload, Leaving: true})
	require.NoError(t, err)
	require.NoError(t, b.node.ctl.Publish(b.node.subjects.Heartbeat("b"), hb))
	require.NoError(t, b.node.ctl.Flush())
	time.Sleep(200 * time.Millisecond)

	select {
	case <-f.Done():
		_, err := f.Result(context.Background())
		t.Fatalf("a request to live node b failed on another incarnation's leaving notice: %v (a's nodes down: %d)", err, a.node.Stats().NodesDown)
	default:
	}
}

// TestReplyJustBeforeCloseArrives: a reply sent just before its node
// closes. The leaving heartbeat travels on the control connection, the
// reply on the data connection: if the heartbeat wins, the requester
// fails the request with NodeDownError although the reply was sent.
func TestReplyJustBeforeCloseArrives(t *testing.T) {
	const rounds = 10
	lost := 0
	for i := range rounds {
		tok := NewToken()
		a := rvStart(t, Config{Node: "a", Token: tok})
		b := rvStart(t, Config{Node: "b", Token: tok, Routes: []string{a.node.ClusterURL()}})
		rvWait(t, a, b)
		held := make(chan *actor.PID, 1)
		_, err := b.sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(*rvMsg); ok {
				held <- c.Sender()
			}
		}), "later")
		require.NoError(t, err)
		f := a.sys.RequestFuture(&actor.PID{Node: "b", ID: "later"}, &rvMsg{N: 1}, 5*time.Second)
		sender := <-held
		b.sys.Send(sender, &rvMsg{N: 2})
		b.close()
		res, err := f.Result(context.Background())
		if err != nil {
			lost++
			t.Logf("round %d: reply sent before Close, request failed: %v", i, err)
		} else {
			_ = res
		}
		a.close()
	}
	t.Logf("%d of %d replies sent just before Close were lost", lost, rounds)
	if lost > 0 {
		t.Errorf("replies sent before Close lost")
	}
}

// TestPeersBounded: membership keeps every node name it ever
// heard, alive or down, for good; anyone who can publish a heartbeat adds
// names (and a "node up" and a "node down" log line each, unthrottled).
func TestPeersBounded(t *testing.T) {
	a, b := rvPair(t, Config{}, Config{})
	for i := range maxPeers + 100 {
		hb, err := Marshal(&heartbeat{Node: fmt.Sprintf("fake%d", i), Incarnation: 1, MaxPayload: b.node.cfg.MaxPayload})
		require.NoError(t, err)
		require.NoError(t, b.node.ctl.Publish(b.node.subjects.Heartbeat(fmt.Sprintf("fake%d", i)), hb))
	}
	require.NoError(t, b.node.ctl.Flush())
	require.Eventually(t, func() bool { return len(a.node.Peers()) >= maxPeers }, 10*time.Second, 50*time.Millisecond)
	time.Sleep(2 * a.node.cfg.HeartbeatInterval)
	require.LessOrEqual(t, len(a.node.Peers()), maxPeers, "a remembers %d peers", len(a.node.Peers()))
}
