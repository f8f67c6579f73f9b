package bus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config says how a node joins the bus. The zero value (plus a node name)
// is the embedded default: a NATS server inside the process with no
// network listener at all.
type Config struct {
	// Cluster names the cluster; subjects live under "goray.<Cluster>.".
	// Default "default".
	Cluster string
	// Node names this node, unique in the cluster; it is also the Node of
	// every PID spawned here. Letters, digits, '-' and '_' only. Required.
	Node string

	// Listen is the host:port where the embedded server accepts clients
	// (other processes of this node, tools). Empty: no listener, only
	// in-process connections. Port 0 picks a free port (see Node.ClientURL).
	// A host other than a loopback address must be asked for explicitly and
	// should come with TLS.
	Listen string
	// ClusterListen is the host:port where the embedded server accepts
	// routes from other nodes' servers. Empty: no routes.
	ClusterListen string
	// Routes are seed URLs (nats-route://host:port) of other nodes'
	// ClusterListen addresses. A few are enough: the servers gossip the
	// rest and build the full mesh themselves.
	Routes []string
	// Token is required from every client and route. It must be the same
	// on every node of the cluster. When any listener is configured and
	// Token is empty, TokenFile is read, or created with a fresh random
	// token (mode 0600) if missing.
	Token     string
	TokenFile string
	// TLS, when set, is required on the client and route listeners, and
	// used when this node connects to them.
	TLS *tls.Config

	// URL connects to an existing NATS deployment instead of embedding a
	// server; Listen, ClusterListen and Routes must then be empty.
	URL string
	// Credentials for URL; at most one of Token, User/Password and NKeySeedFile.
	User, Password string
	NKeySeedFile   string

	// MaxPayload is the largest NATS message, in bytes: the object-transfer
	// chunk size, and the largest batch of envelopes. It must be the same
	// on every node; peers announce theirs and a mismatch is logged. The
	// embedded server is configured with it. Default 8 MiB.
	MaxPayload int
	// MaxMessageBytes bounds one message's encoded body, sent or received;
	// a larger incoming body is counted as oversized and dead-lettered.
	// Default 1 MiB; at most MaxPayload - 4 KiB.
	MaxMessageBytes int
	// FlushBytes is the batch size at which outgoing envelopes to a node are
	// published at once rather than by the flusher. Default 64 KiB.
	FlushBytes int

	// HeartbeatInterval is how often this node announces itself, and
	// NodeTimeout how long a silent peer is presumed alive. Defaults 500 ms
	// and 2 s: a dead peer is noticed within about 2.5 s.
	HeartbeatInterval time.Duration
	NodeTimeout       time.Duration

	// Logger receives the bus's logs; default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultCluster           = "default"
	DefaultMaxPayload        = 8 << 20
	DefaultMaxMessageBytes   = 1 << 20
	DefaultFlushBytes        = 64 << 10
	DefaultHeartbeatInterval = 500 * time.Millisecond
	DefaultNodeTimeout       = 2 * time.Second
	// natsMaxPending is the embedded server's default MaxPending; the
	// server refuses a MaxPayload above it.
	natsMaxPending = 64 << 20
	// envelopeRoom is what an envelope may add around its body.
	envelopeRoom = 4 << 10
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("bus: invalid config")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// withDefaults returns c with defaults filled in, or the first problem.
func (c Config) withDefaults() (Config, error) {
	if c.Cluster == "" {
		c.Cluster = DefaultCluster
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = min(DefaultMaxMessageBytes, c.MaxPayload-envelopeRoom)
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = min(DefaultFlushBytes, c.MaxPayload/2)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = max(DefaultNodeTimeout, 3*c.HeartbeatInterval)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	if err := checkToken("cluster", c.Cluster); err != nil {
		return err
	}
	if err := checkToken("node", c.Node); err != nil {
		return err
	}
	switch {
	case c.MaxPayload < 64<<10 || c.MaxPayload > natsMaxPending:
		return configError("MaxPayload %d is outside [64 KiB, 64 MiB]", c.MaxPayload)
	case c.MaxMessageBytes <= 0 || c.MaxMessageBytes > c.MaxPayload-envelopeRoom:
		return configError("MaxMessageBytes %d must be in (0, MaxPayload-4KiB]", c.MaxMessageBytes)
	case c.FlushBytes <= 0 || c.FlushBytes > c.MaxPayload:
		return configError("FlushBytes %d must be in (0, MaxPayload]", c.FlushBytes)
	case c.HeartbeatInterval < 10*time.Millisecond:
		return configError("HeartbeatInterval %v is below 10ms", c.HeartbeatInterval)
	case c.NodeTimeout < 2*c.HeartbeatInterval:
		return configError("NodeTimeout %v must be at least twice HeartbeatInterval %v", c.NodeTimeout, c.HeartbeatInterval)
	}
	if c.URL != "" {
		if c.Listen != "" || c.ClusterListen != "" || len(c.Routes) > 0 {
			return configError("URL (an external NATS) excludes Listen, ClusterListen and Routes")
		}
		creds := 0
		for _, set := range []bool{c.Token != "" || c.TokenFile != "", c.User != "", c.NKeySeedFile != ""} {
			if set {
				creds++
			}
		}
		if creds > 1 {
			return configError("give at most one of Token/TokenFile, User/Password and NKeySeedFile")
		}
		return nil
	}
	if c.User != "" || c.NKeySeedFile != "" {
		return configError("User/Password and NKeySeedFile are for URL; the embedded server uses Token")
	}
	for _, a := range []struct{ name, addr string }{{"Listen", c.Listen}, {"ClusterListen", c.ClusterListen}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return configError("%s %q: %v", a.name, a.addr, err)
		}
	}
	if len(c.Routes) > 0 && c.ClusterListen == "" {
		return configError("Routes need ClusterListen: routes are accepted and made on the cluster port")
	}
	return nil
}

// checkToken accepts names that are safe as one NATS subject token.
func checkToken(what, s string) error {
	if s == "" {
		return configError("%s name is empty", what)
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return configError("%s name %q: character %q is not allowed (letters, digits, '-', '_')", what, s, r)
		}
	}
	return nil
}

// listens reports whether the embedded server has any network listener.
func (c *Config) listens() bool { return c.Listen != "" || c.ClusterListen != "" }
