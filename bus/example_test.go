package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// Hello is a message that crosses nodes: registered under one name on
// every node, with integer CBOR keys.
type Hello struct {
	Name string `cbor:"1,keyasint"`
}

func init() { bus.Register[*Hello]("example.hello") }

// Two nodes in one process, joined as a cluster through NATS routes on
// loopback; an actor on one answers a request from the other. Across
// processes or hosts it is the same code, with each node in its own
// process.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	token := bus.NewToken() // in production: TokenFile, shared by the nodes

	// Node "a" hosts an actor named "greeter".
	sysA := actor.NewSystem(actor.WithNode("a"), actor.WithLogger(log))
	nodeA, err := bus.Start(ctx, sysA, bus.Config{ClusterListen: "127.0.0.1:0", Token: token, Logger: log})
	if err != nil {
		panic(err)
	}
	sysA.SpawnNamed(actor.PropsFromFunc(func(c *actor.Context) {
		if m, ok := c.Message().(*Hello); ok {
			c.Respond(&Hello{Name: "hello, " + m.Name + ", from " + c.Self().Node})
		}
	}), "greeter")

	// Node "b" joins a's cluster and asks the greeter.
	sysB := actor.NewSystem(actor.WithNode("b"), actor.WithLogger(log))
	nodeB, err := bus.Start(ctx, sysB, bus.Config{ClusterListen: "127.0.0.1:0", Routes: []string{nodeA.ClusterURL()}, Token: token, Logger: log})
	if err != nil {
		panic(err)
	}
	if err := nodeB.WaitForNode(ctx, "a"); err != nil {
		panic(err)
	}
	reply, err := sysB.Request(ctx, &actor.PID{Node: "a", ID: "greeter"}, &Hello{Name: "b"})
	fmt.Println(reply.(*Hello).Name, err)

	for _, s := range []*actor.System{sysA, sysB} {
		s.Shutdown(ctx)
	}
	nodeB.Close(ctx)
	nodeA.Close(ctx)
	// Output: hello, b, from a <nil>
}
