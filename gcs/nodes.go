package gcs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/goray-dev/goray/actor"
)

func (g *gcs) registerNode(sender *actor.PID, m *RegisterNode) {
	if err := m.Total.Validate(); err != nil {
		g.reply(sender, &RegisterNodeReply{Err: err.Error()})
		return
	}
	if m.BusNode == "" {
		g.reply(sender, &RegisterNodeReply{Err: "gcs: RegisterNode without a bus node"})
		return
	}
	now := time.Now().UnixNano()
	// A bus node registers again when its raylet starts over: the old
	// identity is dead, whatever the health checks would say later.
	for _, id := range g.nodeOrder {
		if n := g.nodes[id]; n.State == NodeAlive && n.BusNode == m.BusNode {
			g.markDead(id, "node restarted: its process registered anew")
		}
	}
	n := &NodeInfo{
		ID: newID(), BusNode: m.BusNode, Address: m.Address, Labels: maps.Clone(m.Labels),
		Total: m.Total.Clone(), Available: m.Total.Clone(), State: NodeAlive,
		LastSeen: now, Started: now, Kinds: slices.Sorted(slices.Values(m.Kinds)), Head: m.Head, Role: m.Role,
	}
	g.nodes[n.ID] = n
	g.nodeOrder = append(g.nodeOrder, n.ID)
	g.ledger[n.ID] = m.Total.Clone()
	g.saveNode(n)
	g.nodeEvent(n)
	g.log.Info("gcs: node registered", "node", n.ID, "bus", n.BusNode, "address", n.Address, "resources", n.Total.String())
	g.reply(sender, &RegisterNodeReply{NodeID: n.ID, Epoch: g.epoch, HealthPeriod: int64(g.cfg.HealthPeriod)})
	g.schedule()
}

// mismatchLimit is how many health checks in a row may find a node
// hosting another number of actors than the tables place there before
// the GCS asks it for the list: a lost SpawnActor, ActorStarted or
// ActorDied would otherwise leave an actor stuck.
const mismatchLimit = 3

// causeStopped is the death cause of a node that unregistered.
const causeStopped = "node stopped"

func (g *gcs) hello(c *actor.Context, m *NodeHello) {
	n := g.nodes[m.NodeID]
	alive := n != nil && n.State == NodeAlive
	if alive {
		g.misses[n.ID] = 0
		n.LastSeen = time.Now().UnixNano()
	}
	c.Respond(&NodeHelloReply{Alive: alive, Epoch: g.epoch})
}

// checkHealth sends a check to every live node that has none in flight.
// A check not answered within 4/5 of the period is a miss, so that its
// result is in before the next tick.
func (g *gcs) checkHealth() {
	timeout := g.cfg.HealthPeriod * 4 / 5
	for _, id := range g.nodeOrder {
		n := g.nodes[id]
		if n.State != NodeAlive || g.checking[id] {
			continue
		}
		g.checking[id] = true
		resync := g.mismatch[id] >= mismatchLimit
		if resync {
			g.mismatch[id] = 0
		}
		f := g.sys.RequestFuture(RayletPID(n.BusNode), &HealthCheck{NodeID: id, Epoch: g.epoch, Resync: resync}, timeout)
		go func() {
			r, err := f.Result(g.ctx)
			reply, _ := r.(*HealthReply)
			if err == nil && reply == nil {
				err = fmt.Errorf("gcs: health check answered with %T", r)
			}
			g.sys.Send(g.self, healthResult{nodeID: id, reply: reply, err: err})
		}()
	}
}

func (g *gcs) onHealthResult(r healthResult) {
	delete(g.checking, r.nodeID)
	n := g.nodes[r.nodeID]
	if n == nil || n.State != NodeAlive {
		return
	}
	switch {
	case r.err == nil && r.reply.NodeID == r.nodeID:
		g.misses[r.nodeID] = 0
		n.LastSeen = time.Now().UnixNano()
		if r.reply.Hosted != len(g.byNode[r.nodeID]) {
			g.mismatch[r.nodeID]++
		} else {
			g.mismatch[r.nodeID] = 0
		}
	case r.err == nil && r.reply.NodeID != "":
		g.markDead(r.nodeID, "node restarted: its process registered anew")
	default:
		g.misses[r.nodeID]++
		if k := g.misses[r.nodeID]; k >= g.cfg.HealthThreshold {
			g.markDead(r.nodeID, fmt.Sprintf("missed %d health checks in a row (last: %v)", k, r.err))
		}
	}
}

// markDead declares a node dead for good: its actors restart elsewhere or
// die, its jobs fail, and it is told (if it can still hear).
func (g *gcs) markDead(id, cause string) {
	n := g.nodes[id]
	if n == nil || n.State != NodeAlive {
		return
	}
	n.State, n.DeathCause, n.Ended = NodeDead, cause, time.Now().UnixNano()
	n.Available = Resources{}
	delete(g.misses, id)
	delete(g.mismatch, id)
	delete(g.nodeSeq, id)
	delete(g.reported, id)
	delete(g.ledger, id)
	g.saveNode(n)
	g.nodeEvent(n)
	level := slog.LevelWarn
	if cause == causeStopped {
		level = slog.LevelInfo // it said goodbye
	}
	g.log.Log(context.Background(), level, "gcs: node dead", "node", id, "bus", n.BusNode, "cause", cause)
	g.sys.Send(RayletPID(n.BusNode), &NodeDeclaredDead{NodeID: id})
	for _, aid := range slices.Sorted(maps.Keys(g.byNode[id])) {
		g.actorLost(g.actors[aid], "node died ("+cause+")")
	}
	delete(g.byNode, id)
	for _, jid := range g.jobOrder {
		if j := g.jobs[jid]; j.State == JobRunning && j.DriverNode == id {
			g.endJob(j, JobFailed)
		}
	}
	g.schedule()
}

func (g *gcs) onResourceReport(m *ResourceReport) {
	n := g.nodes[m.NodeID]
	if n == nil || n.State != NodeAlive || m.Available.Validate() != nil {
		return
	}
	if last, ok := g.reported[m.NodeID]; ok && last.Seq >= m.Seq {
		return // late
	}
	g.reported[m.NodeID] = *m
	if g.refreshAvailable(n) {
		g.schedule()
	}
}

// refreshAvailable sets a node's Available to the lower of the ledger and
// its own last report, per resource, and reports whether it changed.
func (g *gcs) refreshAvailable(n *NodeInfo) bool {
	avail := g.ledger[n.ID].Clone()
	if r, ok := g.reported[n.ID]; ok {
		for k, v := range r.Available {
			if cur, ok := avail[k]; ok && v < cur {
				avail[k] = v
			}
		}
	}
	if maps.Equal(avail, n.Available) {
		return false
	}
	n.Available = avail
	g.resourceEvent(n)
	return true
}

// resync reconciles what a raylet hosts with the tables after the GCS
// restarted: actors the tables place there but the node lacks are lost;
// copies the tables do not place there are stopped.
func (g *gcs) resync(m *Resync) {
	n := g.nodes[m.NodeID]
	if n == nil || n.State != NodeAlive {
		return
	}
	hosted := make(map[string]bool, len(m.Actors))
	for _, id := range m.Actors {
		hosted[id] = true
		a := g.actors[id]
		if a != nil && a.State != ActorDead && a.NodeID == "" && n.Available.Fits(a.Spec.Resources) {
			// Waiting for a node, and this one runs it already (its start
			// was lost with the old GCS): adopt that copy.
			g.place(a, n)
			continue
		}
		if a == nil || a.State == ActorDead || a.NodeID != m.NodeID {
			g.sys.Send(RayletPID(n.BusNode), &StopActor{ID: id, NoRestart: true, Cause: "unknown to the GCS after its restart"})
		}
	}
	// Placements the raylet had not handled when it made the list may
	// still be on their way; recovered ones (number 0) are not.
	seq := m.Seq
	if m.Epoch != g.epoch {
		seq = 0
	}
	for _, id := range slices.Sorted(maps.Keys(g.byNode[m.NodeID])) {
		if !hosted[id] && g.placedSeq[id] <= seq {
			g.actorLost(g.actors[id], "lost by its node (it no longer hosts it)")
		}
	}
	g.schedule()
}

func (g *gcs) addToNode(a *ActorInfo) {
	set := g.byNode[a.NodeID]
	if set == nil {
		set = make(map[string]struct{})
		g.byNode[a.NodeID] = set
	}
	set[a.ID] = struct{}{}
}

// release takes a from its node: its reservation returns to the ledger.
func (g *gcs) release(a *ActorInfo) {
	if a.NodeID == "" {
		return
	}
	if l, ok := g.ledger[a.NodeID]; ok {
		l.add(a.Spec.Resources, g.nodes[a.NodeID].Total)
		g.refreshAvailable(g.nodes[a.NodeID])
	}
	if set := g.byNode[a.NodeID]; set != nil {
		delete(set, a.ID)
	}
	delete(g.placedSeq, a.ID)
	a.NodeID, a.PID = "", nil
	g.schedule() // the room may fit an actor that waits
}
