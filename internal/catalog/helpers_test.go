package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/catalog"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/testutil"
	"github.com/appserver-go/appserver/jsonrpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTimeout = 5 * time.Second

// mockConfig is the offline configuration of PROTOCOL.md §5.
const mockConfig = `
model = "mock-model"
model_provider = "mock"
approval_policy = "on-request"
sandbox_mode = "read-only"

[model_providers.mock]
name = "Mock"
base_url = "http://127.0.0.1:4840/v1"
wire_api = "responses"
requires_openai_auth = false
env_key = "MOCK_KEY"
`

type envOptions struct {
	toml      string
	overrides []string
	vars      map[string]string
	lookup    func(string) (string, bool)
	home      string // reuse a state directory
}

type env struct {
	t    *testing.T
	srv  *appserver.Server
	cat  *catalog.Catalog
	home string
	logs *testutil.SyncBuffer
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	home := o.home
	if home == "" {
		home = t.TempDir()
	}
	if o.toml != "" {
		if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(o.toml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := config.Load(home, o.overrides)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	logs := &testutil.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: home, Logger: logger})
	getenv := func(k string) string { return o.vars[k] }
	cat := catalog.Register(srv, catalog.Options{
		Home: home, Config: loaded, Getenv: getenv, Logger: logger, Version: "0.0.1",
		Cwd: "/srv/work", LookupThread: o.lookup,
	})
	t.Cleanup(func() { _ = srv.Close() })
	return &env{t: t, srv: srv, cat: cat, home: home, logs: logs}
}

// client drives one in-memory connection.
type client struct {
	t       *testing.T
	conn    appserver.Connection
	msgs    chan []byte
	nextID  int64
	pending []*jsonrpc.Request // notifications received while waiting for a response
}

func (e *env) connect(experimental bool) *client {
	t := e.t
	t.Helper()
	cc, sc := appserver.NewInMemoryTransports()
	sess, err := e.srv.Connect(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: cc, msgs: make(chan []byte, 256), nextID: 1}
	go func() {
		defer close(c.msgs)
		for {
			m, err := cc.Read()
			if err != nil {
				return
			}
			c.msgs <- m
		}
	}()
	t.Cleanup(func() {
		_ = cc.Close(nil)
		sess.Wait()
	})
	caps := `{"experimentalApi":false}`
	if experimental {
		caps = `{"experimentalApi":true}`
	}
	r := c.call("initialize", `{"clientInfo":{"name":"codex-tui","title":null,"version":"0.169.0"},"capabilities":`+caps+`}`)
	if r.Error != nil {
		t.Fatalf("initialize: %v", r.Error)
	}
	return c
}

func (c *client) recv() jsonrpc.Message {
	c.t.Helper()
	select {
	case raw, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("connection closed")
		}
		m, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			c.t.Fatalf("invalid message %s: %v", raw, err)
		}
		return m
	case <-time.After(waitTimeout):
		c.t.Fatal("no message from the server")
	}
	return nil
}

// call sends a request (params "" for none) and returns its response;
// notifications that arrive first are kept for notification.
func (c *client) call(method, params string) *jsonrpc.Response {
	c.t.Helper()
	id := c.nextID
	c.nextID++
	msg := fmt.Sprintf(`{"id":%d,"method":%q`, id, method)
	if params != "" {
		msg += `,"params":` + params
	}
	if err := c.conn.Write([][]byte{[]byte(msg + "}")}); err != nil {
		c.t.Fatal(err)
	}
	for {
		switch m := c.recv().(type) {
		case *jsonrpc.Response:
			if m.ID != jsonrpc.Int64ID(id) {
				c.t.Fatalf("response to %v, want %d", m.ID, id)
			}
			return m
		case *jsonrpc.Request:
			c.pending = append(c.pending, m)
		default:
			c.t.Fatalf("unexpected %#v", m)
		}
	}
}

// ok calls and returns the result, failing on an error.
func (c *client) ok(method, params string) json.RawMessage {
	c.t.Helper()
	r := c.call(method, params)
	if r.Error != nil {
		c.t.Fatalf("%s %s: error %d %q", method, params, r.Error.Code, r.Error.Message)
	}
	return r.Result
}

// fails calls and checks the error.
func (c *client) fails(method, params string, code int64, message string) *jsonrpc.Error {
	c.t.Helper()
	r := c.call(method, params)
	if r.Error == nil {
		c.t.Fatalf("%s %s = %s, want error %d %q", method, params, r.Result, code, message)
	}
	if r.Error.Code != code || (message != "" && r.Error.Message != message) {
		c.t.Fatalf("%s %s: error %d %q, want %d %q", method, params, r.Error.Code, r.Error.Message, code, message)
	}
	return r.Error
}

// notification returns the next notification, which must be method.
func (c *client) notification(method string) json.RawMessage {
	c.t.Helper()
	var n *jsonrpc.Request
	if len(c.pending) > 0 {
		n, c.pending = c.pending[0], c.pending[1:]
	} else {
		m := c.recv()
		var ok bool
		if n, ok = m.(*jsonrpc.Request); !ok || n.ID.IsValid() {
			c.t.Fatalf("got %#v, want notification %s", m, method)
		}
	}
	if n.Method != method {
		c.t.Fatalf("got notification %s %s, want %s", n.Method, n.Params, method)
	}
	return n.Params
}

// silence fails if anything arrives within d.
func (c *client) silence(d time.Duration) {
	c.t.Helper()
	if len(c.pending) > 0 {
		c.t.Fatalf("unexpected notification %s", c.pending[0].Method)
	}
	select {
	case raw, ok := <-c.msgs:
		if ok {
			c.t.Fatalf("unexpected message %s", raw)
		}
	case <-time.After(d):
	}
}

func jsonEq(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("bad JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("bad wanted JSON %s: %v", want, err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("got  %s\nwant %s", ja, jb)
	}
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("bad JSON %s: %v", raw, err)
	}
	return m
}
