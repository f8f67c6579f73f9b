// Package examples_test builds every example and runs it as its own
// process, checking what it prints. It builds them with the go command, so
// Go's test cache cannot see what they depend on: run it with -count=1.
package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "goray-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		for _, name := range []string{"quickstart", "pingpong", "supervision", "remote", "objectstore", "cluster"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./"+name)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "building example %s: %v\n", name, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s", stderr.String())
	return stdout.String()
}

func TestQuickstart(t *testing.T) {
	assert.Regexp(t, regexp.MustCompile(`^Hello, Ada!
Hello, Grace!
Hello, Barbara!
greetings: 3
the crashing call failed: actor died
greetings after the restart: 0
cluster: 1 node\(s\) alive, \d+ CPUs
greeter stopped
$`), run(t, "quickstart"))
}

func TestPingPong(t *testing.T) {
	out := run(t, "pingpong", "-hits", "20000")
	assert.Regexp(t, regexp.MustCompile(`(?m)^rally over after 20000 hits\nround trips: 10000 in \S+ \(\d+ msgs/s\)\n$`), out)
}

func TestSupervision(t *testing.T) {
	assert.Equal(t, `worker: instance 1 started
worker: job 1 done by instance 1
worker: job 2 crashes instance 1
supervision: service/supervisor/worker failed (job 2: bad input) → restart
worker: instance 2 started
worker: job 3 done by instance 2
worker: job 4 crashes instance 2
supervision: service/supervisor/worker failed (job 4: bad input) → restart
worker: instance 3 started
worker: job 5 crashes instance 3
supervision: service/supervisor/worker exceeded max_retries=2: stopped, failure escalated
supervision: service/supervisor failed (job 5: bad input) → restart
supervisor: restarting (its worker is stopped first)
worker: instance 4 started
worker: job 6 done by instance 4
done
`, run(t, "supervision"))
}

func TestSupervisionMaxRetriesFlag(t *testing.T) {
	out := run(t, "supervision", "-max-retries", "0")
	assert.Contains(t, out, "supervision: service/supervisor/worker exceeded max_retries=0: stopped, failure escalated\n")
	assert.Contains(t, out, "worker: job 6 done by instance")
}

func TestRemote(t *testing.T) {
	assert.Equal(t, `server: node up, greeter ready
client: server says "Hello, Ada!"
client: server says "Hello, Grace!"
client: counter on server sums 1..100 to 5050
client: counter terminated (stopped)
client: asking a missing actor: dead letter = true
server: client process done
`, run(t, "remote"))
}

func TestObjectStore(t *testing.T) {
	out := run(t, "objectstore")
	assert.Regexp(t, regexp.MustCompile(`^node: put 64 MiB, checksum ([0-9a-f]{16})
worker: read 64 MiB in place, checksum ([0-9a-f]{16})
worker: view inside the arena mapping: true; private memory grew by less than 1 MiB: true
node: worker done; the store holds 1 object, 64 MiB
$`), out)
	m := regexp.MustCompile(`checksum ([0-9a-f]{16})`).FindAllStringSubmatch(out, -1)
	require.Len(t, m, 2)
	assert.Equal(t, m[0][1], m[1][1], "the worker read what the node wrote")
}

func TestCluster(t *testing.T) {
	assert.Regexp(t, regexp.MustCompile(`^head up; starting 2 worker processes of this binary
cluster: 3 nodes
4 counters placed: map\[worker-1:2 worker-2:2\]
killing (worker-\d), the host of counter-0 \(SIGKILL\)
counter-0 answered again from worker-\d, as a fresh instance: sum 10
all 4 counters answer from the surviving worker
worker stopped cleanly
$`), run(t, "cluster"))
}
