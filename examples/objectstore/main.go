// Command objectstore shows a node's shared-memory object store used by
// two OS processes: the "node" process opens the store, puts a 64 MiB
// value, and starts this same program again as a "worker" process of the
// node. The worker joins the node's bus, connects to the store, and reads
// the value in place: its view lies in its own mapping of the arena, and
// its private memory does not grow by the size of the value.
//
// Run it with:
//
//	go run ./examples/objectstore
//
// The arena lives in /dev/shm (128 MiB here); the worker reaches the node's
// NATS on 127.0.0.1 with the cluster token.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/plasma"
)

const valueSize = 64 << 20

func main() {
	role := flag.String("role", "node", "node or worker")
	url := flag.String("url", "", "worker: the node's NATS address")
	object := flag.String("object", "", "worker: the id of the object to read")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	if *role == "worker" {
		err = worker(*url, os.Getenv("GORAY_TOKEN"), *object, log)
	} else {
		err = node(log)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, *role+":", err)
		os.Exit(1)
	}
}

// node opens the store, puts the value and runs the worker process.
func node(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spill, err := os.MkdirTemp("", "goray-objectstore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spill)
	store, err := plasma.Open(plasma.Config{Name: "node", Capacity: 128 << 20, SpillDir: spill, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()

	sys := actor.NewSystem(actor.WithNode("node"), actor.WithLogger(log))
	if _, err := store.Serve(sys); err != nil {
		return err
	}
	bnode, err := bus.Start(ctx, sys, bus.Config{Cluster: "objectstore-example", Listen: "127.0.0.1:0", Token: bus.NewToken(), Logger: log})
	if err != nil {
		return err
	}
	defer closeNode(sys, bnode)

	c, err := store.Client()
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var id plasma.ObjectID
	copy(id[:], "example-value")
	// Written in place: Create hands out the object's memory in the arena.
	buf, err := c.Create(ctx, id, valueSize, plasma.Pinned())
	if err != nil {
		return err
	}
	for i := range buf.Data {
		buf.Data[i] = byte(i * 7)
	}
	sum := xxhash.Sum64(buf.Data)
	if err := buf.Seal(ctx); err != nil {
		return err
	}
	fmt.Printf("node: put %d MiB, checksum %016x\n", valueSize>>20, sum)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "worker", "-url", bnode.ClientURL(), "-object", id.String())
	// The token goes by environment, not on a command line others can read.
	cmd.Env = append(os.Environ(), "GORAY_TOKEN="+bnode.Token())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("worker process: %w", err)
	}

	st, err := c.Stats(ctx, false)
	if err != nil {
		return err
	}
	fmt.Printf("node: worker done; the store holds %d object, %d MiB\n", st.Objects, st.Used>>20)
	return c.Delete(ctx, id)
}

// worker joins the node's bus as a client, connects to its store and
// reads the value in place.
func worker(url, token, object string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := plasma.ParseObjectID(object)
	if err != nil {
		return err
	}
	sys := actor.NewSystem(actor.WithNode("worker"), actor.WithLogger(log))
	bnode, err := bus.Start(ctx, sys, bus.Config{Cluster: "objectstore-example", URL: url, Token: token, Logger: log})
	if err != nil {
		return err
	}
	defer closeNode(sys, bnode)
	if err := bnode.WaitForNode(ctx, "node"); err != nil {
		return err
	}
	c, err := plasma.Connect(ctx, sys, "node")
	if err != nil {
		return err
	}
	defer c.Close(ctx)

	before := privateMemory()
	view, err := c.GetOne(ctx, id, time.Second)
	if err != nil {
		return err
	}
	sum := xxhash.Sum64(view.Data())
	grew := privateMemory() - before
	fmt.Printf("worker: read %d MiB in place, checksum %016x\n", len(view.Data())>>20, sum)
	fmt.Printf("worker: view inside the arena mapping: %v; private memory grew by less than 1 MiB: %v\n",
		c.Arena().Contains(view.Data()), grew < 1<<20)
	return view.Release()
}

// privateMemory is this process's resident anonymous memory (RssAnon):
// a copy of the value would show here, a shared mapping does not.
func privateMemory() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func closeNode(sys *actor.System, node *bus.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sys.Shutdown(ctx)
	_ = node.Close(ctx)
}
