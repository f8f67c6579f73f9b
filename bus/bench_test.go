package bus_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/bus/internal/bustest"
)

// benchPair starts a busnode process "a" and joins an in-process node
// "t" to it over loopback TCP. Routed: each process has its own embedded
// NATS server and the two are routed, as two nodes of a cluster run.
// Otherwise "t" is a client of a's server, as a worker process attached
// to its node (or any node on an external NATS) runs.
func benchPair(b *testing.B, routed bool) (*proc, *testNode) {
	b.Helper()
	tf := tokenFile(b)
	args := []string{"-node", "a", "-cluster-listen", "127.0.0.1:0", "-listen", "127.0.0.1:0", "-token-file", tf}
	if prof := os.Getenv("BUSNODE_CPUPROFILE"); prof != "" {
		args = append(args, "-cpuprofile", prof)
	}
	a := startProc(b, args...)
	tok, err := bus.LoadOrCreateToken(tf)
	require.NoError(b, err)
	cfg := bus.Config{Node: "t", Cluster: cluster, Token: tok, URL: a.ClientURL,
		NodeTimeout: bus.DefaultNodeTimeout, HeartbeatInterval: bus.DefaultHeartbeatInterval}
	if routed {
		cfg.URL, cfg.ClusterListen, cfg.Routes = "", "127.0.0.1:0", []string{a.ClusterURL}
	}
	tn := startNode(b, cfg)
	require.NoError(b, tn.node.WaitForNode(ctxTimeout(b, 20*time.Second), "a"))
	// One round trip, so the route and interest are in place.
	_, err = tn.sys.Request(ctxTimeout(b, 5*time.Second), &actor.PID{Node: "a", ID: "echo"}, &bustest.Ping{})
	require.NoError(b, err)
	return a, tn
}

// BenchmarkRemoteSend measures one-way throughput from this process to an
// actor in another: b.N sends, then a request that returns once the sink
// has counted them all.
func BenchmarkRemoteSend(b *testing.B) {
	fast := func(i int) any { return &bustest.FastTick{Seq: uint64(i), A: -5, B: 1 << 40, C: 7, D: true} }
	slow := func(i int) any { return &bustest.Tick{Seq: uint64(i), A: -5, B: 1 << 40, C: 7, D: true} }
	for _, bc := range []struct {
		name   string
		routed bool
		msg    func(i int) any
	}{
		{"routed/fastpath", true, fast},
		{"routed/reflection", true, slow},
		{"client/fastpath", false, fast},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, tn := benchPair(b, bc.routed)
			sink := &actor.PID{Node: "a", ID: "sink"}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			cpuSelf, cpuPeer := procCPU(os.Getpid()), procCPU(a.Pid())
			for i := range b.N {
				tn.sys.Send(sink, bc.msg(i))
			}
			res, err := tn.sys.Request(ctxTimeout(b, 2*time.Minute), sink, &bustest.Count{At: uint64(b.N)})
			elapsed := time.Since(start)
			b.StopTimer()
			require.NoError(b, err)
			require.Equal(b, uint64(b.N), res.(bustest.Counted).N)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric((procCPU(os.Getpid())-cpuSelf).Seconds()/elapsed.Seconds(), "sender-cores")
			b.ReportMetric((procCPU(a.Pid())-cpuPeer).Seconds()/elapsed.Seconds(), "receiver-cores")
			st := tn.node.Stats()
			b.ReportMetric(float64(st.Sent)/float64(max(st.Batches, 1)), "msgs/batch")
		})
	}
}

// BenchmarkRemoteRequestReply measures request–reply latency to an actor
// in another process, next to bare NATS request–reply between the same
// two processes over the same route, in the same run.
func BenchmarkRemoteRequestReply(b *testing.B) {
	_, tn := benchPair(b, true)
	echo := &actor.PID{Node: "a", ID: "echo"}
	nc := tn.node.Conn()
	payload := []byte("0123456789abcdef")
	for _, bc := range []struct {
		name string
		call func() error
	}{
		{"goray", func() error {
			_, err := tn.sys.Request(ctxTimeout(b, 5*time.Second), echo, &bustest.Ping{N: 1})
			return err
		}},
		{"nats", func() error {
			_, err := nc.Request(bustest.BareEchoSubject("a"), payload, 5*time.Second)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := bc.call(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
