package gcs_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/raylet"
)

// Tests of the GCS with real raylets on in-process bus nodes joined by
// routes, driven by the GCS's own messages.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// gate, when set, blocks the producer of kind gt.gate until it is closed;
// entered receives a value each time the producer is called while gated.
var (
	gate    atomic.Pointer[chan struct{}]
	entered = make(chan struct{}, 16)
)

type idle struct{}

func (idle) Receive(*actor.Context) {}

func init() {
	raylet.RegisterKind("gt.echo", func() actor.Actor { return idle{} })
	raylet.RegisterKind("gt.gate", func() actor.Actor {
		if g := gate.Load(); g != nil {
			entered <- struct{}{}
			<-*g
		}
		return idle{}
	})
}

// member is an actor system joined to the bus: a node of a test cluster.
type member struct {
	name string
	sys  *actor.System
	node *bus.Node
}

type tcluster struct {
	t     *testing.T
	token string
	head  *member
	cfg   gcs.Config
	srv   *gcs.Server
}

func bg(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startMember(t *testing.T, name, token string, routes ...string) *member {
	t.Helper()
	sys := actor.NewSystem(actor.WithNode(name), actor.WithLogger(quiet))
	n, err := bus.Start(bg(t, 10*time.Second), sys, bus.Config{
		Node: name, Token: token, ClusterListen: "127.0.0.1:0", Routes: routes,
		HeartbeatInterval: 100 * time.Millisecond, NodeTimeout: 500 * time.Millisecond, Logger: quiet,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sys.Shutdown(ctx)
		_ = n.Close(ctx)
	})
	return &member{name: name, sys: sys, node: n}
}

// newCluster starts the head's bus node and the GCS on it.
func newCluster(t *testing.T, cfg gcs.Config) *tcluster {
	t.Helper()
	c := &tcluster{t: t, token: bus.NewToken()}
	c.head = startMember(t, gcs.DefaultHead, c.token)
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	c.cfg = cfg
	c.startGCS()
	t.Cleanup(c.stopGCS)
	return c
}

func (c *tcluster) startGCS() {
	c.t.Helper()
	srv, err := gcs.Start(bg(c.t, 10*time.Second), c.head.node, c.cfg)
	require.NoError(c.t, err)
	c.srv = srv
}

func (c *tcluster) stopGCS() {
	if c.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.NoError(c.t, c.srv.Close(ctx))
	c.srv = nil
}

// join starts a bus node that joins the head's.
func (c *tcluster) join(name string) *member {
	c.t.Helper()
	m := startMember(c.t, name, c.token, c.head.node.ClusterURL())
	ctx := bg(c.t, 10*time.Second)
	require.NoError(c.t, m.node.WaitForNode(ctx, c.head.name))
	require.NoError(c.t, c.head.node.WaitForNode(ctx, name))
	return m
}

// raylet starts a raylet on m with these resources (CPU and the named
// ones; detected memory stays).
func (c *tcluster) raylet(m *member, res gcs.Resources) *raylet.Raylet {
	c.t.Helper()
	rl, err := raylet.Start(bg(c.t, 10*time.Second), m.node, raylet.Config{Resources: res, Logger: quiet, IsHead: m == c.head})
	require.NoError(c.t, err)
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rl.Close(ctx)
	})
	return rl
}

func (c *tcluster) req(msg any) any {
	c.t.Helper()
	res, err := c.head.sys.Request(bg(c.t, 5*time.Second), gcs.PID(gcs.DefaultHead), msg)
	require.NoError(c.t, err)
	return res
}

func (c *tcluster) create(spec gcs.ActorSpec, getIfExists bool) (gcs.ActorInfo, error) {
	c.t.Helper()
	r := c.req(&gcs.CreateActor{Spec: spec, GetIfExists: getIfExists}).(*gcs.ActorReply)
	return r.Actor, gcs.Err(r.Code, r.Err)
}

func (c *tcluster) mustCreate(spec gcs.ActorSpec) gcs.ActorInfo {
	c.t.Helper()
	a, err := c.create(spec, false)
	require.NoError(c.t, err)
	return a
}

func (c *tcluster) kill(id string, noRestart bool) gcs.ActorInfo {
	c.t.Helper()
	r := c.req(&gcs.KillActor{ID: id, NoRestart: noRestart}).(*gcs.ActorReply)
	require.NoError(c.t, gcs.Err(r.Code, r.Err))
	return r.Actor
}

func (c *tcluster) getNamed(ns, name string) (gcs.ActorInfo, error) {
	c.t.Helper()
	r := c.req(&gcs.GetNamedActor{Namespace: ns, Name: name}).(*gcs.ActorReply)
	return r.Actor, gcs.Err(r.Code, r.Err)
}

func (c *tcluster) actors() []gcs.ActorInfo {
	c.t.Helper()
	var out []gcs.ActorInfo
	for off := 0; ; {
		r := c.req(&gcs.ListActors{Offset: off}).(*gcs.ListReply)
		out = append(out, r.Actors...)
		if r.Next == 0 {
			return out
		}
		off = r.Next
	}
}

func (c *tcluster) actor(id string) gcs.ActorInfo {
	c.t.Helper()
	for _, a := range c.actors() {
		if a.ID == id {
			return a
		}
	}
	c.t.Fatalf("no actor %s in the table", id)
	return gcs.ActorInfo{}
}

func (c *tcluster) nodes() []gcs.NodeInfo {
	c.t.Helper()
	return c.req(&gcs.ListNodes{}).(*gcs.ListReply).Nodes
}

func (c *tcluster) node(id string) gcs.NodeInfo {
	c.t.Helper()
	for _, n := range c.nodes() {
		if n.ID == id {
			return n
		}
	}
	c.t.Fatalf("no node %s in the table", id)
	return gcs.NodeInfo{}
}

func (c *tcluster) jobs() []gcs.JobInfo {
	c.t.Helper()
	return c.req(&gcs.ListJobs{}).(*gcs.ListReply).Jobs
}

func (c *tcluster) status() *gcs.StatusReply {
	c.t.Helper()
	return c.req(&gcs.GetStatus{}).(*gcs.StatusReply)
}

// waitActor waits until the actor is in state.
func (c *tcluster) waitActor(id string, state gcs.ActorState, within time.Duration) gcs.ActorInfo {
	c.t.Helper()
	var last gcs.ActorInfo
	ok := assert.Eventually(c.t, func() bool {
		last = c.actor(id)
		return last.State == state
	}, within, 10*time.Millisecond)
	if !ok {
		c.t.Fatalf("actor %s is %s (node %q, cause %q), want %s", id, last.State, last.NodeID, last.DeathCause, state)
	}
	return last
}

func (c *tcluster) registerJob(driver, ns string) gcs.JobInfo {
	c.t.Helper()
	r := c.req(&gcs.RegisterJob{DriverNode: driver, Namespace: ns}).(*gcs.JobReply)
	require.Empty(c.t, r.Err)
	return r.Job
}

func (c *tcluster) kvPut(ns, key string, v []byte, overwrite bool) *gcs.KVReply {
	c.t.Helper()
	return c.req(&gcs.KVPut{Namespace: ns, Key: key, Value: v, Overwrite: overwrite}).(*gcs.KVReply)
}

func (c *tcluster) kvGet(ns, key string) *gcs.KVReply {
	c.t.Helper()
	return c.req(&gcs.KVGet{Namespace: ns, Key: key}).(*gcs.KVReply)
}

func cpu(n float64) gcs.Resources { return gcs.Resources{gcs.CPU: n} }

func TestConfigAndStartValidation(t *testing.T) {
	tok := bus.NewToken()
	m := startMember(t, "other", tok)
	ctx := bg(t, 10*time.Second)
	_, err := gcs.Start(ctx, m.node, gcs.Config{Logger: quiet})
	require.ErrorIs(t, err, gcs.ErrInvalid, "the GCS runs only on the head's bus node")
	_, err = gcs.Start(ctx, m.node, gcs.Config{Head: "other", HealthPeriod: 5 * time.Millisecond, Logger: quiet})
	require.ErrorIs(t, err, gcs.ErrInvalid)
	_, err = gcs.Start(ctx, m.node, gcs.Config{Head: "other", HealthThreshold: -1, Logger: quiet})
	require.ErrorIs(t, err, gcs.ErrInvalid)
}

func TestRequestValidation(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(2))

	r := c.req(&gcs.RegisterNode{Total: cpu(1)}).(*gcs.RegisterNodeReply)
	assert.Contains(t, r.Err, "without a bus node")
	r = c.req(&gcs.RegisterNode{BusNode: "x", Total: cpu(-1)}).(*gcs.RegisterNodeReply)
	assert.Contains(t, r.Err, "CPU")

	for name, spec := range map[string]gcs.ActorSpec{
		"no kind":               {},
		"max restarts":          {Kind: "gt.echo", MaxRestarts: -2},
		"max task retries":      {Kind: "gt.echo", MaxTaskRetries: -5},
		"named, no namespace":   {Kind: "gt.echo", Name: "x"},
		"negative resource":     {Kind: "gt.echo", Resources: cpu(-1)},
		"resource without name": {Kind: "gt.echo", Resources: gcs.Resources{"": 1}},
	} {
		_, err := c.create(spec, false)
		assert.ErrorIs(t, err, gcs.ErrInvalid, name)
	}
	_, err := c.create(gcs.ActorSpec{Kind: "gt.echo", JobID: "ffffffff"}, false)
	assert.ErrorIs(t, err, gcs.ErrNotFound)

	kr := c.kvPut("ns", "", []byte("v"), true)
	assert.NotEmpty(t, kr.Err, "an empty key is refused")

	jr := c.req(&gcs.FinishJob{JobID: "nope"}).(*gcs.JobReply)
	assert.NotEmpty(t, jr.Err)
	ar := c.req(&gcs.KillActor{ID: "nope"}).(*gcs.ActorReply)
	assert.ErrorIs(t, gcs.Err(ar.Code, ar.Err), gcs.ErrNotFound)
	ar = c.req(&gcs.WaitActor{ID: "nope"}).(*gcs.ActorReply)
	assert.ErrorIs(t, gcs.Err(ar.Code, ar.Err), gcs.ErrNotFound)
}

// Placement: actors land only where they fit; what fits no node's total
// is infeasible; what fits later waits, is listed as pending demand and
// starts when room is freed; and every reservation returns.
func TestPlacementRespectsResources(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, gcs.Resources{gcs.CPU: 1, "slot": 1})
	w := c.join("w1")
	c.raylet(w, gcs.Resources{gcs.CPU: 2, "slot": 2})

	byBus := map[string]gcs.NodeInfo{}
	for _, n := range c.nodes() {
		byBus[n.BusNode] = n
	}
	head, w1 := byBus["head"], byBus["w1"]
	require.Equal(t, gcs.NodeAlive, head.State)
	require.Equal(t, gcs.NodeAlive, w1.State)
	assert.True(t, head.Head)
	assert.Equal(t, []string{"gt.echo", "gt.gate"}, w1.Kinds)

	var placed []gcs.ActorInfo
	for range 3 {
		a := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: gcs.Resources{gcs.CPU: 1, "slot": 1}})
		require.Equal(t, gcs.ActorAlive, a.State)
		require.NotNil(t, a.PID)
		placed = append(placed, a)
	}
	count := map[string]int{}
	for _, a := range placed {
		count[a.NodeID]++
		assert.Equal(t, a.NodeID, c.actor(a.ID).NodeID)
	}
	assert.Equal(t, map[string]int{head.ID: 1, w1.ID: 2}, count, "each node holds as many as it has room for")
	for _, n := range c.nodes() {
		assert.InDelta(t, 0, n.Available[gcs.CPU], 1e-9, n.BusNode)
		assert.InDelta(t, 0, n.Available["slot"], 1e-9, n.BusNode)
	}

	// Fits no node's total: infeasible, with a reason.
	_, err := c.create(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(3)}, false)
	require.ErrorIs(t, err, gcs.ErrInfeasible)
	assert.Contains(t, err.Error(), "more than any live node has in total")
	_, err = c.create(gcs.ActorSpec{Kind: "gt.echo", Resources: gcs.Resources{"TPU": 1}}, false)
	require.ErrorIs(t, err, gcs.ErrInfeasible)
	_, err = c.create(gcs.ActorSpec{Kind: "gt.unknown"}, false)
	require.ErrorIs(t, err, gcs.ErrInfeasible)
	assert.Contains(t, err.Error(), "gt.unknown")
	// Zero demands fit anywhere.
	z := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: gcs.Resources{"TPU": 0}})
	assert.Equal(t, gcs.ActorAlive, z.State)
	c.kill(z.ID, true)

	// Fits later: pending, in the status's demand.
	p := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: gcs.Resources{gcs.CPU: 1, "slot": 1}})
	assert.Equal(t, gcs.ActorPendingCreation, p.State)
	assert.Empty(t, p.NodeID)
	assert.Nil(t, p.PID)
	st := c.status()
	require.Len(t, st.Pending, 1)
	assert.Equal(t, 1, st.Pending[0].Count)
	assert.Equal(t, gcs.Resources{gcs.CPU: 1, "slot": 1}, st.Pending[0].Resources)
	assert.Equal(t, 1, st.ActorsByState["PENDING_CREATION"])
	assert.Equal(t, 3, st.ActorsByState["ALIVE"])
	assert.Len(t, st.Nodes, 2)

	// A second pending one of another shape is counted apart.
	p2 := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(2)})
	assert.Equal(t, gcs.ActorPendingCreation, p2.State)
	assert.Len(t, c.status().Pending, 2)
	c.kill(p2.ID, true)
	assert.Len(t, c.status().Pending, 1, "a killed pending actor is no longer demand")

	// Room freed on w1: the pending actor starts there.
	var onW1 gcs.ActorInfo
	for _, a := range placed {
		if a.NodeID == w1.ID {
			onW1 = a
		}
	}
	killed := c.kill(onW1.ID, true)
	assert.Equal(t, gcs.ActorDead, killed.State)
	got := c.waitActor(p.ID, gcs.ActorAlive, 5*time.Second)
	assert.Equal(t, w1.ID, got.NodeID)
	assert.Empty(t, c.status().Pending)

	// Every actor gone: every node's Available is its Total again.
	for _, a := range c.actors() {
		if a.State != gcs.ActorDead {
			c.kill(a.ID, true)
		}
	}
	require.Eventually(t, func() bool {
		for _, n := range c.nodes() {
			if n.Available[gcs.CPU] != n.Total[gcs.CPU] || n.Available["slot"] != n.Total["slot"] {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond)
	for _, n := range c.nodes() {
		assert.Equal(t, n.Total, n.Available, n.BusNode)
	}
	assert.Equal(t, 6, c.status().ActorsByState["DEAD"])
}

// The owner's node is preferred while it is less than half used.
func TestPlacementPrefersOwnerNode(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(4))
	w := c.join("w1")
	rw := c.raylet(w, cpu(4))
	for range 2 {
		a := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1), OwnerNode: rw.NodeID()})
		assert.Equal(t, rw.NodeID(), a.NodeID)
	}
	// Half used now: the emptiest node wins.
	a := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1), OwnerNode: rw.NodeID()})
	assert.NotEqual(t, rw.NodeID(), a.NodeID)
}

func TestNamesAndNamespaces(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(4))

	a := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "svc", Namespace: "ns1", MaxRestarts: 1})
	_, err := c.create(gcs.ActorSpec{Kind: "gt.echo", Name: "svc", Namespace: "ns1"}, false)
	require.ErrorIs(t, err, gcs.ErrNameTaken)
	same, err := c.create(gcs.ActorSpec{Kind: "gt.echo", Name: "svc", Namespace: "ns1"}, true)
	require.NoError(t, err)
	assert.Equal(t, a.ID, same.ID)

	b := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "svc", Namespace: "ns2"})
	assert.NotEqual(t, a.ID, b.ID)
	// An empty namespace is its own: unnamed actors need none.
	u := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo"})
	assert.Empty(t, u.Spec.Namespace)

	got, err := c.getNamed("ns1", "svc")
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	got, err = c.getNamed("ns2", "svc")
	require.NoError(t, err)
	assert.Equal(t, b.ID, got.ID)
	_, err = c.getNamed("ns3", "svc")
	require.ErrorIs(t, err, gcs.ErrNotFound)

	// A restart keeps the name; death frees it.
	c.kill(a.ID, false)
	require.Eventually(t, func() bool { return c.actor(a.ID).Restarts == 1 }, 5*time.Second, 10*time.Millisecond)
	got, err = c.getNamed("ns1", "svc")
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	c.kill(a.ID, true)
	_, err = c.getNamed("ns1", "svc")
	require.ErrorIs(t, err, gcs.ErrNotFound)
	again := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "svc", Namespace: "ns1"})
	assert.NotEqual(t, a.ID, again.ID)
	// Killing the dead one again changes nothing.
	dead := c.kill(a.ID, true)
	assert.Equal(t, gcs.ActorDead, dead.State)
	got, err = c.getNamed("ns1", "svc")
	require.NoError(t, err)
	assert.Equal(t, again.ID, got.ID)

	// A pending named actor holds its name too.
	c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1)})
	p := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "big", Namespace: "ns1", Resources: cpu(4)})
	require.Equal(t, gcs.ActorPendingCreation, p.State)
	_, err = c.create(gcs.ActorSpec{Kind: "gt.echo", Name: "big", Namespace: "ns1"}, false)
	require.ErrorIs(t, err, gcs.ErrNameTaken)
}

func TestJobsEndTheirNonDetachedActors(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	rl := c.raylet(c.head, cpu(4))

	j1 := c.registerJob(rl.NodeID(), "")
	j2 := c.registerJob(rl.NodeID(), "team")
	assert.Equal(t, "00000001", j1.ID)
	assert.Equal(t, "anonymous-"+j1.ID, j1.Namespace, "a job without a namespace gets one of its own")
	assert.Equal(t, "team", j2.Namespace)
	assert.Equal(t, gcs.JobRunning, j1.State)

	attached := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", JobID: j1.ID, Name: "a", Namespace: j1.Namespace, Resources: cpu(1)})
	pending := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", JobID: j1.ID, Resources: cpu(4)})
	require.Equal(t, gcs.ActorPendingCreation, pending.State)
	detached := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", JobID: j1.ID, Detached: true, Name: "d", Namespace: j1.Namespace})
	other := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", JobID: j2.ID})

	jr := c.req(&gcs.FinishJob{JobID: j1.ID}).(*gcs.JobReply)
	require.Empty(t, jr.Err)
	assert.Equal(t, gcs.JobSucceeded, jr.Job.State)
	assert.NotZero(t, jr.Job.End)

	for _, id := range []string{attached.ID, pending.ID} {
		a := c.actor(id)
		assert.Equal(t, gcs.ActorDead, a.State)
		assert.Contains(t, a.DeathCause, j1.ID)
		assert.Contains(t, a.DeathCause, "not detached")
		assert.NotZero(t, a.Ended)
	}
	assert.Equal(t, gcs.ActorAlive, c.actor(detached.ID).State)
	assert.Equal(t, gcs.ActorAlive, c.actor(other.ID).State)
	_, err := c.getNamed(j1.Namespace, "a")
	require.ErrorIs(t, err, gcs.ErrNotFound)
	_, err = c.getNamed(j1.Namespace, "d")
	require.NoError(t, err)

	// A finished job makes no more actors, but detached ones.
	_, err = c.create(gcs.ActorSpec{Kind: "gt.echo", JobID: j1.ID}, false)
	require.ErrorIs(t, err, gcs.ErrJobFinished)
	_, err = c.create(gcs.ActorSpec{Kind: "gt.echo", JobID: j1.ID, Detached: true}, false)
	require.NoError(t, err)

	// Finishing twice keeps the first end.
	jr2 := c.req(&gcs.FinishJob{JobID: j1.ID, Failed: true}).(*gcs.JobReply)
	assert.Equal(t, gcs.JobSucceeded, jr2.Job.State)
	assert.Equal(t, jr.Job.End, jr2.Job.End)
	jr = c.req(&gcs.FinishJob{JobID: j2.ID, Failed: true}).(*gcs.JobReply)
	assert.Equal(t, gcs.JobFailed, jr.Job.State)

	jobs := c.jobs()
	require.Len(t, jobs, 2)
	assert.Equal(t, []string{j1.ID, j2.ID}, []string{jobs[0].ID, jobs[1].ID})
	assert.Equal(t, gcs.JobSucceeded, jobs[0].State)
	assert.False(t, jobs[0].EndTime().IsZero())
	assert.Equal(t, map[string]int{"SUCCEEDED": 1, "FAILED": 1}, c.status().Jobs)
}

// A job whose driver's node dies fails, and so do its actors; a job
// registered by a dead node fails at once.
func TestJobsFailWithTheirDriversNode(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(4))
	w := c.join("w1")
	rw := c.raylet(w, gcs.Resources{gcs.CPU: 0})
	wid := rw.NodeID()
	j := c.registerJob(wid, "")
	a := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", JobID: j.ID, Resources: cpu(1)})
	d := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", JobID: j.ID, Resources: cpu(1), Detached: true})

	require.NoError(t, rw.Close(bg(t, 5*time.Second)))
	n := c.node(wid)
	assert.Equal(t, gcs.NodeDead, n.State)
	assert.Equal(t, "node stopped", n.DeathCause)
	assert.Empty(t, n.Available)
	jobs := c.jobs()
	require.Len(t, jobs, 1)
	assert.Equal(t, gcs.JobFailed, jobs[0].State)
	assert.Equal(t, gcs.ActorDead, c.actor(a.ID).State)
	assert.Equal(t, gcs.ActorAlive, c.actor(d.ID).State)

	// A job whose driver's node is dead is refused.
	res, err := c.head.sys.RequestFuture(gcs.PID(gcs.DefaultHead), &gcs.RegisterJob{DriverNode: wid}, 5*time.Second).Result(bg(t, 5*time.Second))
	require.NoError(t, err)
	assert.Contains(t, res.(*gcs.JobReply).Err, "not alive")
}

// Restarts: a crash-like Kill restarts in place and counts; MaxRestarts
// -1 never runs out; Kill with NoRestart ends it.
func TestKillAndRestarts(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(4))

	forever := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", MaxRestarts: -1})
	for i := 1; i <= 4; i++ {
		c.kill(forever.ID, false)
		require.Eventually(t, func() bool { return c.actor(forever.ID).Restarts == i }, 5*time.Second, 10*time.Millisecond)
	}
	a := c.actor(forever.ID)
	assert.Equal(t, gcs.ActorAlive, a.State)
	assert.Equal(t, -1, (&a).RestartsLeft())
	assert.True(t, a.PID.Equal(forever.PID), "a restart in place keeps the PID")

	once := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", MaxRestarts: 1})
	c.kill(once.ID, false)
	require.Eventually(t, func() bool { return c.actor(once.ID).Restarts == 1 }, 5*time.Second, 10*time.Millisecond)
	onceNow := c.actor(once.ID)
	assert.Equal(t, 0, onceNow.RestartsLeft())
	c.kill(once.ID, false)
	dead := c.waitActor(once.ID, gcs.ActorDead, 5*time.Second)
	assert.Contains(t, dead.DeathCause, "killed by goray.Kill")
	assert.Contains(t, dead.DeathCause, "no restarts left")

	c.kill(forever.ID, true)
	dead = c.actor(forever.ID)
	assert.Equal(t, gcs.ActorDead, dead.State)
	assert.Contains(t, dead.DeathCause, "killed")
	assert.Nil(t, dead.PID)
	assert.Empty(t, dead.NodeID)
}

// WaitActor answers when the actor is alive, or dead.
func TestWaitActor(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(1))
	filler := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1)})
	p := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1)})
	require.Equal(t, gcs.ActorPendingCreation, p.State)

	f := c.head.sys.RequestFuture(gcs.PID(gcs.DefaultHead), &gcs.WaitActor{ID: p.ID}, 5*time.Second)
	c.kill(filler.ID, true)
	res, err := f.Result(bg(t, 5*time.Second))
	require.NoError(t, err)
	r := res.(*gcs.ActorReply)
	require.Empty(t, r.Err)
	assert.Equal(t, gcs.ActorAlive, r.Actor.State)

	// Not: waits for another PID, or death.
	f = c.head.sys.RequestFuture(gcs.PID(gcs.DefaultHead), &gcs.WaitActor{ID: p.ID, Not: r.Actor.PID}, 5*time.Second)
	c.kill(p.ID, true)
	res, err = f.Result(bg(t, 5*time.Second))
	require.NoError(t, err)
	assert.Equal(t, gcs.ActorDead, res.(*gcs.ActorReply).Actor.State)
}

// A head stopped without its raylet saying goodbye (a crash) and started
// again on its storage finds its tables. The old head's node identity is
// replaced when its raylet registers anew, and the actors it hosted
// restart on the node that survived (MaxRestarts left) or die.
func TestJournalRecoversTablesAfterHeadCrash(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, gcs.Config{StorageDir: dir})
	epoch := c.srv.Epoch()
	rl := c.raylet(c.head, cpu(4))
	oldNode := rl.NodeID()
	j := c.registerJob(oldNode, "app")
	keep := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "keep", Namespace: "app", JobID: j.ID, Detached: true, MaxRestarts: 2, Resources: cpu(1), OwnerNode: oldNode})
	once := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "once", Namespace: "app", JobID: j.ID, Detached: true, OwnerNode: oldNode})
	require.Equal(t, oldNode, keep.NodeID)
	require.Equal(t, oldNode, once.NodeID)
	// w1 joins once both run on the head (detached actors do not follow
	// their owner's node; the least used one would be w1).
	w := c.join("w1")
	rw := c.raylet(w, cpu(1))
	gone := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "gone", Namespace: "app"})
	c.kill(gone.ID, true)
	later := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "later", Namespace: "app", Resources: cpu(4)})
	require.Equal(t, gcs.ActorPendingCreation, later.State)
	require.True(t, c.kvPut("app", "k", []byte("v"), false).Added)

	// The crash: the GCS goes, then the head's raylet, which cannot say
	// goodbye to it.
	c.stopGCS()
	require.NoError(t, rl.Close(bg(t, 5*time.Second)))

	c.startGCS()
	assert.Equal(t, epoch+1, c.srv.Epoch())
	assert.Equal(t, gcs.NodeAlive, c.node(oldNode).State, "nobody told the new GCS the old node is gone yet")
	assert.Equal(t, gcs.NodeAlive, c.node(rw.NodeID()).State)
	jobs := c.jobs()
	require.Len(t, jobs, 1)
	assert.Equal(t, j.ID, jobs[0].ID)
	assert.Equal(t, gcs.JobRunning, jobs[0].State)
	k := c.actor(keep.ID)
	assert.Equal(t, gcs.ActorAlive, k.State)
	assert.True(t, keep.PID.Equal(k.PID))
	assert.Equal(t, gcs.ActorDead, c.actor(gone.ID).State)
	assert.Equal(t, gcs.ActorPendingCreation, c.actor(later.ID).State)
	assert.Equal(t, []byte("v"), c.kvGet("app", "k").Value)
	_, err := c.getNamed("app", "gone")
	require.ErrorIs(t, err, gcs.ErrNotFound)
	_, err = c.getNamed("app", "later")
	require.NoError(t, err, "a pending actor's name is held across the restart")
	st := c.status()
	assert.Equal(t, map[string]int{"ALIVE": 2, "DEAD": 1, "PENDING_CREATION": 1}, st.ActorsByState)

	// The head's raylet comes back, with no room: a new identity on the
	// same bus node; the old one is dead and keep moves to w1.
	rl2 := c.raylet(c.head, cpu(0))
	assert.NotEqual(t, oldNode, rl2.NodeID())
	n := c.node(oldNode)
	assert.Equal(t, gcs.NodeDead, n.State)
	assert.Contains(t, n.DeathCause, "registered anew")

	k = c.waitActor(keep.ID, gcs.ActorAlive, 5*time.Second)
	assert.Equal(t, rw.NodeID(), k.NodeID)
	assert.Equal(t, 1, k.Restarts, "the node loss used a restart")
	o := c.actor(once.ID)
	assert.Equal(t, gcs.ActorDead, o.State)
	assert.Contains(t, o.DeathCause, "node died")
	assert.Equal(t, gcs.JobFailed, c.jobs()[0].State, "its driver's node is gone")
	got, err := c.getNamed("app", "keep")
	require.NoError(t, err)
	assert.Equal(t, keep.ID, got.ID)
	_, err = c.getNamed("app", "once")
	require.ErrorIs(t, err, gcs.ErrNotFound)

	// Job ids go on from the stored sequence.
	assert.Equal(t, "00000002", c.registerJob(rl2.NodeID(), "").ID)
}

// A clean stop: the raylet says goodbye first, so its actors are already
// restarting (MaxRestarts left, a restart used) or dead when the tables
// are stored; a restarted GCS finds them so.
func TestJournalRecoversAfterCleanStop(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, gcs.Config{StorageDir: dir})
	rl := c.raylet(c.head, cpu(4))
	j := c.registerJob(rl.NodeID(), "app")
	keep := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "keep", Namespace: "app", JobID: j.ID, Detached: true, MaxRestarts: 1})
	once := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Name: "once", Namespace: "app", JobID: j.ID, Detached: true})
	c.req(&gcs.FinishJob{JobID: j.ID})
	require.NoError(t, rl.Close(bg(t, 5*time.Second)))
	assert.Equal(t, gcs.ActorRestarting, c.actor(keep.ID).State)
	c.stopGCS()

	c.startGCS()
	k := c.actor(keep.ID)
	assert.Equal(t, gcs.ActorRestarting, k.State)
	assert.Equal(t, 1, k.Restarts)
	o := c.actor(once.ID)
	assert.Equal(t, gcs.ActorDead, o.State)
	assert.Equal(t, "node died (node stopped)", o.DeathCause)
	assert.Equal(t, gcs.JobSucceeded, c.jobs()[0].State)
	st := c.status()
	require.Len(t, st.Pending, 1)
	assert.Equal(t, 1, st.Pending[0].Count)
	got, err := c.getNamed("app", "keep")
	require.NoError(t, err)
	assert.Equal(t, keep.ID, got.ID)
}

// The tables of an in-memory GCS die with it.
func TestMemoryStorageForgets(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.kvPut("ns", "k", []byte("v"), true)
	c.stopGCS()
	c.startGCS()
	assert.False(t, c.kvGet("ns", "k").Found)
	assert.Equal(t, uint64(1), c.srv.Epoch())
}

func TestStorageDirLocked(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, gcs.Config{StorageDir: dir})
	other := startMember(t, "head2", c.token)
	ctx := bg(t, 10*time.Second)
	_, err := gcs.Start(ctx, other.node, gcs.Config{Head: "head2", StorageDir: dir, Logger: quiet})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "storage directory is in use by another head")
	assert.Contains(t, err.Error(), dir)

	// Free again once the first one has stopped.
	c.kvPut("", "k", []byte("v"), true)
	c.stopGCS()
	srv, err := gcs.Start(ctx, other.node, gcs.Config{Head: "head2", StorageDir: dir, Logger: quiet})
	require.NoError(t, err)
	res, err := other.sys.Request(ctx, gcs.PID("head2"), &gcs.KVGet{Key: "k"})
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), res.(*gcs.KVReply).Value)
	require.NoError(t, srv.Close(ctx))
}

// A node whose raylet stops answering (its process part gone without a
// goodbye) is dead after HealthThreshold missed checks; its restartable
// actor comes back on another node, its other actor dies.
func TestHealthChecksDeclareSilentNodeDead(t *testing.T) {
	const period, threshold = 100 * time.Millisecond, 3
	c := newCluster(t, gcs.Config{HealthPeriod: period, HealthThreshold: threshold})
	c.raylet(c.head, cpu(2))
	w := c.join("w1")
	rw := c.raylet(w, cpu(4))
	wid := rw.NodeID()
	restartable := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", MaxRestarts: 1, OwnerNode: wid, Resources: cpu(1)})
	mortal := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", OwnerNode: wid})
	require.Equal(t, wid, restartable.NodeID)
	require.Equal(t, wid, mortal.NodeID)

	// A few periods of health: nobody is declared dead.
	time.Sleep(5 * period)
	require.Equal(t, gcs.NodeAlive, c.node(wid).State)

	start := time.Now()
	w.sys.Stop(rw.PID()) // the raylet goes, silently
	require.Eventually(t, func() bool { return c.node(wid).State == gcs.NodeDead }, 5*time.Second, 10*time.Millisecond)
	took := time.Since(start)
	assert.Less(t, took, period*threshold+time.Second, "dead within about period*threshold")
	n := c.node(wid)
	assert.Contains(t, n.DeathCause, "missed 3 health checks")

	a := c.waitActor(restartable.ID, gcs.ActorAlive, 5*time.Second)
	assert.NotEqual(t, wid, a.NodeID)
	assert.Equal(t, 1, a.Restarts)
	m := c.actor(mortal.ID)
	assert.Equal(t, gcs.ActorDead, m.State)
	assert.Contains(t, m.DeathCause, "node died")
	t.Logf("declared dead after %v", took)
}

// Events: every table change is published on the bus.
func TestEventsPublished(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	nc := c.head.node.Conn()
	subj := c.head.node.Subjects()
	actors, err := nc.SubscribeSync(subj.Event(gcs.TopicActors))
	require.NoError(t, err)
	nodes, err := nc.SubscribeSync(subj.Event(gcs.TopicNodes))
	require.NoError(t, err)
	jobs, err := nc.SubscribeSync(subj.Event(gcs.TopicJobs))
	require.NoError(t, err)
	resources, err := nc.SubscribeSync(subj.Event(gcs.TopicResources))
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	rl := c.raylet(c.head, cpu(1))
	e := nextEvent(t, nodes)
	require.NotNil(t, e.Node)
	assert.Equal(t, gcs.TopicNodes, e.Topic)
	assert.Equal(t, rl.NodeID(), e.Node.ID)
	assert.Equal(t, gcs.NodeAlive, e.Node.State)
	assert.NotZero(t, e.Time)

	j := c.registerJob(rl.NodeID(), "")
	e = nextEvent(t, jobs)
	require.NotNil(t, e.Job)
	assert.Equal(t, j.ID, e.Job.ID)
	assert.Equal(t, gcs.JobRunning, e.Job.State)

	a := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1)})
	e = nextEvent(t, actors)
	require.NotNil(t, e.Actor)
	assert.Equal(t, a.ID, e.Actor.ID)
	assert.Equal(t, gcs.ActorAlive, e.Actor.State)
	e = nextEvent(t, resources)
	require.NotNil(t, e.Node)
	assert.InDelta(t, 0, e.Node.Available[gcs.CPU], 1e-9)

	p := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1)})
	e = nextEvent(t, actors)
	assert.Equal(t, p.ID, e.Actor.ID)
	assert.Equal(t, gcs.ActorPendingCreation, e.Actor.State)

	c.kill(a.ID, true)
	states := map[string][]gcs.ActorState{}
	for range 2 {
		e = nextEvent(t, actors)
		states[e.Actor.ID] = append(states[e.Actor.ID], e.Actor.State)
	}
	assert.Equal(t, map[string][]gcs.ActorState{a.ID: {gcs.ActorDead}, p.ID: {gcs.ActorAlive}}, states)

	c.req(&gcs.FinishJob{JobID: j.ID})
	e = nextEvent(t, jobs)
	assert.Equal(t, gcs.JobSucceeded, e.Job.State)

	require.NoError(t, rl.Close(bg(t, 5*time.Second)))
	e = nextEvent(t, nodes)
	assert.Equal(t, gcs.NodeDead, e.Node.State)
	assert.Equal(t, "node stopped", e.Node.DeathCause)
}

// KV: put, get, delete, keys by prefix; overwrite false keeps the old
// value; odd keys and namespaces survive a restart of the head.
func TestKV(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, gcs.Config{StorageDir: dir})

	r := c.kvPut("ns", "a/1", []byte("one"), false)
	require.Empty(t, r.Err)
	assert.True(t, r.Added)
	r = c.kvPut("ns", "a/1", []byte("uno"), false)
	assert.False(t, r.Added)
	assert.Equal(t, []byte("one"), c.kvGet("ns", "a/1").Value, "overwrite false keeps the old value")
	r = c.kvPut("ns", "a/1", []byte("eins"), true)
	assert.False(t, r.Added, "overwriting is not adding")
	assert.Equal(t, []byte("eins"), c.kvGet("ns", "a/1").Value)
	c.kvPut("ns", "a/2", []byte("two"), false)
	c.kvPut("ns", "b", []byte("bee"), false)
	c.kvPut("other", "a/3", []byte("x"), false)

	keys := c.req(&gcs.KVKeys{Namespace: "ns", Prefix: "a/"}).(*gcs.KVReply)
	assert.Equal(t, []string{"a/1", "a/2"}, keys.Keys)
	keys = c.req(&gcs.KVKeys{Namespace: "ns"}).(*gcs.KVReply)
	assert.Equal(t, []string{"a/1", "a/2", "b"}, keys.Keys)
	assert.Empty(t, c.req(&gcs.KVKeys{Namespace: "none"}).(*gcs.KVReply).Keys)

	d := c.req(&gcs.KVDelete{Namespace: "ns", Key: "a/2"}).(*gcs.KVReply)
	assert.True(t, d.Found)
	d = c.req(&gcs.KVDelete{Namespace: "ns", Key: "a/2"}).(*gcs.KVReply)
	assert.False(t, d.Found)
	assert.False(t, c.kvGet("ns", "a/2").Found)
	assert.False(t, c.kvGet("other", "b").Found, "namespaces are apart")

	odd := map[[2]string][]byte{
		{"", "empty namespace"}:            []byte("1"),
		{"ns", "with spaces and\ttabs"}:    []byte("2"),
		{"ns", "/leading/and/trailing/"}:   []byte("3"),
		{"ns", "dots.in.key"}:              []byte("4"),
		{"ns", "wild*cards>"}:              []byte("5"),
		{"ns", "ünïcödé ключ 鍵 🔑"}:         []byte("6"),
		{"ns with space/ und ü", "k"}:      []byte("7"),
		{"ns", "binary\x00\xff"}:           []byte("8"),
		{"ns", strings.Repeat("long", 64)}: []byte("9"),
		{"ns", "empty value"}:              {},
	}
	for k, v := range odd {
		require.Empty(t, c.kvPut(k[0], k[1], v, true).Err, k)
	}
	c.stopGCS()
	c.startGCS()
	for k, v := range odd {
		g := c.kvGet(k[0], k[1])
		assert.True(t, g.Found, "%q", k)
		assert.Equal(t, string(v), string(g.Value), "%q", k)
	}
	assert.Equal(t, []byte("eins"), c.kvGet("ns", "a/1").Value)
	assert.False(t, c.kvGet("ns", "a/2").Found, "a delete is stored too")
	keys = c.req(&gcs.KVKeys{Namespace: "ns", Prefix: "a/"}).(*gcs.KVReply)
	assert.Equal(t, []string{"a/1"}, keys.Keys)
	assert.Zero(t, c.status().JournalErrors)
}

// ListActors pages and filters by state.
func TestListActorsFilterAndOrder(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(1))
	var ids []string
	for i := range 5 {
		res := cpu(0)
		if i == 0 || i == 4 {
			res = cpu(1)
		}
		ids = append(ids, c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: res}).ID)
	}
	c.kill(ids[1], true)
	all := c.actors()
	require.Len(t, all, 5)
	got := make([]string, len(all))
	for i, a := range all {
		got[i] = a.ID
	}
	assert.Equal(t, ids, got, "oldest first")
	for state, want := range map[gcs.ActorState][]string{
		gcs.ActorAlive:           {ids[0], ids[2], ids[3]},
		gcs.ActorDead:            {ids[1]},
		gcs.ActorPendingCreation: {ids[4]},
		gcs.ActorRestarting:      nil,
	} {
		r := c.req(&gcs.ListActors{State: state}).(*gcs.ListReply)
		var have []string
		for _, a := range r.Actors {
			have = append(have, a.ID)
		}
		assert.Equal(t, want, have, state.String())
	}
	assert.True(t, slices.IsSortedFunc(all, func(a, b gcs.ActorInfo) int { return int(a.Created - b.Created) }))
}

func nextEvent(t *testing.T, sub *nats.Subscription) *gcs.Event {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	e, err := gcs.DecodeEvent(m.Data)
	require.NoError(t, err)
	return e
}
