package actor_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/supervisor"
)

type Greet struct{ Name string }

type greeter struct{ greeted int }

func (g *greeter) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		c.Logger().Info("ready")
	case Greet:
		g.greeted++
		c.Respond(fmt.Sprintf("Hello, %s! (#%d)", m.Name, g.greeted))
	}
}

// The README's API tour.
func Example() {
	sys := actor.NewSystem(actor.WithLogger(slog.New(slog.DiscardHandler)))
	defer sys.Shutdown(context.Background())

	pid := sys.Spawn(actor.PropsFromProducer(func() actor.Actor { return &greeter{} }))
	sys.Send(pid, Greet{Name: "fire and forget"})
	reply, err := sys.Request(context.Background(), pid, Greet{Name: "Ada"})
	fmt.Println(reply, err)
	// Output: Hello, Ada! (#2) <nil>
}

// Many requests in flight at once, each with its own timeout.
func ExampleSystem_RequestFuture() {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	double := sys.Spawn(actor.PropsFromFunc(func(c *actor.Context) {
		if n, ok := c.Message().(int); ok {
			c.Respond(2 * n)
		}
	}))
	futures := make([]*actor.Future, 5)
	for i := range futures {
		futures[i] = sys.RequestFuture(double, i, time.Second)
	}
	for _, f := range futures {
		v, err := f.Result(context.Background())
		fmt.Print(v, err, " ")
	}
	fmt.Println()
	// Output: 0 <nil> 2 <nil> 4 <nil> 6 <nil> 8 <nil>
}

// A parent that restarts a crashing child up to twice a minute.
func ExampleWithSupervisor() {
	sys := actor.NewSystem(actor.WithLogger(slog.New(slog.DiscardHandler)))
	defer sys.Shutdown(context.Background())
	restarted := make(chan struct{}, 1)
	actor.Subscribe(sys.EventStream(), func(e actor.ActorRestarted) { restarted <- struct{}{} })

	child := actor.PropsFromFunc(func(c *actor.Context) {
		if c.Message() == "crash" {
			panic("crashed on purpose")
		}
	})
	parent := actor.PropsFromFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case actor.Started:
			c.SpawnNamed(child, "child")
		case string:
			c.Send(c.Children()[0], m)
		}
	}, actor.WithSupervisor(supervisor.OneForOne(supervisor.MaxRetries(2), supervisor.Within(time.Minute))))

	p, _ := sys.SpawnNamed(parent, "parent")
	sys.Send(p, "crash")
	<-restarted
	fmt.Println("child restarted:", sys.Lookup("parent/child") != nil)
	// Output: child restarted: true
}
