package fsmethods

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/jsonrpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait; hitting it is a hang.
const waitTimeout = 5 * time.Second

type env struct {
	t   *testing.T
	srv *appserver.Server
	fsm *fsMethods
}

// newEnv returns a server with the fs methods; it is closed when the test
// ends, after its clients.
func newEnv(t testing.TB, opts Options) *env {
	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: "/state"})
	fsm := register(srv, opts)
	t.Cleanup(func() { _ = srv.Close() })
	e := &env{srv: srv, fsm: fsm}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	return e
}

// confined returns an env whose guard confines paths to root.
func confined(t *testing.T, root string, opts Options) *env {
	g, err := pathguard.New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	opts.Guard = g
	return newEnv(t, opts)
}

// client drives one in-memory connection: responses are routed to their
// callers by id, notifications queue on notes.
type client struct {
	t     testing.TB
	conn  appserver.Connection
	sess  *appserver.Session
	mu    sync.Mutex
	wait  map[int64]chan *jsonrpc.Response
	next  int64
	notes chan note
	done  chan struct{}
	once  sync.Once
}

func (e *env) connect(t testing.TB) *client {
	t.Helper()
	cconn, sconn := appserver.NewInMemoryTransports()
	sess, err := e.srv.Connect(context.Background(), sconn)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: cconn, sess: sess, wait: make(map[int64]chan *jsonrpc.Response),
		notes: make(chan note, 4096), done: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)
	r := c.call("initialize", `{"clientInfo":{"name":"t","version":"1"},"capabilities":{"experimentalApi":true}}`)
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	return c
}

func (c *client) read() {
	defer close(c.done)
	for {
		raw, err := c.conn.Read()
		if err != nil {
			return
		}
		m, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			panic("server sent an invalid message: " + string(raw))
		}
		switch m := m.(type) {
		case *jsonrpc.Response:
			id, _ := m.ID.Int64()
			c.mu.Lock()
			ch := c.wait[id]
			delete(c.wait, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case *jsonrpc.Request:
			c.notes <- note{m, raw}
		}
	}
}

// note is a notification from the server, decoded and raw.
type note struct {
	*jsonrpc.Request
	raw []byte
}

// close ends the connection and waits until the server side has ended.
func (c *client) close() {
	c.once.Do(func() {
		_ = c.conn.Close(nil)
		c.sess.Wait()
		<-c.done
	})
}

// call sends a request with raw params ("" for none) and waits for the answer.
func (c *client) call(method, params string) *jsonrpc.Response {
	c.t.Helper()
	ch := c.start(method, params)
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		c.t.Fatalf("%s %s: no answer within %v", method, params, waitTimeout)
	}
	return nil
}

func (c *client) start(method, params string) chan *jsonrpc.Response {
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan *jsonrpc.Response, 1)
	c.wait[id] = ch
	c.mu.Unlock()
	msg := `{"id":` + strconv.FormatInt(id, 10) + `,"method":"` + method + `"`
	if params != "" {
		msg += `,"params":` + params
	}
	if err := c.conn.Write([][]byte{[]byte(msg + "}")}); err != nil {
		c.t.Fatalf("send: %v", err)
	}
	return ch
}

// ok calls and fails on an error; it returns the result.
func (c *client) ok(method, params string) json.RawMessage {
	c.t.Helper()
	r := c.call(method, params)
	if r.Error != nil {
		c.t.Fatalf("%s %s: error %d %q", method, params, r.Error.Code, r.Error.Message)
	}
	return r.Result
}

// fails calls and expects exactly this error.
func (c *client) fails(method, params string, code int64, msg string) {
	c.t.Helper()
	r := c.call(method, params)
	if r.Error == nil {
		c.t.Fatalf("%s %s: got result %s, want error %d %q", method, params, r.Result, code, msg)
	}
	if r.Error.Code != code || r.Error.Message != msg {
		c.t.Fatalf("%s %s:\n got error %d %q\nwant error %d %q", method, params, r.Error.Code, r.Error.Message, code, msg)
	}
}

// changed waits for the next fs/changed notification.
func (c *client) changed(timeout time.Duration) (ChangedParams, bool) {
	c.t.Helper()
	select {
	case n := <-c.notes:
		if n.Method != "fs/changed" {
			c.t.Fatalf("unexpected notification %s %s", n.Method, n.Params)
		}
		if !strings.Contains(string(n.raw), `"emittedAtMs":`) {
			c.t.Errorf("fs/changed without emittedAtMs: %s", n.raw)
		}
		var p ChangedParams
		if err := json.Unmarshal(n.Params, &p); err != nil {
			c.t.Fatalf("fs/changed params %s: %v", n.Params, err)
		}
		return p, true
	case <-time.After(timeout):
		return ChangedParams{}, false
	}
}

// mustChange waits for a notification and checks it.
func (c *client) mustChange(watchID string, paths ...string) {
	c.t.Helper()
	p, ok := c.changed(waitTimeout)
	if !ok {
		c.t.Fatalf("no fs/changed for %s %v", watchID, paths)
	}
	if p.WatchID != watchID || strings.Join(p.ChangedPaths, "\n") != strings.Join(paths, "\n") {
		c.t.Fatalf("fs/changed = %s %q, want %s %q", p.WatchID, p.ChangedPaths, watchID, paths)
	}
}

// quiet fails if a notification arrives within d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	if p, ok := c.changed(d); ok {
		c.t.Fatalf("unexpected fs/changed %s %q", p.WatchID, p.ChangedPaths)
	}
}

// js encodes v as JSON params.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// obj is a shorthand for params objects.
type obj = map[string]any

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func readString(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tempFiles lists leftovers of atomic writes under dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), tempMarker) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// jsonEq compares JSON values.
func jsonEq(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("result %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("result\n got %s\nwant %s", ja, jb)
	}
}
