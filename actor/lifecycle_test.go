package actor_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
)

// rtLog is an ordered record of events from several actors.
type rtLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *rtLog) add(s string) {
	l.mu.Lock()
	l.entries = append(l.entries, s)
	l.mu.Unlock()
}

func (l *rtLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

func (l *rtLog) count(s string) int {
	n := 0
	for _, e := range l.snapshot() {
		if e == s {
			n++
		}
	}
	return n
}

// rtProbe reports every message it handles on out; on the int 0 it first
// closes entered and waits for release.
func rtProbe(out chan<- any, entered chan<- struct{}, release <-chan struct{}) *actor.Props {
	return actor.PropsFromFunc(func(c *actor.Context) {
		m := c.Message()
		if m == 0 {
			close(entered)
			rtBlock(release)
		}
		out <- m
	})
}

func rtCollect(t *testing.T, out <-chan any, n int) []any {
	t.Helper()
	got := make([]any, 0, n)
	for range n {
		got = append(got, rtRecv(t, out, fmt.Sprintf("message %d of %d (got %v)", len(got)+1, n, got)))
	}
	return got
}

func TestStartedBeforeAnyUserMessage(t *testing.T) {
	sys := rtSystem(t)
	const actors, msgs = 300, 20
	var bad atomic.Int32
	var done sync.WaitGroup
	done.Add(2 * actors)
	newProps := func() *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor {
			next := -1 // -1: waiting for Started
			return actor.ReceiveFunc(func(c *actor.Context) {
				switch m := c.Message().(type) {
				case actor.Started:
					if next != -1 {
						bad.Add(1)
					}
					next = 0
				case int:
					if m != next {
						bad.Add(1)
					}
					next = m + 1
					if next == msgs {
						done.Done()
					}
				}
			})
		})
	}
	props := newProps()
	childProps := newProps()
	// Top-level actors get messages straight after Spawn...
	for range actors {
		pid := sys.Spawn(props)
		for i := range msgs {
			sys.Send(pid, i)
		}
	}
	// ...and children straight after Context.Spawn.
	for range actors {
		sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(actor.Started); ok {
				kid := c.Spawn(childProps)
				for i := range msgs {
					c.Send(kid, i)
				}
			}
		}))
	}
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	rtClosed(t, finished, "all messages")
	require.Zero(t, bad.Load(), "an actor got a user message before Started, or out of order")
}

func TestStopOrderChildrenBeforeParent(t *testing.T) {
	sys := rtSystem(t)
	log := &rtLog{}
	childrenAtStopped := make(chan int, 1)
	var node func(name string, depth int) *actor.Props
	node = func(name string, depth int) *actor.Props {
		return actor.PropsFromFunc(func(c *actor.Context) {
			switch c.Message().(type) {
			case actor.Started:
				if depth > 0 {
					for i := range 2 {
						c.Spawn(node(fmt.Sprintf("%s.%d", name, i), depth-1))
					}
				}
				log.add(name + ":Started")
			case actor.Stopping:
				log.add(name + ":Stopping")
			case actor.Stopped:
				log.add(name + ":Stopped")
				if name == "r" {
					childrenAtStopped <- len(c.Children())
				}
			}
		})
	}
	root := sys.Spawn(node("r", 2))
	names := []string{"r", "r.0", "r.1", "r.0.0", "r.0.1", "r.1.0", "r.1.1"}
	require.Eventually(t, func() bool { return len(log.snapshot()) == len(names) }, rtWait, time.Millisecond)

	sys.Stop(root)
	term := rtAwaitGone(t, sys, root)
	require.Equal(t, actor.ReasonStopped, term.Reason)
	require.Zero(t, rtRecv(t, childrenAtStopped, "root Stopped"), "no live children when the parent gets Stopped")

	entries := log.snapshot()
	idx := func(s string) int {
		require.Equal(t, 1, log.count(s), "%s exactly once in %v", s, entries)
		return slices.Index(entries, s)
	}
	for _, n := range names {
		require.Less(t, idx(n+":Started"), idx(n+":Stopping"))
		require.Less(t, idx(n+":Stopping"), idx(n+":Stopped"), "Stopping before Stopped for %s", n)
	}
	for _, n := range names[1:] {
		parent := n[:len(n)-2]
		require.Less(t, idx(parent+":Stopping"), idx(n+":Stopping"), "the parent gets Stopping before its children stop")
		require.Less(t, idx(n+":Stopped"), idx(parent+":Stopped"), "%s stops before its parent", n)
	}
}

func TestStopIsAfterCurrentMessage(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	out, entered, release := make(chan any, 64), make(chan struct{}), make(chan struct{})
	pid := rtOccupied(t, sys, rtProbe(out, entered, release), entered)
	for i := 1; i <= 5; i++ {
		sys.Send(pid, i)
	}
	sys.Stop(pid)
	close(release)

	require.Equal(t, []any{actor.Started{}, 0, actor.Stopping{}, actor.Stopped{}}, rtCollect(t, out, 4),
		"the current message completes, the queued ones are not processed")
	rtAwaitGone(t, sys, pid)
	dl.await(t, sys, []any{1, 2, 3, 4, 5}) // the queued messages, in order
	for _, d := range dl.all() {
		require.True(t, d.PID.Equal(pid))
	}
	rtNoRecv(t, out, 20*time.Millisecond, "nothing after Stopped")
}

func TestStopTwiceStopsOnce(t *testing.T) {
	sys := rtSystem(t)
	out := make(chan any, 16)
	pid := sys.Spawn(rtProbe(out, nil, nil))
	require.Equal(t, actor.Started{}, rtRecv(t, out, "Started"))
	sys.Stop(pid)
	sys.Stop(pid)
	rtAwaitGone(t, sys, pid)
	sys.Stop(pid) // after death: nothing happens
	require.Equal(t, []any{actor.Stopping{}, actor.Stopped{}}, rtCollect(t, out, 2))
	rtNoRecv(t, out, 20*time.Millisecond, "a second Stopping or Stopped")
	require.Zero(t, sys.DeadLetterCount())
}

func TestStopSelfInsideReceive(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	out := make(chan any, 16)
	hold := make(chan struct{})
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		out <- c.Message()
		if c.Message() == "stop yourself" {
			c.Stop(c.Self())
			rtBlock(hold) // messages queue up meanwhile
			out <- "still in Receive"
		}
	}))
	sys.Send(pid, "stop yourself")
	require.Equal(t, []any{actor.Started{}, "stop yourself"}, rtCollect(t, out, 2))
	sys.Send(pid, "after")
	close(hold)
	require.Equal(t, []any{"still in Receive", actor.Stopping{}, actor.Stopped{}}, rtCollect(t, out, 3))
	rtAwaitGone(t, sys, pid)
	dl.await(t, sys, []any{"after"})
}

func TestPoisonIsAfterQueuedMessages(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	out, entered, release := make(chan any, 64), make(chan struct{}), make(chan struct{})
	pid := rtOccupied(t, sys, rtProbe(out, entered, release), entered)
	for i := 1; i <= 5; i++ {
		sys.Send(pid, i)
	}
	sys.Poison(pid)
	for i := 6; i <= 8; i++ {
		sys.Send(pid, i)
	}
	close(release)

	require.Equal(t, []any{actor.Started{}, 0, 1, 2, 3, 4, 5, actor.Stopping{}, actor.Stopped{}}, rtCollect(t, out, 9),
		"everything queued before the poison is processed, then the actor stops")
	rtAwaitGone(t, sys, pid)
	dl.await(t, sys, []any{6, 7, 8}) // the messages after the poison
}

func TestContextPoisonChild(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	out := make(chan any, 64)
	childReady := make(chan *actor.PID, 1)
	parentDone := make(chan int, 1)
	parent := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			kid := c.Spawn(rtProbe(out, nil, nil))
			c.Watch(kid)
			for i := 1; i <= 3; i++ {
				c.Send(kid, i)
			}
			c.Poison(kid)
			c.Send(kid, 4)
			childReady <- kid
		case actor.Terminated:
			parentDone <- len(c.Children())
		}
	}))
	kid := rtRecv(t, childReady, "child")
	require.Equal(t, []any{actor.Started{}, 1, 2, 3, actor.Stopping{}, actor.Stopped{}}, rtCollect(t, out, 6))
	require.Zero(t, rtRecv(t, parentDone, "Terminated of the child"), "the child is no longer listed")
	rtAwaitGone(t, sys, kid)
	dl.await(t, sys, []any{4})
	sys.Stop(parent)
	rtAwaitGone(t, sys, parent)
}

// ---------------------------------------------------------------------------
// Watch.

type rtWatchCmd struct{ pid *actor.PID }
type rtUnwatchCmd struct{ pid *actor.PID }
type rtProbeCmd struct{}

// rtWatcher watches and unwatches on command and reports every Terminated.
func rtWatcher(got chan<- actor.Terminated) *actor.Props {
	return actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case rtWatchCmd:
			c.Watch(m.pid)
			c.Respond(true)
		case rtUnwatchCmd:
			c.Unwatch(m.pid)
			c.Respond(true)
		case rtProbeCmd:
			c.Respond(true)
		case actor.Terminated:
			got <- m
		}
	})
}

func TestWatchDeliversTerminated(t *testing.T) {
	sys := rtSystem(t)
	target := sys.Spawn(rtEcho())
	gots := make([]chan actor.Terminated, 3)
	watchers := make([]*actor.PID, 3)
	for i := range watchers {
		gots[i] = make(chan actor.Terminated, 4)
		watchers[i] = sys.Spawn(rtWatcher(gots[i]))
		rtRequest(t, sys, watchers[i], rtWatchCmd{target})
	}
	rtRequest(t, sys, watchers[0], rtWatchCmd{target}) // watching twice: one Terminated
	sys.Stop(target)
	for i, got := range gots {
		term := rtRecv(t, got, fmt.Sprintf("Terminated at watcher %d", i))
		require.True(t, term.PID.Equal(target))
		require.Equal(t, actor.ReasonStopped, term.Reason)
	}
	rtRequest(t, sys, watchers[0], rtProbeCmd{})
	require.Empty(t, gots[0], "one Terminated per watched actor")
}

func TestWatchAlreadyDeadActor(t *testing.T) {
	sys := rtSystem(t)
	target := sys.Spawn(rtEcho())
	sys.Stop(target)
	rtAwaitGone(t, sys, target)

	got := make(chan actor.Terminated, 1)
	w := sys.Spawn(rtWatcher(got))
	rtRequest(t, sys, w, rtWatchCmd{target})
	term := rtRecv(t, got, "Terminated for a dead actor")
	require.True(t, term.PID.Equal(target))
	require.Equal(t, actor.ReasonStopped, term.Reason)
}

func TestWatchUnknownPID(t *testing.T) {
	sys := rtSystem(t)
	got := make(chan actor.Terminated, 1)
	w := sys.Spawn(rtWatcher(got))
	ghost := &actor.PID{Node: sys.Node(), ID: "ghost"}
	rtRequest(t, sys, w, rtWatchCmd{ghost})
	term := rtRecv(t, got, "Terminated for an unknown PID")
	require.True(t, term.PID.Equal(ghost))
	require.Equal(t, actor.ReasonNotFound, term.Reason)
	require.Equal(t, "not found", term.Reason.String())
	require.Equal(t, "stopped", actor.ReasonStopped.String())
	require.Equal(t, "failed", actor.ReasonFailed.String())
}

func TestUnwatch(t *testing.T) {
	sys := rtSystem(t)
	target := sys.Spawn(rtEcho())
	got := make(chan actor.Terminated, 1)
	w := sys.Spawn(rtWatcher(got))
	rtRequest(t, sys, w, rtWatchCmd{target})
	rtRequest(t, sys, w, rtUnwatchCmd{target})
	rtRequest(t, sys, w, rtUnwatchCmd{target}) // not watching any more: harmless
	sys.Stop(target)
	rtAwaitGone(t, sys, target)
	// A Terminated already sent would be handled before the probe:
	// system messages come before user messages.
	rtRequest(t, sys, w, rtProbeCmd{})
	require.Empty(t, got, "no Terminated after Unwatch")

	// Watching again afterwards works (the actor is dead by now).
	rtRequest(t, sys, w, rtWatchCmd{target})
	require.True(t, rtRecv(t, got, "Terminated after re-watch").PID.Equal(target))
}

func TestUnwatchRacingTermination(t *testing.T) {
	sys := rtSystem(t)
	for i := range 50 {
		target := sys.Spawn(rtEcho())
		log := &rtLog{}
		w := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			switch m := c.Message().(type) {
			case rtWatchCmd:
				c.Watch(m.pid)
				c.Respond(true)
			case rtUnwatchCmd:
				c.Unwatch(m.pid)
				log.add("unwatched")
				c.Respond(true)
			case rtProbeCmd:
				c.Respond(true)
			case actor.Terminated:
				log.add("terminated")
			}
		}))
		rtRequest(t, sys, w, rtWatchCmd{target})
		sys.Stop(target) // may finish before, during or after the Unwatch
		rtRequest(t, sys, w, rtUnwatchCmd{target})
		rtAwaitGone(t, sys, target)
		rtRequest(t, sys, w, rtProbeCmd{})
		// A Terminated handled before the Unwatch is fine; none after it.
		entries := log.snapshot()
		require.Equal(t, "unwatched", entries[len(entries)-1], "round %d: %v", i, entries)
		sys.Stop(w)
	}
}

func TestParentWatchesChild(t *testing.T) {
	sys := rtSystem(t)
	got := make(chan actor.Terminated, 1)
	kids := make(chan *actor.PID, 1)
	parent := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			kid := c.Spawn(rtEcho())
			c.Watch(kid)
			kids <- kid
		case rtStopChild:
			c.Stop(m.pid)
			c.Respond(true)
		case actor.Terminated:
			got <- m
		}
	}))
	kid := rtRecv(t, kids, "child")
	rtRequest(t, sys, parent, rtStopChild{kid})
	term := rtRecv(t, got, "Terminated of the child")
	require.True(t, term.PID.Equal(kid))
	require.Equal(t, actor.ReasonStopped, term.Reason)
}

// ---------------------------------------------------------------------------
// Receive timeouts.

func TestReceiveTimeoutAfterIdle(t *testing.T) {
	sys := rtSystem(t)
	const d = 50 * time.Millisecond
	timeouts := make(chan time.Time, 16)
	start := time.Now()
	sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			c.SetReceiveTimeout(d)
		case actor.ReceiveTimeout:
			if c.Sender() != nil {
				panic("ReceiveTimeout has no sender")
			}
			timeouts <- time.Now()
		}
	}))
	t1 := rtRecv(t, timeouts, "ReceiveTimeout")
	require.GreaterOrEqual(t, t1.Sub(start), d)
	require.Less(t, t1.Sub(start), d+500*time.Millisecond)
	t2 := rtRecv(t, timeouts, "second ReceiveTimeout")
	require.GreaterOrEqual(t, t2.Sub(t1), d-5*time.Millisecond, "it repeats after each idle period")
}

func TestReceiveTimeoutNotWhileBusy(t *testing.T) {
	sys := rtSystem(t)
	const d = 150 * time.Millisecond
	timeouts := make(chan time.Time, 16)
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started:
			c.SetReceiveTimeout(d)
		case actor.ReceiveTimeout:
			timeouts <- time.Now()
		}
	}))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(3 * d)
	var last time.Time
	for time.Now().Before(end) {
		<-tick.C
		last = time.Now()
		sys.Send(pid, "busy")
		select {
		case ts := <-timeouts:
			require.FailNowf(t, "ReceiveTimeout while busy", "at %v, last message %v before",
				ts.Format(time.StampMicro), ts.Sub(last))
		default:
		}
	}
	ts := rtRecv(t, timeouts, "ReceiveTimeout once idle")
	require.GreaterOrEqual(t, ts.Sub(last), d, "the idle period counts from the last message")
}

func TestReceiveTimeoutTurnedOff(t *testing.T) {
	sys := rtSystem(t)
	const d = 30 * time.Millisecond
	timeouts := make(chan struct{}, 16)
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message() {
		case actor.Started{}:
			c.SetReceiveTimeout(d)
		case actor.ReceiveTimeout{}:
			timeouts <- struct{}{}
		case "off":
			c.SetReceiveTimeout(0)
			c.Respond(true)
		case "on":
			c.SetReceiveTimeout(d)
			c.Respond(true)
		}
	}))
	rtRecv(t, timeouts, "ReceiveTimeout")
	rtRequest(t, sys, pid, "off")
	for len(timeouts) > 0 { // one may have raced with "off"
		<-timeouts
	}
	rtNoRecv(t, timeouts, 5*d, "ReceiveTimeout after SetReceiveTimeout(0)")
	rtRequest(t, sys, pid, "on")
	rtRecv(t, timeouts, "ReceiveTimeout after turning it on again")
	sys.Stop(pid)
	rtAwaitGone(t, sys, pid)
	for len(timeouts) > 0 {
		<-timeouts
	}
	rtNoRecv(t, timeouts, 3*d, "ReceiveTimeout after the actor stopped")
}

// Every message sent while an actor stops is either processed or counted as
// a dead letter: none is lost.
func TestNoMessageLostAcrossStop(t *testing.T) {
	for round := range 20 {
		sys := rtSystem(t)
		var processed atomic.Int64
		pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(int); ok {
				processed.Add(1)
			}
		}))
		const senders, per = 4, 2_000
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for i := range per {
					sys.Send(pid, i)
				}
			})
		}
		for processed.Load() < 100 {
			runtime.Gosched()
		}
		sys.Stop(pid)
		wg.Wait()
		rtAwaitGone(t, sys, pid)
		require.Eventually(t, func() bool {
			return processed.Load()+int64(sys.DeadLetterCount()) == senders*per
		}, rtWait, time.Millisecond, "round %d: processed %d + dead letters %d != %d",
			round, processed.Load(), sys.DeadLetterCount(), senders*per)
	}
}
