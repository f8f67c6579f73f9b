package plasma

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cespare/xxhash/v2"
)

// spillState is the store's record of spill files.
type spillState struct {
	files   map[uint64]*spillFile
	seq     uint64
	lastErr string // the last spill failure, cleared by a success
	bytes   uint64 // bytes of live objects on disk
	objects uint64 // live objects on disk
}

// spillFile holds the spilled copies of a batch of objects, back to back.
// It is removed when the last of them is freed.
type spillFile struct {
	path string
	seq  uint64
	live int
}

// spillRef is where one object's spilled copy is, and the checksum that
// proves it came back intact.
type spillRef struct {
	file      *spillFile
	off, size uint64
	sum       uint64 // xxhash64 of the bytes
}

// ErrSpillCorrupt fails a Get whose object came back from disk different
// from what was spilled.
var ErrSpillCorrupt = errors.New("plasma: spilled copy is corrupt")

// release forgets one object's copy, and the file with its last one.
func (st *spillState) release(r *spillRef, log *slog.Logger) {
	st.bytes -= r.size
	st.objects--
	f := r.file
	if f.live--; f.live > 0 {
		return
	}
	delete(st.files, f.seq)
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("plasma: cannot remove a spill file", "path", f.path, "err", err)
	}
}

// spillBackoff is how long the spiller waits after a failed spill before
// it tries again, so that a full disk does not turn into a busy loop.
const spillBackoff = 200 * time.Millisecond

// spiller spills batches of primary copies whenever it is woken and the
// store is above its spill threshold or creates are waiting for room.
func (s *Store) spiller() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stopCtx.Done():
			return
		case <-s.spillWake:
		}
		for {
			ok, err := s.spillOnce()
			if err != nil {
				select {
				case <-s.stopCtx.Done():
					return
				case <-time.After(spillBackoff):
				}
			}
			if !ok {
				break
			}
		}
	}
}

func (s *Store) wakeSpiller() {
	if s.cfg.DisableSpilling {
		return
	}
	select {
	case s.spillWake <- struct{}{}:
	default:
	}
}

// maybeSpillLocked wakes the spiller when usage crossed the threshold.
func (s *Store) maybeSpillLocked() {
	if s.spillable.n > 0 && s.aboveThresholdLocked() {
		s.wakeSpiller()
	}
}

// roomShortLocked reports whether a waiting create or restore still lacks
// room that spilling could make: more than the largest free range and all
// evictable bytes together. A spill batch that made enough room ends the
// spilling, before the waiter has even run.
func (s *Store) roomShortLocked() bool {
	room := uint64(s.alloc.free.largest())<<s.alloc.unitLog + s.evictable.bytes
	for _, size := range s.waitingFor {
		if size > room {
			return true
		}
	}
	return false
}

func (s *Store) aboveThresholdLocked() bool {
	return float64(s.alloc.allocated) > s.cfg.SpillThreshold*float64(s.alloc.Capacity())
}

// spillOnce writes one batch of the least recently used spillable objects
// to a new file and frees their memory. It reports whether it spilled.
func (s *Store) spillOnce() (bool, error) {
	s.mu.Lock()
	if s.closed || s.spillable.head == nil || (!s.aboveThresholdLocked() && !s.roomShortLocked()) {
		s.mu.Unlock()
		return false, nil
	}
	var batch []*object
	var bytes uint64
	for bytes < s.cfg.MinSpillingSize && s.spillable.head != nil {
		o := s.spillable.head
		s.spillable.remove(o)
		o.busy = true
		batch = append(batch, o)
		bytes += o.size
	}
	s.spill.seq++
	seq := s.spill.seq
	s.mu.Unlock()

	path := filepath.Join(s.localDir, fmt.Sprintf("spill-%d", seq))
	refs, err := s.writeSpillFile(path, batch)

	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.broadcastLocked()
	if err != nil {
		s.spill.lastErr = err.Error()
		s.counters.spillFailures++
		s.log.Error("plasma: spilling failed; the objects stay in memory", "objects", len(batch), "bytes", bytes, "err", err)
		// Back where they were: the least recently used, first in line
		// for the next try.
		for i := len(batch) - 1; i >= 0; i-- {
			o := batch[i]
			o.busy = false
			s.settleLocked(o)
			if o.list == &s.spillable {
				s.spillable.remove(o)
				s.spillable.pushFront(o)
			}
		}
		return false, err
	}
	s.spill.lastErr = ""
	s.counters.spills++
	f := &spillFile{path: path, seq: seq, live: len(batch)}
	s.spill.files[seq] = f
	s.spill.bytes += bytes
	s.spill.objects += uint64(len(batch))
	for i, o := range batch {
		o.busy = false
		refs[i].file = f
		o.spill = &refs[i]
		if o.readers == 0 {
			s.dropMemoryLocked(o)
		}
		s.settleLocked(o)
	}
	s.log.Debug("plasma: spilled", "objects", len(batch), "bytes", bytes, "file", path)
	return true, nil
}

// writeSpillFile writes the objects back to back into a new file and
// syncs it; a failure removes the file. Objects that are busy keep their
// memory, so the arena is read without the store's lock.
func (s *Store) writeSpillFile(path string, batch []*object) (refs []spillRef, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("plasma: create spill file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("plasma: close spill file: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	var off uint64
	for _, o := range batch {
		data := s.arena.readable(o.block.Off, o.size)
		refs = append(refs, spillRef{off: off, size: o.size, sum: xxhash.Sum64(data)})
		if _, err := f.Write(data); err != nil {
			return nil, fmt.Errorf("plasma: write spill file: %w", err)
		}
		off += o.size
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("plasma: sync spill file: %w", err)
	}
	return refs, nil
}

// restoreLocked reads a spilled object back into the arena. The object is
// busy meanwhile, so other Gets wait for it and nobody frees it; they are
// woken however it ends. still is checked after every wait for room.
func (s *Store) restoreLocked(ctx context.Context, o *object, wait bool, still func() error) error {
	if !wait {
		return errWouldBlock
	}
	o.busy = true
	defer s.broadcastLocked()
	b, err := s.reserveLocked(ctx, o.id, o.size, true, still)
	if err == nil && s.closed {
		s.alloc.Free(b)
		err = ErrClosed
	}
	if err != nil {
		o.busy = false
		s.settleLocked(o)
		return err
	}
	ref := o.spill
	s.inArena.Add(1) // Close waits for this read before it unmaps the arena
	s.mu.Unlock()
	err = readSpill(ref, s.arena.writable(b.Off, o.size))
	s.inArena.Done()
	s.mu.Lock()
	o.busy = false
	if err != nil || o.deleted {
		s.alloc.Free(b)
		s.settleLocked(o)
		if err != nil {
			return fmt.Errorf("plasma: restore %v from %s: %w", o.id, ref.file.path, err)
		}
		return nil
	}
	o.block, o.inMemory = b, true
	s.counters.restores++
	s.counters.restoredBytes += o.size
	// Evictable until someone holds it: a Get whose client went away
	// meanwhile must not leave it stuck in memory.
	s.settleLocked(o)
	return nil
}

func readSpill(r *spillRef, dst []byte) error {
	f, err := os.Open(r.file.path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := f.ReadAt(dst, int64(r.off))
	if n == len(dst) {
		if xxhash.Sum64(dst) != r.sum {
			return ErrSpillCorrupt
		}
		return nil
	}
	if err == nil {
		err = fmt.Errorf("short read: %d of %d bytes", n, len(dst))
	}
	return err
}
