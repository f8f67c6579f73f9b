package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/goray-dev/goray"
)

// A session directory holds what the nodes started on this host leave for
// people and tools:
//
//	token             the cluster token (0600)
//	nodes/<name>.json one file per running node: pid, role, addresses
//	logs/<name>.log   each node's log
//
// session_latest links to the newest one.
type session struct{ dir string }

// nodeFile describes a running node.
type nodeFile struct {
	Name       string    `json:"name"`
	PID        int       `json:"pid"`
	Head       bool      `json:"head"`
	NodeID     string    `json:"node_id"`
	ClientURL  string    `json:"client_url"`
	ClusterURL string    `json:"cluster_url"`
	Log        string    `json:"log"`
	Started    time.Time `json:"started"`
	// ProcStart is the process's start time in /proc (clock ticks after
	// boot): a pid reused by another process does not match it.
	ProcStart uint64 `json:"proc_start,omitempty"`
	// The node's TLS files, when it requires TLS: tools on the host use
	// them to reach it.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	TLSCA   string `json:"tls_ca,omitempty"`
}

func latestSession() string { return filepath.Join(goray.SessionRoot(), "session_latest") }

// newSession creates a session directory and points session_latest at it.
func newSession() (*session, error) {
	root := goray.SessionRoot()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	if err := checkPrivate(root); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, fmt.Sprintf("session_%s_%d", time.Now().Format("2006-01-02_15-04-05"), os.Getpid()))
	s := &session{dir: dir}
	if err := s.mkdirs(); err != nil {
		return nil, err
	}
	tmp := latestSession() + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(dir, tmp); err != nil {
		return nil, err
	}
	return s, os.Rename(tmp, latestSession())
}

// openSession opens the latest session, or dir when given.
func openSession(dir string) (*session, error) {
	if dir == "" {
		dir = latestSession()
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("%w on this host (%s): start one with `goray start --head`, or join one with `goray start --address HOST:PORT`", errNoSession, dir)
	}
	for _, d := range []string{filepath.Dir(dir), real} {
		if err := checkPrivate(d); err != nil {
			return nil, err
		}
	}
	s := &session{dir: real}
	return s, s.mkdirs()
}

// errNoSession: nothing was ever started on this host.
var errNoSession = errors.New("no goray session")

// checkPrivate refuses a directory that another user owns or may write:
// it holds the cluster token and the pids `goray stop` signals.
func checkPrivate(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is not private (owner uid %d, mode %v): remove it or set TMPDIR elsewhere; it would hold the cluster token", dir, st.Uid, fi.Mode().Perm())
	}
	return nil
}

func (s *session) mkdirs() error {
	for _, d := range []string{s.dir, filepath.Join(s.dir, "nodes"), filepath.Join(s.dir, "logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) tokenFile() string          { return filepath.Join(s.dir, "token") }
func (s *session) logFile(name string) string { return filepath.Join(s.dir, "logs", name+".log") }
func (s *session) nodePath(name string) string {
	return filepath.Join(s.dir, "nodes", name+".json")
}

func (s *session) writeNode(n nodeFile) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.nodePath(n.Name) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.nodePath(n.Name))
}

func (s *session) removeNode(name string) { os.Remove(s.nodePath(name)) }

// nodes lists the node files whose process still runs; files of dead
// processes are removed.
func (s *session) nodes() ([]nodeFile, error) {
	paths, err := filepath.Glob(filepath.Join(s.dir, "nodes", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []nodeFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var n nodeFile
		if json.Unmarshal(data, &n) != nil || !processAlive(n.PID, n.ProcStart) {
			os.Remove(p)
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// pickNode picks a running node of the session to talk to: the head if
// it runs here.
func (s *session) pickNode() (nodeFile, error) {
	nodes, err := s.nodes()
	if err != nil {
		return nodeFile{}, err
	}
	if len(nodes) == 0 {
		return nodeFile{}, fmt.Errorf("no goray node runs in session %s: start one with `goray start --head`", s.dir)
	}
	best := nodes[0]
	for _, n := range nodes {
		if n.Head {
			best = n
		}
	}
	return best, nil
}

func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the cluster token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
