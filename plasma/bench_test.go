package plasma

import (
	"context"

	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The benchmarks carry the names of Ray's microbenchmark
// (python/ray/_private/ray_perf.py) so that their figures compare with
// Ray's published ones. Each one that has an anchor measures it in the
// same run: a plain memcpy, or the disk's own sequential write and read.

// benchStore opens a pre-faulted store for a benchmark.
func benchStore(b *testing.B, capacity uint64, mod func(*Config)) (*Store, *Client) {
	b.Helper()
	s, c := testStore(b, capacity, func(c *Config) {
		c.NoPrefault = false
		if mod != nil {
			mod(c)
		}
	})
	<-s.prefaultDone
	return s, c
}

const putGigabytesSize = 800 << 20

// BenchmarkSingleClientPutGigabytes is Ray's single_client_put_gigabytes:
// one client puts an 800 MB value again and again. The memcpy
// sub-benchmark copies the same bytes into resident shared memory with
// nothing else, which is the ceiling.
func BenchmarkSingleClientPutGigabytes(b *testing.B) {
	src := make([]byte, putGigabytesSize)
	fillInto(src, 1) // touch every page before timing
	b.Run("memcpy", func(b *testing.B) {
		s, _ := benchStore(b, putGigabytesSize+(64<<20), nil)
		dst := s.arena.writable(0, putGigabytesSize)
		b.SetBytes(putGigabytesSize)
		b.ResetTimer()
		for b.Loop() {
			copy(dst, src)
		}
	})
	b.Run("goray", func(b *testing.B) {
		_, c := benchStore(b, putGigabytesSize+(64<<20), nil)
		ctx := context.Background()
		b.SetBytes(putGigabytesSize)
		b.ResetTimer()
		i := 0
		for b.Loop() {
			i++
			require.NoError(b, c.Put(ctx, oid(i), src))
			require.NoError(b, c.Delete(ctx, oid(i)))
		}
	})
}

// BenchmarkSingleClientPutCalls is Ray's single_client_put_calls: many
// puts of a small value. Objects are deleted in batches, as their
// references would go out of scope.
func BenchmarkSingleClientPutCalls(b *testing.B) {
	_, c := benchStore(b, 256<<20, nil)
	ctx := context.Background()
	value := fill(64, 1)
	const batch = 1024
	ids := make([]ObjectID, 0, batch)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := oid(i)
		if err := c.Put(ctx, id, value); err != nil {
			b.Fatal(err)
		}
		if ids = append(ids, id); len(ids) == batch {
			_ = c.Delete(ctx, ids...)
			ids = ids[:0]
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkSingleClientGetCalls is Ray's single_client_get_calls: many
// gets of the same sealed object; every view is released.
func BenchmarkSingleClientGetCalls(b *testing.B) {
	_, c := benchStore(b, 64<<20, nil)
	ctx := context.Background()
	require.NoError(b, c.Put(ctx, oid(1), fill(64, 1)))
	ids := []ObjectID{oid(1)}
	b.ReportAllocs()
	for b.Loop() {
		views, err := c.Get(ctx, ids, 0)
		if err != nil || views[0] == nil {
			b.Fatal(err)
		}
		_ = views[0].Release()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

const spillBenchSize = 1 << 30

// BenchmarkSpillRestore spills 1 GiB of pinned objects in one batch and
// restores them all with Get. The disk sub-benchmark writes, syncs and
// reads back a file of the same size in the same directory: the disk's
// own sequential speed. Page caches are dropped before reading when the
// process may (as root), for both alike.
func BenchmarkSpillRestore(b *testing.B) {
	spillDir := b.TempDir()
	const objects = 8
	const objSize = spillBenchSize / objects
	b.Run("disk", func(b *testing.B) {
		src := make([]byte, objSize)
		fillInto(src, 3)
		dst := make([]byte, objSize)
		b.SetBytes(spillBenchSize)
		for b.Loop() {
			path := filepath.Join(spillDir, "disk")
			f, err := os.Create(path)
			require.NoError(b, err)
			for range objects {
				_, err = f.Write(src)
				require.NoError(b, err)
			}
			require.NoError(b, f.Sync())
			require.NoError(b, f.Close())
			dropCaches()
			f, err = os.Open(path)
			require.NoError(b, err)
			for i := range objects {
				_, err = f.ReadAt(dst, int64(i)*objSize)
				require.NoError(b, err)
			}
			require.NoError(b, f.Close())
			b.StopTimer() // as the store's Delete is not timed
			require.NoError(b, os.Remove(path))
			b.StartTimer()
		}
	})
	b.Run("goray", func(b *testing.B) {
		s, c := benchStore(b, spillBenchSize+(64<<20), func(c *Config) {
			c.SpillDir = spillDir
			c.DisableSpilling = true // the benchmark spills by hand
			c.SpillThreshold = 0.01
			c.MinSpillingSize = spillBenchSize
		})
		ctx := context.Background()
		ids := make([]ObjectID, objects)
		b.SetBytes(spillBenchSize)
		round := 0
		for b.Loop() {
			b.StopTimer()
			round++
			for i := range ids {
				ids[i] = oid(round*objects + i)
				buf, err := c.Create(ctx, ids[i], objSize, Pinned())
				require.NoError(b, err)
				fillInto(buf.Data, byte(i))
				require.NoError(b, buf.Seal(ctx))
			}
			b.StartTimer()
			spilled, err := s.spillOnce()
			require.NoError(b, err)
			require.True(b, spilled)
			dropCaches()
			views, err := c.Get(ctx, ids, time.Minute)
			require.NoError(b, err)
			b.StopTimer()
			for _, v := range views {
				require.NotNil(b, v)
				require.NoError(b, v.Release())
			}
			require.NoError(b, c.Delete(ctx, ids...))
			b.StartTimer()
		}
	})
}

// dropCaches asks the kernel to forget clean page-cache pages, so that a
// read after a write goes to the disk; without root it does nothing.
func dropCaches() {
	unix.Sync()
	_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0)
}

// BenchmarkCreateSeal measures the store's own cost of an object's life,
// in-process: Create, Seal, Get, Release, Delete of a 1 KiB object.
func BenchmarkCreateSeal(b *testing.B) {
	_, c := benchStore(b, 64<<20, nil)
	ctx := context.Background()
	ids := make([]ObjectID, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		ids[0] = oid(i)
		buf, err := c.Create(ctx, ids[0], 1024)
		if err != nil {
			b.Fatal(err)
		}
		if err := buf.Seal(ctx); err != nil {
			b.Fatal(err)
		}
		views, err := c.Get(ctx, ids, 0)
		if err != nil {
			b.Fatal(err)
		}
		_ = views[0].Release()
		_ = c.Delete(ctx, ids...)
	}
}
