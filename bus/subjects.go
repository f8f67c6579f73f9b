package bus

// Subjects builds the NATS subjects of one cluster. The scheme is listed
// in the package documentation; every subject of a cluster starts with
// "goray.<cluster>.".
type Subjects struct{ prefix string }

// NewSubjects returns the subject scheme of the named cluster.
func NewSubjects(cluster string) Subjects { return Subjects{prefix: "goray." + cluster + "."} }

// Prefix is "goray.<cluster>.", the start of every subject of the cluster.
func (s Subjects) Prefix() string { return s.prefix }

// Inbox returns the subject on which node receives batches of actor
// envelopes.
func (s Subjects) Inbox(node string) string { return s.prefix + "n." + node + ".in" }

// Heartbeat returns the subject on which node announces itself.
func (s Subjects) Heartbeat(node string) string { return s.prefix + "hb." + node }

// heartbeats matches every node's heartbeat subject.
func (s Subjects) heartbeats() string { return s.prefix + "hb.*" }

// NodeService returns the request subject of a per-node service (for
// example "raylet" or "objects") of node.
func (s Subjects) NodeService(node, service string) string {
	return s.prefix + "n." + node + "." + service
}

// Service returns the request subject of a cluster-wide service such as
// "gcs", served by a queue group so that a standby can take over.
func (s Subjects) Service(name string) string { return s.prefix + "svc." + name }

// Event returns the subject of a cluster event topic, for example
// "node.up" or "actor.state".
func (s Subjects) Event(topic string) string { return s.prefix + "ev." + topic }
