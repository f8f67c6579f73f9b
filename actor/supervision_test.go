package actor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/supervisor"
)

// Test messages. A boom makes the test actors panic with the boom itself,
// so the failure's reason and its message are the same value.
type (
	svBoom          string
	svPoke          struct{}
	svPokeReply     string
	svCountChildren struct{}
	svIncrement     struct{}
	svGetTally      struct{}
)

const (
	svWait = 2 * time.Second
	svTick = 2 * time.Millisecond
)

func svSystem(t *testing.T, opts ...actor.Option) *actor.System {
	t.Helper()
	opts = append([]actor.Option{actor.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	sys := actor.NewSystem(opts...)
	t.Cleanup(func() {
		// Not t.Context(): it is already cancelled when Cleanup runs.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Shutdown in a goroutine, so that a runtime bug that hangs it
		// fails this test instead of hanging the whole run.
		done := make(chan error, 1)
		go func() { done <- sys.Shutdown(ctx) }()
		select {
		case err := <-done:
			assert.NoError(t, err, "shutdown")
		case <-time.After(6 * time.Second):
			assert.Fail(t, "shutdown hung")
		}
	})
	return sys
}

func svEventually(t *testing.T, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, cond, svWait, svTick, msgAndArgs...)
}

func svRecv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(svWait):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

func svAsk(t *testing.T, sys *actor.System, pid *actor.PID, msg any) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), svWait)
	defer cancel()
	r, err := sys.Request(ctx, pid, msg)
	require.NoError(t, err, "request %T to %v", msg, pid)
	return r
}

func svAskErr(sys *actor.System, pid *actor.PID, msg any) error {
	ctx, cancel := context.WithTimeout(context.Background(), svWait)
	defer cancel()
	_, err := sys.Request(ctx, pid, msg)
	return err
}

// watch spawns a top-level actor that watches pid and reports its
// Terminated messages; the watch is in place when watch returns.
func svWatch(t *testing.T, sys *actor.System, pid *actor.PID) <-chan actor.Terminated {
	t.Helper()
	out := make(chan actor.Terminated, 4)
	ready := make(chan struct{})
	sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Watch(pid)
			close(ready)
		case actor.Terminated:
			out <- m
		}
	}))
	svRecv(t, ready, "watcher to start")
	return out
}

// journal is an ordered, concurrency-safe log of what test actors saw.
type svJournal struct {
	mu      sync.Mutex
	entries []string
}

func (j *svJournal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
}

func (j *svJournal) all() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

func (j *svJournal) count(entry string) int {
	n := 0
	for _, e := range j.all() {
		if e == entry {
			n++
		}
	}
	return n
}

func (j *svJournal) countPrefix(prefix string) int {
	n := 0
	for _, e := range j.all() {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// nth returns the index of the n-th (1-based) occurrence of entry, or -1.
func (j *svJournal) nth(entry string, n int) int {
	for i, e := range j.all() {
		if e == entry {
			if n--; n == 0 {
				return i
			}
		}
	}
	return -1
}

// requireOrder checks that each entry's n-th occurrence comes after the
// previous one's.
func (j *svJournal) requireOrder(t *testing.T, steps ...svStep) {
	t.Helper()
	prev := -1
	for _, s := range steps {
		i := j.nth(s.entry, s.n)
		require.NotEqual(t, -1, i, "%s #%d missing from journal %q", s.entry, s.n, j.all())
		require.Greater(t, i, prev, "%s #%d out of order in journal %q", s.entry, s.n, j.all())
		prev = i
	}
}

type svStep struct {
	entry string
	n     int
}

func svAt(entry string) svStep         { return svStep{entry, 1} }
func svAtN(entry string, n int) svStep { return svStep{entry, n} }

// eventLog records system events in the order they were published.
type svEvents struct {
	mu     sync.Mutex
	events []any
}

func svRecordEvents(t *testing.T, sys *actor.System) *svEvents {
	l := &svEvents{}
	sub := sys.EventStream().Subscribe(func(e any) {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	})
	t.Cleanup(sub.Unsubscribe)
	return l
}

func svEventsOf[T any](l *svEvents, keep func(T) bool) []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []T
	for _, e := range l.events {
		if v, ok := e.(T); ok && (keep == nil || keep(v)) {
			out = append(out, v)
		}
	}
	return out
}

func (l *svEvents) decisions(sup *actor.PID) []actor.SupervisionDecided {
	return svEventsOf(l, func(e actor.SupervisionDecided) bool { return sup == nil || e.Supervisor.Equal(sup) })
}

// svDecision is an expected SupervisionDecided: who decided what for whom.
type svDecision struct {
	sup, child *actor.PID
	dir        supervisor.Directive
}

// svRequireDecisions checks the decisions recorded so far, in order, and
// returns them for further checks.
func svRequireDecisions(t *testing.T, events *svEvents, want []svDecision) []actor.SupervisionDecided {
	t.Helper()
	d := events.decisions(nil)
	require.Len(t, d, len(want), "%+v", d)
	for i, w := range want {
		assert.True(t, d[i].Supervisor.Equal(w.sup), "decision %d supervisor %v, want %v", i, d[i].Supervisor, w.sup)
		assert.True(t, d[i].Child.Equal(w.child), "decision %d child %v, want %v", i, d[i].Child, w.child)
		assert.Equal(t, w.dir, d[i].Directive, "decision %d", i)
	}
	return d
}

func (l *svEvents) failures(pid *actor.PID) []actor.ActorFailed {
	return svEventsOf(l, func(e actor.ActorFailed) bool { return e.PID.Equal(pid) })
}

func (l *svEvents) restarts(pid *actor.PID) []actor.ActorRestarted {
	return svEventsOf(l, func(e actor.ActorRestarted) bool { return e.PID.Equal(pid) })
}

// tree builds supervision trees of test actors that journal their
// lifecycle as "name:Started", "name:Restarting(reason)", "name:Stopping",
// "name:Stopped", spawn their children (by name) on every Started, panic
// on a boom and answer pokes.
type svTree struct {
	j       svJournal
	mu      sync.Mutex
	pids    map[string]*actor.PID
	parents map[string]*actor.PID
}

type svNode struct {
	name          string
	strategy      supervisor.Strategy // nil: the default
	children      []*svNode
	watchChildren bool
}

func svNewTree() *svTree {
	return &svTree{pids: make(map[string]*actor.PID), parents: make(map[string]*actor.PID)}
}

func (tr *svTree) props(n *svNode) *actor.Props {
	var opts []actor.PropsOption
	if n.strategy != nil {
		opts = append(opts, actor.WithSupervisor(n.strategy))
	}
	return actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			tr.mu.Lock()
			tr.pids[n.name] = c.Self()
			tr.parents[n.name] = c.Parent()
			tr.mu.Unlock()
			tr.j.add("%s:Started", n.name)
			for _, ch := range n.children {
				pid, err := c.SpawnNamed(tr.props(ch), ch.name)
				if err != nil {
					panic(err)
				}
				if n.watchChildren {
					c.Watch(pid)
				}
			}
		case actor.Restarting:
			tr.j.add("%s:Restarting(%v)", n.name, m.Reason)
		case actor.Stopping:
			tr.j.add("%s:Stopping", n.name)
		case actor.Stopped:
			tr.j.add("%s:Stopped", n.name)
		case actor.Terminated:
			tr.j.add("%s:Terminated(%s,%s)", n.name, m.PID.ID, m.Reason)
		case svBoom:
			tr.j.add("%s:%s", n.name, m)
			panic(m)
		case svPoke:
			c.Respond(svPokeReply(n.name))
		case svCountChildren:
			c.Respond(len(c.Children()))
		}
	}, opts...)
}

func (tr *svTree) spawn(t *testing.T, sys *actor.System, root *svNode) *actor.PID {
	t.Helper()
	pid, err := sys.SpawnNamed(tr.props(root), root.name)
	require.NoError(t, err)
	return pid
}

// pid returns the latest PID of the named actor, waiting for it to start.
func (tr *svTree) pid(t *testing.T, name string) *actor.PID {
	t.Helper()
	var pid *actor.PID
	svEventually(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		pid = tr.pids[name]
		return pid != nil
	}, "%s never started", name)
	return pid
}

func (tr *svTree) parent(name string) *actor.PID {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.parents[name]
}

func (tr *svTree) waitCount(t *testing.T, entry string, n int) {
	t.Helper()
	svEventually(t, func() bool { return tr.j.count(entry) >= n },
		"waiting for %d × %q; journal %q", n, entry, tr.j.all())
}

func svEscalate(any) supervisor.Directive { return supervisor.Escalate }
func svResume(any) supervisor.Directive   { return supervisor.Resume }
func svStop(any) supervisor.Directive     { return supervisor.Stop }

func svDirectives(ds []actor.SupervisionDecided) []supervisor.Directive {
	out := make([]supervisor.Directive, len(ds))
	for i, d := range ds {
		out[i] = d.Directive
	}
	return out
}

// A child that keeps failing is restarted MaxRetries times; the next
// failure within the window stops it (ReasonFailed) and fails its parent,
// whose own supervisor then decides.
func TestSupervisionRestartsUpToMaxRetriesThenEscalates(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	root := &svNode{
		name:     "gp",
		strategy: supervisor.OneForOne(supervisor.WithDecider(svResume)),
		children: []*svNode{{
			name:          "p",
			strategy:      supervisor.OneForOne(supervisor.MaxRetries(3), supervisor.Within(time.Minute)),
			watchChildren: true,
			children:      []*svNode{{name: "c"}},
		}},
	}
	tr.spawn(t, sys, root)
	tr.waitCount(t, "c:Started", 1)
	gp, p, c := tr.pid(t, "gp"), tr.pid(t, "p"), tr.pid(t, "c")
	terminated := svWatch(t, sys, c)

	for i := 1; i <= 3; i++ {
		sys.Send(c, svBoom(fmt.Sprintf("boom %d", i)))
		tr.waitCount(t, "c:Started", i+1)
	}
	sys.Send(c, svBoom("boom 4"))

	term := svRecv(t, terminated, "Terminated for the child")
	assert.True(t, term.PID.Equal(c))
	assert.Equal(t, actor.ReasonFailed, term.Reason)
	// The parent watches its child too.
	tr.waitCount(t, "p:Terminated(gp/p/c,failed)", 1)
	// The parent failed in turn; the grandparent resumed it.
	svEventually(t, func() bool { return len(events.decisions(gp)) == 1 }, "grandparent decision")

	assert.Equal(t, 4, tr.j.count("c:Started"), "1 start + exactly 3 restarts")
	for i := 1; i <= 3; i++ {
		assert.Equal(t, 1, tr.j.count(fmt.Sprintf("c:Restarting(boom %d)", i)))
	}
	assert.Zero(t, tr.j.count("c:Restarting(boom 4)"), "no 4th restart")
	assert.Equal(t, 1, tr.j.count("c:Stopped"))

	restarts := events.restarts(c)
	require.Len(t, restarts, 3)
	for i, r := range restarts {
		assert.Equal(t, svBoom(fmt.Sprintf("boom %d", i+1)), r.Reason)
	}

	pd := events.decisions(p)
	require.Len(t, pd, 4, "%+v", pd)
	assert.Equal(t, []supervisor.Directive{supervisor.Restart, supervisor.Restart, supervisor.Restart, supervisor.Escalate}, svDirectives(pd))
	for i, d := range pd {
		assert.True(t, d.Child.Equal(c), "decision %d child", i)
		assert.Equal(t, svBoom(fmt.Sprintf("boom %d", i+1)), d.Reason, "decision %d reason", i)
		assert.Equal(t, i == 3, d.LimitExceeded, "decision %d LimitExceeded", i)
	}

	cf := events.failures(c)
	require.Len(t, cf, 4)
	for i, f := range cf {
		assert.Equal(t, svBoom(fmt.Sprintf("boom %d", i+1)), f.Message)
		assert.Equal(t, f.Message, f.Reason)
	}
	pf := events.failures(p)
	require.Len(t, pf, 1, "the parent fails once, by escalation")
	assert.Equal(t, svBoom("boom 4"), pf[0].Reason)
	assert.Equal(t, svBoom("boom 4"), pf[0].Message, "escalation carries the failing message")

	gd := events.decisions(gp)
	require.Len(t, gd, 1)
	assert.True(t, gd[0].Child.Equal(p))
	assert.Equal(t, supervisor.Resume, gd[0].Directive)
	assert.Equal(t, svBoom("boom 4"), gd[0].Reason)
	assert.False(t, gd[0].LimitExceeded)

	// The resumed parent works, was not restarted, and has no child left.
	assert.Equal(t, svPokeReply("p"), svAsk(t, sys, p, svPoke{}))
	assert.Equal(t, 0, svAsk(t, sys, p, svCountChildren{}))
	assert.Equal(t, 1, tr.j.count("p:Started"))
	assert.Empty(t, events.restarts(p))
	assert.ErrorIs(t, svAskErr(sys, c, svPoke{}), actor.ErrDeadLetter, "the child is gone")
}

// A fake clock for supervisor.WithClock, safe to read from the supervising
// actor's goroutine while the test advances it.
type svClock struct {
	base time.Time
	off  atomic.Int64
}

func svNewClock() *svClock                   { return &svClock{base: time.Now()} }
func (c *svClock) now() time.Time            { return c.base.Add(time.Duration(c.off.Load())) }
func (c *svClock) advance(d time.Duration)   { c.off.Add(int64(d)) }
func (c *svClock) option() supervisor.Option { return supervisor.WithClock(c.now) }

func TestSupervisionRestartCountResetsAfterWindow(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	clock := svNewClock()
	tr := svNewTree()
	tr.spawn(t, sys, &svNode{
		name:     "p",
		strategy: supervisor.OneForOne(supervisor.MaxRetries(2), supervisor.Within(time.Minute), clock.option()),
		children: []*svNode{{name: "c"}},
	})
	tr.waitCount(t, "c:Started", 1)
	p, c := tr.pid(t, "p"), tr.pid(t, "c")
	terminated := svWatch(t, sys, c)

	fail := func(i int) {
		t.Helper()
		sys.Send(c, svBoom(fmt.Sprintf("boom %d", i)))
		tr.waitCount(t, "c:Started", i+1)
	}
	fail(1)
	fail(2)
	// A quiet window: the two restarts are forgotten.
	clock.advance(time.Minute + time.Second)
	fail(3)
	fail(4)
	assert.Len(t, events.restarts(c), 4)
	// Two restarts within this window already: the next failure is one too
	// many.
	clock.advance(time.Second)
	sys.Send(c, svBoom("boom 5"))
	term := svRecv(t, terminated, "Terminated")
	assert.Equal(t, actor.ReasonFailed, term.Reason)

	pd := events.decisions(p)
	require.Len(t, pd, 5)
	assert.Equal(t, []supervisor.Directive{
		supervisor.Restart, supervisor.Restart, supervisor.Restart, supervisor.Restart, supervisor.Escalate,
	}, svDirectives(pd))
	assert.True(t, pd[4].LimitExceeded)
	assert.Len(t, events.restarts(c), 4)
}

// The same with the real clock and a short window.
func TestSupervisionRestartWindowRealClock(t *testing.T) {
	const window = 100 * time.Millisecond
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	tr.spawn(t, sys, &svNode{
		name:     "p",
		strategy: supervisor.OneForOne(supervisor.MaxRetries(1), supervisor.Within(window)),
		children: []*svNode{{name: "c"}},
	})
	tr.waitCount(t, "c:Started", 1)
	p, c := tr.pid(t, "p"), tr.pid(t, "c")

	sys.Send(c, svBoom("boom 1"))
	tr.waitCount(t, "c:Started", 2)
	// The first failure was decided before the restart was seen: wait out
	// the window from here, then fail again; it is a first restart again.
	time.Sleep(window + 10*time.Millisecond)
	sys.Send(c, svBoom("boom 2"))
	tr.waitCount(t, "c:Started", 3)

	pd := events.decisions(p)
	require.Len(t, pd, 2)
	assert.Equal(t, []supervisor.Directive{supervisor.Restart, supervisor.Restart}, svDirectives(pd))
	assert.Len(t, events.restarts(c), 2)
}

// The new instance starts no earlier than the backoff delay after the
// failure, and the delay doubles with each restart in the window.
func TestSupervisionBackoffDelaysRestart(t *testing.T) {
	sys := svSystem(t)
	failedAt := make(chan time.Time, 8)
	startedAt := make(chan time.Time, 8)
	childProps := actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			startedAt <- time.Now()
		case svBoom:
			failedAt <- time.Now()
			panic(m)
		}
	})
	backoff := supervisor.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	_, c := svSpawnWithChild(t, sys, supervisor.OneForOne(supervisor.WithBackoff(backoff)), childProps)
	svRecv(t, startedAt, "first start")

	for i, minDelay := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		sys.Send(c, svBoom("boom"))
		failed := svRecv(t, failedAt, "failure")
		started := svRecv(t, startedAt, "restart")
		took := started.Sub(failed)
		assert.GreaterOrEqual(t, took, minDelay, "restart %d came too early", i+1)
		assert.Less(t, took, minDelay+time.Second, "restart %d came far too late", i+1)
	}
}

// spawnWithChild spawns a top-level parent with the given strategy that
// spawns one child from childProps on its first start.
func svSpawnWithChild(t *testing.T, sys *actor.System, strategy supervisor.Strategy, childProps *actor.Props) (parent, child *actor.PID) {
	t.Helper()
	kids := make(chan *actor.PID, 1)
	var once sync.Once
	parent = sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			once.Do(func() { kids <- c.Spawn(childProps) })
		case svCountChildren:
			c.Respond(len(c.Children()))
		case svPoke:
			c.Respond(svPokeReply("parent"))
		}
	}, actor.WithSupervisor(strategy)))
	return parent, svRecv(t, kids, "child PID")
}

func svThreeChildren(strategy supervisor.Strategy) *svNode {
	return &svNode{
		name:     "p",
		strategy: strategy,
		children: []*svNode{{name: "c0"}, {name: "c1"}, {name: "c2"}},
	}
}

// syncTree makes sure that every system message already sent to p and to
// its children has been handled: p answers after handling the failure (and
// sending the restarts), and each child handles system messages before a
// user message.
func svSync(t *testing.T, sys *actor.System, pids ...*actor.PID) {
	t.Helper()
	for _, pid := range pids {
		svAsk(t, sys, pid, svPoke{})
	}
}

func TestSupervisionAllForOneRestartsEveryChild(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	tr.spawn(t, sys, svThreeChildren(supervisor.AllForOne()))
	for _, n := range []string{"c0", "c1", "c2"} {
		tr.waitCount(t, n+":Started", 1)
	}
	p := tr.pid(t, "p")
	kids := []*actor.PID{tr.pid(t, "c0"), tr.pid(t, "c1"), tr.pid(t, "c2")}

	sys.Send(kids[1], svBoom("boom"))
	for _, n := range []string{"c0", "c1", "c2"} {
		tr.waitCount(t, n+":Started", 2)
	}
	svSync(t, sys, append([]*actor.PID{p}, kids...)...)

	for i, n := range []string{"c0", "c1", "c2"} {
		assert.Equal(t, 1, tr.j.count(n+":Restarting(boom)"), "%s restarted once with the failure's reason", n)
		assert.Equal(t, 2, tr.j.count(n+":Started"), n)
		tr.j.requireOrder(t, svAt(n+":Restarting(boom)"), svAtN(n+":Started", 2))
		r := events.restarts(kids[i])
		require.Len(t, r, 1, n)
		assert.Equal(t, svBoom("boom"), r[0].Reason, n)
		// A restart keeps the PID.
		assert.Equal(t, svPokeReply(n), svAsk(t, sys, kids[i], svPoke{}))
	}
	assert.Equal(t, 1, tr.j.count("c1:boom"))
	d := events.decisions(p)
	require.Len(t, d, 1)
	assert.True(t, d[0].Child.Equal(kids[1]))
	assert.Equal(t, supervisor.Restart, d[0].Directive)
	assert.Equal(t, 1, tr.j.count("p:Started"), "the supervisor itself is not restarted")
}

func TestSupervisionOneForOneRestartsOnlyFailedChild(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	tr.spawn(t, sys, svThreeChildren(supervisor.OneForOne()))
	for _, n := range []string{"c0", "c1", "c2"} {
		tr.waitCount(t, n+":Started", 1)
	}
	p := tr.pid(t, "p")
	kids := []*actor.PID{tr.pid(t, "c0"), tr.pid(t, "c1"), tr.pid(t, "c2")}

	sys.Send(kids[1], svBoom("boom"))
	tr.waitCount(t, "c1:Started", 2)
	svSync(t, sys, append([]*actor.PID{p}, kids...)...)

	assert.Equal(t, 1, tr.j.count("c1:Restarting(boom)"))
	assert.Len(t, events.restarts(kids[1]), 1)
	for _, i := range []int{0, 2} {
		n := fmt.Sprintf("c%d", i)
		assert.Equal(t, 1, tr.j.count(n+":Started"), "%s must not restart", n)
		assert.Zero(t, tr.j.countPrefix(n+":Restarting"), "%s must not restart", n)
		assert.Empty(t, events.restarts(kids[i]), n)
	}
}

// Under all-for-one, a child over its limit stops all its siblings too.
func TestSupervisionAllForOneLimitStopsEveryChild(t *testing.T) {
	sys := svSystem(t)
	tr := svNewTree()
	root := svThreeChildren(supervisor.AllForOne(supervisor.MaxRetries(0)))
	gp := &svNode{name: "gp", strategy: supervisor.OneForOne(supervisor.WithDecider(svResume)), children: []*svNode{root}}
	tr.spawn(t, sys, gp)
	for _, n := range []string{"c0", "c1", "c2"} {
		tr.waitCount(t, n+":Started", 1)
	}
	var terms []<-chan actor.Terminated
	for _, n := range []string{"c0", "c1", "c2"} {
		terms = append(terms, svWatch(t, sys, tr.pid(t, n)))
	}
	sys.Send(tr.pid(t, "c2"), svBoom("boom"))
	for i, ch := range terms {
		term := svRecv(t, ch, fmt.Sprintf("Terminated c%d", i))
		assert.Equal(t, actor.ReasonFailed, term.Reason, "c%d", i)
	}
	svEventually(t, func() bool { return svAsk(t, sys, tr.pid(t, "p"), svCountChildren{}) == 0 })
	assert.Zero(t, tr.j.countPrefix("c0:Restarting"))
}

// Grandchild fails; its parent and that parent's parent escalate; the
// top-level actor restarts its child, which takes the whole subtree down
// and up again.
func TestSupervisionEscalatesThroughThreeLevels(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	escalate := supervisor.OneForOne(supervisor.WithDecider(svEscalate))
	tr.spawn(t, sys, &svNode{
		name:     "top",
		strategy: supervisor.OneForOne(),
		children: []*svNode{{
			name:     "a",
			strategy: escalate,
			children: []*svNode{{
				name:     "b",
				strategy: escalate,
				children: []*svNode{{name: "c"}},
			}},
		}},
	})
	tr.waitCount(t, "c:Started", 1)
	top, a, b, c := tr.pid(t, "top"), tr.pid(t, "a"), tr.pid(t, "b"), tr.pid(t, "c")

	sys.Send(c, svBoom("boom"))
	tr.waitCount(t, "c:Started", 2)

	d := svRequireDecisions(t, events, []svDecision{
		{b, c, supervisor.Escalate},
		{a, b, supervisor.Escalate},
		{top, a, supervisor.Restart},
	})
	for i := range d {
		assert.Equal(t, svBoom("boom"), d[i].Reason, "decision %d", i)
		assert.False(t, d[i].LimitExceeded, "decision %d", i)
	}

	// c panicked; b and a failed by escalation, with c's reason and message.
	failed := svEventsOf[actor.ActorFailed](events, nil)
	require.Len(t, failed, 3)
	for i, pid := range []*actor.PID{c, b, a} {
		assert.True(t, failed[i].PID.Equal(pid), "failure %d: %v, want %v", i, failed[i].PID, pid)
		assert.Equal(t, svBoom("boom"), failed[i].Reason)
		assert.Equal(t, svBoom("boom"), failed[i].Message)
	}

	// a restarted: its subtree stopped (children first), then started anew.
	tr.j.requireOrder(t,
		svAt("c:boom"),
		svAt("a:Restarting(boom)"),
		svAt("c:Stopped"),
		svAt("b:Stopped"),
		svAtN("a:Started", 2),
		svAtN("b:Started", 2),
		svAtN("c:Started", 2),
	)
	assert.Equal(t, 1, tr.j.count("top:Started"), "top is not restarted")
	assert.Zero(t, tr.j.countPrefix("b:Restarting"), "b is stopped, not restarted")
	assert.Zero(t, tr.j.countPrefix("c:Restarting"), "c is stopped, not restarted")
	assert.Len(t, events.restarts(a), 1)
	assert.Empty(t, events.restarts(b))
	assert.Empty(t, events.restarts(c))

	// The rebuilt subtree works.
	assert.Equal(t, svPokeReply("c"), svAsk(t, sys, tr.pid(t, "c"), svPoke{}))
	assert.Equal(t, svPokeReply("a"), svAsk(t, sys, a, svPoke{}))
	assert.ErrorIs(t, svAskErr(sys, c, svPoke{}), actor.ErrDeadLetter, "the old c is gone")
}

// When the top-level actor escalates too, the root guardian stops it.
func TestSupervisionEscalationReachesRootGuardian(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	escalate := supervisor.OneForOne(supervisor.WithDecider(svEscalate))
	tr.spawn(t, sys, &svNode{
		name:     "top",
		strategy: escalate,
		children: []*svNode{{
			name:     "a",
			strategy: escalate,
			children: []*svNode{{name: "b"}},
		}},
	})
	tr.waitCount(t, "b:Started", 1)
	top, a, b := tr.pid(t, "top"), tr.pid(t, "a"), tr.pid(t, "b")
	guardian := tr.parent("top")
	require.NotNil(t, guardian)
	terminated := svWatch(t, sys, top)

	sys.Send(b, svBoom("boom"))
	term := svRecv(t, terminated, "Terminated for top")
	assert.Equal(t, actor.ReasonFailed, term.Reason)

	svRequireDecisions(t, events, []svDecision{
		{a, b, supervisor.Escalate},
		{top, a, supervisor.Escalate},
		{guardian, top, supervisor.Stop},
	})
	tr.j.requireOrder(t, svAt("b:Stopped"), svAt("a:Stopped"), svAt("top:Stopped"))
	assert.Zero(t, tr.j.countPrefix("a:Restarting"))
	assert.Zero(t, tr.j.countPrefix("top:Restarting"))
	for _, pid := range []*actor.PID{top, a, b} {
		assert.ErrorIs(t, svAskErr(sys, pid, svPoke{}), actor.ErrDeadLetter, "%v is gone", pid)
	}
}

// Messages queued while the failed actor waits for its restart are kept,
// in order, for the new instance; the failing message is dropped.
func TestSupervisionRestartKeepsQueuedMessagesInOrder(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	var j svJournal
	failed := make(chan struct{})
	childProps := actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			j.add("Started")
		case int:
			j.add("%d", m)
		case svBoom:
			j.add("boom")
			close(failed)
			panic(m)
		}
	})
	backoff := supervisor.Backoff{Initial: 150 * time.Millisecond}
	_, c := svSpawnWithChild(t, sys, supervisor.OneForOne(supervisor.WithBackoff(backoff)), childProps)

	sys.Send(c, 1)
	sys.Send(c, 2)
	sys.Send(c, svBoom("boom"))
	for i := 3; i <= 5; i++ {
		sys.Send(c, i)
	}
	svRecv(t, failed, "failure")
	// The old instance has failed; the new one is at least 150 ms away.
	for i := 6; i <= 10; i++ {
		sys.Send(c, i)
	}
	queuedBeforeRestart := len(events.restarts(c)) == 0
	svEventually(t, func() bool { return j.count("10") == 1 }, "journal %q", j.all())

	assert.Equal(t, []string{"Started", "1", "2", "boom", "Started", "3", "4", "5", "6", "7", "8", "9", "10"}, j.all())
	if !queuedBeforeRestart {
		t.Log("the restart overtook the test: messages 6-10 were not queued during the restart")
	}
	f := events.failures(c)
	require.Len(t, f, 1)
	assert.Equal(t, svBoom("boom"), f[0].Message, "the failing message is reported")
	assert.Equal(t, svBoom("boom"), f[0].Reason)
	assert.Len(t, events.restarts(c), 1)
}

// Resume keeps the failed instance and its state, and goes on with the
// next message.
func TestSupervisionResumeKeepsState(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	var starts atomic.Int32
	type tally struct{ n int }
	childProps := actor.PropsFromProducer(func() actor.Actor {
		st := &tally{}
		return actor.ReceiveFunc(func(c *actor.Context) {
			switch m := c.Message().(type) {
			case actor.Started:
				starts.Add(1)
			case svIncrement:
				st.n++
			case svBoom:
				st.n += 100 // state changed before the panic is kept too
				panic(m)
			case svGetTally:
				c.Respond(st.n)
			}
		})
	})
	p, c := svSpawnWithChild(t, sys, supervisor.OneForOne(supervisor.WithDecider(svResume), supervisor.MaxRetries(0)), childProps)

	for range 3 {
		sys.Send(c, svIncrement{})
	}
	sys.Send(c, svBoom("boom"))
	sys.Send(c, svIncrement{})
	sys.Send(c, svIncrement{})
	assert.Equal(t, 105, svAsk(t, sys, c, svGetTally{}))
	sys.Send(c, svBoom("again"))
	assert.Equal(t, 205, svAsk(t, sys, c, svGetTally{}))

	assert.EqualValues(t, 1, starts.Load(), "resume does not restart")
	assert.Empty(t, events.restarts(c))
	d := events.decisions(p)
	require.Len(t, d, 2)
	assert.Equal(t, []supervisor.Directive{supervisor.Resume, supervisor.Resume}, svDirectives(d))
	assert.Len(t, events.failures(c), 2)
}

func TestSupervisionStopDirectiveStopsChild(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	var j svJournal
	childProps := actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started, actor.Stopping, actor.Stopped, actor.Restarting:
			j.add("%T", m)
		case int:
			j.add("%d", m)
		case svBoom:
			panic(m)
		}
	})
	p, c := svSpawnWithChild(t, sys, supervisor.OneForOne(supervisor.WithDecider(svStop)), childProps)
	terminated := svWatch(t, sys, c)

	sys.Send(c, svBoom("boom"))
	sys.Send(c, 1) // queued behind the failure: dead letter
	term := svRecv(t, terminated, "Terminated")
	assert.True(t, term.PID.Equal(c))
	assert.Equal(t, actor.ReasonFailed, term.Reason)

	assert.Equal(t, []string{"actor.Started", "actor.Stopping", "actor.Stopped"}, j.all())
	assert.Empty(t, events.restarts(c))
	d := events.decisions(p)
	require.Len(t, d, 1)
	assert.Equal(t, supervisor.Stop, d[0].Directive)
	assert.False(t, d[0].LimitExceeded)
	svEventually(t, func() bool { return svAsk(t, sys, p, svCountChildren{}) == 0 }, "parent forgets the child")
	svEventually(t, func() bool {
		return len(svEventsOf(events, func(e actor.DeadLetter) bool { return e.PID.Equal(c) && e.Message == 1 })) == 1
	}, "the message queued behind the failure goes to dead letters")
	assert.ErrorIs(t, svAskErr(sys, c, svPoke{}), actor.ErrDeadLetter)
	assert.Equal(t, svPokeReply("parent"), svAsk(t, sys, p, svPoke{}), "the parent is unaffected")
}

// pokeable returns props for an actor that answers pokes and panics on
// booms.
func svPokeable(name string) *actor.Props {
	return actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case svPoke:
			c.Respond(svPokeReply(name))
		case svBoom:
			panic(m)
		}
	})
}

func TestGuardianStopsFailingTopLevelActor(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	bystander := sys.Spawn(svPokeable("bystander"))
	tr := svNewTree()
	top := tr.spawn(t, sys, &svNode{name: "top"})
	tr.waitCount(t, "top:Started", 1)
	guardian := tr.parent("top")
	terminated := svWatch(t, sys, top)

	sys.Send(top, svBoom("boom"))
	term := svRecv(t, terminated, "Terminated")
	assert.Equal(t, actor.ReasonFailed, term.Reason)
	assert.Zero(t, tr.j.countPrefix("top:Restarting"))
	assert.Equal(t, 1, tr.j.count("top:Stopped"))

	d := events.decisions(nil)
	require.Len(t, d, 1)
	assert.True(t, d[0].Supervisor.Equal(guardian), "decided by the root guardian")
	assert.True(t, d[0].Child.Equal(top))
	assert.Equal(t, supervisor.Stop, d[0].Directive)

	// Everything else keeps working.
	assert.Equal(t, svPokeReply("bystander"), svAsk(t, sys, bystander, svPoke{}))
	fresh := sys.Spawn(svPokeable("fresh"))
	assert.Equal(t, svPokeReply("fresh"), svAsk(t, sys, fresh, svPoke{}))
	// The name is free again.
	again, err := sys.SpawnNamed(svPokeable("again"), "top")
	require.NoError(t, err)
	assert.Equal(t, svPokeReply("again"), svAsk(t, sys, again, svPoke{}))
}

func TestGuardianStrategyRestartsTopLevelActor(t *testing.T) {
	sys := svSystem(t, actor.WithGuardianStrategy(supervisor.OneForOne()))
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	top := tr.spawn(t, sys, &svNode{name: "top", children: []*svNode{{name: "kid"}}})
	tr.waitCount(t, "kid:Started", 1)
	guardian := tr.parent("top")

	sys.Send(top, svBoom("boom"))
	tr.waitCount(t, "top:Started", 2)
	tr.waitCount(t, "kid:Started", 2)
	tr.j.requireOrder(t, svAt("top:Restarting(boom)"), svAt("kid:Stopped"), svAtN("top:Started", 2))

	r := events.restarts(top)
	require.Len(t, r, 1)
	assert.Equal(t, svBoom("boom"), r[0].Reason)
	d := events.decisions(nil)
	require.Len(t, d, 1)
	assert.True(t, d[0].Supervisor.Equal(guardian))
	assert.Equal(t, supervisor.Restart, d[0].Directive)
	assert.Equal(t, svPokeReply("top"), svAsk(t, sys, top, svPoke{}), "same PID, new instance")
	assert.Equal(t, 1, svAsk(t, sys, top, svCountChildren{}))
}

func TestGuardianStrategyLimitStopsTopLevelActor(t *testing.T) {
	sys := svSystem(t, actor.WithGuardianStrategy(supervisor.OneForOne(supervisor.MaxRetries(1))))
	events := svRecordEvents(t, sys)
	tr := svNewTree()
	top := tr.spawn(t, sys, &svNode{name: "top"})
	tr.waitCount(t, "top:Started", 1)
	terminated := svWatch(t, sys, top)

	sys.Send(top, svBoom("boom 1"))
	tr.waitCount(t, "top:Started", 2)
	sys.Send(top, svBoom("boom 2"))
	term := svRecv(t, terminated, "Terminated")
	assert.Equal(t, actor.ReasonFailed, term.Reason)
	d := events.decisions(nil)
	require.Len(t, d, 2)
	assert.Equal(t, []supervisor.Directive{supervisor.Restart, supervisor.Escalate}, svDirectives(d))
	assert.True(t, d[1].LimitExceeded)
	assert.Len(t, events.restarts(top), 1)
}

// A guardian strategy that escalates has nobody to escalate to: the
// top-level actor is stopped.
func TestGuardianEscalateStopsTopLevelActor(t *testing.T) {
	sys := svSystem(t, actor.WithGuardianStrategy(supervisor.OneForOne(supervisor.WithDecider(svEscalate))))
	tr := svNewTree()
	top := tr.spawn(t, sys, &svNode{name: "top"})
	tr.waitCount(t, "top:Started", 1)
	terminated := svWatch(t, sys, top)
	bystander := sys.Spawn(svPokeable("bystander"))

	sys.Send(top, svBoom("boom"))
	term := svRecv(t, terminated, "Terminated")
	assert.Equal(t, actor.ReasonFailed, term.Reason)
	assert.Zero(t, tr.j.countPrefix("top:Restarting"))
	assert.Equal(t, svPokeReply("bystander"), svAsk(t, sys, bystander, svPoke{}))
}

type svOddPanic struct{ code int }

// Whatever an actor panics with, the process and the other actors carry
// on.
func TestSupervisionPanicNeverKillsProcess(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	bystander := sys.Spawn(svPokeable("bystander"))

	errBad := errors.New("bad")
	three := 3
	cases := []struct {
		name  string
		do    func()
		check func(t *testing.T, reason any)
	}{
		{"string", func() { panic("oops") }, func(t *testing.T, r any) { assert.Equal(t, "oops", r) }},
		{"error", func() { panic(errBad) }, func(t *testing.T, r any) { assert.Same(t, errBad, r) }},
		{"struct", func() { panic(svOddPanic{7}) }, func(t *testing.T, r any) { assert.Equal(t, svOddPanic{7}, r) }},
		{"nil map", func() {
			var m map[string]int
			//lint:ignore SA5000 the panic is the point
			m["x"] = 1
		}, func(t *testing.T, r any) { assert.Implements(t, (*runtime.Error)(nil), r) }},
		{"index", func() {
			var s []int
			_ = s[three]
		}, func(t *testing.T, r any) { assert.Implements(t, (*runtime.Error)(nil), r) }},
		{"nil pointer", func() {
			var p *svOddPanic
			_ = p.code
		}, func(t *testing.T, r any) { assert.Implements(t, (*runtime.Error)(nil), r) }},
		{"panic(nil)", func() { panic(nil) }, func(t *testing.T, r any) {
			var pe *runtime.PanicNilError
			assert.ErrorAs(t, r.(error), &pe)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			victim := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
				if _, ok := c.Message().(svBoom); ok {
					tc.do()
				}
			}))
			terminated := svWatch(t, sys, victim)
			sys.Send(victim, svBoom(tc.name))
			term := svRecv(t, terminated, "Terminated")
			assert.Equal(t, actor.ReasonFailed, term.Reason)
			f := events.failures(victim)
			require.Len(t, f, 1)
			tc.check(t, f[0].Reason)
			assert.Equal(t, svBoom(tc.name), f[0].Message)
			assert.Equal(t, svPokeReply("bystander"), svAsk(t, sys, bystander, svPoke{}))
		})
	}

	// A panic in Started is a failure like any other.
	victim := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Started); ok {
			panic("cannot start")
		}
	}))
	svEventually(t, func() bool { return len(events.failures(victim)) == 1 })
	f := events.failures(victim)[0]
	assert.Equal(t, "cannot start", f.Reason)
	assert.Equal(t, actor.Started{}, f.Message)
	assert.ErrorIs(t, svAskErr(sys, victim, svPoke{}), actor.ErrDeadLetter)

	// Many failures at once, interleaved with requests to the bystander.
	var wg sync.WaitGroup
	for i := range 50 {
		v := sys.Spawn(svPokeable("v"))
		sys.Send(v, svBoom(fmt.Sprint(i)))
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), svWait)
			defer cancel()
			r, err := sys.Request(ctx, bystander, svPoke{})
			assert.NoError(t, err)
			assert.Equal(t, svPokeReply("bystander"), r)
		})
	}
	wg.Wait()
	svEventually(t, func() bool { return len(svEventsOf[actor.ActorFailed](events, nil)) == len(cases)+1+50 })
	assert.Equal(t, svPokeReply("bystander"), svAsk(t, sys, bystander, svPoke{}))
}

// A restart stops the old instance's children before the new instance
// starts; the old children's PIDs are dead.
func TestSupervisionRestartStopsChildrenFirst(t *testing.T) {
	sys := svSystem(t)
	tr := svNewTree()
	tr.spawn(t, sys, &svNode{
		name:     "top",
		strategy: supervisor.OneForOne(),
		children: []*svNode{{
			name:     "p",
			children: []*svNode{{name: "c1"}, {name: "c2", children: []*svNode{{name: "gc"}}}},
		}},
	})
	tr.waitCount(t, "gc:Started", 1)
	tr.waitCount(t, "c1:Started", 1)
	p := tr.pid(t, "p")
	oldC1, oldGC := tr.pid(t, "c1"), tr.pid(t, "gc")

	sys.Send(p, svBoom("boom"))
	tr.waitCount(t, "gc:Started", 2)
	tr.waitCount(t, "c1:Started", 2)

	for _, kid := range []string{"c1", "c2", "gc"} {
		tr.j.requireOrder(t,
			svAt("p:Restarting(boom)"),
			svAt(kid+":Stopping"),
			svAt(kid+":Stopped"),
			svAtN("p:Started", 2),
			svAtN(kid+":Started", 2),
		)
	}
	tr.j.requireOrder(t, svAt("gc:Stopped"), svAt("c2:Stopped"))
	assert.Zero(t, tr.j.countPrefix("c1:Restarting"), "children are stopped, not restarted")
	assert.Equal(t, 2, svAsk(t, sys, p, svCountChildren{}), "only the new children")
	assert.ErrorIs(t, svAskErr(sys, oldC1, svPoke{}), actor.ErrDeadLetter)
	assert.ErrorIs(t, svAskErr(sys, oldGC, svPoke{}), actor.ErrDeadLetter)
	assert.Equal(t, svPokeReply("gc"), svAsk(t, sys, tr.pid(t, "gc"), svPoke{}))
	assert.Equal(t, svPokeReply("gc"), svAsk(t, sys, sys.Lookup("top/p/c2/gc"), svPoke{}))
}

//go:noinline
func explodeInSupervisionTest(reason string) {
	panic(reason)
}

func TestSupervisionFailureStackNamesPanickingFunction(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	childProps := actor.PropsFromFunc(func(c *actor.Context) {
		if m, ok := c.Message().(svBoom); ok {
			explodeInSupervisionTest(string(m))
		}
	})
	_, c := svSpawnWithChild(t, sys, supervisor.OneForOne(), childProps)
	sys.Send(c, svBoom("kaboom"))
	svEventually(t, func() bool { return len(events.failures(c)) == 1 })
	f := events.failures(c)[0]
	assert.Equal(t, "kaboom", f.Reason)
	assert.Equal(t, svBoom("kaboom"), f.Message)
	stack := string(f.Stack)
	assert.Contains(t, stack, "explodeInSupervisionTest", "stack:\n%s", stack)
	assert.Contains(t, stack, "supervision_test.go", "stack:\n%s", stack)
	// The stack is the panicking goroutine's at the panic: the panicking
	// function is above the actor's Receive that called it.
	caller := strings.Index(stack, "TestSupervisionFailureStackNamesPanickingFunction.func")
	require.NotEqual(t, -1, caller, "the calling Receive is in the stack:\n%s", stack)
	assert.Less(t, strings.Index(stack, "explodeInSupervisionTest"), caller, "stack:\n%s", stack)
}

// A child whose failure is escalated stays suspended until its parent's
// supervisor decides; when it resumes the parent, the child is resumed
// too, with its state, and nothing is restarted.
func TestSupervisionEscalatedChildResumesWithParent(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	var starts atomic.Int32
	kids := make(chan *actor.PID, 1)
	childProps := actor.PropsFromProducer(func() actor.Actor {
		n := 0
		return actor.ReceiveFunc(func(c *actor.Context) {
			switch m := c.Message().(type) {
			case actor.Started:
				starts.Add(1)
			case svIncrement:
				n++
			case svBoom:
				panic(m)
			case svGetTally:
				c.Respond(n)
			}
		})
	})
	parentProps := actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			kids <- c.Spawn(childProps)
		case svPoke:
			c.Respond(svPokeReply("p"))
		}
	}, actor.WithSupervisor(supervisor.OneForOne(supervisor.WithDecider(svEscalate))))
	gp := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Started); ok {
			c.Spawn(parentProps)
		}
	}, actor.WithSupervisor(supervisor.OneForOne(supervisor.WithDecider(svResume)))))
	c := svRecv(t, kids, "child PID")

	sys.Send(c, svIncrement{})
	sys.Send(c, svIncrement{})
	sys.Send(c, svBoom("boom"))
	sys.Send(c, svIncrement{})
	assert.Equal(t, 3, svAsk(t, sys, c, svGetTally{}))
	assert.EqualValues(t, 1, starts.Load())

	all := events.decisions(nil)
	require.Len(t, all, 2, "%+v", all)
	assert.True(t, all[0].Child.Equal(c))
	assert.Equal(t, supervisor.Escalate, all[0].Directive)
	assert.True(t, all[1].Supervisor.Equal(gp))
	assert.Equal(t, supervisor.Resume, all[1].Directive)
	assert.Empty(t, svEventsOf[actor.ActorRestarted](events, nil))
}

// An actor that failed waits, suspended, for its supervisor's decision:
// until it is restarted (here after a backoff) the failed instance must
// not be handed anything, neither its receive timeouts nor the
// Terminated of an actor it watches. A Terminated that arrives meanwhile
// belongs to the new instance.
func TestSupervisionFailedActorReceivesNothingBeforeRestart(t *testing.T) {
	sys := svSystem(t)
	var j svJournal
	watched := sys.Spawn(svPokeable("watched"))
	failed := make(chan struct{})
	var instances atomic.Int32
	childProps := actor.PropsFromProducer(func() actor.Actor {
		id := instances.Add(1)
		return actor.ReceiveFunc(func(c *actor.Context) {
			switch m := c.Message().(type) {
			case actor.Started:
				j.add("%d:Started", id)
				c.Watch(watched)
				c.SetReceiveTimeout(20 * time.Millisecond)
			case actor.Restarting:
				j.add("%d:Restarting", id)
			case actor.ReceiveTimeout:
				j.add("%d:ReceiveTimeout", id)
			case actor.Terminated:
				j.add("%d:Terminated(%s)", id, m.Reason)
			case svPoke:
				c.Respond(svPokeReply("child"))
			case svBoom:
				j.add("%d:boom", id)
				close(failed)
				panic(m)
			}
		})
	})
	backoff := supervisor.Backoff{Initial: 250 * time.Millisecond}
	_, c := svSpawnWithChild(t, sys, supervisor.OneForOne(supervisor.WithBackoff(backoff)), childProps)
	svEventually(t, func() bool { return j.count("1:Started") == 1 })

	sys.Send(c, svBoom("boom"))
	svRecv(t, failed, "failure")
	sys.Stop(watched) // dies while the watcher waits for its restart
	svEventually(t, func() bool { return j.count("2:Started") == 1 }, "restart; journal %q", j.all())
	svEventually(t, func() bool { return j.count("2:Terminated(stopped)") >= 1 },
		"the new instance learns that the watched actor is gone; journal %q", j.all())
	svAsk(t, sys, c, svPoke{})
	assert.Equal(t, 1, j.countPrefix("2:Terminated"), "exactly one Terminated: journal %q", j.all())

	entries := j.all()
	boomAt, restartAt := slices.Index(entries, "1:boom"), slices.Index(entries, "1:Restarting")
	require.True(t, boomAt >= 0 && restartAt > boomAt, "journal %q", entries)
	assert.Empty(t, entries[boomAt+1:restartAt],
		"the failed instance was handed messages while it waited for its restart: journal %q", entries)
}

// Because the failed instance is handed its receive timeouts, a handler
// that panics again (the instance is broken, after all) counts as new
// failures of the same child: one failure then uses up MaxRetries while the
// first restart is still pending, and the child is stopped without ever
// being restarted.
func TestSupervisionOneFailureIsOneRestartDespiteReceiveTimeout(t *testing.T) {
	sys := svSystem(t)
	events := svRecordEvents(t, sys)
	var instances atomic.Int32
	started := make(chan int32, 4)
	childProps := actor.PropsFromProducer(func() actor.Actor {
		id := instances.Add(1)
		broken := false
		return actor.ReceiveFunc(func(c *actor.Context) {
			switch m := c.Message().(type) {
			case actor.Started:
				started <- id
				c.SetReceiveTimeout(20 * time.Millisecond)
			case actor.ReceiveTimeout:
				if broken {
					panic("broken instance")
				}
			case svBoom:
				broken = true
				panic(m)
			}
		})
	})
	strategy := supervisor.OneForOne(supervisor.MaxRetries(3), supervisor.WithBackoff(supervisor.Backoff{Initial: 250 * time.Millisecond}))
	p, c := svSpawnWithChild(t, sys, strategy, childProps)
	require.EqualValues(t, 1, svRecv(t, started, "start"))

	sys.Send(c, svBoom("boom"))
	select {
	case id := <-started:
		assert.EqualValues(t, 2, id)
	case <-time.After(time.Second):
		assert.Fail(t, "the child was never restarted")
	}
	d := events.decisions(p)
	require.NotEmpty(t, d)
	assert.Equal(t, supervisor.Restart, d[0].Directive)
	var got []string
	for _, e := range d {
		got = append(got, fmt.Sprintf("%v(%v, limit exceeded: %v)", e.Directive, e.Reason, e.LimitExceeded))
	}
	assert.Len(t, got, 1, "one failure, one decision; got %q", got)
	var reasons []any
	for _, f := range events.failures(c) {
		reasons = append(reasons, f.Reason)
	}
	assert.Len(t, reasons, 1, "the failed instance failed again while suspended: %v", reasons)
}

// The watches an actor holds survive its restart (its PID does not
// change). A watched actor that dies while the watcher is restarting (here
// the restart waits for a slow child to stop) must still be reported, to
// the new instance.
func TestSupervisionRestartKeepsWatchOnOtherActors(t *testing.T) {
	sys := svSystem(t, actor.WithWorkers(4))
	watched := sys.Spawn(svPokeable("watched"))
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	childStopping := make(chan struct{})
	slowChild := actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Stopping); ok {
			close(childStopping)
			<-release // hold the parent's restart until the test says so
		}
	})
	var j svJournal
	var instances atomic.Int32
	ready := make(chan struct{}, 4)
	watcherProps := actor.PropsFromProducer(func() actor.Actor {
		id := instances.Add(1)
		return actor.ReceiveFunc(func(c *actor.Context) {
			switch m := c.Message().(type) {
			case actor.Started:
				c.Watch(watched)
				if id == 1 {
					c.Spawn(slowChild)
				}
				j.add("%d:Started", id)
				ready <- struct{}{}
			case actor.Terminated:
				j.add("%d:Terminated(%s)", id, m.Reason)
			case svPoke:
				c.Respond(svPokeReply("watcher"))
			case svBoom:
				panic(m)
			}
		})
	})
	_, w := svSpawnWithChild(t, sys, supervisor.OneForOne(), watcherProps)
	svRecv(t, ready, "watcher start")
	// A second watcher, registered after w's watch, to know when the
	// watched actor has reported its death to w.
	gone := svWatch(t, sys, watched)

	sys.Send(w, svBoom("boom"))
	svRecv(t, childStopping, "restart to stop the child")
	sys.Stop(watched)
	svRecv(t, gone, "the watched actor to stop")
	unblock()
	svRecv(t, ready, "new instance")
	require.Eventually(t, func() bool { return j.count("2:Terminated(stopped)") >= 1 }, time.Second, svTick,
		"the new instance never learned that the watched actor is gone; journal %q", j.all())
	svAsk(t, sys, w, svPoke{})
	assert.Equal(t, 1, j.countPrefix("2:Terminated"), "exactly one Terminated: journal %q", j.all())
	assert.Zero(t, j.countPrefix("1:Terminated"), "journal %q", j.all())
}
