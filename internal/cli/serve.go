package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/listen"
	"github.com/appserver-go/appserver/internal/unixsock"
	"github.com/appserver-go/appserver/wstransport"
)

// serveConfig is the serve command's configuration, from flags.
type serveConfig struct {
	listen        listen.URL
	listenSet     bool
	logFormat     string
	logLevel      slog.Level
	shutdownGrace time.Duration
	maxInFlight   int
	maxFrame      int64
	maxMessage    int64
	auth          authFlags
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
)

func (m *Main) serveFlags(cfg *serveConfig) *flagSet {
	fs := newFlagSet("appserver", "[OPTIONS]",
		"Serve the app-server JSON-RPC protocol (the same flags as `codex app-server`).")
	fs.value("listen", "<URL>", "Transport endpoint URL. Supported values: `stdio://` (default), `unix://`, `unix://PATH`,\n`ws://IP:PORT` (port 0 picks a free port), `off`", func(v string) error {
		u, err := listen.Parse(v)
		if err != nil {
			return errors.New("expected " + listen.Forms)
		}
		cfg.listen, cfg.listenSet = u, true
		return nil
	})
	fs.switchFlag("stdio", "Use stdio as the transport (equivalent to `--listen stdio://`)", func() {
		cfg.listen, cfg.listenSet = listen.URL{Kind: listen.Stdio}, true
	})
	cfg.auth.register(fs)
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
	fs.value("shutdown-grace", "<DURATION>", "How long in-flight requests may run after SIGINT/SIGTERM before\nconnections are closed (default 10s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return errors.New("expected a duration such as 10s")
		}
		cfg.shutdownGrace = d
		return nil
	})
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
		listen:        listen.URL{Kind: listen.Stdio},
		logFormat:     "text",
		logLevel:      slog.LevelInfo,
		shutdownGrace: defaultShutdownGrace,
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

	srv := appserver.NewServer(&appserver.ServerOptions{
		Name:        "appserver",
		Version:     Version,
		StateDir:    home,
		Logger:      logger,
		MaxInFlight: cfg.maxInFlight,
	})

	switch cfg.listen.Kind {
	case listen.Stdio:
		return m.serveStdio(ctx, srv, &cfg, logger)
	case listen.Off:
		logger.Info("no listener (--listen off); waiting for a signal")
		<-ctx.Done()
		return nil
	}

	var ln net.Listener
	var banner []string
	switch cfg.listen.Kind {
	case listen.WebSocket:
		ln, err = net.Listen("tcp", cfg.listen.Addr.String())
		if err != nil {
			return err
		}
		addr := ln.Addr().(*net.TCPAddr).AddrPort()
		hostport := net.JoinHostPort(addr.Addr().Unmap().String(), strconv.Itoa(int(addr.Port())))
		banner = []string{
			"appserver (WebSockets)",
			"  listening on: ws://" + hostport,
			"  readyz: http://" + hostport + "/readyz",
			"  healthz: http://" + hostport + "/healthz",
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
		ln, err = unixsock.Listen(path)
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

	handler := wstransport.NewHandler(srv, &wstransport.Options{
		Verifier:        wsAuth.verifier,
		Logger:          logger,
		MaxFrameBytes:   cfg.maxFrame,
		MaxMessageBytes: cfg.maxMessage,
	})
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: defaultReadHeaderTimeout,
		MaxHeaderBytes:    defaultMaxHeaderBytes,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
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
