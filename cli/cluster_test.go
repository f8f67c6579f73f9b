package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/internal/demo"
)

var cpu1 = goray.Resources(map[string]float64{"CPU": 1})

func ask(t *testing.T, h *goray.ActorHandle, by int) *demo.Count {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := h.Ask(ctx, &demo.Add{By: by})
	require.NoError(t, err)
	return r.(*demo.Count)
}

// TestClusterOnLoopback: a head and two nodes started with the CLI, a
// named actor created through node B found through node C, then node B
// killed with SIGKILL.
func TestClusterOnLoopback(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	head := c.startHead("--num-cpus", "0")
	b := c.startNode(head.address(), "--num-cpus", "3", "--resources", `{"disk": 2}`, "--labels", `{"zone": "b"}`)

	// Created from node B: all three land on B, the only node with CPUs.
	viaB := c.driver(b.address())
	survivor, err := viaB.NewActor(ctx, demo.Counter, goray.Name("survivor"), goray.Detached(), goray.MaxRestarts(1), cpu1)
	require.NoError(t, err)
	mortal, err := viaB.NewActor(ctx, demo.Counter, goray.Name("mortal"), goray.Detached(), goray.MaxRestarts(0), cpu1)
	require.NoError(t, err)
	_, err = viaB.NewActor(ctx, demo.Sleeper, goray.Name("sleepy"), goray.Detached(), cpu1)
	require.NoError(t, err)
	assert.Equal(t, b.Name, ask(t, survivor, 1).Node)
	assert.Equal(t, b.Name, ask(t, mortal, 1).Node)

	cNode := c.startNode(head.address(), "--num-cpus", "3")
	status := c.run("status")
	t.Logf("goray status:\n%s", status)
	assert.Contains(t, status, "Alive: 3 nodes")
	assert.Contains(t, status, "CPU 3/3") // B: three actors of one CPU each
	assert.Contains(t, status, "CPU 0/3") // C: empty
	assert.Contains(t, status, "disk 0/2")
	assert.Contains(t, status, "3/6 CPU")
	for _, n := range []node{head, b, cNode} {
		assert.Contains(t, status, n.NodeID)
	}

	// Found by name from node C.
	viaC := c.driver(cNode.address())
	found, err := viaC.GetActor(ctx, "survivor", goray.Namespace("test"))
	require.NoError(t, err)
	assert.Equal(t, survivor.ID(), found.ID())
	assert.Equal(t, 2, ask(t, found, 1).N)

	// A call in flight when B dies.
	inflight := make(chan error, 1)
	go func() {
		h, err := viaC.GetActor(ctx, "sleepy", goray.Namespace("test"))
		if err == nil {
			_, err = h.Ask(ctx, &demo.Sleep{D: time.Minute})
		}
		inflight <- err
	}()
	time.Sleep(500 * time.Millisecond)

	killed := time.Now()
	b.kill(t)
	require.Eventually(t, func() bool { return nodeState(t, viaC, b.NodeID).State == gcs.NodeDead },
		15*time.Second, 50*time.Millisecond)
	detected := time.Since(killed)
	t.Logf("node B declared dead %v after SIGKILL (period 1s × 5 misses; bound 7s): %s", detected, nodeState(t, viaC, b.NodeID).DeathCause)
	assert.LessOrEqual(t, detected, 7*time.Second)

	select {
	case err := <-inflight:
		var died *goray.ActorDiedError
		require.ErrorAs(t, err, &died, "the call in flight: %v", err)
		t.Logf("call in flight: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the call in flight never ended")
	}

	// MaxRestarts 1: it answers again, from node C, as a fresh instance.
	var r *demo.Count
	require.Eventually(t, func() bool {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		res, err := found.Ask(actx, &demo.Add{By: 10})
		r, _ = res.(*demo.Count)
		return err == nil
	}, 20*time.Second, 100*time.Millisecond)
	assert.Equal(t, cNode.Name, r.Node)
	assert.Equal(t, 10, r.N)
	row := actorRow(t, viaC, survivor.ID())
	assert.Equal(t, gcs.ActorAlive, row.State)
	assert.Equal(t, cNode.NodeID, row.NodeID)
	assert.Equal(t, 1, row.Restarts)

	// MaxRestarts 0: dead, because its node died.
	row = actorRow(t, viaC, mortal.ID())
	assert.Equal(t, gcs.ActorDead, row.State)
	assert.Contains(t, row.DeathCause, "node died")
	_, err = mortal.Ask(ctx, &demo.Add{By: 1})
	var died *goray.ActorDiedError
	require.ErrorAs(t, err, &died)
	assert.Contains(t, died.Cause, "node died")
	_, err = viaC.GetActor(ctx, "mortal", goray.Namespace("test"))
	assert.ErrorIs(t, err, goray.ErrNotFound)

	// The CLI's tables agree.
	var actors []gcs.ActorInfo
	require.NoError(t, json.Unmarshal([]byte(c.run("list", "actors", "--format", "json")), &actors))
	states := map[string]string{}
	for _, a := range actors {
		states[a.Spec.Name] = a.State.String()
	}
	assert.Equal(t, map[string]string{"survivor": "ALIVE", "mortal": "DEAD", "sleepy": "DEAD"}, states)
	nodes := c.run("list", "nodes")
	t.Logf("goray list nodes:\n%s", nodes)
	assert.Regexp(t, b.NodeID+`\s+`+b.Name+`\s+DEAD`, nodes)
	// An actor that fits only later waits, and status shows the demand.
	big, err := viaC.NewActor(ctx, demo.Counter, goray.Resources(map[string]float64{"CPU": 3}))
	require.NoError(t, err, "fits C's total, not what C has free")
	assert.Equal(t, gcs.ActorPendingCreation, actorRow(t, viaC, big.ID()).State)
	status = c.run("status")
	assert.Contains(t, status, "{CPU: 3}: 1 actor waiting for room")
	assert.Contains(t, status, "PENDING_CREATION: 1")
	_, err = viaC.NewActor(ctx, demo.Counter, goray.Resources(map[string]float64{"CPU": 4}))
	assert.ErrorIs(t, err, goray.ErrInfeasible, "no node has 4 CPUs")

	jobs := c.run("list", "jobs")
	assert.Equal(t, 2, strings.Count(jobs, "RUNNING"), jobs) // the two drivers
}
