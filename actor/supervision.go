package actor

import (
	"fmt"
	"time"

	"github.com/goray-dev/goray/supervisor"
)

// apply carries out a supervisor's decision about a failed child on the
// child, or on all of the supervisor's children, except escalation itself,
// which is the caller's: an actor fails in turn, the root guardian stops
// the child. It is shared by actors and the root guardian.
func apply(s *System, sup *PID, d supervisor.Decision, failed *PID, f *sysFailure, children func() []*PID) {
	s.events.Publish(SupervisionDecided{
		Supervisor: sup, Child: failed, Reason: f.reason,
		Directive: d.Directive, LimitExceeded: d.LimitExceeded,
	})
	targets := []*PID{failed}
	if d.AllChildren {
		targets = children()
	}
	switch d.Directive {
	case supervisor.Resume:
		failed.proc.sendSystem(sysResume{})
	case supervisor.Restart:
		for _, pid := range targets {
			restartAfter(pid, f.reason, d.Delay)
		}
	case supervisor.Stop:
		for _, pid := range targets {
			pid.proc.sendSystem(stopFailed)
		}
	case supervisor.Escalate:
		if d.LimitExceeded {
			for _, pid := range targets {
				pid.proc.sendSystem(stopFailed)
			}
		}
	}
}

// decide asks a strategy about a failure. A strategy that panics (a user's
// decider) must not take the runtime down with it: the child is stopped.
func decide(s *System, strategy supervisor.Strategy, f *sysFailure, stats *supervisor.Stats) (d supervisor.Decision) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("supervisor strategy panicked; stopping the child", "child", f.child.String(), "panic", fmt.Sprint(r))
			d = supervisor.Decision{Directive: supervisor.Stop}
		}
	}()
	return strategy.Decide(f.reason, stats)
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
	pid, ok := c.x.children.find(f.child)
	if !ok {
		return
	}
	if c.failed {
		// This actor already awaits its own supervisor: decide about the
		// child once it is resumed (a restart stops the child anyway).
		c.x.heldFailures = append(c.x.heldFailures, f)
		return
	}
	d := decide(c.sys, c.props.strategy, f, c.x.children.failures(pid.ID))
	apply(c.sys, c.self, d, pid, f, c.Children)
	if d.Directive != supervisor.Escalate {
		return
	}
	if !d.LimitExceeded {
		// The child stays suspended until this actor is resumed, restarted
		// or stopped by its own supervisor.
		c.x.escalated = append(c.x.escalated, pid)
	}
	c.fail(f.reason, f.stack, f.msg)
}
