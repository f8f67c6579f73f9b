package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"text/tabwriter"
	"time"
)

func runList(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("list", out)
	format := fs.String("format", "table", "output `format`: table or json")
	sessionDir := fs.String("session", "", "the session `dir`ectory (default: the latest)")
	// The kind may come before or after the flags.
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("list what? nodes, actors or jobs")}
	}
	what := fs.Arg(0)
	if err := parse(fs, fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", *format)}
	}
	if what != "nodes" && what != "actors" && what != "jobs" {
		return usageError{fmt.Errorf("list %q: want nodes, actors or jobs", what)}
	}
	rt, err := connect(ctx, *sessionDir)
	if err != nil {
		return err
	}
	defer closeClient(rt)
	var rows any
	var table func(*tabwriter.Writer)
	switch what {
	case "nodes":
		nodes, err := rt.Nodes(ctx)
		if err != nil {
			return err
		}
		rows, table = nodes, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "NODE ID\tNAME\tSTATE\tROLE\tADDRESS\tRESOURCES (used/total)\tSTARTED\tDEATH CAUSE")
			for _, n := range nodes {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.BusNode, n.State, n.Role, hostPort(n.Address),
					resourceUsage(n.Total, n.Available), stamp(n.StartTime()), n.DeathCause)
			}
		}
	case "actors":
		actors, err := rt.Actors(ctx)
		if err != nil {
			return err
		}
		rows, table = actors, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ACTOR ID\tKIND\tNAME\tNAMESPACE\tSTATE\tNODE ID\tRESTARTS\tJOB\tDEATH CAUSE")
			for _, a := range actors {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.ID, a.Spec.Kind, a.Spec.Name, a.Spec.Namespace,
					a.State, a.NodeID, a.Restarts, a.Spec.JobID, a.DeathCause)
			}
		}
	case "jobs":
		jobs, err := rt.Jobs(ctx)
		if err != nil {
			return err
		}
		rows, table = jobs, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "JOB ID\tSTATE\tDRIVER NODE\tNAMESPACE\tENTRYPOINT\tSTART\tEND")
			for _, j := range jobs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.State, j.DriverNode, j.Namespace, j.Entrypoint,
					stamp(j.StartTime()), stamp(j.EndTime()))
			}
		}
	}
	if *format == "json" {
		if reflect.ValueOf(rows).Len() == 0 {
			rows = []struct{}{} // [] rather than null
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05")
}
