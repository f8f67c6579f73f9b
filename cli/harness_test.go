package cli_test

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/internal/proctest"
	"github.com/goray-dev/goray/internal/testlog"
)

// gorayBin is the CLI binary, built once for the package's tests.
var gorayBin string

func TestMain(m *testing.M) { proctest.Main(m, "github.com/goray-dev/goray/cmd/goray", &gorayBin) }

// cluster runs goray CLI commands in a session root of its own, as a user
// would on a host.
type cluster struct {
	t      testing.TB
	tmp    string // TMPDIR of the CLI processes: sessions live under it
	port   int
	prefix []string // a command prefix, such as ip netns exec NS
}

func newCluster(t testing.TB) *cluster {
	c := &cluster{t: t, tmp: t.TempDir(), port: freePort(t)}
	t.Cleanup(func() {
		out, _ := c.cmd("stop", "--force").CombinedOutput()
		t.Logf("goray stop --force:\n%s", out)
	})
	return c
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (c *cluster) cmd(args ...string) *exec.Cmd {
	full := append(append([]string{}, c.prefix...), append([]string{gorayBin}, args...)...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = append(os.Environ(), "TMPDIR="+c.tmp)
	return cmd
}

// run runs a CLI command and returns its output; it must succeed.
func (c *cluster) run(args ...string) string {
	c.t.Helper()
	out, err := c.cmd(args...).CombinedOutput()
	require.NoError(c.t, err, "goray %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// node is a node the CLI started.
type node struct {
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	NodeID     string `json:"node_id"`
	ClusterURL string `json:"cluster_url"`
}

func (n node) address() string {
	if u, err := url.Parse(n.ClusterURL); err == nil && u.Host != "" {
		return u.Host
	}
	return n.ClusterURL
}

func (n node) kill(t testing.TB) {
	require.NoError(t, syscall.Kill(n.PID, syscall.SIGKILL))
	for i := 0; i < 200 && syscall.Kill(n.PID, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *cluster) session() string { return filepath.Join(c.tmp, "goray", "session_latest") }

// start runs `goray start` and returns the node it started.
func (c *cluster) start(args ...string) node {
	c.t.Helper()
	out := c.run(append([]string{"start"}, args...)...)
	c.t.Logf("goray start %s:\n%s", strings.Join(args, " "), out)
	name := between(out, `node "`, `"`)
	require.NotEmpty(c.t, name, out)
	data, err := os.ReadFile(filepath.Join(c.session(), "nodes", name+".json"))
	require.NoError(c.t, err)
	var n node
	require.NoError(c.t, json.Unmarshal(data, &n))
	return n
}

func (c *cluster) startHead(args ...string) node {
	return c.start(append([]string{"--head", "--port", strconv.Itoa(c.port), "--object-store-memory", "67108864"}, args...)...)
}

func (c *cluster) startNode(head string, args ...string) node {
	return c.start(append([]string{"--address", head, "--object-store-memory", "67108864"}, args...)...)
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

// driver joins the cluster through a node's address, as a user's program
// does with GORAY_ADDRESS; it hosts no CPU-bound actors.
func (c *cluster) driver(address string, opts ...goray.InitOption) *goray.Runtime {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts = append([]goray.InitOption{
		goray.WithAddress(address), goray.WithTokenFile(filepath.Join(c.session(), "token")),
		goray.WithResources(map[string]float64{"CPU": 0}), goray.WithoutObjectStore(), goray.WithNamespace("test"),
		goray.WithLogger(testlog.New(c.t)),
	}, opts...)
	rt, err := goray.Init(ctx, opts...)
	require.NoError(c.t, err)
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
	})
	return rt
}

// row lists one of the GCS's tables and returns the row whose id is id.
func row[T any](t testing.TB, list func(context.Context) ([]T, error), id string, idOf func(T) string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := list(ctx)
	require.NoError(t, err)
	for _, r := range rows {
		if idOf(r) == id {
			return r
		}
	}
	t.Fatalf("%s is not in the GCS's table", id)
	var zero T
	return zero
}

// nodeState returns the GCS's row of a node, actorRow of an actor.
func nodeState(t testing.TB, rt *goray.Runtime, id string) gcs.NodeInfo {
	t.Helper()
	return row(t, rt.Nodes, id, func(n gcs.NodeInfo) string { return n.ID })
}

func actorRow(t testing.TB, rt *goray.Runtime, id string) gcs.ActorInfo {
	t.Helper()
	return row(t, rt.Actors, id, func(a gcs.ActorInfo) string { return a.ID })
}
