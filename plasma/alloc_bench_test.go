package plasma

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkAllocFree measures one Free and one Alloc per iteration in a
// steady state: liveBlocks blocks are live, and every iteration frees a
// random one of them and allocates a replacement, so that the free-range
// index and the slabs have a realistic size. The project's target
// is at most 200 ns per iteration.
//
// The sub-benchmarks:
//
//	small: 1 KiB blocks, all served from slabs.
//	mixed: 80% small (64 B..64 KiB), 18% medium (64 KiB..1 MiB) and 2%
//	       large (1..16 MiB) blocks, sizes log-uniform within each band.
//	large: blocks of 512 KiB..1.5 MiB (1 MiB on average), all served by a
//	       good fit from the free-range index; a few thousand free ranges.
//	large1MiB: blocks of exactly 1 MiB, the best case for the large
//	       allocator: every hole is refilled exactly, so the free ranges stay few.
//
// The arenas are about 1.5 to 3 times the live bytes (the small one is
// larger, since slabs make the capacity irrelevant there).
//
// The freeranges metric is the number of free ranges at the end.
func BenchmarkAllocFree(b *testing.B) {
	const liveBlocks = 10_000
	b.Run("small", func(b *testing.B) {
		benchAllocFree(b, 256<<20, liveBlocks, func(*rand.Rand) uint64 { return 1 << 10 })
	})
	b.Run("mixed", func(b *testing.B) {
		benchAllocFree(b, 4<<30, liveBlocks, func(r *rand.Rand) uint64 {
			switch p := r.IntN(100); {
			case p < 80:
				return logUniform(r, 64, 64<<10)
			case p < 98:
				return logUniform(r, 64<<10, 1<<20)
			default:
				return logUniform(r, 1<<20, 16<<20)
			}
		})
	})
	b.Run("large", func(b *testing.B) {
		benchAllocFree(b, 16<<30, liveBlocks, func(r *rand.Rand) uint64 {
			return 512<<10 + r.Uint64N(1<<20)
		})
	})
	b.Run("large1MiB", func(b *testing.B) {
		benchAllocFree(b, 16<<30, liveBlocks, func(*rand.Rand) uint64 { return 1 << 20 })
	})
}

// logUniform returns a size in [lo, hi) whose logarithm is uniform.
func logUniform(r *rand.Rand, lo, hi uint64) uint64 {
	f := float64(lo) * math.Exp2(r.Float64()*math.Log2(float64(hi)/float64(lo)))
	return min(max(uint64(f), lo), hi-1)
}

func benchAllocFree(b *testing.B, capacity uint64, live int, size func(*rand.Rand) uint64) {
	// Precomputed sizes and victims keep the random number generator out
	// of the measurement.
	const n = 1 << 16
	r := rand.New(rand.NewPCG(1, 2))
	sizes := make([]uint64, n)
	victims := make([]int32, n)
	for i := range sizes {
		sizes[i] = size(r)
		victims[i] = int32(r.IntN(live))
	}

	a := NewAllocator(capacity)
	blocks := make([]Block, live)
	for i := range blocks {
		blk, ok := a.Alloc(sizes[i%n])
		if !ok {
			b.Fatalf("setup: Alloc(%d) failed with %d blocks live", sizes[i%n], i)
		}
		blocks[i] = blk
	}
	step := func(i int) {
		j := victims[i&(n-1)]
		a.Free(blocks[j])
		blk, ok := a.Alloc(sizes[(i+live)&(n-1)])
		if !ok {
			b.Fatalf("Alloc(%d) failed: %+v", sizes[(i+live)&(n-1)], a.Stats())
		}
		blocks[j] = blk
	}
	// Churn until the free ranges reflect the workload rather than the
	// initial back-to-back layout.
	for i := 0; i < 10*live; i++ {
		step(i)
	}

	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		step(i)
	}
	b.ReportMetric(float64(a.Stats().FreeRanges), "freeranges")
}
