package plasma_test

// Multi-process tests: the store and its clients run in separate OS
// processes (the plasmanode program, and this test process joining the
// bus as a client node), as they do on a real node.

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/internal/proctest"
	"github.com/goray-dev/goray/plasma"
	"github.com/goray-dev/goray/plasma/internal/nodereport"
)

// plasmanodeBin is the plasmanode program, built once by TestMain.
var plasmanodeBin string

func TestMain(m *testing.M) { proctest.Main(m, "./internal/plasmanode", &plasmanodeBin) }

const (
	procCluster = "plasmatest"
	mib         = 1 << 20
)

var quiet = slog.New(slog.DiscardHandler)

// The reports of the plasmanode program.
type (
	storeReady   = nodereport.StoreReady
	readerReport = nodereport.ReaderReport
)

func mb(n uint64) string { return strconv.FormatFloat(float64(n)/mib, 'f', 1, 64) + " MiB" }

// proc is a plasmanode process.
type proc = proctest.Proc

// startProc starts plasmanode with args, waits for its first stdout line
// and decodes it into report.
func startProc(t testing.TB, report any, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, plasmanodeBin, func(line []byte) error { return json.Unmarshal(line, report) }, args...)
}

// shmDir is a fresh directory in /dev/shm for the test's arenas.
func shmDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(plasma.DefaultDir, "goray-proctest-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startStore(t testing.TB, node, dir, spill string, capacity uint64, extra ...string) (*proc, storeReady) {
	t.Helper()
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) == nil && fs.Bavail*uint64(fs.Bsize) < capacity {
		t.Skipf("%s has %d MiB free, the arena needs %d MiB (.ci/run enlarges /dev/shm)", dir, fs.Bavail*uint64(fs.Bsize)>>20, capacity>>20)
	}
	var r storeReady
	args := append([]string{"-mode", "store", "-node", node, "-cluster", procCluster, "-dir", dir, "-spill", spill,
		"-capacity", strconv.FormatUint(capacity, 10)}, extra...)
	p := startProc(t, &r, args...)
	return p, r
}

func startReader(t testing.TB, node, storeNode, url, token string, extra ...string) (*proc, readerReport) {
	t.Helper()
	var r readerReport
	args := append([]string{"-mode", "reader", "-node", node, "-cluster", procCluster, "-store", storeNode,
		"-url", url, "-token", token}, extra...)
	p := startProc(t, &r, args...)
	return p, r
}

// busNode is this test process joined to the bus.
type busNode struct {
	sys  *actor.System
	node *bus.Node
}

func startBusNode(t testing.TB, cfg bus.Config) *busNode {
	t.Helper()
	cfg.Cluster, cfg.Logger = procCluster, quiet
	sys := actor.NewSystem(actor.WithNode(cfg.Node), actor.WithLogger(quiet))
	n, err := bus.Start(context.Background(), sys, cfg)
	require.NoError(t, err)
	bn := &busNode{sys: sys, node: n}
	t.Cleanup(func() {
		// Short: when a test killed the process whose NATS this node
		// uses, closing waits for a flush that cannot happen.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = sys.Shutdown(ctx)
		_ = n.Close(ctx)
	})
	return bn
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func id(s string) plasma.ObjectID {
	var id plasma.ObjectID
	copy(id[:], s)
	return id
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestZeroCopyAcrossProcesses: the store process holds a 256 MiB object;
// a reader process gets a view of it and hashes it in place. The view lies
// in the reader's own mapping of the arena, and the reader's private
// memory (RssAnon) barely grows: the bytes are the store's shared pages
// (RssShmem), never copied.
func TestZeroCopyAcrossProcesses(t *testing.T) {
	const size = 256 * mib
	start := time.Now()
	_, st := startStore(t, "zc-store", shmDir(t), t.TempDir(), 300*mib, "-size", strconv.Itoa(size))
	storeUp := time.Since(start)
	require.Equal(t, int64(size), st.Size)
	require.NotEmpty(t, st.URL)

	start = time.Now()
	rp, rd := startReader(t, "zc-reader", st.Node, st.URL, st.Token, "-id", st.ID)
	require.NoError(t, rp.Wait(10*time.Second), rp.Stderr())
	readerTook := time.Since(start)

	assert.Equal(t, size, rd.Size)
	assert.Equal(t, st.Hash, rd.Hash, "the reader sees the bytes the store wrote")
	assert.True(t, rd.InArena, "the view lies inside the reader's mapping of the arena")
	assert.Equal(t, st.Arena, rd.ArenaPath)
	assert.Equal(t, 2, rd.ArenaMaps, "the reader maps the arena file itself (read-write and read-only)")
	anon := int64(rd.After.RssAnon) - int64(rd.Before.RssAnon)
	shmem := int64(rd.After.RssShmem) - int64(rd.Before.RssShmem)
	assert.Less(t, anon, int64(32*mib), "private memory grew by %s reading %s: a copy?", mb(uint64(max(anon, 0))), mb(size))
	assert.GreaterOrEqual(t, shmem, int64(size*3/4), "the object's pages are the arena's shared pages")

	t.Logf("store: up in %v (fill %d ms), RSS %v", storeUp, st.WriteMillis, st.RSS)
	t.Logf("reader: before Get: %v", rd.Before)
	t.Logf("reader: after Get+hash of %s: %v", mb(size), rd.After)
	t.Logf("reader: RssAnon %+d KiB, RssShmem %+d KiB; join+connect %d ms, Get %d µs, xxhash %d ms; process %v",
		anon>>10, shmem>>10, rd.ConnectMillis, rd.GetMicros, rd.HashMillis, readerTook)
}

// TestCrossProcessClientAPI drives a store in another process through
// plasma.Connect from this process: every Client call goes over the bus,
// the bytes through this process's own mapping of the arena.
func TestCrossProcessClientAPI(t *testing.T) {
	const (
		capacity = 8 * mib
		grace    = 300 * time.Millisecond
	)
	_, st := startStore(t, "api-store", shmDir(t), t.TempDir(), capacity, "-grace", grace.String())
	bn := startBusNode(t, bus.Config{Node: "api-client", URL: st.URL, Token: st.Token})
	ctx := ctxTimeout(t, 30*time.Second)
	require.NoError(t, bn.node.WaitForNode(ctx, st.Node))
	c, err := plasma.Connect(ctx, bn.sys, st.Node)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	require.Equal(t, st.Arena, c.Arena().Path())
	require.Equal(t, uint64(capacity), c.Arena().Size())

	stats := func() plasma.Stats {
		t.Helper()
		s, err := c.Stats(ctx, true)
		require.NoError(t, err)
		return s
	}
	info := func(s plasma.Stats, oid plasma.ObjectID) *plasma.ObjectInfo {
		for i := range s.ObjectList {
			if s.ObjectList[i].ID == oid {
				return &s.ObjectList[i]
			}
		}
		return nil
	}
	has := func(oid plasma.ObjectID) bool {
		t.Helper()
		ok, err := c.Contains(ctx, oid)
		require.NoError(t, err)
		return ok
	}

	small, large := pattern(1000, 1), pattern(2*mib, 2)
	smallID, largeID, missing := id("small"), id("large"), id("missing")
	require.NoError(t, c.Put(ctx, smallID, small), "a small value travels with the request")
	require.NoError(t, c.Put(ctx, largeID, large, plasma.Pinned()), "a large one is written into the arena by this process")
	assert.ErrorIs(t, c.Put(ctx, smallID, small), plasma.ErrObjectExists, "error identity survives the bus")
	assert.True(t, has(smallID))
	assert.True(t, has(largeID))
	assert.False(t, has(missing))

	views, err := c.Get(ctx, []plasma.ObjectID{smallID, largeID, missing}, 0)
	require.NoError(t, err)
	require.Len(t, views, 3)
	require.NotNil(t, views[0])
	require.NotNil(t, views[1])
	assert.Nil(t, views[2], "a missing object has no view")
	assert.Equal(t, small, views[0].Data())
	assert.Equal(t, xxhash.Sum64(large), xxhash.Sum64(views[1].Data()))
	assert.True(t, c.Arena().Contains(views[0].Data()))
	assert.True(t, c.Arena().Contains(views[1].Data()))

	s := stats()
	assert.Equal(t, 2, s.Objects)
	require.Len(t, s.ObjectList, 2)
	assert.Equal(t, largeID, s.ObjectList[0].ID, "largest first")
	assert.Equal(t, plasma.ObjectInfo{ID: largeID, Size: 2 * mib, State: "sealed", Readers: 1, Pinned: true, InMemory: true},
		withoutTime(s.ObjectList[0]))
	assert.Equal(t, plasma.ObjectInfo{ID: smallID, Size: 1000, State: "sealed", Readers: 1, InMemory: true},
		withoutTime(s.ObjectList[1]))
	assert.Equal(t, uint64(2*mib+1000), s.Held)
	assert.Equal(t, uint64(2*mib), s.Pinned)
	assert.GreaterOrEqual(t, s.Used, uint64(2*mib+1000))
	assert.Equal(t, st.Arena, s.ArenaPath)

	begin := time.Now()
	_, err = c.GetOne(ctx, missing, 100*time.Millisecond)
	assert.ErrorIs(t, err, plasma.ErrGetTimeout)
	assert.GreaterOrEqual(t, time.Since(begin), 100*time.Millisecond)

	require.NoError(t, c.Pin(ctx, smallID))
	require.NoError(t, c.Unpin(ctx, largeID))
	s = stats()
	assert.True(t, info(s, smallID).Pinned)
	assert.False(t, info(s, largeID).Pinned)
	assert.Equal(t, uint64(1000), s.Pinned)
	assert.ErrorIs(t, c.Pin(ctx, missing), plasma.ErrNoObject)

	// Release is one-way: the store sees it a moment later.
	require.NoError(t, views[0].Release())
	require.NoError(t, views[1].Release())
	require.Eventually(t, func() bool { return stats().Held == 0 }, 5*time.Second, 10*time.Millisecond)

	// Delete while held: nobody can get it any more; it goes at the last
	// release.
	v, err := c.GetOne(ctx, largeID, 0)
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, largeID))
	assert.False(t, has(largeID))
	_, err = c.GetOne(ctx, largeID, 0)
	assert.ErrorIs(t, err, plasma.ErrGetTimeout)
	if li := info(stats(), largeID); assert.NotNil(t, li) {
		assert.True(t, li.Deleted)
		assert.Equal(t, 1, li.Readers)
	}
	assert.Equal(t, xxhash.Sum64(large), xxhash.Sum64(v.Data()), "a held view stays valid after Delete")
	require.NoError(t, v.Release())
	require.Eventually(t, func() bool { return info(stats(), largeID) == nil }, 5*time.Second, 10*time.Millisecond)
	// Unheld: gone at once.
	require.NoError(t, c.Delete(ctx, smallID))
	s = stats()
	assert.Zero(t, s.Objects)
	assert.Zero(t, s.Used)

	// Create, write in place, abort; create, write, seal.
	b, err := c.Create(ctx, id("aborted"), mib)
	require.NoError(t, err)
	require.Len(t, b.Data, mib)
	copy(b.Data, pattern(mib, 5))
	assert.Equal(t, "created", info(stats(), id("aborted")).State)
	assert.False(t, has(id("aborted")), "not readable before Seal")
	require.NoError(t, b.Abort(ctx))
	assert.Nil(t, info(stats(), id("aborted")))
	b, err = c.Create(ctx, id("sealed"), mib)
	require.NoError(t, err)
	copy(b.Data, pattern(mib, 6))
	require.NoError(t, b.Seal(ctx))
	v, err = c.GetOne(ctx, id("sealed"), 0)
	require.NoError(t, err)
	assert.Equal(t, xxhash.Sum64(pattern(mib, 6)), xxhash.Sum64(v.Data()))
	require.NoError(t, v.Release())
	require.NoError(t, c.Delete(ctx, id("sealed")))

	// A second client's holds end when it closes.
	c2, err := plasma.Connect(ctx, bn.sys, st.Node)
	require.NoError(t, err)
	require.NoError(t, c.Put(ctx, id("shared"), pattern(100, 7)))
	_, err = c2.GetOne(ctx, id("shared"), 0)
	require.NoError(t, err)
	assert.Equal(t, 1, info(stats(), id("shared")).Readers)
	require.NoError(t, c2.Close(ctx))
	require.Eventually(t, func() bool { return info(stats(), id("shared")).Readers == 0 }, 5*time.Second, 10*time.Millisecond,
		"closing a client ends its holds")
	_, err = c2.GetOne(ctx, id("shared"), 0)
	assert.ErrorIs(t, err, plasma.ErrClosed)
	require.NoError(t, c.Delete(ctx, id("shared")))

	// Full: a held object cannot be evicted or spilled; a create that
	// does not fit beside it fails after the grace period with the store's
	// error, intact across the bus.
	b, err = c.Create(ctx, id("held"), 6*mib, plasma.Pinned())
	require.NoError(t, err)
	require.NoError(t, b.Seal(ctx))
	held, err := c.GetOne(ctx, id("held"), 0)
	require.NoError(t, err)
	begin = time.Now()
	_, err = c.Create(ctx, id("too-much"), 4*mib)
	took := time.Since(begin)
	var full *plasma.ObjectStoreFullError
	require.ErrorAs(t, err, &full)
	assert.ErrorIs(t, err, &plasma.ObjectStoreFullError{})
	assert.Equal(t, id("too-much"), full.ID)
	assert.Equal(t, uint64(4*mib), full.Requested)
	assert.Equal(t, uint64(capacity), full.Capacity)
	assert.Equal(t, uint64(6*mib), full.Held)
	assert.Equal(t, uint64(6*mib), full.Pinned)
	assert.GreaterOrEqual(t, took, grace, "the create waited for the grace period")
	assert.Less(t, took, grace+5*time.Second)
	assert.Equal(t, uint64(1), stats().StoreFullErrors)
	assert.False(t, has(id("too-much")))
	t.Logf("store full after %v: %v", took, err)
	// Once released and unpinned, the object can be evicted to make room.
	require.NoError(t, held.Release())
	require.NoError(t, c.Unpin(ctx, id("held")))
	require.Eventually(t, func() bool { return stats().Held == 0 }, 5*time.Second, 10*time.Millisecond)
	b, err = c.Create(ctx, id("too-much"), 4*mib)
	require.NoError(t, err)
	require.NoError(t, b.Seal(ctx))
	s = stats()
	assert.False(t, has(id("held")), "evicted")
	assert.NotZero(t, s.Evictions)
}

func withoutTime(o plasma.ObjectInfo) plasma.ObjectInfo {
	o.LastAccess = time.Time{}
	return o
}

// TestKillNineStoreLeavesFilesForSweep: a store killed with -9 cannot
// remove its arena or its spill directory; the next store opened on the
// host sweeps them, and keeps those of a store that is still alive.
func TestKillNineStoreLeavesFilesForSweep(t *testing.T) {
	dir, spill := shmDir(t), t.TempDir()
	dead, ds := startStore(t, "dead", dir, spill, 4*mib,
		"-spill-threshold", "0.5", "-min-spill", "1", "-pinned", "6", "-pinned-size", strconv.Itoa(mib), "-wait-spilled", "-grace", "10s")
	require.Positive(t, ds.SpillFiles, "the store spilled: %+v", ds)
	t.Logf("dying store: %d objects, %d spilled into %d files, %s of the arena used", ds.Objects, ds.SpilledObjects, ds.SpillFiles, mb(ds.Used))
	_, live := startStore(t, "live", dir, spill, mib)

	spillFiles, err := filepath.Glob(filepath.Join(ds.SpillDir, "spill-*"))
	require.NoError(t, err)
	require.NotEmpty(t, spillFiles)

	dead.Kill()
	assert.True(t, exists(ds.Arena), "a killed store leaves its arena")
	assert.True(t, exists(ds.SpillDir), "and its spill directory")
	for _, f := range spillFiles {
		assert.True(t, exists(f), "and its spill files")
	}

	s, err := plasma.Open(plasma.Config{Name: "sweeper", Dir: dir, SpillDir: spill, Capacity: mib, NoPrefault: true, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	assert.False(t, exists(ds.Arena), "the dead store's arena is swept")
	assert.False(t, exists(ds.SpillDir), "the dead store's spill directory is swept")
	assert.True(t, exists(live.Arena), "a live store's arena is kept")
	assert.True(t, exists(live.SpillDir), "a live store's directory is kept")
	assert.True(t, exists(filepath.Join(live.SpillDir, "lock")))

	arenas, _ := filepath.Glob(filepath.Join(dir, "goray-arena-*"))
	dirs, _ := filepath.Glob(filepath.Join(spill, "goray-store-*"))
	assert.ElementsMatch(t, []string{live.Arena, s.Arena().Path()}, arenas)
	assert.Len(t, dirs, 2, "the live store's and the sweeper's: %v", dirs)
}

// TestKillNineClientReleasesHolds: a client process killed with -9 while
// it holds views and is writing an object: once the bus notices its node
// is down, the store drops its holds, frees what was deleted meanwhile,
// aborts what it was writing, and a Delete frees the rest.
func TestKillNineClientReleasesHolds(t *testing.T) {
	s, err := plasma.Open(plasma.Config{Name: "kill-store", Dir: shmDir(t), SpillDir: t.TempDir(), Capacity: 64 * mib,
		NoPrefault: true, Logger: quiet})
	require.NoError(t, err)
	bn := startBusNode(t, bus.Config{Node: "kill-store", Listen: "127.0.0.1:0", Token: bus.NewToken(),
		HeartbeatInterval: bus.DefaultHeartbeatInterval, NodeTimeout: bus.DefaultNodeTimeout})
	// Closed before the bus node and the actor system (cleanups run last
	// first), so that no request is left waiting in the store's actor.
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.Serve(bn.sys)
	require.NoError(t, err)
	c, err := s.Client()
	require.NoError(t, err)
	ctx := ctxTimeout(t, 30*time.Second)

	kept, deleted, unsealed := id("kept"), id("deleted"), id("unsealed")
	for i, oid := range []plasma.ObjectID{kept, deleted} {
		b, err := c.Create(ctx, oid, uint64(8*mib*(i+1)))
		require.NoError(t, err)
		copy(b.Data, pattern(len(b.Data), byte(i)))
		require.NoError(t, b.Seal(ctx))
	}
	rp, rd := startReader(t, "kill-reader", "kill-store", bn.node.ClientURL(), bn.node.Token(),
		"-id", kept.String()+","+deleted.String(), "-create-id", unsealed.String(), "-create-size", strconv.Itoa(mib), "-hold")
	require.Len(t, rd.Objects, 2)
	assert.Equal(t, xxhash.Sum64(pattern(8*mib, 0)), rd.Objects[0].Hash)
	assert.Equal(t, xxhash.Sum64(pattern(16*mib, 1)), rd.Objects[1].Hash)

	infos := func() (plasma.Stats, map[plasma.ObjectID]plasma.ObjectInfo) {
		st, err := c.Stats(ctx, true)
		require.NoError(t, err)
		m := map[plasma.ObjectID]plasma.ObjectInfo{}
		for _, o := range st.ObjectList {
			m[o.ID] = o
		}
		return st, m
	}
	st, objs := infos()
	assert.Equal(t, uint64(24*mib), st.Held)
	assert.Equal(t, 1, objs[kept].Readers)
	assert.Equal(t, 1, objs[deleted].Readers)
	assert.Equal(t, "created", objs[unsealed].State)
	require.NoError(t, c.Delete(ctx, deleted))
	_, objs = infos()
	assert.True(t, objs[deleted].Deleted, "deleted, waiting for the reader")

	killed := time.Now()
	rp.Kill()
	var took time.Duration
	require.Eventually(t, func() bool {
		st, objs := infos()
		if st.Held != 0 || objs[kept].Readers != 0 {
			return false
		}
		took = time.Since(killed)
		return true
	}, 15*time.Second, 20*time.Millisecond, "the dead client's holds are released")
	t.Logf("holds of the killed client released %v after kill -9 (bus defaults: heartbeat %v, node timeout %v)",
		took, bus.DefaultHeartbeatInterval, bus.DefaultNodeTimeout)
	assert.Less(t, took, 10*time.Second)

	st, objs = infos()
	assert.Equal(t, 1, st.Objects, "only the kept object is left: %+v", st.ObjectList)
	assert.Contains(t, objs, kept)
	assert.NotContains(t, objs, deleted, "freed at the dead client's release")
	assert.NotContains(t, objs, unsealed, "what the dead client was writing is aborted")
	assert.Equal(t, uint64(8*mib), st.Used)

	require.NoError(t, c.Delete(ctx, kept))
	st, _ = infos()
	assert.Zero(t, st.Objects)
	assert.Zero(t, st.Used, "Delete frees the object once nobody holds it")
	ok, err := c.Contains(ctx, kept)
	require.NoError(t, err)
	assert.False(t, ok)
}

// Fast failure detection for the tests that need a node noticed down
// quickly: every node of such a test beats this often.
var fastBeat = []string{"-heartbeat", "100ms", "-node-timeout", "600ms"}

func fastBusConfig(node, url, token string) bus.Config {
	return bus.Config{Node: node, URL: url, Token: token, HeartbeatInterval: 100 * time.Millisecond, NodeTimeout: 600 * time.Millisecond}
}

// connectTo joins this process to the store process's bus as a client
// node and connects to the store.
func connectTo(t *testing.T, st storeReady, node string, cfg bus.Config) (*plasma.Client, context.Context) {
	t.Helper()
	if cfg.Node == "" {
		cfg = bus.Config{Node: node, URL: st.URL, Token: st.Token}
	}
	bn := startBusNode(t, cfg)
	ctx := ctxTimeout(t, 30*time.Second)
	require.NoError(t, bn.node.WaitForNode(ctx, st.Node))
	c, err := plasma.Connect(ctx, bn.sys, st.Node)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, ctx
}

func readers(t *testing.T, ctx context.Context, c *plasma.Client, oid plasma.ObjectID) (n int, found bool) {
	t.Helper()
	st, err := c.Stats(ctx, true)
	require.NoError(t, err)
	for _, o := range st.ObjectList {
		if o.ID == oid {
			return o.Readers, true
		}
	}
	return 0, false
}

// TestKillNineClientWaitingInGetKeepsStoreUp: a client process is
// killed while its Get waits for an object not yet sealed. The store
// drops the client when the bus reports its node down; when the object is
// then sealed, the waiting Get must end without holding it. (It used to
// hold it for the client that was gone, on a deleted map, and the store
// process panicked: "assignment to entry in nil map".)
func TestKillNineClientWaitingInGetKeepsStoreUp(t *testing.T) {
	sp, st := startStore(t, "getwait-store", shmDir(t), t.TempDir(), 16*mib, append([]string{"-size", strconv.Itoa(mib)}, fastBeat...)...)
	c, ctx := connectTo(t, st, "", fastBusConfig("getwait-client", st.URL, st.Token))
	main := mustParse(t, st.ID)
	later := id("sealed-later")

	rp, _ := startReader(t, "getwait-reader", st.Node, st.URL, st.Token,
		append([]string{"-id", st.ID, "-wait-get", later.String(), "-wait-for", "60s", "-hold"}, fastBeat...)...)
	time.Sleep(300 * time.Millisecond) // the Get reaches the store and waits
	rp.Kill()
	require.Eventually(t, func() bool { n, _ := readers(t, ctx, c, main); return n == 0 }, 10*time.Second, 20*time.Millisecond,
		"the killed client is dropped")

	// Sealing the object the dead client was waiting for wakes its Get.
	putErr := c.Put(ctx, later, pattern(100, 9))
	if !assert.True(t, sp.Alive(time.Second), "the store process died after the object was sealed; stderr:\n%s", tail(sp.Stderr(), 1500)) {
		return
	}
	require.NoError(t, putErr)
	n, found := readers(t, ctx, c, later)
	assert.True(t, found)
	assert.Zero(t, n, "nobody holds the object for the dead client")
}

// TestKillNineClientWaitingInCreateLeaksNothing: a client process is
// killed while its Create waits for room. Once the store drops the client
// (the bus reports its node down), the waiting Create ends: when room is
// freed later, nothing is allocated for the dead client. (It used to go
// on and leave an object created for nobody, its memory lost until the
// store closed.)
func TestKillNineClientWaitingInCreateLeaksNothing(t *testing.T) {
	_, st := startStore(t, "createwait-store", shmDir(t), t.TempDir(), 8*mib,
		append([]string{"-size", strconv.Itoa(6 * mib), "-grace", "6s"}, fastBeat...)...)
	c, ctx := connectTo(t, st, "", fastBusConfig("createwait-client", st.URL, st.Token))
	main := mustParse(t, st.ID)
	leaked := id("created-for-the-dead")
	// Held, so the reader's Create cannot evict it.
	view, err := c.GetOne(ctx, main, 0)
	require.NoError(t, err)

	rp, _ := startReader(t, "createwait-reader", st.Node, st.URL, st.Token,
		append([]string{"-id", st.ID, "-wait-create", leaked.String(), "-create-size", strconv.Itoa(4 * mib), "-hold"}, fastBeat...)...)
	time.Sleep(300 * time.Millisecond) // the Create reaches the store and waits for room
	rp.Kill()
	require.Eventually(t, func() bool { n, _ := readers(t, ctx, c, main); return n == 1 }, 5*time.Second, 20*time.Millisecond,
		"the killed client is dropped")

	// Room: the object becomes evictable, but nobody waits for it now.
	require.NoError(t, view.Release())
	time.Sleep(300 * time.Millisecond)
	n, found := readers(t, ctx, c, main)
	assert.True(t, found, "no create for the dead client evicted the object")
	assert.Zero(t, n)
	s, err := c.Stats(ctx, true)
	require.NoError(t, err)
	for _, o := range s.ObjectList {
		assert.NotEqual(t, leaked, o.ID, "an object is left %s for a client that is gone (%s of %s used): %+v",
			o.State, mb(s.Used), mb(s.Capacity), o)
	}
	assert.Equal(t, 1, s.Objects)
	require.NoError(t, c.Delete(ctx, main))
	s, err = c.Stats(ctx, false)
	require.NoError(t, err)
	assert.Zero(t, s.Used)
}

// TestProcessSealedPinnedObjectAboveThresholdIsSpilled: a pinned
// object whose Create takes the store above its spill threshold is
// spilled once sealed. (Create used to wake the spiller before the object
// was sealed and spillable, and Seal woke nobody, so the store stayed
// above its threshold until some later Create or Pin.)
func TestProcessSealedPinnedObjectAboveThresholdIsSpilled(t *testing.T) {
	_, st := startStore(t, "spill-store", shmDir(t), t.TempDir(), 4*mib, "-spill-threshold", "0.5", "-min-spill", "1", "-no-prefault")
	c, ctx := connectTo(t, st, "spill-client", bus.Config{})
	big := id("pinned-3MiB")
	b, err := c.Create(ctx, big, 3*mib, plasma.Pinned())
	require.NoError(t, err)
	copy(b.Data, pattern(3*mib, 4))
	require.NoError(t, b.Seal(ctx))
	spilled := func() bool {
		s, err := c.Stats(ctx, false)
		require.NoError(t, err)
		return s.SpilledObjects > 0 && s.Used <= 2*mib
	}
	assert.Eventually(t, spilled, 1500*time.Millisecond, 20*time.Millisecond,
		"3 MiB pinned in a 4 MiB store with spill threshold 0.5: it should be spilled")
	// Pinning it again runs the check Seal lacks, and the spill happens.
	require.NoError(t, c.Pin(ctx, big))
	require.Eventually(t, spilled, 5*time.Second, 20*time.Millisecond)
}

func mustParse(t *testing.T, s string) plasma.ObjectID {
	t.Helper()
	oid, err := plasma.ParseObjectID(s)
	require.NoError(t, err)
	return oid
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
