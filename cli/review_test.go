package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/internal/demo"
)

// exitCode runs cmd and returns its combined output and exit code.
func exitCode(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, "%s", out)
	return string(out), 0
}

// killOnCleanup makes sure a node process ends with the test even when
// the CLI has lost track of it.
func killOnCleanup(t *testing.T, pid int) {
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// TestRegressionStopWithNoSessionFails used to fail: `goray stop` on a host where goray never
// ran exits 1 with "goray stop: no goray session on this host (…): start
// one with `goray start --head`…", while the same command with a session
// but nothing running prints "No goray nodes run on this host." and exits
// 0. Scripts (and `ray stop` habits) run stop unconditionally for clean
// up; having nothing to stop is not an error.
//
// stop.go (runStop: openSession's error is returned).
//
// The fix: when there is no session, print "No goray nodes run on this host."
// and return nil (exit 0); also do not create directories for it.
func TestRegressionStopWithNoSessionFails(t *testing.T) {
	c := newCluster(t)
	out, code := exitCode(t, c.cmd("stop"))
	t.Logf("goray stop on a fresh host (exit %d):\n%s", code, out)
	assert.Equal(t, 0, code, "nothing to stop is not an error")
	assert.Contains(t, out, "No goray nodes run on this host")
}

// TestRegressionStartBadFlagValueLeavesSessionAndExits1 used to fail: commit 50f47a5 made
// runStart check f.initOptions before it makes a session, but the values
// that only Init, gcs.Config and raylet.Start check still get through to
// the background child: --health-check-failures -1, --health-check-period
// 1ms, --resources '{"CPU": -1}', --port 70000. The command then exits 1
// (not 2, the code of usage errors) with "the node exited while starting
// (exit status 1); its log … ends with: …", after making a new session
// directory, pointing session_latest at it and creating the node's log.
// Also silently accepted: --health-check-failures 0 (becomes 5, the
// gcs default) and a negative --num-cpus/--num-gpus other than -1 (the
// "unset" sentinel: the detected count is used).
//
// start.go (runStart/initOptions check JSON syntax and TLS only).
//
// The fix: validate in initOptions what the child would reject: period ≥
// 10ms, failures ≥ 1, 0 < port < 65536, resources via
// gcs.Resources.Validate, num-cpus/num-gpus ≥ 0 when given (track "set"
// with a flag.Func instead of the -1 sentinel); return usageError.
func TestRegressionStartBadFlagValueLeavesSessionAndExits1(t *testing.T) {
	for _, bad := range [][]string{
		{"--health-check-failures", "-1"},
		{"--resources", `{"CPU": -1}`},
	} {
		c := newCluster(t)
		args := append([]string{"start", "--head", "--port", strconv.Itoa(c.port), "--object-store-memory", "67108864", "--timeout", "20s"}, bad...)
		out, code := exitCode(t, c.cmd(args...))
		t.Logf("goray start %v (exit %d):\n%s", bad, code, out)
		assert.Equal(t, 2, code, "%v is a usage error", bad)
		assert.NotContains(t, out, "exited while starting", "%v", bad)
		_, err := os.Lstat(filepath.Join(c.tmp, "goray", "session_latest"))
		assert.True(t, os.IsNotExist(err), "a start refused for %v left a session behind", bad)
	}
}

// TestRegressionStatusOnJoiningHostHasNoToken used to fail: the README's multi-host recipe
// ("copy the head's token file to the other host and start there with
// --address HEAD_IP:PORT --token-file FILE …") gives a node whose host
// cannot run `goray status` or `goray list`: a node started with
// --token-file does not put the token in its session directory (only a
// head does: serveNode → copyToken), and connect() reads only
// <session>/token, so status fails with "read the cluster token: open
// …/token: no such file or directory". The README says each host's
// session holds the cluster token.
//
// The fix: in serveNode, copy the token in use (rt.Token()) to the session's
// token file for every node, not only the head (or record the token file
// in the node file and have connect() use it).
func TestRegressionStatusOnJoiningHostHasNoToken(t *testing.T) {
	hostA := newCluster(t)
	head := hostA.startHead()

	// Another host: its own TMPDIR, the head's token copied there.
	hostB := newCluster(t)
	token := filepath.Join(t.TempDir(), "copied-token")
	data, err := os.ReadFile(filepath.Join(hostA.session(), "token"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(token, data, 0o600))
	n := hostB.startNode(head.address(), "--token-file", token)
	killOnCleanup(t, n.PID)

	out, code := exitCode(t, hostB.cmd("status"))
	t.Logf("goray status on host B (exit %d):\n%s", code, out)
	assert.Equal(t, 0, code, "goray status on a host whose node joined with --token-file")
	assert.Contains(t, out, n.NodeID)
}

// TestRegressionSessionRootPermissionsNotChecked used to fail: the session root
// $TMPDIR/goray holds the token, node files (pids that `goray stop`
// signals) and session_latest; it is created with MkdirAll(root, 0700),
// which does nothing when the directory already exists. On a shared
// /tmp another user can create /tmp/goray first (mode 0777), and then
// swap session_latest (newSession renames it into place there; start
// --address, status, stop and Init's findToken follow it), so a joining
// node reads that user's token and `goray stop` signals pids they chose.
//
// session.go (newSession / openSession) and init.go (SessionRoot,
// findToken).
//
// The fix: after MkdirAll, Lstat the root and refuse (or chmod) unless it is
// a directory owned by the current user with no group/other write bits
// (as ssh does for ~/.ssh); same for an existing session directory.
func TestRegressionSessionRootPermissionsNotChecked(t *testing.T) {
	c := newCluster(t)
	root := filepath.Join(c.tmp, "goray")
	require.NoError(t, os.Mkdir(root, 0o777))
	require.NoError(t, os.Chmod(root, 0o777)) // as another user would leave it (umask aside)

	out, code := exitCode(t, c.cmd("start", "--head", "--port", strconv.Itoa(c.port), "--object-store-memory", "67108864", "--timeout", "30s"))
	t.Logf("goray start --head with a world-writable %s (exit %d):\n%s", root, code, out)
	// A head that did start is stopped by newCluster's cleanup (goray stop --force).
	fi, err := os.Stat(root)
	require.NoError(t, err)
	assert.True(t, code != 0 || fi.Mode().Perm()&0o022 == 0,
		"goray start used a session root that others can write (mode %v)", fi.Mode().Perm())
}

// TestRegressionListFlagsBeforeKind used to fail: `goray list --format json nodes` (flags
// first, as most CLIs accept) fails with `list "--format": want nodes,
// actors or jobs` (exit 2), and `goray list -h` prints an error instead
// of the command's help, because runList takes args[0] as the kind before
// parsing flags. Extra words after the kind are silently ignored
// (`goray list nodes actors` lists nodes).
//
// list.go (runList: what := args[0]; parse(fs, args[1:]); no NArg check).
//
// The fix: parse all args (flag.Parse stops at the first non-flag, so parse
// again after the kind, or pull the kind out of fs.Args()), handle -h
// before the kind, and reject extra arguments.
func TestRegressionListFlagsBeforeKind(t *testing.T) {
	c := newCluster(t)
	c.startHead()

	out, code := exitCode(t, c.cmd("list", "--format", "json", "nodes"))
	t.Logf("goray list --format json nodes (exit %d):\n%s", code, out)
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(strings.TrimSpace(out), "["), "JSON output expected")

	out, code = exitCode(t, c.cmd("list", "-h"))
	t.Logf("goray list -h (exit %d):\n%s", code, out)
	assert.Equal(t, 0, code, "help is not an error")
	assert.Contains(t, out, "-format")

	out, code = exitCode(t, c.cmd("list", "nodes", "actors"))
	t.Logf("goray list nodes actors (exit %d):\n%s", code, out)
	assert.Equal(t, 2, code, "an extra argument is a usage error")
}

// TestRegressionEnvRoleOverridesCLIRole used to fail: GORAY_ROLE in the environment overrides
// the role the CLI asks for (loadConfig: "GORAY_ROLE overrides it"), so
// tools meant as clients or nodes change nature: with GORAY_ROLE=driver
// (left exported by a shell), `goray status` ignores the session and
// starts a whole embedded cluster in its own process, and prints that
// cluster's status (one node, not the running head); with
// GORAY_ROLE=worker and GORAY_ADDRESS set, `goray status` turns into a
// worker node that never returns, and `goray start --address` children
// hang in serveForever until the parent's --timeout kills them.
//
// init.go (loadConfig applies EnvRole over WithRole); cli/status.go and
// cli/start.go rely on WithRole.
//
// The fix: let an explicit WithRole win over GORAY_ROLE (the env var only
// sets the default), or have the CLI clear GORAY_ROLE/GORAY_ADDRESS for
// its own Init calls and its children.
func TestRegressionEnvRoleOverridesCLIRole(t *testing.T) {
	c := newCluster(t)
	head := c.startHead()

	cmd := c.cmd("status")
	cmd.Env = append(cmd.Env, "GORAY_ROLE=driver")
	done := make(chan struct{})
	timer := time.AfterFunc(12*time.Second, func() {
		select {
		case <-done:
		default:
			if cmd.Process != nil {
				_ = cmd.Process.Kill()
			}
		}
	})
	defer timer.Stop()
	out, code := exitCode(t, cmd)
	close(done)
	t.Logf("GORAY_ROLE=driver goray status (exit %d):\n%s", code, out)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, head.NodeID, "goray status should show the session's cluster")
}

// TestRegressionListJSONMixesKeyStyles used to fail: `goray list actors --format json` prints
// every field in snake_case (actor_id, node_id, num_restarts, …) except
// the actor's PID, which comes out as {"Node": "…", "ID": "…"}:
// actor.PID has no JSON tags (and gcs.ActorInfo.PID is the bare struct).
// Scripts that read the output (jq '.[].pid.node') get null.
//
// gcs/types.go (ActorInfo.PID `json:"pid,omitempty"` with actor.PID's
// exported fields Node, ID).
//
// The fix: give the listing its own JSON shape for the PID (e.g. "pid":
// "node/id" via PID.String, or {"node":…, "id":…}), or add json tags to
// actor.PID.
func TestRegressionListJSONMixesKeyStyles(t *testing.T) {
	c := newCluster(t)
	head := c.startHead()
	rt := c.driver(head.address())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := rt.NewActor(ctx, demo.Counter, goray.Detached())
	require.NoError(t, err)

	out := c.run("list", "actors", "--format", "json")
	t.Logf("goray list actors --format json:\n%s", out)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.NotEmpty(t, rows)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				assert.Equal(t, strings.ToLower(k), k, "key %s.%s is not snake_case like the others", path, k)
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	for _, r := range rows {
		walk("", r)
	}
}

// TestRegressionStopTreatsZombieNodeAsRunning used to fail: `goray stop` (and every command
// that lists a session's nodes) decides whether a node runs with
// kill(pid, 0), which also succeeds for a zombie. `goray start` leaves
// its node orphaned (setsid, Release); whoever adopts it must reap it. In
// a container whose PID 1 does not reap adopted children (a Go program,
// `sleep infinity`, anything without --init/tini) a node that exits on
// SIGTERM stays a zombie, so `goray stop` waits the whole grace period,
// then says "did not stop within 20s; killed it" (the node had stopped
// cleanly), and status/list keep picking the dead node's client URL. The
// same check accepts a pid that was reused by an unrelated process after
// a node died without removing its file, and `goray stop` then signals
// that process.
//
// session.go (processAlive: syscall.Kill(pid, 0)).
//
// The fix: treat a process whose /proc/<pid>/stat state is Z (or X) as gone,
// and compare the process's start time (field 22 of /proc/<pid>/stat) with
// the node file's Started before trusting or signalling the pid.
//
// The test reproduces a non-reaping PID 1 by running itself as a child
// subreaper that never waits for adopted children.
func TestRegressionStopTreatsZombieNodeAsRunning(t *testing.T) {
	if os.Getenv("GORAY_REVIEW_SUBREAPER") == "1" {
		require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		c := newCluster(t)
		head := c.startHead()
		t.Cleanup(func() {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(head.PID, &ws, 0, nil) // reap it now
		})
		began := time.Now()
		out := c.run("stop", "--grace-period", "5s")
		t.Logf("goray stop (%v):\n%s", time.Since(began).Round(time.Millisecond), out)
		stat, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(head.PID), "stat"))
		t.Logf("/proc/%d/stat: %s", head.PID, stat)
		assert.Contains(t, out, "Stopped node head", "the head stopped on SIGTERM (it is a zombie now)")
		assert.Less(t, time.Since(began), 5*time.Second, "goray stop waited the whole grace period for a zombie")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRegressionStopTreatsZombieNodeAsRunning$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), "GORAY_REVIEW_SUBREAPER=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "goray stop with a node that became a zombie:\n%s", out)
}

// TestRegressionJoinWithoutTokenHangsThenFailsVaguely used to fail: `goray start --address
// HEAD` on a host that has no session (the usual mistake: forgetting
// --token-file on another host) makes a new session, passes its
// (missing) token file to the node, and the node invents a random token
// there (bus.LoadOrCreateToken, meant for a head), so it cannot
// authenticate and waits for the head until --timeout (a minute by
// default) kills it: "the node did not start within 1m0s; see its log",
// with nothing in the log about the token. The invented token stays in the
// session, where `goray status` and later nodes pick it up.
//
// start.go (initOptions: WithTokenFile(s.tokenFile()) for a node without
// --token-file) with init.go (loadConfig does not require a joining
// node's token file to exist; see goray_test.TestRegressionJoinWithMissingTokenFileInventsToken).
//
// The fix: in runStart (or Init), a node that joins without --token-file
// needs <session>/token to exist; otherwise fail at once (exit 2) with
// "no cluster token here: copy the head's token file (…/token) and pass
// --token-file".
func TestRegressionJoinWithoutTokenHangsThenFailsVaguely(t *testing.T) {
	hostA := newCluster(t)
	head := hostA.startHead()

	hostB := newCluster(t) // another host: no session, no token
	began := time.Now()
	out, code := exitCode(t, hostB.cmd("start", "--address", head.address(), "--object-store-memory", "67108864", "--timeout", "6s"))
	took := time.Since(began)
	t.Logf("goray start --address on a host without a token (exit %d, %v):\n%s", code, took.Round(time.Millisecond), out)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, out, "token", "the error should name the missing token")
	assert.Less(t, took, 3*time.Second, "a missing token is known before any node starts")
	matches, _ := filepath.Glob(filepath.Join(hostB.tmp, "goray", "session_*", "token"))
	assert.Empty(t, matches, "a joining node invented a cluster token")
}
