package plasma

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Checks that run once per step or per live block test the condition first
// and go through testify, for its report, only when it fails: calling
// testify unconditionally costs an allocation per call, which makes the
// randomized tests several times slower under -race.

// allocSpan is a half-open range [off, end) of the arena.
type allocSpan struct{ off, end uint64 }

// allocTracker drives an Allocator and keeps an independent model of what it
// handed out, so that every step can be checked against it.
type allocTracker struct {
	t     testing.TB
	a     *Allocator
	live  []Block     // live blocks, zero-length ones included
	spans []allocSpan // live non-empty blocks, sorted by offset
}

func newAllocTracker(t testing.TB, capacity uint64) *allocTracker {
	return &allocTracker{t: t, a: NewAllocator(capacity)}
}

// footprint is what a live block accounts for in Stats.Allocated: its slot
// size when cut from a slab, its aligned length otherwise.
func (tr *allocTracker) footprint(b Block) uint64 {
	if b.Len == 0 {
		return 0
	}
	if b.slab != nil {
		return tr.a.classes[b.slab.class].size
	}
	return alignUp(b.Len)
}

// modelBestFit is the model of the large allocator: the smallest free range of at
// least n bytes, the lowest offset among equals.
func modelBestFit(a *Allocator, n uint64) (off uint64, ok bool) {
	var bestLen uint64
	for o, l := range a.byStart {
		if l < n {
			continue
		}
		if !ok || l < bestLen || (l == bestLen && o < off) {
			off, bestLen, ok = o, l, true
		}
	}
	return off, ok
}

func (tr *allocTracker) spareCount() int {
	n := 0
	for i := range tr.a.classes {
		if tr.a.classes[i].spare != nil {
			n++
		}
	}
	return n
}

// alloc allocates size bytes, predicts where the block must go whenever the
// placement policy fixes it, and checks the result and the accounting.
func (tr *allocTracker) alloc(size uint64) (Block, bool) {
	t, a := tr.t, tr.a
	t.Helper()
	before := a.Stats()
	spares := tr.spareCount()

	// Predict the outcome.
	var (
		wantOff uint64
		known   bool // wantOff is the only correct offset
		mustFit bool // a correct allocator cannot fail
		partial bool // the class has a partial slab, which must serve
		small   bool
	)
	rounded := alignUp(size)
	switch {
	case size == 0:
		mustFit = true
	case size > a.capacity:
	case rounded <= a.maxSmall:
		small = true
		c := &a.classes[a.classIdx[rounded/Alignment-1]]
		switch {
		case len(c.partial) > 0:
			partial, mustFit = true, true
		case c.spare != nil:
			wantOff, known, mustFit = c.spare.off, true, true
		default:
			if off, ok := modelBestFit(a, a.slabSize); ok {
				wantOff, known, mustFit = off, true, true
			} else if off, ok := modelBestFit(a, rounded); ok {
				wantOff, known, mustFit = off, true, true
			}
		}
	default:
		if off, ok := modelBestFit(a, rounded); ok {
			wantOff, known, mustFit = off, true, true
		}
	}

	b, ok := a.Alloc(size)
	after := a.Stats()
	if !ok {
		if mustFit {
			require.Failf(t, "allocator invariant violated", "Alloc(%d) failed although it fits (stats %+v)", size, before)
		}
		if want, got := before.Allocated, after.Allocated; want != got {
			require.Equal(t, want, got, "failed Alloc changed Allocated")
		}
		if want, got := before.Requested, after.Requested; want != got {
			require.Equal(t, want, got, "failed Alloc changed Requested")
		}
		if want, got := before.Blocks, after.Blocks; want != got {
			require.Equal(t, want, got, "failed Alloc changed Blocks")
		}
		if size <= a.capacity {
			// The allocator must have tried everything: spares given back,
			// and still no free range large enough.
			if tr.spareCount() != 0 {
				require.Failf(t, "allocator invariant violated", "Alloc(%d) failed while keeping spare slabs", size)
			}
			if after.LargestFree >= rounded {
				require.Failf(t, "allocator invariant violated", "Alloc(%d) failed with a free range that fits", size)
			}
			if small {
				c := &a.classes[a.classIdx[rounded/Alignment-1]]
				require.Empty(t, c.partial, "Alloc(%d) failed with a partial slab of its class", size)
			}
		}
		return b, false
	}

	if want, got := size, b.Len; want != got {
		require.Equal(t, want, got, "block length")
	}
	if size == 0 {
		if b.slab != nil {
			require.Failf(t, "allocator invariant violated", "zero-length block cut from a slab")
		}
		if want, got := before.Allocated, after.Allocated; want != got {
			require.Equal(t, want, got, "Alloc(0) used memory")
		}
		if want, got := before.Free, after.Free; want != got {
			require.Equal(t, want, got, "Alloc(0) used memory")
		}
		if want, got := before.Blocks+1, after.Blocks; want != got {
			require.Equal(t, want, got, "Alloc(0) not counted as a block")
		}
		tr.live = append(tr.live, b)
		return b, true
	}
	if b.Off%Alignment != 0 {
		require.Failf(t, "allocator invariant violated", "block at %d is not aligned", b.Off)
	}
	if b.Off+alignUp(b.Len) > a.capacity {
		require.Failf(t, "allocator invariant violated", "block [%d,+%d) beyond capacity %d", b.Off, b.Len, a.capacity)
	}
	if known && b.Off != wantOff {
		require.Equal(t, wantOff, b.Off, "Alloc(%d) not placed best fit", size)
	}
	if partial {
		// Served from a slab that was already in use: no new slab.
		if b.slab == nil || b.slab.used < 2 || after.Slabs != before.Slabs {
			require.Failf(t, "allocator invariant violated", "Alloc(%d) did not use the partial slab of its class", size)
		}
	}
	if !known && !mustFit && size <= a.capacity {
		// Only giving back spare slabs can have made room.
		if spares == 0 {
			require.Failf(t, "allocator invariant violated", "Alloc(%d) succeeded with no free range that fits and no spare", size)
		}
	}
	if b.slab != nil {
		cs := a.classes[b.slab.class].size
		if cs < rounded {
			require.Failf(t, "allocator invariant violated", "slot too small")
		}
		if want, got := b.slab.off+uint64(b.slot)*cs, b.Off; want != got {
			require.Equal(t, want, got, "block not at its slot")
		}
		if b.Off+cs > b.slab.off+a.slabSize {
			require.Failf(t, "allocator invariant violated", "slot beyond its slab")
		}
		if b.slot >= b.slab.slots {
			require.Failf(t, "allocator invariant violated", "slot index out of range")
		}
	}
	if want, got := before.Allocated+tr.footprint(b), after.Allocated; want != got {
		require.Equal(t, want, got, "Allocated after Alloc(%d)", size)
	}
	if want, got := before.Requested+size, after.Requested; want != got {
		require.Equal(t, want, got, "Requested after Alloc(%d)", size)
	}
	if want, got := before.Blocks+1, after.Blocks; want != got {
		require.Equal(t, want, got, "Blocks after Alloc(%d)", size)
	}

	// No overlap with any live block.
	s := allocSpan{b.Off, b.Off + alignUp(b.Len)}
	i, _ := slices.BinarySearchFunc(tr.spans, s.off, func(x allocSpan, off uint64) int { return cmp.Compare(x.off, off) })
	if i > 0 && tr.spans[i-1].end > s.off {
		require.Failf(t, "allocator invariant violated", "block [%d,%d) overlaps [%d,%d)", s.off, s.end, tr.spans[i-1].off, tr.spans[i-1].end)
	}
	if i < len(tr.spans) && s.end > tr.spans[i].off {
		require.Failf(t, "allocator invariant violated", "block [%d,%d) overlaps [%d,%d)", s.off, s.end, tr.spans[i].off, tr.spans[i].end)
	}
	tr.spans = slices.Insert(tr.spans, i, s)
	tr.live = append(tr.live, b)
	return b, true
}

// free frees live block i.
func (tr *allocTracker) free(i int) {
	t, a := tr.t, tr.a
	t.Helper()
	b := tr.live[i]
	last := len(tr.live) - 1
	tr.live[i] = tr.live[last]
	tr.live = tr.live[:last]
	if b.Len > 0 {
		j, found := slices.BinarySearchFunc(tr.spans, b.Off, func(x allocSpan, off uint64) int { return cmp.Compare(x.off, off) })
		if !found {
			require.Failf(t, "allocator invariant violated", "freeing unknown block at %d", b.Off)
		}
		tr.spans = slices.Delete(tr.spans, j, j+1)
	}
	before := a.Stats()
	fp := tr.footprint(b)
	a.Free(b)
	after := a.Stats()
	if want, got := before.Allocated-fp, after.Allocated; want != got {
		require.Equal(t, want, got, "Allocated after Free")
	}
	if want, got := before.Requested-b.Len, after.Requested; want != got {
		require.Equal(t, want, got, "Requested after Free")
	}
	if want, got := before.Blocks-1, after.Blocks; want != got {
		require.Equal(t, want, got, "Blocks after Free")
	}
}

func (tr *allocTracker) freeAll(r *rand.Rand) {
	for len(tr.live) > 0 {
		tr.free(r.IntN(len(tr.live)))
	}
}

// verify checks the whole state: the allocator's own invariants, that live
// blocks, live slabs, spare slabs and free ranges tile the arena exactly, and
// that Stats agrees with the model.
func (tr *allocTracker) verify() {
	t, a := tr.t, tr.a
	t.Helper()
	require.NoError(t, a.check())

	var requested, smallAlloc, largeAlloc uint64
	var tiles []allocSpan
	slabUse := map[*slab]uint32{}
	for _, b := range tr.live {
		requested += b.Len
		if b.Len == 0 {
			continue
		}
		if b.Off%Alignment != 0 {
			require.Failf(t, "allocator invariant violated", "block at %d is not aligned", b.Off)
		}
		if b.slab != nil {
			smallAlloc += a.classes[b.slab.class].size
			slabUse[b.slab]++
			continue
		}
		largeAlloc += alignUp(b.Len)
		tiles = append(tiles, allocSpan{b.Off, b.Off + alignUp(b.Len)})
	}

	// Slabs: every live slab's use count matches, partial lists are right,
	// spares are empty.
	spares := 0
	for ci := range a.classes {
		c := &a.classes[ci]
		for i, s := range c.partial {
			if want, got := i, s.partIdx; want != got {
				require.Equal(t, want, got, "partial slab index")
			}
			if want, got := uint8(ci), s.class; want != got {
				require.Equal(t, want, got, "partial slab in the wrong class")
			}
			if s.used <= 0 {
				require.Failf(t, "allocator invariant violated", "empty slab on the partial list")
			}
			if s.used >= s.slots {
				require.Failf(t, "allocator invariant violated", "full slab on the partial list")
			}
		}
		if s := c.spare; s != nil {
			spares++
			if s.used != 0 {
				require.Failf(t, "allocator invariant violated", "spare slab in use")
			}
			if want, got := -1, s.partIdx; want != got {
				require.Equal(t, want, got, "spare slab on the partial list")
			}
			_, live := slabUse[s]
			if live {
				require.Failf(t, "allocator invariant violated", "spare slab holds live blocks")
			}
			tiles = append(tiles, allocSpan{s.off, s.off + a.slabSize})
		}
	}
	for s, n := range slabUse {
		if want, got := n, s.used; want != got {
			require.Equal(t, want, got, "slab at %d: used %d, live blocks %d", s.off, s.used, n)
		}
		if want, got := s.used < s.slots, s.partIdx >= 0; want != got {
			require.Equal(t, want, got, "slab at %d on the partial list iff not full", s.off)
		}
		tiles = append(tiles, allocSpan{s.off, s.off + a.slabSize})
	}

	var free, largest uint64
	for off, n := range a.byStart {
		free += n
		largest = max(largest, n)
		tiles = append(tiles, allocSpan{off, off + n})
	}

	// Everything tiles [0, capacity): no overlap, no leak.
	slices.SortFunc(tiles, func(x, y allocSpan) int { return cmp.Compare(x.off, y.off) })
	var at uint64
	for _, s := range tiles {
		if want, got := at, s.off; want != got {
			require.Equal(t, want, got, "arena not tiled: gap or overlap at %d (next range [%d,%d))", at, s.off, s.end)
		}
		at = s.end
	}
	if want, got := a.capacity, at; want != got {
		require.Equal(t, want, got, "arena not tiled up to capacity")
	}

	// Live blocks never overlap (small ones included).
	spans := make([]allocSpan, 0, len(tr.live))
	for _, b := range tr.live {
		if b.Len > 0 {
			spans = append(spans, allocSpan{b.Off, b.Off + alignUp(b.Len)})
		}
	}
	slices.SortFunc(spans, func(x, y allocSpan) int { return cmp.Compare(x.off, y.off) })
	for i := 1; i < len(spans); i++ {
		if spans[i-1].end > spans[i].off {
			require.Failf(t, "allocator invariant violated", "blocks [%d,%d) and [%d,%d) overlap", spans[i-1].off, spans[i-1].end, spans[i].off, spans[i].end)
		}
	}
	if !slices.Equal(spans, tr.spans) {
		require.Failf(t, "allocator invariant violated", "model spans out of sync")
	}

	st := a.Stats()
	wantFrag := 0.0
	if free > 0 {
		wantFrag = 1 - float64(largest)/float64(free)
	}
	if st.Capacity == a.capacity && st.Requested == requested && st.Blocks == uint64(len(tr.live)) &&
		st.Allocated == smallAlloc+largeAlloc && st.Slabs == uint64(len(slabUse)+spares) &&
		st.Free == free && st.LargestFree == largest && st.FreeRanges == len(a.byStart) &&
		math.Abs(st.Fragmentation-wantFrag) <= 1e-12 && st.Fragmentation >= 0 && st.Fragmentation < 1 &&
		smallAlloc <= st.Slabs*st.SlabSize && st.Requested <= st.Allocated {
		// Fast path: the checks below all hold (the identities after the
		// Allocated/Slabs/Free equalities follow from the tiling above).
		return
	}
	require.Equal(t, a.capacity, st.Capacity)
	require.Equal(t, requested, st.Requested, "Requested")
	require.Equal(t, uint64(len(tr.live)), st.Blocks, "Blocks")
	require.Equal(t, smallAlloc+largeAlloc, st.Allocated, "Allocated")
	require.Equal(t, uint64(len(slabUse)+spares), st.Slabs, "Slabs")
	require.Equal(t, free, st.Free, "Free")
	require.Equal(t, largest, st.LargestFree, "LargestFree")
	require.Equal(t, len(a.byStart), st.FreeRanges, "FreeRanges")
	if free > 0 {
		require.InDelta(t, 1-float64(largest)/float64(free), st.Fragmentation, 1e-12, "Fragmentation")
	} else {
		require.Zero(t, st.Fragmentation, "Fragmentation with no free space")
	}
	require.GreaterOrEqual(t, st.Fragmentation, 0.0)
	require.Less(t, st.Fragmentation, 1.0)
	// Allocated counts slots inside slabs; the slabs themselves are neither
	// Allocated nor Free.
	require.LessOrEqual(t, smallAlloc, st.Slabs*st.SlabSize, "small blocks exceed their slabs")
	require.Equal(t, st.Capacity, st.Allocated-smallAlloc+st.Free+st.Slabs*st.SlabSize,
		"Allocated/Free/slab bytes do not add up")
	if smallAlloc == 0 {
		require.Equal(t, st.Capacity, st.Allocated+st.Free+st.Slabs*st.SlabSize)
		require.Equal(t, uint64(spares), st.Slabs, "slabs without small blocks must be spares")
		if spares == 0 {
			require.Equal(t, st.Capacity, st.Allocated+st.Free)
		}
	}
	require.LessOrEqual(t, st.Requested, st.Allocated)
}

// checkDrained frees everything and checks that the arena coalesces back
// into one range that a single full-capacity block can take.
func (tr *allocTracker) checkDrained(r *rand.Rand) {
	t, a := tr.t, tr.a
	t.Helper()
	tr.freeAll(r)
	tr.verify()
	st := a.Stats()
	require.Zero(t, st.Allocated)
	require.Zero(t, st.Requested)
	require.Zero(t, st.Blocks)
	require.Equal(t, st.Capacity, st.Free+st.Slabs*st.SlabSize, "freed memory not all free or kept")

	if a.capacity == 0 {
		return
	}
	b, ok := tr.alloc(a.capacity)
	require.True(t, ok, "Alloc(capacity) fails after freeing everything (stats %+v)", st)
	require.Zero(t, b.Off)
	tr.verify()
	st = a.Stats()
	require.Zero(t, st.Free)
	require.Zero(t, st.Slabs, "spare slabs not given back for a full-capacity block")
	require.Zero(t, st.FreeRanges)
	require.Equal(t, st.Capacity, st.Allocated)
	_, ok = a.Alloc(1)
	require.False(t, ok, "Alloc(1) succeeds on a full arena")

	tr.free(0)
	tr.verify()
	st = a.Stats()
	require.Equal(t, 1, st.FreeRanges)
	require.Equal(t, st.Capacity, st.Free)
	require.Equal(t, st.Capacity, st.LargestFree)
	require.Zero(t, st.Fragmentation)
	require.Zero(t, st.Allocated)
	require.Zero(t, st.Slabs)
}

// randAllocSize draws a request size: edge sizes (0, 1, 63, 64, 65, class
// and slab limits, the capacity and beyond), small sizes up to 64 KiB,
// medium sizes up to 1 MiB and, bigPermille times in a thousand, large sizes
// up to a quarter of the capacity or, rarely, up to all of it.
func randAllocSize(r *rand.Rand, a *Allocator, bigPermille int) uint64 {
	c := max(a.capacity, Alignment)
	p := r.IntN(1000)
	switch {
	case p < 100:
		edge := []uint64{0, 1, 63, 64, 65, 127, 128, 129, a.maxSmall - 1, a.maxSmall, a.maxSmall + 1,
			a.slabSize, a.slabSize + 1, a.capacity, a.capacity + 1}
		return edge[r.IntN(len(edge))]
	case p < 100+(900-bigPermille)*2/3:
		return 1 + r.Uint64N(min(64<<10, c))
	case p < 1000-bigPermille:
		return 1 + r.Uint64N(min(1<<20, c))
	case p < 1000-bigPermille/10:
		return 1 + r.Uint64N(max(c/4, 1))
	default:
		return 1 + r.Uint64N(c)
	}
}

func runAllocRandom(t *testing.T, capacity, seed uint64, ops, every, bigPermille int) {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	tr := newAllocTracker(t, capacity)
	tr.verify()
	for round := 0; round < 2; round++ {
		for step := 0; step < ops; step++ {
			// Alternate phases that grow and shrink the live set.
			pAlloc := 75
			if (step/500)%2 == 1 {
				pAlloc = 40
			}
			if len(tr.live) == 0 || r.IntN(100) < pAlloc {
				tr.alloc(randAllocSize(r, tr.a, bigPermille))
			} else {
				tr.free(r.IntN(len(tr.live)))
			}
			if step%every == 0 {
				tr.verify()
			}
		}
		tr.verify()
		tr.checkDrained(r)
	}
}

func TestAllocRandom(t *testing.T) {
	cases := []struct {
		name     string
		capacity uint64
		ops      int // steps per round
		every    int // full verification every so many steps
		big      int // large requests per thousand
		seeds    []uint64
	}{
		{"960B", 1000, 4000, 1, 150, []uint64{1, 2, 3}}, // rounded down to 960: smaller than one slab
		{"4KiB", 4 << 10, 4000, 1, 150, []uint64{1, 2, 3}},
		{"4KiB+100", 4<<10 + 100, 4000, 1, 150, []uint64{1, 2, 3}},
		{"1MiB", 1 << 20, 4000, 10, 150, []uint64{1, 2, 3, 0xdeadbeef}},
		{"256MiB", 256 << 20, 4000, 25, 150, []uint64{1, 2, 3, 0xdeadbeef}},
		// Mostly small and medium blocks: many live blocks, slabs and
		// free ranges.
		{"256MiB-many", 256 << 20, 12000, 100, 3, []uint64{1}},
	}
	for _, c := range cases {
		for _, seed := range c.seeds {
			t.Run(fmt.Sprintf("%s/seed%d", c.name, seed), func(t *testing.T) {
				t.Parallel()
				runAllocRandom(t, c.capacity, seed, c.ops, c.every, c.big)
			})
		}
	}
}

// TestAllocRandomSmallOnly churns small blocks only, so slabs fill, empty,
// become spares and are given back.
func TestAllocRandomSmallOnly(t *testing.T) {
	for _, seed := range []uint64{7, 8} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, seed))
			tr := newAllocTracker(t, 4<<20)
			for step := 0; step < 6000; step++ {
				if len(tr.live) == 0 || r.IntN(100) < 55 {
					tr.alloc(1 + r.Uint64N(tr.a.maxSmall))
				} else {
					tr.free(r.IntN(len(tr.live)))
				}
				if step%50 == 0 {
					tr.verify()
				}
			}
			tr.verify()
			tr.checkDrained(r)
		})
	}
}

func TestAllocZeroCapacity(t *testing.T) {
	for _, c := range []uint64{0, 1, 63} {
		a := NewAllocator(c)
		require.Zero(t, a.Capacity())
		require.NoError(t, a.check())
		_, ok := a.Alloc(1)
		require.False(t, ok)
		b, ok := a.Alloc(0)
		require.True(t, ok)
		st := a.Stats()
		require.Equal(t, uint64(1), st.Blocks)
		require.Zero(t, st.Free)
		require.Zero(t, st.Fragmentation)
		a.Free(b)
		require.Zero(t, a.Stats().Blocks)
	}
}

func TestAllocCapacityRounding(t *testing.T) {
	a := NewAllocator(1<<20 + 100)
	require.Equal(t, uint64(1<<20+64), a.Capacity())
	b, ok := a.Alloc(a.Capacity())
	require.True(t, ok)
	require.Zero(t, b.Off)
	require.NoError(t, a.check())
}

// newLargeAllocator returns an allocator whose maxSmall is below unit, so that
// blocks of a multiple of unit are all served by the large allocator.
func newLargeAllocator(t *testing.T, capacity, unit uint64) *Allocator {
	a := NewAllocator(capacity)
	require.Less(t, a.maxSmall, unit)
	return a
}

// allocRow allocates blocks of the given sizes back to back from offset 0.
func allocRow(t *testing.T, a *Allocator, sizes ...uint64) []Block {
	t.Helper()
	var bs []Block
	var at uint64
	for _, s := range sizes {
		b, ok := a.Alloc(s)
		require.True(t, ok)
		require.Equal(t, at, b.Off, "row not laid out back to back")
		require.Nil(t, b.slab)
		at += alignUp(s)
		bs = append(bs, b)
	}
	return bs
}

func allocFreeRanges(a *Allocator) map[uint64]uint64 {
	m := make(map[uint64]uint64, len(a.byStart))
	for o, n := range a.byStart {
		m[o] = n
	}
	return m
}

func TestAllocBestFit(t *testing.T) {
	const U = 64 << 10
	const capacity = 64 * U // 4 MiB: maxSmall is 8 KiB
	setup := func(t *testing.T) (*Allocator, []Block) {
		a := newLargeAllocator(t, capacity, U)
		// Holes of 3U, 1U, 2U, 2U, 5U separated by live blocks; the rest
		// of the arena is filled, so the holes are the only free ranges.
		sizes := []uint64{3 * U, U, U, U, 2 * U, U, 2 * U, U, 5 * U, U}
		used := uint64(0)
		for _, s := range sizes {
			used += s
		}
		sizes = append(sizes, capacity-used)
		bs := allocRow(t, a, sizes...)
		// Free the later 2U hole first: insertion order must not matter.
		for _, i := range []int{6, 0, 2, 4, 8} {
			a.Free(bs[i])
		}
		require.NoError(t, a.check())
		require.Equal(t, map[uint64]uint64{
			0:      3 * U,
			4 * U:  U,
			6 * U:  2 * U,
			9 * U:  2 * U,
			12 * U: 5 * U,
		}, allocFreeRanges(a))
		return a, bs
	}

	cases := []struct {
		name string
		size uint64
		want uint64
	}{
		{"exact smallest", U, 4 * U},
		{"smallest that fits, lowest offset among equals", 2 * U, 6 * U},
		{"just over a hole", U + 1, 6 * U},
		{"smaller range beats lower offset", 3*U - 64, 0},
		{"exact middle", 3 * U, 0},
		{"only the largest fits", 4 * U, 12 * U},
		{"exact largest", 5 * U, 12 * U},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := setup(t)
			b, ok := a.Alloc(c.size)
			require.True(t, ok)
			assert.Equal(t, c.want, b.Off)
			require.NoError(t, a.check())
			// The rest of the chosen range stays free, right after the block.
			fr := allocFreeRanges(a)
			if c.want == 6*U && alignUp(c.size) < 2*U {
				assert.Equal(t, 2*U-alignUp(c.size), fr[6*U+alignUp(c.size)])
			}
			_, stillThere := fr[c.want]
			assert.False(t, stillThere, "chosen range still free")
		})
	}

	t.Run("too large for every hole", func(t *testing.T) {
		a, _ := setup(t)
		st := a.Stats()
		_, ok := a.Alloc(5*U + 1)
		require.False(t, ok)
		assert.Equal(t, st, a.Stats())
	})

	t.Run("sequence", func(t *testing.T) {
		a, _ := setup(t)
		want := []struct{ size, off uint64 }{
			{2 * U, 6 * U}, {2 * U, 9 * U}, {2 * U, 0}, {U, 2 * U}, {U, 4 * U}, {U, 12 * U},
			{4 * U, 13 * U},
		}
		for _, w := range want {
			b, ok := a.Alloc(w.size)
			require.True(t, ok)
			require.Equal(t, w.off, b.Off, "Alloc(%d)", w.size)
			require.NoError(t, a.check())
		}
		st := a.Stats()
		require.Zero(t, st.Free)
		_, ok := a.Alloc(64)
		require.False(t, ok)
	})
}

func TestAllocCoalesce(t *testing.T) {
	const U = 256 << 10
	const capacity = 16 * U // 4 MiB: maxSmall is 8 KiB
	// Blocks 0..15 fill the arena; L, M, R are 5, 6, 7.
	const L, M, R = 5, 6, 7
	setup := func(t *testing.T) (*Allocator, []Block) {
		a := newLargeAllocator(t, capacity, U)
		sizes := make([]uint64, 16)
		for i := range sizes {
			sizes[i] = U
		}
		// M's length is not a multiple of Alignment: coalescing must use
		// its rounded length. R makes up for it so the row fills the arena.
		sizes[M] = U - 100 // rounded up to U - 64
		sizes[R] = U + 36  // rounded up to U + 64
		bs := allocRow(t, a, sizes...)
		require.Zero(t, a.Stats().Free)
		return a, bs
	}
	end := func(b Block) uint64 { return b.Off + alignUp(b.Len) }

	t.Run("none", func(t *testing.T) {
		a, bs := setup(t)
		a.Free(bs[M])
		require.NoError(t, a.check())
		assert.Equal(t, map[uint64]uint64{bs[M].Off: alignUp(bs[M].Len)}, allocFreeRanges(a))
	})
	t.Run("left", func(t *testing.T) {
		a, bs := setup(t)
		a.Free(bs[L])
		a.Free(bs[M])
		require.NoError(t, a.check())
		assert.Equal(t, map[uint64]uint64{bs[L].Off: end(bs[M]) - bs[L].Off}, allocFreeRanges(a))
	})
	t.Run("right", func(t *testing.T) {
		a, bs := setup(t)
		a.Free(bs[R])
		a.Free(bs[M])
		require.NoError(t, a.check())
		assert.Equal(t, map[uint64]uint64{bs[M].Off: end(bs[R]) - bs[M].Off}, allocFreeRanges(a))
	})
	t.Run("both", func(t *testing.T) {
		a, bs := setup(t)
		a.Free(bs[L])
		a.Free(bs[R])
		require.Equal(t, 2, a.Stats().FreeRanges)
		a.Free(bs[M])
		require.NoError(t, a.check())
		want := end(bs[R]) - bs[L].Off
		assert.Equal(t, map[uint64]uint64{bs[L].Off: want}, allocFreeRanges(a))
		st := a.Stats()
		assert.Equal(t, 1, st.FreeRanges)
		assert.Equal(t, want, st.LargestFree)
		assert.Zero(t, st.Fragmentation)
		// The merged range is usable as a whole.
		b, ok := a.Alloc(want)
		require.True(t, ok)
		assert.Equal(t, bs[L].Off, b.Off)
		require.NoError(t, a.check())
	})
	t.Run("arena edges", func(t *testing.T) {
		a, bs := setup(t)
		a.Free(bs[1])
		a.Free(bs[0]) // at offset 0, right neighbour free
		a.Free(bs[14])
		a.Free(bs[15]) // ends at capacity, left neighbour free
		require.NoError(t, a.check())
		assert.Equal(t, map[uint64]uint64{0: end(bs[1]), bs[14].Off: capacity - bs[14].Off}, allocFreeRanges(a))
	})
	t.Run("chain in any order", func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for trial := 0; trial < 50; trial++ {
			a, bs := setup(t)
			for _, i := range r.Perm(len(bs)) {
				a.Free(bs[i])
				require.NoError(t, a.check())
			}
			assert.Equal(t, map[uint64]uint64{0: capacity}, allocFreeRanges(a))
		}
	})
}

func TestAllocClassSizes(t *testing.T) {
	for _, capacity := range []uint64{4 << 10, 1 << 20, 64 << 20, 256 << 20} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			a := NewAllocator(capacity)
			// Classes: increasing multiples of Alignment ending at maxSmall.
			require.NotEmpty(t, a.classes)
			for i, c := range a.classes {
				require.Zero(t, c.size%Alignment)
				if i > 0 {
					require.Greater(t, c.size, a.classes[i-1].size)
				}
				require.GreaterOrEqual(t, a.slabSize/c.size, uint64(8), "class %d: too few slots per slab", c.size)
			}
			require.Equal(t, a.maxSmall, a.classes[len(a.classes)-1].size)
			require.LessOrEqual(t, len(a.classes), 256)

			// Every small size: a class that fits, wasting at most a quarter
			// (or less than one Alignment).
			for size := uint64(1); size <= a.maxSmall; size++ {
				cs := a.classes[a.classIdx[alignUp(size)/Alignment-1]].size
				if cs < size {
					require.Failf(t, "allocator invariant violated", "size %d rounds to %d", size, cs)
				}
				if cs != alignUp(size) {
					if 4*cs > 5*size {
						require.Failf(t, "allocator invariant violated", "size %d rounds to %d", size, cs)
					}
				}
				// The smallest class that fits.
				ci := a.classIdx[alignUp(size)/Alignment-1]
				if ci > 0 {
					if a.classes[ci-1].size >= size {
						require.Failf(t, "allocator invariant violated", "size %d: class %d fits too", size, a.classes[ci-1].size)
					}
				}
			}

			// Stats see the class size, sampled through Alloc.
			if a.capacity >= a.slabSize {
				for size := uint64(1); size <= a.maxSmall; size += 1 + size/7 {
					before := a.Stats().Allocated
					b, ok := a.Alloc(size)
					require.True(t, ok)
					require.NotNil(t, b.slab, "small size %d not cut from a slab", size)
					cs := a.classes[b.slab.class].size
					require.Equal(t, before+cs, a.Stats().Allocated)
					a.Free(b)
				}
			}
			require.NoError(t, a.check())
		})
	}
}

func TestAllocClassSameSlab(t *testing.T) {
	a := NewAllocator(64 << 20) // 1 MiB slabs
	require.Equal(t, uint64(DefaultSlabSize), a.slabSize)
	const size = 1000 // class 1024
	cs := a.classes[a.classIdx[alignUp(size)/Alignment-1]].size
	require.Equal(t, uint64(1024), cs)
	slots := int(a.slabSize / cs)

	var bs []Block
	for i := 0; i < slots; i++ {
		b, ok := a.Alloc(size)
		require.True(t, ok)
		bs = append(bs, b)
	}
	first := bs[0].slab
	require.NotNil(t, first)
	offs := map[uint64]bool{}
	for _, b := range bs {
		require.Same(t, first, b.slab, "blocks of one class from different slabs")
		require.GreaterOrEqual(t, b.Off, first.off)
		require.LessOrEqual(t, b.Off+cs, first.off+a.slabSize)
		require.False(t, offs[b.Off], "two blocks at %d", b.Off)
		offs[b.Off] = true
	}
	st := a.Stats()
	require.Equal(t, uint64(1), st.Slabs)
	require.Equal(t, uint64(slots)*cs, st.Allocated)
	require.Equal(t, a.capacity-a.slabSize, st.Free)

	// A full slab: the next block opens a second one.
	b, ok := a.Alloc(size)
	require.True(t, ok)
	require.NotSame(t, first, b.slab)
	require.Equal(t, uint64(2), a.Stats().Slabs)

	// Another class gets its own slab.
	c, ok := a.Alloc(100)
	require.True(t, ok)
	require.NotSame(t, first, c.slab)
	require.NotSame(t, b.slab, c.slab)
	require.Equal(t, uint64(3), a.Stats().Slabs)

	// A freed slot is reused by the same class in the same slab.
	a.Free(bs[3])
	d, ok := a.Alloc(size)
	require.True(t, ok)
	require.Equal(t, bs[3].Off, d.Off)
	require.Same(t, first, d.slab)
	bs[3] = d

	// Emptying slabs: one per class is kept as a spare, the rest go back.
	for _, x := range bs {
		a.Free(x)
	}
	a.Free(b)
	a.Free(c)
	require.NoError(t, a.check())
	st = a.Stats()
	require.Zero(t, st.Allocated)
	require.Equal(t, uint64(2), st.Slabs, "one spare for each of the two classes")
	require.Equal(t, a.capacity-2*a.slabSize, st.Free)

	// The spare is reused for the next block of its class.
	spare := a.classes[first.class].spare
	require.NotNil(t, spare)
	e, ok := a.Alloc(size)
	require.True(t, ok)
	require.Same(t, spare, e.slab)
	require.Equal(t, spare.off, e.Off)
	a.Free(e)

	// A large request that needs the spares' room gets it.
	f, ok := a.Alloc(a.capacity)
	require.True(t, ok)
	require.Zero(t, f.Off)
	require.Zero(t, a.Stats().Slabs)
	a.Free(f)
	require.NoError(t, a.check())
}

func TestAllocBeyondCapacity(t *testing.T) {
	for _, capacity := range []uint64{4 << 10, 1 << 20, 256 << 20} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			a := NewAllocator(capacity)
			st := a.Stats()
			for _, s := range []uint64{capacity + 1, capacity + 64, 2 * capacity, math.MaxUint64, math.MaxUint64 - 62} {
				_, ok := a.Alloc(s)
				require.False(t, ok, "Alloc(%d)", s)
				require.Equal(t, st, a.Stats(), "failed Alloc changed the stats")
			}
			b, ok := a.Alloc(capacity)
			require.True(t, ok)
			for _, s := range []uint64{1, 64, a.maxSmall, a.maxSmall + 1} {
				_, ok := a.Alloc(s)
				require.False(t, ok, "Alloc(%d) on a full arena", s)
			}
			// Alloc(0) succeeds even when the arena is full and uses nothing.
			z, ok := a.Alloc(0)
			require.True(t, ok)
			require.Zero(t, z.Len)
			st = a.Stats()
			require.Equal(t, uint64(2), st.Blocks)
			require.Equal(t, capacity, st.Allocated)
			require.Equal(t, capacity, st.Requested)
			a.Free(z)
			a.Free(b)
			require.NoError(t, a.check())
			st = a.Stats()
			require.Zero(t, st.Blocks)
			require.Equal(t, capacity, st.Free)
		})
	}
}

func TestAllocZeroSize(t *testing.T) {
	a := NewAllocator(1 << 20)
	before := a.Stats()
	var zs []Block
	for i := 0; i < 10; i++ {
		z, ok := a.Alloc(0)
		require.True(t, ok)
		require.Zero(t, z.Len)
		require.Nil(t, z.slab)
		zs = append(zs, z)
	}
	st := a.Stats()
	require.Equal(t, uint64(10), st.Blocks)
	require.Zero(t, st.Allocated)
	require.Zero(t, st.Requested)
	require.Zero(t, st.Slabs)
	require.Equal(t, before.Free, st.Free)
	require.Equal(t, before.FreeRanges, st.FreeRanges)
	for _, z := range zs {
		a.Free(z)
	}
	require.Equal(t, before, a.Stats())
}

func TestAllocFragmentation(t *testing.T) {
	const U = 64 << 10
	const n = 64
	a := newLargeAllocator(t, n*U, U) // 4 MiB: maxSmall is 8 KiB
	require.Zero(t, a.Stats().Fragmentation, "fresh arena")
	sizes := make([]uint64, n)
	for i := range sizes {
		sizes[i] = U
	}
	bs := allocRow(t, a, sizes...)
	st := a.Stats()
	require.Zero(t, st.Free)
	require.Zero(t, st.Fragmentation, "full arena")

	// Checkerboard: every other block freed.
	for i := 0; i < n; i += 2 {
		a.Free(bs[i])
	}
	require.NoError(t, a.check())
	st = a.Stats()
	require.Equal(t, n/2, st.FreeRanges)
	require.Equal(t, uint64(n/2*U), st.Free)
	require.Equal(t, uint64(U), st.LargestFree)
	require.Greater(t, st.Fragmentation, 0.5)
	require.InDelta(t, 1-1.0/(n/2), st.Fragmentation, 1e-12)
	// Half the arena is free, yet two units do not fit.
	_, ok := a.Alloc(2 * U)
	require.False(t, ok)

	// Freeing the rest coalesces everything.
	for i := 1; i < n; i += 2 {
		a.Free(bs[i])
	}
	require.NoError(t, a.check())
	st = a.Stats()
	require.Equal(t, 1, st.FreeRanges)
	require.Zero(t, st.Fragmentation)
}

// TestFreeTree checks the treap against a sorted slice.
func TestFreeTree(t *testing.T) {
	type key struct{ size, off uint64 }
	cmpKey := func(x, y key) int {
		if c := cmp.Compare(x.size, y.size); c != 0 {
			return c
		}
		return cmp.Compare(x.off, y.off)
	}
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 99))
		var tr freeTree
		var ref []key
		used := map[uint64]bool{}
		peak := 0
		for step := 0; step < 20000; step++ {
			if len(ref) == 0 || r.IntN(100) < 55 {
				k := key{size: 64 * (1 + r.Uint64N(64)), off: 64 * r.Uint64N(1<<20)}
				if used[k.off] {
					continue
				}
				used[k.off] = true
				tr.insert(k.size, k.off)
				i, _ := slices.BinarySearchFunc(ref, k, cmpKey)
				ref = slices.Insert(ref, i, k)
				peak = max(peak, len(ref))
			} else {
				i := r.IntN(len(ref))
				k := ref[i]
				tr.remove(k.size, k.off)
				ref = slices.Delete(ref, i, i+1)
				delete(used, k.off)
				if tr.has(k.size, k.off) {
					require.Failf(t, "allocator invariant violated", "removed key still present")
				}
			}
			if want, got := len(ref), tr.len(); want != got {
				require.Equal(t, want, got, "len")
			}
			q := 64 * (1 + r.Uint64N(66))
			size, off, ok := tr.ceiling(q)
			i, _ := slices.BinarySearchFunc(ref, key{q, 0}, cmpKey)
			if i == len(ref) {
				if ok {
					require.Failf(t, "allocator invariant violated", "ceiling(%d) found a range", q)
				}
			} else {
				if !ok {
					require.Failf(t, "allocator invariant violated", "ceiling(%d) found nothing", q)
				}
				if want, got := ref[i], (key{size, off}); want != got {
					require.Equal(t, want, got, "ceiling(%d)", q)
				}
			}
			m, ok := tr.max()
			if want, got := len(ref) > 0, ok; want != got {
				require.Equal(t, want, got, "max on empty tree")
			}
			if ok {
				if want, got := ref[len(ref)-1].size, m; want != got {
					require.Equal(t, want, got, "max")
				}
			}
			if step%500 == 0 {
				for _, k := range ref {
					if !tr.has(k.size, k.off) {
						require.Failf(t, "allocator invariant violated", "key (%d,%d) missing", k.size, k.off)
					}
				}
				// Nodes are recycled: the slice never outgrows the peak.
				require.LessOrEqual(t, len(tr.nodes), peak)
			}
		}
		for len(ref) > 0 {
			k := ref[len(ref)-1]
			tr.remove(k.size, k.off)
			ref = ref[:len(ref)-1]
		}
		require.Zero(t, tr.len())
		_, ok := tr.max()
		require.False(t, ok)
		_, _, ok = tr.ceiling(0)
		require.False(t, ok)
	}
}

// TestFreeTreeDepth checks that the treap stays balanced under sorted
// insertions, the worst case for an unbalanced tree.
func TestFreeTreeDepth(t *testing.T) {
	var tr freeTree
	const n = 1 << 14
	for i := uint64(0); i < n; i++ {
		tr.insert(64, i*64)
	}
	var depth func(i int32) int
	depth = func(i int32) int {
		if i == nilNode {
			return 0
		}
		return 1 + max(depth(tr.nodes[i].left), depth(tr.nodes[i].right))
	}
	d := depth(tr.root)
	// Expected depth of a random treap is about 3 ln n ~ 29 for n = 16384.
	require.Less(t, d, 60, "treap depth %d for %d sorted insertions", d, n)
}
