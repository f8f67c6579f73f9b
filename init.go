package goray

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/plasma"
	"github.com/goray-dev/goray/raylet"
)

// Environment variables Init reads.
const (
	EnvAddress   = "GORAY_ADDRESS"    // the head's host:port to join
	EnvRole      = "GORAY_ROLE"       // "worker": serve and never return
	EnvToken     = "GORAY_TOKEN"      // the cluster token
	EnvTokenFile = "GORAY_TOKEN_FILE" // a file holding it
)

// ErrConfig is wrapped by Init's configuration errors.
var ErrConfig = errors.New("goray: invalid configuration")

// ErrShutdown fails calls on a Runtime (and its handles) after Shutdown.
var ErrShutdown = errors.New("goray: runtime shut down")

// Runtime is a process's place in a goray cluster: its bus node, and as
// its role asks, the GCS (on the head), a raylet, an object store and a
// job. Its methods are safe for concurrent use.
type Runtime struct {
	cfg    initConfig
	sys    *actor.System
	node   *bus.Node
	gcs    *gcs.Server
	raylet *raylet.Raylet
	store  *plasma.Store
	gcsPID *actor.PID
	job    gcs.JobInfo
	log    *slog.Logger

	// deadNodes are the bus nodes the GCS declared dead, from its node
	// events: a handle whose actor ran there asks the GCS where it went
	// before it sends, instead of sending into a node that is gone.
	deadMu    sync.Mutex
	deadNodes map[string]bool
	stopWatch func()

	closed      atomic.Bool
	shutdown    sync.Once
	shutdownErr error
}

// Init starts goray in this process. With no address (option or
// GORAY_ADDRESS) it starts a whole single-node cluster inside the
// process, like ray.init(): NATS with no network listener, the GCS, a
// raylet and an object store. With an address it joins that cluster as a
// node of its own. The role (option or GORAY_ROLE) decides the rest: a
// driver registers a job, a worker serves until it is signalled and
// never returns.
func Init(ctx context.Context, opts ...InitOption) (*Runtime, error) {
	cfg, err := loadConfig(opts)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, log: cfg.logger, gcsPID: gcs.PID(gcs.DefaultHead)}
	if err := rt.start(ctx); err != nil {
		rt.Shutdown(context.Background())
		return nil, err
	}
	if cfg.role == RoleWorker {
		rt.serveForever()
	}
	return rt, nil
}

func loadConfig(opts []InitOption) (initConfig, error) {
	cfg := initConfig{role: RoleDriver, nodeIP: "127.0.0.1", logger: slog.Default(), cluster: bus.DefaultCluster}
	for _, o := range opts {
		o(&cfg)
	}
	if r := os.Getenv(EnvRole); r != "" && !cfg.roleSet {
		cfg.role = Role(r)
	}
	if cfg.address == "" && !cfg.head {
		cfg.address = os.Getenv(EnvAddress)
	}
	switch cfg.role {
	case RoleDriver, RoleWorker, RoleNode:
	case RoleClient:
		if cfg.clientURL == "" {
			return cfg, fmt.Errorf("%w: a client needs WithClientURL", ErrConfig)
		}
	default:
		return cfg, fmt.Errorf("%w: role %q; want driver, worker, node or client", ErrConfig, cfg.role)
	}
	if cfg.head && cfg.address != "" {
		return cfg, fmt.Errorf("%w: a head does not join another cluster (drop the address)", ErrConfig)
	}
	if cfg.role == RoleWorker && cfg.address == "" {
		return cfg, fmt.Errorf("%w: GORAY_ROLE=worker needs the head's address (GORAY_ADDRESS)", ErrConfig)
	}
	if cfg.address != "" && cfg.nodeName == gcs.DefaultHead {
		return cfg, fmt.Errorf("%w: %q is the head's node name; a node that joins needs another", ErrConfig, gcs.DefaultHead)
	}
	if err := cfg.tlsFromEnv(); err != nil {
		return cfg, err
	}
	if net.ParseIP(cfg.nodeIP) == nil {
		return cfg, fmt.Errorf("%w: node IP %q is not an IP address", ErrConfig, cfg.nodeIP)
	}
	if cfg.address != "" || cfg.role == RoleClient {
		if err := cfg.findToken(); err != nil {
			return cfg, err
		}
	}
	if cfg.head && cfg.token == "" && cfg.tokenFile == "" {
		if cfg.storage != "" {
			// Kept with the tables: a head started again lets its nodes back in.
			cfg.tokenFile = filepath.Join(cfg.storage, "token")
			if err := os.MkdirAll(cfg.storage, 0o700); err != nil {
				return cfg, fmt.Errorf("goray: storage dir: %w", err)
			}
		} else {
			var b [24]byte
			_, _ = rand.Read(b[:])
			cfg.token = hex.EncodeToString(b[:])
		}
	}
	return cfg, nil
}

// findToken fills the token of a process that joins a cluster.
func (c *initConfig) findToken() error {
	if c.token != "" {
		return nil
	}
	if c.tokenFile != "" {
		// Only a head makes a token: a joining node with a file that is
		// not there would make one up and never be let in.
		if _, err := os.Stat(c.tokenFile); err != nil {
			return fmt.Errorf("%w: no cluster token at %s: copy the head's token file there (the head's session has it)", ErrConfig, c.tokenFile)
		}
		return nil
	}
	if t := os.Getenv(EnvToken); t != "" {
		c.token = t
		return nil
	}
	if f := os.Getenv(EnvTokenFile); f != "" {
		c.tokenFile = f
		return c.findToken()
	}
	f := filepath.Join(SessionRoot(), "session_latest", "token")
	if _, err := os.Stat(f); err != nil {
		return fmt.Errorf("%w: no cluster token: give WithToken/WithTokenFile, set %s or %s, or join from the host of a session (%s)",
			ErrConfig, EnvToken, EnvTokenFile, f)
	}
	c.tokenFile = f
	return nil
}

// SessionRoot is where `goray start` keeps its session directories:
// $TMPDIR/goray.
func SessionRoot() string { return filepath.Join(os.TempDir(), "goray") }

func (rt *Runtime) start(ctx context.Context) error {
	cfg := &rt.cfg
	rt.sys = actor.NewSystem(actor.WithNode(rt.nodeName()), actor.WithLogger(rt.log))
	var err error
	if rt.node, err = bus.Start(ctx, rt.sys, rt.busConfig()); err != nil {
		return fmt.Errorf("goray: start the bus: %w", err)
	}
	if err := rt.watchNodes(); err != nil {
		return err
	}
	local := cfg.address == "" && cfg.role != RoleClient
	if local {
		if rt.gcs, err = gcs.Start(ctx, rt.node, gcs.Config{
			StorageDir: cfg.storage, HealthPeriod: cfg.period, HealthThreshold: cfg.threshold, Logger: rt.log,
		}); err != nil {
			return err
		}
	} else if err := rt.waitForHead(ctx); err != nil {
		return err
	}
	if cfg.role == RoleClient {
		return nil
	}
	if !cfg.noStore {
		if err := rt.openStore(); err != nil {
			return err
		}
	}
	rctx, cancel := boundedContext(ctx, joinTimeout)
	defer cancel()
	if rt.raylet, err = raylet.Start(rctx, rt.node, raylet.Config{
		Resources: cfg.resources, Labels: cfg.labels, Address: rt.node.ClusterURL(),
		IsHead: local, Role: rt.roleName(), Logger: rt.log,
	}); err != nil {
		return err
	}
	if cfg.role == RoleDriver {
		return rt.registerJob(ctx)
	}
	return nil
}

// joinTimeout bounds the wait for the head, and for the GCS to register
// the node, when the caller's context has no deadline: a wrong address
// must fail, not hang.
const joinTimeout = 10 * time.Second

func boundedContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func (rt *Runtime) waitForHead(ctx context.Context) error {
	ctx, cancel := boundedContext(ctx, joinTimeout)
	defer cancel()
	where := cmp.Or(rt.cfg.address, rt.cfg.clientURL)
	rt.log.Info("goray: joining the cluster", "head", where)
	if err := rt.node.WaitForNode(ctx, gcs.DefaultHead); err != nil {
		return fmt.Errorf("goray: cannot reach the head at %s (is it running, and do the token and TLS settings match its?): %w", where, err)
	}
	return nil
}

// roleName is the node's role as the GCS lists it.
func (rt *Runtime) roleName() string {
	if rt.cfg.head {
		return "head"
	}
	return string(rt.cfg.role)
}

// watchNodes follows the GCS's node events.
func (rt *Runtime) watchNodes() error {
	rt.deadNodes = make(map[string]bool)
	stop, err := rt.SubscribeEvents(gcs.TopicNodes, func(e *gcs.Event) {
		if e.Node == nil {
			return
		}
		rt.deadMu.Lock()
		defer rt.deadMu.Unlock()
		if e.Node.State == gcs.NodeDead {
			rt.deadNodes[e.Node.BusNode] = true
		} else {
			delete(rt.deadNodes, e.Node.BusNode) // registered anew
		}
	})
	rt.stopWatch = stop
	return err
}

// declaredDead reports whether the GCS declared the bus node dead (and it
// has not registered anew since).
func (rt *Runtime) declaredDead(busNode string) bool {
	rt.deadMu.Lock()
	defer rt.deadMu.Unlock()
	return rt.deadNodes[busNode]
}

func (rt *Runtime) nodeName() string {
	switch {
	case rt.cfg.nodeName != "":
		return rt.cfg.nodeName
	case rt.cfg.address == "" && rt.cfg.role != RoleClient:
		return gcs.DefaultHead
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "node-"
	if rt.cfg.role == RoleClient {
		prefix = "client-"
	}
	return prefix + hex.EncodeToString(b[:])
}

func (rt *Runtime) busConfig() bus.Config {
	cfg := &rt.cfg
	bc := bus.Config{Cluster: cfg.cluster, Node: rt.sys.Node(), Token: cfg.token, TokenFile: cfg.tokenFile, TLS: cfg.tls, Logger: rt.log}
	switch {
	case cfg.role == RoleClient:
		bc.URL = cfg.clientURL
	case cfg.head:
		bc.Listen = "127.0.0.1:0"
		bc.ClusterListen = net.JoinHostPort(cfg.nodeIP, strconv.Itoa(cfg.port))
	case cfg.address != "":
		bc.Listen = "127.0.0.1:0"
		bc.ClusterListen = net.JoinHostPort(cfg.nodeIP, "0")
		bc.Routes = []string{"nats-route://" + cfg.address}
	}
	return bc
}

func (rt *Runtime) openStore() error {
	store, err := plasma.Open(plasma.Config{Name: rt.sys.Node(), Capacity: rt.storeMemory(), Logger: rt.log})
	if err != nil {
		return fmt.Errorf("goray: object store: %w", err)
	}
	rt.store = store
	if _, err := store.Serve(rt.sys); err != nil {
		return err
	}
	return nil
}

func (rt *Runtime) registerJob(ctx context.Context) error {
	exe, _ := os.Executable()
	res, err := rt.request(ctx, &gcs.RegisterJob{DriverNode: rt.raylet.NodeID(), Namespace: rt.cfg.namespace, Entrypoint: filepath.Base(exe)})
	if err != nil {
		return fmt.Errorf("goray: register the job: %w", err)
	}
	r := res.(*gcs.JobReply)
	if r.Err != "" {
		return fmt.Errorf("goray: register the job: %s", r.Err)
	}
	rt.job = r.Job
	return nil
}

// request asks the GCS, with a 10 s bound when ctx has no deadline.
func (rt *Runtime) request(ctx context.Context, msg any) (any, error) {
	if rt.closed.Load() {
		return nil, ErrShutdown
	}
	ctx, cancel := boundedContext(ctx, 10*time.Second)
	defer cancel()
	return rt.sys.Request(ctx, rt.gcsPID, msg)
}

// serveForever is a worker's life: serve until SIGINT or SIGTERM, then
// shut down and exit.
func (rt *Runtime) serveForever() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	rt.log.Info("goray: worker stopping", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		rt.log.Error("goray: shutdown", "err", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Shutdown ends the job (its non-detached actors die), leaves the
// cluster and stops everything Init started, in reverse order. Calls on
// the Runtime and its handles fail with ErrShutdown from its start;
// concurrent and later calls wait for the first to finish and return its
// result.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.shutdown.Do(func() {
		rt.closed.Store(true)
		rt.shutdownErr = rt.teardown(ctx)
	})
	return rt.shutdownErr
}

func (rt *Runtime) teardown(ctx context.Context) error {
	if rt.job.ID != "" {
		fctx, cancel := boundedContext(ctx, 10*time.Second)
		_, err := rt.sys.Request(fctx, rt.gcsPID, &gcs.FinishJob{JobID: rt.job.ID})
		cancel()
		if err != nil {
			rt.log.Warn("goray: could not tell the GCS the job ended; it ends when the node leaves", "job", rt.job.ID, "err", err)
		}
	}
	var errs []error
	if rt.stopWatch != nil {
		rt.stopWatch()
	}
	if rt.raylet != nil {
		errs = append(errs, rt.raylet.Close(ctx))
	}
	if rt.gcs != nil {
		errs = append(errs, rt.gcs.Close(ctx))
	}
	if rt.store != nil {
		errs = append(errs, rt.store.Close())
	}
	if rt.node != nil {
		errs = append(errs, rt.node.Close(ctx))
	}
	if rt.sys != nil {
		errs = append(errs, rt.sys.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
