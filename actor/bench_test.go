package actor_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray/actor"
)

// Each benchmark has a channel sub-benchmark measured in the same run, as a
// baseline: absolute figures drift between runs on shared machines, the
// ratio much less.

type ping struct{}

var pingMsg any = &ping{}

// counter signals done once it has received n messages.
type counter struct {
	n    int
	got  int
	done chan struct{}
}

func (a *counter) Receive(c *actor.Context) {
	if _, ok := c.Message().(*ping); ok {
		if a.got++; a.got == a.n {
			close(a.done)
		}
	}
}

func newBenchSystem(b *testing.B) *actor.System {
	s := actor.NewSystem()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

func reportRate(b *testing.B, msgs int) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkSend(b *testing.B) {
	b.Run("actor", func(b *testing.B) {
		s := newBenchSystem(b)
		a := &counter{n: b.N, done: make(chan struct{})}
		pid := s.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			s.Send(pid, pingMsg)
		}
		<-a.done
		b.StopTimer()
		reportRate(b, b.N)
	})
	b.Run("chan-baseline", func(b *testing.B) {
		ch := make(chan any, 1024)
		done := make(chan struct{})
		go func() {
			for range b.N {
				<-ch
			}
			close(done)
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			ch <- pingMsg
		}
		<-done
		b.StopTimer()
		reportRate(b, b.N)
	})
}

const (
	pingPongPairs    = 4
	pingPongInFlight = 100
)

// pinger keeps up to pingPongInFlight requests going to its ponger until
// it has had total replies.
type pinger struct {
	ponger          *actor.PID
	total, sent, in int
	done            *sync.WaitGroup
}

func (p *pinger) Receive(c *actor.Context) {
	switch c.Message().(type) {
	case actor.Started:
		for p.sent < min(pingPongInFlight, p.total) {
			p.sent++
			c.Request(p.ponger, pingMsg)
		}
	case *ping:
		if p.in++; p.in == p.total {
			p.done.Done()
			return
		}
		if p.sent < p.total {
			p.sent++
			c.Request(p.ponger, pingMsg)
		}
	}
}

func BenchmarkPingPong(b *testing.B) {
	b.Run("actor", func(b *testing.B) {
		s := newBenchSystem(b)
		ponger := actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(*ping); ok {
				c.Respond(pingMsg)
			}
		})
		var wg sync.WaitGroup
		per := max(b.N/pingPongPairs/2, 1) // two messages per round trip
		b.ReportAllocs()
		b.ResetTimer()
		for range pingPongPairs {
			wg.Add(1)
			pong := s.Spawn(ponger)
			p := &pinger{ponger: pong, total: per, done: &wg}
			s.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
		}
		wg.Wait()
		b.StopTimer()
		reportRate(b, per*pingPongPairs*2)
	})
	b.Run("chan-baseline", func(b *testing.B) {
		var wg sync.WaitGroup
		per := max(b.N/pingPongPairs/2, 1)
		b.ReportAllocs()
		b.ResetTimer()
		for range pingPongPairs {
			wg.Add(2)
			to, from := make(chan any, 1024), make(chan any, 1024)
			go func() { // ponger
				defer wg.Done()
				for m := range to {
					from <- m
				}
			}()
			go func() { // pinger
				defer wg.Done()
				sent := 0
				for ; sent < min(pingPongInFlight, per); sent++ {
					to <- pingMsg
				}
				for left := per; left > 0; left-- {
					<-from
					if sent < per {
						sent++
						to <- pingMsg
					}
				}
				close(to)
			}()
		}
		wg.Wait()
		b.StopTimer()
		reportRate(b, per*pingPongPairs*2)
	})
}

func BenchmarkRequest(b *testing.B) {
	b.Run("actor-timeout", func(b *testing.B) {
		s := newBenchSystem(b)
		pid := s.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(*ping); ok {
				c.Respond(pingMsg)
			}
		}))
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := s.RequestFuture(pid, pingMsg, time.Second).Result(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("actor-deadline", func(b *testing.B) {
		s := newBenchSystem(b)
		pid := s.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(*ping); ok {
				c.Respond(pingMsg)
			}
		}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := s.Request(ctx, pid, pingMsg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("actor-no-deadline", func(b *testing.B) {
		s := newBenchSystem(b)
		pid := s.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
			if _, ok := c.Message().(*ping); ok {
				c.Respond(pingMsg)
			}
		}))
		ctx := context.Background() // the caller may run an idle target itself
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := s.Request(ctx, pid, pingMsg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chan-baseline", func(b *testing.B) {
		req, resp := make(chan any), make(chan any)
		go func() {
			for m := range req {
				resp <- m
			}
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			req <- pingMsg
			<-resp
		}
		b.StopTimer()
		close(req)
	})
}

func BenchmarkSpawnStop(b *testing.B) {
	s := newBenchSystem(b)
	var stopped atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	props := actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Stopped); ok {
			if stopped.Add(1) == n {
				close(done)
			}
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.Stop(s.Spawn(props))
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actors/s")
}

// BenchmarkIdleActorMemory spawns idleActors actors, waits until each has
// handled Started, and reports the heap and goroutines they keep.
func BenchmarkIdleActorMemory(b *testing.B) {
	const idleActors = 1_000_000
	for range b.N {
		bytes, goroutines := measureIdleActors(b, idleActors)
		b.ReportMetric(bytes, "B/actor")
		b.ReportMetric(goroutines, "goroutines/actor")
	}
}

// measureIdleActors spawns n actors on a fresh system, waits until each has
// handled Started and the workers are idle, and returns the heap and the
// goroutines each actor keeps.
func measureIdleActors(tb testing.TB, n int) (bytesPerActor, goroutinesPerActor float64) {
	sys := actor.NewSystem()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = sys.Shutdown(ctx)
	}()
	var started sync.WaitGroup
	props := actor.PropsFromFunc(func(c *actor.Context) {
		if _, ok := c.Message().(actor.Started); ok {
			started.Done()
		}
	})
	// Warm up, so that the workers and queues exist before the baseline.
	started.Add(1)
	sys.Spawn(props)
	started.Wait()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	started.Add(n)
	pids := make([]*actor.PID, n)
	for i := range pids {
		pids[i] = sys.Spawn(props)
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let workers park
	g1 := runtime.NumGoroutine()
	runtime.GC()
	runtime.ReadMemStats(&after)
	pidSlice := float64(8 * n) // the caller's own slice of PIDs
	bytesPerActor = (float64(after.HeapAlloc) - float64(before.HeapAlloc) - pidSlice) / float64(n)
	goroutinesPerActor = float64(g1-g0) / float64(n)
	runtime.KeepAlive(pids)
	return bytesPerActor, goroutinesPerActor
}

// BenchmarkWatchMany has one actor watch b.N others, then sees them all
// stop: the cost per Watch and per Terminated as the watched set grows.
func BenchmarkWatchMany(b *testing.B) {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	targets := make([]*actor.PID, b.N)
	for i := range targets {
		targets[i] = sys.Spawn(actor.PropsFromFunc(func(*actor.Context) {}))
	}
	done := make(chan struct{})
	left := b.N
	b.ResetTimer()
	watcher := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case []*actor.PID:
			for _, p := range m {
				c.Watch(p)
			}
			for _, p := range m {
				c.Stop(p)
			}
		case actor.Terminated:
			if left--; left == 0 {
				close(done)
			}
		}
	}))
	sys.Send(watcher, targets)
	<-done
}
