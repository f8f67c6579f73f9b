package actor

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/mailbox"
	"github.com/goray-dev/goray/supervisor"
)

// System hosts actors: it spawns top-level actors under its root guardian,
// delivers messages, and shuts the whole tree down.
type System struct {
	node     string
	logger   *slog.Logger
	pool     *mailbox.Pool
	registry *registry
	wheel    *timerWheel
	events   EventStream
	guardian *guardian
	segments mailbox.Segments[envelope] // shared by all unbounded mailboxes

	remote atomic.Pointer[remoteHolder] // transport to other nodes, if any

	nextID      atomic.Uint64
	deadLetters atomic.Uint64
	shutdown    atomic.Bool
}

type systemConfig struct {
	node     string
	logger   *slog.Logger
	workers  int
	guardian supervisor.Strategy
}

// Option configures a System.
type Option func(*systemConfig)

// WithNode names the node this system runs on; PIDs carry it. The default
// is "local".
func WithNode(name string) Option { return func(c *systemConfig) { c.node = name } }

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *systemConfig) { c.logger = l } }

// WithWorkers sets the size of the worker pool that runs actors; the
// default is GOMAXPROCS.
func WithWorkers(n int) Option { return func(c *systemConfig) { c.workers = n } }

// WithGuardianStrategy sets how the root guardian treats failing top-level
// actors. The default stops them (and logs why); Escalate from a top-level
// actor also stops it, since there is nobody above the guardian.
func WithGuardianStrategy(s supervisor.Strategy) Option {
	return func(c *systemConfig) { c.guardian = s }
}

// NewSystem starts an actor system. Call Shutdown to stop it.
func NewSystem(opts ...Option) *System {
	cfg := systemConfig{
		node:     "local",
		logger:   slog.Default(),
		guardian: supervisor.OneForOne(supervisor.WithDecider(func(any) supervisor.Directive { return supervisor.Stop })),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &System{
		node:     cfg.node,
		logger:   cfg.logger,
		pool:     mailbox.NewPool(cfg.workers),
		registry: newRegistry(),
		wheel:    newTimerWheel(),
	}
	s.guardian = newGuardian(s, cfg.guardian)
	return s
}

// Node returns the node name carried by this system's PIDs.
func (s *System) Node() string { return s.node }

// Logger returns the system's logger.
func (s *System) Logger() *slog.Logger { return s.logger }

// EventStream returns the stream of system events.
func (s *System) EventStream() *EventStream { return &s.events }

// DeadLetterCount returns how many messages went to dead letters so far.
func (s *System) DeadLetterCount() uint64 { return s.deadLetters.Load() }

// Spawn starts a top-level actor under the root guardian. After Shutdown
// has begun it returns a PID whose messages all go to dead letters.
func (s *System) Spawn(props *Props) *PID {
	pid, err := s.spawn(props, s.newID(), s.guardian.pid, false)
	if err != nil {
		return s.deadPID(s.newID())
	}
	return pid
}

// SpawnNamed starts a top-level actor with the given name as its id. It
// fails with ErrNameTaken when the name is in use and ErrShutdown once
// Shutdown has begun.
func (s *System) SpawnNamed(props *Props, name string) (*PID, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return s.spawn(props, name, s.guardian.pid, true)
}

// checkName rejects names the runtime cannot register: empty ones and
// those starting with '$', which is reserved for generated ids.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("actor: spawn: empty name")
	}
	if name[0] == '$' {
		return fmt.Errorf("actor: spawn %q: names starting with '$' are reserved", name)
	}
	return nil
}

func (s *System) newID() string {
	return "$" + strconv.FormatUint(s.nextID.Add(1), 36)
}

func (s *System) deadPID(id string) *PID {
	pid := &PID{Node: s.node, ID: id}
	pid.proc = &deadProcess{sys: s, pid: pid}
	return pid
}

// spawn makes and starts an actor, registering it if it is named. The
// parent must record the child before anything can fail it: the guardian
// does it here, an actor's context does it after spawn returns, which is
// early enough since failures reach the parent on its own turn.
//
// Unnamed actors are not registered: their PIDs carry the actor itself and
// their ids are unique by construction, so a registry entry would only cost
// memory and a lock per spawn.
func (s *System) spawn(props *Props, id string, parent *PID, named bool) (*PID, error) {
	if s.shutdown.Load() {
		return nil, ErrShutdown
	}
	p := &actorProcess{}
	pid := &PID{Node: s.node, ID: id, proc: p}
	p.init(s, props, pid, parent, named)
	// Started is queued before anyone can see the actor, so that it comes
	// before any message sent by name or by a racing shutdown.
	p.mb.Prime(sysStart{})
	if named && !s.registry.add(id, p) {
		return nil, fmt.Errorf("spawn %q: %w", id, ErrNameTaken)
	}
	if parent == s.guardian.pid && !s.guardian.adopt(pid) {
		if named {
			s.registry.remove(id)
		}
		return nil, ErrShutdown
	}
	p.mb.Wake()
	return pid, nil
}

// Lookup returns the PID of the live local actor with the given name, or
// nil. Names of children are "parentName/childName".
func (s *System) Lookup(id string) *PID {
	if p := s.registry.get(id); p != nil {
		return p.ctx.self
	}
	return nil
}

// resolve finds the process behind a PID that did not come with one.
func (s *System) resolve(pid *PID) process {
	if pid != nil && pid.proc != nil {
		return pid.proc
	}
	if pid != nil && pid.Node == s.node {
		if p := s.registry.get(pid.ID); p != nil {
			return p
		}
	} else if r := s.remoteFor(pid); r != nil {
		return remoteProcess{r: r, pid: pid}
	}
	return &deadProcess{sys: s, pid: pid}
}

// sendUser delivers a user message to pid from outside an actor. Remote
// PIDs go straight to the transport, which costs no allocation.
func (s *System) sendUser(ctx context.Context, pid, sender *PID, msg any) error {
	if r := s.remoteFor(pid); r != nil {
		return remoteProcess{r: r, pid: pid}.sendUser(ctx, sender, msg)
	}
	return s.resolve(pid).sendUser(ctx, sender, msg)
}

// Send delivers msg to pid without a sender. It never fails: a message
// that cannot be delivered goes to dead letters. To a bounded mailbox with
// the Block policy, Send waits for room; use SendContext to bound the wait.
// To an actor on another node, a message that cannot be sent (its type is
// not registered, say) is logged by the transport and dropped.
func (s *System) Send(pid *PID, msg any) {
	_ = s.sendUser(context.Background(), pid, nil, msg)
}

// SendContext is Send that gives up when ctx ends while waiting for room
// in a full bounded mailbox. It also returns the error of a send to
// another node that failed.
func (s *System) SendContext(ctx context.Context, pid *PID, msg any) error {
	return s.sendUser(ctx, pid, nil, msg)
}

// Request sends msg to pid and waits for the reply, for ctx's deadline or
// cancellation, whichever comes first.
func (s *System) Request(ctx context.Context, pid *PID, msg any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("request to %v: %w", pid, err)
	}
	f := s.newFuture(pid, 0)
	// The caller waits for as long as it takes anyway when ctx can never
	// end: let it run an idle target itself. With a deadline or
	// cancellation it must not, since a slow Receive would hold it past
	// its context.
	s.post(ctx, f, msg, ctx.Done() == nil)
	return f.Result(ctx)
}

// RequestFuture sends msg to pid and returns the future reply, which fails
// with ErrTimeout if no reply came within timeout (0: no timeout). Use it to
// keep many requests in flight.
func (s *System) RequestFuture(pid *PID, msg any, timeout time.Duration) *Future {
	return s.request(pid, msg, timeout, false)
}

func (s *System) request(pid *PID, msg any, timeout time.Duration, blocking bool) *Future {
	f := s.newFuture(pid, timeout)
	f.blocking = blocking
	// A sender blocked on a full bounded mailbox gives up when the future
	// does: at its timeout.
	s.post((*requestContext)(f), f, msg, false)
	return f
}

// post sends a request's message to its target with the future as the
// sender; a send that fails fails the future. inline lets the caller run
// an idle local target itself.
func (s *System) post(ctx context.Context, f *Future, msg any, inline bool) {
	var err error
	if p, ok := s.inlineTarget(f.target, inline); ok {
		err = p.deliver(ctx, &f.pid, msg, true, nil)
	} else {
		err = s.sendUser(ctx, f.target, &f.pid, msg)
	}
	if err != nil {
		f.complete(nil, err)
	}
}

// inlineTarget returns the local actor a request may run on the caller's
// goroutine, resolving the PID only when inline is allowed.
func (s *System) inlineTarget(pid *PID, inline bool) (*actorProcess, bool) {
	if !inline {
		return nil, false
	}
	p, ok := s.resolve(pid).(*actorProcess)
	return p, ok
}

// Stop stops the actor after the message it is processing; messages still
// queued go to dead letters. Its children stop first.
func (s *System) Stop(pid *PID) {
	s.resolve(pid).sendSystem(stopNormal)
}

// Poison stops the actor after the messages queued before the poison.
func (s *System) Poison(pid *PID) {
	_ = s.sendUser(context.Background(), pid, nil, poison{})
}

// Shutdown stops every actor, children before parents, and then the
// system's workers. It returns when all have stopped, or with ctx's error
// when ctx ends first. Spawns fail from the moment it is called.
func (s *System) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	if err := s.guardian.stopAll(ctx); err != nil {
		return fmt.Errorf("actor: shutdown: %w", err)
	}
	s.wheel.close()
	if err := s.pool.Close(ctx); err != nil {
		return fmt.Errorf("actor: shutdown: %w", err)
	}
	return nil
}

// deadLetter counts, logs and publishes an undeliverable message, and fails
// the request it belonged to, if any.
func (s *System) deadLetter(pid *PID, msg any, sender *PID) {
	s.deadLetters.Add(1)
	if f, ok := senderFuture(sender); ok {
		f.complete(nil, ErrDeadLetter)
	} else if r := s.remoteFor(sender); r != nil {
		r.Undeliverable(pid, sender, msg)
	}
	if s.logger.Enabled(context.Background(), slog.LevelDebug) {
		s.logger.Debug("dead letter", "to", pid.String(), "type", fmt.Sprintf("%T", msg))
	}
	s.events.Publish(DeadLetter{PID: pid, Message: msg, Sender: sender})
}

func senderFuture(sender *PID) (*Future, bool) {
	if sender == nil {
		return nil, false
	}
	f, ok := sender.proc.(*Future)
	return f, ok
}

// deadProcess stands for an actor that never was: an unknown PID.
type deadProcess struct {
	sys *System
	pid *PID
}

func (d *deadProcess) sendUser(_ context.Context, sender *PID, msg any) error {
	d.sys.deadLetter(d.pid, msg, sender)
	return nil
}

func (d *deadProcess) sendSystem(msg any) {
	if w, ok := msg.(*sysWatch); ok {
		d.sys.resolve(w.watcher).sendSystem(&sysTerminated{pid: d.pid, reason: ReasonNotFound})
	}
}
