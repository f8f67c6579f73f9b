package actor

import (
	"time"

	"github.com/goray-dev/goray/supervisor"
)

// supervise asks strategy about a child's failure and carries out the
// decision on the child (or all children), except escalation itself, which
// is the caller's: an actor fails in turn, the root guardian stops the
// child. It is shared by actors and the root guardian.
func supervise(s *System, sup *PID, strategy supervisor.Strategy, children map[string]*child, ch *child, f *sysFailure) supervisor.Decision {
	d := strategy.Decide(f.reason, &ch.stats)
	s.events.Publish(SupervisionDecided{
		Supervisor: sup, Child: ch.pid, Reason: f.reason,
		Directive: d.Directive, LimitExceeded: d.LimitExceeded,
	})
	each := func(fn func(pid *PID)) {
		if !d.AllChildren {
			fn(ch.pid)
			return
		}
		for _, c := range children {
			fn(c.pid)
		}
	}
	switch d.Directive {
	case supervisor.Resume:
		ch.pid.proc.sendSystem(sysResume{})
	case supervisor.Restart:
		each(func(pid *PID) { restartAfter(pid, f.reason, d.Delay) })
	case supervisor.Stop:
		each(func(pid *PID) { pid.proc.sendSystem(&sysStop{reason: ReasonFailed}) })
	case supervisor.Escalate:
		if d.LimitExceeded {
			each(func(pid *PID) { pid.proc.sendSystem(&sysStop{reason: ReasonFailed}) })
		}
	}
	return d
}

func restartAfter(pid *PID, reason any, delay time.Duration) {
	msg := &sysRestart{reason: reason}
	if delay <= 0 {
		pid.proc.sendSystem(msg)
		return
	}
	// The child stays suspended meanwhile; its messages wait in its mailbox.
	time.AfterFunc(delay, func() { pid.proc.sendSystem(msg) })
}

// handleChildFailure applies this actor's strategy to a failed child.
func (c *Context) handleChildFailure(f *sysFailure) {
	if c.state != stateAlive || c.x == nil {
		return // stopping or restarting: the children are being stopped anyway
	}
	ch, ok := c.x.children[f.child.ID]
	if !ok || !ch.pid.Equal(f.child) {
		return
	}
	d := supervise(c.sys, c.self, c.props.strategy, c.x.children, ch, f)
	if d.Directive != supervisor.Escalate {
		return
	}
	if !d.LimitExceeded {
		// The child stays suspended until this actor is resumed, restarted
		// or stopped by its own supervisor.
		c.x.escalated = append(c.x.escalated, ch.pid)
	}
	c.fail(f.reason, f.stack, f.msg)
}
