package actor

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/goray-dev/goray/supervisor"
)

const guardianShards = 16

// guardian is the root of the supervision tree: the parent of every
// top-level actor. It is not an actor itself (there is nobody to supervise
// it), so it handles its few messages synchronously, on the sender's
// goroutine. Its children are sharded so that spawns and stops on
// different cores rarely meet on a lock.
type guardian struct {
	sys      *System
	pid      *PID
	strategy supervisor.Strategy
	seed     maphash.Seed
	shards   [guardianShards]guardianShard

	gate     sync.RWMutex // adopt holds it shared, stopAll exclusively to set stopping
	stopping atomic.Bool
	empty    chan struct{}
	once     sync.Once
}

type guardianShard struct {
	mu       sync.Mutex
	children children
	_        [40]byte // one shard per cache line
}

func newGuardian(s *System, strategy supervisor.Strategy) *guardian {
	g := &guardian{sys: s, strategy: strategy, seed: maphash.MakeSeed(), empty: make(chan struct{})}
	g.pid = &PID{Node: s.node, ID: "$guardian", proc: g}
	return g
}

func (g *guardian) shard(id string) *guardianShard {
	return &g.shards[maphash.String(g.seed, id)%guardianShards]
}

// adopt records a new top-level actor; it fails once shutdown has begun.
// The gate makes the two exclusive: an adopted child is in its shard
// before stopAll takes its snapshot.
func (g *guardian) adopt(pid *PID) bool {
	g.gate.RLock()
	defer g.gate.RUnlock()
	if g.isStopping() {
		return false
	}
	sh := g.shard(pid.ID)
	sh.mu.Lock()
	sh.children.add(pid)
	sh.mu.Unlock()
	return true
}

func (g *guardian) isStopping() bool { return g.stopping.Load() }

func (g *guardian) forget(pid *PID) {
	sh := g.shard(pid.ID)
	sh.mu.Lock()
	sh.children.remove(pid)
	sh.mu.Unlock()
	g.checkEmpty()
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
		g.forget(m.pid)
	}
}

func (g *guardian) handleFailure(f *sysFailure) {
	sh := g.shard(f.child.ID)
	sh.mu.Lock()
	pid, ok := sh.children.find(f.child)
	if !ok {
		sh.mu.Unlock()
		return
	}
	d := decide(g.sys, g.strategy, f, sh.children.failures(pid.ID))
	sh.mu.Unlock()
	apply(g.sys, g.pid, d, pid, f, g.children)
	switch d.Directive {
	case supervisor.Escalate:
		if !d.LimitExceeded {
			f.child.proc.sendSystem(stopFailed)
		}
		fallthrough
	case supervisor.Stop:
		g.sys.logger.Error("root guardian stopped a failing top-level actor",
			"actor", f.child.String(), "reason", fmt.Sprint(f.reason), "directive", d.Directive.String(),
			"limit_exceeded", d.LimitExceeded)
	}
}

// children returns every top-level actor.
func (g *guardian) children() []*PID {
	var pids []*PID
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		pids = sh.children.appendTo(pids)
		sh.mu.Unlock()
	}
	return pids
}

func (g *guardian) checkEmpty() {
	if !g.isStopping() {
		return
	}
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		n := sh.children.len()
		sh.mu.Unlock()
		if n > 0 {
			return
		}
	}
	g.once.Do(func() { close(g.empty) })
}

// stopAll stops every top-level actor and waits until all are gone.
func (g *guardian) stopAll(ctx context.Context) error {
	g.gate.Lock()
	g.stopping.Store(true)
	g.gate.Unlock()
	for _, pid := range g.children() {
		pid.proc.sendSystem(stopNormal)
	}
	g.checkEmpty()
	select {
	case <-g.empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
