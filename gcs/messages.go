package gcs

import (
	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// ActorName is the id of the GCS actor on the head's bus node, and
// RayletName the id of the raylet actor on every node's.
const (
	ActorName  = "gcs"
	RayletName = "raylet"
)

// PID returns the GCS's PID on the cluster whose head runs as bus node head.
func PID(head string) *actor.PID { return &actor.PID{Node: head, ID: ActorName} }

// RayletPID returns the raylet's PID on a bus node.
func RayletPID(busNode string) *actor.PID { return &actor.PID{Node: busNode, ID: RayletName} }

// Requests to the GCS. Each is answered with the reply type named in its
// comment; a failed request is answered with a Reply whose Err is set.
type (
	// RegisterNode → RegisterNodeReply. A raylet sends it at start and
	// again, with a new identity, after it learns it was declared dead.
	RegisterNode struct {
		BusNode string            `cbor:"1,keyasint"`
		Address string            `cbor:"2,keyasint,omitempty"`
		Labels  map[string]string `cbor:"3,keyasint,omitempty"`
		Total   Resources         `cbor:"4,keyasint"`
		Kinds   []string          `cbor:"5,keyasint,omitempty"`
		Head    bool              `cbor:"6,keyasint,omitempty"`
		Role    string            `cbor:"7,keyasint,omitempty"`
	}
	RegisterNodeReply struct {
		NodeID string `cbor:"1,keyasint"`
		Epoch  uint64 `cbor:"2,keyasint"`
		// HealthPeriod tells the raylet how often to expect a check.
		HealthPeriod int64  `cbor:"3,keyasint"`
		Err          string `cbor:"4,keyasint,omitempty"`
	}
	// NodeHello → NodeHelloReply: a raylet that has not been checked for
	// a while asks whether the GCS still counts it alive.
	NodeHello struct {
		NodeID string `cbor:"1,keyasint"`
	}
	NodeHelloReply struct {
		Alive bool   `cbor:"1,keyasint,omitempty"`
		Epoch uint64 `cbor:"2,keyasint"`
	}
	// UnregisterNode → Reply: a node stopping on purpose.
	UnregisterNode struct {
		NodeID string `cbor:"1,keyasint"`
		Cause  string `cbor:"2,keyasint,omitempty"`
	}
	// ResourceReport (no reply): what a raylet has free now.
	ResourceReport struct {
		NodeID    string    `cbor:"1,keyasint"`
		Available Resources `cbor:"2,keyasint"`
		Seq       uint64    `cbor:"3,keyasint"`
	}
	// Resync (no reply): after the GCS restarted (a new epoch), a raylet
	// lists the actors it hosts so the GCS can reconcile its tables.
	Resync struct {
		NodeID string   `cbor:"1,keyasint"`
		Epoch  uint64   `cbor:"2,keyasint"`
		Actors []string `cbor:"3,keyasint,omitempty"`
		// Seq is the last placement of this epoch the raylet had handled
		// when it made the list; later ones cannot be in it.
		Seq uint64 `cbor:"4,keyasint,omitempty"`
	}

	// RegisterJob → JobReply: a driver starts. Namespace empty: the job
	// gets an anonymous namespace of its own.
	RegisterJob struct {
		DriverNode string `cbor:"1,keyasint"`
		Namespace  string `cbor:"2,keyasint,omitempty"`
		Entrypoint string `cbor:"3,keyasint,omitempty"`
	}
	// FinishJob → JobReply: a driver ends; its non-detached actors die.
	FinishJob struct {
		JobID  string `cbor:"1,keyasint"`
		Failed bool   `cbor:"2,keyasint,omitempty"`
	}
	JobReply struct {
		Job JobInfo `cbor:"1,keyasint"`
		Err string  `cbor:"2,keyasint,omitempty"`
	}

	// CreateActor → ActorReply, once the actor is ALIVE or, when no node
	// has room for it now, once it is recorded as pending.
	CreateActor struct {
		Spec        ActorSpec `cbor:"1,keyasint"`
		GetIfExists bool      `cbor:"2,keyasint,omitempty"`
	}
	// GetNamedActor → ActorReply.
	GetNamedActor struct {
		Name      string `cbor:"1,keyasint"`
		Namespace string `cbor:"2,keyasint"`
	}
	// WaitActor → ActorReply when the actor is ALIVE at a PID other than
	// Not (the one a caller found dead), or DEAD.
	WaitActor struct {
		ID  string     `cbor:"1,keyasint"`
		Not *actor.PID `cbor:"2,keyasint,omitempty"`
		// Deadline (Unix nanoseconds) is when the caller stops waiting;
		// the GCS forgets the wait then.
		Deadline int64 `cbor:"3,keyasint,omitempty"`
	}
	// KillActor → ActorReply. NoRestart false kills it like a crash, so
	// it restarts if restarts remain.
	KillActor struct {
		ID        string `cbor:"1,keyasint"`
		NoRestart bool   `cbor:"2,keyasint,omitempty"`
	}
	ActorReply struct {
		Actor ActorInfo `cbor:"1,keyasint"`
		Err   string    `cbor:"2,keyasint,omitempty"`
		Code  ErrCode   `cbor:"3,keyasint,omitempty"`
	}

	// ListNodes, ListActors, ListJobs → ListReply, a page at a time from
	// Offset; Next is the offset of the following page, 0 at the end.
	ListNodes struct {
		Offset int `cbor:"1,keyasint,omitempty"`
	}
	ListActors struct {
		Offset int `cbor:"1,keyasint,omitempty"`
		// State, when set, keeps only actors in that state.
		State ActorState `cbor:"2,keyasint,omitempty"`
	}
	ListJobs struct {
		Offset int `cbor:"1,keyasint,omitempty"`
	}
	ListReply struct {
		Nodes  []NodeInfo  `cbor:"1,keyasint,omitempty"`
		Actors []ActorInfo `cbor:"2,keyasint,omitempty"`
		Jobs   []JobInfo   `cbor:"3,keyasint,omitempty"`
		Next   int         `cbor:"4,keyasint,omitempty"`
	}
	// GetStatus → StatusReply: counts for `goray status`.
	GetStatus   struct{}
	StatusReply struct {
		Epoch         uint64          `cbor:"1,keyasint"`
		ActorsByState map[string]int  `cbor:"2,keyasint"`
		Pending       []PendingDemand `cbor:"3,keyasint,omitempty"`
		JournalErrors uint64          `cbor:"4,keyasint,omitempty"`
		Jobs          map[string]int  `cbor:"5,keyasint,omitempty"`
		Nodes         []NodeInfo      `cbor:"6,keyasint,omitempty"`
	}

	// KVPut → KVReply (Added: the key was new); KVGet → KVReply (Found,
	// Value); KVDelete → KVReply (Found); KVKeys → KVReply (Keys).
	KVPut struct {
		Namespace string `cbor:"1,keyasint"`
		Key       string `cbor:"2,keyasint"`
		Value     []byte `cbor:"3,keyasint"`
		Overwrite bool   `cbor:"4,keyasint,omitempty"`
	}
	KVGet struct {
		Namespace string `cbor:"1,keyasint"`
		Key       string `cbor:"2,keyasint"`
	}
	KVDelete struct {
		Namespace string `cbor:"1,keyasint"`
		Key       string `cbor:"2,keyasint"`
	}
	KVKeys struct {
		Namespace string `cbor:"1,keyasint"`
		Prefix    string `cbor:"2,keyasint,omitempty"`
	}
	KVReply struct {
		Found bool     `cbor:"1,keyasint,omitempty"`
		Added bool     `cbor:"2,keyasint,omitempty"`
		Value []byte   `cbor:"3,keyasint,omitempty"`
		Keys  []string `cbor:"4,keyasint,omitempty"`
		Err   string   `cbor:"5,keyasint,omitempty"`
	}
	// Reply answers requests that return nothing but an error.
	Reply struct {
		Err string `cbor:"1,keyasint,omitempty"`
	}
)

// PendingDemand is one shape of actors waiting for room.
type PendingDemand struct {
	Resources Resources `cbor:"1,keyasint"`
	Count     int       `cbor:"2,keyasint"`
}

// Between the GCS and raylets.
type (
	// HealthCheck → HealthReply: the GCS's periodic check of a raylet.
	HealthCheck struct {
		NodeID string `cbor:"1,keyasint"`
		Epoch  uint64 `cbor:"2,keyasint"`
		// Resync asks the raylet to list its actors (Resync), when its
		// count has disagreed with the tables for several checks.
		Resync bool `cbor:"3,keyasint,omitempty"`
	}
	HealthReply struct {
		NodeID string `cbor:"1,keyasint"` // the raylet's current identity
		Hosted int    `cbor:"2,keyasint"` // how many actors it hosts
	}
	// SpawnActor (answered by ActorStarted or ActorDied told to the GCS):
	// start an actor here.
	SpawnActor struct {
		Actor ActorInfo `cbor:"1,keyasint"`
		// Epoch and Seq order the placements made on a node by one GCS:
		// a Resync says up to which one the raylet's list accounts for.
		Epoch uint64 `cbor:"2,keyasint"`
		Seq   uint64 `cbor:"3,keyasint"`
	}
	// StopActor (no reply): stop a hosted actor. NoRestart false makes it
	// fail as if it crashed, so its supervisor may restart it.
	StopActor struct {
		ID        string `cbor:"1,keyasint"`
		NoRestart bool   `cbor:"2,keyasint,omitempty"`
		Cause     string `cbor:"3,keyasint,omitempty"`
	}
	// NodeDeclaredDead (no reply): the GCS tells a node it was declared dead.
	NodeDeclaredDead struct {
		NodeID string `cbor:"1,keyasint"`
	}
	// ActorStarted, ActorRestarted, ActorDied: a raylet reports the life
	// of the actors it hosts.
	ActorStarted struct {
		ID     string     `cbor:"1,keyasint"`
		NodeID string     `cbor:"2,keyasint"`
		PID    *actor.PID `cbor:"3,keyasint"`
	}
	ActorRestarted struct {
		ID     string `cbor:"1,keyasint"`
		NodeID string `cbor:"2,keyasint"`
		Cause  string `cbor:"3,keyasint,omitempty"`
	}
	ActorDied struct {
		ID     string `cbor:"1,keyasint"`
		NodeID string `cbor:"2,keyasint"`
		Cause  string `cbor:"3,keyasint,omitempty"`
		// Spawn is set when the actor never started (unknown kind, a
		// constructor that panicked).
		Spawn bool `cbor:"4,keyasint,omitempty"`
		// Refused is set when the node would not take the placement (it
		// was made for another identity of the node): the actor did not
		// die and is placed again.
		Refused bool `cbor:"5,keyasint,omitempty"`
	}
)

func init() {
	bus.Register[*RegisterNode]("goray.gcs.RegisterNode")
	bus.Register[*RegisterNodeReply]("goray.gcs.RegisterNodeReply")
	bus.Register[*NodeHello]("goray.gcs.NodeHello")
	bus.Register[*NodeHelloReply]("goray.gcs.NodeHelloReply")
	bus.Register[*UnregisterNode]("goray.gcs.UnregisterNode")
	bus.Register[*ResourceReport]("goray.gcs.ResourceReport")
	bus.Register[*Resync]("goray.gcs.Resync")
	bus.Register[*RegisterJob]("goray.gcs.RegisterJob")
	bus.Register[*FinishJob]("goray.gcs.FinishJob")
	bus.Register[*JobReply]("goray.gcs.JobReply")
	bus.Register[*CreateActor]("goray.gcs.CreateActor")
	bus.Register[*GetNamedActor]("goray.gcs.GetNamedActor")
	bus.Register[*WaitActor]("goray.gcs.WaitActor")
	bus.Register[*KillActor]("goray.gcs.KillActor")
	bus.Register[*ActorReply]("goray.gcs.ActorReply")
	bus.Register[*ListNodes]("goray.gcs.ListNodes")
	bus.Register[*ListActors]("goray.gcs.ListActors")
	bus.Register[*ListJobs]("goray.gcs.ListJobs")
	bus.Register[*ListReply]("goray.gcs.ListReply")
	bus.Register[*GetStatus]("goray.gcs.GetStatus")
	bus.Register[*StatusReply]("goray.gcs.StatusReply")
	bus.Register[*KVPut]("goray.gcs.KVPut")
	bus.Register[*KVGet]("goray.gcs.KVGet")
	bus.Register[*KVDelete]("goray.gcs.KVDelete")
	bus.Register[*KVKeys]("goray.gcs.KVKeys")
	bus.Register[*KVReply]("goray.gcs.KVReply")
	bus.Register[*Reply]("goray.gcs.Reply")
	bus.Register[*HealthCheck]("goray.gcs.HealthCheck")
	bus.Register[*HealthReply]("goray.gcs.HealthReply")
	bus.Register[*SpawnActor]("goray.gcs.SpawnActor")
	bus.Register[*StopActor]("goray.gcs.StopActor")
	bus.Register[*NodeDeclaredDead]("goray.gcs.NodeDeclaredDead")
	bus.Register[*ActorStarted]("goray.gcs.ActorStarted")
	bus.Register[*ActorRestarted]("goray.gcs.ActorRestarted")
	bus.Register[*ActorDied]("goray.gcs.ActorDied")
}
