package bus_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

type ping struct {
	N    int    `cbor:"1,keyasint"`
	Text string `cbor:"2,keyasint,omitempty"`
}

type pong struct {
	N int `cbor:"1,keyasint"`
}

func init() {
	bus.Register[*ping]("test.ping")
	bus.Register[pong]("test.pong")
	bus.RegisterKind("test.echo", func() *actor.Props { return actor.PropsFromFunc(echo) })
}

func echo(c *actor.Context) {
	switch m := c.Message().(type) {
	case *ping:
		c.Respond(pong{N: m.N + 1})
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testNode is an actor system joined to the bus.
type testNode struct {
	sys  *actor.System
	node *bus.Node
}

func startNode(t testing.TB, cfg bus.Config) *testNode {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
		cfg.NodeTimeout = 500 * time.Millisecond
	}
	sys := actor.NewSystem(actor.WithNode(cfg.Node), actor.WithLogger(cfg.Logger))
	n, err := bus.Start(context.Background(), sys, cfg)
	require.NoError(t, err)
	tn := &testNode{sys: sys, node: n}
	t.Cleanup(func() { tn.close() })
	return tn
}

func (tn *testNode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tn.sys.Shutdown(ctx)
	_ = tn.node.Close(ctx)
}

// startPair starts two nodes joined by a route.
func startPair(t testing.TB) (a, b *testNode) {
	t.Helper()
	tok := bus.NewToken()
	a = startNode(t, bus.Config{Node: "a", Token: tok, ClusterListen: "127.0.0.1:0"})
	b = startNode(t, bus.Config{Node: "b", Token: tok, ClusterListen: "127.0.0.1:0", Routes: []string{a.node.ClusterURL()}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.node.WaitForNode(ctx, "b"))
	require.NoError(t, b.node.WaitForNode(ctx, "a"))
	return a, b
}

func TestRemoteRequest(t *testing.T) {
	a, b := startPair(t)
	pid, err := b.sys.SpawnNamed(actor.PropsFromFunc(echo), "echo")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := a.sys.Request(ctx, &actor.PID{Node: "b", ID: pid.ID}, &ping{N: 41})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 42}, res)
}

func TestSpawnOnAndUnknownActor(t *testing.T) {
	a, _ := startPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pid, err := a.node.SpawnOn(ctx, "b", "test.echo")
	require.NoError(t, err)
	assert.Equal(t, "b", pid.Node)
	res, err := a.sys.Request(ctx, pid, &ping{N: 1})
	require.NoError(t, err)
	assert.Equal(t, pong{N: 2}, res)

	_, err = a.node.SpawnOn(ctx, "b", "test.nope")
	assert.ErrorIs(t, err, bus.ErrUnknownKind)

	_, err = a.sys.Request(ctx, &actor.PID{Node: "b", ID: "nobody"}, &ping{N: 1})
	assert.ErrorIs(t, err, actor.ErrDeadLetter)

	_, err = a.sys.Request(ctx, pid, struct{ X int }{1})
	assert.ErrorIs(t, err, bus.ErrUnregisteredType)

}
