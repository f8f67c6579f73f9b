// Command busnode is one goray node for the bus package's multi-process
// tests and benchmarks: an actor system joined to the bus, serving the
// bustest actors under fixed names (echo, sink, stats, watcher), and
// optionally running a client role against a peer.
//
// It prints one line "READY <json>" once it is up, with its node name and
// URLs, then serves until SIGTERM or SIGINT (or until its -run role ends).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
	"github.com/goray-dev/goray/bus/internal/bustest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "busnode:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg    bus.Config
		routes string
		role   = flag.String("run", "", "client role after start: pingpong, request")
		peer   = flag.String("peer", "", "peer node of the role")
		count  = flag.Int("n", 100, "requests the role makes")
		wait   = flag.Duration("wait", 20*time.Second, "how long the role waits for its peer")
		debug  = flag.Bool("debug", false, "log at debug level")
		prof   = flag.String("cpuprofile", "", "write a CPU profile to this file")
	)
	flag.StringVar(&cfg.Node, "node", "", "node name")
	flag.StringVar(&cfg.Cluster, "cluster", "test", "cluster name")
	flag.StringVar(&cfg.Listen, "listen", "", "client listen address")
	flag.StringVar(&cfg.ClusterListen, "cluster-listen", "", "route listen address")
	flag.StringVar(&routes, "routes", "", "comma-separated seed routes")
	flag.StringVar(&cfg.TokenFile, "token-file", "", "cluster token file")
	flag.StringVar(&cfg.URL, "url", "", "external NATS URL")
	flag.DurationVar(&cfg.HeartbeatInterval, "heartbeat", 0, "heartbeat interval")
	flag.DurationVar(&cfg.NodeTimeout, "node-timeout", 0, "node timeout")
	flag.Parse()
	if routes != "" {
		cfg.Routes = strings.Split(routes, ",")
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sys := actor.NewSystem(actor.WithNode(cfg.Node), actor.WithLogger(cfg.Logger))
	// The served actors exist before the node joins: a peer may ask them
	// as soon as it hears this node's first heartbeat.
	for name, props := range map[string]*actor.Props{
		"echo":    actor.PropsFromFunc(bustest.Echo),
		"sink":    actor.PropsFromProducer(func() actor.Actor { return &bustest.Sink{} }),
		"watcher": actor.PropsFromProducer(func() actor.Actor { return &bustest.Watcher{} }),
	} {
		if _, err := sys.SpawnNamed(props, name); err != nil {
			return err
		}
	}
	node, err := bus.Start(ctx, sys, cfg)
	if err != nil {
		return err
	}
	defer shutdown(sys, node)
	if _, err := sys.SpawnNamed(actor.PropsFromFunc(bustest.StatsServer(node)), "stats"); err != nil {
		return err
	}
	// A bare NATS responder on the same connection, so benchmarks can put
	// goray's request-reply next to NATS's own.
	if _, err := node.Conn().Subscribe(bustest.BareEchoSubject(node.Name()), func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	ready, _ := json.Marshal(map[string]string{
		"node": node.Name(), "client_url": node.ClientURL(), "cluster_url": node.ClusterURL(),
	})
	fmt.Printf("READY %s\n", ready)

	switch *role {
	case "":
		<-ctx.Done()
		return nil
	case "pingpong", "request":
		return pingPong(ctx, sys, node, *peer, *count, *wait)
	}
	return fmt.Errorf("unknown role %q", *role)
}

// pingPong waits for peer, then asks its echo actor count times and checks
// every answer.
func pingPong(ctx context.Context, sys *actor.System, node *bus.Node, peer string, count int, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := node.WaitForNode(wctx, peer); err != nil {
		return err
	}
	echo := &actor.PID{Node: peer, ID: "echo"}
	start := time.Now()
	for i := range count {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := sys.Request(rctx, echo, &bustest.Ping{N: i})
		cancel()
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		if p, ok := res.(bustest.Pong); !ok || p.N != i+1 {
			return fmt.Errorf("request %d: got %#v", i, res)
		}
	}
	fmt.Printf("PINGPONG ok n=%d from=%s to=%s avg=%v\n", count, node.Name(), peer, time.Since(start)/time.Duration(max(count, 1)))
	return nil
}

func shutdown(sys *actor.System, node *bus.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sys.Shutdown(ctx)
	_ = node.Close(ctx)
}
