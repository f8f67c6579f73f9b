package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gcs"
)

type startFlags struct {
	head, block                   bool
	address, nodeIP, tokenFile    string
	port                          int
	cpus, gpus                    float64
	resources, labels             string
	storeMem                      uint64
	storage                       string
	period                        time.Duration
	failures                      int
	nodeName, sessionDir, cluster string
	tlsCert, tlsKey, tlsCA        string
	startTimeout                  time.Duration
}

func (f *startFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.head, "head", false, "start a head node: the GCS, and the address other nodes join")
	fs.StringVar(&f.address, "address", "", "join the cluster whose head listens at `HOST:PORT`")
	fs.IntVar(&f.port, "port", 6379, "head: the port other nodes join on")
	fs.StringVar(&f.nodeIP, "node-ip-address", "127.0.0.1", "the `IP` this node listens on for other nodes; anything but loopback exposes it to that network")
	fs.StringVar(&f.tokenFile, "token-file", "", "the cluster token `file` (default: the head's, from the session on this host)")
	fs.Float64Var(&f.cpus, "num-cpus", -1, "CPUs this node offers (default: all)")
	fs.Float64Var(&f.gpus, "num-gpus", -1, "GPUs this node offers (default: as many as the NVIDIA driver lists)")
	fs.StringVar(&f.resources, "resources", "", `custom resources as JSON, e.g. '{"accelerator": 2}'`)
	fs.StringVar(&f.labels, "labels", "", `node labels as JSON, e.g. '{"zone": "a"}'`)
	fs.Uint64Var(&f.storeMem, "object-store-memory", 0, "object store size in `bytes` (default: 30% of RAM, at most half of /dev/shm's free space)")
	fs.StringVar(&f.storage, "storage", "", "head: `dir`ectory the GCS stores its tables in; a head started again on it recovers them (default: <session>/gcs)")
	fs.DurationVar(&f.period, "health-check-period", time.Second, "head: how often the GCS checks each node")
	fs.IntVar(&f.failures, "health-check-failures", 5, "head: checks in a row a node may miss before it is dead")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS: this node's certificate `file` (PEM), valid for its IP and 127.0.0.1; with --tls-key and --tls-ca, every listener requires TLS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS: the certificate's key `file` (PEM)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "TLS: the CA `file` (PEM) that signed every node's certificate")
	fs.BoolVar(&f.block, "block", false, "run the node in the foreground until interrupted")
	fs.StringVar(&f.cluster, "cluster", "default", "the cluster's name")
	fs.DurationVar(&f.startTimeout, "timeout", time.Minute, "how long to wait for the node to start")
	fs.StringVar(&f.nodeName, "node-name", "", "the node's bus name (default: head, or node-<random>)")
	fs.StringVar(&f.sessionDir, "session", "", "the session `dir`ectory (default: the latest, or a new one for a head)")
}

func runStart(ctx context.Context, args []string, out io.Writer) error {
	var f startFlags
	fs := newFlags("start", out)
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.head == (f.address != "") {
		return usageError{errors.New("give either --head or --address HOST:PORT")}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if f.nodeName == "" {
		f.nodeName = "head"
		if !f.head {
			var b [4]byte
			_, _ = rand.Read(b[:])
			f.nodeName = "node-" + hex.EncodeToString(b[:])
		}
	}
	if _, err := f.initOptions(&session{}); err != nil {
		return err // bad flags: before any session directory is made
	}
	if !f.head && f.tokenFile == "" && f.sessionDir == "" {
		if _, err := os.Stat(filepath.Join(latestSession(), "token")); err != nil {
			return usageError{errors.New("no cluster token on this host: copy the head's token file (in its session directory) here and pass --token-file FILE")}
		}
	}
	s, err := f.session()
	if err != nil {
		return err
	}
	if f.block {
		return serveNode(ctx, &f, s, out)
	}
	return startBackground(ctx, &f, s, args, out)
}

// session opens the session a node belongs to: a head starts a new one
// unless the latest still has running nodes (a head started again).
func (f *startFlags) session() (*session, error) {
	if f.sessionDir != "" {
		return openSession(f.sessionDir)
	}
	if s, err := openSession(""); err == nil {
		if nodes, _ := s.nodes(); !f.head || len(nodes) > 0 {
			return s, nil
		}
	}
	return newSession()
}

// startBackground starts the node as a child process in its own session
// (it outlives this command) and waits for it to be up.
func startBackground(ctx context.Context, f *startFlags, s *session, args []string, out io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := s.logFile(f.nodeName)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if running, _ := s.nodes(); slices.ContainsFunc(running, func(n nodeFile) bool { return n.Name == f.nodeName }) {
		what := "node " + f.nodeName
		if f.head {
			what = "a head"
		}
		return fmt.Errorf("%s already runs in session %s; stop it first with `goray stop`", what, s.dir)
	}
	childArgs := append([]string{"start"}, args...)
	childArgs = append(childArgs, "--block", "--node-name", f.nodeName, "--session", s.dir)
	cmd := exec.Command(exe, childArgs...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(f.startTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the node exited while starting (%v); its log %s ends with:\n%s", err, logPath, tail(logPath, 15))
		case <-deadline:
			_ = cmd.Process.Kill()
			return fmt.Errorf("the node did not start within %v; see its log %s", f.startTimeout, logPath)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return ctx.Err()
		case <-tick.C:
		}
		data, err := os.ReadFile(s.nodePath(f.nodeName))
		if err != nil {
			continue
		}
		var n nodeFile
		if json.Unmarshal(data, &n) == nil {
			_ = cmd.Process.Release()
			printStarted(out, f, s, n)
			return nil
		}
	}
}

func printStarted(out io.Writer, f *startFlags, s *session, n nodeFile) {
	addr := hostPort(n.ClusterURL)
	if f.head {
		fmt.Fprintf(out, "Started the goray head node %q (node id %s, pid %d).\n", n.Name, n.NodeID, n.PID)
	} else {
		fmt.Fprintf(out, "Started goray node %q (node id %s, pid %d), joined to %s.\n", n.Name, n.NodeID, n.PID, f.address)
	}
	fmt.Fprintf(out, "  node address: %s\n  session:      %s\n  log:          %s\n  token:        %s\n\n", addr, s.dir, n.Log, s.tokenFile())
	if f.head {
		fmt.Fprintf(out, "To add a node on this host:     goray start --address %s\n", addr)
		fmt.Fprintf(out, "To add a node on another host:  copy the token file there, then\n")
		fmt.Fprintf(out, "                                goray start --address %s --token-file TOKEN --node-ip-address THAT_HOST_IP\n", addr)
		fmt.Fprintf(out, "                                (and start this head with --node-ip-address set to an address that host reaches)\n")
		fmt.Fprintf(out, "To run a program on it:         GORAY_ADDRESS=%s go run ./yourprogram\n", addr)
	}
	fmt.Fprintf(out, "To see the cluster:             goray status\nTo stop the nodes of this host: goray stop\n")
}

func hostPort(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// serveNode runs the node in this process until ctx ends.
func serveNode(ctx context.Context, f *startFlags, s *session, out io.Writer) error {
	opts, err := f.initOptions(s)
	if err != nil {
		return err
	}
	rt, err := goray.Init(ctx, opts...)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := rt.Shutdown(sctx); err != nil {
			slog.Error("goray: shutdown", "err", err)
		}
	}()
	// Every node leaves the token in its session, so that tools on its
	// host (status, list) can reach the cluster.
	if err := copyToken(rt.Token(), s.tokenFile()); err != nil {
		slog.Warn("goray: could not write the session's token file", "err", err)
	}
	n := nodeFile{
		Name: f.nodeName, PID: os.Getpid(), ProcStart: selfStart(), Head: f.head, NodeID: rt.NodeID(),
		ClientURL: rt.ClientURL(), ClusterURL: rt.Address(), Log: s.logFile(f.nodeName), Started: time.Now(),
		TLSCert: abs(f.tlsCert), TLSKey: abs(f.tlsKey), TLSCA: abs(f.tlsCA),
	}
	if err := s.writeNode(n); err != nil {
		return err
	}
	slog.Info("goray: node up", "name", n.Name, "node_id", n.NodeID, "cluster_url", n.ClusterURL, "client_url", n.ClientURL)
	<-ctx.Done()
	slog.Info("goray: node stopping")
	s.removeNode(f.nodeName)
	return nil
}

func (f *startFlags) initOptions(s *session) ([]goray.InitOption, error) {
	res := map[string]float64{}
	if f.resources != "" {
		if err := json.Unmarshal([]byte(f.resources), &res); err != nil {
			return nil, usageError{fmt.Errorf("--resources %q: %v (want a JSON object of numbers)", f.resources, err)}
		}
	}
	for _, q := range []struct {
		name string
		v    float64
	}{{"CPU", f.cpus}, {"GPU", f.gpus}} {
		switch {
		case q.v == -1: // not given: detected
		case q.v < 0:
			return nil, usageError{fmt.Errorf("--num-%ss %v: want a count of 0 or more", strings.ToLower(q.name), q.v)}
		default:
			res[q.name] = q.v
		}
	}
	if err := gcs.Resources(res).Validate(); err != nil {
		return nil, usageError{fmt.Errorf("--resources: %v", err)}
	}
	switch {
	case f.period < 10*time.Millisecond:
		return nil, usageError{fmt.Errorf("--health-check-period %v: at least 10ms", f.period)}
	case f.failures < 1:
		return nil, usageError{fmt.Errorf("--health-check-failures %d: at least 1", f.failures)}
	case f.port < 0 || f.port > 65535:
		return nil, usageError{fmt.Errorf("--port %d: want 0–65535", f.port)}
	}
	var labels map[string]string
	if f.labels != "" {
		if err := json.Unmarshal([]byte(f.labels), &labels); err != nil {
			return nil, usageError{fmt.Errorf("--labels %q: %v (want a JSON object of strings)", f.labels, err)}
		}
	}
	opts := []goray.InitOption{}
	if f.tlsCert != "" || f.tlsKey != "" || f.tlsCA != "" {
		t, err := goray.LoadTLS(abs(f.tlsCert), abs(f.tlsKey), abs(f.tlsCA))
		if err != nil {
			return nil, usageError{err}
		}
		opts = append(opts, goray.WithTLS(t))
	}
	opts = append(opts,
		goray.WithRole(goray.RoleNode), goray.WithNodeName(f.nodeName), goray.WithNodeIP(f.nodeIP),
		goray.WithResources(res), goray.WithLabels(labels), goray.WithCluster(f.cluster),
	)
	if f.storeMem > 0 {
		opts = append(opts, goray.WithObjectStoreMemory(f.storeMem))
	}
	if f.head {
		storage := f.storage
		if storage == "" {
			storage = filepath.Join(s.dir, "gcs")
		}
		// Without --token-file the token lives with the tables (Init's
		// default), so that a head started again on them lets its nodes in.
		if f.tokenFile != "" {
			opts = append(opts, goray.WithTokenFile(f.tokenFile))
		}
		return append(opts, goray.AsHead(f.port, storage), goray.WithHealthChecks(f.period, f.failures)), nil
	}
	tokenFile := f.tokenFile
	if tokenFile == "" {
		tokenFile = s.tokenFile()
	}
	return append(opts, goray.WithAddress(f.address), goray.WithTokenFile(abs(tokenFile))), nil
}

// abs makes a file name absolute, since the node runs in its own session
// and tools read its node file from anywhere; "" stays "".
func abs(path string) string {
	if path == "" {
		return ""
	}
	a, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return a
}

func copyToken(token, path string) error {
	if token == "" {
		return errors.New("no token")
	}
	return os.WriteFile(path, []byte(token+"\n"), 0o600)
}
