package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/appserver-go/appserver/jsonrpc"
)

// rpcConn is a client's message stream, whatever the transport.
type rpcConn interface {
	send(ctx context.Context, msg []byte) error
	recv(ctx context.Context) ([]byte, error)
	close() error
}

func (m *Main) rpc(ctx context.Context, args []string) error {
	var tokenFile, tokenEnv, caFile string
	var follow bool
	timeout := 30 * time.Second
	fs := newFlagSet("appserver rpc", "[OPTIONS] URL METHOD [PARAMS_JSON] [-- SERVER_COMMAND...]",
		"Connect to an app-server, initialize, send one request and print the notifications that\n"+
			"arrive before its answer, then the answer, as JSON lines on stdout.\n\n"+
			"URL is ws://HOST:PORT, wss://HOST:PORT, unix://PATH (WebSocket over a unix socket), or\n"+
			"stdio:// to spawn the server command given after `--` and talk to it over stdin/stdout.")
	fs.stringVar(&tokenFile, "token-file", "<PATH>", "Send the bearer token read from this file (trimmed)")
	fs.stringVar(&tokenEnv, "token-env", "<VAR>", "Send the bearer token held in this environment variable")
	fs.stringVar(&caFile, "ca-file", "<PATH>", "Trust the CA certificates in this PEM file for wss:// (for a private CA)")
	fs.switchFlag("follow", "Keep printing notifications after the answer until interrupted", func() { follow = true })
	fs.value("timeout", "<DURATION>", "How long to wait for the connection and the answer (default 30s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("expected a positive duration such as 30s")
		}
		timeout = d
		return nil
	})
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.help {
		fmt.Fprint(m.Stdout, fs.helpText())
		return nil
	}
	if len(fs.args) < 2 || len(fs.args) > 3 {
		return fs.errorf("expected URL METHOD [PARAMS_JSON]")
	}
	rawURL, method := fs.args[0], fs.args[1]
	var params json.RawMessage
	if len(fs.args) == 3 {
		params = json.RawMessage(fs.args[2])
		if !json.Valid(params) {
			return fs.errorf("PARAMS_JSON is not valid JSON: %s", fs.args[2])
		}
	}
	if tokenFile != "" && tokenEnv != "" {
		return fs.errorf("the argument '--token-file <PATH>' cannot be used with '--token-env <VAR>'")
	}
	token := ""
	switch {
	case tokenFile != "":
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("reading the token file: %w", err)
		}
		token = strings.Trim(string(b), " \t\r\n")
	case tokenEnv != "":
		token = strings.TrimSpace(m.Getenv(tokenEnv))
		if token == "" {
			return fmt.Errorf("environment variable %s is empty or unset", tokenEnv)
		}
	}

	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := m.dialRPC(dctx, rawURL, token, caFile, fs.rest)
	if err != nil {
		return err
	}
	defer conn.close()

	out := bufio.NewWriter(m.Stdout)
	defer out.Flush()
	initParams := json.RawMessage(fmt.Sprintf(`{"clientInfo":{"name":"appserver-rpc","title":null,"version":%q},"capabilities":{"experimentalApi":true}}`, Version))
	if method == "initialize" && params == nil {
		params = initParams
	}
	if method != "initialize" {
		init, _ := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: jsonrpc.Int64ID(0), Method: "initialize", Params: initParams})
		resp, err := roundTrip(dctx, conn, init, jsonrpc.Int64ID(0), out)
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return fmt.Errorf("initialize failed: %s (code %d)", resp.Error.Message, resp.Error.Code)
		}
	}
	req, err := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: jsonrpc.Int64ID(1), Method: method, Params: params})
	if err != nil {
		return err
	}
	resp, err := roundTrip(dctx, conn, req, jsonrpc.Int64ID(1), out)
	if err != nil {
		return err
	}
	line, _ := jsonrpc.EncodeMessage(resp)
	out.Write(append(line, '\n'))
	out.Flush()
	if follow {
		for {
			msg, err := conn.recv(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("connection ended: %w", err)
			}
			out.Write(append(msg, '\n'))
			out.Flush()
		}
	}
	if resp.Error != nil {
		return fmt.Errorf("%s (code %d)", resp.Error.Message, resp.Error.Code)
	}
	return nil
}

// roundTrip sends req and returns the response with id, printing every
// other message that arrives meanwhile.
func roundTrip(ctx context.Context, c rpcConn, req []byte, id jsonrpc.ID, out *bufio.Writer) (*jsonrpc.Response, error) {
	if err := c.send(ctx, req); err != nil {
		return nil, fmt.Errorf("sending: %w", err)
	}
	for {
		msg, err := c.recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no answer: %w", ctx.Err())
			}
			return nil, fmt.Errorf("connection ended before the answer: %w", err)
		}
		if m, err := jsonrpc.DecodeMessage(msg); err == nil {
			if r, ok := m.(*jsonrpc.Response); ok && r.ID == id {
				return r, nil
			}
		}
		out.Write(append(msg, '\n'))
		out.Flush()
	}
}

func (m *Main) dialRPC(ctx context.Context, rawURL, token, caFile string, command []string) (rpcConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "stdio":
		if len(command) == 0 {
			return nil, &usageError{msg: "error: stdio:// needs the server command after `--`", usage: "Usage: appserver rpc stdio:// METHOD [PARAMS_JSON] -- appserver --listen stdio://"}
		}
		return startStdio(command, m.Stderr)
	case "ws", "wss", "unix":
	default:
		return nil, fmt.Errorf("unsupported URL %q: expected ws://, wss://, unix:// or stdio://", rawURL)
	}
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	dialURL := rawURL
	if caFile != "" {
		if u.Scheme != "wss" {
			return nil, errors.New("--ca-file is for wss:// URLs")
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", caFile)
		}
		opts.HTTPClient = &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}}
	}
	if u.Scheme == "unix" {
		path := strings.TrimPrefix(rawURL, "unix://")
		if path == "" {
			// As the server's `--listen unix://`: its default socket.
			home, err := stateDir(m.Getenv)
			if err != nil {
				return nil, err
			}
			path = filepath.Join(home, "run", "appserver.sock")
		}
		opts.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		}}
		dialURL = "ws://localhost/"
	}
	if token != "" {
		if u.Scheme == "ws" && !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("refusing to send a bearer token over ws:// to non-loopback host %s: anyone on the path could read it; use wss:// or an SSH tunnel", u.Hostname())
		}
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.Dial(ctx, dialURL, opts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			msg := strings.TrimSpace(string(body))
			if msg == "" {
				msg = http.StatusText(resp.StatusCode)
			}
			return nil, fmt.Errorf("failed to connect to %s: HTTP %d: %s", rawURL, resp.StatusCode, msg)
		}
		return nil, fmt.Errorf("failed to connect to %s: %w", rawURL, err)
	}
	c.SetReadLimit(64 << 20)
	return &wsRPC{c: c}, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

type wsRPC struct{ c *websocket.Conn }

func (w *wsRPC) send(ctx context.Context, msg []byte) error {
	return w.c.Write(ctx, websocket.MessageText, msg)
}

func (w *wsRPC) recv(ctx context.Context) ([]byte, error) {
	for {
		typ, b, err := w.c.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ == websocket.MessageText {
			return b, nil
		}
	}
}

func (w *wsRPC) close() error { return w.c.Close(websocket.StatusNormalClosure, "") }

// stdioRPC talks to a child server over its stdin and stdout.
type stdioRPC struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan []byte
	errc  chan error
	done  chan struct{}
}

func startStdio(argv []string, stderr io.Writer) (*stdioRPC, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the server: %w", err)
	}
	s := &stdioRPC{cmd: cmd, in: in, lines: make(chan []byte, 16), errc: make(chan error, 1), done: make(chan struct{})}
	go func() {
		br := bufio.NewReaderSize(outp, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				select {
				case s.lines <- []byte(strings.TrimSpace(string(line))):
				case <-s.done:
					return
				}
			}
			if err != nil {
				s.errc <- err
				return
			}
		}
	}()
	return s, nil
}

func (s *stdioRPC) send(_ context.Context, msg []byte) error {
	_, err := s.in.Write(append(msg, '\n'))
	return err
}

func (s *stdioRPC) recv(ctx context.Context) ([]byte, error) {
	select {
	case l := <-s.lines:
		return l, nil
	case err := <-s.errc:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *stdioRPC) close() error {
	close(s.done)
	_ = s.in.Close() // EOF: the server shuts down
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		return <-done
	}
}
