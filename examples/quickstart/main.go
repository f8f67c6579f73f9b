// Quickstart: goray.Init starts a whole cluster inside this process (like
// ray.init()); the GCS creates a named actor that keeps a greeting count;
// a few calls, a lookup by name, a crash that the actor survives by
// restarting, and a clean shutdown.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/gcs"
)

// Greet asks the greeter to greet someone; the reply is a string.
type Greet struct{ Name string }

// Count asks how many greetings this instance made; the reply is an int.
type Count struct{}

// Crash makes the greeter panic, as a bug would.
type Crash struct{}

type greeter struct{ greeted int }

func (g *greeter) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case Greet:
		g.greeted++
		c.Respond(fmt.Sprintf("Hello, %s!", m.Name))
	case Count:
		c.Respond(g.greeted)
	case Crash:
		panic("something went wrong")
	case actor.Stopped:
		fmt.Println("greeter stopped")
	}
}

// Every process that may host a greeter registers the kind by name.
func init() { goray.RegisterActor("greeter", func() actor.Actor { return &greeter{} }) }

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := goray.Init(ctx) // no address: a single-node cluster in this process
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := rt.Shutdown(ctx); err != nil {
			log.Fatal(err)
		}
	}()

	h, err := rt.NewActor(ctx, "greeter", goray.Name("greeter"), goray.MaxRestarts(1))
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"Ada", "Grace", "Barbara"} {
		reply, err := h.Ask(ctx, Greet{Name: name})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply)
	}

	same, err := rt.GetActor(ctx, "greeter") // found by name, in the job's namespace
	if err != nil {
		log.Fatal(err)
	}
	n, err := same.Ask(ctx, Count{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("greetings: %d\n", n)

	// The call that crashes it fails; the actor restarts (MaxRestarts 1)
	// as a fresh instance and answers again.
	if _, err := h.Ask(ctx, Crash{}); errors.Is(err, goray.ErrActorDied) {
		fmt.Println("the crashing call failed: actor died")
	}
	n, err = h.Ask(ctx, Count{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("greetings after the restart: %d\n", n)

	nodes, err := rt.Nodes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	alive, cpus := 0, 0.0
	for _, n := range nodes {
		if n.State == gcs.NodeAlive {
			alive++
			cpus += n.Total[gcs.CPU]
		}
	}
	fmt.Printf("cluster: %d node(s) alive, %g CPUs\n", alive, cpus)
}
