package gcs

import (
	"fmt"
	"slices"
	"time"

	"github.com/goray-dev/goray/actor"
)

func (g *gcs) createActor(sender *actor.PID, m *CreateActor) {
	spec := m.Spec
	spec.Resources = spec.Resources.Clone() // the caller may reuse its map (in-process)
	if err := g.validateSpec(&spec); err != nil {
		g.replyActor(sender, nil, err)
		return
	}
	if spec.Name != "" {
		if id, ok := g.named[nameKey{spec.Namespace, spec.Name}]; ok {
			if m.GetIfExists {
				g.replyActor(sender, g.actors[id], nil)
				return
			}
			g.replyActor(sender, nil, errorf(ErrNameTaken, "%q in namespace %q", spec.Name, spec.Namespace))
			return
		}
	}
	if err := g.feasible(&spec); err != nil {
		g.replyActor(sender, nil, err)
		return
	}
	a := &ActorInfo{ID: newID(), Spec: spec, State: ActorPendingCreation, Created: time.Now().UnixNano()}
	g.actors[a.ID] = a
	g.actorOrder = append(g.actorOrder, a.ID)
	if spec.Name != "" {
		g.named[nameKey{spec.Namespace, spec.Name}] = a.ID
	}
	if n := g.pick(a); n != nil {
		// The creator hears once the node has started it.
		g.creators[a.ID] = append(g.creators[a.ID], sender)
		g.place(a, n)
		return
	}
	g.pending = append(g.pending, a.ID)
	g.saveActor(a)
	g.actorEvent(a)
	g.replyActor(sender, a, nil)
}

func (g *gcs) validateSpec(s *ActorSpec) error {
	switch {
	case s.Kind == "":
		return errorf(ErrInvalid, "an actor needs a kind")
	case s.MaxRestarts < -1 || s.MaxTaskRetries < -1:
		return errorf(ErrInvalid, "MaxRestarts %d, MaxTaskRetries %d: -1 (for ever) is the least", s.MaxRestarts, s.MaxTaskRetries)
	case s.Name != "" && s.Namespace == "":
		return errorf(ErrInvalid, "named actor %q without a namespace", s.Name)
	}
	if err := s.Resources.Validate(); err != nil {
		return err
	}
	if s.JobID != "" {
		j := g.jobs[s.JobID]
		if j == nil {
			return errorf(ErrNotFound, "job %s", s.JobID)
		}
		if j.State != JobRunning && !s.Detached {
			return errorf(ErrJobFinished, "job %s is %s", s.JobID, j.State)
		}
	}
	return nil
}

// feasible fails an actor that no live node could ever run.
func (g *gcs) feasible(s *ActorSpec) error {
	knows := false
	for _, id := range g.nodeOrder {
		n := g.nodes[id]
		if n.State != NodeAlive || !slices.Contains(n.Kinds, s.Kind) {
			continue
		}
		knows = true
		if n.Total.Fits(s.Resources) {
			return nil
		}
	}
	if !knows {
		return errorf(ErrInfeasible, "no live node has actor kind %q registered (goray.RegisterActor in the binary that every node runs)", s.Kind)
	}
	return errorf(ErrInfeasible, "the actor asks for {%s}, more than any live node has in total", s.Resources)
}

// pick chooses a live node with room for a: the owner's node while it is
// less than half full, else the emptiest one by its most used resource
// (Ray's hybrid policy: pack, then spread).
//
// A detached actor outlives its job, so it goes to a driver's node (which
// leaves with the driver) only when no other node has room.
func (g *gcs) pick(a *ActorInfo) *NodeInfo {
	if !a.Spec.Detached {
		return g.pickAmong(a, true)
	}
	if n := g.pickAmong(a, false); n != nil {
		return n
	}
	return g.pickAmong(a, true)
}

func (g *gcs) pickAmong(a *ActorInfo, drivers bool) *NodeInfo {
	var best *NodeInfo
	bestUse := 2.0
	for _, id := range g.nodeOrder {
		n := g.nodes[id]
		if n.State != NodeAlive || !drivers && n.Role == "driver" ||
			!n.Available.Fits(a.Spec.Resources) || !slices.Contains(n.Kinds, a.Spec.Kind) {
			continue
		}
		use := utilization(n.Available, n.Total)
		if id == a.Spec.OwnerNode && use < 0.5 && !a.Spec.Detached {
			return n
		}
		if use < bestUse {
			best, bestUse = n, use
		}
	}
	return best
}

// place reserves a's resources on n and asks n's raylet to start it.
func (g *gcs) place(a *ActorInfo, n *NodeInfo) {
	a.NodeID = n.ID
	g.nodeSeq[n.ID]++
	g.placedSeq[a.ID] = g.nodeSeq[n.ID]
	g.ledger[n.ID].sub(a.Spec.Resources)
	g.refreshAvailable(n)
	g.addToNode(a)
	c := *a
	g.sys.Send(RayletPID(n.BusNode), &SpawnActor{Actor: c, Epoch: g.epoch, Seq: g.nodeSeq[n.ID]})
}

// schedule places the pending actors that fit now, oldest first.
func (g *gcs) schedule() {
	if len(g.pending) == 0 {
		return
	}
	kept := g.pending[:0]
	for _, id := range g.pending {
		a := g.actors[id]
		if a == nil || a.State == ActorDead || a.State == ActorAlive || a.NodeID != "" {
			continue
		}
		if n := g.pick(a); n != nil {
			g.place(a, n)
			continue
		}
		kept = append(kept, id)
	}
	clear(g.pending[len(kept):])
	g.pending = kept
}

// expected returns the actor a raylet reports on, if the tables place it
// on that node; else the raylet is told to stop its copy.
func (g *gcs) expected(id, nodeID string) *ActorInfo {
	a := g.actors[id]
	if a != nil && a.State != ActorDead && a.NodeID == nodeID {
		return a
	}
	if n := g.nodes[nodeID]; n != nil {
		g.sys.Send(RayletPID(n.BusNode), &StopActor{ID: id, NoRestart: true, Cause: "not placed there by the GCS"})
	}
	return nil
}

func (g *gcs) onStarted(m *ActorStarted) {
	a := g.expected(m.ID, m.NodeID)
	if a == nil {
		return
	}
	a.State, a.PID = ActorAlive, m.PID
	g.saveActor(a)
	g.actorEvent(a)
	for _, c := range g.creators[a.ID] {
		g.replyActor(c, a, nil)
	}
	delete(g.creators, a.ID)
	g.wake(a)
}

// onRestarted records a crash that the actor's supervisor restarted in
// place.
func (g *gcs) onRestarted(m *ActorRestarted) {
	a := g.expected(m.ID, m.NodeID)
	if a == nil {
		return
	}
	a.Restarts++
	a.State = ActorRestarting
	g.actorEvent(a)
	a.State = ActorAlive
	g.saveActor(a)
	g.actorEvent(a)
	g.log.Info("gcs: actor restarted in place", "actor", a.ID, "restarts", a.Restarts, "cause", m.Cause)
}

func (g *gcs) onDied(m *ActorDied) {
	a := g.expected(m.ID, m.NodeID)
	if a == nil {
		return
	}
	g.release(a)
	if m.Refused {
		g.pending = append(g.pending, a.ID)
		g.schedule()
		return
	}
	g.die(a, m.Cause)
}

// actorLost handles an actor whose node is gone: it restarts elsewhere if
// restarts remain, else it is dead.
func (g *gcs) actorLost(a *ActorInfo, cause string) {
	placed := a.NodeID != "" // an unplaced one waits in pending already
	g.release(a)
	if a.RestartsLeft() == 0 {
		g.die(a, cause)
		return
	}
	a.Restarts++
	a.State = ActorRestarting
	if placed {
		g.pending = append(g.pending, a.ID)
	}
	g.saveActor(a)
	g.actorEvent(a)
	// Creators waiting for its first start get the handle now, as for
	// an actor that waits for room.
	for _, c := range g.creators[a.ID] {
		g.replyActor(c, a, nil)
	}
	delete(g.creators, a.ID)
	g.log.Info("gcs: actor restarting", "actor", a.ID, "restarts", a.Restarts, "cause", cause)
	g.schedule()
}

// die makes a dead for good; a must hold no reservation.
func (g *gcs) die(a *ActorInfo, cause string) {
	a.State, a.DeathCause, a.Ended = ActorDead, cause, time.Now().UnixNano()
	a.NodeID, a.PID = "", nil
	if k := (nameKey{a.Spec.Namespace, a.Spec.Name}); a.Spec.Name != "" && g.named[k] == a.ID {
		delete(g.named, k)
	}
	g.saveActor(a)
	g.actorEvent(a)
	err := fmt.Errorf("gcs: actor %s died: %s", a.ID, cause)
	for _, c := range g.creators[a.ID] {
		g.replyActor(c, a, err)
	}
	delete(g.creators, a.ID)
	g.wake(a)
	g.dead = append(g.dead, a.ID)
	g.forgetDead()
}

// MaxDeadActors is how many dead actors the tables keep, for listings and
// for handles that ask why their actor died; older ones are forgotten.
const MaxDeadActors = 10000

func (g *gcs) forgetDead() {
	for len(g.dead) > MaxDeadActors {
		id := g.dead[0]
		g.dead = g.dead[1:]
		if a := g.actors[id]; a != nil && a.State == ActorDead {
			delete(g.actors, id)
			g.journal.del(preActor + id)
			g.forgotten++
		}
	}
	if g.forgotten > len(g.actorOrder)/2 {
		g.actorOrder = slices.DeleteFunc(g.actorOrder, func(id string) bool { return g.actors[id] == nil })
		g.forgotten = 0
	}
}

// stop ends an actor for good on purpose (Kill, its job's end).
func (g *gcs) stop(a *ActorInfo, cause string) {
	if n := g.nodes[a.NodeID]; n != nil {
		g.sys.Send(RayletPID(n.BusNode), &StopActor{ID: a.ID, NoRestart: true, Cause: cause})
	}
	g.release(a)
	g.die(a, cause)
}

// causeKilled is the death (or restart) cause of a killed actor.
const causeKilled = "killed by goray.Kill"

func (g *gcs) killActor(sender *actor.PID, m *KillActor) {
	a := g.actors[m.ID]
	switch {
	case a == nil:
		g.replyActor(sender, nil, errorf(ErrNotFound, "actor %s", m.ID))
		return
	case a.State == ActorDead:
	case m.NoRestart:
		g.stop(a, causeKilled)
	case a.State != ActorAlive:
		// Not running yet: killed like a crash, it uses a restart (or
		// dies) and waits for a node again.
		if n := g.nodes[a.NodeID]; n != nil {
			g.sys.Send(RayletPID(n.BusNode), &StopActor{ID: a.ID, NoRestart: true, Cause: causeKilled})
		}
		g.actorLost(a, causeKilled)
	default:
		// Killed like a crash: its supervisor restarts it if it may.
		g.sys.Send(RayletPID(g.nodes[a.NodeID].BusNode), &StopActor{ID: a.ID, Cause: causeKilled})
	}
	g.replyActor(sender, a, nil)
}

func (g *gcs) getNamed(sender *actor.PID, m *GetNamedActor) {
	id, ok := g.named[nameKey{m.Namespace, m.Name}]
	if !ok {
		g.replyActor(sender, nil, errorf(ErrNotFound, "no actor named %q in namespace %q", m.Name, m.Namespace))
		return
	}
	g.replyActor(sender, g.actors[id], nil)
}

func (g *gcs) waitActor(sender *actor.PID, m *WaitActor) {
	a := g.actors[m.ID]
	if a == nil {
		g.replyActor(sender, nil, errorf(ErrNotFound, "actor %s", m.ID))
		return
	}
	if ready(a, m.Not) {
		g.replyActor(sender, a, nil)
		return
	}
	g.waiters[a.ID] = append(g.waiters[a.ID], waiter{to: sender, not: m.Not, deadline: m.Deadline})
}

// dropExpiredWaiters forgets waits whose callers gave up.
func (g *gcs) dropExpiredWaiters() {
	now := time.Now().UnixNano()
	for id, ws := range g.waiters {
		ws = slices.DeleteFunc(ws, func(w waiter) bool { return w.deadline != 0 && w.deadline < now })
		if len(ws) == 0 {
			delete(g.waiters, id)
		} else {
			g.waiters[id] = ws
		}
	}
}

func ready(a *ActorInfo, not *actor.PID) bool {
	return a.State == ActorDead || a.State == ActorAlive && (not == nil || !a.PID.Equal(not))
}

// wake answers the waiters whose wait a's new state ends.
func (g *gcs) wake(a *ActorInfo) {
	ws := g.waiters[a.ID]
	kept := ws[:0]
	for _, w := range ws {
		if ready(a, w.not) {
			g.replyActor(w.to, a, nil)
		} else {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		delete(g.waiters, a.ID)
	} else {
		g.waiters[a.ID] = kept
	}
}

func (g *gcs) replyActor(to *actor.PID, a *ActorInfo, err error) {
	r := &ActorReply{Err: errText(err), Code: codeOf(err)}
	if a != nil {
		r.Actor = *a
	}
	g.reply(to, r)
}
