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

// addPID adds pid to a set kept as a slice, unless an equal PID is there.
func addPID(set []*PID, pid *PID) ([]*PID, bool) {
	if slices.ContainsFunc(set, pid.Equal) {
		return set, false
	}
	return append(set, pid), true
}

// removePID removes the PID equal to pid from a set kept as a slice.
func removePID(set []*PID, pid *PID) ([]*PID, bool) {
	i := slices.IndexFunc(set, pid.Equal)
	if i < 0 {
		return set, false
	}
	return slices.Delete(set, i, i+1), true
}
