package plasma_test

import (
	"context"
	"testing"
	"time"

	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/plasma"
	"github.com/stretchr/testify/require"
)

// BenchmarkOtherProcess runs Ray's single_client_put_calls and
// single_client_get_calls from a client in another OS process than the
// store's: this process joins the store process's NATS as a client node,
// as a worker process of the node would, and reaches the store over the
// bus. Each call waits for its reply before the next, as Ray's do.
func BenchmarkOtherProcess(b *testing.B) {
	dir, spill := shmDir(b), b.TempDir()
	_, st := startStore(b, "bstore", dir, spill, 256*mib)
	bn := startBusNode(b, bus.Config{Node: "bclient", URL: st.URL, Token: st.Token})
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(b, bn.node.WaitForNode(wctx, st.Node))
	c, err := plasma.Connect(wctx, bn.sys, st.Node)
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	value := pattern(64, 1)

	b.Run("single_client_put_calls", func(b *testing.B) {
		var ids []plasma.ObjectID
		i := 0
		for b.Loop() {
			i++
			oid := seqID(i)
			if err := c.Put(ctx, oid, value); err != nil {
				b.Fatal(err)
			}
			if ids = append(ids, oid); len(ids) == 1024 {
				require.NoError(b, c.Delete(ctx, ids...))
				ids = ids[:0]
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
		require.NoError(b, c.Delete(ctx, ids...))
	})
	// The anchor: a bare NATS request to the store process and back, over
	// the same connection, answered by the store node's own connection.
	b.Run("nats_request_reply", func(b *testing.B) {
		msg := pattern(64, 2)
		for b.Loop() {
			if _, err := bn.node.Conn().Request("plasmanode.echo", msg, 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
	b.Run("single_client_get_calls", func(b *testing.B) {
		oid := seqID(-1)
		require.NoError(b, c.Put(ctx, oid, value))
		ids := []plasma.ObjectID{oid}
		for b.Loop() {
			views, err := c.Get(ctx, ids, 0)
			if err != nil || views[0] == nil {
				b.Fatal(err)
			}
			_ = views[0].Release()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
	})
}

func seqID(i int) plasma.ObjectID {
	var oid plasma.ObjectID
	for k := range 8 {
		oid[k] = byte(uint64(i) >> (8 * k))
	}
	oid[19] = 0xbe
	return oid
}
