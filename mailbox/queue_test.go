package mailbox

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type item struct {
	producer int
	seq      int
}

func TestQueueFIFOSingleProducer(t *testing.T) {
	var q Queue[int]
	for round := range 3 {
		for i := range 1000 {
			q.Push(i)
		}
		for i := range 1000 {
			v, ok := q.Pop()
			require.True(t, ok, "round %d item %d", round, i)
			require.Equal(t, i, v)
		}
		_, ok := q.Pop()
		require.False(t, ok)
		q.Release()
		assert.Nil(t, q.head, "an idle queue keeps no segment")
		assert.Nil(t, q.tail.Load())
	}
}

// TestQueueConcurrentProducers checks that nothing is lost or duplicated and
// that each producer's order is kept, with the consumer going idle and
// releasing its segments whenever it finds the queue empty.
func TestQueueConcurrentProducers(t *testing.T) {
	const producers, perProducer = 4, 20000
	var q Queue[item]
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				q.Push(item{p, i})
				if i%512 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	next := make([]int, producers)
	got := 0
	deadline := time.Now().Add(30 * time.Second)
	for got < producers*perProducer {
		v, ok := q.Pop()
		if !ok {
			q.Release()
			require.True(t, time.Now().Before(deadline), "consumer stuck after %d items", got)
			runtime.Gosched()
			continue
		}
		require.Equal(t, next[v.producer], v.seq, "producer %d out of order", v.producer)
		next[v.producer]++
		got++
	}
	wg.Wait()
	_, ok := q.Pop()
	assert.False(t, ok)
}

func TestQueueChangedSeesEveryPush(t *testing.T) {
	var q Queue[int]
	m := q.Mark()
	assert.False(t, q.Changed(m))
	q.Push(1)
	assert.True(t, q.Changed(m))
	_, ok := q.Pop()
	require.True(t, ok)
	m = q.Mark()
	assert.False(t, q.Changed(m))
	q.Release()
	m = q.Mark()
	assert.False(t, q.Changed(m))
	q.Push(2)
	assert.True(t, q.Changed(m))
}

func TestQueueReusesSegmentsUnderSteadyLoad(t *testing.T) {
	var q Queue[int]
	q.UseSegments(&Segments[int]{})
	// Warm up to full-size segments, then keep a backlog of one segment.
	for i := range 4 * maxSegment {
		q.Push(i)
	}
	for range 4 * maxSegment {
		q.Pop()
	}
	const rounds = 20
	allocs := testing.AllocsPerRun(10, func() {
		for range rounds {
			for i := range maxSegment {
				q.Push(i)
			}
			for range maxSegment {
				q.Pop()
			}
			q.Release()
		}
	})
	// Segments come from the pool; the pool's own bookkeeping may allocate
	// now and then, far below one allocation per message.
	limit := 0.01
	if raceEnabled {
		limit = 0.05
	}
	assert.Less(t, allocs/(rounds*maxSegment), limit)
}

// TestQueuesSharingSegments runs many queues over one segment pool, each
// with several producers and a consumer that releases its segments
// whenever it runs dry, so segments move between queues all the time.
// Every message must reach its own queue, once, in per-producer order.
func TestQueuesSharingSegments(t *testing.T) {
	const queues, producersPerQueue, perProducer = 4, 3, 20000
	pool := &Segments[item]{}
	var wg sync.WaitGroup
	for qi := range queues {
		q := &Queue[item]{}
		q.UseSegments(pool)
		for p := range producersPerQueue {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perProducer {
					q.Push(item{qi*100 + p, i})
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make(map[int]int)
			deadline := time.Now().Add(60 * time.Second)
			for got := 0; got < producersPerQueue*perProducer; {
				v, ok := q.Pop()
				if !ok {
					q.Release()
					if time.Now().After(deadline) {
						t.Errorf("queue %d stuck after %d items", qi, got)
						return
					}
					runtime.Gosched()
					continue
				}
				if v.producer/100 != qi {
					t.Errorf("queue %d got an item of queue %d", qi, v.producer/100)
					return
				}
				if next[v.producer] != v.seq {
					t.Errorf("queue %d producer %d: got %d, want %d", qi, v.producer, v.seq, next[v.producer])
					return
				}
				next[v.producer]++
				got++
			}
			if _, ok := q.Pop(); ok {
				t.Errorf("queue %d: extra item", qi)
			}
		}()
	}
	wg.Wait()
}

// countingInvoker records what a mailbox delivers.
type countingInvoker struct {
	mu       sync.Mutex
	order    []string
	user     atomic.Int64
	failures atomic.Int64
	onUser   func(int)
	mb       *Mailbox[int]
}

func (c *countingInvoker) InvokeSystem(msg any) {
	c.mu.Lock()
	c.order = append(c.order, "sys:"+msg.(string))
	c.mu.Unlock()
	if msg == "resume" {
		c.mb.Resume()
	}
}

func (c *countingInvoker) InvokeUser(v int) {
	c.mu.Lock()
	c.order = append(c.order, "user")
	c.mu.Unlock()
	c.user.Add(1)
	if c.onUser != nil {
		c.onUser(v)
	}
}

func (c *countingInvoker) Failure(any, []byte) { c.failures.Add(1) }

func newTestMailbox(t *testing.T, throughput int, bounded *Bounded[int]) (*Mailbox[int], *countingInvoker, *Pool) {
	pool := NewPool(2)
	t.Cleanup(func() { require.NoError(t, pool.Close(context.Background())) })
	inv := &countingInvoker{}
	mb := &Mailbox[int]{}
	inv.mb = mb
	mb.Init(inv, pool, throughput, bounded)
	return mb, inv, pool
}

func TestMailboxDeliversEverythingFromManySenders(t *testing.T) {
	mb, inv, _ := newTestMailbox(t, 16, nil)
	const senders, each = 8, 5000
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, _, err := mb.Post(t.Context(), i, nil)
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { return inv.user.Load() == senders*each },
		10*time.Second, time.Millisecond)
}

func TestMailboxSystemMessagesFirst(t *testing.T) {
	mb, inv, _ := newTestMailbox(t, 100, nil)
	block := make(chan struct{})
	started := make(chan struct{})
	first := true
	inv.onUser = func(int) {
		if first {
			first = false
			close(started)
			<-block
		}
	}
	_, _, _ = mb.Post(t.Context(), 0, nil)
	<-started
	// While the first user message is being handled, queue more user
	// messages, then a system message: it must come before them.
	for i := range 3 {
		_, _, _ = mb.Post(t.Context(), i+1, nil)
	}
	mb.PostSystem("stop")
	close(block)
	require.Eventually(t, func() bool { return inv.user.Load() == 4 }, 5*time.Second, time.Millisecond)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	assert.Equal(t, []string{"user", "sys:stop", "user", "user", "user"}, inv.order)
}

func TestMailboxPanicSuspendsUntilResume(t *testing.T) {
	mb, inv, _ := newTestMailbox(t, 100, nil)
	inv.onUser = func(v int) {
		if v == 1 {
			panic("boom")
		}
	}
	for i := range 3 {
		_, _, _ = mb.Post(t.Context(), i+1, nil)
	}
	require.Eventually(t, func() bool { return inv.failures.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.EqualValues(t, 1, inv.user.Load(), "suspended: no user message after the failure")
	mb.PostSystem("resume")
	require.Eventually(t, func() bool { return inv.user.Load() == 3 }, 5*time.Second, time.Millisecond)
}

// TestMailboxYieldsAfterThroughput runs two busy mailboxes on a pool of one
// worker: each turn is capped, so both make progress.
func TestMailboxYieldsAfterThroughput(t *testing.T) {
	pool := NewPool(1)
	defer func() { require.NoError(t, pool.Close(context.Background())) }()
	var seen []int
	var mu sync.Mutex
	mk := func(id int) *Mailbox[int] {
		inv := &countingInvoker{}
		inv.onUser = func(int) {
			mu.Lock()
			seen = append(seen, id)
			mu.Unlock()
		}
		mb := &Mailbox[int]{}
		inv.mb = mb
		mb.Init(inv, pool, 10, nil)
		return mb
	}
	a, b := mk(1), mk(2)
	for i := range 100 {
		a.user.Push(i) // queue without scheduling
		b.user.Push(i)
	}
	a.schedule(nil)
	b.schedule(nil)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 200 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.NotEqual(t, 1, seen[10], "mailbox 1 kept its worker past its budget")
	switches := 0
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1] {
			switches++
		}
	}
	assert.GreaterOrEqual(t, switches, 10)
}

func TestIdleMailboxHoldsNoGoroutine(t *testing.T) {
	pool := NewPool(2)
	defer func() { require.NoError(t, pool.Close(context.Background())) }()
	time.Sleep(10 * time.Millisecond)
	before := runtime.NumGoroutine()
	boxes := make([]*Mailbox[int], 10000)
	var delivered atomic.Int64
	for i := range boxes {
		inv := &countingInvoker{onUser: func(int) { delivered.Add(1) }}
		boxes[i] = &Mailbox[int]{}
		inv.mb = boxes[i]
		boxes[i].Init(inv, pool, 0, nil)
		_, _, _ = boxes[i].Post(t.Context(), i, nil)
	}
	require.Eventually(t, func() bool { return delivered.Load() == int64(len(boxes)) }, 10*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.LessOrEqual(t, runtime.NumGoroutine(), before)
	for _, mb := range boxes {
		assert.Nil(t, mb.user.tail.Load(), "drained mailbox keeps a segment")
	}
}

// TestMailboxKeepsSidesApart checks that the fields senders write and the
// fields the running consumer writes are at least a cache line apart.
func TestMailboxKeepsSidesApart(t *testing.T) {
	var m Mailbox[benchMsg]
	lastProducer := unsafe.Offsetof(m.user) + unsafe.Offsetof(m.user.first) + unsafe.Sizeof(m.user.first)
	firstConsumer := unsafe.Offsetof(m.head)
	assert.GreaterOrEqual(t, firstConsumer-lastProducer, uintptr(cacheLine-1))
	var q Queue[benchMsg]
	assert.GreaterOrEqual(t, unsafe.Offsetof(q.queueHead)-unsafe.Offsetof(q.queueTail.segs), uintptr(cacheLine))
}

// TestQueueRetiresWornSegments: a pooled segment near the end of its lap
// range is never reused, since its ready words would wrap into the values
// of fresh slots (phantom messages) or of tombstones.
func TestQueueRetiresWornSegments(t *testing.T) {
	var segs Segments[int]
	worn := segs.get(0)
	worn.lap.Store(maxLap)
	segs.put(worn)
	var q Queue[int]
	q.UseSegments(&segs)
	q.Push(42)
	assert.NotSame(t, worn, q.tail.Load(), "a worn segment was reused")
	v, ok := q.Pop()
	require.True(t, ok)
	assert.Equal(t, 42, v)
	_, ok = q.Pop()
	assert.False(t, ok, "phantom message from an empty queue")
}

// TestQueueSkipsTombstones: a slot claimed by a stale producer and marked
// as a tombstone is skipped, not delivered.
func TestQueueSkipsTombstones(t *testing.T) {
	var q Queue[int]
	q.Push(1)
	seg := q.tail.Load()
	i := seg.claimed.Add(1) - 1
	seg.slots[i].ready.Store((seg.lap.Load() + 1) | tombstoneBit)
	q.Push(2)
	var got []int
	for v, ok := q.Pop(); ok; v, ok = q.Pop() {
		got = append(got, v)
	}
	assert.Equal(t, []int{1, 2}, got)
}
