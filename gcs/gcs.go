package gcs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// Server is a running GCS.
type Server struct {
	pid     *actor.PID
	sys     *actor.System
	g       *gcs
	cancel  context.CancelFunc
	stopped chan struct{}
}

// Start recovers the tables from cfg.StorageDir (if any) and starts the
// GCS actor on node, which must be the head's bus node (named cfg.Head).
func Start(ctx context.Context, node *bus.Node, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if node.Name() != cfg.Head {
		return nil, fmt.Errorf("%w: the GCS runs on the head's bus node %q, not %q", ErrInvalid, cfg.Head, node.Name())
	}
	j, err := openJournal(ctx, cfg.StorageDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	g := newGCS(cfg, node.System(), node.Conn(), node.Subjects(), j)
	data, err := j.load(ctx)
	if err == nil {
		err = g.recover(data)
	}
	if err != nil {
		j.close(ctx)
		return nil, err
	}
	g.epoch++
	g.journalPut(keyEpoch, g.epoch)
	hctx, cancel := context.WithCancel(context.Background())
	g.ctx = hctx
	s := &Server{sys: node.System(), g: g, cancel: cancel, stopped: make(chan struct{})}
	props := actor.PropsFromProducer(func() actor.Actor { return g }, actor.WithMiddleware(s.onStopped))
	if s.pid, err = s.sys.SpawnNamed(props, ActorName); err != nil {
		cancel()
		j.close(ctx)
		return nil, fmt.Errorf("gcs: start the actor: %w", err)
	}
	go g.tick(hctx, s.pid)
	cfg.Logger.Info("gcs: started", "epoch", g.epoch, "nodes", len(g.nodes), "actors", len(g.actors),
		"jobs", len(g.jobs), "storage", storageName(cfg.StorageDir))
	return s, nil
}

func storageName(dir string) string {
	if dir == "" {
		return "memory"
	}
	return dir
}

// onStopped closes stopped once the actor has stopped for good.
func (s *Server) onStopped(next actor.ReceiveFunc) actor.ReceiveFunc {
	return func(c *actor.Context) {
		next(c)
		if _, ok := c.Message().(actor.Stopped); ok {
			close(s.stopped)
		}
	}
}

// PID is the GCS actor's PID.
func (s *Server) PID() *actor.PID { return s.pid }

// Epoch counts the starts of the GCS on its storage: raylets resync when
// it changes.
func (s *Server) Epoch() uint64 { return s.g.epoch }

// Close stops the GCS actor and waits (until ctx ends) for its table
// changes to be stored.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	s.sys.Stop(s.pid)
	var err error
	select {
	case <-s.stopped:
	case <-ctx.Done():
		err = fmt.Errorf("gcs: close: the actor did not stop: %w", ctx.Err())
	}
	// Closed even when ctx ended: the storage lock must not outlive Close.
	s.g.journal.close(ctx)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("gcs: close: table changes may not all be stored: %w", ctx.Err())
	}
	return err
}

// gcs is the actor. Its tables are touched only in Receive, one message
// at a time; the journal's goroutine only sends replies.
type gcs struct {
	cfg      Config
	sys      *actor.System
	conn     *nats.Conn
	subjects bus.Subjects
	journal  *journal
	log      *slog.Logger
	ctx      context.Context // ends with the server: health-check goroutines
	self     *actor.PID

	epoch  uint64
	jobSeq uint64

	nodes     map[string]*NodeInfo
	nodeOrder []string
	ledger    map[string]Resources // total minus what placed actors reserve
	reported  map[string]ResourceReport
	misses    map[string]int
	checking  map[string]bool   // a health check is in flight
	mismatch  map[string]int    // checks in a row whose hosted count disagreed
	nodeSeq   map[string]uint64 // per node: the last placement's number
	placedSeq map[string]uint64 // per actor: its placement's number
	byNode    map[string]map[string]struct{}

	actors     map[string]*ActorInfo
	actorOrder []string
	dead       []string // dead actors still in the table, oldest first
	forgotten  int      // ids in actorOrder no longer in actors
	named      map[nameKey]string
	pending    []string // actors waiting for a node, oldest first
	creators   map[string][]*actor.PID
	waiters    map[string][]waiter

	jobs     map[string]*JobInfo
	jobOrder []string
	kv       map[string]map[string][]byte
}

type nameKey struct{ namespace, name string }

type waiter struct {
	to       *actor.PID
	not      *actor.PID
	deadline int64 // Unix nanoseconds; 0: none
}

func newGCS(cfg Config, sys *actor.System, conn *nats.Conn, subjects bus.Subjects, j *journal) *gcs {
	return &gcs{
		cfg: cfg, sys: sys, conn: conn, subjects: subjects, journal: j, log: cfg.Logger,
		nodes: make(map[string]*NodeInfo), ledger: make(map[string]Resources),
		reported: make(map[string]ResourceReport), misses: make(map[string]int),
		checking: make(map[string]bool), byNode: make(map[string]map[string]struct{}),
		mismatch: make(map[string]int), nodeSeq: make(map[string]uint64), placedSeq: make(map[string]uint64),
		actors: make(map[string]*ActorInfo), named: make(map[nameKey]string),
		creators: make(map[string][]*actor.PID), waiters: make(map[string][]waiter),
		jobs: make(map[string]*JobInfo), kv: make(map[string]map[string][]byte),
	}
}

// Internal messages.
type (
	healthTick   struct{}
	healthResult struct {
		nodeID string
		reply  *HealthReply
		err    error
	}
)

// Receive dispatches the GCS's messages.
func (g *gcs) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		g.self = c.Self()
	case healthTick:
		g.checkHealth()
		g.dropExpiredWaiters()
	case healthResult:
		g.onHealthResult(m)
	case *RegisterNode:
		g.registerNode(c.Sender(), m)
	case *NodeHello:
		g.hello(c, m)
	case *UnregisterNode:
		g.markDead(m.NodeID, cmp.Or(m.Cause, causeStopped))
		g.reply(c.Sender(), &Reply{})
	case *ResourceReport:
		g.onResourceReport(m)
	case *Resync:
		g.resync(m)
	case *RegisterJob:
		g.registerJob(c.Sender(), m)
	case *FinishJob:
		g.finishJob(c.Sender(), m)
	case *CreateActor:
		g.createActor(c.Sender(), m)
	case *GetNamedActor:
		g.getNamed(c.Sender(), m)
	case *WaitActor:
		g.waitActor(c.Sender(), m)
	case *KillActor:
		g.killActor(c.Sender(), m)
	case *ActorStarted:
		g.onStarted(m)
	case *ActorRestarted:
		g.onRestarted(m)
	case *ActorDied:
		g.onDied(m)
	case *ListNodes:
		c.Respond(g.listNodes(m))
	case *ListActors:
		c.Respond(g.listActors(m))
	case *ListJobs:
		c.Respond(g.listJobs(m))
	case *GetStatus:
		c.Respond(g.status())
	case *KVPut:
		g.kvPut(c.Sender(), m)
	case *KVGet:
		c.Respond(g.kvGet(m))
	case *KVDelete:
		g.kvDelete(c.Sender(), m)
	case *KVKeys:
		c.Respond(g.kvKeys(m))
	}
}

// reply answers to once every change made so far is stored.
func (g *gcs) reply(to *actor.PID, msg any) {
	if to == nil {
		return
	}
	g.journal.after(func() { g.sys.Send(to, msg) })
}

// tick sends the actor a health tick each period until ctx ends.
func (g *gcs) tick(ctx context.Context, pid *actor.PID) {
	t := time.NewTicker(g.cfg.HealthPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.sys.Send(pid, healthTick{})
		}
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Keys of the journal. User KV keys are base64url-encoded, since bucket
// keys allow only a few characters.
const (
	keyEpoch  = "meta.epoch"
	keyJobSeq = "meta.jobseq"
	preNode   = "node."
	preActor  = "actor."
	preJob    = "job."
	preKV     = "kv."
)

func kvKey(namespace, key string) string {
	enc := base64.RawURLEncoding
	return preKV + "n" + enc.EncodeToString([]byte(namespace)) + ".k" + enc.EncodeToString([]byte(key))
}

func parseKVKey(k string) (namespace, key string, ok bool) {
	rest, _ := strings.CutPrefix(k, preKV)
	ns, kk, found := strings.Cut(rest, ".")
	if !found || !strings.HasPrefix(ns, "n") || !strings.HasPrefix(kk, "k") {
		return "", "", false
	}
	enc := base64.RawURLEncoding
	n, err1 := enc.DecodeString(ns[1:])
	v, err2 := enc.DecodeString(kk[1:])
	return string(n), string(v), err1 == nil && err2 == nil
}

// journalPut writes v (CBOR) through to key.
func (g *gcs) journalPut(key string, v any) {
	data, err := bus.Marshal(v)
	if err != nil {
		g.journal.failed(key, err)
		return
	}
	g.journal.put(key, data)
}

func (g *gcs) saveNode(n *NodeInfo)   { g.journalPut(preNode+n.ID, n) }
func (g *gcs) saveActor(a *ActorInfo) { g.journalPut(preActor+a.ID, a) }
func (g *gcs) saveJob(j *JobInfo)     { g.journalPut(preJob+j.ID, j) }

// recover rebuilds the tables from the journal's contents.
func (g *gcs) recover(data map[string][]byte) error {
	for k, v := range data {
		var err error
		switch {
		case k == keyEpoch:
			err = bus.Unmarshal(v, &g.epoch)
		case k == keyJobSeq:
			err = bus.Unmarshal(v, &g.jobSeq)
		case strings.HasPrefix(k, preNode):
			n := new(NodeInfo)
			if err = bus.Unmarshal(v, n); err == nil {
				g.nodes[n.ID] = n
			}
		case strings.HasPrefix(k, preActor):
			a := new(ActorInfo)
			if err = bus.Unmarshal(v, a); err == nil {
				g.actors[a.ID] = a
			}
		case strings.HasPrefix(k, preJob):
			j := new(JobInfo)
			if err = bus.Unmarshal(v, j); err == nil {
				g.jobs[j.ID] = j
			}
		case strings.HasPrefix(k, preKV):
			ns, key, ok := parseKVKey(k)
			if ok {
				g.kvSet(ns, key, v)
			}
		}
		if err != nil {
			return fmt.Errorf("gcs: recover %s: %w", k, err)
		}
	}
	g.rebuildIndexes()
	return nil
}

// rebuildIndexes derives orders, ledgers, names and the pending queue
// from recovered tables. An actor that was being placed when the head
// stopped is placed again; its node, if it started it, is told to stop
// that copy when it resyncs.
func (g *gcs) rebuildIndexes() {
	var lost []*ActorInfo
	g.nodeOrder = sortedIDs(g.nodes, func(n *NodeInfo) int64 { return n.Started })
	for _, id := range g.nodeOrder {
		n := g.nodes[id]
		if n.State == NodeAlive {
			g.ledger[id] = n.Total.Clone()
			n.LastSeen = time.Now().UnixNano() // health checks start afresh
		}
	}
	g.actorOrder = sortedIDs(g.actors, func(a *ActorInfo) int64 { return a.Created })
	g.dead = sortedIDs(g.actors, func(a *ActorInfo) int64 { return a.Ended })
	g.dead = slices.DeleteFunc(g.dead, func(id string) bool { return g.actors[id].State != ActorDead })
	for _, id := range g.actorOrder {
		a := g.actors[id]
		if a.State == ActorDead {
			continue
		}
		if a.Spec.Name != "" {
			g.named[nameKey{a.Spec.Namespace, a.Spec.Name}] = id
		}
		if a.State == ActorAlive && g.nodes[a.NodeID] != nil && g.nodes[a.NodeID].State == NodeAlive {
			g.ledger[a.NodeID].sub(a.Spec.Resources)
			g.addToNode(a)
			continue
		}
		if a.State == ActorAlive { // its node died while the GCS was down
			lost = append(lost, a)
			continue
		}
		a.NodeID, a.PID = "", nil
		g.pending = append(g.pending, id)
	}
	for _, a := range lost {
		g.actorLost(a, "node died (while the GCS was down)")
	}
	for _, id := range g.nodeOrder {
		if n := g.nodes[id]; n.State == NodeAlive {
			g.refreshAvailable(n)
		}
	}
	g.jobOrder = sortedIDs(g.jobs, func(j *JobInfo) int64 { return j.Start })
}

func sortedIDs[T any](m map[string]T, at func(T) int64) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		ta, tb := at(m[a]), at(m[b])
		switch {
		case ta < tb:
			return -1
		case ta > tb:
			return 1
		}
		return strings.Compare(a, b)
	})
	return ids
}
