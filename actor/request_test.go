package actor_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/mailbox"
)

// rtEcho answers every int with twice its value and every string with
// "echo: " and the string; it ignores everything else.
func rtEcho() *actor.Props {
	return actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case int:
			c.Respond(2 * m)
		case string:
			c.Respond("echo: " + m)
		}
	})
}

// rtSilent never answers; it reports each message it gets on got, if any.
func rtSilent(got chan<- any) *actor.Props {
	return actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message().(type) {
		case actor.Started, actor.Stopping, actor.Stopped:
		default:
			if got != nil {
				got <- c.Message()
			}
		}
	})
}

func TestRequestReply(t *testing.T) {
	sys := rtSystem(t)
	pid := sys.Spawn(rtEcho())
	ctx, cancel := context.WithTimeout(context.Background(), rtWait)
	defer cancel()
	v, err := sys.Request(ctx, pid, 21)
	require.NoError(t, err)
	require.Equal(t, 42, v)
	v, err = sys.Request(ctx, pid, "hi")
	require.NoError(t, err)
	require.Equal(t, "echo: hi", v)

	// Without a deadline, and behind messages from the same sender.
	var seen []int
	lister := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case int:
			seen = append(seen, m)
		case string:
			c.Respond(slices.Clone(seen))
		}
	}))
	want := make([]int, 0, 100)
	for i := range 100 {
		sys.Send(lister, i)
		want = append(want, i)
	}
	v, err = sys.Request(context.Background(), lister, "list")
	require.NoError(t, err)
	require.Equal(t, want, v, "the request comes after the messages sent before it")
	for i := range 10 {
		v, err = sys.Request(context.Background(), pid, i)
		require.NoError(t, err)
		require.Equal(t, 2*i, v)
	}

	// A reply may be any value, nil included.
	nilReplier := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "nil please" {
			c.Respond(nil)
		}
	}))
	v, err = sys.Request(ctx, nilReplier, "nil please")
	require.NoError(t, err)
	require.Nil(t, v)
}

func TestRequestHonoursDeadline(t *testing.T) {
	sys := rtSystem(t)
	got := make(chan any, 1)
	pid := sys.Spawn(rtSilent(got))
	const deadline = 100 * time.Millisecond
	// The clock starts before the deadline is set, or the time measured
	// can come out a hair short of it.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	v, err := sys.Request(ctx, pid, "anyone?")
	elapsed := time.Since(start)
	require.Nil(t, v)
	require.Error(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, elapsed, deadline)
	require.Less(t, elapsed, deadline+400*time.Millisecond, "Request must return near the deadline")
	require.Equal(t, "anyone?", rtRecv(t, got, "the request"), "the message was delivered")
}

func TestRequestHonoursCancellation(t *testing.T) {
	sys := rtSystem(t)
	got := make(chan any, 1)
	pid := sys.Spawn(rtSilent(got))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := sys.Request(ctx, pid, "wait for me")
		errc <- err
	}()
	rtRecv(t, got, "the request")
	rtNoRecv(t, errc, 20*time.Millisecond, "Request without a reply")
	start := time.Now()
	cancel()
	err := rtRecv(t, errc, "Request to return after cancel")
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 500*time.Millisecond)

	// Already cancelled: fails at once.
	v, err := sys.Request(ctx, sys.Spawn(rtSilent(nil)), 1)
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, v)
}

// Request must honour its context also while the message waits for room in
// a full mailbox with the Block policy, and report the context's error.
func TestRequestHonoursDeadlineWhileMailboxFull(t *testing.T) {
	sys := rtSystem(t)
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := sys.Spawn(rtBlockedActor(entered, release, out, actor.WithBoundedMailbox(1, mailbox.Block)))
	errc := make(chan error, 1)
	t.Cleanup(func() { close(release) }) // unblocks the actor, and with it any stuck Request
	sys.Send(pid, 0)
	rtClosed(t, entered, "first message")
	sys.Send(pid, 1) // the mailbox is full now

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	go func() {
		_, err := sys.Request(ctx, pid, 2)
		errc <- err
	}()
	select {
	case err := <-errc:
		require.Less(t, time.Since(start), time.Second)
		require.ErrorIs(t, err, context.DeadlineExceeded,
			"the request was never queued because its context expired: the caller should be told so")
	case <-time.After(time.Second):
		require.FailNow(t, "System.Request ignored its context's deadline while the target's Block mailbox was full: it is still blocked a second after a 50ms deadline")
	}
}

// RequestFuture's timeout bounds the whole request, including a wait for
// room in a full mailbox with the Block policy.
func TestRequestFutureTimeoutWhileMailboxFull(t *testing.T) {
	sys := rtSystem(t)
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := sys.Spawn(rtBlockedActor(entered, release, out, actor.WithBoundedMailbox(1, mailbox.Block)))
	t.Cleanup(func() { close(release) }) // unblocks the actor, and with it any stuck RequestFuture
	sys.Send(pid, 0)
	rtClosed(t, entered, "first message")
	sys.Send(pid, 1) // the mailbox is full now

	futures := make(chan *actor.Future, 1)
	go func() { futures <- sys.RequestFuture(pid, 2, 50*time.Millisecond) }()
	var f *actor.Future
	select {
	case f = <-futures:
	case <-time.After(time.Second):
		require.FailNow(t, "RequestFuture with a 50ms timeout is still blocked after a second on a full Block mailbox")
	}
	select {
	case <-f.Done():
	case <-time.After(time.Second):
		require.FailNow(t, "the future did not time out")
	}
	_, err := f.Result(context.Background())
	require.Error(t, err)
}

func TestRequestFutureTimeout(t *testing.T) {
	sys := rtSystem(t)
	pid := sys.Spawn(rtSilent(nil))
	const timeout = 60 * time.Millisecond
	start := time.Now()
	f := sys.RequestFuture(pid, "hello?", timeout)
	require.NotNil(t, f.PID())
	select {
	case <-f.Done():
	case <-time.After(rtWait):
		require.FailNow(t, "the future never timed out")
	}
	elapsed := time.Since(start)
	v, err := f.Result(context.Background())
	require.Nil(t, v)
	require.ErrorIs(t, err, actor.ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, elapsed, timeout, "timed out early")
	require.Less(t, elapsed, timeout+500*time.Millisecond)

	// Result is stable.
	_, err2 := f.Result(context.Background())
	require.Equal(t, err, err2)
}

func TestRequestFutureWithoutTimeoutWaitsForResultContext(t *testing.T) {
	sys := rtSystem(t)
	f := sys.RequestFuture(sys.Spawn(rtSilent(nil)), "x", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := f.Result(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, actor.ErrTimeout, "the request itself had no timeout")
	// The future is now complete: Done is closed and the outcome sticks.
	select {
	case <-f.Done():
	default:
		require.FailNow(t, "Result with an expired ctx completes the future")
	}
}

func TestLateReplyAfterCancelIsDropped(t *testing.T) {
	sys := rtSystem(t)
	hold := make(chan struct{})
	replied := make(chan struct{})
	pid := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "slow" {
			rtBlock(hold)
			c.Respond("too late")
			close(replied)
		}
	}))
	f := sys.RequestFuture(pid, "slow", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.Result(ctx)
	require.ErrorIs(t, err, context.Canceled)
	close(hold)
	rtClosed(t, replied, "late reply")
	v, err := f.Result(context.Background())
	require.ErrorIs(t, err, context.Canceled, "a late reply does not change a completed future")
	require.Nil(t, v)
}

func TestManyFuturesInFlight(t *testing.T) {
	sys := rtSystem(t)
	echoes := make([]*actor.PID, 8)
	for i := range echoes {
		echoes[i] = sys.Spawn(rtEcho())
	}
	silent := sys.Spawn(rtSilent(nil))
	const n, lost = 1000, 200
	futures := make([]*actor.Future, n)
	for i := range futures {
		if i < lost {
			futures[i] = sys.RequestFuture(silent, i, 50*time.Millisecond)
		} else {
			futures[i] = sys.RequestFuture(echoes[i%len(echoes)], i, 5*time.Second)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, f := range futures {
		v, err := f.Result(ctx)
		if i < lost {
			require.ErrorIs(t, err, actor.ErrTimeout, "future %d", i)
			continue
		}
		require.NoError(t, err, "future %d", i)
		require.Equal(t, 2*i, v, "future %d got another request's reply", i)
	}
}

func TestManyConcurrentRequesters(t *testing.T) {
	sys := rtSystem(t)
	pid := sys.Spawn(rtEcho())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), rtWait)
			defer cancel()
			for i := range 100 {
				v, err := sys.Request(ctx, pid, g*1000+i)
				if err != nil || v != 2*(g*1000+i) {
					errs <- fmt.Errorf("requester %d #%d: %v, %v", g, i, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// Many goroutines keep one actor busy with requests: its mailbox goes idle
// and wakes up, and its queue segments are recycled, thousands of times
// while senders race with it. No request may be left unanswered.
func TestManyRequestersNeverWedgeMailbox(t *testing.T) {
	sys := rtSystem(t)
	pid := sys.Spawn(rtEcho())
	const requesters, each = 64, 1000
	var wg sync.WaitGroup
	var answered atomic.Int64
	errs := make(chan error, requesters)
	for g := range requesters {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			for i := range each {
				v, err := sys.Request(ctx, pid, i)
				if err != nil || v != 2*i {
					errs <- fmt.Errorf("requester %d, request %d: %v, %v", g, i, v, err)
					return
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "the actor stopped answering after %d of %d requests", answered.Load(), requesters*each)
	}
}

func TestRequestToStoppedActorFailsFast(t *testing.T) {
	sys := rtSystem(t)
	pid := sys.Spawn(rtEcho())
	sys.Stop(pid)
	rtAwaitGone(t, sys, pid)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := sys.Request(ctx, pid, 1)
	require.ErrorIs(t, err, actor.ErrDeadLetter)
	require.Less(t, time.Since(start), 200*time.Millisecond, "must not wait for the deadline")

	f := sys.RequestFuture(pid, 1, 0)
	select {
	case <-f.Done():
	default:
		require.FailNow(t, "a request to a dead actor is complete when RequestFuture returns")
	}
	_, err = f.Result(context.Background())
	require.ErrorIs(t, err, actor.ErrDeadLetter)

	_, err = sys.Request(ctx, &actor.PID{Node: sys.Node(), ID: "nobody"}, 1)
	require.ErrorIs(t, err, actor.ErrDeadLetter, "unknown PID")
	require.EqualValues(t, 3, sys.DeadLetterCount())
}

func TestRequestQueuedBehindStopFails(t *testing.T) {
	sys := rtSystem(t)
	entered, release, out := make(chan struct{}), make(chan struct{}), make(chan int, 64)
	pid := rtOccupied(t, sys, rtBlockedActor(entered, release, out), entered)
	f := sys.RequestFuture(pid, 1, 0)
	sys.Stop(pid)
	close(release)
	select {
	case <-f.Done():
	case <-time.After(rtWait):
		require.FailNow(t, "a request left in the mailbox of a stopped actor must fail")
	}
	_, err := f.Result(context.Background())
	require.ErrorIs(t, err, actor.ErrDeadLetter)
}

type rtReply struct {
	msg    any
	sender *actor.PID
}

func TestContextRequestReplyArrivesAsMessage(t *testing.T) {
	sys := rtSystem(t)
	seenByB := make(chan *actor.PID, 1)
	b := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "ping" {
			seenByB <- c.Sender()
			c.Respond("pong")
		}
	}))
	replies := make(chan rtReply, 1)
	a := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch c.Message() {
		case actor.Started{}:
			c.Request(b, "ping")
		case "pong":
			replies <- rtReply{c.Message(), c.Sender()}
		}
	}))
	require.True(t, rtRecv(t, seenByB, "ping").Equal(a), "Context.Request sends with the actor as sender")
	r := rtRecv(t, replies, "pong")
	require.Equal(t, "pong", r.msg)
	require.True(t, r.sender.Equal(b), "the reply's sender is the responder")
}

type rtAsk struct {
	to      *actor.PID
	msg     any
	timeout time.Duration
}

// rtAsker waits inside Receive for the reply to a Context.RequestFuture and
// responds with what it got.
func rtAsker() *actor.Props {
	return actor.PropsFromFunc(func(c *actor.Context) {
		if m, ok := c.Message().(rtAsk); ok {
			v, err := c.RequestFuture(m.to, m.msg, m.timeout).Result(context.Background())
			if err != nil {
				c.Respond(err)
				return
			}
			c.Respond(v)
		}
	})
}

func TestContextRequestFutureInsideReceiveSingleWorker(t *testing.T) {
	sys := rtSystem(t, actor.WithWorkers(1))
	g0 := runtime.NumGoroutine()
	echo := sys.Spawn(rtEcho())
	asker := sys.Spawn(rtAsker())
	require.Equal(t, 10, rtRequest(t, sys, asker, rtAsk{echo, 5, rtWait}),
		"the pool must run the target while the only worker waits")

	// Nested: the asker waits on a second asker, which waits on the echo.
	asker2 := sys.Spawn(rtAsker())
	require.Equal(t, "echo: deep", rtRequest(t, sys, asker, rtAsk{asker2, rtAsk{echo, "deep", rtWait}, rtWait}))

	// Several actors waiting at once.
	askers := make([]*actor.PID, 8)
	for i := range askers {
		askers[i] = sys.Spawn(rtAsker())
	}
	futures := make([]*actor.Future, len(askers))
	for i, a := range askers {
		futures[i] = sys.RequestFuture(a, rtAsk{echo, i, rtWait}, rtWait)
	}
	for i, f := range futures {
		v, err := f.Result(context.Background())
		require.NoError(t, err)
		require.Equal(t, 2*i, v)
	}

	// A timeout inside Receive still fires, and the actor goes on.
	silent := sys.Spawn(rtSilent(nil))
	err, ok := rtRequest(t, sys, asker, rtAsk{silent, "x", 30 * time.Millisecond}).(error)
	require.True(t, ok)
	require.ErrorIs(t, err, actor.ErrTimeout)
	require.Equal(t, 4, rtRequest(t, sys, asker, rtAsk{echo, 2, rtWait}))

	// The stand-in workers go away once nobody waits.
	rtGoroutinesBackTo(t, g0)
}

func TestForwardKeepsOriginalSender(t *testing.T) {
	sys := rtSystem(t)
	seen := make(chan rtReply, 4)
	worker := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if s, ok := c.Message().(string); ok {
			seen <- rtReply{s, c.Sender()}
			c.Respond("worker did " + s)
		}
	}))
	router := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(string); ok {
			c.Forward(worker)
		}
	}))
	f := sys.RequestFuture(router, "job", rtWait)
	v, err := f.Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, "worker did job", v)
	r := rtRecv(t, seen, "forwarded message")
	require.Equal(t, "job", r.msg)
	require.True(t, r.sender.Equal(f.PID()), "the worker sees the original sender")

	// Forwarding a message sent by an actor keeps that actor as sender.
	replies := make(chan rtReply, 1)
	client := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Request(router, "from client")
		case string:
			replies <- rtReply{m, c.Sender()}
		}
	}))
	r = rtRecv(t, seen, "forwarded message")
	require.True(t, r.sender.Equal(client))
	r = rtRecv(t, replies, "reply to client")
	require.Equal(t, "worker did from client", r.msg)
	require.True(t, r.sender.Equal(worker))
}
