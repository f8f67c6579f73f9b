package bus_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/bus/internal/bustest"
)

func BenchmarkURLSend(b *testing.B) {
	tf := tokenFile(b)
	a := startProc(b, "-node", "a", "-listen", "127.0.0.1:0", "-token-file", tf)
	tok, _ := bus.LoadOrCreateToken(tf)
	tn := startNode(b, bus.Config{Node: "t", Cluster: cluster, Token: tok, URL: a.ClientURL, NodeTimeout: bus.DefaultNodeTimeout, HeartbeatInterval: bus.DefaultHeartbeatInterval})
	require.NoError(b, tn.node.WaitForNode(ctxTimeout(b, 20*time.Second), "a"))
	sink := &actor.PID{Node: "a", ID: "sink"}
	b.ResetTimer()
	start := time.Now()
	cpuSelf, cpuPeer := procCPU(os.Getpid()), procCPU(a.cmd.Process.Pid)
	for i := range b.N {
		tn.sys.Send(sink, &bustest.FastTick{Seq: uint64(i)})
	}
	_, err := tn.sys.Request(ctxTimeout(b, 2*time.Minute), sink, &bustest.Count{At: uint64(b.N)})
	elapsed := time.Since(start)
	require.NoError(b, err)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric((procCPU(os.Getpid())-cpuSelf).Seconds()/elapsed.Seconds(), "sender-cores")
	b.ReportMetric((procCPU(a.cmd.Process.Pid)-cpuPeer).Seconds()/elapsed.Seconds(), "receiver-cores")
}
