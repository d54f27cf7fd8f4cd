package main

// Black-box tests of the hardened WebSocket boundary of the real binary,
// one server per group of promises, all with short timeouts set by flags:
//
//	TestHardeningConnectionLimits    --max-connections, --ws-max-pending-connections, 431
//	TestHardeningSlowClientsAndHosts --ws-read-header-timeout, --ws-ping-interval, Host checks
//	TestHardeningFailureLimitMetrics the failed-auth limit and /metrics behind auth
//	TestHardeningTokenRotation       SIGHUP, rename, failed reload, sessions stay
//	TestHardeningSignedBearer        --ws-max-token-lifetime, live expiry, --ws-close-on-rotate
//	TestHardeningTLS                 wss://, rpc --ca-file, TLS versions, ALPN, certificate reload
//	TestHardeningStartupFlags        flag combinations that must not start
//
// The top-level tests are deliberately not parallel. go test runs at most
// -parallel (GOMAXPROCS, 2 here) parallel tests at once, and a top-level
// test holding a slot for seconds delays the parallel subtests of
// wsauth_test.go, some of which compare against a time taken before they
// waited (TestWSSignedServer's "nbf 31 to 32 s ahead" has a 1-2 s margin).
// Sequential tests run before the parallel ones start, so they cannot
// delay them; their own subtests are still parallel among themselves.
//
// SECURITY.md §1.5 case numbers are named on each test. Raw requests reuse
// the wsa helpers of wsauth_test.go; hb helpers add a source address (the
// failure limit is per address, so each scenario uses its own 127.0.0.x),
// TLS, and Prometheus text parsing.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/appserver-go/appserver/auth"
)

const hbLimited = "too many failed authentication attempts; retry later"

// hbDial opens a TCP connection to addr from the source address src ("" for
// the default), closed when the test ends.
func hbDial(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hbExchange writes r on c (the wsaHandshake placeholder Host becomes
// host) and reads one response, as wsaDo does. After a 101 the connection
// stays open.
func hbExchange(t testing.TB, c net.Conn, host string, r wsaReq) *wsaResp {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	lines := append([]string{}, r.lines...)
	for i, l := range lines {
		if l == wsaPlaceholderHost {
			lines[i] = "Host: " + host
		}
	}
	r.lines = lines
	if _, err := c.Write(r.wire()); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	br := bufio.NewReader(c)
	method := r.method
	if method == "" {
		method = "GET"
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response to %q: %v", firstLineOf(string(r.wire())), err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	out := &wsaResp{status: resp.StatusCode, header: resp.Header, body: string(body), local: c.LocalAddr().String(), conn: c, br: br}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
	}
	return out
}

// hbDo is wsaDo from source address src.
func hbDo(t testing.TB, src, addr string, r wsaReq) *wsaResp {
	t.Helper()
	return hbExchange(t, hbDial(t, src, addr), addr, r)
}

// hbUpgrade is an upgrade request with a bearer token (none if empty).
func hbUpgrade(token string, extra ...string) wsaReq {
	if token != "" {
		extra = append([]string{"Authorization: Bearer " + token}, extra...)
	}
	return wsaReq{lines: wsaHandshake(extra...)}
}

// hbGet is a plain GET of path with extra header lines.
func hbGet(path string, extra ...string) wsaReq {
	return wsaReq{target: path, lines: append([]string{wsaPlaceholderHost}, extra...)}
}

func hbWithHost(r wsaReq, host string) wsaReq {
	r.lines = append(wsaWithout(r.lines, "Host"), "Host: "+host)
	return r
}

// hbExpect fails unless r has status (and body, if body is not "-").
func hbExpect(t testing.TB, what string, r *wsaResp, status int, body string) {
	t.Helper()
	if r.status != status || (body != "-" && r.body != body) {
		t.Fatalf("%s: %d %q, want %d %q", what, r.status, r.body, status, body)
	}
}

// hbClose reads frames off an upgraded raw connection until a close frame
// and returns its code, reason and the pings seen before it.
func hbClose(t testing.TB, r *wsaResp, within time.Duration) (code int, reason string, pings int) {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(within))
	for {
		op, p, err := wsaReadFrame(r.br)
		if err != nil {
			t.Fatalf("no close frame within %v (after %d pings): %v", within, pings, err)
		}
		switch op {
		case 0x9:
			pings++
		case 0x8:
			if len(p) < 2 {
				return 0, "", pings
			}
			return int(p[0])<<8 | int(p[1]), string(p[2:]), pings
		}
	}
}

// hbAlive sends initialize on an upgraded raw connection and waits for any
// answer to id 1 (a result, or "Already initialized"): the session serves.
func hbAlive(t testing.TB, r *wsaResp) {
	t.Helper()
	_ = r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsaWriteFrame(r.conn, 0x1, []byte(wsaInitialize)); err != nil {
		t.Fatalf("sending initialize: %v", err)
	}
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		op, msg, err := wsaReadFrame(r.br)
		if err != nil {
			t.Fatalf("no answer to initialize: %v", err)
		}
		switch op {
		case 0x1:
			if !strings.HasPrefix(string(msg), `{"id":1,`) {
				t.Fatalf("answer %s", msg)
			}
			return
		case 0x8:
			t.Fatalf("the session was closed: %q", msg)
		}
	}
}

// hbClient is a coder/websocket client whose reads run on a goroutine, so
// it answers pings all the time.
type hbClient struct {
	c    *websocket.Conn
	msgs chan []byte
	errc chan error
}

func hbCoder(t *testing.T, url, token string) *hbClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if token != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	cl := &hbClient{c: c, msgs: make(chan []byte, 16), errc: make(chan error, 1)}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, m, err := c.Read(rctx)
			if err != nil {
				cl.errc <- err
				return
			}
			select {
			case cl.msgs <- m:
			default:
			}
		}
	}()
	t.Cleanup(func() { rcancel(); c.CloseNow(); <-done })
	return cl
}

// call sends a request and returns the next message.
func (cl *hbClient) call(t *testing.T, req string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	select {
	case m := <-cl.msgs:
		return string(m)
	case err := <-cl.errc:
		t.Fatalf("connection ended: %v", err)
	case <-ctx.Done():
		t.Fatal("no answer")
	}
	return ""
}

func (cl *hbClient) closed(d time.Duration) (bool, error) {
	select {
	case err := <-cl.errc:
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

// hbWaitLog waits until the server's stderr holds n lines containing all of
// parts and returns how long that took.
func hbWaitLog(t *testing.T, s *server, n int, within time.Duration, parts ...string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if hbCountLines(s.stderr.String(), parts...) >= n {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("no %d log lines with %q within %v:\n%s", n, parts, within, s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hbCountLines(log string, parts ...string) int {
	n := 0
lines:
	for _, l := range strings.Split(log, "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue lines
			}
		}
		n++
	}
	return n
}

// hbReplace writes content to a temporary file next to path and renames
// it over path, as editors and secret mounts do.
func hbReplace(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// hbSeries parses Prometheus text into name{sorted labels} → value.
func hbSeries(t testing.TB, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[hbKey(line[:i])] = v
	}
	return out
}

// hbKey sorts the labels of name{k="v",...} (values without escapes).
func hbKey(s string) string {
	name, labels, ok := strings.Cut(s, "{")
	if !ok {
		return s
	}
	var parts []string
	for _, p := range strings.Split(strings.TrimSuffix(labels, "}"), `",`) {
		parts = append(parts, strings.TrimSuffix(p, `"`)+`"`)
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// ---------------------------------------------------------------------------
// Connection limits (cases 5, 41)

// hbHoldIdle opens a connection that sends nothing and checks that the
// server accepted it (no refusal arrives within 150 ms). A refusal caused
// by a connection the server has not yet noticed closing is retried.
func hbHoldIdle(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		n, err := c.Read(make([]byte, 1))
		var ne net.Error
		if n == 0 && errors.As(err, &ne) && ne.Timeout() {
			_ = c.SetReadDeadline(time.Time{})
			t.Cleanup(func() { c.Close() })
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("an idle connection was refused for 3 s (%d bytes, %v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hbRetry repeats do until it answers want (a freed slot is noticed by the
// server asynchronously) and returns the answer.
func hbRetry(t *testing.T, what string, want int, do func() *wsaResp) *wsaResp {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := do()
		if r.status == want || time.Now().After(deadline) {
			if r.status != want {
				t.Fatalf("%s: %d %q for 3 s, want %d", what, r.status, r.body, want)
			}
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHardeningConnectionLimits: a header block over the default 128 KiB
// gets 431 and one under it passes (case 5); past --ws-max-pending-connections
// 3 a fourth silent connection gets an immediate 503 "too many pending
// connections", past --max-connections 5 a sixth gets 503 "too many
// connections" (upgraded connections count there, not as pending), and
// closing connections frees their slots (case 41). The refusals are counted
// in appserver_connections_refused_total.
func TestHardeningConnectionLimits(t *testing.T) {
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--max-connections", "5", "--ws-max-pending-connections", "3", "--metrics")
	addr := strings.TrimPrefix(s.url, "ws://")
	// start's readiness probe left a keep-alive connection in the default
	// client's pool; it would hold a slot until the server's idle timeout.
	http.DefaultClient.CloseIdleConnections()

	t.Run("header size", func(t *testing.T) {
		c := hbDial(t, "", addr)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		big := wsaReq{lines: wsaHandshake("X-Pad: " + strings.Repeat("p", 200_000))}
		big.lines[0] = "Host: " + addr
		go func() { _, _ = c.Write(big.wire()) }()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer to a 200 KB header: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("200 KB header: %d, want 431", resp.StatusCode)
		}
		c.Close()
		r := hbRetry(t, "100 KB header", 101, func() *wsaResp {
			return hbDo(t, "", addr, hbUpgrade("", "X-Pad: "+strings.Repeat("p", 100_000)))
		})
		r.conn.Close()
	})

	t.Run("pending", func(t *testing.T) {
		var idle []net.Conn
		for range 3 {
			idle = append(idle, hbHoldIdle(t, addr))
		}
		start := time.Now()
		r := hbDo(t, "", addr, hbGet("/readyz"))
		hbExpect(t, "fourth pending connection", r, 503, "too many pending connections")
		if el := time.Since(start); el > time.Second {
			t.Errorf("the refusal took %v", el)
		}
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		for _, c := range idle {
			c.Close()
		}
		hbRetry(t, "GET /readyz after closing the idle connections", 200, func() *wsaResp { return hbDo(t, "", addr, hbGet("/readyz")) })
		// All three slots are free again.
		for range 3 {
			hbHoldIdle(t, addr).Close()
		}
	})

	t.Run("open", func(t *testing.T) {
		var held []*wsaResp
		for i := range 5 {
			held = append(held, hbRetry(t, fmt.Sprintf("upgrade %d", i+1), 101, func() *wsaResp { return hbDo(t, "", addr, hbUpgrade("")) }))
		}
		hbExpect(t, "sixth connection, an upgrade", hbDo(t, "", addr, hbUpgrade("")), 503, "too many connections")
		hbExpect(t, "sixth connection, GET /readyz", hbDo(t, "", addr, hbGet("/readyz")), 503, "too many connections")
		held[0].conn.Close()
		held[0] = hbRetry(t, "upgrade after closing one", 101, func() *wsaResp { return hbDo(t, "", addr, hbUpgrade("")) })
		hbAlive(t, held[0])
		hbExpect(t, "sixth connection again", hbDo(t, "", addr, hbUpgrade("")), 503, "too many connections")
		held[1].conn.Close()
		held[2].conn.Close()

		var m map[string]float64
		deadline := time.Now().Add(3 * time.Second)
		for {
			r := hbDo(t, "", addr, hbGet("/metrics"))
			if r.status == 200 {
				m = hbSeries(t, r.body)
				if m["appserver_connections"] == 3 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics: %d, appserver_connections %v, want 3 sessions", r.status, m["appserver_connections"])
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, reason := range []string{"too many connections", "too many pending connections"} {
			k := hbKey(`appserver_connections_refused_total{reason="` + reason + `"}`)
			if m[k] < 1 {
				t.Errorf("%s = %v, want at least 1", k, m[k])
			}
		}
		if n := m[hbKey(`appserver_connections_refused_total{reason="too many connections"}`)]; n < 3 {
			t.Errorf("refused for too many connections: %v, want at least 3", n)
		}
	})
}

// TestHardeningLimitFlags checks that the size and per-address limits
// take their flags, not only their defaults: a header over
// --ws-max-header-bytes gets 431 and one under it an upgrade, and a third
// pending connection from one address gets 503 with
// --ws-max-pending-per-address 2 while another address still gets in.
func TestHardeningLimitFlags(t *testing.T) {
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-max-header-bytes", "8192", "--ws-max-pending-per-address", "2")
	addr := strings.TrimPrefix(s.url, "ws://")
	http.DefaultClient.CloseIdleConnections()

	r := hbDo(t, "", addr, hbUpgrade("", "X-Pad: "+strings.Repeat("p", 20_000)))
	hbExpect(t, "a 20 KB header with an 8 KB limit", r, 431, "431 Request Header Fields Too Large")
	hbRetry(t, "a 4 KB header", 101, func() *wsaResp {
		return hbDo(t, "", addr, hbUpgrade("", "X-Pad: "+strings.Repeat("p", 4_000)))
	}).conn.Close()

	for range 2 {
		hbHoldIdle(t, addr)
	}
	hbExpect(t, "a third pending connection from 127.0.0.1", hbDo(t, "127.0.0.1", addr, hbGet("/readyz")), 503, "too many pending connections from this address")
	hbExpect(t, "a connection from 127.0.0.2", hbDo(t, "127.0.0.2", addr, hbGet("/readyz")), 200, "")
}

// ---------------------------------------------------------------------------
// Slow clients and Host checks (cases 9, 12, 13, 41)

// TestHardeningSlowClientsAndHosts runs one loopback server without auth
// with --ws-read-header-timeout 500ms, --ws-ping-interval 200ms and two
// --ws-allowed-host names.
func TestHardeningSlowClientsAndHosts(t *testing.T) {
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-read-header-timeout", "500ms", "--ws-ping-interval", "200ms",
		"--ws-allowed-host", "proxy.example", "--ws-allowed-host", "tailnet.ts.net:8443")
	addr := strings.TrimPrefix(s.url, "ws://")
	_, port, _ := net.SplitHostPort(addr)

	// Case 41: a client that sends half a request, or trickles it, or
	// sends nothing, is closed once the header timeout has passed, and
	// gets no upgrade.
	slow := func(t *testing.T, send func(c net.Conn, stop <-chan struct{})) {
		t.Parallel()
		c := hbDial(t, "", addr)
		start := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go send(c, stop)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		el := time.Since(start)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("still open after %v", el)
		}
		if strings.Contains(string(got), " 101 ") {
			t.Fatalf("upgraded: %q", got)
		}
		if el < 400*time.Millisecond || el > 1500*time.Millisecond {
			t.Errorf("closed after %v, want about 500ms", el)
		}
	}
	t.Run("half a request", func(t *testing.T) {
		slow(t, func(c net.Conn, _ <-chan struct{}) {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSo")
		})
	})
	t.Run("trickled headers", func(t *testing.T) {
		slow(t, func(c net.Conn, stop <-chan struct{}) {
			msg := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: " + strings.Repeat("s", 100)
			for i := range len(msg) {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte{msg[i]}); err != nil {
					return
				}
			}
		})
	})
	t.Run("nothing at all", func(t *testing.T) {
		slow(t, func(net.Conn, <-chan struct{}) {})
	})
	// Complete headers that declare a body which never comes: the answer
	// goes out, and the connection is closed at the same deadline rather
	// than held while net/http waits to drain the body.
	t.Run("stalled body", func(t *testing.T) {
		slow(t, func(c net.Conn, _ <-chan struct{}) {
			io.WriteString(c, "POST /readyz HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 100000\r\n\r\nx")
		})
	})
	t.Run("stalled body on an upgrade", func(t *testing.T) {
		slow(t, func(c net.Conn, _ <-chan struct{}) {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 100000\r\n\r\nx")
		})
	})

	// Keepalive: a raw client that never answers is pinged and closed with
	// 1008 "keepalive timeout"; coder's client, which answers pings while
	// it reads, stays past a second and still works.
	t.Run("keepalive closes a silent client", func(t *testing.T) {
		t.Parallel()
		r := wsaDo(t, "tcp", addr, hbUpgrade(""))
		hbExpect(t, "upgrade", r, 101, "-")
		start := time.Now()
		code, reason, pings := hbClose(t, r, 3*time.Second)
		el := time.Since(start)
		if code != 1008 || reason != "keepalive timeout" {
			t.Errorf("close %d %q, want 1008 keepalive timeout", code, reason)
		}
		if pings < 1 || el < 350*time.Millisecond || el > 1200*time.Millisecond {
			t.Errorf("closed after %v and %d pings; want within about 1 s at a 200ms interval", el, pings)
		}
	})
	t.Run("keepalive keeps a reading client", func(t *testing.T) {
		t.Parallel()
		cl := hbCoder(t, s.url, "")
		if closed, err := cl.closed(1200 * time.Millisecond); closed {
			t.Fatalf("the client that answers pings was closed: %v", err)
		}
		if m := cl.call(t, wsaInitialize); !strings.Contains(m, `"userAgent"`) {
			t.Errorf("initialize after 1.2 s: %s", m)
		}
	})

	// DNS rebinding (cases 12, 13; 9 for the order against Origin).
	t.Run("Host", func(t *testing.T) {
		t.Parallel()
		const no = "host not allowed"
		var rows []wsaRow
		for _, h := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port, "127.0.0.1.nip.io:" + port,
			"evil-localhost:" + port, "tailnet.ts.net", "tailnet.ts.net:9999", "sub.proxy.example", "proxy.example.evil", "0.0.0.0:" + port} {
			rows = append(rows,
				wsaRow{name: "upgrade, Host " + h, req: hbWithHost(hbUpgrade(""), h), status: 403, body: no},
				wsaRow{name: "GET /readyz, Host " + h, req: hbWithHost(hbGet("/readyz"), h), status: 403, body: no},
			)
		}
		rows = append(rows,
			wsaRow{name: "HEAD /healthz, evil Host", req: wsaReq{method: "HEAD", target: "/healthz", lines: []string{"Host: evil.example:" + port}}, status: 403},
			wsaRow{name: "GET /metrics, evil Host", req: hbWithHost(hbGet("/metrics"), "evil.example:"+port), status: 403, body: no},
			wsaRow{name: "evil Host and Origin: the Host answer", req: hbWithHost(hbUpgrade("", "Origin: https://evil.example"), "evil.example"), status: 403, body: no},
			wsaRow{name: "evil Host, X-Forwarded-Host localhost", req: hbWithHost(hbUpgrade("", "X-Forwarded-Host: localhost", "Forwarded: host=localhost", "X-Forwarded-For: 127.0.0.1"), "evil.example"), status: 403, body: no},
			wsaRow{name: "localhost Host, X-Forwarded-Host evil", req: hbWithHost(hbUpgrade("", "X-Forwarded-Host: evil.example", "Forwarded: host=evil.example"), "localhost:"+port), status: 101},
			wsaRow{name: "HTTP/1.0 without Host", req: wsaReq{target: "/readyz", proto: "HTTP/1.0"}, status: 200},
		)
		for _, h := range []string{"localhost:" + port, "LOCALHOST:" + port, "localhost", "127.0.0.1:" + port, "127.8.9.10:" + port, "[::1]:" + port,
			"[::ffff:127.0.0.1]:" + port, "proxy.example", "proxy.example:443", "PROXY.EXAMPLE", "tailnet.ts.net:8443"} {
			rows = append(rows,
				wsaRow{name: "upgrade, Host " + h, req: hbWithHost(hbUpgrade(""), h), status: 101},
				wsaRow{name: "GET /healthz, Host " + h, req: hbWithHost(hbGet("/healthz"), h), status: 200},
			)
		}
		wsaRunRows(t, "tcp", addr, rows)
	})

	// Without --metrics, /metrics is one more WebSocket path.
	t.Run("no --metrics", func(t *testing.T) {
		t.Parallel()
		hbExpect(t, "plain GET /metrics", wsaDo(t, "tcp", addr, hbGet("/metrics")), 400, "Connection header did not include 'upgrade'")
		r := wsaDo(t, "tcp", addr, wsaReq{target: "/metrics", lines: wsaHandshake()})
		hbExpect(t, "upgrade to /metrics", r, 101, "-")
		wsaCheckSession(t, r)
	})
}

// ---------------------------------------------------------------------------
// Failed-auth limit and metrics (cases 9, 12, 34, 40)

// TestHardeningFailureLimitMetrics runs a loopback capability-token server
// with --metrics and the default failure limit (burst 10, interval 10s).
// Each scenario uses its own source address, since the limit is per
// address.
func TestHardeningFailureLimitMetrics(t *testing.T) {
	token := wsaNewToken(t)
	file := wsaWriteFile(t, t.TempDir(), "token", token+"\n", 0o600)
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", file, "--metrics", "--log-format", "json")
	addr := strings.TrimPrefix(s.url, "ws://")
	upgrades := 0 // upgrades this test completes, for the metrics
	var wrongs []string
	wrong := func() string {
		w := "wrong-" + wsaNewToken(t)
		wrongs = append(wrongs, w)
		return w
	}

	// Case 40: ten wrong tokens get 401; the eleventh attempt, even with
	// the right token, gets 429 with Retry-After; so does /metrics; health
	// routes and other addresses are unaffected.
	t.Run("burst then 429", func(t *testing.T) {
		const src = "127.0.0.2"
		for i := range 10 {
			hbExpect(t, fmt.Sprintf("wrong token %d", i+1), hbDo(t, src, addr, hbUpgrade(wrong())), 401, "invalid websocket bearer token")
		}
		r := hbDo(t, src, addr, hbUpgrade(token))
		hbExpect(t, "the right token as the 11th attempt", r, 429, hbLimited)
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 8 || ra > 10 {
			t.Errorf("Retry-After %q, want the seconds left of the 10 s interval", r.header.Get("Retry-After"))
		}
		hbExpect(t, "/metrics with the right token while limited", hbDo(t, src, addr, hbGet("/metrics", "Authorization: Bearer "+token)), 429, hbLimited)
		hbExpect(t, "/readyz while limited", hbDo(t, src, addr, hbGet("/readyz")), 200, "")
		other := hbDo(t, "127.0.0.1", addr, hbUpgrade(token))
		hbExpect(t, "the right token from another address", other, 101, "-")
		upgrades++
		other.conn.Close()
	})

	// Case 40: a successful upgrade takes nothing from the bucket.
	t.Run("success does not consume", func(t *testing.T) {
		const src = "127.0.0.3"
		for i := range 9 {
			hbExpect(t, fmt.Sprintf("wrong token %d", i+1), hbDo(t, src, addr, hbUpgrade(wrong())), 401, "invalid websocket bearer token")
		}
		r := hbDo(t, src, addr, hbUpgrade(token))
		hbExpect(t, "the right token after 9 wrong", r, 101, "-")
		upgrades++
		r.conn.Close()
		hbExpect(t, "a tenth wrong token after the success", hbDo(t, src, addr, hbUpgrade(wrong())), 401, "invalid websocket bearer token")
		hbExpect(t, "the right token after 10 failures", hbDo(t, src, addr, hbUpgrade(token)), 429, hbLimited)
	})

	t.Run("metrics", func(t *testing.T) {
		r := hbDo(t, "", addr, hbGet("/metrics"))
		hbExpect(t, "/metrics without a token", r, 401, "missing websocket bearer token")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
		}
		hbExpect(t, "/metrics with a wrong token", hbDo(t, "", addr, hbGet("/metrics", "Authorization: Bearer "+wrong())), 401, "invalid websocket bearer token")
		hbExpect(t, "/metrics with Origin", hbDo(t, "", addr, hbGet("/metrics", "Authorization: Bearer "+token, "Origin: http://127.0.0.1")), 403, "")
		hbExpect(t, "/metrics with Host evil", hbWithHostDo(t, addr, hbGet("/metrics", "Authorization: Bearer "+token), "evil.example"), 403, "host not allowed")
		hbExpect(t, "POST /metrics", hbDo(t, "", addr, wsaReq{method: "POST", target: "/metrics", lines: []string{wsaPlaceholderHost, "Authorization: Bearer " + token, "Content-Length: 0"}}), 405, "")

		// Traffic: one session with initialize and an unknown method.
		cl := hbCoder(t, s.url, token)
		upgrades++
		if m := cl.call(t, wsaInitialize); !strings.Contains(m, `"userAgent"`) {
			t.Fatalf("initialize: %s", m)
		}
		if m := cl.call(t, `{"id":2,"method":"no/such-method","params":{}}`); !strings.Contains(m, `"code":-32600`) {
			t.Fatalf("unknown method: %s", m)
		}

		var m map[string]float64
		var body string
		deadline := time.Now().Add(3 * time.Second)
		for {
			r := hbDo(t, "", addr, hbGet("/metrics", "Authorization: Bearer "+token))
			hbExpect(t, "/metrics with the token", r, 200, "-")
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			body, m = r.body, hbSeries(t, r.body)
			if m["appserver_connections"] == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, name := range []string{"appserver_websocket_upgrades_total", "appserver_connections", "appserver_requests_total",
			"appserver_requests_in_flight", "appserver_outbound_queue_messages", "appserver_slow_consumer_disconnects_total"} {
			if !strings.Contains(body, "\n"+name) {
				t.Errorf("no %s in /metrics", name)
			}
		}
		for k, v := range map[string]float64{
			`appserver_websocket_upgrades_total{outcome="rejected",reason="invalid websocket bearer token"}`: 20,
			// Decisions about /metrics requests (the 401 without a token,
			// one of the 429s) are logged but not counted as upgrades.
			`appserver_websocket_upgrades_total{outcome="limited",reason="too many failed attempts"}`: 2,
			`appserver_requests_total{code="0",method="initialize"}`:                                  1,
			`appserver_requests_total{code="-32600",method="unknown"}`:                                1,
			"appserver_connections":                     1,
			"appserver_requests_in_flight":              0,
			"appserver_outbound_queue_messages":         0,
			"appserver_slow_consumer_disconnects_total": 0,
		} {
			if got, ok := m[hbKey(k)]; !ok || got != v {
				t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
			}
		}
		for k := range m {
			if strings.HasPrefix(k, "appserver_requests_total{") && strings.Contains(k, "no/such-method") {
				t.Errorf("an unknown method has its own series: %s", k)
			}
		}
	})

	// appserver_websocket_upgrades_total counts WebSocket upgrade
	// decisions; a scrape of /metrics is not an upgrade.
	t.Run("scrapes are not counted as upgrades", func(t *testing.T) {
		var got float64
		for range 2 {
			r := hbDo(t, "", addr, hbGet("/metrics", "Authorization: Bearer "+token))
			hbExpect(t, "/metrics", r, 200, "-")
			got = hbSeries(t, r.body)[hbKey(`appserver_websocket_upgrades_total{outcome="accepted",reason="ok"}`)]
		}
		if got != float64(upgrades) {
			t.Errorf(`appserver_websocket_upgrades_total{outcome="accepted",reason="ok"} = %v after %d upgrades and several authenticated scrapes, want %d`, got, upgrades, upgrades)
		}
	})

	t.Run("logs", func(t *testing.T) {
		s.stop(t)
		log := s.stderr.String()
		leaks := map[string]string{"the token": token}
		for i, w := range wrongs {
			leaks[fmt.Sprintf("wrong token %d", i)] = w
		}
		wsaNoLeak(t, log, leaks)
		per := map[string]int{}
		for _, ev := range wsaJSONEvents(t, log) {
			if ev["msg"] == "limiting failed websocket authentication" {
				a, _ := ev["address"].(string)
				per[a]++
				if ev["level"] != "WARN" {
					t.Errorf("limiting logged at %v", ev["level"])
				}
			}
		}
		if per["127.0.0.2/32"] != 1 || per["127.0.0.3/32"] != 1 || len(per) != 2 {
			t.Errorf("limiting events per address %v, want one each for 127.0.0.2/32 and 127.0.0.3/32", per)
		}
	})
}

func hbWithHostDo(t *testing.T, addr string, r wsaReq, host string) *wsaResp {
	t.Helper()
	return hbDo(t, "", addr, hbWithHost(r, host))
}

// ---------------------------------------------------------------------------
// Token rotation (cases 17, 34, 40, 44)

// TestHardeningTokenRotation: SIGHUP rotates the token (the configured path
// is a symlink into a directory that is not watched, so nothing changes
// before the signal); replacing the file by rename rotates it within about
// a second; an empty file is refused and the old token stays; sessions
// opened with old tokens stay open without --ws-close-on-rotate. The same
// server has --ws-auth-failure-interval 200ms: a limited address gets in
// again after the wait.
func TestHardeningTokenRotation(t *testing.T) {
	watched, hidden := t.TempDir(), t.TempDir()
	tok := []string{wsaNewToken(t), wsaNewToken(t), wsaNewToken(t), wsaNewToken(t)}
	target := wsaWriteFile(t, hidden, "real", tok[0]+"\n", 0o600)
	link := filepath.Join(watched, "token")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", link,
		"--ws-auth-failure-interval", "200ms")
	addr := strings.TrimPrefix(s.url, "ws://")
	const rotated = "credential rotated; new upgrades use it"
	// status upgrades with token; an upgraded connection is closed at once,
	// so the server has no raw session waiting for a close reply at exit.
	status := func(token string) int {
		r := hbDo(t, "", addr, hbUpgrade(token))
		r.conn.Close()
		return r.status
	}

	first := wsaDo(t, "tcp", addr, hbUpgrade(tok[0]))
	hbExpect(t, "first session", first, 101, "-")
	_ = first.conn.SetDeadline(time.Time{}) // it lives through the whole test
	hbAlive(t, first)

	t.Run("SIGHUP", func(t *testing.T) {
		hbReplace(t, target, []byte(tok[1]+"\n"))
		time.Sleep(400 * time.Millisecond) // twice the reload debounce
		if st := status(tok[0]); st != 101 || strings.Contains(s.stderr.String(), rotated) {
			t.Fatalf("before SIGHUP: old token %d, log:\n%s", st, s.stderr)
		}
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if took := hbWaitLog(t, s, 1, 2*time.Second, rotated, "why=SIGHUP"); took > 500*time.Millisecond {
			t.Errorf("rotated %v after SIGHUP", took)
		}
		if st := status(tok[1]); st != 101 {
			t.Errorf("new token after SIGHUP: %d", st)
		}
		if st := status(tok[0]); st != 401 {
			t.Errorf("old token after SIGHUP: %d", st)
		}
	})

	t.Run("rename", func(t *testing.T) {
		hbReplace(t, link, []byte(tok[2]+"\n"))
		if took := hbWaitLog(t, s, 2, 3*time.Second, rotated); took > time.Second {
			t.Errorf("rotated %v after the rename, want within about 1 s", took)
		}
		if st := status(tok[2]); st != 101 {
			t.Errorf("new token after the rename: %d", st)
		}
		if st := status(tok[1]); st != 401 {
			t.Errorf("previous token after the rename: %d", st)
		}
	})

	t.Run("empty file keeps the old token", func(t *testing.T) {
		if err := os.WriteFile(link, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		hbWaitLog(t, s, 1, 3*time.Second, "credential reload failed; keeping the old credential")
		if st := status(tok[2]); st != 101 {
			t.Errorf("token in force after the empty file: %d", st)
		}
		// The watch goes on after a failure.
		hbReplace(t, link, []byte(tok[3]))
		hbWaitLog(t, s, 3, 3*time.Second, rotated)
		if st := status(tok[3]); st != 101 {
			t.Errorf("token after recovering: %d", st)
		}
	})

	t.Run("old session stays open", func(t *testing.T) {
		hbAlive(t, first)
	})

	// Case 40 with a 200ms interval: limited, then in again after the wait.
	t.Run("failure interval", func(t *testing.T) {
		const src = "127.0.0.4"
		var r *wsaResp
		n401 := 0
		start := time.Now()
		for range 30 {
			r = hbDo(t, src, addr, hbUpgrade("wrong-"+strconv.Itoa(n401)))
			if r.status != 401 {
				break
			}
			n401++
		}
		hbExpect(t, "first refusal", r, 429, hbLimited)
		if el := time.Since(start); n401 < 10 || n401 > 10+int(el/(200*time.Millisecond))+1 {
			t.Errorf("%d wrong tokens got 401 in %v before the first 429, want 10 (plus one per 200ms)", n401, el)
		}
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 0 || ra > 1 {
			t.Errorf("Retry-After %q, want 0 or 1 s for a 200ms interval", r.header.Get("Retry-After"))
		}
		time.Sleep(250 * time.Millisecond)
		ok := hbDo(t, src, addr, hbUpgrade(tok[3]))
		hbExpect(t, "the right token after the wait", ok, 101, "-")
		hbAlive(t, ok)
		ok.conn.Close()
	})

	t.Run("no token in the logs", func(t *testing.T) {
		first.conn.Close()
		s.stop(t)
		wsaNoLeak(t, s.stderr.String(), map[string]string{"token 0": tok[0], "token 1": tok[1], "token 2": tok[2], "token 3": tok[3]})
	})
}

// ---------------------------------------------------------------------------
// Signed bearer tokens (cases 27, 28, 34, 44)

// TestHardeningSignedBearer runs a JWT server with skew 0,
// --ws-max-token-lifetime 1h and --ws-close-on-rotate.
func TestHardeningSignedBearer(t *testing.T) {
	dir := t.TempDir()
	secret0, secret1 := strings.Repeat("a", 20)+wsaNewToken(t), strings.Repeat("b", 20)+wsaNewToken(t)
	file := wsaWriteFile(t, dir, "secret", secret0+"\n", 0o600)
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", file,
		"--ws-max-clock-skew-seconds", "0", "--ws-max-token-lifetime", "1h", "--ws-close-on-rotate")
	addr := strings.TrimPrefix(s.url, "ws://")
	var jwts []string
	sign := func(secret string, claims map[string]any) string {
		tok, err := auth.SignHS256([]byte(secret), claims)
		if err != nil {
			t.Fatal(err)
		}
		jwts = append(jwts, tok)
		return tok
	}
	if b := wsaBanner(t, s, 6); len(b) != 6 || !strings.HasSuffix(b[5], ", clock skew 0s, max lifetime 1h0m0s)") {
		t.Errorf("banner %q", b)
	}

	t.Run("before rotation", func(t *testing.T) {
		// Case 28.
		t.Run("max token lifetime", func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			u := func(d time.Duration) int64 { return now.Add(d).Unix() }
			const invalid = "invalid websocket jwt"
			wsaRunRows(t, "tcp", addr, []wsaRow{
				{name: "2h without iat", req: hbUpgrade(sign(secret0, map[string]any{"exp": u(2 * time.Hour)})), status: 401, body: invalid},
				{name: "2h from iat", req: hbUpgrade(sign(secret0, map[string]any{"iat": u(0), "exp": u(2 * time.Hour)})), status: 401, body: invalid},
				{name: "30m left of a 2.5h lifetime", req: hbUpgrade(sign(secret0, map[string]any{"iat": u(-2 * time.Hour), "exp": u(30 * time.Minute)})), status: 401, body: invalid},
				{name: "iat in the future stretching the lifetime", req: hbUpgrade(sign(secret0, map[string]any{"iat": u(10 * time.Minute), "exp": u(30 * time.Minute)})), status: 401, body: invalid},
				{name: "years ahead", req: hbUpgrade(sign(secret0, map[string]any{"exp": u(5 * 365 * 24 * time.Hour)})), status: 401, body: invalid},
				{name: "30m without iat", req: hbUpgrade(sign(secret0, map[string]any{"exp": u(30 * time.Minute)})), status: 101},
				{name: "30m from iat", req: hbUpgrade(sign(secret0, map[string]any{"iat": u(0), "exp": u(30 * time.Minute)})), status: 101},
				{name: "59m from iat", req: hbUpgrade(sign(secret0, map[string]any{"iat": u(0), "exp": u(59 * time.Minute)})), status: 101},
			})
		})
		// Live expiry (issue feature 5; case 27's exp with skew 0).
		t.Run("live expiry", func(t *testing.T) {
			t.Parallel()
			exp := time.Now().Add(2 * time.Second).Unix()
			tok := sign(secret0, map[string]any{"exp": exp, "sub": "expiring"})
			r := wsaDo(t, "tcp", addr, hbUpgrade(tok))
			hbExpect(t, "upgrade", r, 101, "-")
			hbAlive(t, r)
			code, reason, _ := hbClose(t, r, 5*time.Second)
			if code != 1008 || reason != "token expired" {
				t.Errorf("close %d %q, want 1008 token expired", code, reason)
			}
			if late := time.Since(time.Unix(exp, 0)); late < -50*time.Millisecond || late > time.Second {
				t.Errorf("closed %v after exp (skew 0)", late)
			}
			hbExpect(t, "the same token again", wsaDo(t, "tcp", addr, hbUpgrade(tok)), 401, "expired websocket jwt")
		})
	})

	// Case 44 with --ws-close-on-rotate.
	t.Run("close on rotate", func(t *testing.T) {
		claims := func() map[string]any {
			return map[string]any{"exp": time.Now().Add(30 * time.Minute).Unix(), "sub": "rot"}
		}
		old := wsaDo(t, "tcp", addr, hbUpgrade(sign(secret0, claims())))
		hbExpect(t, "session with the old secret", old, 101, "-")
		hbAlive(t, old)
		hbReplace(t, file, []byte(secret1+"\n"))
		code, reason, _ := hbClose(t, old, 3*time.Second)
		if code != 1008 || reason != "credentials rotated" {
			t.Errorf("old session closed %d %q, want 1008 credentials rotated", code, reason)
		}
		hbExpect(t, "a JWT signed with the old secret", wsaDo(t, "tcp", addr, hbUpgrade(sign(secret0, claims()))), 401, "invalid websocket jwt")
		fresh := wsaDo(t, "tcp", addr, hbUpgrade(sign(secret1, claims())))
		hbExpect(t, "a JWT signed with the new secret", fresh, 101, "-")
		hbAlive(t, fresh)

		// A reload that changes nothing (SIGHUP, same file) and one that
		// fails (a secret under 32 bytes) close nothing.
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		hbReplace(t, file, []byte("too-short\n"))
		hbWaitLog(t, s, 1, 3*time.Second, "credential reload failed; keeping the old credential")
		hbAlive(t, fresh)
		fresh.conn.Close()
		again := wsaDo(t, "tcp", addr, hbUpgrade(sign(secret1, claims())))
		hbExpect(t, "the new secret after the failed reload", again, 101, "-")
		again.conn.Close()
		if n := hbCountLines(s.stderr.String(), "credential rotated; new upgrades use it"); n != 1 {
			t.Errorf("%d rotations logged, want 1", n)
		}
	})

	t.Run("no secret or JWT in the logs", func(t *testing.T) {
		s.stop(t)
		leaks := map[string]string{"secret 0": secret0, "secret 1": secret1}
		for i, j := range jwts {
			leaks[fmt.Sprintf("JWT %d", i)] = j
		}
		wsaNoLeak(t, s.stderr.String(), leaks)
	})
}

// ---------------------------------------------------------------------------
// TLS (cases 34, 36; 12 for the non-loopback Host rule)

// hbCA is a private certificate authority for the tests.
type hbCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func hbNewCA(t *testing.T) *hbCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "appserver test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &hbCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a server certificate for 127.0.0.1 with serial, and its key,
// as PEM.
func (ca *hbCA) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestHardeningTLS runs a wss:// server on 0.0.0.0 with a certificate from
// a private CA (the files are symlinks into a directory that is not
// watched, so SIGHUP alone reloads them), capability-token auth and a
// 500ms header timeout.
func TestHardeningTLS(t *testing.T) {
	ca := hbNewCA(t)
	watched, hidden, other := t.TempDir(), t.TempDir(), t.TempDir()
	caFile := filepath.Join(other, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	c1, k1 := ca.issue(t, 100)
	certTarget, keyTarget := filepath.Join(hidden, "cert.pem"), filepath.Join(hidden, "key.pem")
	for p, b := range map[string][]byte{certTarget: c1, keyTarget: k1} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	certLink, keyLink := filepath.Join(watched, "cert.pem"), filepath.Join(watched, "key.pem")
	if err := os.Symlink(certTarget, certLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(keyTarget, keyLink); err != nil {
		t.Fatal(err)
	}
	token := wsaNewToken(t)
	tokenFile := wsaWriteFile(t, other, "token", token+"\n", 0o600)

	s := start(t, nil, "--listen", "wss://0.0.0.0:0", "--tls-cert", certLink, "--tls-key", keyLink,
		"--ws-auth", "capability-token", "--ws-token-file", tokenFile, "--ws-read-header-timeout", "500ms")
	_, port, err := net.SplitHostPort(strings.TrimPrefix(s.url, "wss://"))
	if err != nil || !strings.HasPrefix(s.url, "wss://") {
		t.Fatalf("banner URL %q", s.url)
	}
	addr := "127.0.0.1:" + port
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	dialTLS := func(cfg *tls.Config) (*tls.Conn, error) {
		cfg.RootCAs = pool
		return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	}
	serial := func() int64 {
		c, err := dialTLS(&tls.Config{})
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}

	t.Run("banner", func(t *testing.T) {
		wsaCheckBanner(t, s, []string{
			"appserver (WebSockets)",
			"  listening on: wss://0.0.0.0:" + port,
			"  readyz: https://0.0.0.0:" + port + "/readyz",
			"  healthz: https://0.0.0.0:" + port + "/healthz",
			"  note: websocket auth is required for non-localhost listeners",
			"  auth: capability-token (token file " + tokenFile + ", fingerprint " + wsaFingerprint(token) + ")",
		})
	})

	t.Run("protocol", func(t *testing.T) {
		// TLS 1.2 and 1.3 work, 1.1 does not.
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			c, err := dialTLS(&tls.Config{MinVersion: v, MaxVersion: v})
			if err != nil {
				t.Errorf("TLS %x: %v", v, err)
				continue
			}
			c.Close()
		}
		if c, err := dialTLS(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
			c.Close()
			t.Error("a TLS 1.1-only client completed the handshake")
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("TLS 1.1-only client: %v, want a protocol version alert", err)
		}
		// No HTTP/2 through ALPN.
		c, err := dialTLS(&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Errorf("ALPN negotiated %q", p)
		}
		c.Close()
		if c, err := dialTLS(&tls.Config{NextProtos: []string{"h2"}}); err == nil {
			if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
				t.Errorf("an h2-only client negotiated %q", p)
			}
			c.Close()
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
			t.Errorf("https GET /readyz: %d over %s", resp.StatusCode, resp.Proto)
		}
	})

	t.Run("upgrades", func(t *testing.T) {
		raw := func(req wsaReq) *wsaResp {
			c, err := dialTLS(&tls.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return hbExchange(t, c, addr, req)
		}
		hbExpect(t, "no token", raw(hbUpgrade("")), 401, "missing websocket bearer token")
		r := raw(hbUpgrade(token))
		hbExpect(t, "token", r, 101, "-")
		wsaCheckSession(t, r)
		// A non-loopback listener checks no Host (auth is mandatory).
		r = raw(hbWithHost(hbUpgrade(token), "evil.example"))
		hbExpect(t, "token, any Host", r, 101, "-")
		r.conn.Close()
	})

	t.Run("header timeout covers the TLS handshake", func(t *testing.T) {
		c := hbDial(t, "", addr)
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadAll(c)
		var ne net.Error
		if el := time.Since(start); (errors.As(err, &ne) && ne.Timeout()) || el < 400*time.Millisecond || el > 1500*time.Millisecond {
			t.Errorf("a client that never starts TLS: closed after %v (%v), want about 500ms", el, err)
		}
	})

	t.Run("rpc", func(t *testing.T) {
		url := "wss://" + addr
		r := run(t, nil, "rpc", "--ca-file", caFile, "--token-file", tokenFile, url, "initialize")
		if r.code != 0 || !strings.Contains(r.stdout, `"userAgent":"appserver/`) {
			t.Errorf("rpc --ca-file: %+v", r)
		}
		r = run(t, nil, "rpc", "--token-file", tokenFile, url, "initialize")
		if r.code != 1 || !strings.Contains(r.stderr, "certificate") {
			t.Errorf("rpc without --ca-file: %+v, want a certificate error", r)
		}
		r = run(t, nil, "rpc", "--ca-file", caFile, url, "initialize")
		if r.code != 1 || !strings.Contains(r.stderr, "HTTP 401: missing websocket bearer token") {
			t.Errorf("rpc without a token: %+v", r)
		}
		// Bearers go over wss:// to any host (case 36 allows it; only
		// ws:// to a non-loopback host is refused).
		r = run(t, nil, "rpc", "--ca-file", caFile, "--token-file", tokenFile, "--timeout", "300ms", "wss://192.0.2.1:"+port, "initialize")
		if r.code == 0 || strings.Contains(r.stderr, "refusing to send a bearer token") {
			t.Errorf("rpc to wss://192.0.2.1: %+v", r)
		}
	})

	t.Run("certificate reload", func(t *testing.T) {
		if got := serial(); got != 100 {
			t.Fatalf("serial %d, want 100", got)
		}
		c2, k2 := ca.issue(t, 200)
		hbReplace(t, certTarget, c2)
		hbReplace(t, keyTarget, k2)
		time.Sleep(400 * time.Millisecond) // twice the reload debounce
		if got := serial(); got != 100 {
			t.Fatalf("serial %d before SIGHUP: the certificate changed without the signal", got)
		}
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for serial() != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("serial still %d 2 s after SIGHUP:\n%s", serial(), s.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		hbWaitLog(t, s, 1, time.Second, "TLS certificate reloaded", "why=SIGHUP")
		// Replacing the watched files by rename reloads without a signal.
		c3, k3 := ca.issue(t, 300)
		hbReplace(t, certLink, c3)
		hbReplace(t, keyLink, k3)
		deadline = time.Now().Add(3 * time.Second)
		for serial() != 300 {
			if time.Now().After(deadline) {
				t.Fatalf("serial still %d 3 s after the rename:\n%s", serial(), s.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Sessions keep working across the reloads.
		c, err := dialTLS(&tls.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		r := hbExchange(t, c, addr, hbUpgrade(token))
		hbExpect(t, "upgrade with the new certificate", r, 101, "-")
		wsaCheckSession(t, r)
	})

	t.Run("no token in the logs", func(t *testing.T) {
		s.stop(t)
		wsaNoLeak(t, s.stderr.String(), map[string]string{"the token": token})
	})
}

// ---------------------------------------------------------------------------
// Startup (cases 22, 28, 38)

// TestHardeningStartupFlags: hardening flags that make no sense for the
// configuration refuse to start with exit 1 and one error line, and TLS
// does not stand in for authentication on a non-loopback listener (case 38).
func TestHardeningStartupFlags(t *testing.T) {
	dir := t.TempDir()
	token := wsaWriteFile(t, dir, "token", wsaNewToken(t)+"\n", 0o600)
	certPEM, keyPEM := hbNewCA(t).issue(t, 7)
	cert := wsaWriteFile(t, dir, "cert.pem", string(certPEM), 0o600)
	key := wsaWriteFile(t, dir, "key.pem", string(keyPEM), 0o600)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"max token lifetime with a capability token", []string{"--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", token, "--ws-max-token-lifetime", "1h"},
			"Error: `--ws-max-token-lifetime` requires `--ws-auth signed-bearer-token`"},
		{"max token lifetime without auth", []string{"--listen", "ws://127.0.0.1:0", "--ws-max-token-lifetime", "1h"},
			"Error: websocket auth flags require `--ws-auth capability-token` or `--ws-auth signed-bearer-token`"},
		{"wss without a certificate", []string{"--listen", "wss://127.0.0.1:0"},
			"Error: `--tls-cert` and `--tls-key` are required with a wss:// listener"},
		{"a certificate on ws://", []string{"--listen", "ws://127.0.0.1:0", "--tls-cert", cert, "--tls-key", key},
			"Error: `--tls-cert` and `--tls-key` need a wss:// listener (--listen wss://IP:PORT)"},
		// design.md: TLS is privacy, not authentication.
		{"non-loopback wss:// without auth", []string{"--listen", "wss://0.0.0.0:0", "--tls-cert", cert, "--tls-key", key},
			"Error: refusing to start non-loopback websocket listener 0.0.0.0:0 without auth; configure `--ws-auth capability-token` or `--ws-auth signed-bearer-token`"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, nil, tt.args...)
			if first := firstLineOf(r.stderr); r.code != 1 || first != tt.want {
				t.Errorf("exit %d, %q; want exit 1, %q", r.code, first, tt.want)
			}
		})
	}
}
