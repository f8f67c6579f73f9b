package gcs

import (
	"fmt"
	"time"

	"github.com/goray-dev/goray/actor"
)

func (g *gcs) registerJob(sender *actor.PID, m *RegisterJob) {
	if n := g.nodes[m.DriverNode]; n == nil || n.State != NodeAlive {
		g.reply(sender, &JobReply{Err: fmt.Sprintf("gcs: driver node %q is not alive; register the node first", m.DriverNode)})
		return
	}
	g.jobSeq++
	g.journalPut(keyJobSeq, g.jobSeq)
	j := &JobInfo{
		ID: fmt.Sprintf("%08x", g.jobSeq), DriverNode: m.DriverNode, Namespace: m.Namespace,
		State: JobRunning, Start: time.Now().UnixNano(), Entrypoint: m.Entrypoint,
	}
	if j.Namespace == "" {
		j.Namespace = "anonymous-" + j.ID
	}
	g.jobs[j.ID] = j
	g.jobOrder = append(g.jobOrder, j.ID)
	g.saveJob(j)
	g.jobEvent(j)
	g.reply(sender, &JobReply{Job: *j})
}

func (g *gcs) finishJob(sender *actor.PID, m *FinishJob) {
	j := g.jobs[m.JobID]
	if j == nil {
		g.reply(sender, &JobReply{Err: fmt.Sprintf("gcs: no job %s", m.JobID)})
		return
	}
	if j.State == JobRunning {
		state := JobSucceeded
		if m.Failed {
			state = JobFailed
		}
		g.endJob(j, state)
	}
	g.reply(sender, &JobReply{Job: *j})
}

// endJob ends a job; its actors that are not detached die with it.
func (g *gcs) endJob(j *JobInfo, state JobState) {
	j.State, j.End = state, time.Now().UnixNano()
	g.saveJob(j)
	g.jobEvent(j)
	for _, id := range g.actorOrder {
		if a := g.actors[id]; a != nil && a.Spec.JobID == j.ID && !a.Spec.Detached && a.State != ActorDead {
			g.stop(a, fmt.Sprintf("its job %s ended (%s) and it is not detached", j.ID, state))
		}
	}
}
