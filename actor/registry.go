package actor

import (
	"hash/maphash"
	"sync"
)

const registryShards = 64

// registry maps local actor ids to processes. It is sharded so that spawns
// and stops on different workers rarely meet on a lock.
type registry struct {
	seed   maphash.Seed
	shards [registryShards]registryShard
}

type registryShard struct {
	mu sync.RWMutex
	m  map[string]*actorProcess
	_  [32]byte // keep shards on separate cache lines
}

func newRegistry() *registry {
	r := &registry{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = make(map[string]*actorProcess)
	}
	return r
}

func (r *registry) shard(id string) *registryShard {
	return &r.shards[maphash.String(r.seed, id)%registryShards]
}

// add registers p under id; it reports false if the id is taken.
func (r *registry) add(id string, p *actorProcess) bool {
	s := r.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.m[id]; taken {
		return false
	}
	s.m[id] = p
	return true
}

func (r *registry) remove(id string) {
	s := r.shard(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (r *registry) get(id string) *actorProcess {
	s := r.shard(id)
	s.mu.RLock()
	p := s.m[id]
	s.mu.RUnlock()
	return p
}

// removeIf removes id only while it still names p.
func (r *registry) removeIf(id string, p *actorProcess) {
	s := r.shard(id)
	s.mu.Lock()
	if s.m[id] == p {
		delete(s.m, id)
	}
	s.mu.Unlock()
}
