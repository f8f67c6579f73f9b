// Pingpong: two actors bounce a ball a fixed number of times, then report.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/goray-dev/goray/actor"
)

// Ball goes back and forth; Hits counts the trips so far.
type Ball struct{ Hits int }

// Serve tells the pinger to start a rally of n hits and reply when done.
type Serve struct{ N int }

type pinger struct {
	ponger *actor.PID
	goal   int
	done   *actor.PID
}

func (p *pinger) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case Serve:
		p.goal = m.N
		p.done = c.Sender()
		c.Request(p.ponger, Ball{Hits: 1})
	case Ball:
		if m.Hits >= p.goal {
			c.Send(p.done, m.Hits)
			return
		}
		c.Request(p.ponger, Ball{Hits: m.Hits + 1})
	}
}

func ponger(c *actor.Context) {
	if b, ok := c.Message().(Ball); ok {
		c.Respond(Ball{Hits: b.Hits + 1})
	}
}

func main() {
	hits := flag.Int("hits", 100000, "hits in the rally")
	flag.Parse()

	sys := actor.NewSystem()
	pong := sys.Spawn(actor.PropsFromFunc(ponger))
	ping := sys.Spawn(actor.PropsFromProducer(func() actor.Actor { return &pinger{ponger: pong} }))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	total, err := sys.Request(ctx, ping, Serve{N: *hits})
	if err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)
	fmt.Printf("rally over after %d hits\n", total)
	fmt.Printf("round trips: %d in %v (%.0f msgs/s)\n", total.(int)/2, elapsed.Round(time.Millisecond),
		float64(total.(int))/elapsed.Seconds())
	if err := sys.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
}
