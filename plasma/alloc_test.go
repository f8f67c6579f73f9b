package plasma

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Checks that run once per step or per live block test the condition first
// and go through testify, for its report, only when it fails: calling
// testify unconditionally costs an allocation per call, which makes the
// randomized tests several times slower under -race.

// allocSpan is a half-open range [off, end) of the arena, in bytes.
type allocSpan struct{ off, end uint64 }

// unitRange is a free range of a freeRanges index: n units from start.
type unitRange struct{ start, n uint32 }

func (r unitRange) end() uint32 { return r.start + r.n }

// binIndex is the position of n's bin in freeRanges.heads.
func binIndex(n uint32) int {
	fl, sl := binOf(n)
	return fl*slCount + sl
}

// binLow is the shortest length that bin b holds, worked out from the
// documented layout rather than from binOf: one bin per length below
// slCount, then slCount bins per power of two.
func binLow(b int) uint64 {
	fl, sl := b/slCount, b%slCount
	if fl == 0 {
		return uint64(sl)
	}
	return uint64(slCount+sl) << (fl - 1)
}

// binList returns the ranges of bin b in list order. A list longer than the
// index has units is cut short: it is corrupt, and the callers' comparisons
// against the model report it.
func binList(f *freeRanges, b int) []unitRange {
	var rs []unitRange
	for i := f.heads[b]; i != 0 && len(rs) <= int(f.units); i = f.tags[i-1].next {
		rs = append(rs, unitRange{i - 1, f.tags[i-1].length})
	}
	return rs
}

// freeRangeList returns every free range of the index, walking the bins in
// order and each bin's list in order.
func freeRangeList(f *freeRanges) []unitRange {
	var rs []unitRange
	for b := range f.heads {
		rs = append(rs, binList(f, b)...)
	}
	return rs
}

// sortedRanges returns the ranges sorted by start.
func sortedRanges(rs []unitRange) []unitRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(x, y unitRange) int { return cmp.Compare(x.start, y.start) })
	return rs
}

// mergeRanges sorts the ranges and coalesces the ones that touch: what the
// free ranges become when all of them are given back.
func mergeRanges(rs []unitRange) []unitRange {
	rs = sortedRanges(rs)
	var out []unitRange
	for _, r := range rs {
		if k := len(out) - 1; k >= 0 && out[k].end() == r.start {
			out[k].n += r.n
			continue
		}
		out = append(out, r)
	}
	return out
}

// fitRule is what the good-fit rule allows a take of n units to return.
type fitRule struct {
	n      uint32
	own    []unitRange // ranges of n's own bin that hold n units
	inScan bool        // one of the first ownBinScan ranges of the own bin holds n units
	next   []unitRange // every range of the smallest non-empty bin above n's
}

// ruleFromLists reads the rule off the index's lists, whose order is known.
func ruleFromLists(f *freeRanges, n uint32) fitRule {
	r := fitRule{n: n}
	b := binIndex(n)
	for k, x := range binList(f, b) {
		if x.n >= n {
			r.own = append(r.own, x)
			if k < ownBinScan {
				r.inScan = true
			}
		}
	}
	for nb := b + 1; nb < len(f.heads); nb++ {
		if f.heads[nb] != 0 {
			r.next = binList(f, nb)
			break
		}
	}
	return r
}

// ruleFromRanges works the rule out from a set of ranges whose order in
// their bins is unknown: which of the own bin's ranges the scan sees is then
// unknown too, so inScan stays false.
func ruleFromRanges(rs []unitRange, n uint32) fitRule {
	r := fitRule{n: n}
	b := binIndex(n)
	nextBin := -1
	for _, x := range rs {
		switch xb := binIndex(x.n); {
		case xb == b:
			if x.n >= n {
				r.own = append(r.own, x)
			}
		case xb > b && (nextBin < 0 || xb < nextBin):
			nextBin = xb
		}
	}
	for _, x := range rs {
		if binIndex(x.n) == nextBin {
			r.next = append(r.next, x)
		}
	}
	return r
}

// mustSucceed reports whether the rule guarantees that the take succeeds.
func (r fitRule) mustSucceed() bool { return r.inScan || len(r.next) > 0 }

// anyFits reports whether some free range holds n units.
func (r fitRule) anyFits() bool { return len(r.own) > 0 || len(r.next) > 0 }

// allowed returns the range starting at start if the rule lets a take pick
// it: a range of the own bin that holds n units or, unless the own bin's
// scan finds one, a range of the smallest non-empty bin above. Ranges of the
// own bin beyond the scan are accepted too: an index that looks further
// there is no worse.
func (r fitRule) allowed(start uint32) (unitRange, bool) {
	for _, x := range r.own {
		if x.start == start {
			return x, true
		}
	}
	if !r.inScan {
		for _, x := range r.next {
			if x.start == start {
				return x, true
			}
		}
	}
	return unitRange{}, false
}

func (r fitRule) String() string {
	return fmt.Sprintf("take(%d) in bin %d: own fitting %v (in scan %v), next bin %v", r.n, binIndex(r.n), r.own, r.inScan, r.next)
}

// checkFreeRanges verifies the index: its own check, its counters, and its
// tags: the boundary tags of every range are right, every other tag is zero
// (a stale tag would make give merge with a range that is not free), and no
// two free ranges touch. It returns the free ranges sorted by start.
func checkFreeRanges(t testing.TB, f *freeRanges) []unitRange {
	t.Helper()
	if err := f.check(); err != nil {
		require.NoError(t, err)
	}
	rs := sortedRanges(freeRangeList(f))
	var total uint64
	var largest uint32
	for _, r := range rs {
		total += uint64(r.n)
		largest = max(largest, r.n)
	}
	if want, got := len(rs), f.count; want != got {
		require.Equal(t, want, got, "count")
	}
	if want, got := total, f.free; want != got {
		require.Equal(t, want, got, "free units")
	}
	if want, got := largest, f.largest(); want != got {
		require.Equal(t, want, got, "largest")
	}
	if want, got := int(f.units), len(f.tags); want != got {
		require.Equal(t, want, got, "tags per unit")
	}
	// zero checks that units [from, to) have no tags.
	zero := func(from, to uint32) {
		if from >= to || allZeroTags(f.tags[from:to]) {
			return
		}
		for u := from; u < to; u++ {
			if f.tags[u] != (unitTag{}) {
				require.Failf(t, "free index invariant violated", "unit %d outside range boundaries has tag %+v", u, f.tags[u])
			}
		}
	}
	var at uint32
	for i, r := range rs {
		if r.n == 0 || r.end() > f.units || r.end() < r.start {
			require.Failf(t, "free index invariant violated", "range %d+%d outside [0,%d)", r.start, r.n, f.units)
		}
		if r.start < at || (i > 0 && r.start == at) {
			require.Failf(t, "free index invariant violated", "range %d+%d overlaps or touches the one before, which ends at %d", r.start, r.n, at)
		}
		zero(at, r.start)
		first, last := f.tags[r.start], f.tags[r.end()-1]
		if first.length != r.n || last.firstOf != r.start+1 {
			require.Failf(t, "free index invariant violated", "range %d+%d: boundary tags %+v, %+v", r.start, r.n, first, last)
		}
		if r.n > 1 && (first.firstOf != 0 || last.length != 0 || last.next != 0 || last.prev != 0) {
			require.Failf(t, "free index invariant violated", "range %d+%d: stray boundary tags %+v, %+v", r.start, r.n, first, last)
		}
		if r.n > 2 {
			zero(r.start+1, r.end()-1)
		}
		at = r.end()
	}
	zero(at, f.units)
	return rs
}

// allZeroTags reports whether the tags are all zero. It looks at their bytes
// at once: checking them one by one dominates the randomized tests' time
// under -race.
func allZeroTags(ts []unitTag) bool {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(ts))), uintptr(len(ts))*unsafe.Sizeof(unitTag{}))
	return bytes.Count(b, []byte{0}) == len(b)
}

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

func (tr *allocTracker) unit() uint64 { return 1 << tr.a.unitLog }

// roundUnit rounds n up to a multiple of the allocator's unit.
func roundUnit(a *Allocator, n uint64) uint64 {
	u := uint64(1) << a.unitLog
	return (n + u - 1) / u * u
}

// footprint is what a live block accounts for in Stats.Allocated and the
// room it takes: its slot when cut from a slab, its length rounded up to
// whole units otherwise.
func (tr *allocTracker) footprint(b Block) uint64 {
	if b.Len == 0 {
		return 0
	}
	if b.slab != nil {
		return tr.a.classes[b.slab.class].size
	}
	return roundUnit(tr.a, b.Len)
}

// spareRanges returns the ranges of the kept empty slabs, in units.
func (tr *allocTracker) spareRanges() []unitRange {
	var rs []unitRange
	for i := range tr.a.classes {
		if s := tr.a.classes[i].spare; s != nil {
			rs = append(rs, unitRange{uint32(s.off >> tr.a.unitLog), uint32(tr.a.slabSize >> tr.a.unitLog)})
		}
	}
	return rs
}

// checkChoice checks that a take of rule.n units that returned start obeyed
// the rule, and that the rest of the chosen range is still free right after
// the block.
func (tr *allocTracker) checkChoice(what string, rule fitRule, start uint32) {
	t, f := tr.t, tr.a.free
	t.Helper()
	got, ok := rule.allowed(start)
	if !ok {
		require.Failf(t, "good-fit rule violated", "%s: took the range at unit %d; %v", what, start, rule)
	}
	if got.n < rule.n {
		require.Failf(t, "good-fit rule violated", "%s: range %d+%d is shorter than the request", what, got.start, got.n)
	}
	if got.n > rule.n {
		if rest := start + rule.n; f.tags[rest].length != got.n-rule.n {
			require.Failf(t, "allocator invariant violated", "%s: the rest of range %d+%d is not free after the block (tag %+v)", what, got.start, got.n, f.tags[rest])
		}
	}
}

// alloc allocates size bytes, works out from the free ranges which ranges
// the good-fit rule lets the block come from and whether the allocation can
// fail, and checks the result and the accounting.
func (tr *allocTracker) alloc(size uint64) (Block, bool) {
	t, a := tr.t, tr.a
	t.Helper()
	before := a.Stats()
	spares := tr.spareRanges()

	// Predict the outcome.
	var (
		mustFit  bool // a correct allocator cannot fail
		partial  bool // the class has a partial slab, which must serve
		useSpare bool // the class has a spare slab, which must serve
		spareOff uint64
		small    bool
		units    uint32  // units of a large block of size bytes
		slabRule fitRule // where a new slab may come from
		slabFits bool    // the rule guarantees a new slab
		large    fitRule // where a large block may come from, spares kept
		dropped  fitRule // where a large block may come from once the spares are given back
	)
	rounded := alignUp(size)
	switch {
	case size == 0:
		mustFit = true
	case size > a.capacity:
	default:
		units = a.unitsFor(size)
		if want := roundUnit(a, size) >> a.unitLog; uint64(units) != want {
			require.Failf(t, "allocator invariant violated", "unitsFor(%d) = %d, want %d", size, units, want)
		}
		large = ruleFromLists(a.free, units)
		dropped = large
		if len(spares) > 0 {
			dropped = ruleFromRanges(mergeRanges(append(freeRangeList(a.free), spares...)), units)
		}
		// However the index chooses, an allocator that fails while a free
		// range (or one that giving the spares back makes) holds the block
		// breaks Alloc's contract.
		mustFit = dropped.anyFits()
		if rounded <= a.maxSmall {
			small = true
			c := &a.classes[a.classIdx[rounded/Alignment-1]]
			switch {
			case len(c.partial) > 0:
				partial, mustFit = true, true
			case c.spare != nil:
				useSpare, spareOff, mustFit = true, c.spare.off, true
			default:
				slabRule = ruleFromLists(a.free, uint32(a.slabSize>>a.unitLog))
				slabFits = slabRule.mustSucceed()
				mustFit = mustFit || slabFits
			}
		}
	}

	b, ok := a.Alloc(size)
	after := a.Stats()
	if !ok {
		if size <= a.capacity {
			rule := ruleFromLists(a.free, units)
			if rule.mustSucceed() {
				require.Failf(t, "good-fit rule violated", "Alloc(%d) failed although the rule finds a range: %v", size, rule)
			}
			if mustFit {
				// With the rule kept, only a range of the own bin beyond the
				// scan can be left: see TestBugAllocSkipsFittingRange.
				require.Failf(t, "allocator invariant violated", "Alloc(%d) failed although a free range holds its %d units: %v (stats %+v)", size, units, rule, before)
			}
		} else if before != after {
			require.Equal(t, before, after, "Alloc(%d) beyond capacity changed the stats", size)
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
			if len(tr.spareRanges()) != 0 {
				require.Failf(t, "allocator invariant violated", "Alloc(%d) failed while keeping spare slabs", size)
			}
			if after.LargestFree >= uint64(units)<<a.unitLog {
				require.Failf(t, "allocator invariant violated", "Alloc(%d) failed with a free range of %d bytes", size, after.LargestFree)
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
	fp := tr.footprint(b)
	if b.Off%Alignment != 0 {
		require.Failf(t, "allocator invariant violated", "block at %d is not aligned", b.Off)
	}
	if b.Off+fp > a.capacity || b.Off+fp < b.Off {
		require.Failf(t, "allocator invariant violated", "block [%d,+%d) beyond capacity %d", b.Off, fp, a.capacity)
	}
	switch {
	case b.slab == nil:
		// A large block: a whole number of units, from where the rule
		// allows, with the spares given back only if it did not fit
		// otherwise.
		if b.Off%tr.unit() != 0 {
			require.Failf(t, "allocator invariant violated", "large block at %d is not aligned to the unit %d", b.Off, tr.unit())
		}
		if partial || useSpare || slabFits {
			require.Failf(t, "allocator invariant violated", "Alloc(%d) got a large block although a slab could serve it", size)
		}
		rule := large
		if len(spares) > 0 && len(tr.spareRanges()) == 0 {
			if large.mustSucceed() {
				require.Failf(t, "allocator invariant violated", "Alloc(%d) gave the spares back although a range fits: %v", size, large)
			}
			rule = dropped
		} else if want, got := before.Slabs, after.Slabs; want != got {
			require.Equal(t, want, got, "Alloc(%d) of a large block changed Slabs", size)
		}
		tr.checkChoice(fmt.Sprintf("Alloc(%d)", size), rule, uint32(b.Off>>a.unitLog))
	case partial:
		// Served from a slab that was already in use: no new slab.
		if b.slab.used < 2 || after.Slabs != before.Slabs {
			require.Failf(t, "allocator invariant violated", "Alloc(%d) did not use the partial slab of its class", size)
		}
	case useSpare:
		if want, got := spareOff, b.Off; want != got {
			require.Equal(t, want, got, "Alloc(%d) did not reuse the spare slab of its class", size)
		}
		if after.Slabs != before.Slabs {
			require.Failf(t, "allocator invariant violated", "Alloc(%d) changed Slabs while reusing a spare", size)
		}
	default:
		// A new slab, cut by the large allocator.
		if !small {
			require.Failf(t, "allocator invariant violated", "Alloc(%d) cut from a slab although it is not small", size)
		}
		if want, got := before.Slabs+1, after.Slabs; want != got {
			require.Equal(t, want, got, "Slabs after Alloc(%d) opened a slab", size)
		}
		if b.slab.off%tr.unit() != 0 {
			require.Failf(t, "allocator invariant violated", "slab at %d is not aligned to the unit %d", b.slab.off, tr.unit())
		}
		tr.checkChoice(fmt.Sprintf("slab for Alloc(%d)", size), slabRule, uint32(b.slab.off>>a.unitLog))
	}
	if b.slab != nil {
		cs := a.classes[b.slab.class].size
		if cs < rounded {
			require.Failf(t, "allocator invariant violated", "slot too small")
		}
		if want, got := b.slab.off+uint64(b.slot)*cs, b.Off; want != got {
			require.Equal(t, want, got, "block not at its slot")
		}
		if b.Off+cs > b.slab.off+a.slabSize || b.slab.off+a.slabSize > a.capacity {
			require.Failf(t, "allocator invariant violated", "slot beyond its slab or slab beyond capacity")
		}
		if b.slot >= b.slab.slots {
			require.Failf(t, "allocator invariant violated", "slot index out of range")
		}
	}
	if want, got := before.Allocated+fp, after.Allocated; want != got {
		require.Equal(t, want, got, "Allocated after Alloc(%d)", size)
	}
	if want, got := before.Requested+size, after.Requested; want != got {
		require.Equal(t, want, got, "Requested after Alloc(%d)", size)
	}
	if want, got := before.Blocks+1, after.Blocks; want != got {
		require.Equal(t, want, got, "Blocks after Alloc(%d)", size)
	}

	// No overlap with any live block.
	s := allocSpan{b.Off, b.Off + fp}
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
	if b.Len > 0 && b.slab == nil {
		// The freed range coalesced at once: it lies inside one free range,
		// which touches no other.
		u := uint32(b.Off >> a.unitLog)
		n := uint32(fp >> a.unitLog)
		var hit []unitRange
		for _, r := range freeRangeList(a.free) {
			if r.start <= u && u+n <= r.end() {
				hit = append(hit, r)
			}
		}
		if len(hit) != 1 {
			require.Failf(t, "allocator invariant violated", "freed range %d+%d is in %d free ranges", u, n, len(hit))
		}
		r := hit[0]
		if r.start > 0 && a.free.tags[r.start-1].firstOf != 0 || r.end() < a.free.units && a.free.tags[r.end()].length != 0 {
			require.Failf(t, "allocator invariant violated", "free range %d+%d did not coalesce with a neighbour", r.start, r.n)
		}
	}
}

func (tr *allocTracker) freeAll(r *rand.Rand) {
	for len(tr.live) > 0 {
		tr.free(r.IntN(len(tr.live)))
	}
}

// verify checks the whole state: the allocator's own invariants, the free
// index's tags, that live large blocks, live slabs, spare slabs and free
// ranges tile the arena exactly, and that Stats agrees with the model.
func (tr *allocTracker) verify() {
	t, a := tr.t, tr.a
	t.Helper()
	require.NoError(t, a.check())
	unit := tr.unit()
	if a.capacity%unit != 0 || uint64(a.free.units)*unit != a.capacity || a.slabSize%unit != 0 {
		require.Failf(t, "allocator invariant violated", "capacity %d, slab size %d and %d units are not in whole units of %d", a.capacity, a.slabSize, a.free.units, unit)
	}
	freeRanges := checkFreeRanges(t, a.free)

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
		if b.Off%unit != 0 {
			require.Failf(t, "allocator invariant violated", "large block at %d is not aligned to the unit %d", b.Off, unit)
		}
		fp := roundUnit(a, b.Len)
		largeAlloc += fp
		tiles = append(tiles, allocSpan{b.Off, b.Off + fp})
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
			if _, live := slabUse[s]; live {
				require.Failf(t, "allocator invariant violated", "spare slab holds live blocks")
			}
			if s.off%unit != 0 {
				require.Failf(t, "allocator invariant violated", "spare slab at %d is not aligned to the unit", s.off)
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
		if s.off%unit != 0 {
			require.Failf(t, "allocator invariant violated", "slab at %d is not aligned to the unit", s.off)
		}
		tiles = append(tiles, allocSpan{s.off, s.off + a.slabSize})
	}

	var free, largest uint64
	for _, r := range freeRanges {
		n := uint64(r.n) << a.unitLog
		free += n
		largest = max(largest, n)
		off := uint64(r.start) << a.unitLog
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
			spans = append(spans, allocSpan{b.Off, b.Off + tr.footprint(b)})
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
	if st.Capacity == a.capacity && st.Unit == unit && st.Requested == requested && st.Blocks == uint64(len(tr.live)) &&
		st.Allocated == smallAlloc+largeAlloc && st.Slabs == uint64(len(slabUse)+spares) &&
		st.Free == free && st.LargestFree == largest && st.FreeRanges == len(freeRanges) &&
		math.Abs(st.Fragmentation-wantFrag) <= 1e-12 && st.Fragmentation >= 0 && st.Fragmentation < 1 &&
		smallAlloc <= st.Slabs*st.SlabSize && st.Requested <= st.Allocated {
		// Fast path: the checks below all hold (the identities after the
		// Allocated/Slabs/Free equalities follow from the tiling above).
		return
	}
	require.Equal(t, a.capacity, st.Capacity)
	require.Equal(t, unit, st.Unit, "Unit")
	require.Equal(t, requested, st.Requested, "Requested")
	require.Equal(t, uint64(len(tr.live)), st.Blocks, "Blocks")
	require.Equal(t, smallAlloc+largeAlloc, st.Allocated, "Allocated")
	require.Equal(t, uint64(len(slabUse)+spares), st.Slabs, "Slabs")
	require.Equal(t, free, st.Free, "Free")
	require.Equal(t, largest, st.LargestFree, "LargestFree")
	require.Equal(t, len(freeRanges), st.FreeRanges, "FreeRanges")
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

// randAllocSize draws a request size: edge sizes (0, 1, 63, 64, 65, unit,
// class and slab limits, the capacity and beyond), small sizes up to 64 KiB,
// medium sizes up to 1 MiB and, bigPermille times in a thousand, large sizes
// up to a quarter of the capacity or, rarely, up to all of it.
func randAllocSize(r *rand.Rand, a *Allocator, bigPermille int) uint64 {
	c := max(a.capacity, Alignment)
	u := uint64(1) << a.unitLog
	p := r.IntN(1000)
	switch {
	case p < 100:
		edge := []uint64{0, 1, 63, 64, 65, 127, 128, 129, u - 1, u, u + 1, 2*u + 1, a.maxSmall - 1, a.maxSmall, a.maxSmall + 1,
			a.slabSize - 1, a.slabSize, a.slabSize + 1, a.capacity - u + 1, a.capacity, a.capacity + 1}
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
		{"960B", 1000, 4000, 2, 150, []uint64{1, 2, 3}}, // 64-byte units, rounded down to 960: smaller than one slab
		{"4KiB", 4 << 10, 4000, 2, 150, []uint64{1, 2, 3}},
		{"4KiB+100", 4<<10 + 100, 4000, 2, 150, []uint64{1, 2, 3}}, // 64-byte units, rounded down to 4160
		{"100KiB", 100 << 10, 4000, 5, 150, []uint64{1, 2}},        // 1 KiB units, slabs of one unit
		{"1MiB+100", 1<<20 + 100, 4000, 10, 150, []uint64{1, 2, 3, 0xdeadbeef}},
		{"256MiB", 256 << 20, 4000, 25, 150, []uint64{1, 2, 3, 0xdeadbeef}},
		// Mostly small and medium blocks: many live blocks, slabs and
		// free ranges.
		{"256MiB-many", 256 << 20, 8000, 100, 3, []uint64{1}},
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

// TestAllocRandomLargeUnits churns large blocks of a few units to a few
// hundred in an arena of 1024 units: many free ranges in the same bins, where
// the own bin's scan and the step to a larger bin both matter.
func TestAllocRandomLargeUnits(t *testing.T) {
	for _, seed := range []uint64{11, 12, 13} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 77))
			tr := newAllocTracker(t, 4<<20) // 4 KiB units, maxSmall 8 KiB
			u := tr.unit()
			for step := 0; step < 6000; step++ {
				pAlloc := 70
				if (step/300)%2 == 1 {
					pAlloc = 35
				}
				if len(tr.live) == 0 || r.IntN(100) < pAlloc {
					var size uint64
					switch p := r.IntN(10); {
					case p < 6:
						size = u * (3 + r.Uint64N(60))
					case p < 9:
						size = u*2 + 1 + r.Uint64N(80*u)
					default:
						size = u * (64 + r.Uint64N(300))
					}
					tr.alloc(size)
				} else {
					tr.free(r.IntN(len(tr.live)))
				}
				if step%20 == 0 {
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
		require.Zero(t, st.FreeRanges)
		require.Zero(t, st.Fragmentation)
		require.Equal(t, uint64(Alignment), st.Unit)
		a.Free(b)
		require.Zero(t, a.Stats().Blocks)
	}
}

// TestAllocUnit checks the unit each capacity gets: 4 KiB from 256 KiB up,
// else the largest power of two that leaves at least 64 units, down to
// Alignment; the capacity is rounded down to it and slabs are whole units.
func TestAllocUnit(t *testing.T) {
	for _, capacity := range []uint64{64, 100, 1000, 4 << 10, 4<<10 + 100, 8<<10 - 1, 8 << 10, 100 << 10,
		256<<10 - 1, 256 << 10, 1<<20 + 100, 64 << 20, 1<<30 + 4095} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			want := uint64(largeUnit)
			if capacity < 64*largeUnit {
				want = Alignment
				for want*2*64 <= capacity {
					want *= 2
				}
			}
			a := NewAllocator(capacity)
			st := a.Stats()
			require.Equal(t, want, st.Unit)
			require.Equal(t, want, uint64(1)<<a.unitLog)
			require.Equal(t, capacity/want*want, a.Capacity(), "capacity rounded down to the unit")
			require.Equal(t, a.Capacity(), st.Capacity)
			require.Equal(t, a.Capacity(), st.Free)
			require.Equal(t, a.Capacity(), st.LargestFree)
			require.Equal(t, 1, st.FreeRanges)
			require.Zero(t, a.slabSize%want, "slab size %d not a multiple of the unit", a.slabSize)
			require.Equal(t, st.SlabSize, a.slabSize)
			require.NoError(t, a.check())
		})
	}
}

func TestAllocCapacityRounding(t *testing.T) {
	for _, c := range []struct{ in, want uint64 }{
		{1<<20 + 100, 1 << 20},
		{1<<20 + 4096 + 100, 1<<20 + 4096},
		{300<<10 + 5000, 300<<10 + 4096},
		{1000, 960},
		{4<<10 + 100, 4<<10 + 64},
	} {
		a := NewAllocator(c.in)
		require.Equal(t, c.want, a.Capacity(), "NewAllocator(%d)", c.in)
		_, ok := a.Alloc(a.Capacity() + 1)
		require.False(t, ok)
		b, ok := a.Alloc(a.Capacity())
		require.True(t, ok)
		require.Zero(t, b.Off)
		st := a.Stats()
		require.Equal(t, a.Capacity(), st.Allocated)
		require.Zero(t, st.Free)
		require.NoError(t, a.check())
		a.Free(b)
		require.Equal(t, a.Capacity(), a.Stats().LargestFree)
		require.NoError(t, a.check())
	}
}

// TestAllocLargeRounding checks that large blocks take whole units, which
// Allocated counts, and that blocks are laid out unit by unit.
func TestAllocLargeRounding(t *testing.T) {
	a := NewAllocator(4 << 20) // 4 KiB units, maxSmall 8 KiB
	const u = largeUnit
	require.Equal(t, uint64(u), a.Stats().Unit)
	require.Less(t, a.maxSmall, uint64(3*u))
	sizes := []uint64{a.maxSmall + 1, 3 * u, 3*u + 1, 5*u - 1, 17 * u, 100*u + 64}
	var at, allocated uint64
	var bs []Block
	for _, s := range sizes {
		b, ok := a.Alloc(s)
		require.True(t, ok)
		require.Nil(t, b.slab)
		require.Equal(t, at, b.Off, "Alloc(%d)", s)
		rounded := (s + u - 1) / u * u
		at += rounded
		allocated += rounded
		st := a.Stats()
		require.Equal(t, allocated, st.Allocated, "Allocated after Alloc(%d)", s)
		require.Equal(t, a.Capacity()-at, st.Free)
		bs = append(bs, b)
	}
	for _, b := range bs {
		a.Free(b)
		require.NoError(t, a.check())
	}
	st := a.Stats()
	require.Zero(t, st.Allocated)
	require.Equal(t, 1, st.FreeRanges)

	// A small request that finds no room for a slab gets a large block of
	// whole units, and gives them back.
	a = NewAllocator(1000) // 64-byte units: slabs of 1 KiB never fit
	require.Equal(t, uint64(Alignment), a.Stats().Unit)
	b, ok := a.Alloc(100)
	require.True(t, ok)
	require.Nil(t, b.slab)
	require.Equal(t, uint64(128), a.Stats().Allocated)
	c, ok := a.Alloc(1)
	require.True(t, ok)
	require.Equal(t, uint64(128), c.Off)
	a.Free(b)
	a.Free(c)
	require.Zero(t, a.Stats().Allocated)
	require.Equal(t, 1, a.Stats().FreeRanges)
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
		at += roundUnit(a, s)
		bs = append(bs, b)
	}
	return bs
}

// allocFreeRanges returns the free ranges in bytes, offset to length.
func allocFreeRanges(a *Allocator) map[uint64]uint64 {
	m := map[uint64]uint64{}
	for _, r := range freeRangeList(a.free) {
		m[uint64(r.start)<<a.unitLog] = uint64(r.n) << a.unitLog
	}
	return m
}

func TestAllocGoodFit(t *testing.T) {
	const U = 64 << 10      // 16 units of 4 KiB
	const capacity = 64 * U // 4 MiB: maxSmall is 8 KiB
	const U3 = 3 * U        // 48 units: bin 2/8
	const U5 = 5 * U        // 80 units: bin 3/4
	setup := func(t *testing.T) (*Allocator, []Block) {
		a := newLargeAllocator(t, capacity, U)
		// Holes of 5U, 1U, 2U, 2U, 3U separated by live blocks; the rest
		// of the arena is filled, so the holes are the only free ranges.
		// They fall in bins 3/4, 1/0, 2/0, 2/0 and 2/8: the largest at the
		// lowest offset.
		sizes := []uint64{U5, U, U, U, 2 * U, U, 2 * U, U, U3, U}
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
			0:      U5,
			6 * U:  U,
			8 * U:  2 * U,
			11 * U: 2 * U,
			14 * U: U3,
		}, allocFreeRanges(a))
		return a, bs
	}

	cases := []struct {
		name string
		size uint64
		want []uint64 // the offsets the good-fit rule allows
	}{
		{"exact smallest", U, []uint64{6 * U}},
		{"either of two equal ranges", 2 * U, []uint64{8 * U, 11 * U}},
		{"just over a hole: next non-empty bin", U + 1, []uint64{8 * U, 11 * U}},
		{"smaller bin beats a larger range at a lower offset", U3 - 64, []uint64{14 * U}},
		{"own bin too short: smallest larger bin, not the largest", 2*U + 1, []uint64{14 * U}},
		{"exact middle", U3, []uint64{14 * U}},
		{"only the largest fits", 4 * U, []uint64{0}},
		{"exact largest", U5, []uint64{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := setup(t)
			before := allocFreeRanges(a)
			b, ok := a.Alloc(c.size)
			require.True(t, ok)
			assert.Contains(t, c.want, b.Off)
			require.NoError(t, a.check())
			// The chosen range held the block; the rest of it stays free,
			// right after the block.
			rounded := roundUnit(a, c.size)
			require.GreaterOrEqual(t, before[b.Off], rounded, "chosen range shorter than the request")
			fr := allocFreeRanges(a)
			_, stillThere := fr[b.Off]
			assert.False(t, stillThere, "chosen range still free")
			if rest := before[b.Off] - rounded; rest > 0 {
				assert.Equal(t, rest, fr[b.Off+rounded])
			}
			assert.Equal(t, uint64(rounded), a.Stats().Allocated-(capacity-U5-U-4*U-U3))
		})
	}

	t.Run("too large for every hole", func(t *testing.T) {
		a, _ := setup(t)
		st := a.Stats()
		_, ok := a.Alloc(U5 + 1)
		require.False(t, ok)
		assert.Equal(t, st, a.Stats())
	})

	t.Run("sequence", func(t *testing.T) {
		a, _ := setup(t)
		want := []struct {
			size uint64
			offs []uint64
		}{
			{2 * U, []uint64{8 * U, 11 * U}},
			{2 * U, []uint64{8 * U, 11 * U}},
			{2 * U, []uint64{14 * U}},    // bin 2/0 empty: the 3U hole, not the 5U one
			{U, []uint64{6 * U, 16 * U}}, // two 1U ranges now
			{U, []uint64{6 * U, 16 * U}}, //
			{U, []uint64{0}},             // only the 5U hole left
			{4 * U, []uint64{U}},         // its rest
		}
		seen := map[uint64]bool{}
		for _, w := range want {
			b, ok := a.Alloc(w.size)
			require.True(t, ok)
			require.Contains(t, w.offs, b.Off, "Alloc(%d)", w.size)
			require.False(t, seen[b.Off], "offset %d twice", b.Off)
			seen[b.Off] = true
			require.NoError(t, a.check())
		}
		st := a.Stats()
		require.Zero(t, st.Free)
		_, ok := a.Alloc(64)
		require.False(t, ok)
	})

	t.Run("own bin scanned before a larger bin", func(t *testing.T) {
		// Ranges of 40 and 41 units share bin 2/4; a 200-unit range sits
		// at the lowest offset. A request of 41 units skips the 40 at the
		// head of the list and takes the 41, the second in the list.
		a := newLargeAllocator(t, capacity, U)
		const u = largeUnit
		bs := allocRow(t, a, 200*u, 3*u, 41*u, 3*u, 40*u, 3*u, capacity-290*u)
		a.Free(bs[2]) // 41, then 40 at the head
		a.Free(bs[4])
		a.Free(bs[0])
		require.Equal(t, []unitRange{{uint32(bs[4].Off / u), 40}, {uint32(bs[2].Off / u), 41}}, binList(a.free, binIndex(41)))
		b, ok := a.Alloc(41 * u)
		require.True(t, ok)
		require.Equal(t, bs[2].Off, b.Off)
		// And 40 units take the head.
		c, ok := a.Alloc(40 * u)
		require.True(t, ok)
		require.Equal(t, bs[4].Off, c.Off)
		require.NoError(t, a.check())
	})
}

func TestAllocCoalesce(t *testing.T) {
	const U = 256 << 10
	const capacity = 16 * U // 4 MiB: maxSmall is 8 KiB, 4 KiB units
	const unit = largeUnit
	// Blocks 0..15 fill the arena; L, M, R are 5, 6, 7.
	const L, M, R = 5, 6, 7
	setup := func(t *testing.T) (*Allocator, []Block) {
		a := newLargeAllocator(t, capacity, U)
		require.Equal(t, uint64(unit), a.Stats().Unit)
		sizes := make([]uint64, 16)
		for i := range sizes {
			sizes[i] = U
		}
		// M's length is not a multiple of the unit: coalescing must use its
		// rounded length. R makes up for it so the row fills the arena.
		sizes[M] = U + 100       // rounded up to U + unit
		sizes[R] = U - unit - 50 // rounded up to U - unit
		bs := allocRow(t, a, sizes...)
		require.Zero(t, a.Stats().Free)
		return a, bs
	}
	end := func(b Block) uint64 { return b.Off + (b.Len+unit-1)/unit*unit }

	t.Run("none", func(t *testing.T) {
		a, bs := setup(t)
		a.Free(bs[M])
		require.NoError(t, a.check())
		assert.Equal(t, map[uint64]uint64{bs[M].Off: U + unit}, allocFreeRanges(a))
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
		require.Equal(t, uint64(3*U), want)
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
				checkFreeRanges(t, a.free)
			}
			assert.Equal(t, map[uint64]uint64{0: capacity}, allocFreeRanges(a))
		}
	})
}

func TestAllocClassSizes(t *testing.T) {
	for _, capacity := range []uint64{4 << 10, 100 << 10, 1 << 20, 64 << 20, 256 << 20} {
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
			// Slabs are whole units, cut by the large allocator.
			require.Zero(t, a.slabSize%(uint64(1)<<a.unitLog))

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
	require.Zero(t, first.off%(uint64(1)<<a.unitLog), "slab not unit-aligned")
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
	require.Equal(t, 1, a.Stats().FreeRanges)
}

func TestAllocBeyondCapacity(t *testing.T) {
	for _, capacity := range []uint64{4 << 10, 1 << 20, 1<<20 + 100, 256 << 20} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			a := NewAllocator(capacity)
			capacity := a.Capacity()
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
	// One byte over a hole does not fit either; one hole does.
	_, ok = a.Alloc(U + 1)
	require.False(t, ok)
	b, ok := a.Alloc(U)
	require.True(t, ok)
	a.Free(b)

	// Freeing the rest coalesces everything.
	for i := 1; i < n; i += 2 {
		a.Free(bs[i])
	}
	require.NoError(t, a.check())
	st = a.Stats()
	require.Equal(t, 1, st.FreeRanges)
	require.Zero(t, st.Fragmentation)
	require.Equal(t, uint64(n*U), st.LargestFree)
}

// TestBinOf checks the bin mapping against the documented layout: one bin
// per length below slCount, then slCount bins per power of two, so that a
// bin spans at most 1/16 of its shortest length; the bins are contiguous,
// in order, and cover every uint32 length.
func TestBinOf(t *testing.T) {
	const bins = flCount * slCount
	check := func(n uint32, want int) {
		fl, sl := binOf(n)
		if fl < 0 || fl >= flCount || sl < 0 || sl >= slCount {
			require.Failf(t, "binOf out of range", "binOf(%d) = %d/%d", n, fl, sl)
		}
		if got := fl*slCount + sl; got != want {
			require.Failf(t, "binOf wrong", "binOf(%d) = %d/%d, want bin %d (%d/%d)", n, fl, sl, want, want/slCount, want%slCount)
		}
	}
	check(0, 0)
	check(math.MaxUint32, bins-1)

	r := rand.New(rand.NewPCG(5, 6))
	for b := 1; b < bins; b++ {
		lo := binLow(b)
		hi := uint64(math.MaxUint32)
		if b+1 < bins {
			hi = binLow(b+1) - 1
		}
		require.LessOrEqual(t, lo, hi, "bin %d empty", b)
		require.LessOrEqual(t, hi, uint64(math.MaxUint32))
		if b == bins-1 {
			require.Equal(t, uint64(1)<<32, uint64(2*slCount-1+1)<<(flCount-2), "the last bin ends at 2^32")
		}
		// Good fit: a bin spans at most 1/16 of its shortest length; the
		// first 32 bins hold one length each.
		if width := hi - lo + 1; width > max(1, lo/slCount) || (lo < 2*slCount && width != 1) {
			require.Failf(t, "bin too wide", "bin %d holds [%d,%d]", b, lo, hi)
		}
		check(uint32(lo), b)
		check(uint32(hi), b)
		check(uint32(lo-1), b-1)
		for range 4 {
			check(uint32(lo+r.Uint64N(hi-lo+1)), b)
		}
	}

	// Exhaustively for the lengths an arena of up to 4 GiB of 4 KiB units
	// has: monotonic, one bin at a time.
	prev := 0
	for n := uint32(1); n <= 1<<20; n++ {
		fl, sl := binOf(n)
		b := fl*slCount + sl
		if b != prev && b != prev+1 || binLow(b) > uint64(n) {
			require.Failf(t, "binOf not monotonic", "binOf(%d) = %d/%d after bin %d", n, fl, sl, prev)
		}
		prev = b
	}
	// And random lengths over the whole range.
	for range 100000 {
		n := r.Uint32()
		fl, sl := binOf(n)
		b := fl*slCount + sl
		if binLow(b) > uint64(n) || (b+1 < bins && uint64(n) >= binLow(b+1)) {
			require.Failf(t, "binOf wrong", "binOf(%d) = %d/%d", n, fl, sl)
		}
	}
}

func TestFreeRangesEmpty(t *testing.T) {
	f := newFreeRanges(0)
	require.NoError(t, f.check())
	require.Zero(t, f.largest())
	_, ok := f.take(1)
	require.False(t, ok)

	f = newFreeRanges(100) // every unit in use
	checkFreeRanges(t, f)
	_, ok = f.take(1)
	require.False(t, ok)
	f.give(10, 5)
	require.Equal(t, []unitRange{{10, 5}}, checkFreeRanges(t, f))
	_, ok = f.take(0)
	require.False(t, ok, "take(0)")
	_, ok = f.take(6)
	require.False(t, ok)
	s, ok := f.take(5)
	require.True(t, ok)
	require.Equal(t, uint32(10), s)
	require.Empty(t, checkFreeRanges(t, f))

	// Give in pieces, out of order: one range in the end.
	for _, p := range [][2]uint32{{50, 50}, {0, 10}, {20, 30}, {10, 10}} {
		f.give(p[0], p[1])
		checkFreeRanges(t, f)
	}
	require.Equal(t, []unitRange{{0, 100}}, checkFreeRanges(t, f))
	s, ok = f.take(100)
	require.True(t, ok)
	require.Zero(t, s)
	require.Empty(t, checkFreeRanges(t, f))
}

// expectedTake is the documented choice of take, read off the lists: the
// first range that holds n among the first ownBinScan of n's own bin, else
// the head of the first non-empty larger bin.
func expectedTake(f *freeRanges, n uint32) (uint32, bool) {
	if n == 0 {
		return 0, false
	}
	b := binIndex(n)
	for k, x := range binList(f, b) {
		if k >= ownBinScan {
			break
		}
		if x.n >= n {
			return x.start, true
		}
	}
	for nb := b + 1; nb < len(f.heads); nb++ {
		if h := f.heads[nb]; h != 0 {
			return h - 1, true
		}
	}
	return 0, false
}

// modelRuns returns the maximal runs of free units.
func modelRuns(free []bool) []unitRange {
	var rs []unitRange
	for u := 0; u < len(free); {
		if !free[u] {
			u++
			continue
		}
		v := u
		for v < len(free) && free[v] {
			v++
		}
		rs = append(rs, unitRange{uint32(u), uint32(v - u)})
		u = v
	}
	return rs
}

// TestFreeRanges checks take, give, largest and check against a model that
// keeps one flag per unit, over thousands of random operations.
func TestFreeRanges(t *testing.T) {
	cases := []struct {
		units    uint32
		ops      int
		fullFree bool
		narrow   bool // takes of 40 or 41 units, one bin: often several ranges there, some too short
		seed     uint64
	}{
		{1, 200, true, false, 1},
		{17, 2000, false, false, 2},
		{40, 3000, true, false, 3},
		{700, 4000, true, false, 4},
		{700, 4000, false, false, 5},
		{3000, 2000, true, false, 6},
		{1500, 4000, true, true, 7},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d/%d", c.units, c.seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(c.seed, 1234))
			f := newFreeRanges(c.units)
			free := make([]bool, c.units)
			if c.fullFree {
				f.insert(0, c.units)
				for u := range free {
					free[u] = true
				}
			}
			var takes, fails, missed, fromLarger, skipped int
			var blocks []unitRange // taken blocks, for the narrow case
			for step := 0; step < c.ops; step++ {
				runs := modelRuns(free)
				var used []unitRange // maximal runs of units in use
				at := uint32(0)
				for _, x := range runs {
					if x.start > at {
						used = append(used, unitRange{at, x.start - at})
					}
					at = x.end()
				}
				if at < c.units {
					used = append(used, unitRange{at, c.units - at})
				}
				doTake := r.IntN(100) < 50
				if c.narrow {
					// Keep about a quarter of the units free.
					doTake = r.Uint64N(uint64(c.units)) < 2*f.free
				}
				if len(used) == 0 || len(runs) > 0 && doTake {
					// take: lengths around the free ranges' and random ones.
					var n uint32
					switch p := r.IntN(10); {
					case c.narrow && p < 9:
						n = 40 + uint32(r.IntN(2))
					case p < 5:
						x := int(runs[r.IntN(len(runs))].n)
						n = uint32(max(1, x+r.IntN(5)-2))
					case p < 9:
						n = 1 + uint32(r.IntN(int(min(c.units, 200))))
					case p == 9:
						n = uint32(r.IntN(int(c.units) + 2))
					}
					want, wantOK := expectedTake(f, n)
					// The good-fit rule from the model alone: the own bin,
					// else the smallest non-empty bin above it.
					rule := ruleFromRanges(runs, n)
					s, ok := f.take(n)
					if ok != wantOK || ok && s != want {
						require.Failf(t, "take broke its rule", "take(%d) = %d, %v; want %d, %v; lists %v", n, s, ok, want, wantOK, freeRangeList(f))
					}
					if n == 0 && ok {
						require.Fail(t, "take(0) succeeded")
					}
					if !ok {
						fails++
						if n > 0 && rule.mustSucceed() {
							require.Failf(t, "take broke its rule", "take(%d) failed: %v", n, rule)
						}
						if rule.anyFits() {
							missed++ // see TestBugAllocSkipsFittingRange
						}
					} else {
						takes++
						got, okRule := rule.allowed(s)
						if !okRule || got.n < n {
							require.Failf(t, "good-fit rule violated", "take(%d) = %d; %v", n, s, rule)
						}
						if binIndex(got.n) != binIndex(n) {
							fromLarger++
							if len(rule.own) > 0 {
								skipped++ // see TestBugAllocSkipsFittingRange
							}
						}
						for u := s; u < s+n; u++ {
							free[u] = false
						}
						blocks = append(blocks, unitRange{s, n})
					}
				} else {
					// give: in the narrow case a whole block, as the allocator
					// does, so that the free ranges keep the takes' lengths;
					// else a random piece of a random used run.
					var x unitRange
					if c.narrow {
						k := r.IntN(len(blocks))
						x = blocks[k]
						blocks = slices.Delete(blocks, k, k+1)
					} else {
						x = used[r.IntN(len(used))]
						if r.IntN(3) != 0 { // else the whole run: it coalesces on both sides
							off := uint32(r.IntN(int(x.n)))
							x = unitRange{x.start + off, 1 + uint32(r.IntN(int(x.n-off)))}
						}
					}
					f.give(x.start, x.n)
					for u := x.start; u < x.end(); u++ {
						free[u] = true
					}
				}
				got := checkFreeRanges(t, f)
				if want := modelRuns(free); !slices.Equal(want, got) {
					require.Equal(t, want, got, "free ranges after step %d", step)
				}
			}
			t.Logf("%d takes (%d from a larger bin, %d of them while a range of the own bin fit), %d failed (%d while a range of the own bin fit)",
				takes, fromLarger, skipped, fails, missed)
			require.Positive(t, takes)
		})
	}
}

// TestFreeRangesLarge uses an index of 2^20 units, so that lengths reach
// the higher bins, and checks that a range split off the top stays usable.
func TestFreeRangesLarge(t *testing.T) {
	const units = 1 << 20
	f := newFreeRanges(units)
	f.insert(0, units)
	require.Equal(t, uint32(units), f.largest())
	r := rand.New(rand.NewPCG(9, 9))
	type piece struct{ start, n uint32 }
	var taken []piece
	for i := 0; i < 300; i++ {
		n := uint32(1) << r.IntN(17)
		n += uint32(r.IntN(int(n)))
		rule := ruleFromLists(f, n)
		s, ok := f.take(n)
		if !ok {
			require.False(t, rule.mustSucceed(), "take(%d) failed: %v", n, rule)
			continue
		}
		got, okRule := rule.allowed(s)
		require.True(t, okRule, "take(%d) = %d: %v", n, s, rule)
		require.GreaterOrEqual(t, got.n, n)
		taken = append(taken, piece{s, n})
		if r.IntN(3) == 0 {
			k := r.IntN(len(taken))
			f.give(taken[k].start, taken[k].n)
			taken = slices.Delete(taken, k, k+1)
		}
		require.NoError(t, f.check())
	}
	checkFreeRanges(t, f)
	for _, k := range r.Perm(len(taken)) {
		f.give(taken[k].start, taken[k].n)
	}
	require.Equal(t, []unitRange{{0, units}}, checkFreeRanges(t, f))
}

// TestAllocFindsFittingRangeDeepInItsBin: take scans only ownBinScan
// ranges of the request's own bin before it tries larger bins; a range of
// the own bin that holds the request but sits third in the list is found
// when no larger bin has one (Alloc fails only when no free range can hold
// the block), and otherwise a range of a larger bin is taken, as take's
// comment says.
func TestAllocFindsFittingRangeDeepInItsBin(t *testing.T) {
	const u = largeUnit
	const capacity = 4 << 20 // 1024 units; maxSmall 8 KiB < 3 units
	// Holes of 41, 40 and 40 units (all in bin 2/4) freed in that order, so
	// that the list reads 40, 40, 41; 3-unit live blocks keep them apart.
	// The arena ends with a hole of tail units, or none.
	setup := func(t *testing.T, tail uint64) (*Allocator, []Block) {
		a := newLargeAllocator(t, capacity, 3*u)
		rest := uint64(capacity/u) - 41 - 40 - 40 - 9 - tail
		sizes := []uint64{41 * u, 3 * u, 40 * u, 3 * u, 40 * u, 3 * u, rest * u}
		if tail > 0 {
			sizes = append(sizes, tail*u)
		}
		bs := allocRow(t, a, sizes...)
		a.Free(bs[0])
		a.Free(bs[2])
		a.Free(bs[4])
		if tail > 0 {
			a.Free(bs[7])
		}
		require.NoError(t, a.check())
		require.Equal(t, []unitRange{{uint32(bs[4].Off / u), 40}, {uint32(bs[2].Off / u), 40}, {0, 41}}, binList(a.free, binIndex(41)))
		return a, bs
	}

	t.Run("fails although a range fits", func(t *testing.T) {
		a, _ := setup(t, 0)
		st := a.Stats()
		require.Equal(t, uint64(41*u), st.LargestFree)
		b, ok := a.Alloc(41 * u)
		assert.True(t, ok, "Alloc(%d) failed with LargestFree %d", 41*u, st.LargestFree)
		assert.Zero(t, b.Off, "the 41-unit range at 0 is the only one that holds the block")
	})

	t.Run("takes a larger bin before scanning its own to the end", func(t *testing.T) {
		a, bs := setup(t, 200)
		b, ok := a.Alloc(41 * u)
		require.True(t, ok)
		assert.Equal(t, bs[7].Off, b.Off, "the first range of the smallest non-empty larger bin")
	})
}

// TestAllocCapacityLimit: unit counts are uint32, so an arena is at most
// MaxCapacity; the config refuses more, and NewAllocator clips.
func TestAllocCapacityLimit(t *testing.T) {
	cfg := Config{Capacity: MaxCapacity + largeUnit}
	require.ErrorIs(t, cfg.setDefaults(), ErrConfig)
	cfg = Config{Capacity: MaxCapacity, Dir: t.TempDir(), SpillDir: t.TempDir()}
	require.NoError(t, cfg.setDefaults())
	a := NewAllocator(1 << 30)
	_, ok := a.Alloc(MaxCapacity + 1)
	assert.False(t, ok)
}
