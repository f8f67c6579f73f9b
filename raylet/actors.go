package raylet

import (
	"fmt"
	"maps"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/gcs"
)

// spawn starts an actor the GCS placed here, under a keeper that applies
// its restart policy.
func (r *raylet) spawn(c *actor.Context, m *gcs.SpawnActor) {
	if m.Epoch != r.seqEpoch {
		r.seqEpoch, r.lastSeq = m.Epoch, 0
	}
	r.lastSeq = max(r.lastSeq, m.Seq)
	info := m.Actor
	id := r.currentID()
	if info.NodeID != id {
		// Placed under an identity this node no longer has: the GCS
		// places it again elsewhere.
		c.Send(r.gcs, &gcs.ActorDied{ID: info.ID, NodeID: info.NodeID, Refused: true, Cause: "placed on a node identity that is no longer this node's"})
		return
	}
	if h := r.hosted[info.ID]; h != nil {
		// Placed again (the GCS restarted before it heard the start): the
		// copy that runs stands, and the GCS hears of it again.
		if h.pid != nil {
			c.Send(r.gcs, &gcs.ActorStarted{ID: info.ID, NodeID: id, PID: h.pid})
		}
		return
	}
	p := producerOf(info.Spec.Kind)
	if p == nil {
		c.Send(r.gcs, &gcs.ActorDied{ID: info.ID, NodeID: id, Spawn: true, Cause: "actor kind " + info.Spec.Kind + " is not registered on node " + id})
		return
	}
	k := &keeper{id: info.ID, producer: p, left: info.RestartsLeft(), raylet: c.Self(), sys: c.System()}
	// A sequence number keeps the name free of a keeper of the same
	// actor that is still stopping.
	r.spawned++
	pid, err := c.SpawnNamed(k.props(), fmt.Sprintf("a-%s-%d", info.ID, r.spawned))
	if err != nil {
		c.Send(r.gcs, &gcs.ActorDied{ID: info.ID, NodeID: id, Spawn: true, Cause: "could not start: " + err.Error()})
		return
	}
	r.host(&hosted{info: info, keeper: pid})
	r.reportLater(c)
}

func (r *raylet) stopActor(c *actor.Context, m *gcs.StopActor) {
	h := r.hosted[m.ID]
	if h == nil {
		return
	}
	if !m.NoRestart {
		c.Send(h.keeper, crash{cause: m.Cause})
		return
	}
	r.unhost(m.ID)
	c.Send(h.keeper, stopHosted{cause: m.Cause})
	r.reportLater(c)
}

// reportLater sends one resource report for any number of changes made
// while handling the messages queued now.
func (r *raylet) reportLater(c *actor.Context) {
	if !r.reportDue {
		r.reportDue = true
		c.Send(c.Self(), sendReport{})
	}
}

func (r *raylet) report(c *actor.Context) {
	r.reportDue = false
	id := r.currentID()
	if id == "" {
		return
	}
	avail := r.available()
	r.reportSeq++
	c.Send(r.gcs, &gcs.ResourceReport{NodeID: id, Available: avail, Seq: r.reportSeq})
}

// host records a hosted actor and what it holds; unhost forgets it.
// used is kept as a running sum, since summing every hosted actor on each
// change made creating n actors cost O(n²).
func (r *raylet) host(h *hosted) {
	r.hosted[h.info.ID] = h
	for k, v := range h.info.Spec.Resources {
		r.used[k] += v
	}
}

func (r *raylet) unhost(id string) {
	h := r.hosted[id]
	if h == nil {
		return
	}
	delete(r.hosted, id)
	for k, v := range h.info.Spec.Resources {
		r.used[k] -= v
	}
}

// available is the node's total less what its hosted actors hold.
func (r *raylet) available() gcs.Resources {
	avail := maps.Clone(r.registration.Total)
	for k, v := range r.used {
		avail[k] = gcs.Round(avail[k] - v)
	}
	return avail
}
