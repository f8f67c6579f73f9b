package plasma

import (
	"fmt"
	"math/bits"
)

// Alignment is the alignment of every block the allocator hands out, and
// the granularity of its accounting: a cache line, so that two objects
// never share one.
const Alignment = 64

// Block is a range of the arena that the allocator handed out. Free must
// get the Block exactly as Alloc returned it.
type Block struct {
	// Off is the block's offset in the arena; a multiple of Alignment.
	Off uint64
	// Len is the length the caller asked for.
	Len uint64

	slab *slab // the slab the block was cut from, nil for a large block
	slot uint32
}

// Allocator hands out aligned ranges of an arena of fixed capacity. It is
// not safe for concurrent use: the store serialises access.
//
// Small requests (up to a size that depends on the slab size, 64 KiB by
// default) are served from size classes, four per power of two, cut from
// slabs; a slab that becomes empty goes back to the large allocator, except
// one per class that is kept to avoid churn and is given back as soon as a
// large request would otherwise fail. Large requests are rounded up to the
// allocator's unit (4 KiB, less for tiny arenas) and served by a good fit in
// constant time (see freeRanges: a range at most 1/16 longer than the best
// fit); freed ranges coalesce with their free neighbours at once.
type Allocator struct {
	capacity uint64
	slabSize uint64
	maxSmall uint64
	unitLog  uint // large blocks are multiples of 1<<unitLog bytes

	free     *freeRanges
	classes  []sizeClass
	classIdx []uint8 // (rounded size / Alignment) - 1 -> class

	allocated uint64 // bytes of blocks handed out, rounded to their class or Alignment
	requested uint64 // bytes asked for by live blocks
	blocks    uint64 // live blocks
	slabs     uint64 // live slabs
}

// sizeClass is a slot size and the slabs that have free slots of it.
type sizeClass struct {
	size    uint64
	partial []*slab // slabs with at least one free slot
	spare   *slab   // an empty slab kept for reuse
}

// slab is a range of the arena cut into equal slots.
type slab struct {
	off     uint64
	class   uint8
	slots   uint32
	used    uint32
	next    uint32   // slots below next have been handed out at least once
	freed   []uint32 // free slots below next
	partIdx int      // index in its class's partial list, -1 when absent
}

// DefaultSlabSize is the size of the slabs small blocks are cut from, for
// arenas of at least 64 slabs.
const DefaultSlabSize = 1 << 20

// largeUnit is the granularity of large blocks: a page.
const largeUnit = 4096

// MaxCapacity is the largest arena an allocator manages: 2^32-1 units of
// 4 KiB, just under 16 TiB. NewAllocator clips larger capacities.
const MaxCapacity = (1<<32 - 1) * largeUnit

// NewAllocator returns an allocator over [0, capacity). The capacity is
// rounded down to a multiple of the allocator's unit: 4 KiB, or down to
// Alignment for arenas smaller than 64 pages.
func NewAllocator(capacity uint64) *Allocator {
	unit := uint64(largeUnit)
	for unit > Alignment && unit*64 > capacity {
		unit /= 2
	}
	capacity = min(capacity, MaxCapacity) &^ (unit - 1)
	slabSize := uint64(DefaultSlabSize)
	for slabSize > max(16*Alignment, unit) && slabSize*64 > capacity {
		slabSize /= 2
	}
	a := &Allocator{
		capacity: capacity,
		slabSize: slabSize,
		maxSmall: min(64<<10, slabSize/8),
		unitLog:  uint(bits.TrailingZeros64(unit)),
		free:     newFreeRanges(uint32(capacity / unit)),
	}
	a.buildClasses()
	if capacity > 0 {
		a.free.insert(0, uint32(capacity/unit))
	}
	return a
}

// buildClasses makes the size classes: every multiple of Alignment up to
// 512 bytes, then four classes per power of two up to maxSmall, so that a
// small block wastes at most a quarter of itself.
func (a *Allocator) buildClasses() {
	var sizes []uint64
	for s := uint64(Alignment); s <= 512 && s <= a.maxSmall; s += Alignment {
		sizes = append(sizes, s)
	}
	for base := uint64(512); base < a.maxSmall; base *= 2 {
		step := base / 4
		for s := base + step; s <= 2*base && s <= a.maxSmall; s += step {
			sizes = append(sizes, s)
		}
	}
	a.classes = make([]sizeClass, len(sizes))
	a.classIdx = make([]uint8, a.maxSmall/Alignment)
	c := 0
	for i := range a.classIdx {
		need := uint64(i+1) * Alignment
		for sizes[c] < need {
			c++
		}
		a.classIdx[i] = uint8(c)
	}
	for i, s := range sizes {
		a.classes[i] = sizeClass{size: s}
	}
}

// Capacity is the size of the arena the allocator manages.
func (a *Allocator) Capacity() uint64 { return a.capacity }

// Alloc returns a block of at least size bytes, or false when no free range
// can hold it. A zero size gets an empty block that uses no memory.
func (a *Allocator) Alloc(size uint64) (Block, bool) {
	if size == 0 {
		a.blocks++
		return Block{}, true
	}
	if size > a.capacity {
		return Block{}, false
	}
	var b Block
	var ok bool
	if rounded := alignUp(size); rounded <= a.maxSmall {
		b, ok = a.allocSmall(rounded)
	}
	if !ok {
		b, ok = a.allocLarge(a.unitsFor(size))
	}
	if !ok {
		return Block{}, false
	}
	b.Len = size
	a.requested += size
	a.blocks++
	return b, true
}

// Free gives a block back.
func (a *Allocator) Free(b Block) {
	a.blocks--
	if b.Len == 0 {
		return
	}
	a.requested -= b.Len
	if b.slab != nil {
		a.freeSmall(b)
		return
	}
	n := a.unitsFor(b.Len)
	a.allocated -= uint64(n) << a.unitLog
	a.free.give(uint32(b.Off>>a.unitLog), n)
}

// unitsFor returns how many units a large block of size bytes takes.
func (a *Allocator) unitsFor(size uint64) uint32 {
	return uint32((size + 1<<a.unitLog - 1) >> a.unitLog)
}

func (a *Allocator) allocSmall(rounded uint64) (Block, bool) {
	ci := a.classIdx[rounded/Alignment-1]
	c := &a.classes[ci]
	var s *slab
	switch {
	case len(c.partial) > 0:
		s = c.partial[len(c.partial)-1]
	case c.spare != nil:
		s, c.spare = c.spare, nil
		a.addPartial(c, s)
	default:
		start, ok := a.free.take(uint32(a.slabSize >> a.unitLog))
		if !ok {
			return Block{}, false
		}
		off := uint64(start) << a.unitLog
		slots := uint32(a.slabSize / c.size)
		s = &slab{off: off, class: ci, slots: slots, partIdx: -1}
		a.slabs++
		a.addPartial(c, s)
	}
	var slot uint32
	if n := len(s.freed); n > 0 {
		slot = s.freed[n-1]
		s.freed = s.freed[:n-1]
	} else {
		slot = s.next
		s.next++
	}
	s.used++
	if s.used == s.slots {
		a.removePartial(c, s)
	}
	a.allocated += c.size
	return Block{Off: s.off + uint64(slot)*c.size, slab: s, slot: slot}, true
}

func (a *Allocator) freeSmall(b Block) {
	s := b.slab
	c := &a.classes[s.class]
	a.allocated -= c.size
	if s.used == s.slots {
		a.addPartial(c, s)
	}
	s.used--
	if s.used > 0 {
		s.freed = append(s.freed, b.slot)
		return
	}
	// An empty slab forgets its slots, so that reusing it costs nothing.
	s.freed, s.next = s.freed[:0], 0
	a.removePartial(c, s)
	if c.spare == nil {
		c.spare = s
		return
	}
	a.slabs--
	a.releaseSlab(s)
}

func (a *Allocator) releaseSlab(s *slab) {
	a.free.give(uint32(s.off>>a.unitLog), uint32(a.slabSize>>a.unitLog))
}

func (a *Allocator) addPartial(c *sizeClass, s *slab) {
	s.partIdx = len(c.partial)
	c.partial = append(c.partial, s)
}

func (a *Allocator) removePartial(c *sizeClass, s *slab) {
	i := s.partIdx
	last := len(c.partial) - 1
	c.partial[i] = c.partial[last]
	c.partial[i].partIdx = i
	c.partial[last] = nil
	c.partial = c.partial[:last]
	s.partIdx = -1
}

func (a *Allocator) allocLarge(units uint32) (Block, bool) {
	start, ok := a.free.take(units)
	if !ok && a.dropSpares() {
		start, ok = a.free.take(units)
	}
	if !ok {
		return Block{}, false
	}
	a.allocated += uint64(units) << a.unitLog
	return Block{Off: uint64(start) << a.unitLog}, true
}

// dropSpares gives every kept empty slab back, so that its range can
// coalesce; it reports whether there was any.
func (a *Allocator) dropSpares() bool {
	dropped := false
	for i := range a.classes {
		if s := a.classes[i].spare; s != nil {
			a.classes[i].spare = nil
			a.slabs--
			a.releaseSlab(s)
			dropped = true
		}
	}
	return dropped
}

// AllocStats describes how the arena is used.
type AllocStats struct {
	Capacity    uint64 // bytes managed
	Allocated   uint64 // bytes held by live blocks, rounded up to their slot or Alignment
	Requested   uint64 // bytes asked for by live blocks
	Blocks      uint64 // live blocks
	Slabs       uint64 // slabs in use or kept, of SlabSize bytes each
	SlabSize    uint64 // size of a slab
	Free        uint64 // bytes in free ranges (kept empty slabs not included)
	LargestFree uint64 // the largest free range: the largest block that can be had without eviction
	FreeRanges  int    // free ranges
	Unit        uint64 // granularity of large blocks
	// Fragmentation is 1 - LargestFree/Free: 0 when the free space is one
	// range, near 1 when it is scattered in pieces too small to use.
	Fragmentation float64
}

// Stats returns the allocator's accounting.
func (a *Allocator) Stats() AllocStats {
	largest := uint64(a.free.largest()) << a.unitLog
	free := a.free.free << a.unitLog
	st := AllocStats{
		Capacity:    a.capacity,
		Allocated:   a.allocated,
		Requested:   a.requested,
		Blocks:      a.blocks,
		Slabs:       a.slabs,
		SlabSize:    a.slabSize,
		Free:        free,
		LargestFree: largest,
		FreeRanges:  a.free.count,
		Unit:        1 << a.unitLog,
	}
	if st.Free > 0 {
		st.Fragmentation = 1 - float64(largest)/float64(st.Free)
	}
	return st
}

// check verifies the allocator's invariants; tests call it.
func (a *Allocator) check() error {
	if err := a.free.check(); err != nil {
		return err
	}
	if uint64(a.free.units)<<a.unitLog != a.capacity {
		return fmt.Errorf("index covers %d units of %d bytes, capacity is %d", a.free.units, 1<<a.unitLog, a.capacity)
	}
	return nil
}

func alignUp(n uint64) uint64 { return (n + Alignment - 1) &^ (Alignment - 1) }
