package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/connlimit"
	"github.com/appserver-go/appserver/internal/listen"
	"github.com/appserver-go/appserver/internal/metrics"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/internal/unixsock"
	"github.com/appserver-go/appserver/wstransport"
)

// serveConfig is the serve command's configuration, from flags.
type serveConfig struct {
	listen        listen.URL
	logFormat     string
	logLevel      slog.Level
	shutdownGrace time.Duration
	maxInFlight   int
	maxFrame      int64
	maxMessage    int64
	auth          authFlags

	// Hardening of the WebSocket boundary.
	allowedHosts      []string
	failureBurst      int
	failureInterval   time.Duration
	readHeaderTimeout time.Duration
	maxHeaderBytes    int
	maxPending        int64
	maxPendingPerAddr int64
	maxConns          int64
	pingInterval      time.Duration
	closeOnRotate     bool
	maxTokenLifetime  time.Duration
	tlsCert, tlsKey   string
	metrics           bool

	// The workspace and the agent.
	overrides      []string // -c key=value
	workspaceRoots []string
}

// Defaults of the serve command.
const (
	defaultShutdownGrace = 10 * time.Second
	// defaultMaxHeaderBytes admits a 64 KiB bearer token or a ~100 KB JWT,
	// as the reference does, and answers 431 to megabyte headers.
	defaultMaxHeaderBytes = 128 << 10
	// defaultReadHeaderTimeout closes connections that trickle their
	// request headers (slowloris), which the reference holds forever.
	defaultReadHeaderTimeout = 10 * time.Second
	defaultMaxPending        = 256
	defaultMaxPendingPerAddr = 32
	defaultMaxConnections    = 4096
	defaultPingInterval      = 30 * time.Second
	// idleTimeout closes HTTP keep-alive connections (health probes) that
	// sit idle, so they do not hold a pending-connection slot.
	idleTimeout = 30 * time.Second
)

func positiveInt(p *int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return errors.New("expected a positive integer")
		}
		*p = n
		return nil
	}
}

func duration(p *time.Duration, allowZero bool) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (d == 0 && !allowZero) {
			return errors.New("expected a duration such as 10s")
		}
		*p = d
		return nil
	}
}

func (m *Main) serveFlags(cfg *serveConfig) *flagSet {
	fs := newFlagSet("appserver", "[OPTIONS]",
		"Serve the app-server JSON-RPC protocol (the same flags as `codex app-server`).")
	fs.value("listen", "<URL>", "Transport endpoint URL. Supported values: `stdio://` (default), `unix://`, `unix://PATH`,\n`ws://IP:PORT`, `wss://IP:PORT` (with --tls-cert and --tls-key), `off`. Port 0 picks a free port", func(v string) error {
		u, err := listen.Parse(v)
		if err != nil {
			return errors.New("expected " + listen.Forms)
		}
		cfg.listen = u
		return nil
	})
	fs.switchFlag("stdio", "Use stdio as the transport (equivalent to `--listen stdio://`)", func() {
		cfg.listen = listen.URL{Kind: listen.Stdio}
	})
	fs.repeatedShort("config", 'c', "<key=value>", "Override a configuration value that would otherwise be loaded from\n`$APPSERVER_HOME/config.toml`. Use a dotted path (`foo.bar.baz`); the value is parsed as\nTOML, or taken as a string if it does not parse (repeatable)", func(v string) error {
		cfg.overrides = append(cfg.overrides, v)
		return nil
	})
	fs.repeated("workspace-root", "<DIR>", "Confine fs/* paths, command working directories and sandbox writable roots to this\ndirectory (repeatable; symlinks are resolved). dangerFullAccess is then refused", func(v string) error {
		if v == "" {
			return errors.New("expected a directory")
		}
		cfg.workspaceRoots = append(cfg.workspaceRoots, v)
		return nil
	})
	cfg.auth.register(fs)
	fs.value("tls-cert", "<PATH>", "Certificate chain (PEM) for a wss:// listener; reloaded on SIGHUP and when the file changes", func(v string) error {
		cfg.tlsCert = v
		return nil
	})
	fs.value("tls-key", "<PATH>", "Private key (PEM) for a wss:// listener", func(v string) error {
		cfg.tlsKey = v
		return nil
	})
	fs.repeated("ws-allowed-host", "<NAME>", "Also accept this Host on a loopback listener (a reverse proxy's or Tailscale Serve's\nname; exact match, repeatable). Other non-loopback names get 403 (DNS-rebinding defence)", func(v string) error {
		if v == "" || strings.ContainsAny(v, " /\t") {
			return errors.New("expected a host name, optionally with :PORT")
		}
		cfg.allowedHosts = append(cfg.allowedHosts, v)
		return nil
	})
	fs.value("ws-auth-failure-burst", "<N>", "Failed authentications allowed per client address before 429 (default 10; 0 disables)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("expected a non-negative integer")
		}
		cfg.failureBurst = n
		return nil
	})
	fs.value("ws-auth-failure-interval", "<DURATION>", "How often a limited address may try once more (default 10s)", duration(&cfg.failureInterval, false))
	fs.value("ws-read-header-timeout", "<DURATION>", "Time a client has to send its request headers, TLS handshake included (default 10s)", duration(&cfg.readHeaderTimeout, false))
	fs.value("ws-max-header-bytes", "<BYTES>", "Largest request header block; larger gets 431 (default 131072)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4096 {
			return errors.New("expected a number of bytes, at least 4096")
		}
		cfg.maxHeaderBytes = n
		return nil
	})
	fs.value("ws-max-pending-connections", "<N>", "Connections that have not finished their upgrade; more are answered 503 (default 256)", positiveInt(&cfg.maxPending))
	fs.value("ws-max-pending-per-address", "<N>", "Pending connections from one client address (IPv4, or IPv6 /64); more are answered\n503 (default 32)", positiveInt(&cfg.maxPendingPerAddr))
	fs.value("max-connections", "<N>", "Open connections, upgraded or not; more are answered 503 (default 4096)", positiveInt(&cfg.maxConns))
	fs.value("ws-ping-interval", "<DURATION>", "Ping clients this often and close those silent for two intervals (default 30s; 0 disables)", duration(&cfg.pingInterval, true))
	fs.switchFlag("ws-close-on-rotate", "When the token or secret file changes (or on SIGHUP), close the sessions authenticated\nwith the old credential", func() { cfg.closeOnRotate = true })
	fs.value("ws-max-token-lifetime", "<DURATION>", "Refuse signed JWTs whose lifetime (exp - iat, or exp - now) exceeds this", duration(&cfg.maxTokenLifetime, false))
	fs.switchFlag("metrics", "Serve Prometheus metrics at /metrics on the WebSocket listener (same Host, Origin and\nauth rules as an upgrade)", func() { cfg.metrics = true })
	fs.value("log-format", "<FORMAT>", "Log format on stderr: text (default) or json", func(v string) error {
		if v != "text" && v != "json" {
			return errors.New("expected text or json")
		}
		cfg.logFormat = v
		return nil
	})
	fs.value("log-level", "<LEVEL>", "Log level: debug, info (default), warn or error", func(v string) error {
		return cfg.logLevel.UnmarshalText([]byte(v))
	})
	fs.value("shutdown-grace", "<DURATION>", "How long in-flight requests may run after SIGINT/SIGTERM before\nconnections are closed (default 10s)", duration(&cfg.shutdownGrace, true))
	fs.value("max-in-flight", "<N>", fmt.Sprintf("Requests one connection may have running; more are answered -32001\n(default %d)", appserver.DefaultMaxInFlight), func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("expected a positive integer")
		}
		cfg.maxInFlight = n
		return nil
	})
	fs.value("max-message-bytes", "<BYTES>", "Largest message a client may send (default 67108864, 64 MiB)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 {
			return errors.New("expected a number of bytes, at least 1024")
		}
		cfg.maxMessage = n
		return nil
	})
	fs.value("max-frame-bytes", "<BYTES>", "Largest WebSocket frame a client may send (default 16777216, 16 MiB)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 {
			return errors.New("expected a number of bytes, at least 1024")
		}
		cfg.maxFrame = n
		return nil
	})
	return fs
}

func (m *Main) serve(ctx context.Context, args []string) error {
	cfg := serveConfig{
		listen:            listen.URL{Kind: listen.Stdio},
		logFormat:         "text",
		logLevel:          slog.LevelInfo,
		shutdownGrace:     defaultShutdownGrace,
		failureBurst:      wstransport.DefaultFailureBurst,
		failureInterval:   wstransport.DefaultFailureInterval,
		readHeaderTimeout: defaultReadHeaderTimeout,
		maxHeaderBytes:    defaultMaxHeaderBytes,
		maxPending:        defaultMaxPending,
		maxPendingPerAddr: defaultMaxPendingPerAddr,
		maxConns:          defaultMaxConnections,
		pingInterval:      defaultPingInterval,
	}
	fs := m.serveFlags(&cfg)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.help {
		fmt.Fprint(m.Stdout, fs.helpText())
		return nil
	}
	if len(fs.args) > 0 || len(fs.rest) > 0 {
		return fs.errorf("unexpected argument '%s' found", append(fs.args, fs.rest...)[0])
	}
	logger := m.newLogger(cfg.logFormat, cfg.logLevel)

	home, err := stateDir(m.Getenv)
	if err != nil {
		return err
	}
	wsAuth, err := cfg.auth.build(m, &cfg, logger)
	if err != nil {
		return err
	}
	var certs *certHolder
	switch {
	case cfg.listen.TLS && (cfg.tlsCert == "" || cfg.tlsKey == ""):
		return errors.New("`--tls-cert` and `--tls-key` are required with a wss:// listener")
	case !cfg.listen.TLS && (cfg.tlsCert != "" || cfg.tlsKey != ""):
		return errors.New("`--tls-cert` and `--tls-key` need a wss:// listener (--listen wss://IP:PORT)")
	case cfg.listen.TLS:
		if certs, err = newCertHolder(cfg.tlsCert, cfg.tlsKey); err != nil {
			return err
		}
	}

	conf, err := config.Load(home, cfg.overrides)
	if err != nil {
		return err
	}
	for _, w := range conf.Warnings {
		logger.Warn(w, "file", filepath.Join(home, "config.toml"))
	}
	guard, err := pathguard.New(cfg.workspaceRoots)
	if err != nil {
		return fmt.Errorf("--workspace-root: %w", err)
	}

	var met *metrics.Metrics
	srv := appserver.NewServer(&appserver.ServerOptions{
		Name:            "appserver",
		Version:         Version,
		ProtocolVersion: ProtocolVersion,
		StateDir:        home,
		Logger:          logger,
		MaxInFlight:     cfg.maxInFlight,
		OnRequestDone: func(method string, code int64) {
			if met != nil {
				met.RequestDone(method, code)
			}
		},
	})
	helper := findHelper(logger)
	defer helper.Close()
	private := append([]string{home, cfg.tlsKey}, wsAuth.files...)
	if cfg.listen.Kind == listen.Unix {
		private = append(private, cfg.listen.Path)
	}
	var iso *sandbox.Isolation
	if helper.Standalone || m.SelfHelper {
		iso = isolation(helper.Path, private, guard, logger)
	}
	if err := registerWorkspace(srv, &conf.Config, guard, helper.Path, iso, logger); err != nil {
		return err
	}
	engine, store, err := registerAgent(srv, conf, guard, home, helper.Path, iso, m.Getenv, logger)
	if err != nil {
		return err
	}
	defer func() {
		engine.Shutdown()
		if err := store.Close(); err != nil {
			logger.Error("closing the thread store", "err", err)
		}
	}()
	if cfg.metrics {
		if cfg.listen.Kind != listen.WebSocket && cfg.listen.Kind != listen.Unix {
			return errors.New("`--metrics` needs a WebSocket or unix listener to serve /metrics on")
		}
		met = metrics.New(srv)
	}

	switch cfg.listen.Kind {
	case listen.Stdio:
		return m.serveStdio(ctx, srv, &cfg, logger)
	case listen.Off:
		logger.Info("no listener (--listen off); waiting for a signal")
		<-ctx.Done()
		return nil
	}

	var raw net.Listener
	var banner []string
	switch cfg.listen.Kind {
	case listen.WebSocket:
		// An IPv4 address binds IPv4 only: Go would otherwise open a
		// dual-stack socket for 0.0.0.0 and accept [::1] too.
		network := "tcp"
		if cfg.listen.Addr.Addr().Is4() {
			network = "tcp4"
		}
		raw, err = net.Listen(network, cfg.listen.Addr.String())
		if err != nil {
			return err
		}
		addr := raw.Addr().(*net.TCPAddr).AddrPort()
		host := addr.Addr()
		if cfg.listen.Addr.Addr().Is4() {
			host = host.Unmap()
		}
		hostport := net.JoinHostPort(host.String(), strconv.Itoa(int(addr.Port())))
		ws, web := "ws://", "http://"
		if cfg.listen.TLS {
			ws, web = "wss://", "https://"
		}
		banner = []string{
			"appserver (WebSockets)",
			"  listening on: " + ws + hostport,
			"  readyz: " + web + hostport + "/readyz",
			"  healthz: " + web + hostport + "/healthz",
		}
		if cfg.metrics {
			banner = append(banner, "  metrics: "+web+hostport+"/metrics")
		}
		if cfg.listen.IsLoopback() {
			banner = append(banner, "  note: binds localhost only (use SSH port-forwarding for remote access)")
		}
		banner = append(banner, wsAuth.bannerLines(cfg.listen.IsLoopback())...)
	case listen.Unix:
		path := cfg.listen.Path
		if path == "" {
			dir := filepath.Join(home, "run")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			path = filepath.Join(dir, "appserver.sock")
		} else if path, err = filepath.Abs(path); err != nil {
			return err
		}
		raw, err = unixsock.Listen(path)
		if err != nil {
			return err
		}
		banner = []string{
			"appserver (WebSockets)",
			"  listening on: unix://" + path,
			"  note: the socket is private to this user (mode 0600)",
		}
		banner = append(banner, wsAuth.bannerLines(true)...)
	}

	wopts := &wstransport.Options{
		Verifier:        wsAuth.verifier,
		CloseOnRotate:   cfg.closeOnRotate,
		ExpirySkew:      wsAuth.skew,
		CheckHost:       cfg.listen.Kind == listen.WebSocket && cfg.listen.IsLoopback(),
		AllowedHosts:    cfg.allowedHosts,
		FailureLimit:    wstransport.FailureLimit{Burst: cfg.failureBurst, Interval: cfg.failureInterval},
		Logger:          logger,
		MaxFrameBytes:   cfg.maxFrame,
		MaxMessageBytes: cfg.maxMessage,
		PingInterval:    cfg.pingInterval,
	}
	limited := &connlimit.Listener{Listener: raw, MaxConns: cfg.maxConns, MaxPending: cfg.maxPending, MaxPendingPerAddr: cfg.maxPendingPerAddr}
	if met != nil {
		wopts.Metrics = met.Handler()
		wopts.OnDecision = met.Upgrade
	}
	limited.OnReject = func(reason string) {
		if met != nil {
			met.Refused(reason)
		}
		logger.Debug("connection refused", "reason", reason)
	}
	handler := wstransport.NewHandler(srv, wopts)
	var ln net.Listener = limited
	if certs != nil {
		ln = tls.NewListener(limited, &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: certs.get,
			NextProtos:     []string{"http/1.1"},
		})
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		// No route takes a body, but net/http reads (and drops) up to
		// 256 KiB of an unread one after answering: without a whole-
		// request deadline a client that declares a body and never sends
		// it holds its connection forever. An upgraded connection clears
		// its deadlines when it is taken over.
		ReadTimeout:    cfg.readHeaderTimeout,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: cfg.maxHeaderBytes,
		ErrorLog:       log.New(slogWriter{logger}, "", 0),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateHijacked {
				if tc, ok := c.(*tls.Conn); ok {
					c = tc.NetConn()
				}
				connlimit.Upgraded(c)
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	go releaseMemoryWhenIdle(ctx, srv)

	rl := &reloader{m: m, cfg: &cfg, logger: logger, handler: handler, certs: certs, current: wsAuth.identity}
	stopReload, err := rl.start(ctx)
	if err != nil {
		_ = hs.Close()
		return err
	}
	defer stopReload()

	fmt.Fprintln(m.Stderr, strings.Join(banner, "\n"))
	if m.ready != nil {
		m.ready(strings.TrimPrefix(banner[1], "  listening on: "))
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	logger.Info("shutting down", "grace", cfg.shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownGrace)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown grace period ended with requests still running", "err", err)
	}
	return nil
}

// releaseMemoryWhenIdle returns freed memory to the OS once the last
// client has gone. After a burst of load the Go runtime keeps freed pages
// for reuse and gives them back only slowly, so a daemon that sits idle
// between bursts would otherwise hold its peak for minutes.
func releaseMemoryWhenIdle(ctx context.Context, srv *appserver.Server) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	busy := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := srv.NumSessions()
		if busy && n == 0 {
			debug.FreeOSMemory()
		}
		busy = n > 0
	}
}

// serveStdio serves one session on stdin/stdout until stdin ends or a
// signal arrives.
func (m *Main) serveStdio(ctx context.Context, srv *appserver.Server, cfg *serveConfig, logger *slog.Logger) error {
	conn := appserver.NewLineConnection(m.Stdin, m.Stdout, &appserver.LineOptions{MaxMessageBytes: int(cfg.maxMessage)})
	ss, err := srv.Connect(ctx, conn)
	if err != nil {
		return err
	}
	select {
	case <-ss.Done():
		// EOF on stdin: finish what is running, then exit.
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown grace period ended with requests still running", "err", err)
	}
	return nil
}

// stateDir returns $APPSERVER_HOME, or ~/.appserver, as an absolute path,
// creating it owner-only if needed.
func stateDir(getenv func(string) string) (string, error) {
	dir := getenv("APPSERVER_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("cannot find the state directory: set APPSERVER_HOME or HOME")
			}
		}
		dir = filepath.Join(home, ".appserver")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the state directory: %w", err)
	}
	return dir, nil
}

func (m *Main) newLogger(format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(m.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(m.Stderr, opts))
}

// slogWriter sends net/http's own error log (TLS handshake errors, bad
// requests) to the structured log at debug level.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = slogWriter{}
