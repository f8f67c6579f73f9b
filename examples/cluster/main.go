// Cluster: one binary, three processes. Run without GORAY_ROLE, it is the
// head and the driver: it starts two copies of itself as workers
// (GORAY_ROLE=worker, GORAY_ADDRESS=the head), which join the cluster and
// serve actors. It places four counters on the workers, kills one worker
// with SIGKILL, and shows its counters answering again from the other.
// This is how a goray program runs on several hosts: every host runs the
// same binary, since Go code cannot be shipped.
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/gcs"
)

// Add adds to a counter; the reply is a Total.
type Add struct {
	N int `cbor:"1,keyasint"`
}

// Total is a counter's sum and the node it runs on.
type Total struct {
	Sum  int    `cbor:"1,keyasint"`
	Node string `cbor:"2,keyasint"`
}

type counter struct{ sum int }

func (c *counter) Receive(ctx *actor.Context) {
	if m, ok := ctx.Message().(*Add); ok {
		c.sum += m.N
		ctx.Respond(&Total{Sum: c.sum, Node: ctx.Self().Node})
	}
}

// Registered in every process: the workers host counters, the driver
// sends Add and reads Total across processes.
func init() {
	goray.RegisterActor("counter", func() actor.Actor { return &counter{} })
	goray.RegisterMessage[*Add]("example.Add")
	goray.RegisterMessage[*Total]("example.Total")
}

// slot is a custom resource: each worker offers 4, each counter takes 1.
var slot = map[string]float64{"slot": 1}

func main() {
	quiet := goray.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if os.Getenv(goray.EnvRole) == string(goray.RoleWorker) {
		// Joins the head named by GORAY_ADDRESS, serves until SIGTERM and
		// exits: Init never returns here.
		_, err := goray.Init(ctx, quiet, goray.WithNodeName(os.Getenv("WORKER_NAME")),
			goray.WithResources(map[string]float64{"slot": 4, "CPU": 1}), goray.WithObjectStoreMemory(64<<20))
		log.Fatal(err)
	}

	rt, err := goray.Init(ctx, quiet, goray.AsHead(0, ""), goray.WithResources(map[string]float64{"CPU": 0}),
		goray.WithHealthChecks(200*time.Millisecond, 5), goray.WithObjectStoreMemory(64<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Shutdown(context.Background())

	fmt.Println("head up; starting 2 worker processes of this binary")
	workers := map[string]*exec.Cmd{"worker-1": startWorker(rt, "worker-1"), "worker-2": startWorker(rt, "worker-2")}
	defer stopWorkers(workers)
	waitFor(ctx, func() bool { return len(aliveNodes(ctx, rt)) == 3 })
	fmt.Println("cluster: 3 nodes")

	var counters []*goray.ActorHandle
	placed := map[string]int{}
	for i := range 4 {
		h, err := rt.NewActor(ctx, "counter", goray.Name(fmt.Sprintf("counter-%d", i)), goray.MaxRestarts(1), goray.MaxTaskRetries(1), goray.Resources(slot))
		if err != nil {
			log.Fatal(err)
		}
		counters = append(counters, h)
		placed[ask(ctx, h, 1).Node]++
	}
	fmt.Printf("4 counters placed: %v\n", placed)

	victim := ask(ctx, counters[0], 0).Node
	fmt.Printf("killing %s, the host of counter-0 (SIGKILL)\n", victim)
	_ = workers[victim].Process.Signal(syscall.SIGKILL)
	_ = workers[victim].Wait()
	delete(workers, victim)
	// In flight when its node dies: the call runs again on the restarted
	// counter (MaxTaskRetries 1) once the GCS has moved it.
	t := ask(ctx, counters[0], 10)
	fmt.Printf("counter-0 answered again from %s, as a fresh instance: sum %d\n", t.Node, t.Sum)
	for _, h := range counters {
		placed := ask(ctx, h, 0)
		if placed.Node == victim {
			log.Fatalf("%s still answers from the dead worker", h.Name())
		}
	}
	fmt.Println("all 4 counters answer from the surviving worker")
}

func startWorker(rt *goray.Runtime, name string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), goray.EnvRole+"=worker", goray.EnvAddress+"="+rt.Address(), goray.EnvToken+"="+rt.Token(), "WORKER_NAME="+name)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	return cmd
}

func stopWorkers(workers map[string]*exec.Cmd) {
	for _, w := range workers {
		_ = w.Process.Signal(syscall.SIGTERM)
		if err := w.Wait(); err != nil {
			log.Printf("worker: %v", err)
		}
	}
	fmt.Println("worker stopped cleanly")
}

func ask(ctx context.Context, h *goray.ActorHandle, n int) *Total {
	r, err := h.Ask(ctx, &Add{N: n})
	if err != nil {
		log.Fatal(err)
	}
	return r.(*Total)
}

func aliveNodes(ctx context.Context, rt *goray.Runtime) []gcs.NodeInfo {
	nodes, err := rt.Nodes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return slices.DeleteFunc(nodes, func(n gcs.NodeInfo) bool { return n.State != gcs.NodeAlive })
}

func waitFor(ctx context.Context, cond func() bool) {
	for !cond() {
		select {
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
