package cli_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/gcs"
)

// TestFailureDetectionConfigurable: with checks every 200 ms and 5 misses
// allowed, a node killed with SIGKILL is dead within period × misses +
// 2 s, and in practice within about a second and a half.
func TestFailureDetectionConfigurable(t *testing.T) {
	c := newCluster(t)
	head := c.startHead("--health-check-period", "200ms", "--health-check-failures", "5")
	n := c.startNode(head.address(), "--num-cpus", "1")
	driver := c.driver(head.address())
	require.Equal(t, gcs.NodeAlive, nodeState(t, driver, n.NodeID).State)

	killed := time.Now()
	n.kill(t)
	require.Eventually(t, func() bool { return nodeState(t, driver, n.NodeID).State == gcs.NodeDead },
		10*time.Second, 20*time.Millisecond)
	detected := time.Since(killed)
	t.Logf("node declared dead %v after SIGKILL (period 200ms × 5 misses)", detected)
	assert.LessOrEqual(t, detected, 3*time.Second)
}
