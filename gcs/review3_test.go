package gcs_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/gcs"
)

// Tests named TestRegression… are bugs found in the third review, fixed since: each says what used to go wrong.

// TestRegressionStaleKeeperReportsStartOfReplacedCopy used to fail: a keeper the raylet has
// already let go (StopActor NoRestart) still reports its actor started,
// and the raylet credits that report to the keeper of a newer copy of the
// same actor: the GCS records the PID of a copy that is stopping, and
// handles send to a dead PID for ever.
//
// raylet/raylet.go (Receive, hostedStarted; likewise hostedRestarted and
// hostedEnded): the message carries only the actor id, and the raylet
// looks up r.hosted[m.id] without checking which keeper sent it. A keeper
// runs its constructor in its Started handler (keeper.go) and sends
// hostedStarted afterwards even when stopHosted is already queued for it.
//
// How it happens: an actor whose constructor is slow is PENDING_CREATION;
// goray.Kill (restart) sends StopActor{NoRestart} to its node and places
// it again (gcs/actors.go killActor → actorLost), here on the same node.
// The second keeper starts its copy first (ALIVE at copy 2); then the
// first constructor returns, keeper 1 spawns copy 1, sends hostedStarted
// and only then stops. The raylet sets h.pid = copy 1 on copy 2's entry
// and reports ActorStarted{PID: copy 1}; the GCS overwrites the PID
// (onStarted does not look at the state). Copy 1 is gone a moment later,
// copy 2 runs unreachable: the hosted count still agrees, so no resync
// mends it, and ActorHandle.Ask loops (dead letter → not delivered → wait
// 1 s → the same PID) until its context ends.
//
// The fix: carry the keeper's PID in hostedStarted / hostedRestarted /
// hostedEnded (or use c.Sender()) and ignore reports whose keeper is not
// r.hosted[id].keeper; the keeper could also skip the spawn when a
// stopHosted is pending.
func TestRegressionStaleKeeperReportsStartOfReplacedCopy(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	c.raylet(c.head, cpu(1))

	// gt.gate's constructor is slow the first time only: the gate is
	// taken away once the first call waits on it.
	g := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(g) }) }
	for len(entered) > 0 {
		<-entered
	}
	gate.Store(&g)
	t.Cleanup(func() { release(); gate.Store(nil) })

	create := c.head.sys.RequestFuture(gcs.PID(gcs.DefaultHead),
		&gcs.CreateActor{Spec: gcs.ActorSpec{Kind: "gt.gate", MaxRestarts: 3, Resources: cpu(1)}}, 8*time.Second)
	select {
	case <-entered: // keeper 1 runs the slow constructor
	case <-time.After(5 * time.Second):
		t.Fatal("the actor was not placed")
	}
	gate.Store(nil)
	var id string
	for _, a := range c.actors() {
		if a.Spec.Kind == "gt.gate" {
			id = a.ID
		}
	}
	require.NotEmpty(t, id)
	require.Equal(t, gcs.ActorPendingCreation, c.actor(id).State)

	c.kill(id, false) // uses a restart; placed again, on the only node
	var second gcs.ActorInfo
	require.Eventually(t, func() bool {
		second = c.actor(id)
		return second.State == gcs.ActorAlive
	}, 5*time.Second, 10*time.Millisecond, "the killed pending actor was not started again")
	require.NotNil(t, c.head.sys.Lookup(second.PID.ID), "copy 2 runs")

	release() // keeper 1's constructor returns; keeper 1 then stops
	if res, err := create.Result(bg(t, 5*time.Second)); err == nil {
		t.Logf("creator answered: %T", res)
	}
	time.Sleep(300 * time.Millisecond)
	final := c.actor(id)
	assert.Equal(t, gcs.ActorAlive, final.State)
	if assert.NotNil(t, final.PID) {
		assert.NotNil(t, c.head.sys.Lookup(final.PID.ID),
			"the GCS places the actor at %s, a PID that no longer exists (the running copy is %s)", final.PID, second.PID)
	}
}

// TestRegressionKillOfPlacedPendingActorNeverReplaced used to fail: Kill (restart) of an
// actor that is placed but not yet started leaves it RESTARTING and
// unplaced although its node has room, until some unrelated event
// happens to schedule.
//
// gcs/actors.go killActor (case a.State != ActorAlive) → actorLost:
// release(a) gives the reservation back and runs schedule() while a is
// not yet in g.pending; actorLost then appends a to g.pending and nobody
// schedules again (markDead and resync call g.schedule() after
// actorLost; killActor does not). A later ResourceReport schedules only if
// it changes the node's Available, which it does not when the raylet's
// report never counted the actor (the kill overtook its report, or, as
// with the fake raylet here, the raylet had nothing new to report).
//
// The fix: call g.schedule() at the end of actorLost (or after it in
// killActor).
func TestRegressionKillOfPlacedPendingActorNeverReplaced(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	m := c.join("f1")
	f := c.fake(m, false) // it never reports the start
	f.setID(c.registerFake(m, cpu(4)).NodeID)

	_ = c.head.sys.RequestFuture(gcs.PID(gcs.DefaultHead),
		&gcs.CreateActor{Spec: gcs.ActorSpec{Kind: "gt.echo", MaxRestarts: 2, Resources: cpu(1)}}, 5*time.Second)
	var first gcs.ActorInfo
	select {
	case first = <-f.spawns:
	case <-time.After(5 * time.Second):
		t.Fatal("not placed")
	}
	c.kill(first.ID, false)
	select {
	case again := <-f.spawns:
		assert.Equal(t, first.ID, again.ID)
	case <-time.After(2 * time.Second):
		a := c.actor(first.ID)
		t.Errorf("the killed actor is %s on node %q after 2 s; the node has %s free", a.State, a.NodeID, c.node(f.id).Available)
	}
}

// TestRegressionKillOfWaitingActorQueuesItTwice used to fail: Kill (restart) of an actor that
// waits for room (NodeID "", already in g.pending) appends it to
// g.pending again, so `goray status` counts it once more per Kill.
//
// gcs/actors.go killActor → actorLost appends a.ID to g.pending without
// looking whether it is there already (it is: it never left it).
// status() (list.go) counts every entry of g.pending.
//
// The fix: in actorLost, append only when a was placed (a.NodeID != ""
// before release), or skip ids already pending.
func TestRegressionKillOfWaitingActorQueuesItTwice(t *testing.T) {
	c := newCluster(t, gcs.Config{})
	m := c.join("f1")
	f := c.fake(m, true)
	f.setID(c.registerFake(m, cpu(1)).NodeID)
	c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1)})
	p := c.mustCreate(gcs.ActorSpec{Kind: "gt.echo", Resources: cpu(1), MaxRestarts: 5})
	require.Equal(t, gcs.ActorPendingCreation, p.State)
	c.kill(p.ID, false)
	c.kill(p.ID, false)
	count := 0
	for _, d := range c.status().Pending {
		count += d.Count
	}
	assert.Equal(t, 1, count, "one actor waits for room")
}

// slowRaylet answers health checks honestly (Hosted is what it runs) and
// resyncs when asked, but handles a resync check late (as a raylet busy
// with a backlog would); it drops the first placement it gets (a lost
// SpawnActor: what the mismatch resync is for).
type slowRaylet struct {
	mu      sync.Mutex
	id      string
	hosted  map[string]bool
	drop    bool
	delay   time.Duration
	busy    chan struct{}
	lastSeq uint64 // the last placement handled, as a raylet reports it
}

func (s *slowRaylet) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case *gcs.HealthCheck:
		s.mu.Lock()
		id := s.id
		s.mu.Unlock()
		if m.Resync {
			select {
			case s.busy <- struct{}{}:
			default:
			}
			time.Sleep(s.delay) // the backlog ahead of this check
		}
		ids := make([]string, 0, len(s.hosted))
		for a := range s.hosted {
			ids = append(ids, a)
		}
		c.Respond(&gcs.HealthReply{NodeID: id, Hosted: len(ids)})
		if m.Resync {
			c.Send(gcs.PID(gcs.DefaultHead), &gcs.Resync{NodeID: id, Epoch: m.Epoch, Actors: ids, Seq: s.lastSeq})
		}
	case *gcs.SpawnActor:
		s.lastSeq = max(s.lastSeq, m.Seq)
		if s.drop {
			s.drop = false
			return
		}
		s.hosted[m.Actor.ID] = true
		c.Send(gcs.PID(gcs.DefaultHead), &gcs.ActorStarted{ID: m.Actor.ID, NodeID: m.Actor.NodeID, PID: c.Self()})
	case *gcs.StopActor:
		delete(s.hosted, m.ID)
	}
}

// TestRegressionResyncDeclaresFreshPlacementLost used to fail: a resync declares an actor
// "lost by its node" although the node is about to start it, because its
// placement is younger than the check the node answered but older than
// two health periods when the GCS reads the answer.
//
// gcs/nodes.go resync: the raylet's list reflects what it hosted when it
// handled the check; SpawnActors sent after the GCS sent that check are
// behind it in the raylet's mailbox and cannot be in the list. The GCS
// guesses which placements the list covers by wall time (placedAt older
// than now − 2 periods), so whenever the raylet handles the check, or the
// GCS handles the Resync, more than two periods late (a raylet or GCS
// backlogged by a burst of creations: exactly when hosted counts disagree
// at every check and the mismatch resync fires), every actor placed on
// that node in between is declared lost: with MaxRestarts 0 (the default)
// it dies ("lost by its node"), its creator gets an error, and the copy
// the node then starts is stopped as unknown.
//
// The fix: order rather than time. Give each placement a per-node
// sequence number (in SpawnActor) and have the raylet put the highest one
// it has handled in Resync (or stamp the HealthCheck with the GCS's
// current sequence and echo it); only actors placed at or below that mark
// and missing from the list are lost.
func TestRegressionResyncDeclaresFreshPlacementLost(t *testing.T) {
	period := 100 * time.Millisecond
	c := newCluster(t, gcs.Config{HealthPeriod: period, HealthThreshold: 50})
	m := c.join("s1")
	s := &slowRaylet{hosted: map[string]bool{}, drop: true, delay: 6 * period, busy: make(chan struct{}, 1)}
	_, err := m.sys.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return s }), gcs.RayletName)
	require.NoError(t, err)
	reply := c.registerFake(m, cpu(4))
	s.mu.Lock()
	s.id = reply.NodeID
	s.mu.Unlock()

	// The first placement is lost: counts disagree, and after a few checks
	// the GCS asks the node for its list.
	lostOne := c.head.sys.RequestFuture(gcs.PID(gcs.DefaultHead), &gcs.CreateActor{Spec: gcs.ActorSpec{Kind: "gt.echo", Name: "dropped", Namespace: "ns", MaxRestarts: 1}}, 5*time.Second)
	select {
	case <-s.busy:
	case <-time.After(5 * time.Second):
		t.Fatal("no resync was asked for")
	}
	// While the node works through its backlog, an actor is created there.
	fresh, err := c.head.sys.RequestFuture(gcs.PID(gcs.DefaultHead),
		&gcs.CreateActor{Spec: gcs.ActorSpec{Kind: "gt.echo", Name: "fresh", Namespace: "ns"}}, 5*time.Second).Result(bg(t, 5*time.Second))
	require.NoError(t, err)
	r := fresh.(*gcs.ActorReply)
	if !assert.Empty(t, r.Err, "creating an actor on a healthy (busy) node") {
		assert.True(t, strings.Contains(r.Err, "lost by its node"), r.Err)
	}
	assert.Equal(t, gcs.ActorAlive, r.Actor.State)

	// The placement the node dropped is found lost by the resync and
	// placed again, using its one restart.
	res, err := lostOne.Result(bg(t, 5*time.Second))
	require.NoError(t, err)
	dropped := res.(*gcs.ActorReply).Actor
	require.Eventually(t, func() bool { return c.actor(dropped.ID).State == gcs.ActorAlive }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, 1, c.actor(dropped.ID).Restarts)
}
