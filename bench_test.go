package goray_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
)

// BenchmarkActorCreation creates actors through the GCS of an embedded
// cluster (one node), 64 creations in flight at a time, each NewActor
// returning once its actor is alive. Ray's many_actors release test makes
// 551 actors/s. "memory" keeps the GCS's tables in memory-backed
// JetStream, "file" in a storage directory, as a head does.
func BenchmarkActorCreation(b *testing.B) {
	for _, storage := range []string{"memory", "file"} {
		b.Run(storage, func(b *testing.B) {
			opts := []goray.InitOption{}
			if storage == "file" {
				opts = append(opts, goray.AsHead(0, b.TempDir()))
			}
			rt := initEmbedded(b, opts...)
			ctx := context.Background()
			const inflight = 64
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, inflight)
			b.ResetTimer()
			start := time.Now()
			for range inflight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := rt.NewActor(ctx, "test.counter"); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "actors/s")
		})
	}
}

// BenchmarkNamedActorLookup measures GetActor by name in-process, one at
// a time, and reports its latency percentiles.
func BenchmarkNamedActorLookup(b *testing.B) {
	rt := initEmbedded(b)
	ctx := context.Background()
	for i := range 1000 {
		_, err := rt.NewActor(ctx, "test.counter", goray.Name(fmt.Sprintf("a%d", i)))
		require.NoError(b, err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := rt.GetActor(ctx, fmt.Sprintf("a%d", i%1000)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
