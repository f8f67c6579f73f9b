package goray_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/gcs"
)

// Cluster behaviour through the public API: embedded clusters, and heads
// with nodes joined in this process (each Runtime its own bus node).

type (
	bump struct {
		By int `cbor:"1,keyasint"`
	}
	total struct {
		N int `cbor:"1,keyasint"`
	}
	// boom crashes the tally the first time its key is seen in this
	// process, and is answered like a bump of 0 after that.
	boom struct {
		Key string `cbor:"1,keyasint"`
	}
	stopRaylet struct{}
)

var boomed sync.Map

// tally counts; a restarted one starts from 0.
type tally struct{ n int }

func (a *tally) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case *bump:
		a.n += m.By
		c.Respond(&total{N: a.n})
	case *boom:
		if _, seen := boomed.LoadOrStore(m.Key, true); !seen {
			panic("boom " + m.Key)
		}
		c.Respond(&total{N: a.n})
	}
}

// assassin stops its own node's raylet without a goodbye to the GCS: the
// node's process part that hosts actors is gone, its bus node lives on.
type assassin struct{}

func (assassin) Receive(c *actor.Context) {
	if _, ok := c.Message().(*stopRaylet); ok {
		c.Stop(gcs.RayletPID(c.Self().Node))
	}
}

func init() {
	goray.RegisterMessage[*bump]("goray_test.more.bump")
	goray.RegisterMessage[*total]("goray_test.more.total")
	goray.RegisterMessage[*boom]("goray_test.more.boom")
	goray.RegisterMessage[*stopRaylet]("goray_test.more.stopraylet")
	goray.RegisterActor("more.tally", func() actor.Actor { return &tally{} })
	goray.RegisterActor("more.assassin", func() actor.Actor { return assassin{} })
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func tctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// boot starts a runtime without an object store, shut down at cleanup.
func boot(t testing.TB, opts ...goray.InitOption) *goray.Runtime {
	t.Helper()
	rt, err := goray.Init(tctx(t, 20*time.Second), append([]goray.InitOption{goray.WithoutObjectStore(), goray.WithLogger(quietLog)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
	})
	return rt
}

func headRT(t testing.TB, dir string, opts ...goray.InitOption) *goray.Runtime {
	t.Helper()
	return boot(t, append([]goray.InitOption{goray.AsHead(0, dir)}, opts...)...)
}

func joinRT(t testing.TB, head *goray.Runtime, name string, opts ...goray.InitOption) *goray.Runtime {
	t.Helper()
	return boot(t, append([]goray.InitOption{
		goray.WithAddress(head.Address()), goray.WithToken(head.Token()), goray.WithNodeName(name),
	}, opts...)...)
}

func cpus(n float64) map[string]float64 { return map[string]float64{"CPU": n} }

// row lists one of the GCS's tables and returns the row whose id is id.
func row[T any](t testing.TB, list func(context.Context) ([]T, error), id string, idOf func(T) string) T {
	t.Helper()
	rows, err := list(tctx(t, 5*time.Second))
	require.NoError(t, err)
	for _, r := range rows {
		if idOf(r) == id {
			return r
		}
	}
	t.Fatalf("no row %s", id)
	var zero T
	return zero
}

func actorInfo(t testing.TB, rt *goray.Runtime, id string) gcs.ActorInfo {
	t.Helper()
	return row(t, rt.Actors, id, func(a gcs.ActorInfo) string { return a.ID })
}

func nodeInfo(t testing.TB, rt *goray.Runtime, id string) gcs.NodeInfo {
	t.Helper()
	return row(t, rt.Nodes, id, func(n gcs.NodeInfo) string { return n.ID })
}

func jobInfo(t testing.TB, rt *goray.Runtime, id string) gcs.JobInfo {
	t.Helper()
	return row(t, rt.Jobs, id, func(j gcs.JobInfo) string { return j.ID })
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 10*time.Millisecond, what)
}

func askN(t testing.TB, h *goray.ActorHandle, msg any) int {
	t.Helper()
	res, err := h.Ask(tctx(t, 5*time.Second), msg)
	require.NoError(t, err)
	return res.(*total).N
}

func TestClusterPlacementAcrossNodes(t *testing.T) {
	head := headRT(t, "", goray.WithResources(cpus(1)))
	w1 := joinRT(t, head, "w1", goray.WithResources(cpus(2)), goray.WithRole(goray.RoleNode))
	ctx := tctx(t, 20*time.Second)

	var hs []*goray.ActorHandle
	count := map[string]int{}
	for i := range 3 {
		h, err := head.NewActor(ctx, "more.tally", goray.Resources(cpus(1)))
		require.NoError(t, err)
		assert.Equal(t, i+1, askN(t, h, &bump{By: i + 1}))
		hs = append(hs, h)
		count[actorInfo(t, head, h.ID()).NodeID]++
	}
	assert.Equal(t, map[string]int{head.NodeID(): 1, w1.NodeID(): 2}, count)
	for _, id := range []string{head.NodeID(), w1.NodeID()} {
		assert.Zero(t, nodeInfo(t, head, id).Available["CPU"])
	}

	_, err := head.NewActor(ctx, "more.tally", goray.Resources(cpus(3)))
	require.ErrorIs(t, err, goray.ErrInfeasible)
	_, err = head.NewActor(ctx, "no.such.kind")
	require.ErrorIs(t, err, goray.ErrInfeasible)

	// Fits later: pending, a call waits for it.
	p, err := head.NewActor(ctx, "more.tally", goray.Resources(cpus(1)))
	require.NoError(t, err)
	assert.Nil(t, p.PID())
	assert.Equal(t, gcs.ActorPendingCreation, actorInfo(t, head, p.ID()).State)
	st, err := head.Status(ctx)
	require.NoError(t, err)
	require.Len(t, st.Pending, 1)
	assert.Equal(t, 1, st.Pending[0].Count)
	assert.Equal(t, gcs.Resources{"CPU": 1}, st.Pending[0].Resources)
	answer := make(chan int, 1)
	go func() {
		res, err := p.Ask(ctx, &bump{By: 7})
		if err == nil {
			answer <- res.(*total).N
		}
		close(answer)
	}()
	var victim *goray.ActorHandle
	for _, h := range hs {
		if actorInfo(t, head, h.ID()).NodeID == w1.NodeID() {
			victim = h
		}
	}
	require.NoError(t, head.Kill(ctx, victim, true))
	select {
	case n := <-answer:
		assert.Equal(t, 7, n)
	case <-time.After(5 * time.Second):
		t.Fatal("the pending actor never answered")
	}
	assert.Equal(t, w1.NodeID(), actorInfo(t, head, p.ID()).NodeID)

	// All gone: every node has its total again.
	for _, h := range append(hs, p) {
		require.NoError(t, head.Kill(ctx, h, true))
	}
	eventually(t, "resources return", func() bool {
		nodes, err := head.Nodes(ctx)
		require.NoError(t, err)
		for _, n := range nodes {
			if n.Available["CPU"] != n.Total["CPU"] {
				return false
			}
		}
		return true
	})
	nodes, err := head.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 2)
	for _, n := range nodes {
		assert.Equal(t, n.Total, n.Available, n.BusNode)
	}
}

func TestClusterNamesAndNamespaces(t *testing.T) {
	head := headRT(t, "")
	d2 := joinRT(t, head, "d2")
	ctx := tctx(t, 20*time.Second)
	assert.Regexp(t, `^anonymous-[0-9a-f]{8}$`, head.Namespace())
	assert.Regexp(t, `^anonymous-[0-9a-f]{8}$`, d2.Namespace())
	assert.NotEqual(t, head.Namespace(), d2.Namespace())

	x, err := head.NewActor(ctx, "more.tally", goray.Name("x"))
	require.NoError(t, err)
	assert.Equal(t, "x", x.Name())
	_, err = d2.GetActor(ctx, "x")
	require.ErrorIs(t, err, goray.ErrNotFound, "another job's anonymous namespace is not visible")
	got, err := d2.GetActor(ctx, "x", goray.Namespace(head.Namespace()))
	require.NoError(t, err, "unless named")
	assert.Equal(t, x.ID(), got.ID())
	assert.Equal(t, 4, askN(t, got, &bump{By: 4}))
	x2, err := d2.NewActor(ctx, "more.tally", goray.Name("x"))
	require.NoError(t, err, "the same name in another namespace")
	assert.NotEqual(t, x.ID(), x2.ID())

	s, err := head.NewActor(ctx, "more.tally", goray.Name("s"), goray.Namespace("shared"))
	require.NoError(t, err)
	_, err = d2.NewActor(ctx, "more.tally", goray.Name("s"), goray.Namespace("shared"))
	require.ErrorIs(t, err, goray.ErrNameTaken)
	same, err := d2.NewActor(ctx, "more.tally", goray.Name("s"), goray.Namespace("shared"), goray.GetIfExists())
	require.NoError(t, err)
	assert.Equal(t, s.ID(), same.ID())

	// A dead actor's name is free again.
	require.NoError(t, d2.Kill(ctx, same, true))
	_, err = head.GetActor(ctx, "s", goray.Namespace("shared"))
	require.ErrorIs(t, err, goray.ErrNotFound)
	_, err = s.Ask(ctx, &bump{By: 1})
	require.ErrorIs(t, err, goray.ErrActorDied)
	s2, err := d2.NewActor(ctx, "more.tally", goray.Name("s"), goray.Namespace("shared"))
	require.NoError(t, err)
	assert.NotEqual(t, s.ID(), s2.ID())
}

func TestClusterJobEndKillsNonDetachedActors(t *testing.T) {
	head := headRT(t, "", goray.WithResources(cpus(4)))
	d2 := joinRT(t, head, "d2", goray.WithResources(cpus(0)))
	ctx := tctx(t, 20*time.Second)
	job := d2.JobID()
	require.NotEmpty(t, job)
	assert.NotEqual(t, head.JobID(), job)

	att, err := d2.NewActor(ctx, "more.tally", goray.Resources(cpus(1)), goray.Name("att"))
	require.NoError(t, err)
	det, err := d2.NewActor(ctx, "more.tally", goray.Resources(cpus(1)), goray.Name("det"), goray.Namespace("keep"), goray.Detached())
	require.NoError(t, err)
	assert.Equal(t, 1, askN(t, att, &bump{By: 1}))
	assert.Equal(t, 2, askN(t, det, &bump{By: 2}))
	assert.Equal(t, gcs.JobRunning, jobInfo(t, head, job).State)

	require.NoError(t, d2.Shutdown(ctx))

	a := actorInfo(t, head, att.ID())
	assert.Equal(t, gcs.ActorDead, a.State)
	assert.Contains(t, a.DeathCause, job)
	assert.Contains(t, a.DeathCause, "not detached")
	assert.Equal(t, gcs.ActorAlive, actorInfo(t, head, det.ID()).State)
	h, err := head.GetActor(ctx, "det", goray.Namespace("keep"))
	require.NoError(t, err)
	assert.Equal(t, 5, askN(t, h, &bump{By: 3}), "the detached actor lives on, state and all")

	j := jobInfo(t, head, job)
	assert.Equal(t, gcs.JobSucceeded, j.State)
	assert.False(t, j.EndTime().IsZero())
	assert.False(t, j.EndTime().Before(j.StartTime()))
	assert.Equal(t, gcs.JobRunning, jobInfo(t, head, head.JobID()).State)
}

func TestClusterRestarts(t *testing.T) {
	rt := boot(t)
	ctx := tctx(t, 30*time.Second)
	var died *goray.ActorDiedError

	// MaxRestarts(-1): again and again.
	f, err := rt.NewActor(ctx, "more.tally", goray.MaxRestarts(-1))
	require.NoError(t, err)
	for i := range 5 {
		assert.Equal(t, 1, askN(t, f, &bump{By: 1}), "a fresh instance after each crash")
		_, err := f.Ask(ctx, &boom{Key: fmt.Sprintf("%s-%d", f.ID(), i)})
		require.ErrorAs(t, err, &died, "MaxTaskRetries 0: the interrupted call fails")
		assert.Contains(t, died.Cause, "boom")
	}
	assert.Equal(t, 1, askN(t, f, &bump{By: 1}))
	eventually(t, "five restarts counted", func() bool { return actorInfo(t, rt, f.ID()).Restarts == 5 })
	assert.Equal(t, gcs.ActorAlive, actorInfo(t, rt, f.ID()).State)

	// Kill without noRestart: a restart, counted.
	k, err := rt.NewActor(ctx, "more.tally", goray.MaxRestarts(2))
	require.NoError(t, err)
	assert.Equal(t, 5, askN(t, k, &bump{By: 5}))
	require.NoError(t, rt.Kill(ctx, k, false))
	eventually(t, "a restart counted", func() bool { return actorInfo(t, rt, k.ID()).Restarts == 1 })
	assert.Equal(t, gcs.ActorAlive, actorInfo(t, rt, k.ID()).State)
	assert.Equal(t, 1, askN(t, k, &bump{By: 1}))

	// Kill with noRestart: dead, though restarts remain.
	require.NoError(t, rt.Kill(ctx, k, true))
	a := actorInfo(t, rt, k.ID())
	assert.Equal(t, gcs.ActorDead, a.State)
	assert.Contains(t, a.DeathCause, "killed")
	_, err = k.Ask(ctx, &bump{By: 1})
	require.ErrorAs(t, err, &died)
	assert.Contains(t, died.Cause, "killed")
	require.NoError(t, rt.Kill(ctx, k, true), "killing a dead actor is no error")

	// MaxTaskRetries(1): the call that crashed the actor runs again on the
	// restarted one, and succeeds.
	r, err := rt.NewActor(ctx, "more.tally", goray.MaxRestarts(1), goray.MaxTaskRetries(1))
	require.NoError(t, err)
	assert.Equal(t, 2, askN(t, r, &bump{By: 2}))
	assert.Equal(t, 0, askN(t, r, &boom{Key: r.ID()}), "retried on a fresh instance")
	eventually(t, "one restart", func() bool { return actorInfo(t, rt, r.ID()).Restarts == 1 })

	// Retries are no use when no restart is left.
	z, err := rt.NewActor(ctx, "more.tally", goray.MaxTaskRetries(3))
	require.NoError(t, err)
	_, err = z.Ask(ctx, &boom{Key: z.ID()})
	require.ErrorIs(t, err, goray.ErrActorDied)
	eventually(t, "dead", func() bool { return actorInfo(t, rt, z.ID()).State == gcs.ActorDead })
	assert.Contains(t, actorInfo(t, rt, z.ID()).DeathCause, "no restarts left")
}

// A head stopped and started again on its storage directory finds its
// tables: actor rows, job rows, KV. A second head on a directory in use is
// refused.
func TestClusterHeadRestartRecoversTables(t *testing.T) {
	dir := t.TempDir()
	ctx := tctx(t, 30*time.Second)
	h1, err := goray.Init(ctx, goray.AsHead(0, dir), goray.WithNamespace("app"), goray.WithoutObjectStore(), goray.WithLogger(quietLog))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h1.Shutdown(context.Background()) })
	keep, err := h1.NewActor(ctx, "more.tally", goray.Name("keep"), goray.Detached(), goray.MaxRestarts(1))
	require.NoError(t, err)
	once, err := h1.NewActor(ctx, "more.tally", goray.Name("once"), goray.Detached())
	require.NoError(t, err)
	att, err := h1.NewActor(ctx, "more.tally", goray.Name("att"))
	require.NoError(t, err)
	assert.Equal(t, 3, askN(t, keep, &bump{By: 3}))
	odd := map[[2]string]string{
		{"cfg", "k"}: "v", {"", "empty ns"}: "1", {"cfg", "a key/with spaces"}: "2",
		{"ünï cödé", "鍵 🔑"}: "3", {"cfg", "dots.and*wild>"}: "4",
	}
	for k, v := range odd {
		added, err := h1.KVPut(ctx, k[0], k[1], []byte(v), false)
		require.NoError(t, err)
		require.True(t, added)
	}
	job1 := h1.JobID()

	_, err = goray.Init(ctx, goray.AsHead(0, dir), goray.WithoutObjectStore(), goray.WithLogger(quietLog))
	require.Error(t, err, "a second head on a storage directory in use")
	assert.Contains(t, err.Error(), "storage directory is in use")

	require.NoError(t, h1.Shutdown(ctx))

	h2 := headRT(t, dir, goray.WithNamespace("app"))
	assert.Equal(t, "00000002", h2.JobID(), "job ids go on")
	j := jobInfo(t, h2, job1)
	assert.Equal(t, gcs.JobSucceeded, j.State)
	assert.False(t, j.EndTime().IsZero())
	for k, v := range odd {
		got, found, err := h2.KVGet(ctx, k[0], k[1])
		require.NoError(t, err)
		assert.True(t, found, "%q", k)
		assert.Equal(t, v, string(got), "%q", k)
	}

	k := actorInfo(t, h2, keep.ID())
	assert.Equal(t, "keep", k.Spec.Name)
	assert.Equal(t, "app", k.Spec.Namespace)
	assert.True(t, k.Spec.Detached)
	assert.Equal(t, 1, k.Restarts, "the old head's node left: a restart used")
	o := actorInfo(t, h2, once.ID())
	assert.Equal(t, gcs.ActorDead, o.State)
	assert.Equal(t, "node died (node stopped)", o.DeathCause)
	a := actorInfo(t, h2, att.ID())
	assert.Equal(t, gcs.ActorDead, a.State)
	assert.Contains(t, a.DeathCause, "its job "+job1+" ended")
	_, err = h2.GetActor(ctx, "once")
	require.ErrorIs(t, err, goray.ErrNotFound)

	nodes, err := h2.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 2)
	assert.Equal(t, gcs.NodeDead, nodes[0].State)
	assert.Equal(t, gcs.NodeAlive, nodes[1].State)
	assert.Equal(t, h2.NodeID(), nodes[1].ID)
}

// A node whose raylet goes away without a goodbye is dead after the
// head's health checks miss it threshold times; its restartable detached
// actor comes back on the head, its job fails.
func TestClusterSilentNodeDeath(t *testing.T) {
	const period, threshold = 100 * time.Millisecond, 3
	head := headRT(t, "", goray.WithHealthChecks(period, threshold), goray.WithResources(cpus(2)))
	w1 := joinRT(t, head, "w1", goray.WithResources(map[string]float64{"CPU": 4, "w1only": 1}))
	ctx := tctx(t, 30*time.Second)

	// The head's job owns the victim; a filler makes the head half full,
	// so the victim goes to the least used node, w1.
	_, err := head.NewActor(ctx, "more.tally", goray.Resources(cpus(1)))
	require.NoError(t, err)
	victim, err := head.NewActor(ctx, "more.tally", goray.Name("victim"), goray.Namespace("hc"), goray.MaxRestarts(1), goray.Resources(cpus(1)))
	require.NoError(t, err)
	require.Equal(t, w1.NodeID(), actorInfo(t, head, victim.ID()).NodeID, "placed on the least used node")
	assert.Equal(t, 2, askN(t, victim, &bump{By: 2}))
	killer, err := w1.NewActor(ctx, "more.assassin", goray.Resources(map[string]float64{"w1only": 1}))
	require.NoError(t, err)
	wid, job := w1.NodeID(), w1.JobID()

	start := time.Now()
	require.NoError(t, killer.Tell(ctx, &stopRaylet{}))
	eventually(t, "w1 declared dead", func() bool { return nodeInfo(t, head, wid).State == gcs.NodeDead })
	took := time.Since(start)
	assert.Less(t, took, period*threshold+time.Second)
	assert.Contains(t, nodeInfo(t, head, wid).DeathCause, "missed 3 health checks")
	t.Logf("w1 declared dead after %v", took)

	eventually(t, "victim back", func() bool { return actorInfo(t, head, victim.ID()).State == gcs.ActorAlive })
	a := actorInfo(t, head, victim.ID())
	assert.Equal(t, head.NodeID(), a.NodeID)
	assert.Equal(t, 1, a.Restarts)
	h, err := head.GetActor(ctx, "victim", goray.Namespace("hc"))
	require.NoError(t, err)
	assert.Equal(t, 1, askN(t, h, &bump{By: 1}), "a fresh instance")
	assert.Equal(t, gcs.JobFailed, jobInfo(t, head, job).State)
}

// GCS events reach Runtime.SubscribeEvents, on an embedded runtime too,
// and a NATS client of a listening head.
func TestClusterEvents(t *testing.T) {
	rt := boot(t)
	ctx := tctx(t, 10*time.Second)
	events := make(chan *gcs.Event, 64)
	stop, err := rt.SubscribeEvents(gcs.TopicActors, func(e *gcs.Event) { events <- e })
	require.NoError(t, err)
	jobs := make(chan *gcs.Event, 64)
	stopJobs, err := rt.SubscribeEvents(gcs.TopicJobs, func(e *gcs.Event) { jobs <- e })
	require.NoError(t, err)
	defer stopJobs()

	next := func(ch chan *gcs.Event) *gcs.Event {
		t.Helper()
		select {
		case e := <-ch:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
			return nil
		}
	}
	h, err := rt.NewActor(ctx, "more.tally")
	require.NoError(t, err)
	require.NoError(t, rt.Kill(ctx, h, true))
	for _, want := range []gcs.ActorState{gcs.ActorAlive, gcs.ActorDead} {
		e := next(events)
		require.NotNil(t, e.Actor)
		assert.Equal(t, gcs.TopicActors, e.Topic)
		assert.Equal(t, h.ID(), e.Actor.ID)
		assert.Equal(t, want, e.Actor.State)
	}
	stop()
	h2, err := rt.NewActor(ctx, "more.tally")
	require.NoError(t, err)
	require.NoError(t, rt.Kill(ctx, h2, true))

	// A NATS client of a listening head sees the same subjects.
	head := headRT(t, "", goray.WithCluster("ev"))
	require.NotEmpty(t, head.ClientURL())
	nc, err := nats.Connect(head.ClientURL(), nats.Token(head.Token()))
	require.NoError(t, err)
	defer nc.Close()
	sub, err := nc.SubscribeSync(bus.NewSubjects("ev").Event(gcs.TopicActors))
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	h3, err := head.NewActor(ctx, "more.tally")
	require.NoError(t, err)
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	e, err := gcs.DecodeEvent(m.Data)
	require.NoError(t, err)
	assert.Equal(t, h3.ID(), e.Actor.ID)

	// The job's end, on the embedded runtime's subscription.
	require.NoError(t, rt.Shutdown(ctx))
	e = next(jobs)
	assert.Equal(t, gcs.JobSucceeded, e.Job.State)
	assert.Empty(t, events, "nothing after stop")
}

func TestClusterKV(t *testing.T) {
	rt := boot(t)
	ctx := tctx(t, 10*time.Second)
	added, err := rt.KVPut(ctx, "ns", "a/1", []byte("one"), false)
	require.NoError(t, err)
	assert.True(t, added)
	added, err = rt.KVPut(ctx, "ns", "a/1", []byte("uno"), false)
	require.NoError(t, err)
	assert.False(t, added)
	v, found, err := rt.KVGet(ctx, "ns", "a/1")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "one", string(v), "overwrite false keeps the old value")
	_, err = rt.KVPut(ctx, "ns", "a/1", []byte("eins"), true)
	require.NoError(t, err)
	v, _, _ = rt.KVGet(ctx, "ns", "a/1")
	assert.Equal(t, "eins", string(v))
	for _, k := range []string{"a/2", "b/1"} {
		_, err = rt.KVPut(ctx, "ns", k, []byte(k), false)
		require.NoError(t, err)
	}
	keys, err := rt.KVKeys(ctx, "ns", "a/")
	require.NoError(t, err)
	assert.Equal(t, []string{"a/1", "a/2"}, keys)
	keys, err = rt.KVKeys(ctx, "other", "")
	require.NoError(t, err)
	assert.Empty(t, keys)
	deleted, err := rt.KVDelete(ctx, "ns", "a/1")
	require.NoError(t, err)
	assert.True(t, deleted)
	deleted, err = rt.KVDelete(ctx, "ns", "a/1")
	require.NoError(t, err)
	assert.False(t, deleted)
	_, found, err = rt.KVGet(ctx, "ns", "a/1")
	require.NoError(t, err)
	assert.False(t, found)
	_, err = rt.KVPut(ctx, "ns", "", []byte("x"), true)
	require.Error(t, err)
}

// TestRegressionHeadRestartKillsRestartableActor used to fail: a detached actor with restarts
// left, restarting when its head stopped, is DEAD ("placed on a node
// identity that is no longer this node's") right after the head starts
// again, instead of ALIVE on the new head.
//
// The new GCS recovers it as pending and places it when the head's raylet
// registers (gcs/nodes.go, registerNode → schedule), sending SpawnActor
// at once, while the RegisterNodeReply waits for the journal's ack
// (nodes.go, g.reply → journal.after). The raylet gets the SpawnActor
// before it knows its node id and refuses it (raylet/actors.go);
// onDied (gcs/actors.go) makes the refusal a death. Any pending actor
// dies so when a node joins: see gcs.TestRegressionPendingActorKilledWhenNodeRegisters.
func TestRegressionHeadRestartKillsRestartableActor(t *testing.T) {
	dir := t.TempDir()
	ctx := tctx(t, 30*time.Second)
	h1, err := goray.Init(ctx, goray.AsHead(0, dir), goray.WithNamespace("app"), goray.WithoutObjectStore(), goray.WithLogger(quietLog))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h1.Shutdown(context.Background()) })
	keep, err := h1.NewActor(ctx, "more.tally", goray.Name("keep"), goray.Detached(), goray.MaxRestarts(1))
	require.NoError(t, err)
	require.NoError(t, h1.Shutdown(ctx))

	h2 := headRT(t, dir, goray.WithNamespace("app"))
	var a gcs.ActorInfo
	eventually(t, "keep placed", func() bool {
		a = actorInfo(t, h2, keep.ID())
		return a.State == gcs.ActorAlive || a.State == gcs.ActorDead
	})
	require.Equal(t, gcs.ActorAlive, a.State, "keep is %s: %s", a.State, a.DeathCause)
	h, err := h2.GetActor(ctx, "keep")
	require.NoError(t, err)
	assert.Equal(t, 1, askN(t, h, &bump{By: 1}))
}

// TestRegressionKVPutKeepsCallerBuffer used to fail: in an embedded cluster (or any caller in
// the head's process) KVPut stores the caller's slice itself, and KVGet
// hands out the stored slice: a caller that reuses its buffer after KVPut,
// or edits what KVGet returned, changes the stored value behind the GCS's
// back (and races with it); the journal keeps the old bytes, so the value
// changes again at the next head restart.
//
// gcs/kv.go (kvSet(m.Namespace, m.Key, m.Value)) and kv.go (KVReply
// Value: v): messages between actors of one process are passed by
// reference.
//
// The fix: store bytes.Clone(m.Value) in kvPut, and answer KVGet with a clone.
func TestRegressionKVPutKeepsCallerBuffer(t *testing.T) {
	rt := boot(t)
	ctx := tctx(t, 10*time.Second)
	buf := []byte("v1")
	_, err := rt.KVPut(ctx, "ns", "k", buf, true)
	require.NoError(t, err)
	buf[1] = '2' // the caller reuses its buffer
	v, _, err := rt.KVGet(ctx, "ns", "k")
	require.NoError(t, err)
	assert.Equal(t, "v1", string(v), "the stored value changed with the caller's buffer")
	v[0] = 'X' // the caller edits what it got
	v2, _, err := rt.KVGet(ctx, "ns", "k")
	require.NoError(t, err)
	assert.NotEqual(t, byte('X'), v2[0], "editing a KVGet result changed the stored value")
}

// TestRegressionKillWithoutNoRestartEndsPendingActor used to fail: Kill(h, false) is
// documented to kill "as if it had crashed", restarting the actor while
// restarts remain; an actor that is not ALIVE (pending, or restarting
// after its node's loss) is instead made DEAD for good, with restarts
// left. (Ray's ray.kill(no_restart=False) restarts an actor that is
// being scheduled.)
//
// gcs/actors.go (killActor: m.NoRestart || a.NodeID == "" || a.State
// != ActorAlive → stop).
//
// The fix: for an actor that is not ALIVE and may restart, count a restart
// (Restarts++) and leave it pending (or re-place it), or document Kill as
// ending non-ALIVE actors for good.
func TestRegressionKillWithoutNoRestartEndsPendingActor(t *testing.T) {
	rt := boot(t, goray.WithResources(cpus(1)))
	ctx := tctx(t, 10*time.Second)
	_, err := rt.NewActor(ctx, "more.tally", goray.Resources(cpus(1)))
	require.NoError(t, err)
	p, err := rt.NewActor(ctx, "more.tally", goray.Resources(cpus(1)), goray.MaxRestarts(3))
	require.NoError(t, err)
	require.Equal(t, gcs.ActorPendingCreation, actorInfo(t, rt, p.ID()).State)
	require.NoError(t, rt.Kill(ctx, p, false))
	a := actorInfo(t, rt, p.ID())
	assert.NotEqual(t, gcs.ActorDead, a.State, "restarts remain, yet: %s", a.DeathCause)
}

// TestRegressionDetachedActorDiesWithItsDriver used to fail: a detached actor, which should
// outlive its job "until it is killed", dies when its driver's process
// shuts down, because placement puts it on the driver's own node (the
// owner's node is preferred) and the driver's Shutdown takes that node
// out of the cluster; with MaxRestarts 0 (the default) it is DEAD with
// "node died (node stopped)". Every driver is a node with the host's CPUs
// unless it sets WithResources({"CPU": 0}) and the actors ask for CPU.
//
// gcs/actors.go (pick prefers Spec.OwnerNode) together with
// init.go's Shutdown (raylet.Close unregisters the driver's node, and
// markDead → actorLost ends the detached actor).
//
// The fix: do not prefer the owner's node for detached actors (or not a
// driver's node at all), or move detached actors of a node that leaves on
// purpose elsewhere without using up MaxRestarts.
func TestRegressionDetachedActorDiesWithItsDriver(t *testing.T) {
	head := headRT(t, "", goray.WithRole(goray.RoleNode))
	d := joinRT(t, head, "d")
	ctx := tctx(t, 20*time.Second)
	det, err := d.NewActor(ctx, "more.tally", goray.Name("det"), goray.Namespace("keep"), goray.Detached())
	require.NoError(t, err)
	assert.Equal(t, 1, askN(t, det, &bump{By: 1}))
	require.NoError(t, d.Shutdown(ctx))
	a := actorInfo(t, head, det.ID())
	assert.Equal(t, gcs.ActorAlive, a.State, "detached, yet: %s", a.DeathCause)
}
