// Supervision: a worker that crashes is restarted by its supervisor up to
// max_retries times; one crash more and the supervisor gives up, stops it
// and escalates the failure to its own parent, the top-level "service",
// which restarts the supervisor and with it a fresh worker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/supervisor"
)

// Work is a job for the worker; Crash makes it panic.
type Work struct {
	ID    int
	Crash bool
}

// errBadInput is what the worker panics with.
var errBadInput = errors.New("bad input")

type worker struct{ instance int }

var (
	instances int
	// started tells main that a worker instance is up, so that the story
	// prints in the same order every run.
	started = make(chan int, 16)
)

func (w *worker) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		instances++
		w.instance = instances
		fmt.Printf("worker: instance %d started\n", w.instance)
		started <- w.instance
	case Work:
		if m.Crash {
			fmt.Printf("worker: job %d crashes instance %d\n", m.ID, w.instance)
			panic(fmt.Errorf("job %d: %w", m.ID, errBadInput))
		}
		fmt.Printf("worker: job %d done by instance %d\n", m.ID, w.instance)
		c.Respond(m.ID)
	}
}

// supervisorActor owns the worker and forwards jobs to it.
type supervisorActor struct{ worker *actor.PID }

func (s *supervisorActor) Receive(c *actor.Context) {
	switch c.Message().(type) {
	case actor.Started:
		s.worker, _ = c.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &worker{} }), "worker")
	case actor.Restarting:
		fmt.Println("supervisor: restarting (its worker is stopped first)")
	case Work:
		c.Forward(s.worker)
	}
}

// service is the top-level actor: it restarts its supervisor subtree on
// any escalated failure.
type service struct{ sup *actor.PID }

func (s *service) Receive(c *actor.Context) {
	switch c.Message().(type) {
	case actor.Started:
		s.sup, _ = c.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &supervisorActor{} },
			actor.WithSupervisor(supervisor.OneForOne(
				supervisor.MaxRetries(*maxRetries),
				supervisor.Within(time.Minute),
				supervisor.WithBackoff(supervisor.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: 0.2}),
			))), "supervisor")
	case Work:
		c.Forward(s.sup)
	}
}

var maxRetries = flag.Int("max-retries", 2, "restarts the supervisor allows its worker within a minute")

func main() {
	flag.Parse()
	sys := actor.NewSystem(actor.WithLogger(slog.New(slog.DiscardHandler)))
	actor.Subscribe(sys.EventStream(), func(e actor.SupervisionDecided) {
		if e.LimitExceeded {
			fmt.Printf("supervision: %s exceeded max_retries=%d: stopped, failure escalated\n", e.Child.ID, *maxRetries)
			return
		}
		fmt.Printf("supervision: %s failed (%v) → %v\n", e.Child.ID, e.Reason, e.Directive)
	})
	svc, err := sys.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &service{} },
		actor.WithSupervisor(supervisor.OneForOne())), "service")
	if err != nil {
		log.Fatal(err)
	}
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	jobs := []Work{{ID: 1}, {ID: 2, Crash: true}, {ID: 3}, {ID: 4, Crash: true}, {ID: 5, Crash: true}, {ID: 6}}
	for _, job := range jobs {
		if job.Crash {
			sys.Send(svc, job)
			<-started // wait for the replacement worker
			continue
		}
		// Requests wait out restarts: messages queue in the mailbox.
		if _, err := sys.Request(ctx, svc, job); err != nil {
			log.Fatal(err)
		}
	}
	if err := sys.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("done")
}
