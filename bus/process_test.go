package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/proctest"
)

// busnodeBin is the busnode program, built once by TestMain.
var busnodeBin string

func TestMain(m *testing.M) { proctest.Main(m, "./internal/busnode", &busnodeBin) }

// proc is a busnode process and the addresses its READY line gave.
type proc struct {
	*proctest.Proc
	busnodeReady
}

type busnodeReady struct {
	ClientURL  string `json:"client_url"`
	ClusterURL string `json:"cluster_url"`
	Node       string `json:"node"`
}

// startProc starts busnode with args and waits for its READY line.
func startProc(t testing.TB, args ...string) *proc {
	t.Helper()
	var r busnodeReady
	pp := proctest.Start(t, busnodeBin, func(line []byte) error {
		js, ok := bytes.CutPrefix(line, []byte("READY "))
		if !ok {
			return fmt.Errorf("unexpected first line %q", line)
		}
		return json.Unmarshal(js, &r)
	}, args...)
	return &proc{Proc: pp, busnodeReady: r}
}

func tokenFile(t testing.TB) string {
	return filepath.Join(t.TempDir(), "session", "token")
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
