package bus_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// replyVia carries a PID inside a message: the receiver answers to To.
type replyVia struct {
	To *actor.PID `cbor:"1,keyasint"`
	N  int        `cbor:"2,keyasint"`
}

// notRegistered is never passed to bus.Register.
type notRegistered struct{ X int }

// seqNo is a sequence number on the fast path (bus.Appender and
// cbor.Unmarshaler): the cheapest message there is, so that the flow test
// spends its time on the bus rather than in the codec.
type seqNo uint64

func (s *seqNo) AppendCBOR(b []byte) ([]byte, error) { return bus.AppendUint(b, uint64(*s)), nil }

func (s *seqNo) UnmarshalCBOR(data []byte) error {
	d := bus.NewDecoder(data)
	v, err := d.Uint()
	*s = seqNo(v)
	return err
}

func init() {
	bus.Register[*replyVia]("test.remote.replyvia")
	bus.Register[*seqNo]("test.remote.seq")
}

// startPairWith starts two nodes "a" and "b" joined by a route, with the
// given configurations (Node, Token, ClusterListen and Routes are set here).
func startPairWith(t testing.TB, ca, cb bus.Config) (a, b *testNode) {
	t.Helper()
	tok := bus.NewToken()
	ca.Node, ca.Token, ca.ClusterListen = "a", tok, "127.0.0.1:0"
	a = startNode(t, ca)
	cb.Node, cb.Token, cb.ClusterListen, cb.Routes = "b", tok, "127.0.0.1:0", []string{a.node.ClusterURL()}
	b = startNode(t, cb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.node.WaitForNode(ctx, "b"))
	require.NoError(t, b.node.WaitForNode(ctx, "a"))
	return a, b
}

// recvWithin returns the next value from ch, failing the test after d.
func recvWithin[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no %s within %v", what, d)
	}
	var zero T
	return zero
}

// watcherOn spawns on tn an actor that watches target as soon as it
// starts and passes every Terminated it gets to the returned channel. The
// function returns once Watch has been called.
func watcherOn(t testing.TB, tn *testNode, target *actor.PID) (*actor.PID, <-chan actor.Terminated) {
	t.Helper()
	got := make(chan actor.Terminated, 8)
	watching := make(chan struct{})
	pid := tn.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Watch(target)
			close(watching)
		case actor.Terminated:
			got <- m
		}
	}))
	recvWithin(t, watching, 2*time.Second, "watch")
	return pid, got
}

// syncLink makes sure everything a sent to b before the call has been
// applied on b: a request travels the same link, in order, behind it, and
// system messages (watch) overtake user messages on b's side.
func syncLink(t testing.TB, a *testNode, echoOnB *actor.PID) {
	t.Helper()
	res, err := a.sys.Request(ctxTimeout(t, 2*time.Second), echoOnB, &ping{N: 7})
	require.NoError(t, err)
	require.Equal(t, pong{N: 8}, res)
}

// ---------------------------------------------------------------------------
// 1. The embedded default opens no port.

// listeningTCP returns the TCP sockets in LISTEN state that this process
// owns. /proc/self/net/tcp{,6} list every socket of the network namespace,
// so they are filtered by the socket inodes found behind /proc/self/fd:
// what remains are exactly this process's listeners, whatever port they
// use. (Probing 127.0.0.1:4222 would prove nothing: the embedded server
// would pick no fixed port, and another program may own 4222.)
func listeningTCP(t testing.TB) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	inodes := make(map[string]bool)
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	out := make(map[string]bool)
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			if f == "/proc/self/net/tcp" {
				t.Skipf("no %s: %v", f, err)
			}
			continue // no IPv6
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			if inodes[fields[9]] {
				out[f+" "+fields[1]] = true
			}
		}
	}
	return out
}

func TestEmbeddedDefaultHasNoListener(t *testing.T) {
	// The detector must see a listener when there is one, or the check
	// below would pass for nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	withProbe := listeningTCP(t)
	require.NoError(t, ln.Close())
	before := listeningTCP(t)
	require.Greater(t, len(withProbe), len(before), "the /proc scan does not see this process's listeners")

	solo := startNode(t, bus.Config{Node: "solo"})
	after := listeningTCP(t)
	for s := range after {
		assert.True(t, before[s], "the embedded default opened a TCP listener: %s", s)
	}
	assert.Empty(t, solo.node.ClientURL())
	assert.Empty(t, solo.node.ClusterURL())
	assert.NotEmpty(t, solo.node.Token(), "an embedded node makes its own token")

	// NATS works in-process all the same.
	sub, err := solo.node.Conn().SubscribeSync("probe")
	require.NoError(t, err)
	require.NoError(t, solo.node.Conn().Publish("probe", []byte("x")))
	m, err := sub.NextMsg(2 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "x", string(m.Data))

	// And local actors are found through their node's name.
	_, err = solo.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	res, err := solo.sys.Request(ctxTimeout(t, 2*time.Second), &actor.PID{Node: "solo", ID: "echo"}, &ping{N: 1})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 2}, res)
}

// ---------------------------------------------------------------------------
// 2. An external NATS deployment.

// startExternal runs a standalone nats-server on a free loopback port.
func startExternal(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(5*time.Second), "external nats-server not ready")
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// startFails starts a node that must not start, and returns the error.
func startFails(t testing.TB, cfg bus.Config) error {
	t.Helper()
	cfg.Logger = quiet
	sys := actor.NewSystem(actor.WithNode(cfg.Node), actor.WithLogger(quiet))
	t.Cleanup(func() { _ = sys.Shutdown(ctxTimeout(t, 5*time.Second)) })
	start := time.Now()
	n, err := bus.Start(ctxTimeout(t, 5*time.Second), sys, cfg)
	if n != nil {
		_ = n.Close(ctxTimeout(t, 5*time.Second))
	}
	assert.Less(t, time.Since(start), 3*time.Second, "a refused connection should fail fast")
	return err
}

// externalPair starts nodes a and b on srv with the credentials in cfg.
func externalPair(t testing.TB, cfg bus.Config) (a, b *testNode) {
	t.Helper()
	ca, cb := cfg, cfg
	ca.Node, cb.Node = "a", "b"
	a = startNode(t, ca)
	b = startNode(t, cb)
	ctx := ctxTimeout(t, 5*time.Second)
	require.NoError(t, a.node.WaitForNode(ctx, "b"))
	require.NoError(t, b.node.WaitForNode(ctx, "a"))
	return a, b
}

func TestExternalNATSUserPassword(t *testing.T) {
	srv := startExternal(t, &server.Options{Users: []*server.User{{Username: "u", Password: "p"}}})
	a, b := externalPair(t, bus.Config{URL: srv.ClientURL(), User: "u", Password: "p"})
	assert.Empty(t, a.node.ClientURL(), "no embedded server")
	assert.Empty(t, a.node.ClusterURL())

	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	res, err := a.sys.Request(ctxTimeout(t, 2*time.Second), &actor.PID{Node: "b", ID: "echo"}, &ping{N: 9})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 10}, res)

	err = startFails(t, bus.Config{Node: "c", URL: srv.ClientURL(), User: "u", Password: "wrong"})
	require.Error(t, err, "a wrong password must fail Start")
	err = startFails(t, bus.Config{Node: "d", URL: srv.ClientURL()})
	require.Error(t, err, "no credentials must fail Start")
}

func TestExternalNATSToken(t *testing.T) {
	srv := startExternal(t, &server.Options{Authorization: "s3cret-token"})
	a, b := externalPair(t, bus.Config{URL: srv.ClientURL(), Token: "s3cret-token"})
	assert.Equal(t, "s3cret-token", a.node.Token())

	_, err := a.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	res, err := b.sys.Request(ctxTimeout(t, 2*time.Second), &actor.PID{Node: "a", ID: "echo"}, &ping{N: 1})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 2}, res)

	err = startFails(t, bus.Config{Node: "c", URL: srv.ClientURL(), Token: "wrong"})
	require.Error(t, err, "a wrong token must fail Start")
}

// ---------------------------------------------------------------------------
// 3. Order per sender–receiver pair, and batching.

// sequenceChecker is an actor that expects *ping N (or *seqNo) = 0, 1,
// 2, ... and reports the first gap, or nil once it has counted n.
// pauseEvery > 0 makes it sleep 1ms every pauseEvery messages.
func sequenceChecker(n, pauseEvery int, result chan<- error) *actor.Props {
	next := 0
	return actor.PropsFromFunc(func(c *actor.Context) {
		var seq int
		switch m := c.Message().(type) {
		case *ping:
			seq = m.N
		case *seqNo:
			seq = int(*m)
		default:
			return
		}
		if next < 0 {
			return
		}
		if seq != next {
			result <- fmt.Errorf("out of order: got %d, want %d", seq, next)
			next = -1
			return
		}
		next++
		if pauseEvery > 0 && next%pauseEvery == 0 {
			time.Sleep(time.Millisecond)
		}
		if next == n {
			result <- nil
		}
	})
}

func TestOrderPerPairAndBatching(t *testing.T) {
	const n = 20000
	a, b := startPair(t)
	result := make(chan error, 1)
	_, err := b.sys.SpawnNamed(sequenceChecker(n, 0, result), "seq")
	require.NoError(t, err)
	target := &actor.PID{Node: "b", ID: "seq"}

	start := time.Now()
	a.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Started); ok {
			for i := range n {
				c.Send(target, &ping{N: i})
			}
		}
	}))
	require.NoError(t, recvWithin(t, result, 10*time.Second, "complete sequence"))
	t.Logf("%d messages in order in %v", n, time.Since(start))

	sa, sb := a.node.Stats(), b.node.Stats()
	t.Logf("a: sent %d in %d batches; b: received %d", sa.Sent, sa.Batches, sb.Received)
	assert.GreaterOrEqual(t, sa.Sent, uint64(n))
	assert.GreaterOrEqual(t, sb.Received, uint64(n))
	assert.Less(t, sa.Batches*10, sa.Sent, "expected batching: %d envelopes in %d batches", sa.Sent, sa.Batches)
	assert.Zero(t, sa.SendErrors)
	assert.Zero(t, sb.Undeliverable)
	assert.Zero(t, b.sys.DeadLetterCount())
}

// ---------------------------------------------------------------------------
// 4. Remote Watch, Stop, Poison, Unwatch.

func TestRemoteWatchStopGivesReasonStopped(t *testing.T) {
	a, b := startPair(t)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "target")
	require.NoError(t, err)
	target := &actor.PID{Node: "b", ID: "target"}

	_, got := watcherOn(t, a, target)
	syncLink(t, a, target) // the watch is in place on b

	a.sys.Stop(target)
	m := recvWithin(t, got, 2*time.Second, "Terminated")
	assert.Equal(t, actor.ReasonStopped, m.Reason, "got %v", m.Reason)
	assert.True(t, m.PID.Equal(target), "Terminated for %v", m.PID)
	assert.Eventually(t, func() bool { return b.sys.Lookup("target") == nil }, 2*time.Second, 5*time.Millisecond)
	assert.Zero(t, a.node.Stats().NodesDown)

	// Stopped means gone: a request now dead-letters.
	_, err = a.sys.Request(ctxTimeout(t, 2*time.Second), target, &ping{N: 1})
	assert.ErrorIs(t, err, actor.ErrDeadLetter)
}

func TestRemotePoisonHandlesQueuedFirst(t *testing.T) {
	const k = 50
	a, b := startPair(t)
	echoB, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	echoB = &actor.PID{Node: "b", ID: echoB.ID}

	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	stopped := make(chan []int, 1)
	var handled []int
	_, err = b.sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case *ping:
			if m.N == 0 {
				<-gate // hold the actor so that the rest queues up
			}
			handled = append(handled, m.N)
		case actor.Stopped:
			stopped <- slices.Clone(handled)
		}
	}), "poisoned")
	require.NoError(t, err)
	target := &actor.PID{Node: "b", ID: "poisoned"}

	_, got := watcherOn(t, a, target)
	syncLink(t, a, echoB)

	base := b.node.Stats().Received
	for i := 0; i <= k; i++ {
		a.sys.Send(target, &ping{N: i})
	}
	a.sys.Poison(target)
	a.sys.Send(target, &ping{N: k + 1}) // behind the poison: never handled
	// k+1 pings, the poison, one more ping.
	require.Eventually(t, func() bool { return b.node.Stats().Received >= base+uint64(k+3) },
		2*time.Second, time.Millisecond, "the messages did not reach b")
	open()

	h := recvWithin(t, stopped, 2*time.Second, "Stopped")
	want := make([]int, k+1)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, h, "the messages queued before the poison are handled first, in order")
	m := recvWithin(t, got, 2*time.Second, "Terminated")
	assert.Equal(t, actor.ReasonStopped, m.Reason, "got %v", m.Reason)
	assert.True(t, m.PID.Equal(target))
}

func TestRemoteWatchThenUnwatchGetsNoTerminated(t *testing.T) {
	a, b := startPair(t)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	echoB := &actor.PID{Node: "b", ID: "echo"}
	_, err = b.sys.SpawnNamed(actor.PropsFromFunc(echo), "target")
	require.NoError(t, err)
	target := &actor.PID{Node: "b", ID: "target"}

	type query struct{}
	unwatched := make(chan []actor.Terminated, 4)
	var seen []actor.Terminated
	w := a.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Watch(target)
		case string:
			switch m {
			case "unwatch":
				c.Unwatch(target)
			case "rewatch":
				c.Unwatch(target)
				c.Watch(target)
			}
			c.Respond(true)
		case query:
			c.Respond(slices.Clone(seen))
		case actor.Terminated:
			seen = append(seen, m)
			unwatched <- seen
		}
	}))
	// A second watcher, to know when b's news of the stop has come.
	_, other := watcherOn(t, a, target)
	ctx := ctxTimeout(t, 5*time.Second)
	_, err = a.sys.Request(ctx, w, "unwatch")
	require.NoError(t, err)
	syncLink(t, a, echoB)

	a.sys.Stop(target)
	recvWithin(t, other, 2*time.Second, "Terminated to the other watcher")
	// Whatever b sent before this reply has been applied on a, and the
	// watcher's system messages overtake the query.
	syncLink(t, a, echoB)
	res, err := a.sys.Request(ctx, w, query{})
	require.NoError(t, err)
	assert.Empty(t, res, "Terminated after Unwatch")

	// Watch, unwatch, watch again: exactly one Terminated.
	_, err = b.sys.SpawnNamed(actor.PropsFromFunc(echo), "target2")
	require.NoError(t, err)
	target2 := &actor.PID{Node: "b", ID: "target2"}
	got2 := make(chan actor.Terminated, 4)
	w2 := a.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case string:
			c.Watch(target2)
			c.Unwatch(target2)
			c.Watch(target2)
			c.Respond(true)
		case actor.Terminated:
			got2 <- m
		}
	}))
	_, err = a.sys.Request(ctx, w2, "go")
	require.NoError(t, err)
	syncLink(t, a, echoB)
	a.sys.Stop(target2)
	m := recvWithin(t, got2, 2*time.Second, "Terminated after re-watch")
	assert.Equal(t, actor.ReasonStopped, m.Reason)
	syncLink(t, a, echoB)
	select {
	case m := <-got2:
		t.Fatalf("second Terminated: %+v", m)
	default:
	}
}

func TestRemoteWatchUnknownActorNotFound(t *testing.T) {
	a, _ := startPair(t)
	nobody := &actor.PID{Node: "b", ID: "nobody"}
	_, got := watcherOn(t, a, nobody)
	m := recvWithin(t, got, 2*time.Second, "Terminated")
	assert.Equal(t, actor.ReasonNotFound, m.Reason, "got %v", m.Reason)
	assert.True(t, m.PID.Equal(nobody))
}

// ---------------------------------------------------------------------------
// 5. Replies inside actors, and PIDs inside messages.

func TestRespondToRemoteRequestsInsideActor(t *testing.T) {
	a, b := startPair(t)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	remote := &actor.PID{Node: "b", ID: "echo"}

	type outcome struct {
		res    any
		err    error
		sender *actor.PID
	}
	results := make(chan outcome, 4)
	a.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			// Waiting on a future inside Receive.
			f := c.RequestFuture(remote, &ping{N: 1}, 2*time.Second)
			res, err := f.Result(context.Background())
			results <- outcome{res: res, err: err}
			// The reply as an ordinary message, from the remote actor.
			c.Request(remote, &ping{N: 10})
		case pong:
			results <- outcome{res: m, sender: c.Sender()}
		}
	}))
	o := recvWithin(t, results, 3*time.Second, "RequestFuture result")
	require.NoError(t, o.err)
	assert.Equal(t, pong{N: 2}, o.res)
	o = recvWithin(t, results, 3*time.Second, "reply to c.Request")
	assert.Equal(t, pong{N: 11}, o.res)
	require.NotNil(t, o.sender, "the reply's sender")
	assert.True(t, o.sender.Equal(remote), "sender %v, want %v", o.sender, remote)
}

func TestPIDInMessageRepliesToUnnamedActor(t *testing.T) {
	a, b := startPair(t)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
		if m, ok := c.Message().(*replyVia); ok {
			c.Send(m.To, pong{N: m.N * 2})
		}
	}), "relay")
	require.NoError(t, err)
	relay := &actor.PID{Node: "b", ID: "relay"}

	type got struct {
		msg    pong
		sender *actor.PID
	}
	replies := make(chan got, 2)
	collector := a.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if m, ok := c.Message().(pong); ok {
			replies <- got{msg: m, sender: c.Sender()}
		}
	}))
	assert.Nil(t, a.sys.Lookup(collector.ID), "an unnamed actor is not registered before its PID leaves")

	a.sys.Send(relay, &replyVia{To: collector, N: 21})
	r := recvWithin(t, replies, 2*time.Second, "reply to the PID in the message")
	assert.Equal(t, pong{N: 42}, r.msg)
	assert.Nil(t, r.sender)
	assert.NotNil(t, a.sys.Lookup(collector.ID), "marshalling the PID exported the actor")

	// Once the actor stops its id is no longer reachable.
	a.sys.Stop(collector)
	require.Eventually(t, func() bool { return a.sys.Lookup(collector.ID) == nil }, 2*time.Second, 5*time.Millisecond)
	dl := a.sys.DeadLetterCount()
	a.sys.Send(relay, &replyVia{To: collector, N: 1})
	require.Eventually(t, func() bool { return a.sys.DeadLetterCount() > dl }, 2*time.Second, 5*time.Millisecond,
		"a reply to a stopped exported actor goes to dead letters")
}

// ---------------------------------------------------------------------------
// 6. Errors.

func TestUnregisteredTypeSendContextKeepsLink(t *testing.T) {
	a, b := startPair(t)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	remote := &actor.PID{Node: "b", ID: "echo"}
	ctx := ctxTimeout(t, 2*time.Second)

	err = a.sys.SendContext(ctx, remote, notRegistered{X: 1})
	require.ErrorIs(t, err, bus.ErrUnregisteredType)
	err = a.sys.SendContext(ctx, remote, &notRegistered{X: 1})
	require.ErrorIs(t, err, bus.ErrUnregisteredType)
	assert.GreaterOrEqual(t, a.node.Stats().SendErrors, uint64(2))

	res, err := a.sys.Request(ctx, remote, &ping{N: 3})
	require.NoError(t, err, "the link keeps working")
	assert.Equal(t, pong{N: 4}, res)
}

func TestTooLargeSenderSideKeepsLink(t *testing.T) {
	cfg := bus.Config{MaxPayload: 256 << 10, MaxMessageBytes: 64 << 10}
	a, b := startPairWith(t, cfg, cfg)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	remote := &actor.PID{Node: "b", ID: "echo"}
	ctx := ctxTimeout(t, 5*time.Second)
	big := &ping{N: 1, Text: strings.Repeat("x", 100<<10)}

	start := time.Now()
	_, err = a.sys.Request(ctx, remote, big)
	require.ErrorIs(t, err, bus.ErrTooLarge)
	var tl *bus.TooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, 64<<10, tl.Limit)
	assert.Greater(t, tl.Size, 100<<10)
	assert.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, a.sys.SendContext(ctx, remote, big), bus.ErrTooLarge)

	// Just under the limit goes through.
	res, err := a.sys.Request(ctx, remote, &ping{N: 5, Text: strings.Repeat("y", 60<<10)})
	require.NoError(t, err, "the link keeps working")
	assert.Equal(t, pong{N: 6}, res)
}

func TestTooLargeReceiverSideFailsRequest(t *testing.T) {
	// a may send 128 KiB bodies; b accepts at most 64 KiB.
	a, b := startPairWith(t,
		bus.Config{MaxPayload: 256 << 10, MaxMessageBytes: 128 << 10},
		bus.Config{MaxPayload: 256 << 10, MaxMessageBytes: 64 << 10})
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	remote := &actor.PID{Node: "b", ID: "echo"}
	ctx := ctxTimeout(t, 5*time.Second)

	start := time.Now()
	_, err = a.sys.Request(ctx, remote, &ping{N: 1, Text: strings.Repeat("x", 100<<10)})
	require.ErrorIs(t, err, bus.ErrTooLarge)
	var re *bus.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, bus.CodeTooLarge, re.Code)
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, uint64(1), b.node.Stats().Oversized)

	res, err := a.sys.Request(ctx, remote, &ping{N: 5})
	require.NoError(t, err, "the link keeps working")
	assert.Equal(t, pong{N: 6}, res)
}

func TestDeadLetterRemoteRequestFailsFast(t *testing.T) {
	a, _ := startPair(t)
	nobody := &actor.PID{Node: "b", ID: "nobody"}

	start := time.Now()
	_, err := a.sys.Request(ctxTimeout(t, 30*time.Second), nobody, &ping{N: 1})
	require.ErrorIs(t, err, actor.ErrDeadLetter)
	var re *bus.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, bus.CodeDeadLetter, re.Code)
	assert.Less(t, time.Since(start), time.Second)

	// The same from a future with a long timeout.
	start = time.Now()
	_, err = a.sys.RequestFuture(nobody, &ping{N: 2}, 30*time.Second).Result(ctxTimeout(t, 30*time.Second))
	require.ErrorIs(t, err, actor.ErrDeadLetter)
	assert.Less(t, time.Since(start), time.Second)
}

// ---------------------------------------------------------------------------
// 7. A node leaving cleanly, and a node never seen.

func TestLeavingNodeNotifiesWatchersAndFailsRequests(t *testing.T) {
	// A long NodeTimeout: only the Leaving heartbeat can explain a quick
	// notice.
	cfg := bus.Config{HeartbeatInterval: 100 * time.Millisecond, NodeTimeout: 3 * time.Second}
	a, b := startPairWith(t, cfg, cfg)
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "target")
	require.NoError(t, err)
	_, err = b.sys.SpawnNamed(actor.PropsFromFunc(func(*actor.Context) {}), "sink")
	require.NoError(t, err)
	target := &actor.PID{Node: "b", ID: "target"}

	_, got := watcherOn(t, a, target)
	syncLink(t, a, target)
	pending := a.sys.RequestFuture(&actor.PID{Node: "b", ID: "sink"}, &ping{N: 1}, 30*time.Second)

	// Close the node only: its actors are still alive, so the watcher can
	// only learn of the end from the node leaving.
	closed := time.Now()
	require.NoError(t, b.node.Close(ctxTimeout(t, 5*time.Second)))
	m := recvWithin(t, got, 2*time.Second, "Terminated")
	took := time.Since(closed)
	t.Logf("Terminated %v after Close", took)
	assert.Equal(t, actor.ReasonNodeDown, m.Reason, "got %v", m.Reason)
	assert.True(t, m.PID.Equal(target))
	assert.Less(t, took, time.Second, "well before NodeTimeout (%v)", cfg.NodeTimeout)

	_, err = pending.Result(ctxTimeout(t, 5*time.Second))
	require.ErrorIs(t, err, bus.ErrNodeDown)
	var nd *bus.NodeDownError
	require.ErrorAs(t, err, &nd)
	assert.Equal(t, "b", nd.Node)
	assert.Equal(t, "left", nd.Reason)
	assert.Less(t, time.Since(closed), time.Second)

	// Known down: a new request fails at once.
	start := time.Now()
	_, err = a.sys.Request(ctxTimeout(t, 30*time.Second), target, &ping{N: 1})
	require.ErrorIs(t, err, bus.ErrNodeDown)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
	// And a new watch gets Terminated at once.
	_, got = watcherOn(t, a, target)
	m = recvWithin(t, got, time.Second, "Terminated for a watch after leave")
	assert.Equal(t, actor.ReasonNodeDown, m.Reason)
	for _, p := range a.node.Peers() {
		if p.Node == "b" {
			assert.False(t, p.Alive)
		}
	}
}

func TestNeverSeenNodeRequestFails(t *testing.T) {
	solo := startNode(t, bus.Config{Node: "solo"}) // heartbeats 100ms, timeout 500ms
	const nodeTimeout, heartbeat = 500 * time.Millisecond, 100 * time.Millisecond

	start := time.Now()
	_, err := solo.sys.Request(ctxTimeout(t, 30*time.Second), &actor.PID{Node: "ghost", ID: "echo"}, &ping{N: 1})
	took := time.Since(start)
	t.Logf("request to a never-seen node failed after %v", took)
	require.ErrorIs(t, err, bus.ErrNodeDown)
	var nd *bus.NodeDownError
	require.ErrorAs(t, err, &nd)
	assert.Equal(t, "ghost", nd.Node)
	assert.Equal(t, "never seen", nd.Reason)
	assert.GreaterOrEqual(t, took, nodeTimeout)
	assert.Less(t, took, nodeTimeout+heartbeat+400*time.Millisecond)

	// SpawnOn a node never seen fails the same way.
	start = time.Now()
	_, err = solo.node.SpawnOn(ctxTimeout(t, 30*time.Second), "ghost", "test.echo")
	require.ErrorIs(t, err, bus.ErrNodeDown)
	assert.Less(t, time.Since(start), nodeTimeout+heartbeat+400*time.Millisecond)
}

// ---------------------------------------------------------------------------
// 8. SpawnOn.

func TestSpawnOnWithNameTwiceFails(t *testing.T) {
	a, b := startPair(t)
	ctx := ctxTimeout(t, 5*time.Second)
	pid, err := a.node.SpawnOn(ctx, "b", "test.echo", bus.WithName("svc"))
	require.NoError(t, err)
	assert.Equal(t, "b", pid.Node)
	assert.Equal(t, "svc", pid.ID)
	assert.NotNil(t, b.sys.Lookup("svc"))
	res, err := a.sys.Request(ctx, pid, &ping{N: 1})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 2}, res)

	_, err = a.node.SpawnOn(ctx, "b", "test.echo", bus.WithName("svc"))
	require.ErrorIs(t, err, actor.ErrNameTaken)
	// The first one is unharmed.
	res, err = a.sys.Request(ctx, &actor.PID{Node: "b", ID: "svc"}, &ping{N: 3})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 4}, res)
}

func TestSpawnOnLocalNode(t *testing.T) {
	a, b := startPair(t)
	ctx := ctxTimeout(t, 5*time.Second)
	pid, err := a.node.SpawnOn(ctx, "a", "test.echo")
	require.NoError(t, err)
	assert.Equal(t, "a", pid.Node)
	res, err := a.sys.Request(ctx, pid, &ping{N: 1})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 2}, res)
	// Spawned for remote use: b can reach it by node and id.
	res, err = b.sys.Request(ctx, &actor.PID{Node: "a", ID: pid.ID}, &ping{N: 5})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 6}, res)

	named, err := a.node.SpawnOn(ctx, "a", "test.echo", bus.WithName("local"))
	require.NoError(t, err)
	assert.Equal(t, "local", named.ID)
	_, err = a.node.SpawnOn(ctx, "a", "test.echo", bus.WithName("local"))
	require.ErrorIs(t, err, actor.ErrNameTaken)
	_, err = a.node.SpawnOn(ctx, "a", "test.nope")
	require.ErrorIs(t, err, bus.ErrUnknownKind)
}

// ---------------------------------------------------------------------------
// 9. Flow control.

func TestFlowControlSlowReceiverLosesNothing(t *testing.T) {
	const n = 200000
	cfg := bus.Config{MaxPayload: 128 << 10} // flow window 256 KiB
	a, b := startPairWith(t, cfg, cfg)
	result := make(chan error, 1)
	_, err := b.sys.SpawnNamed(sequenceChecker(n, 1000, result), "slow")
	require.NoError(t, err)
	target := &actor.PID{Node: "b", ID: "slow"}

	start := time.Now()
	ctx := ctxTimeout(t, 20*time.Second)
	for i := range n {
		seq := seqNo(i)
		if err := a.sys.SendContext(ctx, target, &seq); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	sent := time.Since(start)
	require.NoError(t, recvWithin(t, result, 20*time.Second, "all messages"))
	sa, sb := a.node.Stats(), b.node.Stats()
	t.Logf("%d messages: sent in %v, all handled after %v; a: %d envelopes in %d batches; b received %d",
		n, sent, time.Since(start), sa.Sent, sa.Batches, sb.Received)
	assert.Zero(t, sa.SlowConsumer)
	assert.Zero(t, sb.SlowConsumer)
	assert.Zero(t, sa.SendErrors)
	assert.GreaterOrEqual(t, sb.Received, uint64(n))
	assert.Zero(t, b.sys.DeadLetterCount())
}

// ---------------------------------------------------------------------------
// Regressions: bugs these tests found, fixed since.

// A RemoteError names the node where the request failed.
func TestRemoteErrorNamesTheFailingNode(t *testing.T) {
	a, _ := startPair(t)
	_, err := a.sys.Request(ctxTimeout(t, 5*time.Second), &actor.PID{Node: "b", ID: "nobody"}, &ping{N: 1})
	require.ErrorIs(t, err, actor.ErrDeadLetter)
	var re *bus.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "b", re.Node, "RemoteError.Node; error text: %q", err.Error())
}

// When a peer restarts under the same name, the link to it starts afresh:
// its flow window must not keep counting the old incarnation's bytes, or
// every batch would wait out flowWait.
func TestFlowWindowResetsWhenPeerRestarts(t *testing.T) {
	const perMsg = 1 << 10
	cfg := bus.Config{MaxPayload: 128 << 10} // flow window 256 KiB
	a, b := startPairWith(t, cfg, cfg)
	text := strings.Repeat("x", perMsg)

	run := func(b *testNode, n int, d time.Duration) error {
		result := make(chan error, 1)
		_, err := b.sys.SpawnNamed(sequenceChecker(n, 0, result), "seq")
		require.NoError(t, err)
		target := &actor.PID{Node: "b", ID: "seq"}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := range n {
				select {
				case <-stop:
					return
				default:
				}
				if a.sys.SendContext(context.Background(), target, &ping{N: i, Text: text}) != nil {
					return
				}
			}
		}()
		select {
		case err := <-result:
			return err
		case <-time.After(d):
			return fmt.Errorf("%d messages of %d bytes not delivered within %v", n, perMsg, d)
		}
	}
	// 2 MiB to the first incarnation of b: a's link has 2 MiB acknowledged.
	require.NoError(t, run(b, 2048, 5*time.Second))

	tok := a.node.Token()
	b.close()
	cb := cfg
	cb.Node, cb.Token, cb.ClusterListen, cb.Routes = "b", tok, "127.0.0.1:0", []string{a.node.ClusterURL()}
	b2 := startNode(t, cb)
	ctx := ctxTimeout(t, 5*time.Second)
	require.NoError(t, a.node.WaitForNode(ctx, "b"))
	require.NoError(t, b2.node.WaitForNode(ctx, "a"))

	// 1 MiB to the new incarnation: four windows.
	start := time.Now()
	err := run(b2, 1024, 2*time.Second)
	t.Logf("after restart: %v in %v", err, time.Since(start))
	assert.NoError(t, err)
}

// A request forwarded back to an actor on the requester's own node
// completes: the responder's reply goes straight to the local future.
func TestForwardBackToRequesterNodeReplies(t *testing.T) {
	a, b := startPair(t)
	_, err := a.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	_, err = b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	for _, to := range []string{"b", "a"} {
		_, err = b.sys.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(*ping); ok {
				c.Forward(&actor.PID{Node: to, ID: "echo"})
			}
		}), "fwd-"+to)
		require.NoError(t, err)
	}
	// a -> b -> b works.
	res, err := a.sys.Request(ctxTimeout(t, 2*time.Second), &actor.PID{Node: "b", ID: "fwd-b"}, &ping{N: 1})
	require.NoError(t, err)
	require.Equal(t, pong{N: 2}, res)

	// a -> b -> a: the reply is dead-lettered on a, the request times out.
	dl := a.sys.DeadLetterCount()
	start := time.Now()
	res, err = a.sys.Request(ctxTimeout(t, time.Second), &actor.PID{Node: "b", ID: "fwd-a"}, &ping{N: 1})
	t.Logf("forward back: %v, %v after %v; dead letters on a: +%d", res, err, time.Since(start), a.sys.DeadLetterCount()-dl)
	require.NoError(t, err)
	assert.Equal(t, pong{N: 2}, res)
}

// Watching an actor on a node that never appears ends like a request to
// it: Terminated with ReasonNodeDown after NodeTimeout.
func TestWatchOfNeverSeenNodeEnds(t *testing.T) {
	solo := startNode(t, bus.Config{Node: "solo"}) // heartbeats 100ms, timeout 500ms
	_, got := watcherOn(t, solo, &actor.PID{Node: "ghost", ID: "x"})
	m := recvWithin(t, got, 1500*time.Millisecond, "Terminated for a watch of a never-seen node")
	assert.Equal(t, actor.ReasonNodeDown, m.Reason)
}

// On an external NATS with a smaller max_payload, the node lowers its own
// limits to the server's, so a message too large for the server fails its
// send instead of being lost with its whole batch.
func TestExternalServerMaxPayloadHonoured(t *testing.T) {
	srv := startExternal(t, &server.Options{Authorization: "tok"}) // max_payload: 1 MiB
	a, b := externalPair(t, bus.Config{URL: srv.ClientURL(), Token: "tok"})
	require.Equal(t, int64(1<<20), a.node.Conn().MaxPayload())
	_, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	remote := &actor.PID{Node: "b", ID: "echo"}

	// The body is exactly MaxMessageBytes (1 MiB): map head, 2 keys, N,
	// a 5-byte text head and the text.
	big := &ping{N: 1, Text: strings.Repeat("x", 1<<20-9)}
	start := time.Now()
	res, err := a.sys.Request(ctxTimeout(t, 1500*time.Millisecond), remote, big)
	t.Logf("1 MiB body over a 1 MiB server: %v after %v; a's send errors: %d", err, time.Since(start), a.node.Stats().SendErrors)
	if err != nil {
		assert.ErrorIs(t, err, bus.ErrTooLarge, "a message the server cannot carry should fail at once")
	} else {
		assert.Equal(t, pong{N: 2}, res)
	}
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the request waited for its deadline")
}
