package mailbox

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// funcRunnable runs fn once per Run; it never asks to run again.
type funcRunnable struct{ fn func(w *Worker) }

func (f *funcRunnable) Run(w *Worker) bool { f.fn(w); return false }

func closePool(t *testing.T, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Close(ctx))
}

// TestPoolNextSlotCannotStarveSharedQueue has two runnables wake each other
// through the next slot of the only worker, forever; a runnable in the
// shared queue must still get its turn.
func TestPoolNextSlotCannotStarveSharedQueue(t *testing.T) {
	p := NewPool(1)
	defer closePool(t, p)
	var stop atomic.Bool
	var a, b *funcRunnable
	a = &funcRunnable{fn: func(w *Worker) {
		if !stop.Load() {
			p.Schedule(b, w)
		}
	}}
	b = &funcRunnable{fn: func(w *Worker) {
		if !stop.Load() {
			p.Schedule(a, w)
		}
	}}
	ran := make(chan struct{})
	p.Schedule(a, nil)
	time.Sleep(5 * time.Millisecond)
	p.Schedule(&funcRunnable{fn: func(*Worker) { close(ran) }}, nil)
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the shared queue starved behind a chatty pair")
	}
	stop.Store(true)
}

// TestPoolStealsFromBusyWorker: a runnable left in the next slot of a worker
// busy with a long turn is run by the other worker meanwhile.
func TestPoolStealsFromBusyWorker(t *testing.T) {
	p := NewPool(2)
	defer closePool(t, p)
	ran := make(chan struct{})
	release := make(chan struct{})
	p.Schedule(&funcRunnable{fn: func(w *Worker) {
		p.Schedule(&funcRunnable{fn: func(*Worker) { close(ran) }}, w)
		<-release // a long turn
	}}, nil)
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("next slot of a busy worker was never stolen")
	}
	close(release)
}

// TestPoolBlockingEnterHandsOverNextSlot: a worker about to block gives
// its next slot away, and a stand-in worker keeps the pool's capacity.
func TestPoolBlockingEnterHandsOverNextSlot(t *testing.T) {
	p := NewPool(1)
	defer closePool(t, p)
	ran := make(chan struct{})
	release := make(chan struct{})
	p.Schedule(&funcRunnable{fn: func(w *Worker) {
		p.Schedule(&funcRunnable{fn: func(*Worker) { close(ran) }}, w)
		p.BlockingEnter(w)
		defer p.BlockingExit()
		<-release
	}}, nil)
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("work queued behind a blocked worker never ran")
	}
	close(release)
}

func TestPoolCloseStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	p := NewPool(4)
	var n atomic.Int64
	for range 1000 {
		p.Schedule(&funcRunnable{fn: func(*Worker) { n.Add(1) }}, nil)
	}
	require.Eventually(t, func() bool { return n.Load() == 1000 }, 5*time.Second, time.Millisecond)
	closePool(t, p)
	// Poll by hand: assert.Eventually runs its condition on goroutines of
	// its own, which would be counted.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before)
	p.Schedule(&funcRunnable{fn: func(*Worker) { t.Error("ran after Close") }}, nil)
	time.Sleep(10 * time.Millisecond)
}

// TestPoolCloseStopsChattyWorkers: runnables that keep waking each other
// through next slots do not keep Close waiting.
func TestPoolCloseStopsChattyWorkers(t *testing.T) {
	p := NewPool(2)
	var a, b *funcRunnable
	a = &funcRunnable{fn: func(w *Worker) { p.Schedule(b, w) }}
	b = &funcRunnable{fn: func(w *Worker) { p.Schedule(a, w) }}
	p.Schedule(a, nil)
	time.Sleep(5 * time.Millisecond)
	closePool(t, p)
}

// TestPoolWakesParkedWorkerForQueuedWork: with one worker busy on a long
// turn, work queued behind it is picked up by a parked worker.
func TestPoolWakesParkedWorkerForQueuedWork(t *testing.T) {
	p := NewPool(3)
	defer closePool(t, p)
	time.Sleep(20 * time.Millisecond) // let the workers park
	release := make(chan struct{})
	ran := make(chan struct{}, 2)
	p.Schedule(&funcRunnable{fn: func(*Worker) { <-release }}, nil)
	p.Schedule(&funcRunnable{fn: func(*Worker) { ran <- struct{}{} }}, nil)
	p.Schedule(&funcRunnable{fn: func(*Worker) { ran <- struct{}{} }}, nil)
	for range 2 {
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatal("queued work waited behind a long turn")
		}
	}
	close(release)
}
