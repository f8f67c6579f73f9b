package bus_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// busnodeBin is the busnode program, built once by TestMain.
var busnodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "busnode")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	busnodeBin = filepath.Join(dir, "busnode")
	out, err := exec.Command("go", "build", "-o", busnodeBin, "./internal/busnode").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building busnode: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a busnode process.
type proc struct {
	t          testing.TB
	cmd        *exec.Cmd
	ClientURL  string `json:"client_url"`
	ClusterURL string `json:"cluster_url"`
	Node       string `json:"node"`

	mu     sync.Mutex
	out    bytes.Buffer // stdout after READY
	stderr bytes.Buffer
	exited chan struct{}
	err    error
}

// startProc starts busnode with args and waits for its READY line.
func startProc(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(busnodeBin, args...)
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			line := sc.Text()
			if first {
				first = false
				js, ok := strings.CutPrefix(line, "READY ")
				if !ok {
					ready <- fmt.Errorf("unexpected first line %q", line)
					continue
				}
				ready <- json.Unmarshal([]byte(js), p)
				continue
			}
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
		}
		if first {
			ready <- fmt.Errorf("exited before READY")
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	select {
	case err := <-ready:
		require.NoError(t, err, "busnode %v: stderr:\n%s", args, p.stderrText())
	case <-time.After(30 * time.Second):
		t.Fatalf("busnode %v not ready after 30s; stderr:\n%s", args, p.stderrText())
	}
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits for the process to exit on its own and returns its error.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("busnode did not exit within %v; stderr:\n%s", d, p.stderrText())
	}
}

// kill sends SIGKILL: the node gets no chance to say goodbye.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

func tokenFile(t testing.TB) string {
	return filepath.Join(t.TempDir(), "session", "token")
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
