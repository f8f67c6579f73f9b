package bus

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/actor"
)

const pendingShards = 16

// pendingRequests are this node's requests to actors on other nodes, by
// request id, so that replies find their futures and requests to a node
// that goes down fail at once.
type pendingRequests struct {
	next   atomic.Uint64
	shards [pendingShards]pendingShard
}

type pendingShard struct {
	mu sync.Mutex
	m  map[uint64]pendingRequest
	_  [40]byte
}

type pendingRequest struct {
	f     *actor.Future
	node  string
	since time.Time
}

func newPendingRequests() *pendingRequests {
	p := &pendingRequests{}
	// Ids start at a random point, so a late reply meant for an earlier
	// incarnation of this node cannot complete a new request.
	p.next.Store(randomIncarnation() >> 1)
	for i := range p.shards {
		p.shards[i].m = make(map[uint64]pendingRequest)
	}
	return p
}

func (p *pendingRequests) shard(id uint64) *pendingShard { return &p.shards[id%pendingShards] }

// add records f as waiting for a reply from node and returns its id.
func (p *pendingRequests) add(f *actor.Future, node string) uint64 {
	id := p.next.Add(1)
	s := p.shard(id)
	s.mu.Lock()
	s.m[id] = pendingRequest{f: f, node: node, since: time.Now()}
	s.mu.Unlock()
	return id
}

// take removes and returns the future of request id.
func (p *pendingRequests) take(id uint64) *actor.Future {
	s := p.shard(id)
	s.mu.Lock()
	r, ok := s.m[id]
	delete(s.m, id)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return r.f
}

// peek returns the future of request id, leaving it pending.
func (p *pendingRequests) peek(id uint64) *actor.Future {
	s := p.shard(id)
	s.mu.Lock()
	r := s.m[id]
	s.mu.Unlock()
	return r.f
}

// sweep drops requests whose futures completed by themselves (timed out,
// cancelled) and returns the pending ones for which fail says so.
func (p *pendingRequests) sweep(fail func(pendingRequest) bool) []pendingRequest {
	var failed []pendingRequest
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for id, r := range s.m {
			switch {
			case r.f.Completed():
				delete(s.m, id)
			case fail(r):
				delete(s.m, id)
				failed = append(failed, r)
			}
		}
		s.mu.Unlock()
	}
	return failed
}

// len returns how many requests are pending.
func (p *pendingRequests) len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
