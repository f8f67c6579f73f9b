package gcs

import (
	"fmt"
	"time"

	"github.com/goray-dev/goray/actor"
)

// parseState sets *s to the one of all whose name is b.
func parseState[S interface {
	~uint8
	String() string
}](s *S, b []byte, all ...S) error {
	for _, v := range all {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("gcs: unknown %T %q", *s, b)
}

// NodeState is a node's place in its life: alive until it misses too
// many health checks, stops, or is replaced; dead for good after that. A
// node that comes back registers anew under a new id.
type NodeState uint8

// Node states.
const (
	NodeAlive NodeState = iota + 1
	NodeDead
)

// MarshalText writes the state by name (for JSON).
func (s NodeState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state written by MarshalText.
func (s *NodeState) UnmarshalText(b []byte) error { return parseState(s, b, NodeAlive, NodeDead) }

func (s NodeState) String() string {
	switch s {
	case NodeAlive:
		return "ALIVE"
	case NodeDead:
		return "DEAD"
	}
	return "UNKNOWN"
}

// ActorState follows Ray's actor life: PENDING_CREATION until a node has
// started it, ALIVE, RESTARTING after a crash or the loss of its node
// while restarts remain, DEAD for good (with a cause).
type ActorState uint8

// Actor states.
const (
	ActorPendingCreation ActorState = iota + 1
	ActorAlive
	ActorRestarting
	ActorDead
)

// MarshalText writes the state by name (for JSON).
func (s ActorState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state written by MarshalText.
func (s *ActorState) UnmarshalText(b []byte) error {
	return parseState(s, b, ActorPendingCreation, ActorAlive, ActorRestarting, ActorDead)
}

func (s ActorState) String() string {
	switch s {
	case ActorPendingCreation:
		return "PENDING_CREATION"
	case ActorAlive:
		return "ALIVE"
	case ActorRestarting:
		return "RESTARTING"
	case ActorDead:
		return "DEAD"
	}
	return "UNKNOWN"
}

// JobState is a job's state: running while its driver is, then
// succeeded (the driver shut down) or failed (the driver's node died).
type JobState uint8

// Job states.
const (
	JobRunning JobState = iota + 1
	JobSucceeded
	JobFailed
)

// MarshalText writes the state by name (for JSON).
func (s JobState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state written by MarshalText.
func (s *JobState) UnmarshalText(b []byte) error {
	return parseState(s, b, JobRunning, JobSucceeded, JobFailed)
}

func (s JobState) String() string {
	switch s {
	case JobRunning:
		return "RUNNING"
	case JobSucceeded:
		return "SUCCEEDED"
	case JobFailed:
		return "FAILED"
	}
	return "UNKNOWN"
}

// NodeInfo is a row of the node table.
type NodeInfo struct {
	ID      string            `cbor:"1,keyasint" json:"node_id"`
	BusNode string            `cbor:"2,keyasint" json:"bus_node"` // the bus name of its process
	Address string            `cbor:"3,keyasint,omitempty" json:"address,omitempty"`
	Labels  map[string]string `cbor:"4,keyasint,omitempty" json:"labels,omitempty"`
	Total   Resources         `cbor:"5,keyasint" json:"resources_total"`
	// Available is what placement may still use: the GCS's own ledger of
	// the actors it placed there, lowered further by what the node itself
	// last reported free.
	Available  Resources `cbor:"6,keyasint" json:"resources_available"`
	State      NodeState `cbor:"7,keyasint" json:"state"`
	LastSeen   int64     `cbor:"8,keyasint" json:"last_seen_unix_ns"` // Unix nanoseconds
	Started    int64     `cbor:"9,keyasint" json:"start_unix_ns"`
	DeathCause string    `cbor:"10,keyasint,omitempty" json:"death_cause,omitempty"`
	Kinds      []string  `cbor:"11,keyasint,omitempty" json:"actor_kinds,omitempty"`
	Head       bool      `cbor:"12,keyasint,omitempty" json:"is_head"`
	Ended      int64     `cbor:"13,keyasint,omitempty" json:"end_unix_ns,omitempty"`
	// Role is what the node's process is: "head", "node" (started to
	// serve), "worker" (a user's binary serving), or "driver" (a user's
	// program running a job, which also hosts actors if it has room).
	Role string `cbor:"14,keyasint,omitempty" json:"role,omitempty"`
}

// ActorSpec is what a caller asks for when it creates an actor.
type ActorSpec struct {
	Kind      string `cbor:"1,keyasint" json:"kind"`
	Name      string `cbor:"2,keyasint,omitempty" json:"name,omitempty"`
	Namespace string `cbor:"3,keyasint,omitempty" json:"namespace,omitempty"`
	JobID     string `cbor:"4,keyasint,omitempty" json:"job_id,omitempty"`
	Detached  bool   `cbor:"5,keyasint,omitempty" json:"detached,omitempty"`
	// MaxRestarts bounds restarts, after crashes and node losses alike;
	// -1 restarts for ever.
	MaxRestarts int `cbor:"6,keyasint,omitempty" json:"max_restarts"`
	// MaxTaskRetries is kept for handles: how often a call that an actor's
	// death interrupted is tried again; -1 for ever.
	MaxTaskRetries int       `cbor:"7,keyasint,omitempty" json:"max_task_retries"`
	Resources      Resources `cbor:"8,keyasint,omitempty" json:"resources,omitempty"`
	// OwnerNode is the node id of the creator; placement prefers it.
	OwnerNode string `cbor:"9,keyasint,omitempty" json:"owner_node,omitempty"`
}

// ActorInfo is a row of the actor table.
type ActorInfo struct {
	ID   string    `cbor:"1,keyasint" json:"actor_id"`
	Spec ActorSpec `cbor:"2,keyasint" json:"spec"`
	// State, and where the actor runs while it is ALIVE.
	State  ActorState `cbor:"3,keyasint" json:"state"`
	NodeID string     `cbor:"4,keyasint,omitempty" json:"node_id,omitempty"`
	PID    *actor.PID `cbor:"5,keyasint,omitempty" json:"pid,omitempty"`
	// Restarts used so far, and why the actor is DEAD.
	Restarts   int    `cbor:"6,keyasint,omitempty" json:"num_restarts"`
	DeathCause string `cbor:"7,keyasint,omitempty" json:"death_cause,omitempty"`
	Created    int64  `cbor:"8,keyasint" json:"create_unix_ns"`
	Ended      int64  `cbor:"9,keyasint,omitempty" json:"end_unix_ns,omitempty"`
}

// RestartsLeft is how many restarts remain; -1 for ever.
func (a *ActorInfo) RestartsLeft() int {
	if a.Spec.MaxRestarts < 0 {
		return -1
	}
	return max(a.Spec.MaxRestarts-a.Restarts, 0)
}

// JobInfo is a row of the job table.
type JobInfo struct {
	ID         string   `cbor:"1,keyasint" json:"job_id"`
	DriverNode string   `cbor:"2,keyasint" json:"driver_node_id"`
	Namespace  string   `cbor:"3,keyasint" json:"namespace"`
	State      JobState `cbor:"4,keyasint" json:"state"`
	Start      int64    `cbor:"5,keyasint" json:"start_unix_ns"`
	End        int64    `cbor:"6,keyasint,omitempty" json:"end_unix_ns,omitempty"`
	Entrypoint string   `cbor:"7,keyasint,omitempty" json:"entrypoint,omitempty"`
}

func unixNano(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(0, t)
}

// StartTime, LastSeenTime and EndTime convert the table's timestamps.
func (n *NodeInfo) StartTime() time.Time    { return unixNano(n.Started) }
func (n *NodeInfo) LastSeenTime() time.Time { return unixNano(n.LastSeen) }
func (a *ActorInfo) CreateTime() time.Time  { return unixNano(a.Created) }
func (j *JobInfo) StartTime() time.Time     { return unixNano(j.Start) }
func (j *JobInfo) EndTime() time.Time       { return unixNano(j.End) }
