package plasma

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray/internal/bytesize"
)

// Store is a node's object store: the arena, the allocator and the table of
// objects. Its methods are safe for concurrent use. Processes of the node
// reach it through a [Client]: in the store's own process directly, from
// other processes through the store's actor over the bus.
type Store struct {
	cfg      Config
	log      *slog.Logger
	arena    *Arena
	localDir string   // spill and fallback files
	lockFile *os.File // flock held on localDir/lock

	mu         sync.Mutex
	alloc      *Allocator
	objects    map[ObjectID]*object
	evictable  lruList // sealed, unheld, in memory, and unpinned or spilled: may be dropped
	spillable  lruList // sealed, unheld, in memory, pinned and not yet on disk
	changed    chan struct{}
	waiters    int      // goroutines in wait: without any, there is no one to wake
	waitingFor []uint64 // sizes that creates and restores wait to allocate
	clients    map[uint64]map[ObjectID]int
	nextCID    uint64
	spill      spillState
	fallback   fallbackState
	counters   counters
	closed     bool

	// inArena counts restores reading into the arena without the lock;
	// Close waits for them before it unmaps the arena.
	inArena sync.WaitGroup

	prefaulted   atomic.Uint64 // bytes of the arena mapped in so far
	prefaultDone chan struct{}

	stop      context.CancelFunc
	stopCtx   context.Context
	spillWake chan struct{}
	wg        sync.WaitGroup
}

// counters are running totals reported by Stats.
type counters struct {
	evictions     uint64
	restores      uint64
	restoredBytes uint64
	spills        uint64
	spillFailures uint64
	createWaits   uint64
	storeFull     uint64
}

// Open creates the node's arena and starts its store. It first removes the
// arenas and spill directories of nodes that died on this host.
func Open(cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if n := sweep(cfg.Logger, cfg.Dir, cfg.SpillDir); n > 0 {
		cfg.Logger.Info("plasma: swept files of dead nodes", "removed", n)
	}
	id := cfg.Name + "-" + randomSuffix()
	localDir, lockFile, err := makeLocalDir(cfg.SpillDir, id)
	if err != nil {
		return nil, err
	}
	arena, err := createArena(cfg.Dir, id, cfg.Capacity)
	if err != nil {
		_ = os.RemoveAll(localDir)
		_ = lockFile.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		cfg:       cfg,
		log:       cfg.Logger.With("store", id),
		arena:     arena,
		localDir:  localDir,
		lockFile:  lockFile,
		alloc:     NewAllocator(cfg.Capacity),
		objects:   make(map[ObjectID]*object),
		changed:   make(chan struct{}),
		clients:   make(map[uint64]map[ObjectID]int),
		stop:      cancel,
		stopCtx:   ctx,
		spillWake: make(chan struct{}, 1),
	}
	s.spill.files = make(map[uint64]*spillFile)
	s.prefaultDone = make(chan struct{})
	if cfg.NoPrefault {
		close(s.prefaultDone)
	} else {
		s.wg.Add(1)
		go s.prefault()
	}
	if !cfg.DisableSpilling {
		s.wg.Add(1)
		go s.spiller()
	}
	s.log.Info("plasma: store open", "arena", arena.Path(), "capacity", bytesize.Format(cfg.Capacity), "spill_dir", localDir)
	return s, nil
}

// prefault maps the whole arena in the background; see Arena.prefault.
func (s *Store) prefault() {
	defer s.wg.Done()
	defer close(s.prefaultDone)
	start := time.Now()
	if err := s.arena.prefault(s.stopCtx, &s.prefaulted); err != nil {
		s.log.Warn("plasma: prefault stopped; pages will fault on first use", "err", err)
		return
	}
	if s.prefaulted.Load() == s.arena.Size() {
		s.log.Info("plasma: arena prefaulted", "bytes", bytesize.Format(s.arena.Size()), "took", time.Since(start).Round(time.Millisecond))
	}
}

// makeLocalDir creates the store's own directory under root and locks
// it. Like the arena, it is made under a temporary name and renamed once
// locked, so a sweep by another store never sees it unlocked.
func makeLocalDir(root, id string) (_ string, _ *os.File, err error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", nil, fmt.Errorf("plasma: create spill directory: %w", err)
	}
	tmp, err := os.MkdirTemp(root, "."+localPrefix+id+"-*.tmp")
	if err != nil {
		return "", nil, fmt.Errorf("plasma: create spill directory: %w", err)
	}
	dir := filepath.Join(root, localPrefix+id)
	f, err := os.OpenFile(filepath.Join(tmp, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		if err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			err = os.Rename(tmp, dir)
		}
		if err != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("plasma: set up spill directory: %w", err)
	}
	return dir, f, nil
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Arena is the store's shared-memory arena.
func (s *Store) Arena() *Arena { return s.arena }

// Close stops the store and removes its arena and spill files. Views still
// held in this process must not be used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.broadcastLocked()
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.inArena.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback.closeAll()
	clear(s.objects) // their memory is gone with the arena and the files
	s.evictable, s.spillable = lruList{}, lruList{}
	err := s.arena.Close()
	if rmErr := os.RemoveAll(s.localDir); rmErr != nil && err == nil {
		err = rmErr
	}
	_ = s.lockFile.Close()
	s.log.Info("plasma: store closed")
	return err
}

// broadcastLocked wakes everyone waiting for an object to be sealed or for
// memory to be freed.
func (s *Store) broadcastLocked() {
	if s.waiters == 0 {
		return
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait releases the lock until something changes, the deadline passes or
// ctx ends; it reports whether to keep waiting.
func (s *Store) wait(ctx context.Context, deadline time.Time) bool {
	ch := s.changed
	s.waiters++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiters--
	}()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return true
	case <-timeout:
		return false
	case <-ctx.Done():
		return false
	case <-s.stopCtx.Done():
		return false
	}
}

// Location says where an object's bytes are: a range of the arena, or of
// a fallback file.
type Location struct {
	Found bool   `cbor:"1,keyasint,omitempty"`
	Off   uint64 `cbor:"2,keyasint,omitempty"`
	Size  uint64 `cbor:"3,keyasint,omitempty"`
	File  string `cbor:"4,keyasint,omitempty"` // a fallback file; empty for the arena
}

func (o *object) location() Location {
	loc := Location{Found: true, Off: o.block.Off, Size: o.size}
	if o.fallback != nil {
		loc.Off, loc.File = 0, o.fallback.path
	}
	return loc
}

// connect registers a client; its holds are dropped together by
// disconnect.
func (s *Store) connect() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	s.nextCID++
	s.clients[s.nextCID] = make(map[ObjectID]int)
	return s.nextCID, nil
}

// disconnect releases every hold of a client and aborts the objects it was
// still writing: a client that dies leaks nothing.
func (s *Store) disconnect(cid uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	holds, ok := s.clients[cid]
	if !ok {
		return
	}
	delete(s.clients, cid)
	for id, n := range holds {
		if o := s.objects[id]; o != nil {
			o.readers -= n
			s.settleLocked(o)
		}
	}
	for _, o := range s.objects {
		if o.state == StateCreated && o.creator == cid {
			s.freeLocked(o)
		}
	}
	s.broadcastLocked()
}

func (s *Store) checkClient(cid uint64) error {
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.clients[cid]; !ok {
		return ErrUnknownClient
	}
	return nil
}

// errWouldBlock ends a create, put or get that was asked not to wait and
// would have to: the store's actor then runs it on a goroutine.
var errWouldBlock = errors.New("plasma: would wait")

// create makes room for an object of size bytes and records it as being
// written by client cid. When nothing can be evicted it waits for spilling
// or releases for up to the grace period, then falls back to a file if so
// configured, or fails with ObjectStoreFullError. Without wait, it fails
// with errWouldBlock, having created nothing, rather than wait or create
// a fallback file.
func (s *Store) create(ctx context.Context, cid uint64, id ObjectID, size uint64, pin, wait bool) (Location, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.createLocked(ctx, cid, id, size, pin, wait)
	if err != nil {
		return Location{}, err
	}
	return o.location(), nil
}

func (s *Store) createLocked(ctx context.Context, cid uint64, id ObjectID, size uint64, pin, wait bool) (*object, error) {
	still := func() error {
		if err := s.checkClient(cid); err != nil {
			return err // the client went away while it waited
		}
		if _, ok := s.objects[id]; ok {
			return fmt.Errorf("%w: %v", ErrObjectExists, id)
		}
		return nil
	}
	if err := still(); err != nil {
		return nil, err
	}
	o := &object{id: id, size: size, state: StateCreated, pinned: pin, creator: cid, access: time.Now()}
	if size <= s.alloc.Capacity() {
		b, err := s.reserveLocked(ctx, id, size, wait, still)
		if err == nil {
			o.block, o.inMemory = b, true
			s.objects[id] = o
			s.maybeSpillLocked()
			return o, nil
		}
		if !isFull(err) || !s.cfg.Fallback {
			return nil, err
		}
	} else if !s.cfg.Fallback {
		return nil, fmt.Errorf("%w: %v is %s, the store %s", ErrObjectTooLarge, id, bytesize.Format(size), bytesize.Format(s.alloc.Capacity()))
	}
	if !wait {
		return nil, errWouldBlock
	}
	return o, s.createFallbackLocked(o)
}

// createFallbackLocked puts a created object into a fallback file of its
// own. The object is recorded (created, with no memory yet) while the file
// is made with the lock released; if it is gone when the file is ready (its
// client went, or the store closed), the file is dropped.
func (s *Store) createFallbackLocked(o *object) error {
	s.objects[o.id] = o
	path := s.fallback.nextPath(s.localDir)
	s.mu.Unlock()
	fb, err := newFallbackFile(path, o.size)
	s.mu.Lock()
	gone := s.closed || s.objects[o.id] != o
	switch {
	case err == nil && gone:
		fb.close()
		if s.closed {
			return ErrClosed
		}
		return fmt.Errorf("%w: %v was dropped while its fallback file was made", ErrUnknownClient, o.id)
	case err != nil:
		if !gone {
			delete(s.objects, o.id)
			s.broadcastLocked()
		}
		return err
	}
	s.fallback.add(fb)
	o.fallback = fb
	return nil
}

func isFull(err error) bool {
	_, ok := err.(*ObjectStoreFullError)
	return ok
}

// reserveLocked allocates size bytes, evicting, spilling and waiting as
// needed until the grace period ends. still is checked after every wait:
// its error ends the wait.
func (s *Store) reserveLocked(ctx context.Context, id ObjectID, size uint64, wait bool, still func() error) (Block, error) {
	if b, ok := s.allocLocked(size); ok {
		return b, nil
	}
	if !wait {
		return Block{}, errWouldBlock
	}
	s.counters.createWaits++
	deadline := time.Now().Add(s.cfg.CreateGrace)
	s.waitingFor = append(s.waitingFor, size)
	defer func() {
		i := slices.Index(s.waitingFor, size)
		s.waitingFor = slices.Delete(s.waitingFor, i, i+1)
	}()
	for {
		s.wakeSpiller()
		if !s.wait(ctx, deadline) {
			break
		}
		if s.closed {
			return Block{}, ErrClosed
		}
		if err := still(); err != nil {
			return Block{}, err
		}
		if b, ok := s.allocLocked(size); ok {
			return b, nil
		}
	}
	if s.closed {
		return Block{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Block{}, fmt.Errorf("plasma: allocate for %v: %w", id, err)
	}
	if b, ok := s.allocLocked(size); ok {
		return b, nil
	}
	s.counters.storeFull++
	return Block{}, s.fullErrorLocked(id, size)
}

func (s *Store) fullErrorLocked(id ObjectID, size uint64) error {
	pinned, held := s.memoryUseLocked()
	return &ObjectStoreFullError{
		ID: id, Requested: size, Capacity: s.alloc.Capacity(), Used: s.alloc.Stats().Allocated,
		Pinned: pinned, Held: held, SpillErr: s.spill.lastErr,
	}
}

// memoryUseLocked returns the bytes of pinned objects in memory and of
// objects held by readers.
func (s *Store) memoryUseLocked() (pinned, held uint64) {
	for _, o := range s.objects {
		if o.inMemory && o.pinned {
			pinned += o.size
		}
		if o.readers > 0 {
			held += o.size
		}
	}
	return pinned, held
}

// allocLocked allocates size bytes, evicting least recently used copies
// that may be dropped until the allocation fits or there is none left.
func (s *Store) allocLocked(size uint64) (Block, bool) {
	for {
		if b, ok := s.alloc.Alloc(size); ok {
			return b, true
		}
		victim := s.evictable.head
		if victim == nil {
			return Block{}, false
		}
		s.evictLocked(victim)
	}
}

// evictLocked drops an unheld copy from memory. A copy with a spilled
// twin stays known and is restored on the next Get; any other copy is
// gone from this node.
func (s *Store) evictLocked(o *object) {
	s.counters.evictions++
	if o.spill != nil {
		s.dropMemoryLocked(o)
		return
	}
	s.freeLocked(o)
}

func (s *Store) dropMemoryLocked(o *object) {
	if o.list != nil {
		o.list.remove(o)
	}
	if o.inMemory {
		s.alloc.Free(o.block)
		o.block, o.inMemory = Block{}, false
	}
}

// freeLocked forgets an object and frees its memory, its fallback file
// and its share of a spill file.
func (s *Store) freeLocked(o *object) {
	s.dropMemoryLocked(o)
	if o.fallback != nil {
		s.fallback.free(o.fallback)
		o.fallback = nil
	}
	if o.spill != nil {
		s.spill.release(o.spill, s.log)
		o.spill = nil
	}
	delete(s.objects, o.id)
	s.broadcastLocked()
}

// settleLocked puts an object where its state says: freed when deleted and
// no longer held, on the evictable or spillable list when unheld, on no
// list while held or busy.
func (s *Store) settleLocked(o *object) {
	if o.list != nil {
		o.list.remove(o)
	}
	if o.readers > 0 || o.busy || o.state != StateSealed {
		return
	}
	if o.deleted {
		s.freeLocked(o)
		return
	}
	if !o.inMemory || o.fallback != nil {
		return
	}
	if o.pinned && o.spill == nil {
		s.spillable.pushBack(o)
	} else {
		s.evictable.pushBack(o)
	}
}

// seal makes a created object immutable and readable.
func (s *Store) seal(cid uint64, id ObjectID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.writingLocked(cid, id)
	if err != nil {
		return err
	}
	s.sealLocked(o)
	return nil
}

func (s *Store) sealLocked(o *object) {
	o.state = StateSealed
	o.access = time.Now()
	defer s.broadcastLocked()
	if o.deleted { // deleted while being written: it ends here
		s.freeLocked(o)
		return
	}
	s.settleLocked(o)
	s.maybeSpillLocked()
}

// put creates, fills and seals an object in one step, for a value that
// came with a request from another process. The copy happens under the
// lock, after checking that the object is still the client's to write
// (the client may have gone while the create waited); values sent this
// way are small.
func (s *Store) put(ctx context.Context, cid uint64, id ObjectID, data []byte, pin, wait bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.createLocked(ctx, cid, id, uint64(len(data)), pin, wait)
	if err != nil {
		return err
	}
	return s.fillLocked(cid, o, data)
}

func (s *Store) fillLocked(cid uint64, o *object, data []byte) error {
	if o2, err := s.writingLocked(cid, o.id); err != nil || o2 != o {
		return fmt.Errorf("plasma: %v is no longer being written by this client: %w", o.id, err)
	}
	if uint64(len(data)) != o.size {
		return fmt.Errorf("plasma: %d bytes for an object of %d", len(data), o.size)
	}
	if o.fallback != nil {
		copy(o.fallback.rw, data)
	} else {
		copy(s.arena.writable(o.block.Off, o.size), data)
	}
	s.sealLocked(o)
	return nil
}

// abort frees an object that its creator gave up on before sealing it.
func (s *Store) abort(cid uint64, id ObjectID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.writingLocked(cid, id)
	if err != nil {
		return err
	}
	s.freeLocked(o)
	return nil
}

func (s *Store) writingLocked(cid uint64, id ObjectID) (*object, error) {
	if err := s.checkClient(cid); err != nil {
		return nil, err
	}
	o := s.objects[id]
	switch {
	case o == nil:
		return nil, fmt.Errorf("%w: %v", ErrNoObject, id)
	case o.state != StateCreated:
		return nil, fmt.Errorf("%w: %v", ErrSealed, id)
	case o.creator != cid:
		return nil, fmt.Errorf("%w: %v", ErrNotCreator, id)
	case !o.inMemory && o.fallback == nil:
		return nil, fmt.Errorf("%w: %v is still being set up", ErrNoObject, id)
	}
	return o, nil
}

// get holds every object of ids that is sealed, waiting up to timeout
// (forever when negative, not at all when zero) for the others to be
// created and sealed, and restoring spilled ones. Objects still missing at
// the end have a Location that is not Found. Without wait, it fails with
// errWouldBlock, holding nothing, if it would have to wait or restore.
func (s *Store) get(ctx context.Context, cid uint64, ids []ObjectID, timeout time.Duration, wait bool) ([]Location, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkClient(cid); err != nil {
		return nil, err
	}
	if !wait && !s.readyLocked(ids, timeout) {
		return nil, errWouldBlock
	}
	var deadline time.Time
	locs := make([]Location, len(ids))
	missing := len(ids)
	for {
		if s.clients[cid] == nil {
			return nil, ErrUnknownClient // it went away while this waited, and its holds with it
		}
		restoring := false
		for i, id := range ids {
			if locs[i].Found {
				continue
			}
			loc, busy, err := s.tryHoldLocked(ctx, cid, id)
			restoring = restoring || busy
			if err != nil {
				if s.clients[cid] != nil {
					s.unholdLocked(cid, ids, locs)
				}
				return nil, err
			}
			if loc.Found {
				locs[i] = loc
				missing--
			}
		}
		if missing == 0 || s.closed {
			break
		}
		if deadline.IsZero() && timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		if restoring {
			// The object is there: wait for its restore whatever the timeout.
			if !s.wait(ctx, time.Time{}) {
				break
			}
			continue
		}
		if timeout == 0 || !s.wait(ctx, deadline) {
			break
		}
	}
	if s.clients[cid] == nil {
		return nil, ErrUnknownClient
	}
	if s.closed {
		s.unholdLocked(cid, ids, locs)
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil && missing > 0 {
		s.unholdLocked(cid, ids, locs)
		return nil, fmt.Errorf("plasma: get: %w", err)
	}
	return locs, nil
}

// readyLocked reports whether a get of ids would finish without waiting
// or reading from disk.
func (s *Store) readyLocked(ids []ObjectID, timeout time.Duration) bool {
	for _, id := range ids {
		o := s.objects[id]
		readable := o != nil && o.state == StateSealed && !o.deleted
		if readable && !o.inMemory && o.fallback == nil {
			return false // spilled: a restore reads the disk
		}
		if !readable && timeout != 0 {
			return false
		}
	}
	return true
}

// tryHoldLocked holds one object if it is readable now, restoring it from
// disk first if it was spilled.
// It reports restoring when another Get is reading the object back: the
// caller waits for that, whatever its timeout, since the object is there.
func (s *Store) tryHoldLocked(ctx context.Context, cid uint64, id ObjectID) (loc Location, restoring bool, err error) {
	o := s.objects[id]
	if o == nil || o.state != StateSealed || o.deleted {
		return Location{}, false, nil
	}
	if !o.inMemory && o.fallback == nil {
		if o.busy {
			return Location{}, true, nil
		}
		if err := s.restoreLocked(ctx, o, true, func() error { return s.checkClient(cid) }); err != nil {
			return Location{}, false, err
		}
		if s.objects[id] != o || !o.inMemory {
			return Location{}, false, nil
		}
	}
	holds := s.clients[cid]
	if holds == nil {
		return Location{}, false, ErrUnknownClient // the client went away while it waited
	}
	o.readers++
	holds[id]++
	o.access = time.Now()
	if o.list != nil {
		o.list.remove(o)
	}
	return o.location(), false, nil
}

// unhold ends the holds a get made, for a client that stopped waiting.
func (s *Store) unhold(cid uint64, ids []ObjectID, locs []Location) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[cid] != nil {
		s.unholdLocked(cid, ids, locs)
	}
}

func (s *Store) unholdLocked(cid uint64, ids []ObjectID, locs []Location) {
	for i, loc := range locs {
		if loc.Found {
			_ = s.releaseLocked(cid, ids[i])
		}
	}
}

// release ends one hold of a client on an object.
func (s *Store) release(cid uint64, id ObjectID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkClient(cid); err != nil {
		return err
	}
	return s.releaseLocked(cid, id)
}

func (s *Store) releaseLocked(cid uint64, id ObjectID) error {
	holds := s.clients[cid]
	o := s.objects[id]
	if holds[id] == 0 || o == nil {
		return fmt.Errorf("%w: %v", ErrNotHeld, id)
	}
	if holds[id]--; holds[id] == 0 {
		delete(holds, id)
	}
	o.readers--
	o.access = time.Now()
	if o.readers == 0 {
		s.settleLocked(o)
		s.broadcastLocked()
	}
	return nil
}

// remove deletes objects: at once when nobody holds them, else at their
// last release; from then on nobody can get them. Objects not there are
// skipped.
func (s *Store) remove(ids []ObjectID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, id := range ids {
		o := s.objects[id]
		if o == nil {
			continue
		}
		// A held object goes at its last release; one being written, at
		// its Seal or Abort, since its creator still writes into it.
		if o.readers > 0 || o.busy || o.state == StateCreated {
			o.deleted = true
			if o.list != nil {
				o.list.remove(o)
			}
			continue
		}
		s.freeLocked(o)
	}
	return nil
}

// contains reports whether a sealed, undeleted object is in the store (in
// memory, in a fallback file or spilled).
func (s *Store) contains(id ObjectID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	o := s.objects[id]
	return o != nil && o.state == StateSealed && !o.deleted, nil
}

// setPinned marks an object as a primary copy (never evicted, only
// spilled) or not.
func (s *Store) setPinned(id ObjectID, pin bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	o := s.objects[id]
	if o == nil || o.deleted {
		return fmt.Errorf("%w: %v", ErrNoObject, id)
	}
	o.pinned = pin
	s.settleLocked(o)
	if pin {
		s.maybeSpillLocked()
	} else {
		s.broadcastLocked() // it may be evicted for a waiting create now
	}
	return nil
}
