package cli_test

import (
	"testing"
	"time"

	"github.com/goray-dev/goray/gcs"
)

// BenchmarkNodeFailureDetection starts a node with the CLI, kills it with
// SIGKILL and reports how long the GCS took to declare it dead, once per
// iteration: with the default health checks (1 s × 5; Ray's are 3 s × 5)
// and with 200 ms × 5. Run it with -benchtime 3x: an iteration takes
// seconds.
func BenchmarkNodeFailureDetection(b *testing.B) {
	for _, bc := range []struct {
		name  string
		flags []string
	}{
		{"default", nil},
		{"200ms", []string{"--health-check-period", "200ms", "--health-check-failures", "5"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newCluster(b)
			head := c.startHead(bc.flags...)
			driver := c.driver(head.address())
			var total time.Duration
			for range b.N {
				n := c.startNode(head.address(), "--num-cpus", "1")
				killed := time.Now()
				n.kill(c.t)
				for nodeState(c.t, driver, n.NodeID).State != gcs.NodeDead {
					time.Sleep(10 * time.Millisecond)
				}
				total += time.Since(killed)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s-to-dead")
		})
	}
}
