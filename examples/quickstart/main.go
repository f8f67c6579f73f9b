// Quickstart: an actor that keeps a greeting count, a few messages, a
// request–reply, and a clean shutdown.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/goray-dev/goray/actor"
)

// Greet asks the greeter to greet someone; the reply is a string.
type Greet struct{ Name string }

// Count asks how many greetings were made; the reply is an int.
type Count struct{}

type greeter struct{ greeted int }

func (g *greeter) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		fmt.Println("greeter started")
	case Greet:
		g.greeted++
		c.Respond(fmt.Sprintf("Hello, %s!", m.Name))
	case Count:
		c.Respond(g.greeted)
	case actor.Stopped:
		fmt.Println("greeter stopped")
	}
}

func main() {
	sys := actor.NewSystem()
	pid := sys.Spawn(actor.PropsFromProducer(func() actor.Actor { return &greeter{} }))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range []string{"Ada", "Grace", "Barbara"} {
		reply, err := sys.Request(ctx, pid, Greet{Name: name})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply)
	}
	n, err := sys.Request(ctx, pid, Count{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("greetings: %d\n", n)

	if err := sys.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
}
