package execmethods_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/execmethods"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/jsonrpc"
)

// The test binary plays three parts: the sandbox helper (argv[1] is
// sandbox.HelperArg, as in the server binary), a target program for
// network probes (EXECMETHODS_TEST_MODE is set), and the tests themselves,
// which must leave no goroutine behind.
const modeEnv = "EXECMETHODS_TEST_MODE"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
		os.Exit(sandbox.Main(os.Args[2:]))
	}
	if mode := os.Getenv(modeEnv); mode != "" {
		os.Exit(targetMain(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// targetMain runs inside a sandbox (or none): "dial ADDR" connects to ADDR
// and exits 0 if that worked, 1 with the error on stderr if not.
func targetMain(mode string, args []string) int {
	switch mode {
	case "dial":
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c.Close()
		fmt.Println("connected")
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
	return 2
}

// testExe is the absolute path of this test binary: the sandbox helper.
var testExe = func() string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return exe
}()

var support = sandbox.Probe()

// requireSandbox skips a test that needs the kernel to enforce readOnly
// without network: nothing in it would mean anything unconfined.
func requireSandbox(t *testing.T) {
	t.Helper()
	if err := (sandbox.Policy{}).Check(support); err != nil {
		t.Skipf("the default sandbox cannot be enforced here: %v", err)
	}
}

// baseEnv is the environment of every command: the test's own, plus
// GORACE so that the race runtime of a test binary run as a target does
// not sleep a second at exit.
func baseEnv() []string {
	return append(os.Environ(), "GORACE=atexit_sleep_ms=0")
}

// newServer returns a server with the exec methods registered; opt, if
// not nil, adjusts the options first. The server is closed when the test
// ends.
func newServer(t *testing.T, opt func(*execmethods.Options)) *appserver.Server {
	t.Helper()
	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: t.TempDir()})
	opts := execmethods.Options{Helper: testExe, Support: support, Env: baseEnv}
	if opt != nil {
		opt(&opts)
	}
	execmethods.Register(srv, opts)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// waitTimeout bounds every wait: nothing legitimate takes this long.
const waitTimeout = 20 * time.Second

// client drives one in-memory connection and records everything the
// server sends, in order, so tests can check both content and order.
// Subtests use their own view of a client, c.as(t), so that a failure
// stops the subtest that saw it.
type client struct {
	t *testing.T
	*connState
}

// connState is a client's connection and log, shared by its views.
type connState struct {
	conn appserver.Connection
	sess *appserver.Session
	srv  *appserver.Server

	mu      sync.Mutex
	log     []jsonrpc.Message
	changed chan struct{} // closed and replaced on every change
	eof     bool
	nextID  int64
}

// as returns a view of c that reports failures to t.
func (c *client) as(t *testing.T) *client { return &client{t: t, connState: c.connState} }

// connect opens a connection to srv and initializes it; experimental
// asks for the experimentalApi capability. It is closed when the test ends.
func connect(t *testing.T, srv *appserver.Server, experimental bool) *client {
	t.Helper()
	cconn, sconn := appserver.NewInMemoryTransports()
	sess, err := srv.Connect(context.Background(), sconn)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	c := &client{t: t, connState: &connState{conn: cconn, sess: sess, srv: srv, changed: make(chan struct{})}}
	go c.read()
	t.Cleanup(func() {
		_ = cconn.Close(nil)
		sess.Wait()
	})
	r := c.call("initialize", fmt.Sprintf(`{"clientInfo":{"name":"test","version":"1"},"capabilities":{"experimentalApi":%v}}`, experimental))
	if r.Error != nil {
		t.Fatalf("initialize: %v", r.Error)
	}
	return c
}

func (c *client) read() {
	for {
		raw, err := c.conn.Read()
		c.mu.Lock()
		if err != nil {
			c.eof = true
		} else if m, derr := jsonrpc.DecodeMessage(raw); derr == nil {
			c.log = append(c.log, m)
		} else {
			c.log = append(c.log, &jsonrpc.Request{Method: "<invalid: " + derr.Error() + ">"})
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// close closes the client's end of the connection.
func (c *client) close() { _ = c.conn.Close(nil) }

// send sends a request and returns its id.
func (c *client) send(method, params string) int64 {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	msg := `{"id":` + strconv.FormatInt(id, 10) + `,"method":"` + method + `","params":` + params + `}`
	if err := c.conn.Write([][]byte{[]byte(msg)}); err != nil {
		c.t.Fatalf("send %s: %v", method, err)
	}
	return id
}

// waitFor waits until find, called with the log under the lock, returns
// true, and fails the test after waitTimeout or if the connection ends.
func (c *client) waitFor(what string, find func(log []jsonrpc.Message) bool) {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		ok, eof, ch := find(c.log), c.eof, c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		if eof {
			c.t.Fatalf("connection closed while waiting for %s", what)
		}
		select {
		case <-ch:
		case <-deadline:
			c.t.Fatalf("no %s within %v", what, waitTimeout)
		}
	}
}

// response waits for the response to id and returns it with its position
// in the log.
func (c *client) response(id int64) (*jsonrpc.Response, int) {
	c.t.Helper()
	var r *jsonrpc.Response
	pos := -1
	c.waitFor(fmt.Sprintf("response to %d", id), func(log []jsonrpc.Message) bool {
		for i, m := range log {
			if resp, ok := m.(*jsonrpc.Response); ok && resp.ID == jsonrpc.Int64ID(id) {
				r, pos = resp, i
				return true
			}
		}
		return false
	})
	return r, pos
}

// call sends a request and waits for its response.
func (c *client) call(method, params string) *jsonrpc.Response {
	c.t.Helper()
	r, _ := c.response(c.send(method, params))
	return r
}

// note is a notification from the log.
type note struct {
	pos    int
	method string
	params map[string]any
}

// notes returns the notifications named method whose params field key
// equals val (every one if key is ""), in order.
func (c *client) notes(method, key, val string) []note {
	c.mu.Lock()
	defer c.mu.Unlock()
	return filterNotes(c.log, method, key, val)
}

func filterNotes(log []jsonrpc.Message, method, key, val string) []note {
	var out []note
	for i, m := range log {
		r, ok := m.(*jsonrpc.Request)
		if !ok || r.Method != method {
			continue
		}
		var p map[string]any
		_ = json.Unmarshal(r.Params, &p)
		if key == "" || p[key] == val {
			out = append(out, note{pos: i, method: method, params: p})
		}
	}
	return out
}

// waitNote waits for a notification named method with params[key] == val
// for which pred (if not nil) holds, and returns the first such.
func (c *client) waitNote(method, key, val string, pred func(note) bool) note {
	c.t.Helper()
	var found note
	c.waitFor(method+" for "+val, func(log []jsonrpc.Message) bool {
		for _, n := range filterNotes(log, method, key, val) {
			if pred == nil || pred(n) {
				found = n
				return true
			}
		}
		return false
	})
	return found
}

// output is what a process's deltas carried.
type output struct {
	stdout, stderr []byte
	deltas         []note
}

// deltas decodes the outputDelta notifications of one process (method is
// command/exec/outputDelta or process/outputDelta, key processId or
// processHandle), checking each one's shape.
func (c *client) deltas(method, key, val string) output {
	c.t.Helper()
	var o output
	for _, n := range c.notes(method, key, val) {
		b, err := base64.StdEncoding.DecodeString(n.params["deltaBase64"].(string))
		if err != nil {
			c.t.Fatalf("delta %v: %v", n.params, err)
		}
		if _, ok := n.params["capReached"].(bool); !ok {
			c.t.Fatalf("delta without capReached: %v", n.params)
		}
		switch n.params["stream"] {
		case "stdout":
			o.stdout = append(o.stdout, b...)
		case "stderr":
			o.stderr = append(o.stderr, b...)
		default:
			c.t.Fatalf("delta with stream %v", n.params["stream"])
		}
		o.deltas = append(o.deltas, n)
	}
	return o
}

// execDeltas is deltas for command/exec.
func (c *client) execDeltas(processID string) output {
	c.t.Helper()
	return c.deltas("command/exec/outputDelta", "processId", processID)
}

// waitOutput waits until the deltas of processID carry want on stdout.
func (c *client) waitOutput(method, key, val, want string) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("output %q from %s", want, val), func(log []jsonrpc.Message) bool {
		var out []byte
		for _, n := range filterNotes(log, method, key, val) {
			if n.params["stream"] == "stdout" {
				b, _ := base64.StdEncoding.DecodeString(n.params["deltaBase64"].(string))
				out = append(out, b...)
			}
		}
		return bytes.Contains(out, []byte(want))
	})
}

// retryWhileInactive calls method until it stops answering "no active …":
// a process named by a request still being started is not active yet.
func (c *client) retryWhileInactive(method, params string) *jsonrpc.Response {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		r := c.call(method, params)
		if r.Error == nil || !strings.HasPrefix(r.Error.Message, "no active ") || time.Now().After(deadline) {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// js encodes v as JSON, for building params.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func wantError(t *testing.T, r *jsonrpc.Response, code int64, message string) {
	t.Helper()
	if r.Error == nil {
		t.Fatalf("got result %s, want error %d %q", r.Result, code, message)
	}
	if r.Error.Code != code || r.Error.Message != message {
		t.Fatalf("got error %d %q, want %d %q", r.Error.Code, clip(r.Error.Message), code, clip(message))
	}
}

func wantResult(t *testing.T, r *jsonrpc.Response, want string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("got error %d %q, want result %s", r.Error.Code, clip(r.Error.Message), want)
	}
	if !jsonEqual(r.Result, []byte(want)) {
		t.Fatalf("got result %s, want %s", clip(string(r.Result)), want)
	}
}

// execResult decodes a command/exec result.
type execResult struct {
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

func result(t *testing.T, r *jsonrpc.Response) execResult {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("got error %d %q, want a result", r.Error.Code, clip(r.Error.Message))
	}
	var res execResult
	dec := json.NewDecoder(bytes.NewReader(r.Result))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("result %s: %v", clip(string(r.Result)), err)
	}
	return res
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

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// procStat reads state, process group and session of pid.
func procStat(pid int) (state byte, pgrp, sid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 {
		return 0, 0, 0, false
	}
	pgrp, err1 := strconv.Atoi(f[2])
	sid, err2 := strconv.Atoi(f[3])
	return f[0][0], pgrp, sid, err1 == nil && err2 == nil
}

// liveInSession lists the processes of session sid that are alive: a
// zombie (state Z or X) has exited, whoever has yet to reap it.
func liveInSession(sid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, _, s, ok := procStat(pid)
		if ok && s == sid && state != 'Z' && state != 'X' {
			out = append(out, pid)
		}
	}
	return out
}

// eventually polls cond every 10 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tempDir returns a fresh directory with symlinks resolved, so that it
// compares equal to what pwd -P prints.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func itoa(i int) string { return strconv.Itoa(i) }

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// execmethodsWd is the test's working directory, symlinks resolved: the
// working directory of commands when Options.Cwd is "".
func execmethodsWd() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(wd)
}

// expectNoNote fails if a notification named method arrives within ms
// milliseconds (or has arrived already).
func (c *client) expectNoNote(method string, ms int) {
	c.t.Helper()
	time.Sleep(time.Duration(ms) * time.Millisecond)
	if n := c.notes(method, "", ""); len(n) > 0 {
		c.t.Fatalf("unexpected %s: %v", method, n[0].params)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
