// Command remote runs two goray nodes in two OS processes and has their
// actors talk: a "server" node hosting a greeter actor, and a "client"
// node (this same program, started again with -role client) that asks the
// greeter for greetings, spawns a counter on the server, sends it messages
// and watches it stop.
//
// Run it with:
//
//	go run ./examples/remote
//
// The nodes join through NATS routes on 127.0.0.1, with a cluster token
// kept in a 0600 file in a temporary session directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// Greet asks the greeter to greet Name.
type Greet struct {
	Name string `cbor:"1,keyasint"`
}

// Greeting is the greeter's answer.
type Greeting struct {
	Text string `cbor:"1,keyasint"`
	Node string `cbor:"2,keyasint"`
}

// Add adds N to a counter; Total asks for the sum so far.
type (
	Add struct {
		N int `cbor:"1,keyasint"`
	}
	Total struct{}
	Sum   struct {
		N int `cbor:"1,keyasint"`
	}
)

// Every node registers the same message types and actor kinds under the
// same names, since Go code cannot travel between processes.
func init() {
	bus.Register[*Greet]("remote.greet")
	bus.Register[*Greeting]("remote.greeting")
	bus.Register[*Add]("remote.add")
	bus.Register[*Total]("remote.total")
	bus.Register[*Sum]("remote.sum")
	bus.RegisterKind("counter", func() *actor.Props { return actor.PropsFromProducer(newCounter) })
}

func greeter(c *actor.Context) {
	if m, ok := c.Message().(*Greet); ok {
		c.Respond(&Greeting{Text: "Hello, " + m.Name + "!", Node: c.Self().Node})
	}
}

type counter struct{ sum int }

func newCounter() actor.Actor { return &counter{} }

func (k *counter) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case *Add:
		k.sum += m.N
	case *Total:
		c.Respond(&Sum{N: k.sum})
	}
}

func main() {
	role := flag.String("role", "server", "server or client")
	seed := flag.String("seed", "", "client: the server's route address")
	tokenFile := flag.String("token-file", "", "client: the cluster token file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	if *role == "client" {
		err = client(*seed, *tokenFile, log)
	} else {
		err = server(log)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, *role+":", err)
		os.Exit(1)
	}
}

// server starts the server node, then the client process, and serves
// until the client is done.
func server(log *slog.Logger) error {
	session, err := os.MkdirTemp("", "goray-remote-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(session)
	tokenFile := filepath.Join(session, "token")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sys := actor.NewSystem(actor.WithNode("server"), actor.WithLogger(log))
	node, err := bus.Start(ctx, sys, bus.Config{
		Cluster: "remote-example", ClusterListen: "127.0.0.1:0", TokenFile: tokenFile, Logger: log,
	})
	if err != nil {
		return err
	}
	defer closeNode(sys, node)
	if _, err := sys.SpawnNamed(actor.PropsFromFunc(greeter), "greeter"); err != nil {
		return err
	}
	fmt.Println("server: node up, greeter ready")

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "client", "-seed", node.ClusterURL(), "-token-file", tokenFile)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("client process: %w", err)
	}
	fmt.Println("server: client process done")
	return nil
}

// client joins the server's cluster as node "client" and talks to it.
func client(seed, tokenFile string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sys := actor.NewSystem(actor.WithNode("client"), actor.WithLogger(log))
	node, err := bus.Start(ctx, sys, bus.Config{
		Cluster: "remote-example", ClusterListen: "127.0.0.1:0", Routes: []string{seed},
		TokenFile: tokenFile, Logger: log,
	})
	if err != nil {
		return err
	}
	defer closeNode(sys, node)
	if err := node.WaitForNode(ctx, "server"); err != nil {
		return err
	}

	// Request–reply with a named actor on the other process.
	greeterPID := &actor.PID{Node: "server", ID: "greeter"}
	for _, name := range []string{"Ada", "Grace"} {
		res, err := sys.Request(ctx, greeterPID, &Greet{Name: name})
		if err != nil {
			return err
		}
		g := res.(*Greeting)
		fmt.Printf("client: %s says %q\n", g.Node, g.Text)
	}

	// Spawn an actor on the server, send to it, ask it, watch it stop.
	counterPID, err := node.SpawnOn(ctx, "server", "counter")
	if err != nil {
		return err
	}
	for i := 1; i <= 100; i++ {
		sys.Send(counterPID, &Add{N: i})
	}
	res, err := sys.Request(ctx, counterPID, &Total{})
	if err != nil {
		return err
	}
	fmt.Printf("client: counter on %s sums 1..100 to %d\n", counterPID.Node, res.(*Sum).N)

	stopped := make(chan actor.Terminated, 1)
	sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.Watch(counterPID)
			c.Stop(counterPID)
		case actor.Terminated:
			stopped <- m
		}
	}))
	select {
	case t := <-stopped:
		fmt.Printf("client: counter terminated (%v)\n", t.Reason)
	case <-ctx.Done():
		return ctx.Err()
	}

	// A request to an actor that is not there fails at once.
	_, err = sys.Request(ctx, &actor.PID{Node: "server", ID: "nobody"}, &Greet{Name: "?"})
	fmt.Printf("client: asking a missing actor: dead letter = %v\n", errors.Is(err, actor.ErrDeadLetter))
	return nil
}

func closeNode(sys *actor.System, node *bus.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sys.Shutdown(ctx)
	_ = node.Close(ctx)
}
