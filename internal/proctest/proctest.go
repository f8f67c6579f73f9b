// Package proctest runs the helper programs of goray's multi-process
// tests: it builds a program once per test binary, starts it as a real OS
// process, hands the first line it prints (its report) to the test, keeps
// the rest of its output, and stops or kills it.
//
// It is for tests only and knows nothing of what the programs do.
package proctest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Main builds the program in pkg (a path relative to the test's package,
// such as "./internal/busnode"), stores its path in *bin, runs the tests
// and exits; call it from TestMain.
func Main(m *testing.M, pkg string, bin *string) {
	dir, err := os.MkdirTemp("", "proctest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", *bin, pkg).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Proc is a running helper program.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	out    bytes.Buffer // stdout after the first line
	stderr bytes.Buffer
	exited chan struct{}
	err    error
}

// ReadyTimeout bounds the wait for a program's first line.
const ReadyTimeout = 30 * time.Second

// Start runs bin with args, waits for its first stdout line and passes it
// to report, which fails the test by returning an error. The process is
// stopped when the test ends.
func Start(t testing.TB, bin string, report func(line []byte) error, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: filepath.Base(bin), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	first := make(chan error, 1)
	go p.read(stdout, report, first)
	t.Cleanup(p.Stop)
	select {
	case err := <-first:
		require.NoError(t, err, "%s %v: stderr:\n%s", p.name, args, p.Stderr())
	case <-time.After(ReadyTimeout):
		t.Fatalf("%s %v: no report after %v; stderr:\n%s", p.name, args, ReadyTimeout, p.Stderr())
	}
	return p
}

// read hands the first line to report and keeps the rest, until the
// process exits.
func (p *Proc) read(stdout io.Reader, report func([]byte) error, first chan<- error) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	got := false
	for sc.Scan() {
		if !got {
			got = true
			first <- report(sc.Bytes())
			continue
		}
		p.mu.Lock()
		p.out.Write(sc.Bytes())
		p.out.WriteByte('\n')
		p.mu.Unlock()
	}
	if !got {
		first <- errors.New("exited before its report")
	}
	p.err = p.cmd.Wait()
	close(p.exited)
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

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stderr is what the process wrote to stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Output is what the process wrote to stdout after its first line.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Wait waits up to d for the process to exit on its own and returns its
// exit error.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s did not exit within %v; stderr:\n%s", p.name, d, p.Stderr())
	}
}

// Alive reports whether the process is still running after d.
func (p *Proc) Alive(d time.Duration) bool {
	select {
	case <-p.exited:
		return false
	case <-time.After(d):
		return true
	}
}

// Kill sends SIGKILL (no deferred cleanup, no goodbye) and waits for the
// process to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop asks the process to close cleanly (stdin closed and SIGTERM) and
// kills it if it has not exited within 10 s.
func (p *Proc) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Logf("%s %d did not stop in 10s; killing it; stderr:\n%s", p.name, p.Pid(), p.Stderr())
		p.Kill()
	}
}
