package actor

import (
	"context"
	"slices"
)

// PID identifies an actor: the node it lives on and its id there. Local PIDs
// returned by Spawn carry a direct reference to the actor, so sending to
// them costs no lookup.
type PID struct {
	Node string `json:"node"`
	ID   string `json:"id"`
	proc process
}

// String returns "node/id".
func (p *PID) String() string {
	if p == nil {
		return "<nil>"
	}
	return p.Node + "/" + p.ID
}

// Equal reports whether p and q name the same actor.
func (p *PID) Equal(q *PID) bool {
	if p == nil || q == nil {
		return p == q
	}
	return p.ID == q.ID && p.Node == q.Node
}

// process is what a PID delivers to: a local actor, a future, the root
// guardian or dead letters.
type process interface {
	sendUser(ctx context.Context, sender *PID, msg any) error
	sendSystem(msg any)
}

// pidSet is a set of PIDs by value (node and id). A small set, the
// common case, is a slice; from pidSetIndexAt members on, an index keeps
// add and remove O(1), so that an actor watching (or watched by)
// thousands of others does not pay O(n) per Watch and per Terminated.
type pidSet struct {
	list  []*PID
	index map[pidKey]int // position in list; nil while the set is small
}

type pidKey struct{ node, id string }

const pidSetIndexAt = 16

func keyOf(p *PID) pidKey { return pidKey{p.Node, p.ID} }

// add adds pid unless an equal PID is there, and reports whether it did.
func (s *pidSet) add(pid *PID) bool {
	if s.find(pid) >= 0 {
		return false
	}
	s.list = append(s.list, pid)
	switch {
	case s.index != nil:
		s.index[keyOf(pid)] = len(s.list) - 1
	case len(s.list) >= pidSetIndexAt:
		s.index = make(map[pidKey]int, 2*len(s.list))
		for i, p := range s.list {
			s.index[keyOf(p)] = i
		}
	}
	return true
}

// remove removes the PID equal to pid and reports whether it was there.
// The last member takes its place: order is not kept.
func (s *pidSet) remove(pid *PID) bool {
	i := s.find(pid)
	if i < 0 {
		return false
	}
	last := len(s.list) - 1
	if s.index != nil {
		delete(s.index, keyOf(pid))
		if i != last {
			s.index[keyOf(s.list[last])] = i
		}
	}
	s.list[i] = s.list[last]
	s.list[last] = nil
	s.list = s.list[:last]
	return true
}

func (s *pidSet) find(pid *PID) int {
	if s.index != nil {
		if i, ok := s.index[keyOf(pid)]; ok {
			return i
		}
		return -1
	}
	return slices.IndexFunc(s.list, pid.Equal)
}

// len is the number of members; all lists them (not to be kept).
func (s *pidSet) len() int    { return len(s.list) }
func (s *pidSet) all() []*PID { return s.list }
