package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/internal/demo"
)

// The multi-host test runs every node in a network namespace of its own,
// as on separate hosts: the namespaces' veth peers hang off a bridge in the
// root namespace, which the test process (the driver) reaches at
// netBridgeIP.
const (
	netSubnet   = "10.99.0.0/24"
	netBridgeIP = "10.99.0.1"
	netPrefix   = 24
)

// netlab is a bridge and the network namespaces attached to it; all of it
// goes when the test ends, failed or not.
type netlab struct {
	t      *testing.T
	id     string // random, so that parallel runs and leftovers do not clash
	bridge string
	hosts  []*nshost
}

// nshost is a network namespace with one veth link to the bridge.
type nshost struct {
	ns   string // namespace name
	veth string // the link's end in the root namespace (a bridge port)
	peer string // its end in the namespace
	ip   string
}

// requireNetns skips the test where namespaces cannot be made.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the multi-host test makes network namespaces and a bridge, which needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: the multi-host test needs the ip command (iproute2)")
	}
}

func newNetlab(t *testing.T) *netlab {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	l := &netlab{t: t, id: hex.EncodeToString(b[:])}
	l.bridge = "gr" + l.id
	if out, _ := exec.Command("ip", "-4", "route", "show", netSubnet).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("%s is already routed on this host (%s): another run of this test, or a network of the host, uses it",
			netSubnet, strings.TrimSpace(string(out)))
	}
	t.Cleanup(l.remove)
	l.ip("link", "add", "name", l.bridge, "type", "bridge")
	l.ip("addr", "add", fmt.Sprintf("%s/%d", netBridgeIP, netPrefix), "dev", l.bridge)
	l.ip("link", "set", l.bridge, "up")
	return l
}

func (l *netlab) ip(args ...string) {
	l.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(l.t, err, "ip %s:\n%s", strings.Join(args, " "), out)
}

// addHost makes a namespace whose link to the bridge has address ip.
func (l *netlab) addHost(ip string) *nshost {
	l.t.Helper()
	i := strconv.Itoa(len(l.hosts) + 1)
	h := &nshost{ns: "gr" + l.id + "-ns" + i, veth: "gr" + l.id + "v" + i, peer: "gr" + l.id + "p" + i, ip: ip}
	l.hosts = append(l.hosts, h) // before it exists: remove ignores what is not there
	l.ip("netns", "add", h.ns)
	l.ip("link", "add", h.veth, "type", "veth", "peer", "name", h.peer, "netns", h.ns)
	l.ip("link", "set", h.veth, "master", l.bridge)
	l.ip("link", "set", h.veth, "up")
	l.ip("-n", h.ns, "link", "set", "lo", "up")
	l.ip("-n", h.ns, "addr", "add", fmt.Sprintf("%s/%d", ip, netPrefix), "dev", h.peer)
	l.ip("-n", h.ns, "link", "set", h.peer, "up")
	return h
}

// remove deletes the namespaces, their links and the bridge. It runs last
// of the test's cleanups, once the nodes in the namespaces are stopped.
func (l *netlab) remove() {
	for _, h := range l.hosts {
		for _, args := range [][]string{{"link", "del", h.veth}, {"netns", "del", h.ns}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil && !strings.Contains(string(out), "annot find") &&
				!strings.Contains(string(out), "No such file") {
				l.t.Logf("cleanup: ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	if out, err := exec.Command("ip", "link", "del", l.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "annot find") {
		l.t.Logf("cleanup: ip link del %s: %v: %s", l.bridge, err, out)
	}
}

// newHostCluster is a goray "host": CLI commands run inside the namespace,
// each host with a TMPDIR (and so session directories) of its own.
func newHostCluster(t *testing.T, h *nshost) *cluster {
	c := newCluster(t)
	c.prefix = []string{"ip", "netns", "exec", h.ns}
	return c
}

// copyFile copies the head's token to where another host keeps it.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o700))
	require.NoError(t, os.WriteFile(to, data, 0o600))
}

// hostNode is a node the CLI started on a host, and its object store
// files, read from its log while the host's session is still there.
type hostNode struct {
	n      node
	arenas []string
}

// arenaRE finds a node's object store file in its log.
var arenaRE = regexp.MustCompile(`arena=(/dev/shm/\S+\.shm)`)

func newHostNode(c *cluster, n node) hostNode {
	data, _ := os.ReadFile(filepath.Join(c.session(), "logs", n.Name+".log"))
	hn := hostNode{n: n}
	for _, m := range arenaRE.FindAllStringSubmatch(string(data), -1) {
		hn.arenas = append(hn.arenas, m[1])
	}
	return hn
}

// killLeftovers kills the node processes that goray stop left running,
// and removes the object store files that the killed nodes left.
func killLeftovers(t *testing.T, nodes ...hostNode) {
	for _, hn := range nodes {
		n := hn.n
		if n.PID > 0 && syscall.Kill(n.PID, 0) == nil {
			t.Logf("cleanup: node %s (pid %d) still runs; killing it", n.Name, n.PID)
			_ = syscall.Kill(n.PID, syscall.SIGKILL)
			for i := 0; i < 200 && syscall.Kill(n.PID, 0) == nil; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		for _, f := range hn.arenas {
			_ = os.Remove(f)
		}
	}
}

// nodeLogTail is the end of a node's log, for failures.
func nodeLogTail(c *cluster, n node, lines int) string {
	data, err := os.ReadFile(filepath.Join(c.session(), "logs", n.Name+".log"))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func listNodes(rt *goray.Runtime) ([]gcs.NodeInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return rt.Nodes(ctx)
}

func listActors(rt *goray.Runtime) ([]gcs.ActorInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return rt.Actors(ctx)
}

func findNode(nodes []gcs.NodeInfo, id string) (gcs.NodeInfo, bool) {
	for _, n := range nodes {
		if n.ID == id {
			return n, true
		}
	}
	return gcs.NodeInfo{}, false
}

// askNamed finds the actor by name, as a program that did not create it
// would, and asks it to add by.
func askNamed(rt *goray.Runtime, name string, by int, within time.Duration) (*demo.Count, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	h, err := rt.GetActor(ctx, name)
	if err != nil {
		return nil, err
	}
	res, err := h.Ask(ctx, &demo.Add{By: by})
	if err != nil {
		return nil, err
	}
	c, ok := res.(*demo.Count)
	if !ok {
		return nil, fmt.Errorf("the counter answered with %T", res)
	}
	return c, nil
}

// TestMultiHost runs a head and two nodes on three "hosts" (network
// namespaces joined by a bridge) and a driver in the root namespace, cuts
// the link of the node that hosts a named actor, and brings it back: the
// GCS declares the node dead within its health-check budget, the actor
// restarts on the other node, and the cut-off node, once it hears again,
// stops its stale copy and joins anew under a new node id.
func TestMultiHost(t *testing.T) {
	requireNetns(t)
	const (
		period    = 500 * time.Millisecond
		failures  = 4
		actorName = "netns-counter"
	)
	lab := newNetlab(t)
	hosts := []*nshost{lab.addHost("10.99.0.11"), lab.addHost("10.99.0.12"), lab.addHost("10.99.0.13")}

	// Hosts: a head without CPUs in ns1, nodes with 2 CPUs in ns2 and ns3.
	// Cleanups run in reverse: the driver leaves, the hosts' nodes stop,
	// leftovers are killed, and only then the namespaces go.
	var started []hostNode
	t.Cleanup(func() { killLeftovers(t, started...) })
	headC := newHostCluster(t, hosts[0])
	head := headC.startHead("--node-ip-address", hosts[0].ip, "--num-cpus", "0",
		"--health-check-period", period.String(), "--health-check-failures", strconv.Itoa(failures))
	started = append(started, newHostNode(headC, head))
	headAddr := fmt.Sprintf("%s:%d", hosts[0].ip, headC.port)
	require.Equal(t, headAddr, head.address(), "the head listens for nodes on its namespace's address")
	headToken := filepath.Join(headC.session(), "token")

	var workerCs []*cluster
	var workers []node
	for _, h := range hosts[1:] {
		c := newHostCluster(t, h)
		token := filepath.Join(c.tmp, "cluster-token")
		copyFile(t, headToken, token)
		n := c.startNode(headAddr, "--node-ip-address", h.ip, "--num-cpus", "2", "--token-file", token)
		started = append(started, newHostNode(c, n))
		require.Equal(t, h.ip, strings.Split(n.address(), ":")[0], "node %s listens on its namespace's address", n.Name)
		workerCs, workers = append(workerCs, c), append(workers, n)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("head log:\n%s", nodeLogTail(headC, head, 40))
			for i, n := range workers {
				t.Logf("node %s (%s) log:\n%s", n.Name, hosts[i+1].ns, nodeLogTail(workerCs[i], n, 40))
			}
		}
	})

	// The driver: this process, in the root namespace, joins through the
	// bridge with the head's token.
	driverToken := filepath.Join(t.TempDir(), "token")
	copyFile(t, headToken, driverToken)
	ictx, icancel := context.WithTimeout(context.Background(), 30*time.Second)
	rt, err := goray.Init(ictx,
		goray.WithAddress(headAddr), goray.WithNodeIP(netBridgeIP), goray.WithTokenFile(driverToken),
		goray.WithResources(map[string]float64{"CPU": 0}), goray.WithoutObjectStore(), goray.WithNamespace("netns"))
	icancel()
	require.NoError(t, err, "the driver joins the head at %s from the root namespace", headAddr)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Logf("driver shutdown: %v", err)
		}
	})

	// Everyone registered over the namespaces' own addresses.
	nodes, err := listNodes(rt)
	require.NoError(t, err)
	for _, n := range append([]node{head}, workers...) {
		info, ok := findNode(nodes, n.NodeID)
		require.True(t, ok, "node %s (%s) is in the GCS's table", n.Name, n.NodeID)
		assert.Equal(t, gcs.NodeAlive, info.State, "node %s", n.Name)
		assert.Equal(t, n.Name, info.BusNode)
		assert.Contains(t, info.Address, strings.Split(n.address(), ":")[0], "node %s registered its namespace's address", n.Name)
	}
	driverRow, ok := findNode(nodes, rt.NodeID())
	require.True(t, ok, "the driver's node is in the GCS's table")
	assert.Contains(t, driverRow.Address, netBridgeIP)

	// A named, detached counter that needs a CPU: only ns2's or ns3's node
	// can run it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	h, err := rt.NewActor(ctx, demo.Counter, goray.Name(actorName), goray.Detached(), goray.MaxRestarts(1),
		goray.Resources(map[string]float64{"CPU": 1}))
	require.NoError(t, err)
	res, err := h.Ask(ctx, &demo.Add{By: 1})
	cancel()
	require.NoError(t, err)
	first := res.(*demo.Count)
	require.Equal(t, 1, first.N)
	victimI := -1
	for i, n := range workers {
		if n.Name == first.Node {
			victimI = i
		}
	}
	require.NotEqual(t, -1, victimI, "the counter runs on %q, which is neither worker node (%s, %s)", first.Node, workers[0].Name, workers[1].Name)
	victim, victimHost, victimC := workers[victimI], hosts[victimI+1], workerCs[victimI]
	survivor := workers[1-victimI]
	t.Logf("the counter runs on %s (%s, %s); %s (%s) survives", victim.Name, victimHost.ns, victimHost.ip, survivor.Name, hosts[2-victimI].ns)

	// Cut the victim's link: the GCS must declare it dead within
	// period×failures plus slack.
	lab.ip("link", "set", victimHost.veth, "down")
	cut := time.Now()
	budget := period*failures + 2*time.Second
	var detected time.Duration
	require.Eventually(t, func() bool {
		nodes, err := listNodes(rt)
		if err != nil {
			return false
		}
		info, ok := findNode(nodes, victim.NodeID)
		if ok && info.State == gcs.NodeDead {
			detected = time.Since(cut)
			t.Logf("GCS: node %s dead: %s", victim.NodeID, info.DeathCause)
			return true
		}
		return false
	}, budget, 50*time.Millisecond, "the GCS declares the cut-off node %s (%s) dead within %v", victim.Name, victim.NodeID, budget)
	t.Logf("detection: node declared DEAD %v after its link went down (budget %v = %v×%d + 2s)",
		detected.Round(time.Millisecond), budget, period, failures)

	// The named actor answers again, from the other node.
	var again *demo.Count
	var lastErr error
	require.Eventually(t, func() bool {
		again, lastErr = askNamed(rt, actorName, 1, 2*time.Second)
		return lastErr == nil
	}, 15*time.Second, 100*time.Millisecond, "the counter answers again after its node's loss (last error: %v)", lastErr)
	t.Logf("the counter answers again %v after the cut, from %s", time.Since(cut).Round(time.Millisecond), again.Node)
	assert.Equal(t, survivor.Name, again.Node, "the restarted counter runs on the surviving node")
	assert.Equal(t, 1, again.N, "the restarted counter starts from scratch")
	row := actorRow(t, rt, h.ID())
	assert.Equal(t, gcs.ActorAlive, row.State)
	assert.Equal(t, 1, row.Restarts, "the counter restarted once")
	assert.Equal(t, survivor.NodeID, row.NodeID)

	// The creator's handle finds it again too. It still points at the
	// copy on the cut-off node, and the driver's bus may not yet know that
	// node is down: the call goes there and fails when the bus gives up on
	// the node. Without MaxTaskRetries the handle cannot tell whether such
	// a call ran, so it may fail with ActorDiedError; the handle then
	// drops the stale copy and its next call reaches the restarted actor.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	res, err = h.Ask(ctx, &demo.Add{By: 1})
	if died := (*goray.ActorDiedError)(nil); errors.As(err, &died) {
		t.Logf("the creator's handle: a call sent to the stale copy failed: %v; asking again", err)
		res, err = h.Ask(ctx, &demo.Add{By: 1})
	}
	cancel()
	if assert.NoError(t, err, "the creator's handle follows the counter to its new node") {
		assert.Equal(t, survivor.Name, res.(*demo.Count).Node)
	}

	// Bring the link back: the cut-off node hears it was declared dead,
	// stops its copy of the counter and registers anew under a new id.
	lab.ip("link", "set", victimHost.veth, "up")
	healed := time.Now()
	var rejoined gcs.NodeInfo
	require.Eventually(t, func() bool {
		nodes, err := listNodes(rt)
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n.BusNode == victim.Name && n.ID != victim.NodeID && n.State == gcs.NodeAlive {
				rejoined = n
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "node %s registers anew after its link is back", victim.Name)
	t.Logf("node %s rejoined as %s %v after its link came back", victim.Name, rejoined.ID, time.Since(healed).Round(time.Millisecond))
	assert.Contains(t, rejoined.Address, victimHost.ip)
	old := nodeState(t, rt, victim.NodeID)
	assert.Equal(t, gcs.NodeDead, old.State, "the old id of node %s stays dead", victim.Name)
	assert.Contains(t, nodeLogTail(victimC, victim, 200), "the GCS declared this node dead; stopping its actors and registering anew",
		"the cut-off node's raylet learned it was declared dead (and stopped its actors)")

	// One live counter, on the surviving node: no duplicate.
	var alive []gcs.ActorInfo
	actors, err := listActors(rt)
	require.NoError(t, err)
	for _, a := range actors {
		if a.Spec.Name == actorName && a.Spec.Namespace == "netns" && a.State == gcs.ActorAlive {
			alive = append(alive, a)
		}
	}
	require.Len(t, alive, 1, "exactly one ALIVE actor is named %q: %+v", actorName, alive)
	assert.Equal(t, h.ID(), alive[0].ID)
	assert.Equal(t, survivor.NodeID, alive[0].NodeID)
	assert.Equal(t, 1, alive[0].Restarts)

	// Every answer comes from the surviving node, counting on from where
	// the restarted counter stands.
	n := 0
	for i := 0; i < 5; i++ {
		c, err := askNamed(rt, actorName, 1, 5*time.Second)
		require.NoError(t, err, "ask %d after the link came back", i)
		assert.Equal(t, survivor.Name, c.Node, "ask %d after the link came back", i)
		if n > 0 {
			assert.Equal(t, n+1, c.N, "ask %d: one counter counts every call", i)
		}
		n = c.N
	}
}
