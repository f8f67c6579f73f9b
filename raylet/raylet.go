package raylet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/supervisor"
)

// Config configures a raylet.
type Config struct {
	// Head is the bus name of the head node, where the GCS runs. Default
	// gcs.DefaultHead.
	Head string
	// Resources are the node's totals. Nil: DetectResources(). Set
	// resources replace detected ones of the same name; the others stay.
	Resources gcs.Resources
	// Labels describe the node (zone, instance type...).
	Labels map[string]string
	// Address is where the node can be reached, for people.
	Address string
	// IsHead marks the head node's own raylet.
	IsHead bool
	// Role is what the node's process is, for people: "head", "node",
	// "worker" or "driver".
	Role string
	// Logger receives the raylet's logs. Default slog.Default().
	Logger *slog.Logger
}

// Raylet is a node's running raylet.
type Raylet struct {
	sys     *actor.System
	pid     *actor.PID
	r       *raylet
	cancel  context.CancelFunc
	stopped chan struct{}
}

// Start starts the raylet actor on node and registers the node with the
// GCS, waiting (until ctx ends) for the GCS to answer.
func Start(ctx context.Context, node *bus.Node, cfg Config) (*Raylet, error) {
	if cfg.Head == "" {
		cfg.Head = gcs.DefaultHead
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	total := DetectResources()
	maps.Copy(total, cfg.Resources)
	if err := total.Validate(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &raylet{
		sys: node.System(), gcs: gcs.PID(cfg.Head), log: cfg.Logger, ctx: rctx,
		registration: gcs.RegisterNode{
			BusNode: node.Name(), Address: cfg.Address, Labels: cfg.Labels,
			Total: total, Kinds: Kinds(), Head: cfg.IsHead, Role: cfg.Role,
		},
		hosted: make(map[string]*hosted), used: gcs.Resources{}, registered: make(chan struct{}),
	}
	rl := &Raylet{sys: node.System(), r: r, cancel: cancel, stopped: make(chan struct{})}
	// A keeper that fails (a bug in hosted code that got past it) stops;
	// it never takes the raylet down. Its actor is gone, which the GCS
	// learns when the hosted count disagrees and it asks for a Resync.
	stopKeepers := supervisor.OneForOne(supervisor.WithDecider(func(any) supervisor.Directive { return supervisor.Stop }))
	props := actor.PropsFromProducer(func() actor.Actor { return r }, actor.WithMiddleware(rl.onStopped), actor.WithSupervisor(stopKeepers))
	pid, err := rl.sys.SpawnNamed(props, gcs.RayletName)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("raylet: start: %w", err)
	}
	rl.pid = pid
	select {
	case <-r.registered:
		return rl, nil
	case <-ctx.Done():
		_ = rl.Close(context.Background())
		return nil, fmt.Errorf("raylet: register with the GCS on %q: %w", cfg.Head, ctx.Err())
	}
}

func (rl *Raylet) onStopped(next actor.ReceiveFunc) actor.ReceiveFunc {
	return func(c *actor.Context) {
		next(c)
		if _, ok := c.Message().(actor.Stopped); ok {
			close(rl.stopped)
		}
	}
}

// NodeID is the node's current id in the GCS; it changes when the node,
// declared dead, registers anew.
func (rl *Raylet) NodeID() string {
	rl.r.mu.Lock()
	defer rl.r.mu.Unlock()
	return rl.r.nodeID
}

// PID is the raylet actor's PID.
func (rl *Raylet) PID() *actor.PID { return rl.pid }

// Close tells the GCS the node is leaving (so its actors restart
// elsewhere at once), then stops the raylet and the actors it hosts.
func (rl *Raylet) Close(ctx context.Context) error {
	rl.cancel() // no registering anew once the GCS hears the node leave
	if id := rl.NodeID(); id != "" {
		uctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := rl.sys.Request(uctx, rl.r.gcs, &gcs.UnregisterNode{NodeID: id, Cause: "node stopped"})
		cancel()
		if err != nil {
			rl.r.log.Warn("raylet: could not tell the GCS the node is leaving; it will notice by health checks", "err", err)
		}
	}
	rl.sys.Stop(rl.pid)
	select {
	case <-rl.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("raylet: close: %w", ctx.Err())
	}
}

// raylet is the actor.
type raylet struct {
	sys          *actor.System
	gcs          *actor.PID
	log          *slog.Logger
	ctx          context.Context
	registration gcs.RegisterNode
	registered   chan struct{} // closed at the first registration

	mu     sync.Mutex // guards nodeID for NodeID()
	nodeID string     // "" while (re-)registering

	epoch      uint64
	period     time.Duration
	lastCheck  time.Time
	hello      bool // a NodeHello is in flight
	hosted     map[string]*hosted
	used       gcs.Resources // what the hosted actors hold, summed
	reportSeq  uint64
	reportDue  bool
	registerGo bool // a registration is in flight
	spawned    uint64
	seqEpoch   uint64 // the GCS epoch of the last placement handled
	lastSeq    uint64 // and its number
}

type hosted struct {
	info   gcs.ActorInfo
	keeper *actor.PID
	pid    *actor.PID // the actor's, once started
}

// Internal messages.
type (
	registeredMsg struct {
		reply *gcs.RegisterNodeReply
	}
	watchdogTick struct{}
	helloResult  struct {
		nodeID string
		reply  *gcs.NodeHelloReply
	}
	sendReport struct{}
)

func (r *raylet) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		r.register(c.Self())
	case registeredMsg:
		r.onRegistered(c, m.reply)
	case *gcs.HealthCheck:
		if r.currentID() == "" {
			c.Stash() // registering: answered once the node has its id
			return
		}
		r.onHealthCheck(c, m)
	case watchdogTick:
		r.watchdog(c)
	case helloResult:
		r.hello = false
		if m.reply != nil && m.reply.Alive {
			r.lastCheck = time.Now()
		}
		if m.reply != nil && !m.reply.Alive && m.nodeID == r.currentID() {
			r.fence(c, "the GCS declared this node dead")
		}
	case *gcs.NodeDeclaredDead:
		if m.NodeID == r.currentID() {
			r.fence(c, "the GCS declared this node dead")
		}
	case *gcs.SpawnActor:
		if r.currentID() == "" {
			c.Stash() // the GCS placed it under the id it is about to give us
			return
		}
		r.spawn(c, m)
	case *gcs.StopActor:
		r.stopActor(c, m)
	case hostedStarted:
		if h := r.current(m.id, m.keeper); h != nil {
			h.pid = m.pid
			c.Send(r.gcs, &gcs.ActorStarted{ID: m.id, NodeID: r.currentID(), PID: m.pid})
		}
	case hostedRestarted:
		if h := r.current(m.id, m.keeper); h != nil {
			c.Send(r.gcs, &gcs.ActorRestarted{ID: m.id, NodeID: r.currentID(), Cause: m.cause})
		}
	case hostedEnded:
		if h := r.current(m.id, m.keeper); h != nil {
			r.unhost(m.id)
			c.Send(r.gcs, &gcs.ActorDied{ID: m.id, NodeID: r.currentID(), Cause: m.cause, Spawn: m.spawn})
			r.reportLater(c)
		}
	case sendReport:
		r.report(c)
	}
}

// current returns the hosted actor id if keeper is its keeper now.
func (r *raylet) current(id string, keeper *actor.PID) *hosted {
	if h := r.hosted[id]; h != nil && h.keeper.Equal(keeper) {
		return h
	}
	return nil
}

func (r *raylet) currentID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodeID
}

func (r *raylet) setID(id string) {
	r.mu.Lock()
	r.nodeID = id
	r.mu.Unlock()
}

// register asks the GCS for an identity, again and again until it
// answers or the raylet stops; the answer comes back as a message.
func (r *raylet) register(self *actor.PID) {
	if r.registerGo {
		return
	}
	r.registerGo = true
	msg := r.registration
	go func() {
		delay := 50 * time.Millisecond
		for r.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
			res, err := r.sys.Request(ctx, r.gcs, &msg)
			cancel()
			reply, ok := res.(*gcs.RegisterNodeReply)
			if err == nil && ok && reply.Err == "" {
				r.sys.Send(self, registeredMsg{reply: reply})
				return
			}
			if err == nil && ok {
				err = errors.New(reply.Err)
			}
			r.log.Debug("raylet: GCS not reachable yet; retrying", "gcs", r.gcs, "err", err)
			select {
			case <-r.ctx.Done():
			case <-time.After(delay):
			}
			delay = min(2*delay, time.Second)
		}
	}()
}

func (r *raylet) onRegistered(c *actor.Context, reply *gcs.RegisterNodeReply) {
	r.registerGo = false
	r.setID(reply.NodeID)
	r.epoch, r.period, r.lastCheck = reply.Epoch, time.Duration(reply.HealthPeriod), time.Now()
	r.log.Info("raylet: node registered", "node", reply.NodeID, "resources", r.registration.Total.String())
	c.UnstashAll()
	select {
	case <-r.registered:
	default:
		close(r.registered)
		go r.tickWatchdog(c.Self())
	}
}

// tickWatchdog drives the check for a GCS that stopped checking us.
func (r *raylet) tickWatchdog(self *actor.PID) {
	t := time.NewTicker(max(r.period, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.sys.Send(self, watchdogTick{})
		}
	}
}

func (r *raylet) onHealthCheck(c *actor.Context, m *gcs.HealthCheck) {
	id := r.currentID()
	c.Respond(&gcs.HealthReply{NodeID: id, Hosted: len(r.hosted)})
	if id == "" || m.NodeID != id {
		return
	}
	r.lastCheck = time.Now()
	if m.Epoch != r.epoch || m.Resync {
		// The GCS restarted, or its count of our actors is off: tell it
		// what runs here.
		r.epoch = m.Epoch
		var seq uint64
		if r.seqEpoch == m.Epoch {
			seq = r.lastSeq
		}
		c.Send(r.gcs, &gcs.Resync{NodeID: id, Epoch: m.Epoch, Seq: seq, Actors: slices.Sorted(maps.Keys(r.hosted))})
		r.reportLater(c)
	}
}

// watchdog asks the GCS whether this node still counts as alive when no
// health check came for three periods: a node cut off and declared dead
// learns it as soon as it can reach the GCS again.
func (r *raylet) watchdog(c *actor.Context) {
	id := r.currentID()
	if id == "" || r.hello || time.Since(r.lastCheck) < 3*r.period {
		return
	}
	r.hello = true
	f := c.RequestFuture(r.gcs, &gcs.NodeHello{NodeID: id}, r.period)
	self := c.Self()
	go func() {
		res, _ := f.Result(r.ctx)
		reply, _ := res.(*gcs.NodeHelloReply)
		r.sys.Send(self, helloResult{nodeID: id, reply: reply})
	}()
}

// fence stops every hosted actor, without reporting (the GCS has already
// restarted them elsewhere or declared them dead), and registers anew.
func (r *raylet) fence(c *actor.Context, why string) {
	if r.ctx.Err() != nil {
		return // closing: the GCS heard the node leave
	}
	r.log.Warn("raylet: "+why+"; stopping its actors and registering anew", "node", r.currentID(), "actors", len(r.hosted))
	for _, h := range r.hosted {
		c.Send(h.keeper, stopHosted{cause: why})
	}
	clear(r.hosted)
	clear(r.used)
	r.setID("")
	r.register(c.Self())
}
