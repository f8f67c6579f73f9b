package gcs

import (
	"time"

	"github.com/goray-dev/goray/bus"
)

// Event topics: the GCS publishes each change of its tables on
// Subjects.Event(topic), CBOR-encoded as an Event. Components and tools
// subscribe to them (core NATS: an event is lost to a subscriber that is
// not connected; the tables stay the truth).
const (
	TopicNodes     = "nodes"     // node added or dead
	TopicActors    = "actors"    // an actor changed state
	TopicResources = "resources" // a node's available resources changed
	TopicJobs      = "jobs"      // a job started or ended
)

// Event is one change. Exactly one of Node, Actor and Job is set.
type Event struct {
	Topic string     `cbor:"1,keyasint"`
	Time  int64      `cbor:"2,keyasint"`
	Node  *NodeInfo  `cbor:"3,keyasint,omitempty"`
	Actor *ActorInfo `cbor:"4,keyasint,omitempty"`
	Job   *JobInfo   `cbor:"5,keyasint,omitempty"`
}

// DecodeEvent decodes the data of an event message.
func DecodeEvent(data []byte) (*Event, error) {
	var e Event
	if err := bus.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// publish sends an event; a failure only loses the event.
func (g *gcs) publish(e Event) {
	e.Time = time.Now().UnixNano()
	data, err := bus.Marshal(&e)
	if err == nil {
		err = g.conn.Publish(g.subjects.Event(e.Topic), data)
	}
	if err != nil {
		g.log.Debug("gcs: event not published", "topic", e.Topic, "err", err)
	}
}

func (g *gcs) nodeEvent(n *NodeInfo) {
	c := *n
	g.publish(Event{Topic: TopicNodes, Node: &c})
}

func (g *gcs) resourceEvent(n *NodeInfo) {
	c := *n
	c.Available = n.Available.Clone()
	g.publish(Event{Topic: TopicResources, Node: &c})
}

func (g *gcs) actorEvent(a *ActorInfo) {
	c := *a
	g.publish(Event{Topic: TopicActors, Actor: &c})
}

func (g *gcs) jobEvent(j *JobInfo) {
	c := *j
	g.publish(Event{Topic: TopicJobs, Job: &c})
}
