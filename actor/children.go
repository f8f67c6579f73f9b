package actor

import "github.com/goray-dev/goray/supervisor"

// children is a supervisor's record of its live children and, for those
// that have failed, their failure history. Most children never fail, so
// the history is kept apart and made on demand.
type children struct {
	pids  map[string]*PID
	stats map[string]*supervisor.Stats
}

func (cs *children) add(pid *PID) {
	if cs.pids == nil {
		cs.pids = make(map[string]*PID)
	}
	cs.pids[pid.ID] = pid
}

func (cs *children) has(id string) bool {
	_, ok := cs.pids[id]
	return ok
}

// find returns the recorded PID equal to pid, if any.
func (cs *children) find(pid *PID) (*PID, bool) {
	have, ok := cs.pids[pid.ID]
	return have, ok && have.Equal(pid)
}

// remove forgets pid and reports whether it was a child.
func (cs *children) remove(pid *PID) bool {
	if _, ok := cs.find(pid); !ok {
		return false
	}
	delete(cs.pids, pid.ID)
	delete(cs.stats, pid.ID)
	return true
}

// failures returns the failure history of the child with the given id.
func (cs *children) failures(id string) *supervisor.Stats {
	if st, ok := cs.stats[id]; ok {
		return st
	}
	if cs.stats == nil {
		cs.stats = make(map[string]*supervisor.Stats)
	}
	st := &supervisor.Stats{}
	cs.stats[id] = st
	return st
}

func (cs *children) len() int { return len(cs.pids) }

// appendTo appends the children's PIDs to out.
func (cs *children) appendTo(out []*PID) []*PID {
	for _, pid := range cs.pids {
		out = append(out, pid)
	}
	return out
}
