package goray

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/goray-dev/goray/gcs"
)

// Role says what Init makes of the calling process.
type Role string

// Roles.
const (
	// RoleDriver runs the caller's program as a job: the default.
	RoleDriver Role = "driver"
	// RoleWorker serves actors as a node of the cluster and never returns
	// to the caller: Init blocks until SIGINT or SIGTERM, shuts down and
	// exits the process. GORAY_ROLE=worker selects it.
	RoleWorker Role = "worker"
	// RoleNode serves actors as a node and returns, with no job: for
	// programs (such as `goray start`) that run a node and wait themselves.
	RoleNode Role = "node"
	// RoleClient only talks to the cluster (tools such as `goray status`):
	// no raylet, no object store, no job.
	RoleClient Role = "client"
)

// InitOption configures Init.
type InitOption func(*initConfig)

type initConfig struct {
	role      Role
	roleSet   bool   // WithRole was given: GORAY_ROLE does not override it
	address   string // head's cluster address, host:port
	clientURL string // a node's client URL (RoleClient)
	head      bool
	port      int // head's cluster port
	nodeIP    string
	token     string
	tokenFile string
	namespace string
	resources gcs.Resources
	labels    map[string]string
	storeMem  uint64
	storage   string
	period    time.Duration
	threshold int
	nodeName  string
	cluster   string
	logger    *slog.Logger
	noStore   bool
	tls       *tls.Config
}

// WithAddress joins the cluster whose head listens for nodes at host:port
// (the head's --port). The environment variable GORAY_ADDRESS does the
// same. Without an address, Init starts a whole cluster in the process.
func WithAddress(hostport string) InitOption { return func(c *initConfig) { c.address = hostport } }

// WithClientURL makes a RoleClient attach to a node's NATS client URL
// (what `goray start` writes in the session directory) instead of
// joining as a node.
func WithClientURL(url string) InitOption { return func(c *initConfig) { c.clientURL = url } }

// WithRole sets the process's role. Without it, GORAY_ROLE may set it.
func WithRole(r Role) InitOption { return func(c *initConfig) { c.role, c.roleSet = r, true } }

// AsHead makes the process a head that other nodes can join: the GCS
// with its tables stored in storageDir (empty: in memory), and a cluster
// listener on port (0: a free one) of the node IP. Without a token
// option, the token is read from storageDir/token, created (0600) when
// missing, or made up for the process's life when there is no storageDir.
func AsHead(port int, storageDir string) InitOption {
	return func(c *initConfig) { c.head, c.port, c.storage = true, port, storageDir }
}

// WithNodeIP is the address this node listens on for other nodes and
// advertises to them. Default 127.0.0.1: a cluster on one host. Another
// address exposes the node's NATS to that network; the cluster token is
// required on it.
func WithNodeIP(ip string) InitOption { return func(c *initConfig) { c.nodeIP = ip } }

// WithToken and WithTokenFile give the cluster token. A head creates
// TokenFile (0600) with a random token when it is missing. A joining node
// without either reads GORAY_TOKEN, GORAY_TOKEN_FILE, or the token of the
// latest session on this host.
func WithToken(token string) InitOption    { return func(c *initConfig) { c.token = token } }
func WithTokenFile(path string) InitOption { return func(c *initConfig) { c.tokenFile = path } }

// WithNamespace puts the job's named actors in namespace; without it the
// job gets an anonymous namespace of its own.
func WithNamespace(ns string) InitOption { return func(c *initConfig) { c.namespace = ns } }

// WithResources sets this node's resources; detected ones (CPU, memory,
// GPU) of other names stay. Quantities are keyed by resource name ("CPU",
// "GPU", "memory" in bytes, or a custom name). WithResources(map[string]float64{"CPU": 0})
// makes a driver that hosts no CPU-bound actors.
func WithResources(r map[string]float64) InitOption {
	return func(c *initConfig) { c.resources = r }
}

// WithLabels labels this node.
func WithLabels(l map[string]string) InitOption { return func(c *initConfig) { c.labels = l } }

// WithObjectStoreMemory sizes the node's shared-memory object store, in
// bytes. Default 30% of RAM (at most 1 GiB for a cluster inside one
// process, so that Init starts at once), capped at half of what /dev/shm
// has free.
func WithObjectStoreMemory(bytes uint64) InitOption {
	return func(c *initConfig) { c.storeMem = bytes }
}

// WithoutObjectStore starts no object store on this node.
func WithoutObjectStore() InitOption { return func(c *initConfig) { c.noStore = true } }

// WithHealthChecks sets, on a head, how often the GCS checks every node
// and how many checks in a row a node may miss before it is dead.
// Defaults 1 s and 5.
func WithHealthChecks(period time.Duration, threshold int) InitOption {
	return func(c *initConfig) { c.period, c.threshold = period, threshold }
}

// WithNodeName names this process's bus node. Default: "head" for a head
// or an embedded cluster, a random "node-…" name otherwise.
func WithNodeName(name string) InitOption { return func(c *initConfig) { c.nodeName = name } }

// WithCluster names the cluster (NATS subjects live under it). Default
// "default".
func WithCluster(name string) InitOption { return func(c *initConfig) { c.cluster = name } }

// WithLogger sets the logger of every component. Default slog.Default().
func WithLogger(l *slog.Logger) InitOption { return func(c *initConfig) { c.logger = l } }

// ActorOption configures NewActor and GetActor.
type ActorOption func(*actorConfig)

type actorConfig struct {
	spec        gcs.ActorSpec
	getIfExists bool
}

// Name names the actor, unique in its namespace, so GetActor finds it.
func Name(name string) ActorOption { return func(c *actorConfig) { c.spec.Name = name } }

// Namespace puts the actor's name in namespace instead of the job's.
func Namespace(ns string) ActorOption { return func(c *actorConfig) { c.spec.Namespace = ns } }

// Detached keeps the actor alive after its job ends, until it is killed.
func Detached() ActorOption { return func(c *actorConfig) { c.spec.Detached = true } }

// GetIfExists returns the live actor of that name instead of failing with
// ErrNameTaken.
func GetIfExists() ActorOption { return func(c *actorConfig) { c.getIfExists = true } }

// MaxRestarts lets the actor restart n times after crashes or the loss of
// its node; -1 for ever. Default 0.
func MaxRestarts(n int) ActorOption { return func(c *actorConfig) { c.spec.MaxRestarts = n } }

// MaxTaskRetries lets a call that the actor's death interrupted run again
// on the restarted actor, n times; -1 for ever. Default 0: the call fails
// with an ActorDiedError.
func MaxTaskRetries(n int) ActorOption { return func(c *actorConfig) { c.spec.MaxTaskRetries = n } }

// Resources reserves resources ("CPU", "GPU", "memory" in bytes, custom
// names) for the actor's lifetime on the node it is placed on. Default
// none, as Ray's actors hold no CPU while they run.
func Resources(r map[string]float64) ActorOption {
	return func(c *actorConfig) { c.spec.Resources = r }
}
