package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/bus/internal/bustest"
)

// cluster is the cluster name busnode uses by default.
const cluster = "test"

func TestTwoProcessPingPongOverTCP(t *testing.T) {
	tf := tokenFile(t)
	a := startProc(t, "-node", "a", "-cluster-listen", "127.0.0.1:0", "-token-file", tf)
	b := startProc(t, "-node", "b", "-cluster-listen", "127.0.0.1:0", "-token-file", tf,
		"-routes", a.ClusterURL, "-run", "pingpong", "-peer", "a", "-n", "1000")
	require.NoError(t, b.Wait(60*time.Second), b.Stderr())
	assert.Contains(t, b.Output(), "PINGPONG ok n=1000 from=b to=a")
}

func TestThreeNodeClusterJoinsThroughRoutes(t *testing.T) {
	tf := tokenFile(t)
	// a asks c; a knows nobody, b knows a, c knows only b: the servers
	// must gossip their way to a full mesh for a's requests to reach c.
	a := startProc(t, "-node", "a", "-cluster-listen", "127.0.0.1:0", "-token-file", tf,
		"-run", "request", "-peer", "c", "-n", "200", "-wait", "45s")
	b := startProc(t, "-node", "b", "-cluster-listen", "127.0.0.1:0", "-token-file", tf, "-routes", a.ClusterURL)
	startProc(t, "-node", "c", "-cluster-listen", "127.0.0.1:0", "-token-file", tf, "-routes", b.ClusterURL)
	require.NoError(t, a.Wait(60*time.Second), a.Stderr())
	assert.Contains(t, a.Output(), "PINGPONG ok n=200 from=a to=c")
}

// joinProc joins an in-process node "t" to the process p's cluster.
func joinProc(t *testing.T, p *proc, tf string, cfg bus.Config) *testNode {
	t.Helper()
	tok, err := bus.LoadOrCreateToken(tf)
	require.NoError(t, err)
	cfg.Node, cfg.Cluster, cfg.Token = "t", cluster, tok
	if cfg.URL == "" {
		cfg.ClusterListen, cfg.Routes = "127.0.0.1:0", []string{p.ClusterURL}
	}
	tn := startNode(t, cfg)
	require.NoError(t, tn.node.WaitForNode(ctxTimeout(t, 20*time.Second), p.Node))
	return tn
}

func TestKillNineNotifiesWatchersAndFailsRequests(t *testing.T) {
	tf := tokenFile(t)
	a := startProc(t, "-node", "a", "-cluster-listen", "127.0.0.1:0", "-token-file", tf)
	// The defaults: heartbeats every 500ms, a node is down after 2s.
	tn := joinProc(t, a, tf, bus.Config{HeartbeatInterval: bus.DefaultHeartbeatInterval, NodeTimeout: bus.DefaultNodeTimeout})
	echo := &actor.PID{Node: "a", ID: "echo"}
	res, err := tn.sys.Request(ctxTimeout(t, 5*time.Second), echo, &bustest.Ping{N: 1})
	require.NoError(t, err)
	require.Equal(t, bustest.Pong{N: 2}, res)

	ended := make(chan actor.Terminated, 1)
	tn.sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Watch(echo)
		case actor.Terminated:
			ended <- m
		}
	}))
	// A request that will never be answered: the sink answers Count only
	// once it has counted that many ticks.
	pending := tn.sys.RequestFuture(&actor.PID{Node: "a", ID: "sink"}, &bustest.Count{At: 1 << 40}, time.Minute)
	// Make sure the watch and the request reached a before it dies.
	_, err = tn.sys.Request(ctxTimeout(t, 5*time.Second), echo, &bustest.Ping{N: 2})
	require.NoError(t, err)

	killed := time.Now()
	a.Kill()
	select {
	case m := <-ended:
		took := time.Since(killed)
		assert.Equal(t, actor.ReasonNodeDown, m.Reason)
		assert.True(t, m.PID.Equal(echo))
		assert.LessOrEqual(t, took, 3*time.Second, "watcher notified after %v", took)
		t.Logf("watcher got Terminated %v after kill -9", took)
	case <-time.After(10 * time.Second):
		t.Fatal("no Terminated within 10s of kill -9")
	}
	_, err = pending.Result(ctxTimeout(t, 5*time.Second))
	require.ErrorIs(t, err, bus.ErrNodeDown)
	assert.Less(t, time.Since(killed), 5*time.Second)

	// A request made after the node is known down fails at once.
	start := time.Now()
	_, err = tn.sys.Request(ctxTimeout(t, 30*time.Second), echo, &bustest.Ping{N: 3})
	require.ErrorIs(t, err, bus.ErrNodeDown)
	assert.Less(t, time.Since(start), time.Second)
}

func TestInboxSurvivesHostileInput(t *testing.T) {
	tf := tokenFile(t)
	a := startProc(t, "-node", "a", "-listen", "127.0.0.1:0", "-token-file", tf)
	tok, err := bus.LoadOrCreateToken(tf)
	require.NoError(t, err)
	// This node has no server of its own: it connects to a's, as a worker
	// process would, or as any node pointed at an existing NATS.
	tn := joinProc(t, a, tf, bus.Config{URL: a.ClientURL})

	raw, err := nats.Connect(a.ClientURL, nats.Token(tok))
	require.NoError(t, err)
	defer raw.Close()
	inbox := bus.NewSubjects(cluster).Inbox("a")
	valid := mustCBOR(t, map[uint64]any{1: 1, 2: "a", 3: "echo", 8: "bustest.ping", 15: mustCBOR(t, &bustest.Ping{N: 1})})
	hostile := map[string][]byte{
		"garbage":   []byte("\xff\x00 this is not CBOR \x1f\x9f"),
		"truncated": valid[:len(valid)-3],
		"unknown":   mustCBOR(t, map[uint64]any{1: 1, 2: "a", 3: "echo", 8: "no.such.type", 15: []byte{0xa0}}),
		"oversized": mustCBOR(t, map[uint64]any{1: 1, 2: "a", 3: "echo", 8: "bustest.ping", 15: make([]byte, 2<<20)}),
	}
	for name, payload := range hostile {
		require.NoError(t, raw.Publish(inbox, payload), name)
	}
	require.NoError(t, raw.Flush())

	// The node keeps serving...
	res, err := tn.sys.Request(ctxTimeout(t, 5*time.Second), &actor.PID{Node: "a", ID: "echo"}, &bustest.Ping{N: 7})
	require.NoError(t, err)
	assert.Equal(t, bustest.Pong{N: 8}, res)
	// ...and counted each.
	got, err := tn.sys.Request(ctxTimeout(t, 5*time.Second), &actor.PID{Node: "a", ID: "stats"}, &bustest.StatsRequest{})
	require.NoError(t, err)
	stats := got.(bus.Stats)
	assert.Equal(t, uint64(2), stats.Malformed, "garbage and truncated: %+v", stats)
	assert.Equal(t, uint64(1), stats.UnknownType, "%+v", stats)
	assert.Equal(t, uint64(1), stats.Oversized, "%+v", stats)
	assert.Contains(t, a.Stderr(), "malformed envelope dropped")
}

// mustCBOR encodes v with the reflection codec; the hostile-input test
// hand-builds envelopes with it, as a buggy peer might.
func mustCBOR(t *testing.T, v any) []byte {
	b, err := cbor.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestClientWithoutTokenIsRefused(t *testing.T) {
	tf := tokenFile(t)
	a := startProc(t, "-node", "a", "-listen", "127.0.0.1:0", "-token-file", tf)
	tok, err := bus.LoadOrCreateToken(tf)
	require.NoError(t, err)

	_, err = nats.Connect(a.ClientURL, nats.MaxReconnects(0))
	require.Error(t, err)
	assert.True(t, strings.Contains(strings.ToLower(err.Error()), "authorization"), err.Error())
	_, err = nats.Connect(a.ClientURL, nats.Token("wrong"), nats.MaxReconnects(0))
	require.Error(t, err)

	nc, err := nats.Connect(a.ClientURL, nats.Token(tok))
	require.NoError(t, err)
	nc.Close()

	// A node with the wrong token cannot join either.
	_, err = bus.Start(context.Background(), actor.NewSystem(actor.WithNode("intruder")),
		bus.Config{Node: "intruder", Cluster: cluster, URL: a.ClientURL, Token: "wrong", Logger: quiet})
	require.Error(t, err)
}
