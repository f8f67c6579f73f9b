package gcs

// Page sizes of list replies, so that a reply stays well under the bus's
// message limit.
const (
	nodePage  = 500
	actorPage = 1000
	jobPage   = 1000
)

func page[T any](order []string, offset, size int, get func(string) (T, bool)) (items []T, next int) {
	offset = max(offset, 0)
	for i := offset; i < len(order); i++ {
		if len(items) == size {
			return items, i
		}
		if v, ok := get(order[i]); ok {
			items = append(items, v)
		}
	}
	return items, 0
}

func (g *gcs) listNodes(m *ListNodes) *ListReply {
	nodes, next := page(g.nodeOrder, m.Offset, nodePage, func(id string) (NodeInfo, bool) { return *g.nodes[id], true })
	return &ListReply{Nodes: nodes, Next: next}
}

func (g *gcs) listActors(m *ListActors) *ListReply {
	actors, next := page(g.actorOrder, m.Offset, actorPage, func(id string) (ActorInfo, bool) {
		a := g.actors[id]
		if a == nil {
			return ActorInfo{}, false
		}
		return *a, m.State == 0 || a.State == m.State
	})
	return &ListReply{Actors: actors, Next: next}
}

func (g *gcs) listJobs(m *ListJobs) *ListReply {
	jobs, next := page(g.jobOrder, m.Offset, jobPage, func(id string) (JobInfo, bool) { return *g.jobs[id], true })
	return &ListReply{Jobs: jobs, Next: next}
}

func (g *gcs) status() *StatusReply {
	r := &StatusReply{Epoch: g.epoch, ActorsByState: make(map[string]int), Jobs: make(map[string]int), JournalErrors: g.journal.errs.Load()}
	for _, a := range g.actors {
		r.ActorsByState[a.State.String()]++
	}
	for _, j := range g.jobs {
		r.Jobs[j.State.String()]++
	}
	shapes := make(map[string]int)
	for _, id := range g.pending {
		if a := g.actors[id]; a != nil && a.State != ActorDead && a.NodeID == "" {
			key := a.Spec.Resources.String()
			if shapes[key] == 0 {
				r.Pending = append(r.Pending, PendingDemand{Resources: a.Spec.Resources})
			}
			shapes[key]++
		}
	}
	for i := range r.Pending {
		r.Pending[i].Count = shapes[r.Pending[i].Resources.String()]
	}
	for i, id := range g.nodeOrder {
		if i == nodePage {
			break
		}
		r.Nodes = append(r.Nodes, *g.nodes[id])
	}
	return r
}
