package cli_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/internal/demo"
)

// TestHeadRestart: the head is killed with SIGKILL and started again on
// the same storage directory; its tables come back and the actors of the
// surviving node answer again.
func TestHeadRestart(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	storage := filepath.Join(t.TempDir(), "gcs")

	head := c.startHead("--num-cpus", "0", "--storage", storage)
	b := c.startNode(head.address(), "--num-cpus", "2")
	driver := c.driver(b.address())

	keeper, err := driver.NewActor(ctx, demo.Counter, goray.Name("keeper"), goray.Detached(), cpu1)
	require.NoError(t, err)
	assert.Equal(t, 5, ask(t, keeper, 5).N)
	added, err := driver.KVPut(ctx, "app", "config/answer", []byte("42"), false)
	require.NoError(t, err)
	assert.True(t, added)
	jobID := driver.JobID()
	require.NotEmpty(t, jobID)

	head.kill(t)
	restarted := c.startHead("--num-cpus", "0", "--storage", storage)
	require.NotEqual(t, head.NodeID, restarted.NodeID, "a head started again is a new node")

	// The driver's handle and name lookups work again once the new GCS is
	// up; the actor kept its state, since its node never went away.
	var r any
	require.Eventually(t, func() bool {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		h, err := driver.GetActor(actx, "keeper")
		if err != nil {
			return false
		}
		r, err = h.Ask(actx, &demo.Add{By: 1})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond)
	assert.Equal(t, 6, r.(*demo.Count).N)
	assert.Equal(t, b.Name, r.(*demo.Count).Node)
	assert.Equal(t, 7, ask(t, keeper, 1).N, "the old handle works too")

	v, found, err := driver.KVGet(ctx, "app", "config/answer")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "42", string(v))

	jobs, err := driver.Jobs(ctx)
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(jobs, func(j gcs.JobInfo) bool { return j.ID == jobID && j.State == gcs.JobRunning }), "%+v", jobs)

	// Node B kept its identity; the old head is dead, replaced.
	assert.Equal(t, gcs.NodeAlive, nodeState(t, driver, b.NodeID).State)
	require.Eventually(t, func() bool { return nodeState(t, driver, head.NodeID).State == gcs.NodeDead }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, gcs.NodeAlive, nodeState(t, driver, restarted.NodeID).State)
	row := actorRow(t, driver, keeper.ID())
	assert.Equal(t, gcs.ActorAlive, row.State)
	assert.Equal(t, 0, row.Restarts)

	// New actors can be created after the restart; the name is still taken.
	_, err = driver.NewActor(ctx, demo.Counter, goray.Name("keeper"))
	assert.ErrorIs(t, err, goray.ErrNameTaken)
	other, err := driver.NewActor(ctx, demo.Counter, goray.Name("other"), cpu1)
	require.NoError(t, err)
	assert.Equal(t, 1, ask(t, other, 1).N)
	t.Logf("goray status after the restart:\n%s", c.run("status"))
}
