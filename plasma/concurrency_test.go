package plasma

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The tests in this file run the store from many goroutines at once; run
// them with -race.

// concSize is the size of stress object n: a tenth empty, a third small,
// the rest up to 300 KiB.
func concSize(n int) int {
	r := rand.New(rand.NewPCG(uint64(n), 0x5eed))
	switch x := r.IntN(10); {
	case x == 0:
		return 0
	case x <= 3:
		return r.IntN(4 << 10)
	default:
		return r.IntN(300<<10 + 1)
	}
}

func TestConcurrentStress(t *testing.T) {
	const (
		creators   = 8
		readers    = 8
		perCreator = 500 // 4000 objects, about 600 MiB in all
		minGets    = 400 // per reader
	)
	s, admin := testStore(t, 16<<20, func(c *Config) {
		c.SpillThreshold = 0.6
		c.MinSpillingSize = 1 << 20
		c.CreateGrace = 5 * time.Second
	})
	ctx := context.Background()

	var sums sync.Map // ObjectID -> uint64, stored before the seal
	var made [creators]atomic.Int64
	var stop atomic.Bool
	var gets, getsDuring, found, deletedHeld, waited atomic.Int64
	id := func(k, j int) ObjectID { return oid(k*perCreator + j) }

	var cwg, rwg sync.WaitGroup
	for k := range creators {
		cwg.Go(func() {
			c, err := s.Client()
			if !assert.NoError(t, err) {
				return
			}
			defer func() { assert.NoError(t, c.Close(ctx)) }()
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			for j := range perCreator {
				n := k*perCreator + j
				var opts []CreateOption
				if n%3 == 0 {
					opts = append(opts, Pinned())
				}
				b, err := c.Create(ctx, id(k, j), uint64(concSize(n)), opts...)
				if !assert.NoError(t, err, "create %d", n) {
					return
				}
				fillInto(b.Data, byte(n))
				if n%17 == 0 {
					assert.NoError(t, b.Abort(ctx))
					made[k].Store(int64(j + 1))
					continue
				}
				sums.Store(id(k, j), xxhash.Sum64(b.Data))
				if !assert.NoError(t, b.Seal(ctx), "seal %d", n) {
					return
				}
				made[k].Store(int64(j + 1))
				// Read back one of our recent objects, if still there.
				back := id(k, j-rng.IntN(min(j+1, 20)))
				if v, err := c.GetOne(ctx, back, 0); err == nil {
					if sum, ok := sums.Load(back); !ok || xxhash.Sum64(v.Data()) != sum.(uint64) {
						assert.Fail(t, "bad bytes", "creator read back %v", back)
					}
					assert.NoError(t, v.Release())
				} else {
					assert.ErrorIs(t, err, ErrGetTimeout)
				}
				// Delete older objects of ours, held by readers or not.
				if j >= 40 && j%2 == 0 {
					assert.NoError(t, c.Delete(ctx, id(k, j-40)))
				}
			}
		})
	}
	for r := range readers {
		rwg.Go(func() {
			c, err := s.Client()
			if !assert.NoError(t, err) {
				return
			}
			defer func() { assert.NoError(t, c.Close(ctx)) }()
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			pick := func() (ObjectID, bool) {
				k := rng.IntN(creators)
				m := int(made[k].Load())
				var j int
				future := false
				switch x := rng.IntN(10); {
				case x < 6 && m > 0: // recent
					j = m - 1 - rng.IntN(min(m, 30))
				case x < 8 && m > 0: // anything made: evicted, spilled, deleted
					j = rng.IntN(m)
				default: // not made yet
					j, future = m+rng.IntN(2), true
				}
				return id(k, min(j, perCreator-1)), future
			}
			for g := 0; g < minGets || !stop.Load(); g++ {
				n := 1 + rng.IntN(2)
				ids := make([]ObjectID, n)
				timeout := time.Duration(0)
				for i := range ids {
					var future bool
					ids[i], future = pick()
					if future {
						timeout = 10 * time.Millisecond
					}
				}
				views, err := c.Get(ctx, ids, timeout)
				gets.Add(1)
				if !stop.Load() {
					getsDuring.Add(1)
				}
				if !assert.NoError(t, err) {
					return
				}
				for i, v := range views {
					if v == nil {
						continue
					}
					found.Add(1)
					if timeout > 0 {
						waited.Add(1)
					}
					sum, ok := sums.Load(ids[i])
					if !ok {
						assert.Fail(t, "got an object that was never sealed", "%v", ids[i])
						continue
					}
					n := int(ids[i][0]) | int(ids[i][1])<<8 | int(ids[i][2])<<16
					if got := xxhash.Sum64(v.Data()); got != sum.(uint64) || len(v.Data()) != concSize(n) {
						assert.Fail(t, "bad bytes", "object %d: %d bytes, want %d", n, len(v.Data()), concSize(n))
					}
					if rng.IntN(20) == 0 {
						// Delete it while held: gone for everyone, intact for us.
						assert.NoError(t, c.Delete(ctx, ids[i]))
						ok, err := c.Contains(ctx, ids[i])
						assert.NoError(t, err)
						assert.False(t, ok, "deleted %d still there", n)
						if xxhash.Sum64(v.Data()) != sum.(uint64) {
							assert.Fail(t, "bad bytes after delete", "object %d", n)
						}
						deletedHeld.Add(1)
					}
				}
				for _, v := range views {
					if v != nil {
						assert.NoError(t, v.Release())
					}
				}
			}
		})
	}
	cwg.Wait()
	stop.Store(true)
	rwg.Wait()

	st := semStats(t, admin)
	t.Logf("gets %d (%d while creating), found %d (after a wait %d), deleted while held %d",
		gets.Load(), getsDuring.Load(), found.Load(), waited.Load(), deletedHeld.Load())
	t.Logf("evictions %d, spills %d, spill failures %d, restores %d, create waits %d, store full %d, objects %d, used %d",
		st.Evictions, st.Spills, st.SpillFailures, st.Restores, st.CreateWaits, st.StoreFullErrors, st.Objects, st.Used)
	assert.NotZero(t, st.Evictions, "eviction happened")
	assert.NotZero(t, st.Spills, "spilling happened")
	assert.NotZero(t, st.Restores, "restoring happened")
	assert.NotZero(t, deletedHeld.Load())
	assert.NotZero(t, getsDuring.Load(), "reads overlapped the creates")
	assert.Zero(t, st.Held, "every view released")
	assert.Zero(t, st.StoreFullErrors)
	for _, o := range st.ObjectList {
		if o.State == "created" {
			assert.Fail(t, "unsealed object left", "%v", o)
		}
	}

	// Delete everything: nothing may be left, in memory or on disk.
	all := make([]ObjectID, 0, creators*perCreator)
	for n := range creators * perCreator {
		all = append(all, oid(n))
	}
	require.NoError(t, admin.Delete(ctx, all...))
	require.Eventually(t, func() bool {
		st := semStats(t, admin)
		return st.Objects == 0 && st.Used == 0 && st.SpillFiles == 0 && st.SpilledObjects == 0 &&
			st.SpilledBytes == 0 && len(semDirNames(t, s.localDir)) == 0
	}, 10*time.Second, 10*time.Millisecond, "store not empty: %+v, files %v", semStats(t, admin), semDirNames(t, s.localDir))
	s.mu.Lock()
	err := s.alloc.check()
	blocks := s.alloc.Stats().Blocks
	evictable, spillable := s.evictable.n, s.spillable.n
	s.mu.Unlock()
	require.NoError(t, err)
	assert.Zero(t, blocks)
	assert.Zero(t, evictable)
	assert.Zero(t, spillable)
}

func TestConcurrentGetWaitersOneSeal(t *testing.T) {
	s, c := testStore(t, 4<<20, nil)
	ctx := context.Background()
	const waiters, size = 16, 200 << 10
	id := oid(1)

	type result struct {
		v   *View
		err error
		at  time.Time
	}
	results := make(chan result, waiters)
	for range waiters {
		go func() {
			cl, err := s.Client()
			if err != nil {
				results <- result{err: err}
				return
			}
			v, err := cl.GetOne(ctx, id, 20*time.Second)
			results <- result{v: v, err: err, at: time.Now()}
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them all wait
	select {
	case r := <-results:
		t.Fatalf("a Get returned before the object existed: %v", r.err)
	default:
	}
	sum := semPut(t, c, id, size, 4)
	sealed := time.Now()

	var views []*View
	for range waiters {
		select {
		case r := <-results:
			require.NoError(t, r.err)
			assert.Less(t, r.at.Sub(sealed), 2*time.Second)
			assert.Equal(t, sum, xxhash.Sum64(r.v.Data()))
			views = append(views, r.v)
		case <-time.After(10 * time.Second):
			t.Fatal("a waiter was not woken by the seal")
		}
	}
	info, ok := semInfo(t, c, id)
	require.True(t, ok)
	assert.Equal(t, waiters, info.Readers)
	assert.Equal(t, uint64(size), semStats(t, c).Held)
	for _, v := range views {
		require.NoError(t, v.Release())
	}
	info, _ = semInfo(t, c, id)
	assert.Zero(t, info.Readers)

	// One Get of several objects sealed by several goroutines, one after
	// the other, returns when the last is sealed.
	ids := []ObjectID{oid(10), oid(11), oid(12)}
	sumCh := make(chan map[ObjectID]uint64, 1)
	go func() {
		m := map[ObjectID]uint64{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				time.Sleep(time.Duration(50*(i+1)) * time.Millisecond)
				cl, err := s.Client()
				if !assert.NoError(t, err) {
					return
				}
				data := fill(1000*(i+1), byte(i))
				assert.NoError(t, cl.Put(ctx, id, data))
				mu.Lock()
				m[id] = xxhash.Sum64(data)
				mu.Unlock()
			})
		}
		wg.Wait()
		sumCh <- m
	}()
	start := time.Now()
	vs, err := c.Get(ctx, ids, 20*time.Second)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "returned before the last seal")
	m := <-sumCh
	for i, v := range vs {
		require.NotNil(t, v, "object %d", i)
		assert.Equal(t, m[ids[i]], xxhash.Sum64(v.Data()))
		require.NoError(t, v.Release())
	}
}

func TestConcurrentCreateSameID(t *testing.T) {
	s, c := testStore(t, 4<<20, nil)
	ctx := context.Background()
	const writers = 8
	id := oid(1)
	var wins atomic.Int64
	var winner atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			cl, err := s.Client()
			if !assert.NoError(t, err) {
				return
			}
			err = cl.Put(ctx, id, fill(50<<10, byte(w)))
			if err == nil {
				wins.Add(1)
				winner.Store(int64(w))
				return
			}
			assert.ErrorIs(t, err, ErrObjectExists)
		})
	}
	wg.Wait()
	require.Equal(t, int64(1), wins.Load(), "exactly one create wins")
	semCheck(t, c, id, xxhash.Sum64(fill(50<<10, byte(winner.Load()))), 0)
}

// A Get that is waiting when its client is closed (from another goroutine;
// or, for another process's client, when that process dies) must end with
// an error once the object is sealed, without holding it. (Before the
// store checked the client after each wait, tryHoldLocked wrote into the
// removed s.clients[cid]: "assignment to entry in nil map", with the
// object's readers count leaked.)
func TestGetWaitingWhenClientCloses(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	reader, err := s.Client()
	require.NoError(t, err)
	type outcome struct {
		v     *View
		err   error
		panic any
	}
	res := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			o.panic = recover()
			res <- o
		}()
		o.v, o.err = reader.GetOne(ctx, oid(1), 10*time.Second)
	}()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, reader.Close(ctx))
	time.Sleep(50 * time.Millisecond)
	semPut(t, c, oid(1), 1000, 1)

	var o outcome
	select {
	case o = <-res:
	case <-time.After(15 * time.Second):
		t.Fatal("Get did not return")
	}
	assert.Nil(t, o.panic, "Get panicked")
	assert.Nil(t, o.v, "a closed client got a view")
	assert.Error(t, o.err, "Get of a closed client")
	assert.Zero(t, semStats(t, c).Held, "a hold leaked")
}

// A Create that is waiting for room when its client is closed must fail
// once room is made, and leave nothing behind. (Before reserveLocked
// checked the client after each wait, the object was recorded for a client
// that no longer existed: never aborted, neither sealable nor abortable,
// its memory leaked for the store's life.)
func TestCreateWaitingWhenClientClosesDoesNotLeak(t *testing.T) {
	s, c := testStore(t, 1<<20, func(c *Config) {
		c.DisableSpilling = true
		c.CreateGrace = 5 * time.Second
	})
	ctx := context.Background()
	const size = 600 << 10
	semPut(t, c, oid(1), size, 1, Pinned())
	writer, err := s.Client()
	require.NoError(t, err)
	type outcome struct {
		b   *Buffer
		err error
	}
	res := make(chan outcome, 1)
	go func() {
		b, err := writer.Create(ctx, oid(2), size)
		res <- outcome{b, err}
	}()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, writer.Close(ctx))
	require.NoError(t, c.Delete(ctx, oid(1))) // makes room: the Create goes ahead
	var o outcome
	select {
	case o = <-res:
	case <-time.After(10 * time.Second):
		t.Fatal("Create did not return")
	}
	if o.err == nil {
		abortErr := o.b.Abort(ctx)
		t.Logf("Create of a closed client succeeded; its Abort: %v", abortErr)
	}
	st := semStats(t, c)
	assert.Error(t, o.err, "Create of a closed client")
	assert.Zero(t, st.Objects, "an unsealed object of a closed client is left: %+v", st.ObjectList)
	assert.Zero(t, st.Used, "its memory leaked")
}

// Store.Close waits for restores in flight before it unmaps the arena:
// restoreLocked reads a spilled object into the arena with the store's
// lock released, and a Close at that moment used to unmap memory the read
// was about to write (SIGSEGV, or corruption of whatever was mapped there
// next). The test makes the read block by replacing the spill file with a
// FIFO, so that the window is certain.
func TestCloseWaitsForRestore(t *testing.T) {
	s, c := testStore(t, 1<<20, func(c *Config) { c.SpillThreshold = 0.5 })
	ctx := context.Background()
	for i := range 8 {
		semPut(t, c, oid(i), 100<<10, byte(i), Pinned())
	}
	require.Eventually(t, func() bool { return semStats(t, c).SpilledObjects == 3 }, 5*time.Second, 5*time.Millisecond)
	var id ObjectID
	var path string
	s.mu.Lock()
	for oi, o := range s.objects {
		if !o.inMemory && o.spill != nil {
			id, path = oi, o.spill.file.path
			break
		}
	}
	s.mu.Unlock()
	require.NotEmpty(t, path)
	require.NoError(t, os.Remove(path))
	require.NoError(t, unix.Mkfifo(path, 0o600))
	// A second name, for when Close has removed the store's directory.
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, os.Link(path, fifo))

	getDone := make(chan error, 1)
	go func() {
		v, err := c.GetOne(ctx, id, 5*time.Second)
		if err == nil {
			_ = v.Release()
		}
		getDone <- err
	}()
	require.Eventually(t, func() bool {
		info, ok := semInfo(t, c, id)
		return ok && info.State == "restoring"
	}, 5*time.Second, time.Millisecond)

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	closedEarly := false
	select {
	case err := <-closed:
		closedEarly = true
		assert.NoError(t, err)
	case <-time.After(300 * time.Millisecond):
	}
	// Let the restore go on: it fails (a FIFO cannot be read at an offset).
	opened := make(chan struct{})
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); assert.NoError(t, err) {
			_ = w.Close()
		}
		close(opened)
	}()
	select {
	case <-opened:
	case <-time.After(5 * time.Second):
		t.Fatal("the restore never opened its spill file")
	}
	select {
	case err := <-getDone:
		assert.True(t, err != nil && !errors.Is(err, ErrGetTimeout), "the restore fails: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return")
	}
	if !closedEarly {
		select {
		case err := <-closed:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return")
		}
	}
	assert.False(t, closedEarly, "Close returned, the arena unmapped, while a restore was still reading into it")
}

// A Get with timeout 0 of a sealed, spilled object restores it; if
// another Get is restoring it at that moment, it waits for that restore
// rather than report the object missing (which it used to do, although
// Contains reported it). The same holds for any timeout shorter than the
// other restore.
func TestGetTimeoutZeroWaitsForObjectBeingRestored(t *testing.T) {
	_, c := testStore(t, 1<<20, func(c *Config) {
		c.SpillThreshold = 0.5
		c.CreateGrace = 5 * time.Second
	})
	ctx := context.Background()
	const size = 100 << 10
	sums := map[int]uint64{}
	for i := range 8 {
		sums[i] = semPut(t, c, oid(i), size, byte(i), Pinned())
	}
	require.Eventually(t, func() bool { return semStats(t, c).SpilledObjects == 3 }, 5*time.Second, 5*time.Millisecond)
	// Hold everything in memory and fill the rest with held objects, so
	// that a restore has to wait for room.
	var held []*View
	spilled := -1
	for i := range 8 {
		info, _ := semInfo(t, c, oid(i))
		if !info.InMemory {
			spilled = i
			continue
		}
		v, err := c.GetOne(ctx, oid(i), 0)
		require.NoError(t, err)
		held = append(held, v)
	}
	require.GreaterOrEqual(t, spilled, 0)
	for i := 100; i < 105; i++ {
		semPut(t, c, oid(i), size, byte(i))
		v, err := c.GetOne(ctx, oid(i), 0)
		require.NoError(t, err)
		held = append(held, v)
	}
	defer func() {
		for _, v := range held {
			assert.NoError(t, v.Release())
		}
	}()

	first := make(chan error, 1)
	go func() {
		v, err := c.GetOne(ctx, oid(spilled), 10*time.Second)
		if err == nil {
			assert.Equal(t, sums[spilled], xxhash.Sum64(v.Data()))
			assert.NoError(t, v.Release())
		}
		first <- err
	}()
	require.Eventually(t, func() bool {
		info, _ := semInfo(t, c, oid(spilled))
		return info.State == "restoring"
	}, 5*time.Second, time.Millisecond, "the first Get waits for room to restore")

	second := make(chan error, 1)
	go func() {
		v, err := c.GetOne(ctx, oid(spilled), 0)
		if err == nil {
			assert.Equal(t, sums[spilled], xxhash.Sum64(v.Data()))
			assert.NoError(t, v.Release())
		}
		second <- err
	}()
	time.Sleep(100 * time.Millisecond)
	assert.True(t, semHas(t, c, oid(spilled)), "the object is in the store")
	// Make room: the restore completes.
	require.NoError(t, held[len(held)-1].Release())
	held = held[:len(held)-1]
	require.NoError(t, <-first)
	assert.NoError(t, <-second, "a Get with timeout 0 missed a sealed object because another Get was restoring it")
}
