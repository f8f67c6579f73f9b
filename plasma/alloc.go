package plasma

import "fmt"

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
// large request would otherwise fail. Large requests are served best fit
// (the smallest free range that fits; the lowest offset among equals) from a
// tree of free ranges, and freed ranges coalesce with their free neighbours
// at once.
type Allocator struct {
	capacity uint64
	slabSize uint64
	maxSmall uint64

	free     freeTree          // free ranges by (size, offset)
	byStart  map[uint64]uint64 // free range offset -> length
	byEnd    map[uint64]uint64 // free range end -> offset
	freeLen  uint64            // bytes in free ranges
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

// NewAllocator returns an allocator over [0, capacity). The capacity is
// rounded down to a multiple of Alignment.
func NewAllocator(capacity uint64) *Allocator {
	capacity &^= Alignment - 1
	slabSize := uint64(DefaultSlabSize)
	for slabSize > 16*Alignment && slabSize*64 > capacity {
		slabSize /= 2
	}
	a := &Allocator{
		capacity: capacity,
		slabSize: slabSize,
		maxSmall: min(64<<10, slabSize/8),
		byStart:  make(map[uint64]uint64),
		byEnd:    make(map[uint64]uint64),
	}
	a.buildClasses()
	if capacity > 0 {
		a.insertFree(0, capacity)
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
	rounded := alignUp(size)
	var b Block
	var ok bool
	if rounded <= a.maxSmall {
		b, ok = a.allocSmall(rounded)
	}
	if !ok {
		b, ok = a.allocLarge(rounded)
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
	n := alignUp(b.Len)
	a.allocated -= n
	a.release(b.Off, n)
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
		off, ok := a.takeFree(a.slabSize)
		if !ok {
			return Block{}, false
		}
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
	a.release(s.off, a.slabSize)
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

func (a *Allocator) allocLarge(rounded uint64) (Block, bool) {
	off, ok := a.takeFree(rounded)
	if !ok && a.dropSpares() {
		off, ok = a.takeFree(rounded)
	}
	if !ok {
		return Block{}, false
	}
	a.allocated += rounded
	return Block{Off: off}, true
}

// dropSpares gives every kept empty slab back, so that its range can
// coalesce; it reports whether there was any.
func (a *Allocator) dropSpares() bool {
	dropped := false
	for i := range a.classes {
		if s := a.classes[i].spare; s != nil {
			a.classes[i].spare = nil
			a.slabs--
			a.release(s.off, a.slabSize)
			dropped = true
		}
	}
	return dropped
}

// takeFree cuts n bytes from the front of the best-fitting free range.
func (a *Allocator) takeFree(n uint64) (uint64, bool) {
	size, off, ok := a.free.ceiling(n)
	if !ok {
		return 0, false
	}
	a.removeFree(off, size)
	if size > n {
		a.insertFree(off+n, size-n)
	}
	return off, true
}

// release returns [off, off+n) to the free ranges, merged with the free
// ranges on either side.
func (a *Allocator) release(off, n uint64) {
	if prev, ok := a.byEnd[off]; ok {
		a.removeFree(prev, off-prev)
		n += off - prev
		off = prev
	}
	if size, ok := a.byStart[off+n]; ok {
		a.removeFree(off+n, size)
		n += size
	}
	a.insertFree(off, n)
}

func (a *Allocator) insertFree(off, n uint64) {
	a.free.insert(n, off)
	a.byStart[off] = n
	a.byEnd[off+n] = off
	a.freeLen += n
}

func (a *Allocator) removeFree(off, n uint64) {
	a.free.remove(n, off)
	delete(a.byStart, off)
	delete(a.byEnd, off+n)
	a.freeLen -= n
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
	// Fragmentation is 1 - LargestFree/Free: 0 when the free space is one
	// range, near 1 when it is scattered in pieces too small to use.
	Fragmentation float64
}

// Stats returns the allocator's accounting.
func (a *Allocator) Stats() AllocStats {
	largest, _ := a.free.max()
	st := AllocStats{
		Capacity:    a.capacity,
		Allocated:   a.allocated,
		Requested:   a.requested,
		Blocks:      a.blocks,
		Slabs:       a.slabs,
		SlabSize:    a.slabSize,
		Free:        a.freeLen,
		LargestFree: largest,
		FreeRanges:  len(a.byStart),
	}
	if st.Free > 0 {
		st.Fragmentation = 1 - float64(largest)/float64(st.Free)
	}
	return st
}

// check verifies the allocator's invariants; tests call it.
func (a *Allocator) check() error {
	var sum uint64
	for off, n := range a.byStart {
		if a.byEnd[off+n] != off {
			return fmt.Errorf("free range [%d,+%d) missing from byEnd", off, n)
		}
		if _, ok := a.byEnd[off]; ok {
			return fmt.Errorf("free range at %d touches the free range before it", off)
		}
		if !a.free.has(n, off) {
			return fmt.Errorf("free range [%d,+%d) missing from the tree", off, n)
		}
		if off%Alignment != 0 || n%Alignment != 0 || off+n > a.capacity {
			return fmt.Errorf("free range [%d,+%d) misaligned or out of bounds", off, n)
		}
		sum += n
	}
	if sum != a.freeLen || a.free.len() != len(a.byStart) || len(a.byEnd) != len(a.byStart) {
		return fmt.Errorf("free accounting: sum %d, freeLen %d, tree %d, byStart %d, byEnd %d",
			sum, a.freeLen, a.free.len(), len(a.byStart), len(a.byEnd))
	}
	return nil
}

func alignUp(n uint64) uint64 { return (n + Alignment - 1) &^ (Alignment - 1) }
