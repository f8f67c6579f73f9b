package actor

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func itestSystem(t *testing.T) *System {
	t.Helper()
	sys := NewSystem(WithLogger(slog.New(slog.DiscardHandler)))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, sys.Shutdown(ctx))
	})
	return sys
}

func itestWheelRunning(w *timerWheel) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running
}

// itestSweepers counts the goroutines running a timer wheel's sweeper.
func itestSweepers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "(*timerWheel).sweep(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// itestSilentPID is the PID of an actor that never replies.
func itestSilentPID(sys *System) *PID {
	return sys.Spawn(PropsFromFunc(func(*Context) {}))
}

func TestTimerWheelTimeoutBounds(t *testing.T) {
	sys := itestSystem(t)
	target := itestSilentPID(sys)
	const slack = 40 * time.Millisecond
	// A long-lived future keeps the sweeper running, so that the futures
	// below are added at every phase of its ticks, not only right at its
	// start.
	keep := sys.RequestFuture(target, "keep", time.Hour)
	defer keep.complete(nil, errors.New("done"))

	type result struct {
		timeout, elapsed time.Duration
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	timeouts := []time.Duration{10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 105 * time.Millisecond}
	for i := range 40 {
		timeout := timeouts[i%len(timeouts)]
		time.Sleep(time.Duration(i%7) * time.Millisecond) // spread over the tick
		wg.Go(func() {
			start := time.Now()
			f := sys.RequestFuture(target, i, timeout)
			<-f.Done()
			elapsed := time.Since(start)
			_, err := f.Result(context.Background())
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("future %d: %v", i, err)
			}
			mu.Lock()
			results = append(results, result{timeout, elapsed})
			mu.Unlock()
		})
	}
	wg.Wait()
	early := 0
	for _, r := range results {
		if r.elapsed < r.timeout {
			early++
			t.Errorf("timeout %v fired after only %v", r.timeout, r.elapsed)
		}
		require.LessOrEqual(t, r.elapsed, r.timeout+3*wheelTick+slack, "timeout %v", r.timeout)
	}
	if early > 0 {
		t.Errorf("%d of %d futures timed out before their timeout", early, len(results))
	}
}

func TestTimerWheelCompletedFutureLeavesWheel(t *testing.T) {
	sys := itestSystem(t)
	w := sys.wheel
	target := itestSilentPID(sys)

	require.Eventually(t, func() bool { return itestSweepers() == 0 }, time.Second, time.Millisecond,
		"no sweeper before any timed request")
	f := sys.RequestFuture(target, "x", time.Hour)
	require.EqualValues(t, 1, w.pending.Load())
	require.Eventually(t, func() bool { return itestSweepers() == 1 }, time.Second, time.Millisecond,
		"one sweeper while a future is pending")
	require.True(t, itestWheelRunning(w), "the sweeper runs while a future is pending")
	require.True(t, f.complete("reply", nil))
	require.False(t, f.complete("again", nil), "a future completes once")
	require.EqualValues(t, 0, w.pending.Load(), "completing a future removes it from the wheel")
	require.Eventually(t, func() bool { return !itestWheelRunning(w) && itestSweepers() == 0 }, time.Second, time.Millisecond,
		"the sweeper goroutine exits when nothing is pending")
	v, err := f.Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, "reply", v)

	// Many futures, completed by replies, cancellations and timeouts.
	echo := sys.Spawn(PropsFromFunc(func(c *Context) {
		if _, ok := c.Message().(int); ok {
			c.Respond(c.Message())
		}
	}))
	var futures []*Future
	for i := range 300 {
		switch i % 3 {
		case 0:
			futures = append(futures, sys.RequestFuture(echo, i, time.Hour))
		case 1:
			futures = append(futures, sys.RequestFuture(target, i, time.Duration(i%5+1)*wheelTick))
		case 2:
			fut := sys.RequestFuture(target, i, time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := fut.Result(ctx)
			require.ErrorIs(t, err, context.Canceled)
			futures = append(futures, fut)
		}
	}
	for i, fut := range futures {
		select {
		case <-fut.Done():
		case <-time.After(3 * time.Second):
			require.FailNow(t, "future never completed", "future %d", i)
		}
	}
	require.Eventually(t, func() bool { return w.pending.Load() == 0 }, time.Second, time.Millisecond,
		"pending = %d", w.pending.Load())
	require.Eventually(t, func() bool { return !itestWheelRunning(w) && itestSweepers() == 0 }, time.Second, time.Millisecond)
	for i := range wheelSlots {
		b := &w.buckets[i]
		b.mu.Lock()
		head := b.head
		b.mu.Unlock()
		require.Nil(t, head, "bucket %d still holds a future", i)
	}

	// The sweeper starts again for the next future.
	again := sys.RequestFuture(target, "y", 2*wheelTick)
	require.True(t, itestWheelRunning(w))
	<-again.Done()
	_, err = again.Result(context.Background())
	require.ErrorIs(t, err, ErrTimeout)
	require.Eventually(t, func() bool { return !itestWheelRunning(w) && w.pending.Load() == 0 }, time.Second, time.Millisecond)
}

// Replies racing with expiry: each future completes exactly once and the
// pending count never goes wrong.
func TestTimerWheelReplyRacingExpiry(t *testing.T) {
	sys := itestSystem(t)
	w := sys.wheel
	target := itestSilentPID(sys)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				f := sys.RequestFuture(target, i, wheelTick)
				if (g+i)%2 == 0 {
					time.Sleep(time.Duration(i%3) * 4 * time.Millisecond)
				}
				f.complete(i, nil)
				<-f.Done()
				v, err := f.Result(context.Background())
				if err == nil && v != i {
					t.Errorf("wrong value %v for %d", v, i)
				}
				if err != nil && !errors.Is(err, ErrTimeout) {
					t.Errorf("unexpected error %v", err)
				}
				if p := w.pending.Load(); p < 0 {
					t.Errorf("pending went negative: %d", p)
				}
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return w.pending.Load() == 0 && !itestWheelRunning(w) }, time.Second, time.Millisecond,
		"pending = %d", w.pending.Load())
}

func TestTimerWheelCloseStopsSweeper(t *testing.T) {
	w := newTimerWheel()
	sys := &System{wheel: w}
	f := sys.newFuture(nil, time.Hour)
	require.True(t, itestWheelRunning(w))
	done := make(chan struct{})
	go func() {
		w.close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		require.FailNow(t, "close did not stop the sweeper")
	}
	w.close() // twice is fine
	// Close fails what was still armed, so nobody waits for a timeout
	// that will never fire.
	require.False(t, f.complete(nil, nil))
	_, err := f.Result(context.Background())
	require.ErrorIs(t, err, ErrShutdown)
	require.EqualValues(t, 0, w.pending.Load())
}
