// Command goray starts, stops and inspects goray clusters. Run "goray
// help" for its commands. Nodes it starts can host the demo actor kinds
// (package internal/demo); a program with kinds of its own offers the
// same commands through package cli.
package main

import (
	"os"

	"github.com/goray-dev/goray/cli"
	_ "github.com/goray-dev/goray/internal/demo"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
