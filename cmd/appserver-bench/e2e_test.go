package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The test binary doubles as a fake server process for --server: with
// APPSERVER_BENCH_FAKE=1 it serves fakeHandler and prints a banner.
func TestMain(m *testing.M) {
	if os.Getenv("APPSERVER_BENCH_FAKE") == "1" {
		os.Exit(fakeServerMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeServerMain(args []string) int {
	var tokenFile, home string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--ws-token-file":
			tokenFile = args[i+1]
		case "--home":
			home = args[i+1]
		}
	}
	if home == "" || os.Getenv("APPSERVER_HOME") != home || os.Getenv("CODEX_HOME") != home {
		fmt.Fprintf(os.Stderr, "fake: home %q, APPSERVER_HOME %q, CODEX_HOME %q\n", home, os.Getenv("APPSERVER_HOME"), os.Getenv("CODEX_HOME"))
		return 3
	}
	if st, err := os.Stat(home); err != nil || !st.IsDir() {
		fmt.Fprintln(os.Stderr, "fake: home is not a directory")
		return 3
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake:", err)
		return 3
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake:", err)
		return 3
	}
	agent, err := newFakeAgent(home)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake:", err)
		return 3
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(os.Stderr, "WARNING: some noise first\nappserver (WebSockets)\n  listening on: ws://127.0.0.1:%d\n  readyz: http://127.0.0.1:%d/readyz\n", port, port)
	err = http.Serve(ln, fakeHandler(strings.TrimSpace(string(tok)), 5, agent))
	fmt.Fprintln(os.Stderr, "fake:", err)
	return 1
}

// fakeHandler is a tiny app-server: bearer auth at the upgrade, initialize,
// -32600 for every other method, -32001 for every overloadEvery-th request
// and for the first initialize of every third connection, with
// notifications mixed in and both key orders in answers. agent serves
// threads and turns.
func fakeHandler(token string, overloadEvery int, agent *fakeAgent) http.Handler {
	var conns atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) != token {
			http.Error(w, "invalid websocket bearer token", http.StatusUnauthorized)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		overloadInit := conns.Add(1)%3 == 0
		initialized := false
		n := 0
		send := func(s string) bool { return ws.Write(ctx, websocket.MessageText, []byte(s)) == nil }
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var req struct {
				ID     *int64          `json:"id"`
				Method string          `json:"method"`
				Params json.RawMessage `json:"params"`
			}
			if json.Unmarshal(b, &req) != nil || req.ID == nil {
				continue
			}
			id := *req.ID
			var out string
			switch {
			case req.Method == "initialize" && overloadInit:
				overloadInit = false
				out = fmt.Sprintf(`{"error":{"code":-32001,"message":"Server overloaded; retry later."},"id":%d}`, id)
			case req.Method == "initialize" && !initialized:
				initialized = true
				if !send(fmt.Sprintf(`{"id":%d,"result":{"userAgent":"fake/0.0.0","codexHome":"/x"}}`, id)) {
					return
				}
				out = `{"method":"remoteControl/status/changed","params":{"status":"disabled"},"emittedAtMs":1}`
			case !initialized:
				out = fmt.Sprintf(`{"error":{"code":-32600,"message":"Not initialized"},"id":%d}`, id)
			case agent.handle(ctx, id, req.Method, req.Params, send):
				continue
			default:
				n++
				if n%10 == 0 && !send(`{"method":"configWarning","params":{"summary":"id\":1"},"emittedAtMs":2}`) {
					return
				}
				if n%overloadEvery == 0 {
					out = fmt.Sprintf(`{"id":%d,"error":{"message":"Server overloaded; retry later.","code":-32001}}`, id)
				} else {
					msg, _ := json.Marshal("Invalid request: unknown variant `" + req.Method + "`")
					out = fmt.Sprintf(`{"error":{"code":-32600,"message":%s},"id":%d}`, msg, id)
				}
			}
			if !send(out) {
				return
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startFakeURL(t *testing.T, token string) string {
	t.Helper()
	srv := httptest.NewServer(fakeHandler(token, 7, &fakeAgent{}))
	t.Cleanup(srv.Close)
	return "ws://" + strings.TrimPrefix(srv.URL, "http://")
}

func fakeServerArg(name string) string {
	return name + "=" + os.Args[0] + " --listen ws://127.0.0.1:0 --ws-auth capability-token --ws-token-file {token_file} --home {home}"
}

var short = []string{
	"--rounds", "1", "--duration", "200ms", "--warmup", "50ms", "--settle", "100ms",
	"--handshakes", "20", "--handshake-clients", "4", "--rpc", "4x4,8x2", "--idle-conns", "40",
	"--flooders", "2", "--flood-load", "4x4", "--dial-parallel", "4", "--quiet-wait", "0", "--redo", "0",
	"--deltas", "20", "--delta-gap", "1ms", "--delta-turns", "2", "--threads", "60",
}

func processGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

func TestEndToEnd(t *testing.T) {
	t.Setenv("APPSERVER_BENCH_FAKE", "1") // inherited by the started fake
	t.Setenv("BENCH_TEST_TOKEN", "url-token-0123456789")
	url := startFakeURL(t, "url-token-0123456789")
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	args := append([]string{"appserver-bench",
		"--server", fakeServerArg("proc"),
		"--url", "inproc=" + url, "--token-env", "BENCH_TEST_TOKEN", "--pid", "inproc=" + strconv.Itoa(os.Getpid()),
		"--json", jsonPath}, short...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr.String())

	if !strings.Contains(out, "--server 'proc="+os.Args[0]) {
		t.Error("command line not echoed")
	}
	if !strings.Contains(out, "| metric | proc | inproc | inproc / proc |") {
		t.Error("table header with ratio column missing")
	}
	for _, label := range []string{
		"handshake latency p50 (ms)", "handshake latency p99 (ms)", "handshakes/s, 4 clients",
		"4x4 req/s", "4x4 latency p99 (ms)", "4x4 answers -32001 (%)", "8x2 req/s",
		"rejected upgrades/s (401 or 429), 2 clients", "4x4 rate kept during flood (% of just before)",
		"RSS at startup, no connections (MiB)", "RSS per idle connection (KiB)",
		"bench CPU during 4x4 (cores)", "reject-flood other outcomes (total)",
	} {
		re := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(label) + ` \|(.*)$`)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("row %q missing", label)
			continue
		}
		cells := strings.Split(strings.Trim(m[1], " |"), "|")
		for i, c := range cells[:2] {
			c = strings.TrimSpace(c)
			if c == "n/a" {
				// The in-process server has no startup RSS: it was not started by the tool.
				if !(label == "RSS at startup, no connections (MiB)" && i == 1) {
					t.Errorf("row %q: n/a for server %d", label, i)
				}
			}
		}
	}
	// The in-process fake cannot be pointed at the provider: delta-latency
	// skips it (n/a), and only the started fake has a home to count files in.
	for _, row := range []struct{ label, proc, inproc string }{
		{"model text delta to item/agentMessage/delta p50 (ms)", `[0-9.]+`, "n/a"},
		{"turn/start sent to provider request, median (ms)", `[0-9.]+`, "n/a"},
		{"RSS per idle thread (KiB)", `-?[0-9.,]+`, `-?[0-9.,]+`},
		{"of which loaded afterwards (thread/loaded/list)", "60", "60"},
		{"files written under the server's home per thread", `0\.00`, "n/a"},
	} {
		re := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(row.label) + ` \| ` + row.proc + ` \| ` + row.inproc + ` \|`)
		if !re.MatchString(out) {
			t.Errorf("row %q: want | %s | %s |", row.label, row.proc, row.inproc)
		}
	}
	if strings.Contains(out, "Errors:") {
		t.Error("errors reported")
	}

	var rep struct {
		Servers []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"servers"`
		Runs []struct {
			Scenario string             `json:"scenario"`
			Server   string             `json:"server"`
			Metrics  map[string]float64 `json:"metrics"`
			Details  map[string]any     `json:"details"`
			Error    string             `json:"error"`
		} `json:"runs"`
		Summary map[string]map[string]struct {
			Value *float64 `json:"value"`
		} `json:"summary"`
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2*len(scenarioOrder) {
		t.Errorf("%d runs, want %d", len(rep.Runs), 2*len(scenarioOrder))
	}
	for _, r := range rep.Runs {
		if r.Error != "" {
			t.Errorf("%s on %s: %s", r.Scenario, r.Server, r.Error)
		}
		if r.Scenario == "rpc" {
			for _, sh := range []string{"4x4", "8x2"} {
				d, _ := r.Details[sh].(map[string]any)
				codes, _ := d["other_codes"].(map[string]any)
				if d["overloaded"].(float64) == 0 || codes["-32600"].(float64) == 0 {
					t.Errorf("%s %s: want both -32001 and -32600 answers, got %v", r.Server, sh, d)
				}
				if d["unmatched"].(float64) != 0 || d["invalid"].(float64) != 0 {
					t.Errorf("%s %s: unmatched/invalid answers: %v", r.Server, sh, d)
				}
				if pct := r.Metrics["rpc."+sh+".overload_pct"]; pct < 5 || pct > 30 {
					t.Errorf("%s %s: -32001 share %.1f %%, want about 1/5 or 1/7", r.Server, sh, pct)
				}
			}
		}
		if r.Scenario == "reject-flood" && (r.Metrics["reject.per_s"] <= 0 || r.Metrics["reject.non401"] != 0) {
			t.Errorf("reject-flood on %s: %v", r.Server, r.Metrics)
		}
		if r.Scenario == "handshake-rate" && r.Metrics["handshake_rate.init_retries"] == 0 {
			t.Errorf("handshake-rate on %s: the fake's -32001 initializes were not retried: %v", r.Server, r.Metrics)
		}
	}
	for _, name := range []string{"proc", "inproc"} {
		for _, k := range []string{"handshake.p50_ms", "handshake_rate.per_s", "rpc.4x4.req_per_s", "rpc.8x2.p99_ms",
			"reject.per_s", "flood.pct_of_baseline", "idle.rss0_mib"} {
			if v := rep.Summary[name][k].Value; v == nil || *v <= 0 {
				t.Errorf("summary %s %s = %v", name, k, v)
			}
		}
		if rep.Summary[name]["idle.kib_per_conn"].Value == nil { // may be ~0 for a Go fake
			t.Errorf("summary %s: no idle.kib_per_conn", name)
		}
	}
	if len(rep.Servers) != 2 || rep.Servers[0].PID <= 0 {
		t.Fatalf("servers: %+v", rep.Servers)
	}
	if !processGone(rep.Servers[0].PID) {
		t.Errorf("started server pid %d still running", rep.Servers[0].PID)
	}
}

// Cancelling the run (Ctrl-C) stops it promptly and kills the server.
func TestCancelStopsServer(t *testing.T) {
	t.Setenv("APPSERVER_BENCH_FAKE", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"appserver-bench", "--server", fakeServerArg("proc"), "--scenarios", "rpc",
			"--duration", "30s", "--settle", "0s", "--quiet-wait", "0", "--redo", "0"}, &stdout, &stderr)
	}()
	pidRE := regexp.MustCompile(`ready at \S+ \(pid (\d+),`)
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; {
		if m := pidRE.FindStringSubmatch(stderr.String()); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond) // into the request load
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !processGone(pid) {
		t.Errorf("server pid %d still running after cancel", pid)
	}
}

// flood-resilience alone works (it measures its own no-flood baseline);
// a server that exits at once or refuses the token is reported, not waited
// for.
func TestFloodResilienceAloneAndBadServer(t *testing.T) {
	t.Setenv("BENCH_TEST_TOKEN", "tok-abc")
	url := startFakeURL(t, "tok-abc")
	var stdout, stderr syncBuffer
	args := append([]string{"appserver-bench", "--url", "u=" + url, "--token-env", "BENCH_TEST_TOKEN",
		"--scenarios", "flood-resilience,idle-rss"}, short...)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "flood-resilience: baseline 4x4") {
		t.Errorf("no baseline measured:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "idle-rss: skipped") {
		t.Errorf("idle-rss without a pid was not skipped:\n%s", stderr.String())
	}
	if !regexp.MustCompile(`\| 4x4 rate kept during flood \(% of just before\) \| [0-9.]+ \|`).MatchString(stdout.String()) {
		t.Errorf("no flood row:\n%s", stdout.String())
	}

	// A command that exits at once.
	stderr = syncBuffer{}
	err := run(context.Background(), []string{"appserver-bench", "--server", "bad=/bin/false {token_file}"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "exited before printing its banner") {
		t.Errorf("bad server: %v", err)
	}
	// Wrong token for a --url server: every scenario fails, none hangs.
	t.Setenv("BENCH_TEST_TOKEN", "nope")
	stderr = syncBuffer{}
	stdout = syncBuffer{}
	args = append([]string{"appserver-bench", "--url", "u=" + url, "--token-env", "BENCH_TEST_TOKEN",
		"--scenarios", "handshake,rpc"}, short...)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(stdout.String(), "upgrade: HTTP 401") {
		t.Errorf("wrong token not reported:\n%s", stdout.String())
	}
}

// countingConn counts Write calls.
type countingConn struct {
	net.Conn
	writes int
	data   bytes.Buffer
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.data.Write(p)
}

func TestCorkConn(t *testing.T) {
	cc := &countingConn{}
	c := &corkConn{Conn: cc}
	c.Write([]byte("a"))
	c.cork()
	c.Write([]byte("b"))
	c.Write([]byte("c"))
	if cc.writes != 1 {
		t.Fatalf("%d writes while corked, want 1 (the one before)", cc.writes)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("d"))
	if cc.writes != 3 || cc.data.String() != "abcd" {
		t.Errorf("writes %d, data %q; want 3, abcd", cc.writes, cc.data.String())
	}
	if err := c.uncork(); err != nil || cc.writes != 3 {
		t.Errorf("empty uncork wrote: %v, %d", err, cc.writes)
	}
}

// Both write modes of the request load give the same answers.
func TestRPCWriteModes(t *testing.T) {
	t.Setenv("BENCH_TEST_TOKEN", "tok-modes")
	url := startFakeURL(t, "tok-modes")
	for _, batch := range []string{"true", "false"} {
		var stdout, stderr syncBuffer
		jsonPath := filepath.Join(t.TempDir(), "out.json")
		args := append([]string{"appserver-bench", "--url", "u=" + url, "--token-env", "BENCH_TEST_TOKEN",
			"--scenarios", "rpc", "--batch-writes=" + batch, "--json", jsonPath}, short...)
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("batch %s: %v\n%s", batch, err, stderr.String())
		}
		b, _ := os.ReadFile(jsonPath)
		var rep struct {
			Runs []struct {
				Details map[string]map[string]any `json:"details"`
				Error   string                    `json:"error"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(b, &rep); err != nil || len(rep.Runs) != 1 || rep.Runs[0].Error != "" {
			t.Fatalf("batch %s: %v %s", batch, err, b)
		}
		for sh, d := range rep.Runs[0].Details {
			if d["answers"].(float64) == 0 || d["unmatched"].(float64) != 0 || d["invalid"].(float64) != 0 {
				t.Errorf("batch %s, %s: %v", batch, sh, d)
			}
		}
	}
}
