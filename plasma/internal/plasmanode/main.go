// Command plasmanode is one process of a node for the plasma package's
// multi-process tests: either the store (an actor system joined to the bus
// with a client listener, serving a plasma.Store), or a reader, a client
// process of the same node that joins the store's NATS, connects to the
// store with plasma.Connect and reads an object in place.
//
// Each mode prints one JSON line on stdout once it has done its part. The
// store then serves until SIGTERM, SIGINT or the end of its stdin, and
// closes cleanly; a reader with -hold keeps its view the same way, else it
// exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/plasma"
	"github.com/goray-dev/goray/plasma/internal/nodereport"
)

// EchoSubject answers every request with its own payload.
const EchoSubject = "plasmanode.echo"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "plasmanode:", err)
		os.Exit(1)
	}
}

type flags struct {
	mode      string
	node      string
	cluster   string
	token     string
	url       string
	heartbeat time.Duration
	timeout   time.Duration
	debug     bool

	// store
	dir         string
	spill       string
	capacity    uint64
	grace       time.Duration
	threshold   float64
	minSpill    uint64
	noSpill     bool
	noPrefault  bool
	size        int64
	pinned      int
	pinnedSize  uint64
	waitSpilled bool

	// reader
	store      string
	id         string
	hold       bool
	createID   string
	createSize uint64
	waitGet    string
	waitCreate string
	waitFor    time.Duration
}

func run() error {
	var f flags
	flag.StringVar(&f.mode, "mode", "", "store or reader")
	flag.StringVar(&f.node, "node", "", "node name of this process on the bus")
	flag.StringVar(&f.cluster, "cluster", "plasmatest", "cluster name")
	flag.StringVar(&f.token, "token", "", "cluster token (store: default a fresh one)")
	flag.StringVar(&f.url, "url", "", "reader: the store's NATS client URL")
	flag.DurationVar(&f.heartbeat, "heartbeat", 0, "bus heartbeat interval (0: default)")
	flag.DurationVar(&f.timeout, "node-timeout", 0, "bus node timeout (0: default)")
	flag.BoolVar(&f.debug, "debug", false, "log at debug level")

	flag.StringVar(&f.dir, "dir", "", "store: arena directory")
	flag.StringVar(&f.spill, "spill", "", "store: spill directory")
	flag.Uint64Var(&f.capacity, "capacity", 0, "store: arena bytes")
	flag.DurationVar(&f.grace, "grace", 0, "store: create grace period")
	flag.Float64Var(&f.threshold, "spill-threshold", 0, "store: spill threshold")
	flag.Uint64Var(&f.minSpill, "min-spill", 0, "store: least bytes per spill batch")
	flag.BoolVar(&f.noSpill, "no-spill", false, "store: disable spilling")
	flag.BoolVar(&f.noPrefault, "no-prefault", false, "store: do not prefault the arena")
	flag.Int64Var(&f.size, "size", -1, "store: put a test object of this many bytes (-1: none)")
	flag.IntVar(&f.pinned, "pinned", 0, "store: put this many pinned objects")
	flag.Uint64Var(&f.pinnedSize, "pinned-size", 1<<20, "store: bytes per pinned object")
	flag.BoolVar(&f.waitSpilled, "wait-spilled", false, "store: wait until a spill file exists before reporting")

	flag.StringVar(&f.store, "store", "", "reader: the store's node name")
	flag.StringVar(&f.id, "id", "", "reader: hex ids of the objects to read, comma-separated")
	flag.BoolVar(&f.hold, "hold", false, "reader: keep the view until killed or stdin ends")
	flag.StringVar(&f.createID, "create-id", "", "reader: also create (and never seal) this object")
	flag.Uint64Var(&f.createSize, "create-size", 1<<20, "reader: size of the unsealed object (and of -wait-create's)")
	flag.StringVar(&f.waitGet, "wait-get", "", "reader: after the report, Get this object, waiting up to -wait-for")
	flag.StringVar(&f.waitCreate, "wait-create", "", "reader: after the report, Create this object (waiting for room as the store does)")
	flag.DurationVar(&f.waitFor, "wait-for", 30*time.Second, "reader: how long -wait-get waits")
	flag.Parse()

	level := slog.LevelWarn
	if f.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// For a process that waits (the store, a reader with -hold), the end
	// of stdin is the parent's way to say "close cleanly".
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if f.mode == "store" || f.hold {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}

	switch f.mode {
	case "store":
		return runStore(ctx, log, f)
	case "reader":
		return runReader(ctx, log, f)
	}
	return fmt.Errorf("unknown -mode %q", f.mode)
}

// TestObject is the id of the object the store puts with -size.
func testObject() plasma.ObjectID {
	var id plasma.ObjectID
	copy(id[:], "plasmanode-object-01")
	return id
}

func pinnedObject(i int) plasma.ObjectID {
	var id plasma.ObjectID
	copy(id[:], fmt.Sprintf("plasmanode-pinned-%02d", i))
	return id
}

func runStore(ctx context.Context, log *slog.Logger, f flags) (err error) {
	if f.node == "" {
		return errors.New("store: -node is required")
	}
	st, err := plasma.Open(plasma.Config{
		Name:            f.node,
		Dir:             f.dir,
		SpillDir:        f.spill,
		Capacity:        f.capacity,
		CreateGrace:     f.grace,
		SpillThreshold:  f.threshold,
		MinSpillingSize: f.minSpill,
		DisableSpilling: f.noSpill,
		NoPrefault:      f.noPrefault,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	// Closed first on the way out, so that requests still waiting in the
	// store's actor end and the actor system can stop.
	defer func() { err = errors.Join(err, st.Close()) }()

	sys := actor.NewSystem(actor.WithNode(f.node), actor.WithLogger(log))
	if _, err := st.Serve(sys); err != nil {
		return err
	}
	ready := storeReady{Node: f.node, Cluster: f.cluster, Arena: st.Arena().Path(), PID: os.Getpid(), Size: f.size}
	id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(ready.Arena), "goray-arena-"), ".shm")
	ready.SpillDir = filepath.Join(f.spill, "goray-store-"+id)
	if _, err := os.Stat(ready.SpillDir); err != nil {
		return fmt.Errorf("the store's directory is not where expected: %w", err)
	}

	c, err := st.Client()
	if err != nil {
		return err
	}
	if f.size >= 0 {
		start := time.Now()
		b, err := c.Create(ctx, testObject(), uint64(f.size))
		if err != nil {
			return err
		}
		fillInto(b.Data, 7)
		ready.Hash = xxhash.Sum64(b.Data)
		if err := b.Seal(ctx); err != nil {
			return err
		}
		ready.ID = testObject().String()
		ready.WriteMillis = time.Since(start).Milliseconds()
	}
	for i := range f.pinned {
		b, err := c.Create(ctx, pinnedObject(i), f.pinnedSize, plasma.Pinned())
		if err != nil {
			return fmt.Errorf("pinned object %d: %w", i, err)
		}
		fillInto(b.Data, byte(i))
		if err := b.Seal(ctx); err != nil {
			return err
		}
	}
	stats, err := c.Stats(ctx, false)
	for deadline := time.Now().Add(10 * time.Second); err == nil && f.waitSpilled && stats.SpillFiles == 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("no spill file after 10s: %+v", stats)
		}
		time.Sleep(10 * time.Millisecond)
		stats, err = c.Stats(ctx, false)
	}
	if err != nil {
		return err
	}
	ready.Objects, ready.Used, ready.SpillFiles, ready.SpilledObjects = stats.Objects, stats.Used, stats.SpillFiles, stats.SpilledObjects

	token := f.token
	if token == "" {
		token = bus.NewToken()
	}
	node, err := bus.Start(ctx, sys, bus.Config{
		Node: f.node, Cluster: f.cluster, Listen: "127.0.0.1:0", Token: token,
		HeartbeatInterval: f.heartbeat, NodeTimeout: f.timeout, Logger: log,
	})
	if err != nil {
		return err
	}
	ready.URL, ready.Token = node.ClientURL(), node.Token()
	// An echo on the node's own connection: benchmarks measure a bare NATS
	// round trip to this process next to the store's.
	if _, err := node.Conn().Subscribe(EchoSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	ready.RSS, _ = readRSS()
	if err := printJSON(ready); err != nil {
		return err
	}
	<-ctx.Done()
	_ = c.Close(context.Background())
	// The store closes before the actor system stops: see the defer above.
	if err := st.Close(); err != nil {
		return err
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = sys.Shutdown(sctx)
	return node.Close(sctx)
}

func runReader(ctx context.Context, log *slog.Logger, f flags) error {
	if f.node == "" || f.store == "" || f.url == "" || f.id == "" {
		return errors.New("reader: -node, -store, -url and -id are required")
	}
	var ids []plasma.ObjectID
	for _, s := range strings.Split(f.id, ",") {
		id, err := plasma.ParseObjectID(s)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	sys := actor.NewSystem(actor.WithNode(f.node), actor.WithLogger(log))
	start := time.Now()
	node, err := bus.Start(ctx, sys, bus.Config{
		Node: f.node, Cluster: f.cluster, URL: f.url, Token: f.token,
		HeartbeatInterval: f.heartbeat, NodeTimeout: f.timeout, Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = sys.Shutdown(sctx)
		_ = node.Close(sctx)
	}()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := node.WaitForNode(wctx, f.store); err != nil {
		return fmt.Errorf("wait for the store's node: %w", err)
	}
	c, err := plasma.Connect(wctx, sys, f.store)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	rep := readerReport{Node: f.node, PID: os.Getpid(), ArenaPath: c.Arena().Path(), ConnectMillis: time.Since(start).Milliseconds()}
	if rep.Before, err = readRSS(); err != nil {
		return err
	}
	t0 := time.Now()
	views, err := c.Get(wctx, ids, 10*time.Second)
	if err != nil {
		return err
	}
	rep.GetMicros = time.Since(t0).Microseconds()
	t1 := time.Now()
	for i, v := range views {
		if v == nil {
			return fmt.Errorf("object %v not found", ids[i])
		}
		data := v.Data()
		rep.Objects = append(rep.Objects, readObject{
			ID: ids[i].String(), Size: len(data), Hash: xxhash.Sum64(data), InArena: c.Arena().Contains(data),
		})
	}
	rep.HashMillis = time.Since(t1).Milliseconds()
	rep.Size, rep.Hash, rep.InArena = rep.Objects[0].Size, rep.Objects[0].Hash, rep.Objects[0].InArena
	if rep.After, err = readRSS(); err != nil {
		return err
	}
	rep.ArenaMaps = countMaps(rep.ArenaPath)
	if f.createID != "" {
		cid, err := plasma.ParseObjectID(f.createID)
		if err != nil {
			return err
		}
		b, err := c.Create(wctx, cid, f.createSize)
		if err != nil {
			return err
		}
		fillInto(b.Data, 3) // written, never sealed
		rep.Created = cid.String()
	}
	if err := printJSON(rep); err != nil {
		return err
	}
	// Requests that wait in the store, made after the report so that the
	// parent can kill this process while they wait.
	if f.waitGet != "" {
		wid, err := plasma.ParseObjectID(f.waitGet)
		if err != nil {
			return err
		}
		v, err := c.GetOne(ctx, wid, f.waitFor)
		if err == nil {
			views = append(views, v)
		}
		_ = printJSON(map[string]string{"wait_get": fmt.Sprint(err)})
	}
	if f.waitCreate != "" {
		wid, err := plasma.ParseObjectID(f.waitCreate)
		if err != nil {
			return err
		}
		b, err := c.Create(ctx, wid, f.createSize)
		if err == nil {
			_ = b.Abort(ctx)
		}
		_ = printJSON(map[string]string{"wait_create": fmt.Sprint(err)})
	}
	if f.hold {
		<-ctx.Done()
	}
	for _, v := range views {
		_ = v.Release()
	}
	return nil
}

// The reports are shared with the tests that read them.
type (
	storeReady   = nodereport.StoreReady
	readerReport = nodereport.ReaderReport
	readObject   = nodereport.ReadObject
	rss          = nodereport.RSS
)

func readRSS() (rss, error) { return nodereport.ReadRSS() }

func countMaps(path string) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return -1
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(line, path) {
			n++
		}
	}
	return n
}

func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}

// fillInto writes a pattern that depends on seed: one block byte by byte,
// then copies of it.
func fillInto(b []byte, seed byte) {
	block := b[:min(len(b), 4093)]
	for i := range block {
		block[i] = byte(i*31) ^ seed
	}
	for i := len(block); i < len(b); i += len(block) {
		copy(b[i:], block)
	}
}
