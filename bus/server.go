package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// routeUser is the user name routes authenticate with; the password is
// the cluster token.
const routeUser = "goray"

// serverMaxPending is the embedded server's per-client outbound buffer.
const serverMaxPending = 256 << 20

// serverReadyTimeout bounds how long an embedded server may take to start.
const serverReadyTimeout = 10 * time.Second

// startServer starts the node's embedded NATS server.
func startServer(cfg *Config) (*server.Server, error) {
	opts := &server.Options{
		ServerName: cfg.Cluster + "-" + cfg.Node,
		DontListen: cfg.Listen == "",
		NoSigs:     true,
		MaxPayload: int32(cfg.MaxPayload),
		// Room for a few peers' full flow windows in one client's
		// outbound buffer before the server calls it a slow consumer.
		MaxPending:    serverMaxPending,
		Authorization: cfg.Token,
		TLSConfig:     cfg.TLS,
		TLSTimeout:    2,
	}
	listen := cfg.Listen
	if listen == "" && cfg.ClusterListen != "" {
		// nats-server starts routing only once its client listener is up:
		// a routed node gets one on a free loopback port.
		listen = "127.0.0.1:0"
		opts.DontListen = false
	}
	if listen != "" {
		host, port, err := splitAddr(listen)
		if err != nil {
			return nil, configError("Listen: %v", err)
		}
		opts.Host, opts.Port = host, port
		warnIfExposed(cfg, "client", host)
	}
	if cfg.ClusterListen != "" {
		host, port, err := splitAddr(cfg.ClusterListen)
		if err != nil {
			return nil, configError("ClusterListen: %v", err)
		}
		warnIfExposed(cfg, "cluster", host)
		opts.Cluster = server.ClusterOpts{
			Name:           cfg.Cluster,
			Host:           host,
			Port:           port,
			Username:       routeUser,
			Password:       cfg.Token,
			TLSConfig:      cfg.TLS,
			TLSTimeout:     2,
			ConnectRetries: 0,
		}
		for _, r := range cfg.Routes {
			u, err := routeURL(r, cfg.Token)
			if err != nil {
				return nil, err
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS server: %w", err)
	}
	srv.SetLoggerV2(&serverLogger{log: cfg.Logger.With("component", "nats-server")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(serverReadyTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("bus: embedded NATS server not ready after %v (is %q or %q in use?)", serverReadyTimeout, cfg.Listen, cfg.ClusterListen)
	}
	return srv, nil
}

// splitAddr splits host:port; port 0 asks for a free port.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "127.0.0.1" // ":4222" means loopback: other hosts only when asked by name
	}
	return host, port, nil
}

// warnIfExposed logs when a listener is reachable from other hosts
// without TLS: the token then crosses the network in clear.
func warnIfExposed(cfg *Config, what, host string) {
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && cfg.TLS == nil {
		cfg.Logger.Warn("bus: listening beyond loopback without TLS; the cluster token travels in clear", "listener", what, "host", host)
	}
}

// routeURL turns a seed address into a route URL carrying the cluster's
// credentials.
func routeURL(seed, token string) (*url.URL, error) {
	if _, _, err := net.SplitHostPort(seed); err == nil {
		seed = "nats-route://" + seed
	}
	u, err := url.Parse(seed)
	if err != nil || u.Host == "" {
		return nil, configError("route %q is not host:port or nats-route://host:port", seed)
	}
	u.User = url.UserPassword(routeUser, token)
	return u, nil
}

// connect opens the node's NATS connection: in-process to the embedded
// server, or to cfg.URL.
func connect(ctx context.Context, cfg *Config, srv *server.Server, role string, onErr nats.ErrHandler) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("goray " + cfg.Cluster + "/" + cfg.Node + " " + role),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.ErrorHandler(onErr),
		nats.NoCallbacksAfterClientClose(),
		// The bus keeps its own liveness; the client's pings only need to
		// notice a dead TCP link to the server.
		nats.PingInterval(5 * time.Second),
	}
	url := cfg.URL
	if srv != nil {
		url = srv.ClientURL()
		opts = append(opts, nats.InProcessServer(srv))
	}
	switch {
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("bus: nkey seed: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.TLS != nil {
		// Even an in-process connection to a server that requires TLS
		// speaks it.
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(deadline)))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to NATS %s: %w", redact(url), err)
	}
	return nc, nil
}

// redact drops credentials from a URL before it is logged.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("REDACTED")
	return u.String()
}

// serverLogger sends the embedded server's log to slog. Its notices are
// routine (listening, routes), so they go to debug.
type serverLogger struct{ log *slog.Logger }

func (l *serverLogger) Noticef(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.logf(slog.LevelWarn, format, v) }
func (l *serverLogger) Fatalf(format string, v ...any)  { l.logf(slog.LevelError, format, v) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.logf(slog.LevelError, format, v) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.logf(slog.LevelDebug-1, format, v) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.logf(slog.LevelDebug-2, format, v) }

func (l *serverLogger) logf(level slog.Level, format string, v []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}
