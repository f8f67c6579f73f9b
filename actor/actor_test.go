package actor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/mailbox"
)

// Helpers shared by the runtime tests. Their names start with rt so that
// they do not collide with those of other test files in the package.

// rtWait bounds every wait for something that should happen promptly.
const rtWait = 3 * time.Second

func rtDiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// rtSystem starts a quiet system and shuts it down when the test ends.
func rtSystem(t testing.TB, opts ...actor.Option) *actor.System {
	t.Helper()
	opts = append([]actor.Option{actor.WithLogger(rtDiscardLogger())}, opts...)
	sys := actor.NewSystem(opts...)
	t.Cleanup(func() {
		if t.Failed() {
			// Whatever made the test fail may have wedged an actor: do
			// not add a long wait and a second, derived failure.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = sys.Shutdown(ctx)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, sys.Shutdown(ctx), "shutdown at the end of the test")
	})
	return sys
}

// rtOccupied spawns props and keeps the actor busy with a first message
// (0) until the caller releases it, so that what is sent next queues up.
func rtOccupied(t testing.TB, sys *actor.System, props *actor.Props, entered <-chan struct{}) *actor.PID {
	t.Helper()
	pid := sys.Spawn(props)
	sys.Send(pid, 0)
	rtClosed(t, entered, "first message")
	return pid
}

// rtRecv returns the next value from ch or fails the test after rtWait.
func rtRecv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(rtWait):
		require.FailNowf(t, "timed out", "waiting for %s", what)
	}
	panic("unreachable")
}

// rtBlock is what test actors use to wait inside Receive until the test
// lets them go. It gives up after a while, so that a runtime that runs the
// Receive somewhere unexpected (on the test's own goroutine, say) fails the
// test instead of hanging the whole binary.
func rtBlock(ch <-chan struct{}) {
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
	}
}

// rtNoRecv fails the test if ch yields a value within d.
func rtNoRecv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		require.FailNowf(t, "unexpected value", "%s: got %#v", what, v)
	case <-time.After(d):
	}
}

// rtClosed waits until ch is closed.
func rtClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(rtWait):
		require.FailNowf(t, "timed out", "waiting for %s", what)
	}
}

// rtWatch spawns a watcher of pid and returns the channel on which it
// reports the Terminated it receives. Watchers are told after the actor is
// dead, so once the Terminated arrives, sends to pid go to dead letters
// synchronously.
func rtWatch(sys *actor.System, pid *actor.PID) <-chan actor.Terminated {
	ch := make(chan actor.Terminated, 1)
	sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Watch(pid)
		case actor.Terminated:
			ch <- m
			c.Stop(c.Self())
		}
	}))
	return ch
}

// rtAwaitGone waits until pid is dead.
func rtAwaitGone(t testing.TB, sys *actor.System, pid *actor.PID) actor.Terminated {
	t.Helper()
	return rtRecv(t, rtWatch(sys, pid), "termination of "+pid.String())
}

// rtDeadLetters records the dead letters published on sys's event stream.
type rtDeadLetters struct {
	mu   sync.Mutex
	list []actor.DeadLetter
	sub  *actor.Subscription
}

func rtRecordDeadLetters(t testing.TB, sys *actor.System) *rtDeadLetters {
	d := &rtDeadLetters{}
	d.sub = actor.Subscribe(sys.EventStream(), func(dl actor.DeadLetter) {
		d.mu.Lock()
		d.list = append(d.list, dl)
		d.mu.Unlock()
	})
	t.Cleanup(d.sub.Unsubscribe)
	return d
}

func (d *rtDeadLetters) all() []actor.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.list)
}

// await waits until as many dead letters as want have been published, as
// the mailbox of a stopped actor is drained asynchronously, and checks
// that they are exactly want and that the system counted exactly those.
func (d *rtDeadLetters) await(t testing.TB, sys *actor.System, want []any) {
	t.Helper()
	require.Eventually(t, func() bool { return len(d.all()) >= len(want) }, rtWait, time.Millisecond,
		"waiting for dead letters %v", want)
	require.Equal(t, want, d.messages())
	require.EqualValues(t, len(want), sys.DeadLetterCount())
}

func (d *rtDeadLetters) messages() []any {
	var out []any
	for _, dl := range d.all() {
		out = append(out, dl.Message)
	}
	return out
}

// rtRequest is System.Request with a generous deadline.
func rtRequest(t testing.TB, sys *actor.System, pid *actor.PID, msg any) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rtWait)
	defer cancel()
	v, err := sys.Request(ctx, pid, msg)
	require.NoError(t, err, "request %#v to %v", msg, pid)
	return v
}

// rtSyncBuffer is a bytes.Buffer safe for a logger used from actors.
type rtSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *rtSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *rtSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ---------------------------------------------------------------------------
// Actors, spawning and names.

func TestReceiveFuncAdapter(t *testing.T) {
	var called *actor.Context
	var f actor.Actor = actor.ReceiveFunc(func(c *actor.Context) { called = c })
	f.Receive(nil) // the adapter calls the function with its argument
	require.Nil(t, called)

	sys := rtSystem(t)
	got := make(chan any, 16)
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) { got <- c.Message() }))
	require.NotNil(t, pid)
	require.Equal(t, actor.Started{}, rtRecv(t, got, "Started"))
	sys.Send(pid, "hello")
	require.Equal(t, "hello", rtRecv(t, got, "hello"))
	sys.Send(pid, 42)
	require.Equal(t, 42, rtRecv(t, got, "42"))
}

type rtSum struct{}

// rtAccumulator is an Actor struct with private state.
type rtAccumulator struct {
	started int
	sum     int
}

func (a *rtAccumulator) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		a.started++
	case int:
		a.sum += m
	case rtSum:
		c.Respond([3]any{a.sum, a.started, c.Actor() == actor.Actor(a)})
	}
}

func TestActorStruct(t *testing.T) {
	sys := rtSystem(t)
	var produced atomic.Int32
	pid := sys.Spawn(actor.PropsFromProducer(func() actor.Actor {
		produced.Add(1)
		return &rtAccumulator{}
	}))
	for i := 1; i <= 100; i++ {
		sys.Send(pid, i)
	}
	got := rtRequest(t, sys, pid, rtSum{}).([3]any)
	require.Equal(t, 5050, got[0], "sum of the messages")
	require.Equal(t, 1, got[1], "Started delivered exactly once")
	require.Equal(t, true, got[2], "Context.Actor returns the running instance")
	require.EqualValues(t, 1, produced.Load(), "the producer runs once per spawn")
}

func TestSpawnDistinctPIDsCarryNode(t *testing.T) {
	sys := rtSystem(t, actor.WithNode("node-a"))
	require.Equal(t, "node-a", sys.Node())
	props := actor.PropsFromFunc(func(*actor.Context) {})
	a, b := sys.Spawn(props), sys.Spawn(props)
	require.False(t, a.Equal(b))
	require.True(t, a.Equal(a))
	require.True(t, a.Equal(&actor.PID{Node: a.Node, ID: a.ID}), "Equal compares node and id")
	require.Equal(t, "node-a", a.Node)
	require.Equal(t, "node-a/"+a.ID, a.String())
	var nilPID *actor.PID
	require.Equal(t, "<nil>", nilPID.String())
	require.True(t, nilPID.Equal(nil))
	require.False(t, nilPID.Equal(a))
}

func TestSpawnNamedAndLookup(t *testing.T) {
	sys := rtSystem(t)
	props := actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "who" {
			c.Respond(c.Self())
		}
	})
	pid, err := sys.SpawnNamed(props, "svc")
	require.NoError(t, err)
	require.Equal(t, "svc", pid.ID)

	dup, err := sys.SpawnNamed(props, "svc")
	require.Error(t, err)
	require.ErrorIs(t, err, actor.ErrNameTaken)
	require.Nil(t, dup)

	_, err = sys.SpawnNamed(props, "")
	require.Error(t, err, "empty name")

	found := sys.Lookup("svc")
	require.NotNil(t, found)
	require.True(t, found.Equal(pid))
	require.Nil(t, sys.Lookup("nobody"))

	// A PID rebuilt from node and name (as it would arrive from elsewhere)
	// reaches the actor.
	self := rtRequest(t, sys, &actor.PID{Node: sys.Node(), ID: "svc"}, "who").(*actor.PID)
	require.True(t, self.Equal(pid))

	// Once the actor is gone the name is free again.
	sys.Stop(pid)
	rtAwaitGone(t, sys, pid)
	require.Nil(t, sys.Lookup("svc"))
	again, err := sys.SpawnNamed(props, "svc")
	require.NoError(t, err)
	require.True(t, sys.Lookup("svc").Equal(again))
}

type rtSpawnKid struct{ name string }

func TestChildSpawnNamed(t *testing.T) {
	sys := rtSystem(t)
	kid := actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "parent" {
			c.Respond(c.Parent())
		}
	})
	parentProps := actor.PropsFromFunc(func(c *actor.Context) {
		if m, ok := c.Message().(rtSpawnKid); ok {
			pid, err := c.SpawnNamed(kid, m.name)
			c.Respond([2]any{pid, err})
		}
	})
	p1, err := sys.SpawnNamed(parentProps, "p1")
	require.NoError(t, err)
	p2, err := sys.SpawnNamed(parentProps, "p2")
	require.NoError(t, err)

	r := rtRequest(t, sys, p1, rtSpawnKid{"kid"}).([2]any)
	require.Nil(t, r[1])
	kid1 := r[0].(*actor.PID)
	require.Equal(t, "p1/kid", kid1.ID, "a named child's id is parent/name")
	require.True(t, sys.Lookup("p1/kid").Equal(kid1))
	require.True(t, rtRequest(t, sys, kid1, "parent").(*actor.PID).Equal(p1))

	r = rtRequest(t, sys, p1, rtSpawnKid{"kid"}).([2]any)
	require.Nil(t, r[0])
	require.ErrorIs(t, r[1].(error), actor.ErrNameTaken, "a sibling already has the name")

	r = rtRequest(t, sys, p2, rtSpawnKid{"kid"}).([2]any)
	require.Nil(t, r[1], "another parent may use the same child name")
	require.Equal(t, "p2/kid", r[0].(*actor.PID).ID)

	r = rtRequest(t, sys, p1, rtSpawnKid{""}).([2]any)
	require.Error(t, r[1].(error), "empty name")
}

// A name is in the registry from the moment SpawnNamed reserves it. Whoever
// finds the actor by name while it is still being built (its producer is
// running) must not be able to break it: a message sent then must be
// delivered after Started (or go to dead letters), never crash the sender
// or wedge the actor.
func TestSpawnNamedConcurrentSendByName(t *testing.T) {
	sys := actor.NewSystem(actor.WithLogger(rtDiscardLogger()))
	t.Cleanup(func() {
		d := 5 * time.Second
		if t.Failed() {
			d = 100 * time.Millisecond // the actor may be wedged
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		err := sys.Shutdown(ctx)
		if !t.Failed() {
			assert.NoError(t, err)
		}
	})

	inProducer := make(chan struct{})
	senderDone := make(chan struct{})
	got := make(chan any, 16)
	props := actor.PropsFromProducer(func() actor.Actor {
		close(inProducer)
		select { // let the other goroutine look the name up meanwhile
		case <-senderDone:
		case <-time.After(rtWait):
		}
		return actor.ReceiveFunc(func(c *actor.Context) {
			switch c.Message().(type) {
			case actor.Started:
				got <- c.Message()
			case string:
				got <- c.Message()
				if c.Sender() != nil {
					c.Respond("pong")
				}
			}
		})
	})

	var panicked any
	var sent bool
	go func() {
		defer close(senderDone)
		defer func() { panicked = recover() }()
		<-inProducer
		sys.Send(&actor.PID{Node: sys.Node(), ID: "early-bird"}, "early")
		sent = true
	}()
	pid, err := sys.SpawnNamed(props, "early-bird")
	require.NoError(t, err)
	<-senderDone
	require.Nil(t, panicked, "Send to a name registered by a SpawnNamed still in progress panicked")
	require.True(t, sent)

	require.Equal(t, actor.Started{}, rtRecv(t, got, "Started"), "Started comes first")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply, err := sys.Request(ctx, pid, "ping")
	require.NoError(t, err, "the actor must be alive and responsive")
	require.Equal(t, "pong", reply)
}

// ---------------------------------------------------------------------------
// Sending.

func TestSendOrderPreservedPerSender(t *testing.T) {
	sys := rtSystem(t)
	const n = 10_000
	done := make(chan []int, 1)
	var got []int // owned by the actor until sent on done
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if v, ok := c.Message().(int); ok {
			got = append(got, v)
			if len(got) == n {
				done <- got
			}
		}
	}))
	for i := range n {
		sys.Send(pid, i)
	}
	res := rtRecv(t, done, "all messages")
	require.Len(t, res, n)
	for i, v := range res {
		if v != i {
			require.Failf(t, "out of order", "position %d holds message %d", i, v)
		}
	}
}

type rtSeq struct{ from, seq int }

func TestConcurrentSendersLoseNothing(t *testing.T) {
	sys := rtSystem(t)
	const senders, per = 16, 2_000
	type result struct {
		total     int
		perSender []int
		disorder  int
	}
	done := make(chan result, 1)
	res := result{perSender: make([]int, senders)}
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		m, ok := c.Message().(rtSeq)
		if !ok {
			return
		}
		if m.seq != res.perSender[m.from] {
			res.disorder++
		}
		res.perSender[m.from] = m.seq + 1
		if res.total++; res.total == senders*per {
			done <- res
		}
	}))
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range per {
				sys.Send(pid, rtSeq{s, i})
			}
		})
	}
	wg.Wait()
	r := rtRecv(t, done, "all messages")
	require.Equal(t, senders*per, r.total)
	require.Zero(t, r.disorder, "each sender's messages arrive in its order")
	for s, n := range r.perSender {
		require.Equal(t, per, n, "sender %d", s)
	}
	require.Zero(t, sys.DeadLetterCount())
}

// Bursts from many senders into an actor that drains and goes idle between
// them: the mailbox's queue segments are recycled over and over while
// senders race with the recycling. Every burst must be processed; a wedged
// mailbox shows up as a round that never completes.
func TestSendBurstsNeverWedgeMailbox(t *testing.T) {
	sys := rtSystem(t)
	const senders, rounds = 8, 300
	type roundDone struct{}
	var got atomic.Int64
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case int:
			got.Add(1)
		case roundDone:
			c.Respond(got.Load())
		}
	}))
	want := int64(0)
	for round := range rounds {
		burst := 1 + round%41 // crosses segment sizes at varying offsets
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for i := range burst {
					sys.Send(pid, i)
				}
			})
		}
		wg.Wait()
		want += int64(senders * burst)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		v, err := sys.Request(ctx, pid, roundDone{})
		cancel()
		require.NoError(t, err, "round %d: the actor stopped processing its mailbox (%d of %d messages processed)",
			round, got.Load(), want)
		require.Equal(t, want, v, "round %d", round)
	}
}

func TestActorToActorOrder(t *testing.T) {
	sys := rtSystem(t)
	const senders, per = 4, 2_000
	done := make(chan int, 1)
	next := make([]int, senders)
	total, disorder := 0, 0
	sink := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		m, ok := c.Message().(rtSeq)
		if !ok {
			return
		}
		if m.seq != next[m.from] {
			disorder++
		}
		next[m.from] = m.seq + 1
		if total++; total == senders*per {
			done <- disorder
		}
	}))
	for s := range senders {
		sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(actor.Started); ok {
				for i := range per {
					c.Send(sink, rtSeq{s, i})
				}
			}
		}))
	}
	require.Zero(t, rtRecv(t, done, "all messages"), "messages out of order")
}

func TestContextSendHasNoSender(t *testing.T) {
	sys := rtSystem(t)
	senders := make(chan *actor.PID, 2)
	sink := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(string); ok {
			senders <- c.Sender()
		}
	}))
	sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Started); ok {
			c.Send(sink, "from actor")
		}
	}))
	require.Nil(t, rtRecv(t, senders, "Context.Send"))
	sys.Send(sink, "from outside")
	require.Nil(t, rtRecv(t, senders, "System.Send"))
}

// ---------------------------------------------------------------------------
// Context accessors, Become, Stash, Logger, middleware.

type rtInfo struct {
	self, parent, sender *actor.PID
	children             []*actor.PID
}

type rtInfoReq struct{}
type rtSpawnChild struct{}
type rtStopChild struct{ pid *actor.PID }

func rtInfoActor(childStarted chan<- *actor.PID) actor.ReceiveFunc {
	return func(c *actor.Context) {
		switch m := c.Message().(type) {
		case rtInfoReq:
			c.Respond(rtInfo{self: c.Self(), parent: c.Parent(), sender: c.Sender(), children: c.Children()})
		case rtSpawnChild:
			c.Respond(c.Spawn(actor.PropsFromFunc(rtInfoActor(childStarted))))
		case rtStopChild:
			c.Stop(m.pid)
			c.Respond(true)
		case actor.Started:
			if childStarted != nil {
				childStarted <- c.Self()
			}
		}
	}
}

func TestContextSelfParentChildrenSender(t *testing.T) {
	sys := rtSystem(t)
	started := make(chan *actor.PID, 8)
	top := sys.Spawn(actor.PropsFromFunc(rtInfoActor(started)))
	require.True(t, rtRecv(t, started, "top Started").Equal(top))

	fut := sys.RequestFuture(top, rtInfoReq{}, rtWait)
	v, err := fut.Result(context.Background())
	require.NoError(t, err)
	info := v.(rtInfo)
	require.True(t, info.self.Equal(top), "Self is the spawned PID")
	require.NotNil(t, info.parent, "a top-level actor's parent is the root guardian")
	require.False(t, info.parent.Equal(top))
	require.True(t, info.sender.Equal(fut.PID()), "Sender of a request is the future")
	require.Empty(t, info.children)

	c1 := rtRequest(t, sys, top, rtSpawnChild{}).(*actor.PID)
	c2 := rtRequest(t, sys, top, rtSpawnChild{}).(*actor.PID)
	rtRecv(t, started, "child Started")
	rtRecv(t, started, "child Started")
	require.False(t, c1.Equal(c2))

	info = rtRequest(t, sys, top, rtInfoReq{}).(rtInfo)
	require.ElementsMatch(t, []string{c1.ID, c2.ID}, pidIDs(info.children))

	childInfo := rtRequest(t, sys, c1, rtInfoReq{}).(rtInfo)
	require.True(t, childInfo.parent.Equal(top), "a child's parent is its spawner")
	require.True(t, childInfo.self.Equal(c1))

	// Another top-level actor has the same (root) parent.
	other := sys.Spawn(actor.PropsFromFunc(rtInfoActor(nil)))
	require.True(t, rtRequest(t, sys, other, rtInfoReq{}).(rtInfo).parent.Equal(info.parent))

	// A stopped child leaves Children.
	rtRequest(t, sys, top, rtStopChild{c1})
	rtAwaitGone(t, sys, c1)
	require.Eventually(t, func() bool {
		ids := pidIDs(rtRequest(t, sys, top, rtInfoReq{}).(rtInfo).children)
		return slices.Equal(ids, []string{c2.ID})
	}, rtWait, 5*time.Millisecond)
}

func pidIDs(pids []*actor.PID) []string {
	out := make([]string, 0, len(pids))
	for _, p := range pids {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return out
}

func TestBecomeUnbecomeStack(t *testing.T) {
	sys := rtSystem(t)
	var behavior func(name string) actor.ReceiveFunc
	behavior = func(name string) actor.ReceiveFunc {
		return func(c *actor.Context) {
			m, _ := c.Message().(string)
			switch {
			case m == "which":
				c.Respond(name)
			case m == "unbecome":
				c.Unbecome()
				c.Respond("ok")
			case strings.HasPrefix(m, "become "):
				c.Become(behavior(strings.TrimPrefix(m, "become ")))
				c.Respond("ok")
			}
		}
	}
	pid := sys.Spawn(actor.PropsFromFunc(behavior("base")))
	which := func() string { return rtRequest(t, sys, pid, "which").(string) }

	require.Equal(t, "base", which())
	rtRequest(t, sys, pid, "become A")
	require.Equal(t, "A", which())
	rtRequest(t, sys, pid, "become B")
	require.Equal(t, "B", which())
	rtRequest(t, sys, pid, "unbecome")
	require.Equal(t, "A", which(), "Unbecome returns to the previous behaviour")
	rtRequest(t, sys, pid, "unbecome")
	require.Equal(t, "base", which())
	rtRequest(t, sys, pid, "unbecome") // nothing left to pop: harmless
	require.Equal(t, "base", which())
}

func TestStashUnstashAll(t *testing.T) {
	sys := rtSystem(t)
	var processed []int
	done := make(chan []int, 1)
	opening := make(chan struct{})
	release := make(chan struct{})
	open := false
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case int:
			if !open {
				c.Stash()
				return
			}
			processed = append(processed, m)
			if c.Sender() != nil {
				c.Respond(m * 10)
			}
			if len(processed) == 6 {
				done <- processed
			}
		case string:
			if m == "open" {
				close(opening)
				rtBlock(release) // meanwhile more messages are queued
				open = true
				c.UnstashAll()
				c.UnstashAll() // a second call has nothing left to requeue
			}
		}
	}))
	sys.Send(pid, 1)
	f2 := sys.RequestFuture(pid, 2, rtWait) // stashed with its sender
	sys.Send(pid, 3)
	sys.Send(pid, "open")
	rtClosed(t, opening, "open")
	sys.Send(pid, 4)
	f5 := sys.RequestFuture(pid, 5, rtWait)
	sys.Send(pid, 6)
	close(release)

	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, rtRecv(t, done, "all messages"),
		"stashed messages first, in order, then the ones queued meanwhile")
	v, err := f2.Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, 20, v, "a stashed message keeps its sender")
	v, err = f5.Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, 50, v)
}

func TestStashedMessagesGoToDeadLettersOnStop(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	stashed := make(chan struct{}, 3)
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(int); ok {
			c.Stash()
			stashed <- struct{}{}
		}
	}))
	sys.Send(pid, 1)
	fut := sys.RequestFuture(pid, 2, 0)
	for range 2 {
		rtRecv(t, stashed, "stash")
	}
	sys.Stop(pid)
	rtAwaitGone(t, sys, pid)
	dl.await(t, sys, []any{1, 2})
	_, err := fut.Result(context.Background())
	require.ErrorIs(t, err, actor.ErrDeadLetter, "a request stashed by an actor that stops fails")
}

func TestContextLogger(t *testing.T) {
	buf := &rtSyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sys := actor.NewSystem(actor.WithLogger(logger))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, sys.Shutdown(ctx))
	})
	require.Same(t, logger, sys.Logger())

	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "log" {
			l := c.Logger()
			if l == nil {
				c.Respond(false)
				return
			}
			l.Info("hello from the actor", "k", 7)
			c.Respond(c.Logger() == l) // the same logger every time
		}
	}))
	require.Equal(t, true, rtRequest(t, sys, pid, "log"))

	var found bool
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "line %q", line)
		if rec["msg"] == "hello from the actor" {
			found = true
			require.Equal(t, pid.String(), rec["actor"], "the record names the actor")
			require.EqualValues(t, 7, rec["k"])
		}
	}
	require.True(t, found, "log output: %s", buf.String())
}

func TestMiddlewareWrapsEveryMessageInOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props func(actor.ReceiveFunc, actor.Middleware, actor.Middleware) *actor.Props
	}{
		{"one option", func(f actor.ReceiveFunc, a, b actor.Middleware) *actor.Props {
			return actor.PropsFromFunc(f, actor.WithMiddleware(a, b))
		}},
		{"two options", func(f actor.ReceiveFunc, a, b actor.Middleware) *actor.Props {
			return actor.PropsFromFunc(f, actor.WithMiddleware(a), actor.WithMiddleware(b))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := rtSystem(t)
			var mu sync.Mutex
			var trace []string
			rec := func(s string) {
				mu.Lock()
				trace = append(trace, s)
				mu.Unlock()
			}
			mw := func(name string) actor.Middleware {
				return func(next actor.ReceiveFunc) actor.ReceiveFunc {
					return func(c *actor.Context) {
						rec(fmt.Sprintf("%s>%v", name, c.Message()))
						next(c)
						rec(name + "<")
					}
				}
			}
			props := tc.props(func(c *actor.Context) {
				rec(fmt.Sprintf("actor:%v", c.Message()))
			}, mw("outer"), mw("inner"))
			pid := sys.Spawn(props)
			sys.Send(pid, "a")
			sys.Send(pid, 2)
			sys.Poison(pid)
			rtAwaitGone(t, sys, pid)

			var want []string
			for _, m := range []any{actor.Started{}, "a", 2, actor.Stopping{}, actor.Stopped{}} {
				want = append(want,
					fmt.Sprintf("outer>%v", m), fmt.Sprintf("inner>%v", m),
					fmt.Sprintf("actor:%v", m), "inner<", "outer<")
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, want, trace)
		})
	}
}

func TestMiddlewareSeesSenderAndWrapsBecome(t *testing.T) {
	sys := rtSystem(t)
	seen := make(chan string, 16)
	mw := func(next actor.ReceiveFunc) actor.ReceiveFunc {
		return func(c *actor.Context) {
			if s, ok := c.Message().(string); ok {
				seen <- fmt.Sprintf("%s from future=%v", s, c.Sender() != nil)
			}
			next(c)
		}
	}
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "become" {
			c.Become(func(c *actor.Context) { c.Respond("new behaviour") })
			c.Respond("ok")
		}
	}, actor.WithMiddleware(mw)))
	require.Equal(t, "ok", rtRequest(t, sys, pid, "become"))
	require.Equal(t, "become from future=true", rtRecv(t, seen, "middleware"))
	require.Equal(t, "new behaviour", rtRequest(t, sys, pid, "x"))
	require.Equal(t, "x from future=true", rtRecv(t, seen, "middleware after Become"))
	sys.Send(pid, "y")
	require.Equal(t, "y from future=false", rtRecv(t, seen, "middleware"))
}

// ---------------------------------------------------------------------------
// Bounded mailboxes.

// rtBlockedActor returns props for an actor that blocks on its first int
// message (0) until release is closed, and reports every int it processes
// on out.
func rtBlockedActor(entered chan<- struct{}, release <-chan struct{}, out chan<- int, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case int:
			if m == 0 {
				close(entered)
				rtBlock(release)
			}
			out <- m
		case string:
			if m == "end" {
				out <- -1
			}
		}
	}, opts...)
}

func TestBoundedMailboxDropNewest(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	const capacity, extra = 4, 6
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := rtOccupied(t, sys, rtBlockedActor(entered, release, out, actor.WithBoundedMailbox(capacity, mailbox.DropNewest)), entered)
	for i := 1; i <= capacity+extra; i++ {
		sys.Send(pid, i)
	}
	// The drops happen synchronously in Send.
	require.EqualValues(t, extra, sys.DeadLetterCount())
	require.Equal(t, []any{5, 6, 7, 8, 9, 10}, dl.messages(), "the newest messages are dropped")
	for _, d := range dl.all() {
		require.True(t, d.PID.Equal(pid))
	}
	close(release)
	var got []int
	for range 1 + capacity {
		got = append(got, rtRecv(t, out, "processed message"))
	}
	require.Equal(t, []int{0, 1, 2, 3, 4}, got)
	sys.Send(pid, "end")
	require.Equal(t, -1, rtRecv(t, out, "end marker"), "nothing else was processed")
	require.EqualValues(t, extra, sys.DeadLetterCount())
}

func TestBoundedMailboxDropOldest(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	const capacity, extra = 4, 6
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := rtOccupied(t, sys, rtBlockedActor(entered, release, out, actor.WithBoundedMailbox(capacity, mailbox.DropOldest)), entered)
	for i := 1; i <= capacity+extra; i++ {
		sys.Send(pid, i)
	}
	require.EqualValues(t, extra, sys.DeadLetterCount())
	require.Equal(t, []any{1, 2, 3, 4, 5, 6}, dl.messages(), "the oldest messages are dropped")
	close(release)
	var got []int
	for range 1 + capacity {
		got = append(got, rtRecv(t, out, "processed message"))
	}
	require.Equal(t, []int{0, 7, 8, 9, 10}, got)
	sys.Send(pid, "end")
	require.Equal(t, -1, rtRecv(t, out, "end marker"), "nothing else was processed")
	require.EqualValues(t, extra, sys.DeadLetterCount())
}

func TestBoundedMailboxDroppedRequestFailsFast(t *testing.T) {
	sys := rtSystem(t)
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := sys.Spawn(rtBlockedActor(entered, release, out, actor.WithBoundedMailbox(1, mailbox.DropOldest)))
	t.Cleanup(func() { close(release) })
	sys.Send(pid, 0)
	rtClosed(t, entered, "first message")
	f := sys.RequestFuture(pid, 1, 0)
	sys.Send(pid, 2) // pushes the request out
	select {
	case <-f.Done():
	case <-time.After(rtWait):
		require.FailNow(t, "a request dropped by a full mailbox must fail at once")
	}
	_, err := f.Result(context.Background())
	require.ErrorIs(t, err, actor.ErrDeadLetter)
}

func TestBoundedMailboxBlock(t *testing.T) {
	sys := rtSystem(t)
	const capacity = 2
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := sys.Spawn(rtBlockedActor(entered, release, out, actor.WithBoundedMailbox(capacity, mailbox.Block)))
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	sys.Send(pid, 0)
	rtClosed(t, entered, "first message")
	sys.Send(pid, 1)
	sys.Send(pid, 2)

	// Full: a send with a deadline gives up when it expires.
	start := time.Now() // before the deadline is set, so the wait measured is not short of it
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := sys.SendContext(ctx, pid, 3)
	cancel()
	require.Error(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	require.Less(t, time.Since(start), time.Second)

	// Already cancelled: no wait at all.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sys.SendContext(ctx, pid, 33), context.Canceled)

	// A plain Send waits for room.
	sent := make(chan struct{})
	go func() {
		sys.Send(pid, 4)
		close(sent)
	}()
	rtNoRecv(t, sent, 50*time.Millisecond, "Send into a full Block mailbox must wait")
	released = true
	close(release)
	rtClosed(t, sent, "blocked sender to proceed once there is room")

	var got []int
	for range 4 {
		got = append(got, rtRecv(t, out, "processed message"))
	}
	require.Equal(t, []int{0, 1, 2, 4}, got, "the timed-out messages were not delivered")
	sys.Send(pid, "end")
	require.Equal(t, -1, rtRecv(t, out, "end marker"))
}

func TestBoundedMailboxBlockedSenderReleasedWhenActorStops(t *testing.T) {
	sys := rtSystem(t)
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := rtOccupied(t, sys, rtBlockedActor(entered, release, out, actor.WithBoundedMailbox(1, mailbox.Block)), entered)
	sys.Send(pid, 1)
	errc := make(chan error, 1)
	go func() { errc <- sys.SendContext(context.Background(), pid, 2) }()
	rtNoRecv(t, errc, 30*time.Millisecond, "send into a full mailbox")
	sys.Stop(pid)
	close(release)
	rtAwaitGone(t, sys, pid)
	// Either the sender got in before the stop and its message went to dead
	// letters, or it was released with an error; it must not stay blocked.
	rtRecv(t, errc, "blocked sender released")
}

// ---------------------------------------------------------------------------
// Dead letters and the event stream.

func TestDeadLetterOnSendToStoppedActor(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	pid := sys.Spawn(actor.PropsFromFunc(func(*actor.Context) {}))
	sys.Stop(pid)
	term := rtAwaitGone(t, sys, pid)
	require.True(t, term.PID.Equal(pid))
	require.Equal(t, actor.ReasonStopped, term.Reason)

	before := sys.DeadLetterCount()
	sys.Send(pid, "late")
	require.Equal(t, before+1, sys.DeadLetterCount(), "counted synchronously")
	letters := dl.all()
	require.Len(t, letters, 1)
	require.True(t, letters[0].PID.Equal(pid))
	require.Equal(t, "late", letters[0].Message)
	require.Nil(t, letters[0].Sender)

	// Unknown PIDs, a nil PID and the root guardian are dead letters too.
	sys.Send(&actor.PID{Node: sys.Node(), ID: "nobody"}, "x")
	sys.Send(nil, "y")
	parent := rtRequest(t, sys, sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "parent" {
			c.Respond(c.Parent())
		}
	})), "parent").(*actor.PID)
	sys.Send(parent, "z")
	require.Equal(t, before+4, sys.DeadLetterCount())
	require.Equal(t, []any{"late", "x", "y", "z"}, dl.messages())
}

func TestRespondWithoutSenderIsDeadLetter(t *testing.T) {
	sys := rtSystem(t)
	dl := rtRecordDeadLetters(t, sys)
	done := make(chan struct{})
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "no sender" {
			c.Respond("reply")
			close(done)
		}
	}))
	sys.Send(pid, "no sender")
	rtClosed(t, done, "message")
	require.EqualValues(t, 1, sys.DeadLetterCount())
	letters := dl.all()
	require.Len(t, letters, 1)
	require.Equal(t, "reply", letters[0].Message)
	require.True(t, letters[0].Sender.Equal(pid), "the responder is the dead letter's sender")
}

type rtEvent struct{ n int }

func TestEventStreamSubscribeUnsubscribe(t *testing.T) {
	sys := rtSystem(t)
	es := sys.EventStream()
	require.Same(t, es, sys.EventStream())

	var all []any
	var typed []rtEvent
	subAll := es.Subscribe(func(e any) { all = append(all, e) })
	subTyped := actor.Subscribe(es, func(e rtEvent) { typed = append(typed, e) })

	es.Publish(rtEvent{1})
	es.Publish("not an rtEvent")
	es.Publish(rtEvent{2})
	require.Equal(t, []any{rtEvent{1}, "not an rtEvent", rtEvent{2}}, all)
	require.Equal(t, []rtEvent{{1}, {2}}, typed, "Subscribe[T] filters by type")

	subTyped.Unsubscribe()
	es.Publish(rtEvent{3})
	require.Equal(t, []rtEvent{{1}, {2}}, typed, "nothing after Unsubscribe")
	require.Len(t, all, 4, "the other subscription is unaffected")

	subAll.Unsubscribe()
	subAll.Unsubscribe() // twice is fine
	es.Publish(rtEvent{4})
	require.Len(t, all, 4)

	// Real dead letters reach subscribers until they unsubscribe.
	var dead atomic.Int32
	sub := actor.Subscribe(es, func(actor.DeadLetter) { dead.Add(1) })
	sys.Send(nil, 1)
	require.EqualValues(t, 1, dead.Load())
	sub.Unsubscribe()
	sys.Send(nil, 2)
	require.EqualValues(t, 1, dead.Load())
	require.EqualValues(t, 2, sys.DeadLetterCount(), "still counted")
}

func TestEventStreamConcurrentSubscribers(t *testing.T) {
	sys := rtSystem(t)
	es := sys.EventStream()
	var got atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := es.Subscribe(func(any) {})
				s.Unsubscribe()
			}
		})
	}
	keep := es.Subscribe(func(any) { got.Add(1) })
	for range 1000 {
		es.Publish(struct{}{})
	}
	close(stop)
	wg.Wait()
	keep.Unsubscribe()
	require.EqualValues(t, 1000, got.Load(), "a steady subscriber sees every event despite churn")
}
