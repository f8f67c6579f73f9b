// Package cli is the goray command line: start and stop nodes, and look
// at a running cluster (status, list). cmd/goray is this package with the
// demo actor kinds; a program that registers actor kinds of its own can
// offer the same commands by calling Main, so that `myprog start
// --address …` runs a node that hosts them.
//
// The package talks to clusters only through the root goray API.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the command line args (without the program name) and returns
// the process's exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string, io.Writer) error{
		"start":  runStart,
		"status": runStatus,
		"list":   runList,
		"stop":   runStop,
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "goray: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	if err := cmd(ctx, args[1:], stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "goray %s: %v\n", name, err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ error }

func usage(w io.Writer) {
	fmt.Fprint(w, `goray runs and inspects goray clusters.

Usage:
  goray start --head [--port 6379] [flags]     start a head node (GCS, raylet, object store)
  goray start --address HOST:PORT [flags]      start a node that joins the head at HOST:PORT
  goray status                                 nodes, resources and actors of the cluster
  goray list nodes|actors|jobs [--format json] tables of the cluster's state
  goray stop [--force]                         stop the nodes this host started

Run "goray <command> -h" for a command's flags. Nodes started here keep their
logs, token and node files in the session directory (`+"$TMPDIR/goray/session_latest"+`).
`)
}

func newFlags(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("goray "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}
