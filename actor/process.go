package actor

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/mailbox"
)

// actorProcess is a local actor: its mailbox and its context. It is the
// mailbox's Invoker, so all its methods but sendUser and sendSystem run on
// the actor's own turn, one at a time.
type actorProcess struct {
	// Read by senders, next to the mailbox's producer side; the context's
	// per-message fields follow the mailbox's consumer side.
	dead     atomic.Bool // set once the actor has stopped
	exported atomic.Bool // registered since its PID left the process
	named    bool        // registered under its id
	mb       mailbox.Mailbox[envelope]
	ctx      Context
}

type lifeState uint8

const (
	stateAlive lifeState = iota
	stateRestarting
	stateStopping
	stateDead
)

// extras holds what only some actors use, so that an idle plain actor stays
// small.
type extras struct {
	children     children
	watchers     pidSet
	watching     pidSet
	behaviors    []ReceiveFunc
	stash        []envelope
	escalated    []*PID           // children suspended while a failure is escalated
	held         []*sysTerminated // arrived while failed or restarting
	heldFailures []*sysFailure    // children's failures that arrived while failed
	restarting   any              // reason of the restart in progress
	logger       *slog.Logger

	timeout      time.Duration
	timer        *time.Timer
	lastActivity time.Time
}

func (p *actorProcess) init(s *System, props *Props, self, parent *PID, named bool) {
	p.named = named
	p.ctx = Context{sys: s, props: props, proc: p, self: self, parent: parent}
	p.ctx.actor = props.producer()
	var bounded *mailbox.Bounded[envelope]
	if props.bounded > 0 {
		bounded = mailbox.NewBounded[envelope](props.bounded, props.policy)
	}
	p.mb.Init(p, s.pool, props.throughput, bounded)
	p.mb.UseSegments(&s.segments)
}

func (p *actorProcess) sendUser(ctx context.Context, sender *PID, msg any) error {
	return p.deliver(ctx, sender, msg, false, nil)
}

// deliver posts a user message; inline runs the actor on the calling
// goroutine if it was idle, for a caller that is about to wait for it;
// near is the worker the sending actor runs on, if any.
func (p *actorProcess) deliver(ctx context.Context, sender *PID, msg any, inline bool, near *mailbox.Worker) error {
	if p.dead.Load() {
		p.ctx.sys.deadLetter(p.ctx.self, msg, sender)
		return nil
	}
	var (
		dropped envelope
		didDrop bool
		err     error
	)
	if inline {
		dropped, didDrop, err = p.mb.PostAndRun(ctx, envelope{msg: msg, sender: sender})
	} else {
		dropped, didDrop, err = p.mb.Post(ctx, envelope{msg: msg, sender: sender}, near)
	}
	if didDrop {
		p.ctx.sys.deadLetter(p.ctx.self, dropped.msg, dropped.sender)
	}
	if err != nil {
		err = fmt.Errorf("send to %v: %w", p.ctx.self, err)
		if f, ok := senderFuture(sender); ok {
			f.complete(nil, err) // the request failed for this reason, not as a dead letter
		}
		p.ctx.sys.deadLetter(p.ctx.self, msg, sender)
		return err
	}
	return nil
}

func (p *actorProcess) sendSystem(msg any) { p.mb.PostSystem(msg) }

// InvokeUser delivers one user message.
func (p *actorProcess) InvokeUser(e envelope) {
	c := &p.ctx
	if c.state == stateDead {
		c.sys.deadLetter(c.self, e.msg, e.sender)
		return
	}
	if _, ok := e.msg.(poison); ok {
		c.beginStop(ReasonStopped)
		return
	}
	c.receive(e.msg, e.sender)
	if c.x != nil && c.x.timeout > 0 {
		c.touchReceiveTimeout()
	}
}

// InvokeSystem handles one system message.
func (p *actorProcess) InvokeSystem(msg any) {
	c := &p.ctx
	if c.state == stateDead {
		c.afterDeath(msg)
		return
	}
	switch m := msg.(type) {
	case sysStart:
		c.receive(Started{}, nil)
	case *sysStop:
		c.beginStop(m.reason)
	case *sysWatch:
		c.addWatcher(m.watcher)
	case *sysUnwatch:
		c.removeWatcher(m.watcher)
	case *sysTerminated:
		c.handleTerminated(m)
	case *sysFailure:
		c.handleChildFailure(m)
	case *sysRestart:
		c.beginRestart(m.reason)
	case sysResume:
		c.resume()
	case sysTimeout:
		c.handleReceiveTimeout()
	default:
		c.sys.logger.Error("unknown system message", "actor", c.self.String(), "type", fmt.Sprintf("%T", msg))
	}
}

// Failure reports a panic in Receive to the parent; the mailbox is already
// suspended.
func (p *actorProcess) Failure(reason any, stack []byte) {
	c := &p.ctx
	msg := c.msg
	c.msg, c.sender = nil, nil
	switch c.state {
	case stateStopping, stateDead:
		// Nothing left to supervise: the actor is on its way out.
		c.sys.logger.Error("actor panicked while stopping", "actor", c.self.String(), "reason", reason)
		c.proc.mb.Resume()
		return
	}
	c.sys.logger.Error("actor failed", "actor", c.self.String(), "reason", fmt.Sprint(reason), "message_type", fmt.Sprintf("%T", msg))
	c.fail(reason, stack, msg)
}

// afterDeath answers system messages sent to an actor that is gone.
func (c *Context) afterDeath(msg any) {
	if w, ok := msg.(*sysWatch); ok {
		c.sys.resolve(w.watcher).sendSystem(&sysTerminated{pid: c.self, reason: c.deathReason})
	}
}

// fail reports a failure of this actor to its supervisor.
func (c *Context) fail(reason any, stack []byte, msg any) {
	c.failed = true
	c.proc.mb.Suspend()
	c.sys.events.Publish(ActorFailed{PID: c.self, Reason: reason, Stack: stack, Message: msg})
	c.sys.resolve(c.parent).sendSystem(&sysFailure{child: c.self, reason: reason, stack: stack, msg: msg})
}

func (c *Context) beginStop(reason TerminationReason) {
	if c.state == stateStopping {
		return
	}
	c.state = stateStopping
	c.deathReason = reason
	c.proc.mb.Suspend()
	c.stopReceiveTimeout()
	c.lifecycle(Stopping{})
	if c.stopChildren() == 0 {
		c.finishStop()
	}
}

func (c *Context) finishStop() {
	c.lifecycle(Stopped{})
	c.state = stateDead
	c.proc.dead.Store(true)
	if c.proc.named {
		c.sys.registry.remove(c.self.ID)
	} else if c.proc.exported.Load() {
		c.sys.registry.removeIf(c.self.ID, c.proc)
	}
	t := &sysTerminated{pid: c.self, reason: c.deathReason}
	if c.x != nil {
		for _, w := range c.x.watchers.all() {
			c.sys.resolve(w).sendSystem(t)
		}
		// Those this actor watched can forget it, or long-lived actors
		// would collect dead watchers.
		unwatch := &sysUnwatch{watcher: c.self}
		for _, pid := range c.x.watching.all() {
			c.sys.resolve(pid).sendSystem(unwatch)
		}
		for _, e := range c.x.stash {
			c.sys.deadLetter(c.self, e.msg, e.sender)
		}
	}
	c.sys.resolve(c.parent).sendSystem(t)
	c.actor, c.x = nil, nil
	// What is still queued, and whatever races in, goes to dead letters.
	c.proc.mb.Close()
	c.proc.mb.Resume()
}

func (c *Context) beginRestart(reason any) {
	if c.state != stateAlive {
		return
	}
	c.state = stateRestarting
	// A sibling restarted by an all-for-one decision has not failed, so
	// its mailbox still flows: the old instance must get nothing more.
	c.proc.mb.Suspend()
	c.lifecycle(Restarting{Reason: reason})
	c.stopReceiveTimeout()
	c.ensureExtras().restarting = reason
	if c.stopChildren() == 0 {
		c.finishRestart()
	}
}

func (c *Context) finishRestart() {
	reason := c.x.restarting
	c.x.restarting = nil
	c.x.behaviors = nil
	c.x.escalated = nil
	c.x.heldFailures = nil // those children were stopped with the old instance
	stash := c.x.stash
	c.x.stash = nil
	c.proc.mb.Requeue(stash)
	c.x.timeout = 0 // a fresh instance sets its own
	c.actor = c.props.producer()
	c.state = stateAlive
	c.failed = false
	c.sys.events.Publish(ActorRestarted{PID: c.self, Reason: reason})
	c.proc.mb.Resume()
	c.receive(Started{}, nil)
	c.deliverHeldTerminations()
}

func (c *Context) resume() {
	c.failed = false
	c.proc.mb.Resume()
	if c.x == nil {
		return
	}
	for _, pid := range c.x.escalated {
		c.sys.resolve(pid).sendSystem(sysResume{})
	}
	c.x.escalated = nil
	if c.x.timeout > 0 {
		c.touchReceiveTimeout()
		c.armReceiveTimeout(c.x.timeout)
	}
	failures := c.x.heldFailures
	c.x.heldFailures = nil
	for _, f := range failures {
		c.handleChildFailure(f)
	}
	c.deliverHeldTerminations()
}

// deliverHeldTerminations delivers the Terminated messages that arrived
// while the actor was failed or restarting, unless it failed again.
func (c *Context) deliverHeldTerminations() {
	for c.x != nil && len(c.x.held) > 0 && !c.failed && c.state == stateAlive {
		t := c.x.held[0]
		c.x.held = c.x.held[1:]
		c.deliverTerminated(t)
	}
}

// stopChildren asks every child to stop and returns how many there are.
func (c *Context) stopChildren() int {
	if c.x == nil || c.x.children.len() == 0 {
		return 0
	}
	for _, pid := range c.x.children.pids {
		pid.proc.sendSystem(stopNormal)
	}
	return c.x.children.len()
}

func (c *Context) handleTerminated(t *sysTerminated) {
	if c.x == nil {
		return
	}
	if c.x.children.remove(t.pid) {
		switch c.state {
		case stateStopping:
			if c.x.children.len() == 0 {
				c.finishStop()
			}
			return
		case stateRestarting:
			// Children stopped by the restart belong to the old instance.
			c.unwatched(t.pid)
			if c.x.children.len() == 0 {
				c.finishRestart()
			}
			return
		}
	}
	switch {
	case c.state == stateStopping || c.state == stateDead:
	case c.failed || c.state == stateRestarting:
		// Held for the instance that will handle messages again.
		c.x.held = append(c.x.held, t)
	default:
		c.deliverTerminated(t)
	}
}

// deliverTerminated passes t to the actor if it watches t's actor.
func (c *Context) deliverTerminated(t *sysTerminated) {
	if c.unwatched(t.pid) {
		c.receive(Terminated{PID: t.pid, Reason: t.reason}, nil)
	}
}

// unwatched removes pid from the watched set and reports whether it was
// there.
func (c *Context) unwatched(pid *PID) bool {
	return c.x.watching.remove(pid)
}

func (c *Context) addWatcher(w *PID) {
	x := c.ensureExtras()
	x.watchers.add(w)
}

func (c *Context) removeWatcher(w *PID) {
	if c.x != nil {
		c.x.watchers.remove(w)
	}
}

// lifecycle delivers Stopping, Stopped or Restarting. A panic there cannot
// be supervised (the instance is on its way out), so it is logged and the
// stop or restart goes on.
func (c *Context) lifecycle(msg any) {
	defer func() {
		if r := recover(); r != nil {
			c.msg, c.sender = nil, nil
			c.sys.logger.Error("actor panicked in lifecycle handler", "actor", c.self.String(),
				"message_type", fmt.Sprintf("%T", msg), "reason", fmt.Sprint(r))
		}
	}()
	c.receive(msg, nil)
}

// Receive timeouts: one timer per actor that sets one, never reset per
// message. Each message records when it arrived; when the timer fires the
// actor checks how long it has really been idle and either delivers
// ReceiveTimeout or sleeps for the remainder.
func (c *Context) touchReceiveTimeout() { c.x.lastActivity = time.Now() }

func (c *Context) armReceiveTimeout(d time.Duration) {
	x := c.x
	if x.timer == nil {
		self := c.self
		x.timer = time.AfterFunc(d, func() { self.proc.sendSystem(sysTimeout{}) })
		return
	}
	x.timer.Reset(d)
}

func (c *Context) stopReceiveTimeout() {
	if c.x != nil && c.x.timer != nil {
		c.x.timer.Stop()
	}
}

func (c *Context) handleReceiveTimeout() {
	x := c.x
	if x == nil || x.timeout <= 0 || c.state != stateAlive || c.failed {
		return // resume re-arms it; a restarted instance sets its own
	}
	if idle := time.Since(x.lastActivity); idle < x.timeout {
		c.armReceiveTimeout(x.timeout - idle)
		return
	}
	x.lastActivity = time.Now()
	c.armReceiveTimeout(x.timeout)
	c.receive(ReceiveTimeout{}, nil)
}
