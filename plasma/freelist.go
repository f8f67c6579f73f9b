package plasma

import (
	"fmt"
	"math/bits"
)

// freeRanges indexes the free ranges of an arena in units of a fixed
// power-of-two size, for allocation and coalescing in constant time (the
// TLSF scheme: two-level segregated fit). Ranges are binned by length,
// one bin per length below 16 units and 16 bins per power of two above;
// two levels of bitmaps find the first non-empty bin at or above a length
// with two bit scans.
//
// Per-unit tables, meaningful only at range boundaries, stand in for
// boundary tags: the store cannot put headers in the arena, which clients
// write. They cost 16 bytes per unit (0.4% of the arena at 4 KiB units).
type freeRanges struct {
	units     uint32
	tags      []unitTag
	heads     [flCount * slCount]uint32
	flBitmap  uint32
	slBitmaps [flCount]uint16
	count     int
	free      uint64 // units in free ranges
}

// unitTag is what the index knows about one unit. The fields share a
// cache line, since a free touches them together.
type unitTag struct {
	length  uint32 // at a free range's first unit: its length
	firstOf uint32 // at a free range's last unit: its first unit + 1
	next    uint32 // at a free range's first unit: the next range in its bin + 1
	prev    uint32 // at a free range's first unit: the previous range in its bin + 1
}

const (
	slBits  = 4
	slCount = 1 << slBits
	flCount = 32 - slBits + 1
	// ownBinScan bounds the search of a request's own bin, whose ranges
	// may be shorter than the request, before a larger bin is used.
	ownBinScan = 2
)

func newFreeRanges(units uint32) *freeRanges {
	return &freeRanges{units: units, tags: make([]unitTag, units)}
}

// binOf returns the bin of ranges of n units.
func binOf(n uint32) (fl, sl int) {
	if n < slCount {
		return 0, int(n)
	}
	f := bits.Len32(n) - 1
	return f - slBits + 1, int(n>>(f-slBits)) - slCount
}

// take removes n units from the front of a free range that holds them:
// the first that fits among the first ownBinScan ranges of the request's
// own bin, else the first range of the smallest non-empty larger bin (at
// most one bin, 1/16 of its length, above the request), else, when the
// store is that full, the first range of the own bin that fits at all. It
// fails only when no free range can hold n units.
func (f *freeRanges) take(n uint32) (uint32, bool) {
	if n == 0 {
		return 0, false
	}
	fl, sl := binOf(n)
	start, ok := f.firstFitInBin(fl, sl, n, ownBinScan)
	if !ok {
		nfl, nsl := fl, sl+1
		if nsl == slCount {
			nfl, nsl = fl+1, 0
		}
		start, ok = f.firstInBinFrom(nfl, nsl)
	}
	if !ok {
		start, ok = f.firstFitInBin(fl, sl, n, int(f.units))
	}
	if !ok {
		return 0, false
	}
	length := f.tags[start].length
	f.remove(start)
	if length > n {
		f.insert(start+n, length-n)
	}
	return start, true
}

func (f *freeRanges) firstFitInBin(fl, sl int, n uint32, limit int) (uint32, bool) {
	i := f.heads[fl*slCount+sl]
	for scanned := 0; i != 0 && scanned < limit; scanned++ {
		if f.tags[i-1].length >= n {
			return i - 1, true
		}
		i = f.tags[i-1].next
	}
	return 0, false
}

// firstInBinFrom returns the first range of the first non-empty bin at or
// after (fl, sl).
func (f *freeRanges) firstInBinFrom(fl, sl int) (uint32, bool) {
	if fl >= flCount {
		return 0, false
	}
	slMap := f.slBitmaps[fl] & (0xffff << sl)
	if slMap == 0 {
		flMap := f.flBitmap & (^uint32(0) << (fl + 1))
		if flMap == 0 {
			return 0, false
		}
		fl = bits.TrailingZeros32(flMap)
		slMap = f.slBitmaps[fl]
	}
	sl = bits.TrailingZeros16(slMap)
	return f.heads[fl*slCount+sl] - 1, true
}

// give returns [start, start+n) and merges it with the free ranges on
// either side.
func (f *freeRanges) give(start, n uint32) {
	if end := start + n; end < f.units && f.tags[end].length != 0 {
		n += f.tags[end].length
		f.remove(end)
	}
	if start > 0 && f.tags[start-1].firstOf != 0 {
		left := f.tags[start-1].firstOf - 1
		n += f.tags[left].length
		f.remove(left)
		start = left
	}
	f.insert(start, n)
}

func (f *freeRanges) insert(start, n uint32) {
	fl, sl := binOf(n)
	b := fl*slCount + sl
	f.tags[start].length = n
	f.tags[start+n-1].firstOf = start + 1
	f.tags[start].prev = 0
	f.tags[start].next = f.heads[b]
	if h := f.heads[b]; h != 0 {
		f.tags[h-1].prev = start + 1
	}
	f.heads[b] = start + 1
	f.flBitmap |= 1 << fl
	f.slBitmaps[fl] |= 1 << sl
	f.count++
	f.free += uint64(n)
}

func (f *freeRanges) remove(start uint32) {
	n := f.tags[start].length
	fl, sl := binOf(n)
	b := fl*slCount + sl
	next, prev := f.tags[start].next, f.tags[start].prev
	if prev != 0 {
		f.tags[prev-1].next = next
	} else {
		f.heads[b] = next
	}
	if next != 0 {
		f.tags[next-1].prev = prev
	}
	if f.heads[b] == 0 {
		if f.slBitmaps[fl] &^= 1 << sl; f.slBitmaps[fl] == 0 {
			f.flBitmap &^= 1 << fl
		}
	}
	f.tags[start] = unitTag{}
	f.tags[start+n-1].firstOf = 0
	f.count--
	f.free -= uint64(n)
}

// largest returns the length of the longest free range.
func (f *freeRanges) largest() uint32 {
	if f.flBitmap == 0 {
		return 0
	}
	fl := bits.Len32(f.flBitmap) - 1
	sl := bits.Len16(f.slBitmaps[fl]) - 1
	var best uint32
	for i := f.heads[fl*slCount+sl]; i != 0; i = f.tags[i-1].next {
		best = max(best, f.tags[i-1].length)
	}
	return best
}

// check verifies the index against itself; tests call it.
func (f *freeRanges) check() error {
	var units uint64
	count := 0
	for b, h := range f.heads {
		fl, sl := b/slCount, b%slCount
		if (h != 0) != (f.slBitmaps[fl]&(1<<sl) != 0) {
			return fmt.Errorf("bin %d/%d: bitmap disagrees with its list", fl, sl)
		}
		prev := uint32(0)
		for i := h; i != 0; i = f.tags[i-1].next {
			start, n := i-1, f.tags[i-1].length
			if gfl, gsl := binOf(n); gfl != fl || gsl != sl {
				return fmt.Errorf("range %d+%d in bin %d/%d, belongs in %d/%d", start, n, fl, sl, gfl, gsl)
			}
			if f.tags[start].prev != prev {
				return fmt.Errorf("range %d: broken back link", start)
			}
			if start+n > f.units || f.tags[start+n-1].firstOf != start+1 {
				return fmt.Errorf("range %d+%d: bad end tag", start, n)
			}
			if start+n < f.units && f.tags[start+n].length != 0 {
				return fmt.Errorf("range %d+%d touches the free range after it", start, n)
			}
			prev = i
			units += uint64(n)
			count++
		}
	}
	for fl := range flCount {
		if (f.slBitmaps[fl] != 0) != (f.flBitmap&(1<<fl) != 0) {
			return fmt.Errorf("level %d: first-level bitmap disagrees", fl)
		}
	}
	if units != f.free || count != f.count {
		return fmt.Errorf("free accounting: lists hold %d units in %d ranges, counters say %d in %d", units, count, f.free, f.count)
	}
	return nil
}
