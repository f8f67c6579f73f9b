package plasma

import (
	"cmp"
	"slices"
	"time"
)

// Stats describes a store: what `goray memory` prints.
type Stats struct {
	Capacity        uint64       `cbor:"1,keyasint"`  // arena bytes
	Used            uint64       `cbor:"2,keyasint"`  // arena bytes allocated
	Pinned          uint64       `cbor:"3,keyasint"`  // bytes of pinned objects in memory
	Evictable       uint64       `cbor:"4,keyasint"`  // bytes that eviction may drop now
	Held            uint64       `cbor:"5,keyasint"`  // bytes of objects held by readers
	Objects         int          `cbor:"6,keyasint"`  // objects known, in memory or not
	SpilledBytes    uint64       `cbor:"7,keyasint"`  // bytes of objects on disk
	SpilledObjects  uint64       `cbor:"8,keyasint"`  // objects on disk
	SpillFiles      int          `cbor:"9,keyasint"`  // spill files on disk
	Spills          uint64       `cbor:"10,keyasint"` // spill batches written
	SpillFailures   uint64       `cbor:"11,keyasint"` // spill batches that failed
	LastSpillError  string       `cbor:"12,keyasint,omitempty"`
	Restores        uint64       `cbor:"13,keyasint"` // objects read back from disk
	RestoredBytes   uint64       `cbor:"14,keyasint"`
	Evictions       uint64       `cbor:"15,keyasint"` // copies dropped from memory
	FallbackBytes   uint64       `cbor:"16,keyasint"` // bytes in fallback files
	FallbackObjects int          `cbor:"17,keyasint"`
	CreateWaits     uint64       `cbor:"18,keyasint"` // creates (and restores) that had to wait for room
	StoreFullErrors uint64       `cbor:"19,keyasint"` // creates (and restores) that found no room within the grace period
	Fragmentation   float64      `cbor:"20,keyasint"` // see AllocStats
	LargestFree     uint64       `cbor:"21,keyasint"`
	ArenaPath       string       `cbor:"22,keyasint"`
	Prefaulted      uint64       `cbor:"24,keyasint"`           // arena bytes mapped in so far by the background prefault
	ObjectList      []ObjectInfo `cbor:"23,keyasint,omitempty"` // when asked for, largest first
	ObjectsOmitted  int          `cbor:"25,keyasint,omitempty"` // objects left out of ObjectList (a reply over the bus lists at most maxListedObjects)
}

// ObjectInfo is one object in Stats.ObjectList.
type ObjectInfo struct {
	ID         ObjectID  `cbor:"1,keyasint"`
	Size       uint64    `cbor:"2,keyasint"`
	State      string    `cbor:"3,keyasint"` // created, sealed, spilled, fallback, spilling, restoring
	Readers    int       `cbor:"4,keyasint"`
	Pinned     bool      `cbor:"5,keyasint"`
	InMemory   bool      `cbor:"6,keyasint"`
	Spilled    bool      `cbor:"7,keyasint"`
	Deleted    bool      `cbor:"8,keyasint"` // deleted, waiting for its readers to release it
	LastAccess time.Time `cbor:"9,keyasint"`
}

// stats returns the store's figures and, with limit -1, every object, with
// a positive limit the largest that many (the rest are counted in
// ObjectsOmitted), with 0 none.
func (s *Store) stats(limit int) (Stats, error) {
	st, err := s.snapshot(limit != 0)
	if err != nil {
		return Stats{}, err
	}
	// Sorted outside the lock: the list may be long.
	slices.SortFunc(st.ObjectList, func(a, b ObjectInfo) int { return cmp.Compare(b.Size, a.Size) })
	if limit > 0 && len(st.ObjectList) > limit {
		st.ObjectsOmitted = len(st.ObjectList) - limit
		st.ObjectList = st.ObjectList[:limit]
	}
	return st, nil
}

// snapshot reads the figures, and the objects when asked, under the lock.
func (s *Store) snapshot(withObjects bool) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Stats{}, ErrClosed
	}
	as := s.alloc.Stats()
	st := Stats{
		Capacity: as.Capacity, Used: as.Allocated, Evictable: s.evictable.bytes,
		Objects: len(s.objects), SpilledBytes: s.spill.bytes, SpilledObjects: s.spill.objects,
		SpillFiles: len(s.spill.files), Spills: s.counters.spills, SpillFailures: s.counters.spillFailures,
		LastSpillError: s.spill.lastErr, Restores: s.counters.restores, RestoredBytes: s.counters.restoredBytes,
		Evictions: s.counters.evictions, FallbackBytes: s.fallback.bytes, FallbackObjects: len(s.fallback.files),
		CreateWaits: s.counters.createWaits, StoreFullErrors: s.counters.storeFull,
		Fragmentation: as.Fragmentation, LargestFree: as.LargestFree, ArenaPath: s.arena.Path(),
		Prefaulted: s.prefaulted.Load(),
	}
	st.Pinned, st.Held = s.memoryUseLocked()
	if withObjects {
		st.ObjectList = make([]ObjectInfo, 0, len(s.objects))
		for _, o := range s.objects {
			st.ObjectList = append(st.ObjectList, o.info())
		}
	}
	return st, nil
}

func (o *object) info() ObjectInfo {
	state := o.state.String()
	switch {
	case o.fallback != nil:
		state = "fallback"
	case o.busy && o.inMemory:
		state = "spilling"
	case o.busy:
		state = "restoring"
	case !o.inMemory && o.spill != nil:
		state = "spilled"
	}
	return ObjectInfo{
		ID: o.id, Size: o.size, State: state, Readers: o.readers, Pinned: o.pinned,
		InMemory: o.inMemory, Spilled: o.spill != nil, Deleted: o.deleted, LastAccess: o.access,
	}
}
