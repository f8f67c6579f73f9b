package plasma

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The tests in this file check the store's promises one by one: Get waits,
// views are immutable and keep their object, pins, spilling, full disks,
// fallback files and configuration errors.

// semPut creates an object of size bytes filled with a pattern of seed,
// seals it and returns its checksum.
func semPut(t testing.TB, c *Client, id ObjectID, size int, seed byte, opts ...CreateOption) uint64 {
	t.Helper()
	ctx := context.Background()
	b, err := c.Create(ctx, id, uint64(size), opts...)
	require.NoError(t, err, "create %v", id)
	require.Len(t, b.Data, size)
	fillInto(b.Data, seed)
	sum := xxhash.Sum64(b.Data)
	require.NoError(t, b.Seal(ctx), "seal %v", id)
	return sum
}

// semCheck gets an object, checks its bytes against sum and releases it.
func semCheck(t testing.TB, c *Client, id ObjectID, sum uint64, timeout time.Duration) {
	t.Helper()
	v, err := c.GetOne(context.Background(), id, timeout)
	require.NoError(t, err, "get %v", id)
	assert.Equal(t, sum, xxhash.Sum64(v.Data()), "bytes of %v", id)
	require.NoError(t, v.Release())
}

func semStats(t testing.TB, c *Client) Stats {
	t.Helper()
	st, err := c.Stats(context.Background(), true)
	require.NoError(t, err)
	return st
}

func semInfo(t testing.TB, c *Client, id ObjectID) (ObjectInfo, bool) {
	t.Helper()
	for _, o := range semStats(t, c).ObjectList {
		if o.ID == id {
			return o, true
		}
	}
	return ObjectInfo{}, false
}

func semHas(t testing.TB, c *Client, id ObjectID) bool {
	t.Helper()
	ok, err := c.Contains(context.Background(), id)
	require.NoError(t, err)
	return ok
}

// semSpillFiles lists the spill files in the store's own directory.
func semSpillFiles(t testing.TB, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.localDir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "spill-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// semDirNames lists a directory's entries other than the lock file.
func semDirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.Name() != lockName {
			names = append(names, e.Name())
		}
	}
	return names
}

// semMountTmpfs mounts a tmpfs of the given size (mount's syntax: 512k)
// on a fresh directory and unmounts it at the end of the test, after the
// cleanups registered later (the store's Close). It skips the test when
// mounting is not permitted.
func semMountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("cannot mount a tmpfs: %v", err)
		}
		require.NoError(t, err, "mount a tmpfs")
	}
	t.Cleanup(func() { assert.NoError(t, unix.Unmount(dir, 0), "unmount %s", dir) })
	return dir
}

// --- Get waits ---

func TestGetWaitsForCreateAndSeal(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	writer, err := s.Client()
	require.NoError(t, err)
	ctx := context.Background()
	id := oid(1)
	sums := make(chan uint64, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		b, err := writer.Create(ctx, id, 10_000)
		if !assert.NoError(t, err) {
			sums <- 0
			return
		}
		fillInto(b.Data, 7)
		sum := xxhash.Sum64(b.Data)
		time.Sleep(50 * time.Millisecond) // created, not yet sealed: the Get keeps waiting
		sums <- sum
		assert.NoError(t, b.Seal(ctx))
	}()
	start := time.Now()
	v, err := c.GetOne(ctx, id, 20*time.Second)
	elapsed := time.Since(start)
	require.NoError(t, err)
	sum := <-sums
	assert.GreaterOrEqual(t, elapsed, 150*time.Millisecond, "returned before the seal")
	assert.Less(t, elapsed, 5*time.Second, "returned at the seal, not at the timeout")
	assert.Equal(t, sum, xxhash.Sum64(v.Data()))
	require.NoError(t, v.Release())
}

func TestGetTimeoutZeroMissing(t *testing.T) {
	_, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	start := time.Now()
	views, err := c.Get(ctx, []ObjectID{oid(1), oid(2)}, 0)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "no wait with timeout 0")
	require.Len(t, views, 2)
	assert.Nil(t, views[0])
	assert.Nil(t, views[1])

	// A mix: the present object is returned, the missing one is nil.
	sum := semPut(t, c, oid(1), 1000, 1)
	views, err = c.Get(ctx, []ObjectID{oid(1), oid(2)}, 0)
	require.NoError(t, err)
	require.NotNil(t, views[0])
	assert.Nil(t, views[1])
	assert.Equal(t, sum, xxhash.Sum64(views[0].Data()))
	require.NoError(t, views[0].Release())

	_, err = c.GetOne(ctx, oid(2), 0)
	assert.ErrorIs(t, err, ErrGetTimeout)
}

func TestGetTimeoutUnsealed(t *testing.T) {
	_, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	id := oid(1)
	b, err := c.Create(ctx, id, 4096)
	require.NoError(t, err)
	fillInto(b.Data, 3)

	start := time.Now()
	views, err := c.Get(ctx, []ObjectID{id}, 150*time.Millisecond)
	require.NoError(t, err)
	assert.Nil(t, views[0], "an unsealed object is not readable")
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	start = time.Now()
	_, err = c.GetOne(ctx, id, 100*time.Millisecond)
	require.ErrorIs(t, err, ErrGetTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	assert.False(t, semHas(t, c, id), "Contains reports sealed objects only")

	sum := xxhash.Sum64(b.Data)
	require.NoError(t, b.Seal(ctx))
	semCheck(t, c, id, sum, 0)
}

func TestGetNegativeTimeoutWaitsForContext(t *testing.T) {
	_, c := testStore(t, 1<<20, nil)
	id := oid(1)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	views, err := c.Get(ctx, []ObjectID{id}, -1)
	assert.Nil(t, views)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)

	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel2() }()
	_, err = c.GetOne(ctx2, id, -1)
	require.ErrorIs(t, err, context.Canceled)

	// A wait without timeout ends with the seal.
	go func() {
		time.Sleep(100 * time.Millisecond)
		assert.NoError(t, c.Put(context.Background(), id, fill(100, 9)))
	}()
	v, err := c.GetOne(context.Background(), id, -1)
	require.NoError(t, err)
	assert.Equal(t, fill(100, 9), v.Data())
	require.NoError(t, v.Release())
}

func TestGetWaitEndsWhenStoreCloses(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	errs := make(chan error, 1)
	go func() {
		_, err := c.GetOne(context.Background(), oid(1), -1)
		errs <- err
	}()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, s.Close())
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Get still waiting after the store closed")
	}
	_, err := s.Client()
	assert.ErrorIs(t, err, ErrClosed)
}

// --- Views hold their objects ---

func TestHeldObjectNeverEvicted(t *testing.T) {
	_, c := testStore(t, 1<<20, func(c *Config) { c.DisableSpilling = true })
	ctx := context.Background()
	const size = 200 << 10
	held := oid(1000)
	sum := semPut(t, c, held, size, 1)
	v, err := c.GetOne(ctx, held, 0)
	require.NoError(t, err)

	for i := range 20 {
		semPut(t, c, oid(i), size, byte(i))
	}
	st := semStats(t, c)
	assert.GreaterOrEqual(t, st.Evictions, uint64(15), "the other objects were evicted to make room")
	assert.True(t, semHas(t, c, held), "a held object is never evicted")
	assert.Equal(t, uint64(size), st.Held)
	assert.Equal(t, sum, xxhash.Sum64(v.Data()), "the view's bytes are unchanged")
	info, ok := semInfo(t, c, held)
	require.True(t, ok)
	assert.True(t, info.InMemory)
	assert.Equal(t, 1, info.Readers)

	// Released, it is evictable like the others: it is the least recently
	// used after a few more puts.
	require.NoError(t, v.Release())
	for i := 20; i < 30; i++ {
		semPut(t, c, oid(i), size, byte(i))
	}
	assert.False(t, semHas(t, c, held), "evicted once released")
}

func TestHeldPinnedObjectNotSpilledAway(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	const size = 200 << 10
	held := oid(1000)
	sum := semPut(t, c, held, size, 1, Pinned())
	v, err := c.GetOne(ctx, held, 0)
	require.NoError(t, err)
	require.True(t, s.Arena().Contains(v.Data()))

	sums := map[int]uint64{}
	for i := range 10 {
		sums[i] = semPut(t, c, oid(i), size, byte(i+10), Pinned())
	}
	st := semStats(t, c)
	assert.NotZero(t, st.SpilledObjects, "spilling pressure")
	info, ok := semInfo(t, c, held)
	require.True(t, ok)
	assert.True(t, info.InMemory, "a held object stays in memory")
	assert.False(t, info.Spilled, "a held object is not spilled")
	assert.Equal(t, sum, xxhash.Sum64(v.Data()), "the view's bytes are unchanged")
	require.NoError(t, v.Release())

	// Every primary copy is still there, in memory or on disk.
	semCheck(t, c, held, sum, 5*time.Second)
	for i := range 10 {
		semCheck(t, c, oid(i), sums[i], 5*time.Second)
	}
}

func TestDeleteWaitsForRelease(t *testing.T) {
	_, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	const size = 100 << 10
	id := oid(1)
	sum := semPut(t, c, id, size, 1)
	v1, err := c.GetOne(ctx, id, 0)
	require.NoError(t, err)
	v2, err := c.GetOne(ctx, id, 0)
	require.NoError(t, err)
	before := semStats(t, c)
	assert.Equal(t, 1, before.Objects)
	assert.GreaterOrEqual(t, before.Used, uint64(size))

	require.NoError(t, c.Delete(ctx, id))
	assert.False(t, semHas(t, c, id), "deleted at once for everyone")
	views, err := c.Get(ctx, []ObjectID{id}, 0)
	require.NoError(t, err)
	assert.Nil(t, views[0], "a deleted object cannot be got")
	st := semStats(t, c)
	assert.Equal(t, before.Used, st.Used, "memory kept while held")
	assert.Equal(t, 1, st.Objects)
	require.Len(t, st.ObjectList, 1)
	assert.True(t, st.ObjectList[0].Deleted)
	assert.Equal(t, sum, xxhash.Sum64(v1.Data()), "the view still reads the object")

	require.NoError(t, v1.Release())
	st = semStats(t, c)
	assert.Equal(t, before.Used, st.Used, "memory kept while a view remains")
	assert.Equal(t, sum, xxhash.Sum64(v2.Data()))

	require.NoError(t, v2.Release())
	st = semStats(t, c)
	assert.Zero(t, st.Used, "freed at the last release")
	assert.Zero(t, st.Objects)
	assert.Zero(t, st.Held)

	// Deleting what is not there is no error.
	require.NoError(t, c.Delete(ctx, id, oid(99)))
}

func TestViewIsReadOnly(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	id := oid(1)
	sum := semPut(t, c, id, 8192, 5)
	v, err := c.GetOne(ctx, id, 0)
	require.NoError(t, err)
	data := v.Data()
	require.True(t, s.Arena().Contains(data))

	r := semWriteFaults(data)
	require.NotNil(t, r, "writing into a view must fault")
	_, isFault := r.(interface{ Addr() uintptr })
	assert.True(t, isFault, "a memory fault, not another panic: %v", r)
	assert.Equal(t, sum, xxhash.Sum64(data), "the bytes are unchanged")
	require.NoError(t, v.Release())
	semCheck(t, c, id, sum, 0)
}

// semWriteFaults writes into p in a goroutine that turns memory faults
// into panics, and returns what it recovered.
func semWriteFaults(p []byte) any {
	res := make(chan any, 1)
	go func() {
		defer func() { res <- recover() }()
		debug.SetPanicOnFault(true)
		p[len(p)/2] ^= 0xff
	}()
	return <-res
}

// --- Create, Seal, Abort, Release, Close ---

func TestAbortFreesObject(t *testing.T) {
	_, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	id := oid(1)
	b, err := c.Create(ctx, id, 100<<10)
	require.NoError(t, err)
	st := semStats(t, c)
	assert.Equal(t, 1, st.Objects)
	assert.GreaterOrEqual(t, st.Used, uint64(100<<10))
	require.NoError(t, b.Abort(ctx))
	assert.Nil(t, b.Data)
	st = semStats(t, c)
	assert.Zero(t, st.Objects)
	assert.Zero(t, st.Used)
	assert.False(t, semHas(t, c, id))
	require.ErrorIs(t, b.Abort(ctx), ErrNoObject, "abort twice")
	require.ErrorIs(t, b.Seal(ctx), ErrNoObject, "seal after abort")
	// The id is free again.
	sum := semPut(t, c, id, 1000, 2)
	semCheck(t, c, id, sum, 0)
}

func TestCreateSealErrors(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	other, err := s.Client()
	require.NoError(t, err)
	ctx := context.Background()

	b, err := c.Create(ctx, oid(1), 100)
	require.NoError(t, err)
	_, err = c.Create(ctx, oid(1), 100)
	require.ErrorIs(t, err, ErrObjectExists, "create of an object being written")
	_, err = other.Create(ctx, oid(1), 50)
	require.ErrorIs(t, err, ErrObjectExists)
	// Another client can neither seal nor abort it.
	require.ErrorIs(t, (&Buffer{ID: oid(1), c: other}).Seal(ctx), ErrNotCreator)
	require.ErrorIs(t, (&Buffer{ID: oid(1), c: other}).Abort(ctx), ErrNotCreator)
	require.NoError(t, b.Seal(ctx))
	require.ErrorIs(t, b.Seal(ctx), ErrSealed, "seal twice")
	require.ErrorIs(t, (&Buffer{ID: oid(1), c: other}).Seal(ctx), ErrSealed)
	require.ErrorIs(t, b.Abort(ctx), ErrSealed, "abort of a sealed object")
	_, err = c.Create(ctx, oid(1), 100)
	require.ErrorIs(t, err, ErrObjectExists, "create of a sealed object")
	require.ErrorIs(t, c.Put(ctx, oid(1), []byte("x")), ErrObjectExists)
	require.ErrorIs(t, (&Buffer{ID: oid(2), c: c}).Seal(ctx), ErrNoObject, "seal of nothing")

	// Release of an object the client does not hold.
	require.ErrorIs(t, (&View{ID: oid(1), c: c}).Release(), ErrNotHeld)
	require.ErrorIs(t, (&View{ID: oid(2), c: c}).Release(), ErrNotHeld)
	v, err := c.GetOne(ctx, oid(1), 0)
	require.NoError(t, err)
	require.ErrorIs(t, (&View{ID: oid(1), c: other}).Release(), ErrNotHeld, "another client's hold")
	// Releasing a view twice releases one hold.
	v2, err := c.GetOne(ctx, oid(1), 0)
	require.NoError(t, err)
	require.NoError(t, v.Release())
	require.NoError(t, v.Release())
	assert.Nil(t, v.Data())
	st := semStats(t, c)
	assert.Equal(t, uint64(100), st.Held, "the second view still holds the object")
	require.NoError(t, v2.Release())
	assert.Zero(t, semStats(t, c).Held)

	// Objects larger than the store.
	_, err = c.Create(ctx, oid(3), 2<<20)
	require.ErrorIs(t, err, ErrObjectTooLarge)
}

func TestClientCloseReleasesHoldsAndAborts(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	other, err := s.Client()
	require.NoError(t, err)
	const size = 100 << 10

	semPut(t, c, oid(1), size, 1)
	semPut(t, c, oid(2), size, 2)
	v1, err := other.GetOne(ctx, oid(1), 0)
	require.NoError(t, err)
	_, err = other.GetOne(ctx, oid(1), 0) // a second hold of the same object
	require.NoError(t, err)
	_, err = other.GetOne(ctx, oid(2), 0)
	require.NoError(t, err)
	_, err = other.Create(ctx, oid(3), size) // never sealed
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, oid(1))) // waits for other's holds

	st := semStats(t, c)
	assert.Equal(t, 3, st.Objects)
	assert.Equal(t, uint64(2*size), st.Held)

	require.NoError(t, other.Close(ctx))
	require.NoError(t, other.Close(ctx), "close twice")
	st = semStats(t, c)
	assert.Zero(t, st.Held, "the client's holds ended")
	assert.Equal(t, 1, st.Objects, "the deleted object was freed, the unsealed one aborted")
	assert.True(t, semHas(t, c, oid(2)))
	assert.False(t, semHas(t, c, oid(3)))
	_ = v1

	// Every call of a closed client fails with ErrClosed.
	_, err = other.Create(ctx, oid(4), 10)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, other.Put(ctx, oid(4), []byte("x")), ErrClosed)
	_, err = other.Get(ctx, []ObjectID{oid(2)}, 0)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = other.GetOne(ctx, oid(2), 0)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, other.Delete(ctx, oid(2)), ErrClosed)
	_, err = other.Contains(ctx, oid(2))
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, other.Pin(ctx, oid(2)), ErrClosed)
	assert.ErrorIs(t, other.Unpin(ctx, oid(2)), ErrClosed)
	_, err = other.Stats(ctx, false)
	assert.ErrorIs(t, err, ErrClosed)
	assert.True(t, semHas(t, c, oid(2)), "the closed client's Delete did nothing")

	// The remaining object and the id of the aborted one are usable.
	sum := semPut(t, c, oid(3), 10, 3)
	semCheck(t, c, oid(3), sum, 0)
}

// Delete of an object that its creator is still writing takes effect at
// its Seal or Abort. It used to free the memory at once, while the creator
// kept a writable Buffer over it, so the next object placed there was
// changed by the creator's writes after it was sealed.
func TestDeleteOfUnsealedObjectWaitsForItsCreator(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	other, err := s.Client()
	require.NoError(t, err)
	ctx := context.Background()
	const size = 100 << 10
	b, err := c.Create(ctx, oid(1), size)
	require.NoError(t, err)

	require.NoError(t, other.Delete(ctx, oid(1)))
	sum := semPut(t, other, oid(2), size, 2) // likely placed where oid(1) was
	v, err := other.GetOne(ctx, oid(2), 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, v.Release()) }()

	// The creator goes on writing its buffer, as it may.
	fillInto(b.Data, 0xaa)
	sealErr := b.Seal(ctx)
	assert.Equal(t, sum, xxhash.Sum64(v.Data()), "a sealed object was changed by another object's writer")
	t.Logf("seal after delete: %v", sealErr)
}

// --- Pins ---

func TestPinnedNotEvicted(t *testing.T) {
	_, c := testStore(t, 1<<20, func(c *Config) { c.DisableSpilling = true })
	ctx := context.Background()
	const size = 600 << 10
	sum := semPut(t, c, oid(1), size, 1, Pinned())

	start := time.Now()
	_, err := c.Create(ctx, oid(2), size)
	var full *ObjectStoreFullError
	require.ErrorAs(t, err, &full)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "fails after the grace period")
	assert.Equal(t, uint64(size), full.Pinned)
	assert.Equal(t, uint64(size), full.Requested)
	assert.True(t, errors.Is(err, &ObjectStoreFullError{}))
	assert.True(t, semHas(t, c, oid(1)), "the pinned object was not evicted")
	st := semStats(t, c)
	assert.Zero(t, st.Evictions)
	assert.Equal(t, uint64(1), st.StoreFullErrors)
	assert.Equal(t, uint64(size), st.Pinned)
	assert.Zero(t, st.Evictable)
	semCheck(t, c, oid(1), sum, 0)

	// Unpinned, it is evicted for the next Create.
	require.NoError(t, c.Unpin(ctx, oid(1)))
	assert.Equal(t, uint64(size), semStats(t, c).Evictable)
	semPut(t, c, oid(2), size, 2)
	assert.False(t, semHas(t, c, oid(1)), "evicted after Unpin")
	assert.Equal(t, uint64(1), semStats(t, c).Evictions)

	// Pin works on an existing object too.
	require.NoError(t, c.Pin(ctx, oid(2)))
	_, err = c.Create(ctx, oid(3), size)
	require.ErrorAs(t, err, &full)
	assert.True(t, semHas(t, c, oid(2)))

	require.ErrorIs(t, c.Pin(ctx, oid(42)), ErrNoObject)
	require.ErrorIs(t, c.Unpin(ctx, oid(42)), ErrNoObject)
}

// A Create waiting for room should go ahead as soon as an Unpin makes an
// object evictable, not only at the end of its grace period.
func TestUnpinWakesWaitingCreate(t *testing.T) {
	_, c := testStore(t, 1<<20, func(c *Config) {
		c.DisableSpilling = true
		c.CreateGrace = 2 * time.Second
	})
	ctx := context.Background()
	const size = 600 << 10
	semPut(t, c, oid(1), size, 1, Pinned())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- c.Put(ctx, oid(2), fill(size, 2))
	}()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, c.Unpin(ctx, oid(1)))
	require.NoError(t, <-done)
	assert.Less(t, time.Since(start), time.Second,
		"the waiting Create went ahead only at the end of its 2 s grace period")
}

// --- Spilling ---

func TestSpillLRUOrder(t *testing.T) {
	_, c := testStore(t, 1<<20, func(c *Config) { c.SpillThreshold = 0.5 })
	ctx := context.Background()
	const size = 100 << 10
	sums := map[int]uint64{}
	for i := range 5 { // 500 KiB: under the threshold of 512 KiB
		sums[i] = semPut(t, c, oid(i), size, byte(i), Pinned())
	}
	assert.Zero(t, semStats(t, c).SpilledObjects, "nothing spilled under the threshold")
	// Touch 0: 1 becomes the least recently used.
	v, err := c.GetOne(ctx, oid(0), 0)
	require.NoError(t, err)
	require.NoError(t, v.Release())
	for i := 5; i < 8; i++ {
		sums[i] = semPut(t, c, oid(i), size, byte(i), Pinned())
	}
	// 800 KiB of pinned objects: three must go to disk to get under 512.
	require.Eventually(t, func() bool {
		st := semStats(t, c)
		return st.SpilledObjects == 3 && st.Used <= 512<<10
	}, 5*time.Second, 5*time.Millisecond)
	var spilled []int
	for i := range 8 {
		info, ok := semInfo(t, c, oid(i))
		require.True(t, ok)
		if !info.InMemory {
			assert.True(t, info.Spilled)
			spilled = append(spilled, i)
		}
	}
	assert.Equal(t, []int{1, 2, 3}, spilled, "spilled least recently used first")

	for i := range 8 {
		semCheck(t, c, oid(i), sums[i], 5*time.Second)
	}
	assert.Equal(t, uint64(3), semStats(t, c).Restores)
}

func TestSpillBatchesAndRemovesFiles(t *testing.T) {
	s, c := testStore(t, 2<<20, func(c *Config) {
		c.SpillThreshold = 0.5
		c.MinSpillingSize = 250 << 10 // three objects of 100 KiB per file
	})
	ctx := context.Background()
	const size, n = 100 << 10, 16
	sums := map[int]uint64{}
	for i := range n {
		sums[i] = semPut(t, c, oid(i), size, byte(i), Pinned())
	}
	require.Eventually(t, func() bool { return semStats(t, c).Used <= 1<<20 }, 5*time.Second, 5*time.Millisecond)
	st := semStats(t, c)
	t.Logf("spilled %d objects in %d files", st.SpilledObjects, st.SpillFiles)
	require.GreaterOrEqual(t, st.SpilledObjects, uint64(6))
	assert.Less(t, st.SpillFiles, int(st.SpilledObjects), "several objects per file")
	assert.Equal(t, st.SpilledObjects*size, st.SpilledBytes)
	assert.Len(t, semSpillFiles(t, s), st.SpillFiles)

	// Restore on Get gives the same bytes.
	for i := range n {
		semCheck(t, c, oid(i), sums[i], 5*time.Second)
	}
	st = semStats(t, c)
	assert.NotZero(t, st.Restores)

	// Which objects are in which file.
	byFile := map[string][]ObjectID{}
	s.mu.Lock()
	for id, o := range s.objects {
		if o.spill != nil {
			byFile[o.spill.file.path] = append(byFile[o.spill.file.path], id)
		}
	}
	s.mu.Unlock()
	require.Len(t, byFile, st.SpillFiles)
	// A file stays while any of its objects lives, and goes with the last.
	for path, ids := range byFile {
		require.Greater(t, len(ids), 1, "file %s", path)
		require.NoError(t, c.Delete(ctx, ids[:len(ids)-1]...))
		_, err := os.Stat(path)
		assert.NoError(t, err, "file %s still holds an object", path)
		require.NoError(t, c.Delete(ctx, ids[len(ids)-1]))
		_, err = os.Stat(path)
		assert.ErrorIs(t, err, os.ErrNotExist, "file %s lost its last object", path)
	}
	for i := range n {
		require.NoError(t, c.Delete(ctx, oid(i)))
	}
	st = semStats(t, c)
	assert.Zero(t, st.SpillFiles)
	assert.Zero(t, st.SpilledObjects)
	assert.Zero(t, st.SpilledBytes)
	assert.Zero(t, st.Objects)
	assert.Zero(t, st.Used)
	assert.Empty(t, semDirNames(t, s.localDir), "no orphan in the store's directory")
}

func TestSpillDiskFull(t *testing.T) {
	disk := semMountTmpfs(t, "512k")
	s, c := testStore(t, 1<<20, func(c *Config) { c.SpillDir = disk })
	ctx := context.Background()
	const size = 200 << 10 // two fit on the disk, five in the arena
	sums := map[int]uint64{}
	var full *ObjectStoreFullError
	n := 0
	for ; n < 20; n++ {
		b, err := c.Create(ctx, oid(n), size, Pinned())
		if err != nil {
			require.ErrorAs(t, err, &full)
			break
		}
		fillInto(b.Data, byte(n))
		sums[n] = xxhash.Sum64(b.Data)
		require.NoError(t, b.Seal(ctx))
	}
	require.NotNil(t, full, "the store filled up")
	t.Log(full)
	assert.GreaterOrEqual(t, n, 7, "the disk took some objects")
	assert.Contains(t, full.SpillErr, "no space left on device")
	assert.Contains(t, full.Error(), "no space left on device")
	st := semStats(t, c)
	assert.NotZero(t, st.SpillFailures)
	assert.Contains(t, st.LastSpillError, "no space left on device")
	assert.Equal(t, n, st.Objects, "no object lost")
	assert.NotZero(t, st.SpilledObjects)

	// Every primary copy reads back. The ones in memory first; then, to
	// make room for restoring the spilled ones, one of those is deleted.
	var inMemory, onDisk []int
	for i := range n {
		info, ok := semInfo(t, c, oid(i))
		require.True(t, ok, "object %d", i)
		if info.InMemory {
			inMemory = append(inMemory, i)
		} else {
			require.True(t, info.Spilled, "object %d neither in memory nor on disk", i)
			onDisk = append(onDisk, i)
		}
	}
	require.NotEmpty(t, inMemory)
	require.NotEmpty(t, onDisk)
	for _, i := range inMemory {
		semCheck(t, c, oid(i), sums[i], 0)
	}
	require.NoError(t, c.Delete(ctx, oid(inMemory[0])))
	for _, i := range onDisk {
		semCheck(t, c, oid(i), sums[i], 2*time.Second)
	}
	for _, i := range inMemory[1:] {
		semCheck(t, c, oid(i), sums[i], 2*time.Second)
	}
	for i := range n {
		require.NoError(t, c.Delete(ctx, oid(i)))
	}
	require.Eventually(t, func() bool { return len(semDirNames(t, s.localDir)) == 0 }, 5*time.Second, 10*time.Millisecond,
		"no spill file left: %v", semDirNames(t, s.localDir))
}

// --- Arena placement ---

func TestArenaTooBigForFileSystem(t *testing.T) {
	dir := semMountTmpfs(t, "1m")
	spill := t.TempDir()
	start := time.Now()
	s, err := Open(Config{
		Name: "big", Dir: dir, SpillDir: spill, Capacity: 8 << 20,
		Logger: slog.New(slog.DiscardHandler),
	})
	if s != nil {
		_ = s.Close()
	}
	require.ErrorIs(t, err, ErrArenaSpace)
	t.Log(err)
	assert.Less(t, time.Since(start), 2*time.Second, "fails fast")
	assert.Empty(t, semDirNames(t, dir), "no arena file left behind")
	assert.Empty(t, semDirNames(t, spill), "no store directory left behind")
}

// --- Fallback files ---

func TestFallbackWhenArenaFull(t *testing.T) {
	s, c := testStore(t, 1<<20, func(c *Config) {
		c.DisableSpilling = true
		c.Fallback = true
	})
	ctx := context.Background()
	pinnedSum := semPut(t, c, oid(1), 900<<10, 1, Pinned())

	const size = 500 << 10
	start := time.Now()
	b, err := c.Create(ctx, oid(2), size)
	require.NoError(t, err, "a fallback file instead of ObjectStoreFullError")
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "after the grace period")
	require.Len(t, b.Data, size)
	assert.False(t, s.Arena().Contains(b.Data))
	fillInto(b.Data, 2)
	sum := xxhash.Sum64(b.Data)
	require.NoError(t, b.Seal(ctx))

	st := semStats(t, c)
	assert.Equal(t, 1, st.FallbackObjects)
	assert.Equal(t, uint64(size), st.FallbackBytes)
	assert.Equal(t, 2, st.Objects)
	files := semDirNames(t, s.localDir)
	require.Len(t, files, 1)
	assert.True(t, strings.HasPrefix(files[0], "fallback-"), files[0])
	info, ok := semInfo(t, c, oid(2))
	require.True(t, ok)
	assert.Equal(t, "fallback", info.State)

	v, err := c.GetOne(ctx, oid(2), 0)
	require.NoError(t, err)
	assert.Equal(t, sum, xxhash.Sum64(v.Data()))
	assert.False(t, s.Arena().Contains(v.Data()))
	assert.NotNil(t, semWriteFaults(v.Data()), "a fallback view is read-only too")
	assert.Equal(t, sum, xxhash.Sum64(v.Data()))

	// Deleted while held: the file goes at the release.
	require.NoError(t, c.Delete(ctx, oid(2)))
	assert.Len(t, semDirNames(t, s.localDir), 1)
	require.NoError(t, v.Release())
	assert.Empty(t, semDirNames(t, s.localDir))
	st = semStats(t, c)
	assert.Zero(t, st.FallbackObjects)
	assert.Zero(t, st.FallbackBytes)

	// An object larger than the arena goes to a fallback file at once.
	big := fill(2<<20, 3)
	require.NoError(t, c.Put(ctx, oid(3), big))
	semCheck(t, c, oid(3), xxhash.Sum64(big), 0)
	require.NoError(t, c.Delete(ctx, oid(3)))
	assert.Empty(t, semDirNames(t, s.localDir))

	semCheck(t, c, oid(1), pinnedSum, 0)
}

// --- Configuration ---

func TestConfigErrors(t *testing.T) {
	base := func() Config {
		return Config{Name: "cfg", Dir: shmDir(t), SpillDir: t.TempDir(), Capacity: 1 << 20, NoPrefault: true,
			Logger: slog.New(slog.DiscardHandler)}
	}
	for name, mod := range map[string]func(*Config){
		"threshold above 1":   func(c *Config) { c.SpillThreshold = 1.5 },
		"negative threshold":  func(c *Config) { c.SpillThreshold = -0.1 },
		"NaN threshold":       func(c *Config) { c.SpillThreshold = math.NaN() },
		"infinite threshold":  func(c *Config) { c.SpillThreshold = math.Inf(1) },
		"negative grace":      func(c *Config) { c.CreateGrace = -time.Second },
		"name with slash":     func(c *Config) { c.Name = "a/b" },
		"name with dot":       func(c *Config) { c.Name = "a.b" },
		"name with space":     func(c *Config) { c.Name = "a b" },
		"tiny capacity":       func(c *Config) { c.Capacity = 1000 },
		"capacity just below": func(c *Config) { c.Capacity = minCapacity - 1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			mod(&cfg)
			s, err := Open(cfg)
			if s != nil {
				_ = s.Close()
			}
			require.ErrorIs(t, err, ErrConfig)
			assert.Empty(t, semDirNames(t, cfg.Dir))
			assert.Empty(t, semDirNames(t, cfg.SpillDir))
		})
	}
	// The edges that are valid.
	for name, mod := range map[string]func(*Config){
		"threshold 1":     func(c *Config) { c.SpillThreshold = 1 },
		"min capacity":    func(c *Config) { c.Capacity = minCapacity },
		"name characters": func(c *Config) { c.Name = "Node_1-a" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			mod(&cfg)
			s, err := Open(cfg)
			require.NoError(t, err)
			require.NoError(t, s.Close())
		})
	}
}
