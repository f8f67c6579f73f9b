package actor

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Context is an actor's view of itself and the runtime while it handles a
// message. It is valid only inside Receive, on the actor's own turn: do not
// keep it or use it from other goroutines.
type Context struct {
	sys    *System
	props  *Props
	proc   *actorProcess
	self   *PID
	parent *PID
	actor  Actor
	msg    any
	sender *PID
	x      *extras

	state       lifeState
	deathReason TerminationReason
	failed      bool // reported a failure, awaiting its supervisor's decision
}

func (c *Context) ensureExtras() *extras {
	if c.x == nil {
		c.x = &extras{}
	}
	return c.x
}

// receive runs the middleware chain, or the behaviour directly.
func (c *Context) receive(msg any, sender *PID) {
	c.msg, c.sender = msg, sender
	if c.props.chain != nil {
		c.props.chain(c)
	} else {
		c.dispatch()
	}
	c.msg, c.sender = nil, nil
}

// dispatch calls the current behaviour: the top of the Become stack, or the
// actor's Receive.
func (c *Context) dispatch() {
	if c.x != nil && len(c.x.behaviors) > 0 {
		c.x.behaviors[len(c.x.behaviors)-1](c)
		return
	}
	c.actor.Receive(c)
}

// Message returns the message being handled.
func (c *Context) Message() any { return c.msg }

// Sender returns the sender of the message being handled, or nil when it
// was sent without one.
func (c *Context) Sender() *PID { return c.sender }

// Self returns the actor's own PID.
func (c *Context) Self() *PID { return c.self }

// Parent returns the parent's PID; for a top-level actor, the root
// guardian's.
func (c *Context) Parent() *PID { return c.parent }

// System returns the actor system.
func (c *Context) System() *System { return c.sys }

// Actor returns the current actor instance.
func (c *Context) Actor() Actor { return c.actor }

// Logger returns a logger that names this actor.
func (c *Context) Logger() *slog.Logger {
	x := c.ensureExtras()
	if x.logger == nil {
		x.logger = c.sys.logger.With("actor", c.self.String())
	}
	return x.logger
}

// Children returns the PIDs of the actor's live children.
func (c *Context) Children() []*PID {
	if c.x == nil {
		return nil
	}
	return c.x.children.appendTo(make([]*PID, 0, c.x.children.len()))
}

// Respond sends msg to the sender of the current message; without a sender
// it goes to dead letters.
func (c *Context) Respond(msg any) {
	if c.sender == nil {
		c.sys.deadLetter(nil, msg, c.self)
		return
	}
	c.tell(c.sender, c.self, msg)
}

// Send sends msg to pid without a sender.
func (c *Context) Send(pid *PID, msg any) { c.tell(pid, nil, msg) }

// Forward sends the current message to pid, keeping its original sender.
func (c *Context) Forward(pid *PID) { c.tell(pid, c.sender, c.msg) }

// Request sends msg to pid with this actor as the sender; the reply arrives
// later as an ordinary message.
func (c *Context) Request(pid *PID, msg any) { c.tell(pid, c.self, msg) }

// tell delivers a message from inside Receive. A local actor it wakes runs
// next on this actor's worker, where the message is still in cache.
func (c *Context) tell(pid *PID, sender *PID, msg any) {
	if r := c.sys.remoteFor(pid); r != nil {
		_ = remoteProcess{r: r, pid: pid}.sendUser(context.Background(), sender, msg)
		return
	}
	proc := c.sys.resolve(pid)
	if p, ok := proc.(*actorProcess); ok {
		_ = p.deliver(context.Background(), sender, msg, false, c.proc.mb.Worker())
		return
	}
	_ = proc.sendUser(context.Background(), sender, msg)
}

// RequestFuture sends msg to pid and returns the future reply (timeout 0:
// none). Waiting on it inside Receive is allowed: the worker pool starts a
// stand-in for the duration of the wait.
func (c *Context) RequestFuture(pid *PID, msg any, timeout time.Duration) *Future {
	f := c.sys.request(pid, msg, timeout, true)
	f.worker = c.proc.mb.Worker()
	return f
}

// Spawn starts a child actor. If it cannot (this actor is stopping or
// restarting, or the system is shutting down) it returns a PID whose
// messages go to dead letters; SpawnNamed reports such errors.
func (c *Context) Spawn(props *Props) *PID {
	pid, err := c.spawnChild(props, c.sys.newID(), false)
	if err != nil {
		return c.sys.deadPID(c.sys.newID())
	}
	return pid
}

// SpawnNamed starts a child actor whose id is the parent's id, a slash and
// name. It fails with ErrNameTaken when a sibling has that name.
func (c *Context) SpawnNamed(props *Props, name string) (*PID, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return c.spawnChild(props, c.self.ID+"/"+name, true)
}

func (c *Context) spawnChild(props *Props, id string, named bool) (*PID, error) {
	if c.state != stateAlive {
		return nil, fmt.Errorf("actor: spawn from %v: actor is stopping or restarting", c.self)
	}
	x := c.ensureExtras()
	if x.children.has(id) {
		return nil, fmt.Errorf("spawn %q: %w", id, ErrNameTaken)
	}
	pid, err := c.sys.spawn(props, id, c.self, named)
	if err != nil {
		return nil, err
	}
	x.children.add(pid)
	return pid, nil
}

// Stop stops the actor pid (a child, or any other) after its current
// message.
func (c *Context) Stop(pid *PID) { c.sys.Stop(pid) }

// Poison stops the actor pid after the messages already queued for it.
func (c *Context) Poison(pid *PID) { c.sys.Poison(pid) }

// Watch asks for a Terminated message when pid stops. If pid is already
// gone, Terminated arrives at once.
func (c *Context) Watch(pid *PID) {
	x := c.ensureExtras()
	if x.watching.add(pid) {
		c.sys.resolve(pid).sendSystem(&sysWatch{watcher: c.self})
	}
}

// Unwatch cancels Watch; no Terminated for pid is delivered after it.
func (c *Context) Unwatch(pid *PID) {
	if c.x != nil && c.unwatched(pid) {
		c.sys.resolve(pid).sendSystem(&sysUnwatch{watcher: c.self})
	}
}

// Become makes behavior handle the following messages, on top of the
// current one, until Unbecome. A restart returns to the actor's Receive.
func (c *Context) Become(behavior ReceiveFunc) {
	x := c.ensureExtras()
	x.behaviors = append(x.behaviors, behavior)
}

// Unbecome returns to the behaviour before the last Become.
func (c *Context) Unbecome() {
	if c.x != nil && len(c.x.behaviors) > 0 {
		c.x.behaviors[len(c.x.behaviors)-1] = nil
		c.x.behaviors = c.x.behaviors[:len(c.x.behaviors)-1]
	}
}

// Stash sets the current message aside, with its sender, until UnstashAll.
func (c *Context) Stash() {
	x := c.ensureExtras()
	x.stash = append(x.stash, envelope{msg: c.msg, sender: c.sender})
}

// UnstashAll delivers the stashed messages again, in the order they were
// stashed, before any message still queued. A restart does the same.
func (c *Context) UnstashAll() {
	if c.x == nil || len(c.x.stash) == 0 {
		return
	}
	c.proc.mb.Requeue(c.x.stash)
	c.x.stash = nil
}

// SetReceiveTimeout asks for a ReceiveTimeout message whenever no user
// message has arrived for d. d ≤ 0 turns it off.
func (c *Context) SetReceiveTimeout(d time.Duration) {
	x := c.ensureExtras()
	x.timeout = d
	if d <= 0 {
		c.stopReceiveTimeout()
		return
	}
	c.touchReceiveTimeout()
	c.armReceiveTimeout(d)
}
