package cli_test

import (
	"errors"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exitCode runs a CLI command and returns its exit code and output.
func (c *cluster) exitCode(args ...string) (int, string) {
	out, err := c.cmd(args...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	require.NoError(c.t, err)
	return 0, string(out)
}

// Mistakes get exit code 2 and say what to do; a cluster that is not
// there gets 1 and says how to start one.
func TestCLIErrors(t *testing.T) {
	c := newCluster(t)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "Usage:"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"start"}, 2, "give either --head or --address HOST:PORT"},
		{[]string{"start", "--head", "--address", "x:1"}, 2, "give either --head or --address"},
		{[]string{"start", "--head", "--resources", "{bad"}, 2, "--resources"},
		{[]string{"start", "--head", "--tls-cert", "x.pem"}, 2, "TLS needs a certificate, its key and the CA"},
		{[]string{"list"}, 2, "list what?"},
		{[]string{"list", "things"}, 2, `list "things": want nodes, actors or jobs`},
		{[]string{"list", "nodes", "--format", "xml"}, 2, "want table or json"},
		{[]string{"status"}, 1, "goray start --head"},
		{[]string{"list", "nodes", "actors"}, 2, "unexpected arguments"},
		{[]string{"list", "-h"}, 0, "-format"},
		{[]string{"start", "--address", "127.0.0.1:1"}, 2, "no cluster token on this host"},
		{[]string{"start", "--head", "--health-check-failures", "0"}, 2, "at least 1"},
		{[]string{"start", "--head", "--num-cpus", "-2"}, 2, "--num-cpus"},
		{[]string{"stop"}, 0, "No goray nodes run on this host."},
		{[]string{"help"}, 0, "Usage:"},
	} {
		code, out := c.exitCode(tc.args...)
		assert.Equal(t, tc.code, code, "goray %v:\n%s", tc.args, out)
		assert.Contains(t, out, tc.says, "goray %v", tc.args)
	}
}

// A second head in the same session is refused, and the first one keeps
// running and stays known to `goray stop`.
func TestStartHeadTwice(t *testing.T) {
	c := newCluster(t)
	head := c.startHead()
	code, out := c.exitCode("start", "--head", "--port", strconv.Itoa(c.port))
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "a head already runs")
	assert.Contains(t, c.run("status"), head.NodeID)
	assert.Contains(t, c.run("stop"), "Stopped node head")
}
