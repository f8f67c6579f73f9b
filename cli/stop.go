package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

func runStop(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("stop", out)
	force := fs.Bool("force", false, "kill the nodes at once (SIGKILL) instead of stopping them gracefully")
	grace := fs.Duration("grace-period", 20*time.Second, "how long to wait for a node to stop before killing it")
	sessionDir := fs.String("session", "", "the session `dir`ectory (default: the latest)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openSession(*sessionDir)
	if errors.Is(err, errNoSession) {
		fmt.Fprintln(out, "No goray nodes run on this host.")
		return nil
	}
	if err != nil {
		return err
	}
	nodes, err := s.nodes()
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		fmt.Fprintln(out, "No goray nodes run on this host.")
		return nil
	}
	// Other nodes first, the head last: they can still tell its GCS they
	// are leaving.
	for pass := 0; pass < 2; pass++ {
		for _, n := range nodes {
			if n.Head != (pass == 1) {
				continue
			}
			sig := syscall.SIGTERM
			if *force {
				sig = syscall.SIGKILL
			}
			if err := syscall.Kill(n.PID, sig); err != nil {
				fmt.Fprintf(out, "Node %s (pid %d): %v\n", n.Name, n.PID, err)
				continue
			}
			if waitExit(ctx, n, *grace) {
				fmt.Fprintf(out, "Stopped node %s (pid %d).\n", n.Name, n.PID)
			} else {
				_ = syscall.Kill(n.PID, syscall.SIGKILL)
				fmt.Fprintf(out, "Node %s (pid %d) did not stop within %v; killed it.\n", n.Name, n.PID, *grace)
			}
			s.removeNode(n.Name)
		}
	}
	return nil
}

func waitExit(ctx context.Context, n nodeFile, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !processAlive(n.PID, n.ProcStart) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return !processAlive(n.PID, n.ProcStart)
}
