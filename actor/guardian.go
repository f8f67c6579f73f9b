package actor

import (
	"context"
	"fmt"
	"sync"

	"github.com/goray-dev/goray/supervisor"
)

// guardian is the root of the supervision tree: the parent of every
// top-level actor. It is not an actor itself (there is nobody to supervise
// it), so it handles its few messages synchronously under a lock.
type guardian struct {
	sys      *System
	pid      *PID
	strategy supervisor.Strategy

	mu       sync.Mutex
	children map[string]*child
	stopping bool
	empty    chan struct{}
	once     sync.Once
}

func newGuardian(s *System, strategy supervisor.Strategy) *guardian {
	g := &guardian{sys: s, strategy: strategy, children: make(map[string]*child), empty: make(chan struct{})}
	g.pid = &PID{Node: s.node, ID: "$guardian", proc: g}
	return g
}

// adopt records a new top-level actor; it fails once shutdown has begun.
func (g *guardian) adopt(pid *PID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return false
	}
	g.children[pid.ID] = &child{pid: pid}
	return true
}

func (g *guardian) sendUser(_ context.Context, sender *PID, msg any) error {
	g.sys.deadLetter(g.pid, msg, sender)
	return nil
}

func (g *guardian) sendSystem(msg any) {
	switch m := msg.(type) {
	case *sysFailure:
		g.handleFailure(m)
	case *sysTerminated:
		g.mu.Lock()
		if ch, ok := g.children[m.pid.ID]; ok && ch.pid.Equal(m.pid) {
			delete(g.children, m.pid.ID)
		}
		g.checkEmptyLocked()
		g.mu.Unlock()
	}
}

func (g *guardian) handleFailure(f *sysFailure) {
	g.mu.Lock()
	ch, ok := g.children[f.child.ID]
	if !ok {
		g.mu.Unlock()
		return
	}
	d := supervise(g.sys, g.pid, g.strategy, g.children, ch, f)
	g.mu.Unlock()
	switch d.Directive {
	case supervisor.Escalate:
		if !d.LimitExceeded {
			f.child.proc.sendSystem(&sysStop{reason: ReasonFailed})
		}
		fallthrough
	case supervisor.Stop:
		g.sys.logger.Error("root guardian stopped a failing top-level actor",
			"actor", f.child.String(), "reason", fmt.Sprint(f.reason), "directive", d.Directive.String(),
			"limit_exceeded", d.LimitExceeded)
	}
}

func (g *guardian) checkEmptyLocked() {
	if g.stopping && len(g.children) == 0 {
		g.once.Do(func() { close(g.empty) })
	}
}

// stopAll stops every top-level actor and waits until all are gone.
func (g *guardian) stopAll(ctx context.Context) error {
	g.mu.Lock()
	g.stopping = true
	pids := make([]*PID, 0, len(g.children))
	for _, ch := range g.children {
		pids = append(pids, ch.pid)
	}
	g.checkEmptyLocked()
	g.mu.Unlock()
	for _, pid := range pids {
		pid.proc.sendSystem(&sysStop{reason: ReasonStopped})
	}
	select {
	case <-g.empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
