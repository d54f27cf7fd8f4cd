package fuzzy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/jsonrpc"
)

const waitTimeout = 5 * time.Second

// client drives one in-memory connection.
type client struct {
	t    *testing.T
	conn appserver.Connection
	sess *appserver.Session
	msgs chan []byte
	next int64
}

func newServer(t *testing.T, opts Options) (*appserver.Server, *Service) {
	t.Helper()
	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: "/state"})
	svc := Register(srv, opts)
	t.Cleanup(func() {
		_ = srv.Close()
		svc.Close()
	})
	return srv, svc
}

// connect opens a connection and initializes it, with the experimental
// API unless plain is set.
func connect(t *testing.T, srv *appserver.Server, plain bool) *client {
	t.Helper()
	cc, sc := appserver.NewInMemoryTransports()
	sess, err := srv.Connect(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: cc, sess: sess, msgs: make(chan []byte, 256), next: 1}
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
	caps := `{"experimentalApi":true}`
	if plain {
		caps = `null`
	}
	if r := c.call("initialize", `{"clientInfo":{"name":"t","version":"1"},"capabilities":`+caps+`}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	return c
}

// send sends a request and returns its id.
func (c *client) send(method, params string) jsonrpc.ID {
	c.t.Helper()
	id := c.next
	c.next++
	msg := fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, params)
	if err := c.conn.Write([][]byte{[]byte(msg)}); err != nil {
		c.t.Fatal(err)
	}
	return jsonrpc.Int64ID(id)
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
			c.t.Fatalf("bad message %s: %v", raw, err)
		}
		return m
	case <-time.After(waitTimeout):
		c.t.Fatal("nothing from the server")
	}
	return nil
}

func (c *client) response(id jsonrpc.ID) *jsonrpc.Response {
	c.t.Helper()
	m := c.recv()
	r, ok := m.(*jsonrpc.Response)
	if !ok || r.ID != id {
		c.t.Fatalf("got %#v, want the response to %v", m, id)
	}
	return r
}

func (c *client) call(method, params string) *jsonrpc.Response {
	c.t.Helper()
	return c.response(c.send(method, params))
}

func (c *client) silence(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("unexpected message %s", m)
	case <-time.After(d):
	}
}

func wantError(t *testing.T, r *jsonrpc.Response, code int64, msg string) {
	t.Helper()
	if r.Error == nil || r.Error.Code != code || r.Error.Message != msg {
		t.Fatalf("got %v %s, want error %d %q", r.Error, r.Result, code, msg)
	}
}

func wantResult(t *testing.T, r *jsonrpc.Response, want string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("error %v, want %s", r.Error, want)
	}
	if !jsonEqual(r.Result, []byte(want)) {
		t.Fatalf("result %s, want %s", r.Result, want)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func files(t *testing.T, raw json.RawMessage) []Match {
	t.Helper()
	var res struct {
		Files []Match `json:"files"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.Files == nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	return res.Files
}

func sp(query string, roots ...string) string {
	r, _ := json.Marshal(roots)
	q, _ := json.Marshal(query)
	return `{"query":` + string(q) + `,"roots":` + string(r) + `,"cancellationToken":null}`
}

func testTree(t *testing.T) string {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		".gitignore":             "node_modules/\n*.o\n",
		".git/objects/main":      "",
		"node_modules/x/main.js": "",
		"build/main.o":           "",
		"src/main.go":            "",
		"src/mainframe.txt":      "",
		"src/sub/Main_test.go":   "",
		"docs/MAINTAINERS.md":    "",
		"main/":                  "",
		"README.md":              "",
	})
	return root
}

func TestSearchMethod(t *testing.T) {
	root := testTree(t)
	srv, _ := newServer(t, Options{})
	c := connect(t, srv, true)

	r := c.call(MethodSearch, sp("main", root))
	wantResult(t, r, `{"files":[
		{"root":"`+root+`","path":"main","match_type":"directory","file_name":"main","score":131181,"indices":[0,1,2,3]},
		{"root":"`+root+`","path":"src/main.go","match_type":"file","file_name":"main.go","score":65645,"indices":[4,5,6,7]},
		{"root":"`+root+`","path":"src/mainframe.txt","match_type":"file","file_name":"mainframe.txt","score":65645,"indices":[4,5,6,7]},
		{"root":"`+root+`","path":"docs/MAINTAINERS.md","match_type":"file","file_name":"MAINTAINERS.md","score":65645,"indices":[5,6,7,8]},
		{"root":"`+root+`","path":"src/sub/Main_test.go","match_type":"file","file_name":"Main_test.go","score":65645,"indices":[8,9,10,11]}
	]}`)
	// The key order is the reference's.
	if !strings.HasPrefix(string(r.Result), `{"files":[{"root":`) || !strings.Contains(string(r.Result), `"path":"main","match_type":"directory","file_name":"main","score":131181,"indices":[0,1,2,3]}`) {
		t.Errorf("wire shape %s", r.Result)
	}

	// Directories match too; .git and ignored entries never appear.
	for _, m := range files(t, c.call(MethodSearch, sp("s", root)).Result) {
		if strings.HasPrefix(m.Path, ".git/") || strings.HasPrefix(m.Path, "node_modules") || strings.HasSuffix(m.Path, ".o") {
			t.Errorf("%s listed", m.Path)
		}
	}
	ms := files(t, c.call(MethodSearch, sp("sub", root)).Result)
	if len(ms) == 0 || ms[0].Path != "src/sub" || ms[0].MatchType != TypeDirectory || ms[0].FileName != "sub" {
		t.Errorf("sub: %+v", ms)
	}

	// The root is echoed as sent.
	ms = files(t, c.call(MethodSearch, sp("readme", root+"/src/../")).Result)
	if len(ms) != 1 || ms[0].Root != root+"/src/../" || ms[0].Path != "README.md" {
		t.Errorf("readme: %+v", ms)
	}
	// Duplicate roots are searched once.
	if ms := files(t, c.call(MethodSearch, sp("readme", root, root+"/")).Result); len(ms) != 1 {
		t.Errorf("duplicate roots: %+v", ms)
	}

	wantResult(t, c.call(MethodSearch, sp("", root)), `{"files":[]}`)
	wantResult(t, c.call(MethodSearch, `{"query":"main","roots":[]}`), `{"files":[]}`)
	wantResult(t, c.call(MethodSearch, sp("main", root+"/missing")), `{"files":[]}`)
	wantResult(t, c.call(MethodSearch, sp("main", root+"/README.md")), `{"files":[]}`)
	wantError(t, c.call(MethodSearch, sp("main", "relative/dir")), -32600, "Invalid request: AbsolutePathBuf deserialized without a base path")
	wantError(t, c.call(MethodSearch, sp("main", root, "~/x")), -32600, "Invalid request: AbsolutePathBuf deserialized without a base path")
	wantError(t, c.call(MethodSearch, `{}`), -32600, "Invalid request: missing field `query`")
	wantError(t, c.call(MethodSearch, `{"query":"x"}`), -32600, "Invalid request: missing field `roots`")
	wantError(t, c.call(MethodSearch, `{"query":"x","roots":"/tmp"}`), -32600, "Invalid request: invalid type: string, expected an array at `roots`")
}

func TestSearchConfined(t *testing.T) {
	root := testTree(t)
	g, err := pathguard.New([]string{filepath.Join(root, "src")})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newServer(t, Options{Guard: g})
	c := connect(t, srv, false)
	if ms := files(t, c.call(MethodSearch, sp("main", filepath.Join(root, "src"))).Result); len(ms) != 3 {
		t.Errorf("inside: %+v", ms)
	}
	wantError(t, c.call(MethodSearch, sp("main", root)), -32600, "path `"+root+"` is outside the workspace roots")
	wantError(t, c.call(MethodSessionStart, `{"sessionId":"s","roots":["`+root+`/src/.."]}`), -32600, "path `"+root+"` is outside the workspace roots")
}

// blockBuilds makes the service's walks wait for release (or their
// cancellation) and counts them.
func blockBuilds(svc *Service) (release func(), builds *atomic.Int32) {
	ch := make(chan struct{})
	var once sync.Once
	builds = new(atomic.Int32)
	inner := svc.cache.build
	svc.cache.build = func(ctx context.Context, root string) (*Index, error) {
		builds.Add(1)
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return inner(ctx, root)
	}
	return func() { once.Do(func() { close(ch) }) }, builds
}

func TestCancellationToken(t *testing.T) {
	root := testTree(t)
	srv, svc := newServer(t, Options{})
	release, builds := blockBuilds(svc)
	c := connect(t, srv, false)

	params := func(q, token string) string {
		return `{"query":"` + q + `","roots":["` + root + `"],"cancellationToken":"` + token + `"}`
	}
	first := c.send(MethodSearch, params("main", "t1"))
	other := c.send(MethodSearch, params("readme", "t2"))
	waitFor(t, func() bool { return pendingTokens(svc, c.sess) == 2 })
	second := c.send(MethodSearch, params("mainframe", "t1"))
	// The first search, superseded, answers at once with no files.
	wantResult(t, c.response(first), `{"files":[]}`)
	release()
	got := map[jsonrpc.ID][]Match{}
	for range 2 {
		r := c.recv().(*jsonrpc.Response)
		got[r.ID] = files(t, r.Result)
	}
	if len(got[second]) != 1 || got[second][0].Path != "src/mainframe.txt" {
		t.Errorf("second: %+v", got[second])
	}
	if len(got[other]) != 1 || got[other][0].Path != "README.md" {
		t.Errorf("other token: %+v", got[other])
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("%d walks, want 1 shared", n)
	}
	// An empty query takes the token too, cancelling the search before it.
	svc.cache.close()
	release3, _ := blockBuilds(svc)
	defer release3()
	pending := c.send(MethodSearch, params("main", "t3"))
	waitFor(t, func() bool { return pendingTokens(svc, c.sess) == 1 })
	clear := c.send(MethodSearch, params("", "t3"))
	for range 2 { // in either order
		r := c.recv().(*jsonrpc.Response)
		if r.ID != pending && r.ID != clear {
			t.Fatalf("response to %v", r.ID)
		}
		wantResult(t, r, `{"files":[]}`)
	}
	release3()
	// A finished search's token is free again.
	if ms := files(t, c.call(MethodSearch, params("main", "t1")).Result); len(ms) == 0 {
		t.Error("no results")
	}
	// Tokens are per connection: another client's search is not cancelled.
	svc.cache.close()
	release2, _ := blockBuilds(svc)
	d := connect(t, srv, false)
	mine := c.send(MethodSearch, params("main", "shared"))
	waitFor(t, func() bool { return svc.stats().CachedRoots == 1 })
	theirs := d.send(MethodSearch, params("readme", "shared"))
	d.silence(50 * time.Millisecond)
	release2()
	if ms := files(t, c.response(mine).Result); len(ms) == 0 {
		t.Error("mine cancelled")
	}
	if ms := files(t, d.response(theirs).Result); len(ms) != 1 {
		t.Error("theirs")
	}
}

// pendingTokens counts the connection's searches with a token.
func pendingTokens(svc *Service, sess *appserver.Session) int {
	st := svc.conn(sess)
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.tokens)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(time.Millisecond)
	}
}

// notification waits for the next message, a notification of method.
func (c *client) notification(method string) json.RawMessage {
	c.t.Helper()
	m := c.recv()
	n, ok := m.(*jsonrpc.Request)
	if !ok || n.IsCall() || n.Method != method {
		c.t.Fatalf("got %#v, want a %s notification", m, method)
	}
	var env struct {
		EmittedAtMs *int64 `json:"emittedAtMs"`
	}
	_ = env
	return n.Params
}

// update sends a sessionUpdate and collects its answer and notifications,
// which must be: the response, sessionUpdated, sessionCompleted. The
// response may come after the notifications only if the handler's
// goroutine was held up; both orders are accepted for it, the
// notifications' order is strict.
func (c *client) update(session, query string) []Match {
	c.t.Helper()
	id := c.send(MethodSessionUpdate, `{"sessionId":"`+session+`","query":"`+query+`"}`)
	var updated json.RawMessage
	gotResponse, gotCompleted := false, false
	for !gotResponse || !gotCompleted {
		switch m := c.recv().(type) {
		case *jsonrpc.Response:
			if m.ID != id || gotResponse {
				c.t.Fatalf("unexpected response %v", m)
			}
			wantResult(c.t, m, `{}`)
			gotResponse = true
		case *jsonrpc.Request:
			switch {
			case m.Method == NotifySessionUpdated && updated == nil:
				updated = m.Params
			case m.Method == NotifySessionCompleted && updated != nil && !gotCompleted:
				wantResult(c.t, &jsonrpc.Response{Result: m.Params}, `{"sessionId":"`+session+`"}`)
				gotCompleted = true
			default:
				c.t.Fatalf("unexpected notification %s %s", m.Method, m.Params)
			}
		}
	}
	var n SessionUpdated
	if err := json.Unmarshal(updated, &n); err != nil || n.SessionID != session || n.Query != query || n.Files == nil {
		c.t.Fatalf("sessionUpdated %s", updated)
	}
	return n.Files
}

func TestSessions(t *testing.T) {
	root := testTree(t)
	srv, svc := newServer(t, Options{})
	c := connect(t, srv, false)

	wantResult(t, c.call(MethodSessionStart, `{"sessionId":"fs1","roots":["`+root+`"]}`), `{}`)
	ms := c.update("fs1", "mai")
	if len(ms) != 5 || ms[0].Path != "src/main.go" || ms[0].Root != root || !slices.Equal(ms[0].Indices, []uint32{4, 5, 6}) ||
		ms[4].Path != "main" || ms[4].MatchType != TypeDirectory {
		t.Errorf("mai: %+v", ms)
	}
	if ms := c.update("fs1", "readme"); len(ms) != 1 {
		t.Errorf("readme: %+v", ms)
	}
	if ms := c.update("fs1", ""); len(ms) != 0 {
		t.Errorf("empty: %+v", ms)
	}
	// The session keeps the index it walked: a new file is not seen.
	writeTree(t, root, map[string]string{"src/readme2.md": ""})
	if ms := c.update("fs1", "readme"); len(ms) != 1 {
		t.Errorf("readme after a change: %+v", ms)
	}
	// Starting an open id again replaces the session.
	wantResult(t, c.call(MethodSessionStart, `{"sessionId":"fs1","roots":["`+root+`/src"]}`), `{}`)
	if ms := c.update("fs1", "readme"); len(ms) != 1 || ms[0].Path != "readme2.md" {
		t.Errorf("restarted: %+v", ms)
	}

	wantError(t, c.call(MethodSessionUpdate, `{"sessionId":"nope","query":"x"}`), -32600, "fuzzy file search session not found: nope")
	wantResult(t, c.call(MethodSessionStop, `{"sessionId":"fs1"}`), `{}`)
	wantError(t, c.call(MethodSessionUpdate, `{"sessionId":"fs1","query":"x"}`), -32600, "fuzzy file search session not found: fs1")
	wantResult(t, c.call(MethodSessionStop, `{"sessionId":"nope"}`), `{}`)

	wantError(t, c.call(MethodSessionStart, `{"sessionId":"s","roots":[]}`), -32603, "failed to start fuzzy file search session: at least one search directory is required")
	wantError(t, c.call(MethodSessionStart, `{"sessionId":"s","roots":["rel"]}`), -32600, "Invalid request: AbsolutePathBuf deserialized without a base path")
	wantError(t, c.call(MethodSessionStart, `{"roots":[]}`), -32600, "Invalid request: missing field `sessionId`")
	wantError(t, c.call(MethodSessionStart, `{"sessionId":"s"}`), -32600, "Invalid request: missing field `roots`")
	wantError(t, c.call(MethodSessionUpdate, `{"query":""}`), -32600, "Invalid request: missing field `sessionId`")
	wantError(t, c.call(MethodSessionUpdate, `{"sessionId":"s"}`), -32600, "Invalid request: missing field `query`")
	wantError(t, c.call(MethodSessionStop, `{}`), -32600, "Invalid request: missing field `sessionId`")

	// A missing root is an empty session, not an error.
	wantResult(t, c.call(MethodSessionStart, `{"sessionId":"gone","roots":["`+root+`/missing"]}`), `{}`)
	if ms := c.update("gone", "x"); len(ms) != 0 {
		t.Errorf("missing root: %+v", ms)
	}

	// Sessions belong to their connection.
	d := connect(t, srv, false)
	wantError(t, d.call(MethodSessionUpdate, `{"sessionId":"gone","query":"x"}`), -32600, "fuzzy file search session not found: gone")
	wantResult(t, d.call(MethodSessionStop, `{"sessionId":"gone"}`), `{}`)
	if ms := c.update("gone", "y"); len(ms) != 0 {
		t.Errorf("after the other client's stop: %+v", ms)
	}

	// The session methods are experimental.
	e := connect(t, srv, true)
	wantError(t, e.call(MethodSessionStart, `{"sessionId":"s","roots":["`+root+`"]}`), -32600, "fuzzyFileSearch/sessionStart requires experimentalApi capability")
	wantError(t, e.call(MethodSessionUpdate, `{"sessionId":"s","query":""}`), -32600, "fuzzyFileSearch/sessionUpdate requires experimentalApi capability")
	wantError(t, e.call(MethodSessionStop, `{"sessionId":"s"}`), -32600, "fuzzyFileSearch/sessionStop requires experimentalApi capability")

	// Closing the connection ends its sessions.
	_ = c.conn.Close(nil)
	c.sess.Wait()
	waitFor(t, func() bool { return svc.stats().Connections == 1 }) // d's remains
}

func TestSessionLatestQueryWins(t *testing.T) {
	root := testTree(t)
	srv, svc := newServer(t, Options{})
	release, _ := blockBuilds(svc)
	c := connect(t, srv, false)
	wantResult(t, c.call(MethodSessionStart, `{"sessionId":"s","roots":["`+root+`"]}`), `{}`)
	// While the walk runs, updates are answered but wait for it; only the
	// latest query's results are sent.
	wantResult(t, c.call(MethodSessionUpdate, `{"sessionId":"s","query":"a"}`), `{}`)
	wantResult(t, c.call(MethodSessionUpdate, `{"sessionId":"s","query":"mai"}`), `{}`)
	c.silence(20 * time.Millisecond)
	release()
	var n SessionUpdated
	if err := json.Unmarshal(c.notification(NotifySessionUpdated), &n); err != nil || n.Query != "mai" || len(n.Files) != 5 {
		t.Fatalf("%+v %v", n, err)
	}
	c.notification(NotifySessionCompleted)
	c.silence(20 * time.Millisecond)

	// Stopping a session with a pending update sends nothing more.
	svc.cache.close()
	release2, _ := blockBuilds(svc)
	defer release2()
	wantResult(t, c.call(MethodSessionStart, `{"sessionId":"t","roots":["`+root+`"]}`), `{}`)
	wantResult(t, c.call(MethodSessionUpdate, `{"sessionId":"t","query":"a"}`), `{}`)
	wantResult(t, c.call(MethodSessionStop, `{"sessionId":"t"}`), `{}`)
	release2()
	c.silence(20 * time.Millisecond)
}

func TestSessionLimit(t *testing.T) {
	root := testTree(t)
	srv, _ := newServer(t, Options{MaxSessions: 2})
	c := connect(t, srv, false)
	for _, id := range []string{"a", "b", "a"} {
		wantResult(t, c.call(MethodSessionStart, `{"sessionId":"`+id+`","roots":["`+root+`"]}`), `{}`)
	}
	wantError(t, c.call(MethodSessionStart, `{"sessionId":"c","roots":["`+root+`"]}`), -32600, "too many fuzzy file search sessions on this connection (limit 2)")
	wantResult(t, c.call(MethodSessionStop, `{"sessionId":"a"}`), `{}`)
	wantResult(t, c.call(MethodSessionStart, `{"sessionId":"c","roots":["`+root+`"]}`), `{}`)
}

func TestIndexCache(t *testing.T) {
	root := testTree(t)
	ageTree(t, root)
	srv, svc := newServer(t, Options{CacheTTL: 50 * time.Millisecond})
	var builds atomic.Int32
	inner := svc.cache.build
	svc.cache.build = func(ctx context.Context, r string) (*Index, error) {
		builds.Add(1)
		return inner(ctx, r)
	}
	c := connect(t, srv, false)
	count := func(q string) int { return len(files(t, c.call(MethodSearch, sp(q, root)).Result)) }

	count("main")
	count("readme")
	if n := builds.Load(); n != 1 {
		t.Fatalf("%d walks within the TTL, want 1", n)
	}
	// Past the TTL an unchanged tree is checked, not walked.
	time.Sleep(60 * time.Millisecond)
	count("main")
	if n := builds.Load(); n != 1 {
		t.Fatalf("%d walks for an unchanged tree, want 1", n)
	}
	// Within the TTL a new file is not seen yet; after it, it is.
	writeTree(t, root, map[string]string{"src/readme3.md": ""})
	if n := count("readme"); n != 1 {
		t.Fatalf("%d readmes within the TTL", n)
	}
	time.Sleep(60 * time.Millisecond)
	if n := count("readme"); n != 2 {
		t.Fatalf("%d readmes after the TTL", n)
	}
	if n := builds.Load(); n != 2 {
		t.Fatalf("%d walks, want 2", n)
	}

	// With caching off, every search walks.
	srv2, svc2 := newServer(t, Options{CacheTTL: -1})
	var builds2 atomic.Int32
	inner2 := svc2.cache.build
	svc2.cache.build = func(ctx context.Context, r string) (*Index, error) {
		builds2.Add(1)
		return inner2(ctx, r)
	}
	c2 := connect(t, srv2, false)
	c2.call(MethodSearch, sp("main", root))
	c2.call(MethodSearch, sp("main", root))
	if n := builds2.Load(); n != 2 || svc2.stats().CachedRoots != 0 {
		t.Fatalf("%d walks without cache, %d cached", n, svc2.stats().CachedRoots)
	}
}

func TestIndexCacheIdleExpiry(t *testing.T) {
	root := testTree(t)
	srv, svc := newServer(t, Options{CacheIdle: 30 * time.Millisecond})
	c := connect(t, srv, false)
	c.call(MethodSearch, sp("main", root))
	if svc.stats().CachedRoots != 1 {
		t.Fatal("not cached")
	}
	waitFor(t, func() bool { return svc.stats().CachedRoots == 0 })
}

func TestSymlinkRoot(t *testing.T) {
	// A root that is a symbolic link to a directory is searched.
	root := testTree(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	srv, _ := newServer(t, Options{})
	c := connect(t, srv, false)
	ms := files(t, c.call(MethodSearch, sp("readme", link)).Result)
	if len(ms) != 1 || ms[0].Root != link {
		t.Fatalf("%+v", ms)
	}
}
