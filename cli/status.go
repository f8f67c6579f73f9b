package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gcs"
)

// connect attaches to the cluster of the latest session on this host as a
// client.
func connect(ctx context.Context, sessionDir string) (*goray.Runtime, error) {
	s, err := openSession(sessionDir)
	if err != nil {
		return nil, err
	}
	n, err := s.pickNode()
	if err != nil {
		return nil, err
	}
	token, err := readToken(s.tokenFile())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	opts := []goray.InitOption{goray.WithRole(goray.RoleClient), goray.WithClientURL(n.ClientURL), goray.WithToken(token), goray.WithLogger(quiet)}
	if n.TLSCert != "" {
		t, err := goray.LoadTLS(n.TLSCert, n.TLSKey, n.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("node %s requires TLS: %w", n.Name, err)
		}
		opts = append(opts, goray.WithTLS(t))
	}
	rt, err := goray.Init(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster at %s: %w", n.ClientURL, err)
	}
	return rt, nil
}

func closeClient(rt *goray.Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rt.Shutdown(ctx)
}

func runStatus(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("status", out)
	sessionDir := fs.String("session", "", "the session `dir`ectory (default: the latest)")
	if err := parse(fs, args); err != nil {
		return err
	}
	rt, err := connect(ctx, *sessionDir)
	if err != nil {
		return err
	}
	defer closeClient(rt)
	st, err := rt.Status(ctx)
	if err != nil {
		return err
	}
	printStatus(out, st, time.Now())
	return nil
}

func printStatus(out io.Writer, st *gcs.StatusReply, now time.Time) {
	line := strings.Repeat("-", 64)
	fmt.Fprintf(out, "======== Cluster status: %s ========\n", now.Format("2006-01-02 15:04:05"))
	var alive, drivers, dead []gcs.NodeInfo
	for _, n := range st.Nodes {
		switch {
		case n.State != gcs.NodeAlive:
			dead = append(dead, n)
		case n.Role == "driver":
			drivers = append(drivers, n)
		default:
			alive = append(alive, n)
		}
	}
	fmt.Fprintf(out, "Node status\n%s\nAlive: %s\n", line, plural(len(alive), "node"))
	printNodes(out, alive)
	fmt.Fprintf(out, "Drivers (programs running a job): %d\n", len(drivers))
	printNodes(out, drivers)
	fmt.Fprintf(out, "Dead: %s\n", plural(len(dead), "node"))
	for _, n := range dead {
		fmt.Fprintf(out, "  %s  %-14s %s\n", n.ID, n.BusNode, n.DeathCause)
	}
	total, avail := gcs.Resources{}, gcs.Resources{}
	for _, n := range alive {
		for k, v := range n.Total {
			total[k] += v
			avail[k] += n.Available[k]
		}
	}
	fmt.Fprintf(out, "\nResources\n%s\nUsage (used/total, alive nodes):\n", line)
	for _, k := range slices.Sorted(maps.Keys(total)) {
		fmt.Fprintf(out, "  %s/%s %s\n", gcs.FormatQuantity(k, total[k]-avail[k]), gcs.FormatQuantity(k, total[k]), k)
	}
	fmt.Fprintf(out, "Pending demand:\n")
	if len(st.Pending) == 0 {
		fmt.Fprintf(out, "  (none)\n")
	}
	for _, p := range st.Pending {
		fmt.Fprintf(out, "  {%s}: %s waiting for room\n", p.Resources, plural(p.Count, "actor"))
	}
	fmt.Fprintf(out, "\nActors\n%s\n", line)
	for _, s := range []gcs.ActorState{gcs.ActorAlive, gcs.ActorPendingCreation, gcs.ActorRestarting, gcs.ActorDead} {
		fmt.Fprintf(out, "  %-17s %d\n", s.String()+":", st.ActorsByState[s.String()])
	}
	fmt.Fprintf(out, "\nJobs: %d running, %d succeeded, %d failed\n",
		st.Jobs[gcs.JobRunning.String()], st.Jobs[gcs.JobSucceeded.String()], st.Jobs[gcs.JobFailed.String()])
	if st.JournalErrors > 0 {
		fmt.Fprintf(out, "\nWARNING: %d table changes could not be stored; see the head's log.\n", st.JournalErrors)
	}
}

func printNodes(out io.Writer, nodes []gcs.NodeInfo) {
	for _, n := range nodes {
		fmt.Fprintf(out, "  %s  %-14s %-6s %s\n", n.ID, n.BusNode, n.Role, hostPort(n.Address))
		fmt.Fprintf(out, "      %s\n", resourceUsage(n.Total, n.Available))
	}
}

// resourceUsage formats "CPU 1/2, memory 0 B/16 GiB" (used/total).
func resourceUsage(total, avail gcs.Resources) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(total)) {
		parts = append(parts, fmt.Sprintf("%s %s/%s", k, gcs.FormatQuantity(k, total[k]-avail[k]), gcs.FormatQuantity(k, total[k])))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
