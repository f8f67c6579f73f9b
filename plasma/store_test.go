package plasma

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// testStore opens a store whose arena and spill directory live in the
// test's own directories, and closes it at the end.
func testStore(t testing.TB, capacity uint64, mod func(*Config)) (*Store, *Client) {
	t.Helper()
	cfg := Config{
		Name:            "test",
		Dir:             shmDir(t),
		SpillDir:        t.TempDir(),
		Capacity:        capacity,
		MinSpillingSize: 1,
		CreateGrace:     200 * time.Millisecond,
		NoPrefault:      true,
		Logger:          slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	skipWithoutShm(t, cfg.Dir, cfg.Capacity)
	s, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	c, err := s.Client()
	require.NoError(t, err)
	return s, c
}

// skipWithoutShm skips a test whose arena cannot fit in dir's file
// system, as in a container with the default 64 MiB /dev/shm (.ci/run
// enlarges it).
func skipWithoutShm(t testing.TB, dir string, capacity uint64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return
	}
	if free := st.Bavail * uint64(st.Bsize); free < capacity {
		t.Skipf("%s has %d MiB free, the arena needs %d MiB", dir, free>>20, capacity>>20)
	}
}

// shmDir returns a fresh directory in /dev/shm, removed at the end of the
// test: arenas belong on tmpfs, as in production.
func shmDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(DefaultDir, "goray-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func oid(n int) ObjectID {
	var id ObjectID
	id[0], id[1], id[2] = byte(n), byte(n>>8), byte(n>>16)
	return id
}

// fill returns n bytes of a pattern that depends on seed. It writes a
// block byte by byte and copies it, which stays fast under the race
// detector even for a GiB.
func fill(n int, seed byte) []byte {
	b := make([]byte, n)
	fillInto(b, seed)
	return b
}

func fillInto(b []byte, seed byte) {
	n := len(b)
	block := b[:min(n, 4093)]
	for i := range block {
		block[i] = byte(i*31) ^ seed
	}
	for i := len(block); i < n; i += len(block) {
		copy(b[i:], block)
	}
}

func TestPutGetSizes(t *testing.T) {
	s, c := testStore(t, 1<<30+4<<20, func(c *Config) { c.NoPrefault = false })
	ctx := context.Background()
	for i, size := range []int{0, 1, 100 << 10, 1 << 30} {
		// Written in place through Create, so that a GiB costs no copy on
		// the Go heap.
		b, err := c.Create(ctx, oid(i), uint64(size))
		require.NoError(t, err, "size %d", size)
		require.Len(t, b.Data, size)
		fillInto(b.Data, byte(i))
		sum := xxhash.Sum64(b.Data)
		require.NoError(t, b.Seal(ctx))
		v, err := c.GetOne(ctx, oid(i), 0)
		require.NoError(t, err)
		require.Len(t, v.Data(), size)
		assert.Equal(t, sum, xxhash.Sum64(v.Data()), "size %d", size)
		if size > 0 {
			assert.True(t, s.Arena().Contains(v.Data()), "view of %d bytes lies in the arena", size)
		}
		require.NoError(t, v.Release())
	}
	st, err := c.Stats(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, 4, st.Objects)
	assert.Len(t, st.ObjectList, 4)
}

func TestLRUEvictionOrder(t *testing.T) {
	_, c := testStore(t, 1<<20, func(c *Config) { c.DisableSpilling = true })
	ctx := context.Background()
	const size = 250 << 10
	for i := range 4 {
		require.NoError(t, c.Put(ctx, oid(i), fill(size, byte(i))))
	}
	// Touch 0, so 1 is now the least recently used.
	v, err := c.GetOne(ctx, oid(0), 0)
	require.NoError(t, err)
	require.NoError(t, v.Release())
	require.NoError(t, c.Put(ctx, oid(10), fill(size, 10)))
	require.NoError(t, c.Put(ctx, oid(11), fill(size, 11)))
	has := func(i int) bool { ok, err := c.Contains(ctx, oid(i)); require.NoError(t, err); return ok }
	assert.False(t, has(1), "least recently used evicted first")
	assert.False(t, has(2), "then the next")
	assert.True(t, has(0))
	assert.True(t, has(3))
}

func TestSpillRestore(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	const size = 300 << 10
	sums := map[int]uint64{}
	for i := range 6 {
		data := fill(size, byte(i))
		sums[i] = xxhash.Sum64(data)
		require.NoError(t, c.Put(ctx, oid(i), data, Pinned()))
	}
	st, err := c.Stats(ctx, false)
	require.NoError(t, err)
	assert.NotZero(t, st.SpilledObjects)
	for i := range 6 {
		v, err := c.GetOne(ctx, oid(i), time.Second)
		require.NoError(t, err)
		assert.Equal(t, sums[i], xxhash.Sum64(v.Data()), "object %d", i)
		require.NoError(t, v.Release())
	}
	st, err = c.Stats(ctx, false)
	require.NoError(t, err)
	assert.NotZero(t, st.Restores)
	ids := make([]ObjectID, 6)
	for i := range ids {
		ids[i] = oid(i)
	}
	require.NoError(t, c.Delete(ctx, ids...))
	st, err = c.Stats(ctx, true)
	require.NoError(t, err)
	t.Logf("%+v", st)
	// A batch being written when the objects were deleted is removed
	// once it is done.
	require.Eventually(t, func() bool {
		entries, err := os.ReadDir(s.localDir)
		return err == nil && len(entries) == 1
	}, 5*time.Second, 10*time.Millisecond, "only the lock file is left")
}

func TestStoreFull(t *testing.T) {
	_, c := testStore(t, 1<<20, func(c *Config) { c.DisableSpilling = true })
	ctx := context.Background()
	require.NoError(t, c.Put(ctx, oid(1), fill(700<<10, 1), Pinned()))
	start := time.Now()
	err := c.Put(ctx, oid(2), fill(700<<10, 2))
	var full *ObjectStoreFullError
	require.ErrorAs(t, err, &full)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	t.Log(err)
}

func TestSweepStale(t *testing.T) {
	dir, spill := shmDir(t), t.TempDir()
	cfg := Config{Name: "a", Dir: dir, SpillDir: spill, Capacity: 1 << 20, NoPrefault: true}
	s, err := Open(cfg)
	require.NoError(t, err)
	// Fake a dead node: copy of a file with no lock.
	dead := filepath.Join(dir, arenaPrefix+"dead-1"+arenaSuffix)
	require.NoError(t, os.WriteFile(dead, nil, 0o600))
	s2, err := Open(cfg)
	require.NoError(t, err)
	_, err = os.Stat(dead)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(s.Arena().Path())
	assert.NoError(t, err, "a live node's arena is kept")
	require.NoError(t, s.Close())
	require.NoError(t, s2.Close())
}

func TestSpillCorruptionDetected(t *testing.T) {
	s, c := testStore(t, 1<<20, nil)
	ctx := context.Background()
	for i := range 4 {
		require.NoError(t, c.Put(ctx, oid(i), fill(300<<10, byte(i)), Pinned()))
	}
	require.Eventually(t, func() bool {
		st, err := c.Stats(ctx, false)
		return err == nil && st.SpilledObjects > 0
	}, 5*time.Second, 10*time.Millisecond)
	// Flip a byte in every spill file, then read every object back.
	files, err := filepath.Glob(filepath.Join(s.localDir, "spill-*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	flipped := 0
	for _, p := range files {
		// A batch still being written may be short: leave it.
		if fi, err := os.Stat(p); err != nil || fi.Size() <= 100 {
			continue
		}
		flipped++
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		require.NoError(t, err)
		b := make([]byte, 1)
		_, err = f.ReadAt(b, 100)
		require.NoError(t, err)
		b[0] ^= 0xff
		_, err = f.WriteAt(b, 100)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	require.NotZero(t, flipped)
	corrupt := 0
	for i := range 4 {
		v, err := c.GetOne(ctx, oid(i), time.Second)
		if err != nil {
			require.ErrorIs(t, err, ErrSpillCorrupt)
			corrupt++
			continue
		}
		require.NoError(t, v.Release())
	}
	assert.NotZero(t, corrupt, "a corrupt spilled copy is reported, not returned")
}

// A spill batch that fails goes back to the front of the line, in its
// order, so the next try takes the same least recently used objects.
func TestFailedSpillKeepsLRUOrder(t *testing.T) {
	s, c := testStore(t, 4<<20, func(c *Config) {
		c.DisableSpilling = true // spilled by hand below
		c.SpillThreshold = 0.01
		c.MinSpillingSize = 600 << 10
	})
	ctx := context.Background()
	for i := range 4 {
		require.NoError(t, c.Put(ctx, oid(i), fill(300<<10, byte(i)), Pinned()))
	}
	// The spill directory is gone: creating the spill file fails.
	require.NoError(t, os.RemoveAll(s.localDir))
	spilled, err := s.spillOnce()
	require.Error(t, err)
	require.False(t, spilled)
	s.mu.Lock()
	var order []ObjectID
	for o := s.spillable.head; o != nil; o = o.next {
		order = append(order, o.id)
	}
	s.mu.Unlock()
	assert.Equal(t, []ObjectID{oid(0), oid(1), oid(2), oid(3)}, order)
	st, err := c.Stats(ctx, false)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.SpillFailures)
	assert.Contains(t, st.LastSpillError, "no such file")
}
