package wstransport

// Unit tests of the hardening of the WebSocket boundary, inside the package
// so they can drive the Host policy (host.go) and the failed-authentication
// limiter (limiter.go) directly, and give the handler a fake clock through
// the unexported Options.now. SECURITY.md §1.5 cases are named on each test:
// 9 (Origin), 12 and 13 (DNS rebinding, extra hosts), 40 (failed-auth
// limit), 44 (rotation), 34 (no secret in logs). Live expiry and keepalive
// are issue features without a case number of their own.
//
// Helpers and types are prefixed hd to stay clear of the package's code and
// of wstransport_test.go (whose TestMain runs goleak over these tests too,
// so every test here cleans up its goroutines).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/auth"
)

const (
	hdGood   = "hd-good-token-0123456789abcdef"
	hdWSKey  = "dGhlIHNhbXBsZSBub25jZQ=="
	hdInit   = `{"id":1,"method":"initialize","params":{"clientInfo":{"name":"hardening-test","version":"1"}}}`
	hdLimTxt = "too many failed authentication attempts; retry later"
)

// hdVerifier accepts hdGood (as a principal expiring at exp, if set) and
// counts its calls. With gate set, Verify first announces itself on entered
// and then waits for gate to close: tests use it to hold a request between
// the limiter's check and the verdict.
type hdVerifier struct {
	calls   atomic.Int64
	exp     time.Time
	entered chan struct{}
	gate    chan struct{}
}

func (v *hdVerifier) Verify(tok string) (auth.Principal, error) {
	v.calls.Add(1)
	if v.entered != nil {
		v.entered <- struct{}{}
	}
	if v.gate != nil {
		<-v.gate
	}
	if tok == hdGood {
		return auth.Principal{Mode: auth.ModeCapabilityToken, Fingerprint: "sha256:0123456789ab", ExpiresAt: v.exp}, nil
	}
	return auth.Principal{}, fmt.Errorf("%w: hd stub", auth.ErrInvalidToken)
}

func (v *hdVerifier) Mode() string { return auth.ModeCapabilityToken }

// hdDiscard is the logger NewHandler gives the limiter when Options.Logger
// is nil.
var hdDiscard = slog.New(slog.DiscardHandler)

// hdClock is a settable clock for Options.now and the limiter.
type hdClock struct {
	mu sync.Mutex
	t  time.Time
}

func newHDClock() *hdClock { return &hdClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)} }

func (c *hdClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *hdClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hdLog is a slog.Handler that keeps every record.
type hdLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *hdLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *hdLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}

func (h *hdLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *hdLog) WithGroup(string) slog.Handler      { return h }

// find returns the attributes of each record with message msg.
func (h *hdLog) find(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.recs {
		if r.Message != msg {
			continue
		}
		m := map[string]string{"level": r.Level.String()}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.Resolve().String()
			return true
		})
		out = append(out, m)
	}
	return out
}

// text is every record, message and attributes, for leak checks.
func (h *hdLog) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.recs {
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Resolve())
			return true
		})
		b.WriteByte('\n')
	}
	return b.String()
}

// hdLive is a handler served on a loopback port.
type hdLive struct {
	h    *Handler
	srv  *appserver.Server
	addr string
}

func hdServe(t *testing.T, opts *Options) *hdLive {
	t.Helper()
	srv := appserver.NewServer(nil)
	h := NewHandler(srv, opts)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = srv.Close() })
	return &hdLive{h: h, srv: srv, addr: hs.Listener.Addr().String()}
}

// hdResp is a response read off a raw connection; after a 101 the
// connection stays open (it is closed when the test ends).
type hdResp struct {
	status int
	header http.Header
	body   string
	conn   net.Conn
	br     *bufio.Reader
}

// hdUpgrade is an upgrade request for host with token (none if empty),
// to path, with extra header lines.
func hdUpgrade(host, path, token string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n", path, host, hdWSKey)
	if token != "" {
		b.WriteString("Authorization: Bearer " + token + "\r\n")
	}
	for _, l := range extra {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func hdDo(t *testing.T, addr, req string) *hdResp {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	r := &hdResp{status: resp.StatusCode, header: resp.Header, body: string(body), conn: c, br: br}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
	}
	return r
}

// hdServeRec runs one request through h with a recorder.
func hdServeRec(h http.Handler, method, target, host, remote string, kv ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.Host = host
	if remote != "" {
		req.RemoteAddr = remote
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// ---------------------------------------------------------------------------
// Host policy (cases 12, 13)

// TestHostPolicy is the DNS-rebinding table of the issue (cases 12, 13):
// loopback names and addresses pass in any case and with any port; names
// that merely contain "localhost" or a loopback address do not; extra
// names match exactly, with or without a port as configured.
func TestHostPolicy(t *testing.T) {
	t.Parallel()
	p := newHostPolicy([]string{"Proxy.Example", "tailnet.ts.net:8443", "[fd7a:115c:a1e0::1]", "100.64.0.7"})
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"LocalHost:4500", true},
		{"127.0.0.1", true},
		{"127.0.0.1:4500", true},
		{"127.8.9.10:123", true},
		{"[::1]:80", true},
		{"[::1]", true},
		{"::1", true}, // without brackets: not a valid Host, but it names loopback
		{"[::ffff:127.0.0.1]", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"", true}, // HTTP/1.0 without Host: no browser sends that

		{"evil.example", false},
		{"evil.example:4500", false},
		{"localhost.evil.example", false},
		{"localhost.evil.example:4500", false},
		{"127.0.0.1.nip.io", false},
		{"127.0.0.1.nip.io:4500", false},
		{"evil-localhost", false},
		{"localhost-evil", false},
		{"xlocalhost", false},
		{"0.0.0.0", false},
		{"[::]:80", false},
		{"192.168.1.10:4500", false},
		{"[::ffff:192.168.1.10]", false},
		{"127.1", false}, // not an address literal Go parses; browsers send 127.0.0.1
		{strings.Repeat("a", 300) + ".localhost", false},

		// Extra names (case 13): exact, case-insensitive, with any port
		// unless the configured name has one.
		{"proxy.example", true},
		{"PROXY.EXAMPLE:443", true},
		{"sub.proxy.example", false},
		{"proxy.example.evil", false},
		{"xproxy.example", false},
		{"tailnet.ts.net:8443", true},
		{"tailnet.ts.net", false},
		{"tailnet.ts.net:9999", false},
		{"100.64.0.7", true},
		{"100.64.0.7:4500", true},
		{"100.64.0.8", false},
		{"[fd7a:115c:a1e0::1]", true},
		{"[fd7a:115c:a1e0::2]:443", false},
	} {
		if got := p.allows(tt.host); got != tt.want {
			t.Errorf("Host %q: allowed %v, want %v", tt.host, got, tt.want)
		}
	}
}

// TestHostPolicyBracketedIPv6AllowedHost: an extra host given the way it
// appears in a Host header, "[fd7a:115c:a1e0::1]" (a Tailscale IPv6
// address), has no port, so per host.go ("matched exactly, without its
// port, unless the configured name has one") a request for that address
// with a port must pass too. Case 13.
func TestHostPolicyBracketedIPv6AllowedHost(t *testing.T) {
	t.Parallel()
	p := newHostPolicy([]string{"[fd7a:115c:a1e0::1]"})
	for _, host := range []string{"[fd7a:115c:a1e0::1]", "[fd7a:115c:a1e0::1]:443"} {
		if !p.allows(host) {
			t.Errorf("--ws-allowed-host [fd7a:115c:a1e0::1]: Host %q refused, want allowed", host)
		}
	}
	// The unbracketed form of the flag works with and without a port.
	q := newHostPolicy([]string{"fd7a:115c:a1e0::1"})
	for _, host := range []string{"[fd7a:115c:a1e0::1]", "[fd7a:115c:a1e0::1]:443"} {
		if !q.allows(host) {
			t.Errorf("--ws-allowed-host fd7a:115c:a1e0::1: Host %q refused, want allowed", host)
		}
	}
}

// TestHostCheckInHandler: the Host check runs first on every route when
// CheckHost is set (403 "host not allowed", before Origin, method and
// auth), forwarded headers are never consulted, a request without Host
// passes, and a handler without CheckHost (non-loopback listeners) answers
// any Host. Cases 9, 12, 13.
func TestHostCheckInHandler(t *testing.T) {
	t.Parallel()
	v := &hdVerifier{}
	metricsCalls := atomic.Int64{}
	met := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { metricsCalls.Add(1); io.WriteString(w, "m 1\n") })
	srv := appserver.NewServer(nil)
	defer srv.Close()
	checked := NewHandler(srv, &Options{CheckHost: true, AllowedHosts: []string{"proxy.example"}, Verifier: v, Metrics: met})
	open := NewHandler(srv, &Options{Verifier: v, Metrics: met})
	const remote = "127.0.0.1:5555"

	for _, tt := range []struct {
		name           string
		h              http.Handler
		method, target string
		host           string
		kv             []string
		status         int
		body           string
	}{
		{"evil Host on /readyz", checked, "GET", "/readyz", "evil.example:4500", nil, 403, "host not allowed"},
		{"evil Host on /healthz HEAD", checked, "HEAD", "/healthz", "evil.example", nil, 403, "host not allowed"},
		{"evil Host on /metrics with a token", checked, "GET", "/metrics", "evil.example", []string{"Authorization", "Bearer " + hdGood}, 403, "host not allowed"},
		{"evil Host before Origin", checked, "GET", "/readyz", "evil.example", []string{"Origin", "https://evil.example"}, 403, "host not allowed"},
		{"evil Host before the method check", checked, "POST", "/readyz", "evil.example", nil, 403, "host not allowed"},
		{"evil Host with X-Forwarded-Host localhost", checked, "GET", "/readyz", "evil.example", []string{"X-Forwarded-Host", "localhost", "Forwarded", "host=localhost", "X-Forwarded-For", "127.0.0.1"}, 403, "host not allowed"},
		{"localhost with X-Forwarded-Host evil", checked, "GET", "/readyz", "localhost:4500", []string{"X-Forwarded-Host", "evil.example", "Forwarded", "host=evil.example"}, 200, ""},
		{"X-Forwarded-Host naming the allowed proxy does not help", checked, "GET", "/readyz", "evil.example", []string{"X-Forwarded-Host", "proxy.example"}, 403, "host not allowed"},
		{"allowed proxy name", checked, "GET", "/readyz", "proxy.example", nil, 200, ""},
		{"allowed proxy name with a port", checked, "GET", "/readyz", "proxy.example:443", nil, 200, ""},
		{"no Host (HTTP/1.0)", checked, "GET", "/readyz", "", nil, 200, ""},
		{"[::1] with a port", checked, "GET", "/healthz", "[::1]:4500", nil, 200, ""},
		{"loopback Host, then Origin still refused", checked, "GET", "/readyz", "127.0.0.1:4500", []string{"Origin", "null"}, 403, ""},
		{"no CheckHost: evil Host on /readyz", open, "GET", "/readyz", "evil.example", nil, 200, ""},
		{"no CheckHost: evil Host on /metrics with a token", open, "GET", "/metrics", "evil.example", []string{"Authorization", "Bearer " + hdGood}, 200, "m 1\n"},
	} {
		before, mBefore := v.calls.Load(), metricsCalls.Load()
		rec := hdServeRec(tt.h, tt.method, tt.target, tt.host, remote, tt.kv...)
		body := rec.Body.String()
		if rec.Code != tt.status || body != tt.body {
			t.Errorf("%s: %d %q, want %d %q", tt.name, rec.Code, body, tt.status, tt.body)
		}
		if rec.Code == 403 && (v.calls.Load() != before || metricsCalls.Load() != mBefore) {
			t.Errorf("%s: refused with 403 but the verifier or the metrics handler ran", tt.name)
		}
	}
}

// ---------------------------------------------------------------------------
// The failure limiter itself (case 40), through begin and done as the
// handler uses it.

// hdFail records one failed attempt from a at now, as the handler does:
// begin takes a token and done(false) keeps it taken.
func hdFail(t *testing.T, l *failureLimiter, a netip.Addr, now time.Time) {
	t.Helper()
	att, wait := l.begin(a, now)
	if wait > 0 {
		t.Fatalf("%s at %v: limited (wait %v) where a failure was to be recorded", a, now, wait)
	}
	att.done(false)
}

// hdTry reports whether an attempt from a at now is admitted, and if not,
// the wait. An admitted attempt then succeeds, which gives its token back.
func hdTry(l *failureLimiter, a netip.Addr, now time.Time) (bool, time.Duration) {
	att, wait := l.begin(a, now)
	if wait > 0 {
		return false, wait
	}
	att.done(true)
	return true, 0
}

// TestFailureLimiterBucket: Burst failures, then refusal with the time
// until the next token; one more attempt per Interval; the bucket never
// holds more than Burst; an attempt that succeeds gives its token back (so
// successes never use the bucket up); Burst 0 disables the limit; an
// address that is not IP (unix sockets) is never limited.
func TestFailureLimiterBucket(t *testing.T) {
	t.Parallel()
	l := newFailureLimiter(FailureLimit{Burst: 3, Interval: 10 * time.Second}, hdDiscard)
	a := netip.MustParseAddr("192.0.2.1")
	t0 := newHDClock().now()

	for i := range 5 {
		if ok, _ := hdTry(l, a, t0); !ok {
			t.Fatalf("successful attempt %d before any failure refused", i)
		}
	}
	for i := range 3 {
		if ok, _ := hdTry(l, a, t0); !ok {
			t.Fatalf("failure %d refused before the burst was used", i)
		}
		hdFail(t, l, a, t0)
	}
	// The wait comes from float token arithmetic: allow a microsecond.
	near := func(got, want time.Duration) bool { return got > want-time.Microsecond && got < want+time.Microsecond }
	if ok, wait := hdTry(l, a, t0); ok || !near(wait, 10*time.Second) {
		t.Fatalf("after 3 failures: allowed %v, wait %v; want refused, 10s", ok, wait)
	}
	if ok, wait := hdTry(l, a, t0.Add(4*time.Second)); ok || !near(wait, 6*time.Second) {
		t.Fatalf("4 s later: allowed %v, wait %v; want refused, 6s", ok, wait)
	}
	if ok, wait := hdTry(l, a, t0.Add(9500*time.Millisecond)); ok || !near(wait, 500*time.Millisecond) {
		t.Fatalf("9.5 s later: allowed %v, wait %v; want refused, 500ms", ok, wait)
	}
	t1 := t0.Add(10 * time.Second)
	if ok, _ := hdTry(l, a, t1); !ok {
		t.Fatal("one Interval later: still refused")
	}
	hdFail(t, l, a, t1)
	if ok, wait := hdTry(l, a, t1); ok || !near(wait, 10*time.Second) {
		t.Fatalf("after the one refilled attempt failed: allowed %v, wait %v; want refused, 10s", ok, wait)
	}
	// A long quiet spell refills the bucket to Burst and no further.
	t2 := t1.Add(time.Hour)
	for i := range 3 {
		if ok, _ := hdTry(l, a, t2); !ok {
			t.Fatalf("after an hour, failure %d refused", i)
		}
		hdFail(t, l, a, t2)
	}
	if ok, _ := hdTry(l, a, t2); ok {
		t.Fatal("after an hour, the bucket held more than Burst")
	}
	// Another address is unaffected.
	if ok, _ := hdTry(l, netip.MustParseAddr("192.0.2.2"), t2); !ok {
		t.Fatal("a different address was limited")
	}
	// Not an IP address (a unix socket's peer): never limited.
	for range 10 {
		hdFail(t, l, netip.Addr{}, t2)
	}
	if ok, _ := hdTry(l, netip.Addr{}, t2); !ok {
		t.Error("the invalid address was limited")
	}

	// Burst 0 disables the limit: newFailureLimiter returns nil, whose
	// methods allow everything.
	off := newFailureLimiter(FailureLimit{Burst: 0, Interval: time.Second}, hdDiscard)
	if off != nil {
		t.Fatal("Burst 0 built a limiter")
	}
	for range 100 {
		hdFail(t, off, a, t0)
	}
	if ok, _ := hdTry(off, a, t0); !ok {
		t.Error("a disabled limiter refused")
	}
	// Defaults.
	d := newFailureLimiter(FailureLimit{Burst: DefaultFailureBurst}, hdDiscard)
	if d.cfg.Interval != DefaultFailureInterval || d.cfg.MaxAddresses != DefaultMaxLimitedAddresses || d.cfg.LogWindow != time.Minute {
		t.Errorf("defaults: %+v", d.cfg)
	}
	if DefaultFailureBurst != 10 || DefaultFailureInterval != 10*time.Second || DefaultMaxLimitedAddresses != 10000 {
		t.Errorf("documented defaults changed: burst %d, interval %v, table %d", DefaultFailureBurst, DefaultFailureInterval, DefaultMaxLimitedAddresses)
	}
}

// TestFailureLimiterKeys: IPv4 addresses are limited one by one, IPv6 by
// /64 (rotating through one network's addresses does not reset the
// count), and an IPv4-mapped IPv6 address is its IPv4 address.
func TestFailureLimiterKeys(t *testing.T) {
	t.Parallel()
	l := newFailureLimiter(FailureLimit{Burst: 2, Interval: time.Hour}, hdDiscard)
	now := newHDClock().now()
	limited := func(s string) bool {
		ok, _ := hdTry(l, netip.MustParseAddr(s), now)
		return !ok
	}
	// Two failures from two addresses of one /64.
	hdFail(t, l, netip.MustParseAddr("2001:db8:1:2::1"), now)
	hdFail(t, l, netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:fffe"), now)
	for _, s := range []string{"2001:db8:1:2::1", "2001:db8:1:2::99", "2001:db8:1:2:ffff:ffff:ffff:ffff"} {
		if !limited(s) {
			t.Errorf("%s is in the limited /64 but was allowed", s)
		}
	}
	for _, s := range []string{"2001:db8:1:3::1", "2001:db8:1::1", "2001:db8:2:2::1"} {
		if limited(s) {
			t.Errorf("%s is outside the limited /64 but was refused", s)
		}
	}
	// IPv4: /32, and mapped addresses count as IPv4.
	hdFail(t, l, netip.MustParseAddr("::ffff:192.0.2.7"), now)
	hdFail(t, l, netip.MustParseAddr("192.0.2.7"), now)
	if !limited("192.0.2.7") || !limited("::ffff:192.0.2.7") {
		t.Error("192.0.2.7 failed twice (once as ::ffff:192.0.2.7) but is not limited")
	}
	if limited("192.0.2.6") || limited("192.0.2.8") {
		t.Error("a neighbouring IPv4 address is limited")
	}
	if got := limitKey(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")).String(); got != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 key %s", got)
	}
	if got := limitKey(netip.MustParseAddr("::ffff:10.1.2.3")).String(); got != "10.1.2.3/32" {
		t.Errorf("mapped key %s", got)
	}

	// The handler keys by RemoteAddr in both forms net/http produces.
	srv := appserver.NewServer(nil)
	defer srv.Close()
	h := NewHandler(srv, &Options{Verifier: &hdVerifier{}, FailureLimit: FailureLimit{Burst: 1, Interval: time.Hour}})
	req := func(remote string) int {
		return hdServeRec(h, "GET", "/", "localhost", remote, "Connection", "Upgrade", "Upgrade", "websocket",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", hdWSKey, "Authorization", "Bearer wrong").Code
	}
	if st := req("[2001:db8:9:9::1]:1111"); st != 401 {
		t.Fatalf("first failure: %d", st)
	}
	if st := req("[2001:db8:9:9::2]:2222"); st != 429 {
		t.Errorf("same /64, other address: %d, want 429", st)
	}
	if st := req("[2001:db8:9:a::1]:2222"); st != 401 {
		t.Errorf("other /64: %d, want 401", st)
	}
}

// TestFailureLimiterLRU: the table of addresses is bounded; the least
// recently seen address is forgotten first (and so is no longer limited),
// and the default bound is 10,000.
func TestFailureLimiterLRU(t *testing.T) {
	t.Parallel()
	now := newHDClock().now()
	l := newFailureLimiter(FailureLimit{Burst: 1, Interval: time.Hour, MaxAddresses: 3}, hdDiscard)
	a, b, c, d := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("192.0.2.4")
	for _, x := range []netip.Addr{a, b, c} {
		hdFail(t, l, x, now)
	}
	if n := l.size(); n != 3 {
		t.Fatalf("size %d", n)
	}
	// Seeing a again makes b the least recently seen.
	if ok, _ := hdTry(l, a, now); ok {
		t.Fatal("a is not limited")
	}
	hdFail(t, l, d, now)
	if n := l.size(); n != 3 {
		t.Errorf("size %d after a fourth address, want 3", n)
	}
	for _, x := range []netip.Addr{a, c, d} {
		if ok, _ := hdTry(l, x, now); ok {
			t.Errorf("%s was forgotten; b was the least recently seen", x)
		}
	}
	// b comes back as a new address (admitted), and the table stays
	// bounded: begin enters every address it sees, successes included.
	if ok, _ := hdTry(l, b, now); !ok {
		t.Error("b, the least recently seen, is still limited")
	}
	if n := l.size(); n != 3 {
		t.Errorf("size %d after b came back, want 3", n)
	}
	for i := range 50 {
		hdTry(l, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), now)
	}
	if n := l.size(); n != 3 {
		t.Errorf("size %d after 50 successful addresses, want 3", n)
	}

	def := newFailureLimiter(FailureLimit{Burst: 10}, hdDiscard)
	for i := range 12000 {
		hdFail(t, def, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if n := def.size(); n != DefaultMaxLimitedAddresses {
		t.Errorf("default table holds %d addresses after 12,000, want %d", n, DefaultMaxLimitedAddresses)
	}
}

// TestFailureLimiterLogsOncePerWindow: limiting an address is logged at
// warn once per LogWindow (default one minute), with the number of
// refusals not logged since; each address has its own window. Case 40,
// and 34: the log names the address, never a token.
func TestFailureLimiterLogsOncePerWindow(t *testing.T) {
	t.Parallel()
	const msg = "limiting failed websocket authentication"
	logs := &hdLog{}
	l := newFailureLimiter(FailureLimit{Burst: 1, Interval: time.Hour}, slog.New(logs))
	t0 := newHDClock().now()
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::5")
	hdFail(t, l, a, t0)
	for i := range 5 {
		if ok, _ := hdTry(l, a, t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("not limited")
		}
	}
	got := logs.find(msg)
	if len(got) != 1 {
		t.Fatalf("%d log events for 5 refusals within a minute, want 1: %v", len(got), got)
	}
	if got[0]["level"] != "WARN" || got[0]["address"] != "192.0.2.1/32" || got[0]["refusedSinceLastLog"] != "0" {
		t.Errorf("event %v", got[0])
	}
	// Another address has its own window.
	hdFail(t, l, b, t0)
	hdTry(l, b, t0)
	if got = logs.find(msg); len(got) != 2 || got[1]["address"] != "2001:db8::/64" {
		t.Fatalf("events %v", got)
	}
	// Just under a minute after the first log: still quiet.
	hdTry(l, a, t0.Add(59*time.Second))
	if n := len(logs.find(msg)); n != 2 {
		t.Fatalf("%d events before the window ended", n)
	}
	// A minute after: logged again, counting the 5 refusals in between.
	hdTry(l, a, t0.Add(60*time.Second))
	got = logs.find(msg)
	if len(got) != 3 || got[2]["address"] != "192.0.2.1/32" || got[2]["refusedSinceLastLog"] != "5" {
		t.Fatalf("events %v, want a third for 192.0.2.1/32 with refusedSinceLastLog=5", got)
	}

	// A custom window.
	logs2 := &hdLog{}
	l2 := newFailureLimiter(FailureLimit{Burst: 1, Interval: time.Hour, LogWindow: 10 * time.Second}, slog.New(logs2))
	hdFail(t, l2, a, t0)
	for s := range 25 {
		hdTry(l2, a, t0.Add(time.Duration(s)*time.Second))
	}
	if n := len(logs2.find(msg)); n != 3 {
		t.Errorf("%d events over 25 s with a 10 s window, want 3 (at 0, 10 and 20 s)", n)
	}
}

// ---------------------------------------------------------------------------
// The failure limit in the handler (case 40)

// TestHandlerFailureLimit runs the limit through a live handler with a fake
// clock: Burst failures get 401, then 429 with Retry-After in whole seconds
// (rounded up), and while limited the right token gets 429 too without
// being verified; successful upgrades never take from the bucket; one
// Interval later one more attempt is allowed; /metrics is limited the same
// way and the health routes are not; each decision reaches OnDecision; the
// limiting is logged once, and never with a token.
func TestHandlerFailureLimit(t *testing.T) {
	t.Parallel()
	clock := newHDClock()
	v := &hdVerifier{}
	logs := &hdLog{}
	var decMu sync.Mutex
	decisions := map[string]int{}
	l := hdServe(t, &Options{
		Verifier:     v,
		FailureLimit: FailureLimit{Burst: 3, Interval: 10 * time.Second},
		Metrics:      http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "m 1\n") }),
		Logger:       slog.New(logs),
		OnDecision: func(outcome, reason string) {
			decMu.Lock()
			decisions[outcome+"/"+reason]++
			decMu.Unlock()
		},
		now: clock.now,
	})
	up := func(tok string) *hdResp { return hdDo(t, l.addr, hdUpgrade(l.addr, "/", tok)) }
	expect := func(what string, r *hdResp, status int) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: %d %q, want %d", what, r.status, r.body, status)
		}
	}

	// Successes around failures never take a token: 2 wrong, 3 right,
	// 1 wrong is the third failure, and only then is the address limited.
	expect("wrong 1", up("wrong-1"), 401)
	expect("right", up(hdGood), 101)
	expect("wrong 2", up("wrong-2"), 401)
	for i := range 3 {
		expect(fmt.Sprintf("right %d", i), up(hdGood), 101)
	}
	expect("wrong 3", up("wrong-3"), 401)

	// Retry-After is the wait in whole seconds, rounded up. The handler
	// may hold a 429 for up to LimitedPenalty of real time and then
	// announce only what is left; the fake clock does not move meanwhile,
	// so either value is right here.
	retryAfter := func(what string, r *hdResp, wait time.Duration) {
		t.Helper()
		secs := func(d time.Duration) string { return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) }
		full, held := secs(wait), secs(wait-min(wait, time.Second))
		if ra := r.header.Get("Retry-After"); ra != full && ra != held {
			t.Errorf("%s: Retry-After %q with %v to wait, want %s (or %s if the answer was held 1 s)", what, ra, wait, full, held)
		}
	}
	calls := v.calls.Load()
	r := up(hdGood)
	expect("right token while limited", r, 429)
	if r.body != hdLimTxt {
		t.Errorf("429 body %q, want %q", r.body, hdLimTxt)
	}
	retryAfter("right token while limited", r, 10*time.Second)
	if r.header.Get("WWW-Authenticate") != "" {
		t.Errorf("429 carries WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	clock.advance(4500 * time.Millisecond)
	r = up("wrong-4")
	expect("wrong while limited", r, 429)
	retryAfter("4.5 s into a 10 s interval", r, 5500*time.Millisecond)
	rm := hdDo(t, l.addr, "GET /metrics HTTP/1.1\r\nHost: "+l.addr+"\r\nAuthorization: Bearer "+hdGood+"\r\n\r\n")
	expect("/metrics with the right token while limited", rm, 429)
	if rm.header.Get("Retry-After") == "" {
		t.Error("/metrics 429 without Retry-After")
	}
	expect("/readyz while limited", hdDo(t, l.addr, "GET /readyz HTTP/1.1\r\nHost: "+l.addr+"\r\n\r\n"), 200)
	if got := v.calls.Load(); got != calls {
		t.Errorf("the verifier ran %d times while the address was limited", got-calls)
	}

	// One Interval after the bucket emptied: one attempt.
	clock.advance(5500 * time.Millisecond)
	expect("right token one interval later", up(hdGood), 101)
	expect("wrong token one interval later", up("wrong-5"), 401)
	expect("right token after that failure", up(hdGood), 429)

	decMu.Lock()
	want := map[string]int{
		"accepted/ok": 5,
		"rejected/invalid websocket bearer token": 4,
		// The /metrics 429 is not an upgrade decision.
		"limited/too many failed attempts": 3,
	}
	for k, n := range want {
		if decisions[k] != n {
			t.Errorf("OnDecision %s: %d, want %d (all: %v)", k, decisions[k], n, decisions)
		}
	}
	decMu.Unlock()

	if ev := logs.find("limiting failed websocket authentication"); len(ev) != 1 || ev[0]["address"] != "127.0.0.1/32" {
		t.Errorf("limiting events %v, want exactly one for 127.0.0.1/32", ev)
	}
	if txt := logs.text(); strings.Contains(txt, hdGood) || strings.Contains(txt, "wrong-") {
		t.Errorf("a token reached the log:\n%s", txt)
	}
}

// TestHandlerFailureLimitConcurrentGuesses: the limit must bound how many
// guesses are checked, also when they arrive together. Burst 3, and 12
// wrong tokens sent at once from one address, each held inside Verify
// until all have had their chance: at most 3 may reach the verifier, and
// the others must get 429 without their token being looked at ("after
// Burst failures ... the token is not even checked"; "guessing gains
// nothing from a 429"). Case 40.
//
// allow() only reads the bucket and failed() takes from it after Verify
// returns, so every request that passes allow() before the first verdict
// is checked: concurrency multiplies the guesses per Interval.
func TestHandlerFailureLimitConcurrentGuesses(t *testing.T) {
	t.Parallel()
	const burst, n = 3, 12
	v := &hdVerifier{entered: make(chan struct{}, n), gate: make(chan struct{})}
	l := hdServe(t, &Options{Verifier: v, FailureLimit: FailureLimit{Burst: burst, Interval: time.Hour}})
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
			if err != nil {
				statuses <- -1
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, hdUpgrade(l.addr, "/", "wrong-"+strconv.Itoa(i)))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				statuses <- -1
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	// Wait until every request is either inside Verify or answered, or
	// until a fixed implementation has had ample time to refuse the rest.
	entered, answered := 0, 0
	var got []int
	deadline := time.After(2 * time.Second)
wait:
	for entered+answered < n {
		select {
		case <-v.entered:
			entered++
		case st := <-statuses:
			answered++
			got = append(got, st)
		case <-deadline:
			break wait
		}
	}
	close(v.gate)
	wg.Wait()
	close(statuses)
	for st := range statuses {
		got = append(got, st)
	}
	limited := 0
	for _, st := range got {
		if st == 429 {
			limited++
		}
	}
	if calls := v.calls.Load(); calls > burst {
		t.Errorf("Burst %d, %d concurrent wrong tokens: the verifier checked %d of them and %d got 429 (statuses %v); "+
			"want at most %d checked and the rest refused with 429", burst, n, calls, limited, got, burst)
	}
}

// ---------------------------------------------------------------------------
// Rotation (case 44)

// hdDial upgrades with coder/websocket and token; the connection is closed
// when the test ends. Reads run on a goroutine (so pings are answered);
// messages and the final error arrive on the returned channels.
type hdClient struct {
	c    *websocket.Conn
	msgs chan []byte
	errc chan error
}

func hdDial(t *testing.T, addr, token string) (*hdClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A transport of its own without keep-alive, so a refused dial leaves
	// no pooled connection behind for goleak to find.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	opts := &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, HTTPHeader: http.Header{}}
	if token != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/", opts)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	cl := &hdClient{c: c, msgs: make(chan []byte, 16), errc: make(chan error, 1)}
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
	t.Cleanup(func() {
		rcancel()
		_ = c.CloseNow()
		<-done
	})
	return cl, nil
}

// roundTrip sends initialize and waits for its answer (a result the first
// time, "Already initialized" after that: either shows a live session).
func (cl *hdClient) roundTrip(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, []byte(hdInit)); err != nil {
		t.Fatalf("write: %v", err)
	}
	select {
	case m := <-cl.msgs:
		if !strings.HasPrefix(string(m), `{"id":1,`) {
			t.Fatalf("answer %s", m)
		}
	case err := <-cl.errc:
		t.Fatalf("connection ended instead of answering: %v", err)
	case <-ctx.Done():
		t.Fatal("no answer")
	}
}

// closedWith waits up to d for the connection to end and returns its
// close status and reason; ok is false if it stayed open.
func (cl *hdClient) closedWith(d time.Duration) (status websocket.StatusCode, reason string, ok bool) {
	select {
	case err := <-cl.errc:
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason, true
		}
		return -1, err.Error(), true
	case <-time.After(d):
		return 0, "", false
	}
}

// tokenVerifier accepts exactly one token.
type hdTokenVerifier string

func (v hdTokenVerifier) Verify(tok string) (auth.Principal, error) {
	if tok == string(v) {
		return auth.Principal{Mode: auth.ModeCapabilityToken, Fingerprint: "sha256:" + string(v)[:4]}, nil
	}
	return auth.Principal{}, fmt.Errorf("%w: hd", auth.ErrInvalidToken)
}

func (hdTokenVerifier) Mode() string { return auth.ModeCapabilityToken }

// TestSetVerifierRotation: SetVerifier applies to new upgrades at once (old
// token 401, new 101); without CloseOnRotate old sessions stay open, with it
// they are closed with 1008 "credentials rotated" while sessions of the new
// credential stay; SetVerifier(nil) is refused and changes nothing. Case 44.
func TestSetVerifierRotation(t *testing.T) {
	t.Parallel()
	for _, closeOld := range []bool{false, true} {
		t.Run(fmt.Sprintf("CloseOnRotate=%v", closeOld), func(t *testing.T) {
			t.Parallel()
			l := hdServe(t, &Options{Verifier: hdTokenVerifier("old-token"), CloseOnRotate: closeOld})
			old, err := hdDial(t, l.addr, "old-token")
			if err != nil {
				t.Fatal(err)
			}
			old.roundTrip(t)
			if err := l.h.SetVerifier(hdTokenVerifier("new-token")); err != nil {
				t.Fatal(err)
			}
			if r := hdDo(t, l.addr, hdUpgrade(l.addr, "/", "old-token")); r.status != 401 {
				t.Errorf("old token after rotation: %d %q", r.status, r.body)
			}
			fresh, err := hdDial(t, l.addr, "new-token")
			if err != nil {
				t.Fatalf("new token after rotation: %v", err)
			}
			if closeOld {
				code, reason, ok := old.closedWith(2 * time.Second)
				if !ok || code != websocket.StatusPolicyViolation || reason != "credentials rotated" {
					t.Errorf("old session: closed %v with %d %q, want 1008 credentials rotated", ok, code, reason)
				}
			} else {
				if _, _, closed := old.closedWith(200 * time.Millisecond); closed {
					t.Fatal("without CloseOnRotate the old session was closed")
				}
				old.roundTrip(t)
			}
			fresh.roundTrip(t)
			if err := l.h.SetVerifier(nil); err == nil {
				t.Error("SetVerifier(nil) was accepted")
			}
			if r := hdDo(t, l.addr, hdUpgrade(l.addr, "/", "")); r.status != 401 {
				t.Errorf("after SetVerifier(nil), no token: %d, want 401", r.status)
			}
			if _, _, closed := fresh.closedWith(100 * time.Millisecond); closed {
				t.Error("the refused SetVerifier(nil) closed the new session")
			}
		})
	}
}

// TestCloseOnRotateDuringUpgrade: with CloseOnRotate, a session
// authenticated with the old credential must not survive the rotation,
// even when its upgrade was in progress when SetVerifier ran. The upgrade
// is held inside the old verifier while the rotation completes; when
// released it may be refused, or upgraded and then closed with 1008
// "credentials rotated", but it must not stay open. Case 44.
//
// ServeHTTP loads the credential before verifying and track() records its
// generation after Connect; SetVerifier only closes sessions already in
// the table, so one that is tracked after the scan keeps the old
// credential's access indefinitely.
func TestCloseOnRotateDuringUpgrade(t *testing.T) {
	t.Parallel()
	v := &hdVerifier{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	l := hdServe(t, &Options{Verifier: v, CloseOnRotate: true})
	type dialed struct {
		cl  *hdClient
		err error
	}
	res := make(chan dialed, 1)
	go func() {
		cl, err := hdDial(t, l.addr, hdGood)
		res <- dialed{cl, err}
	}()
	select {
	case <-v.entered:
	case <-time.After(5 * time.Second):
		close(v.gate)
		<-res
		t.Fatal("the upgrade never reached the verifier")
	}
	if err := l.h.SetVerifier(hdTokenVerifier("new-token")); err != nil {
		t.Fatal(err)
	}
	close(v.gate)
	d := <-res
	if d.err != nil {
		return // refused: fine
	}
	code, reason, closed := d.cl.closedWith(time.Second)
	if !closed {
		t.Fatal("a session authenticated with the old credential during the rotation is still open 1 s after SetVerifier returned (CloseOnRotate)")
	}
	if code != websocket.StatusPolicyViolation || reason != "credentials rotated" {
		t.Errorf("closed with %d %q, want 1008 credentials rotated", code, reason)
	}
}

// ---------------------------------------------------------------------------
// Live expiry and keepalive

// TestLiveExpiryClosesSession: a session whose principal expires is closed
// with 1008 "token expired" once ExpiresAt plus ExpirySkew has passed, not
// before; a principal without expiry (capability token) is never closed.
func TestLiveExpiryClosesSession(t *testing.T) {
	t.Parallel()
	start := time.Now()
	v := &hdVerifier{exp: start.Add(300 * time.Millisecond)}
	l := hdServe(t, &Options{Verifier: v, ExpirySkew: 200 * time.Millisecond})
	cl, err := hdDial(t, l.addr, hdGood)
	if err != nil {
		t.Fatal(err)
	}
	cl.roundTrip(t)
	code, reason, ok := cl.closedWith(3 * time.Second)
	el := time.Since(start)
	if !ok || code != websocket.StatusPolicyViolation || reason != "token expired" {
		t.Fatalf("closed %v with %d %q, want 1008 token expired", ok, code, reason)
	}
	if el < 480*time.Millisecond || el > 1500*time.Millisecond {
		t.Errorf("closed %v after start; exp+skew was 500ms", el)
	}

	forever := hdServe(t, &Options{Verifier: &hdVerifier{}, ExpirySkew: 0})
	cl2, err := hdDial(t, forever.addr, hdGood)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, closed := cl2.closedWith(300 * time.Millisecond); closed {
		t.Error("a session without expiry was closed")
	}
}

// TestKeepaliveThroughHandler: Options.PingInterval reaches upgraded
// connections: a raw client that never answers is pinged and then closed
// with 1008 "keepalive timeout"; coder's client, which answers pings
// while it reads, stays.
func TestKeepaliveThroughHandler(t *testing.T) {
	t.Parallel()
	l := hdServe(t, &Options{PingInterval: 100 * time.Millisecond})
	r := hdDo(t, l.addr, hdUpgrade(l.addr, "/", ""))
	if r.status != 101 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	cl, err := hdDial(t, l.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pings := 0
	for {
		var h [2]byte
		if _, err := io.ReadFull(r.br, h[:]); err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		p := make([]byte, h[1]&0x7f)
		if _, err := io.ReadFull(r.br, p); err != nil {
			t.Fatal(err)
		}
		switch h[0] & 0x0f {
		case 0x9:
			pings++
			continue
		case 0x8:
			if len(p) < 2 || int(p[0])<<8|int(p[1]) != 1008 || string(p[2:]) != "keepalive timeout" {
				t.Fatalf("close frame %q", p)
			}
		default:
			t.Fatalf("frame op %#x", h[0]&0x0f)
		}
		break
	}
	if el := time.Since(start); pings < 1 || el > time.Second {
		t.Errorf("closed after %v and %d pings; want about three 100ms intervals", el, pings)
	}
	if _, _, closed := cl.closedWith(100 * time.Millisecond); closed {
		t.Fatal("the client that answers pings was closed")
	}
	cl.roundTrip(t)
}

// ---------------------------------------------------------------------------
// /metrics (cases 9, 12, 40)

// TestMetricsRoute: /metrics is served only when Options.Metrics is set,
// after the Host and Origin checks and behind the same bearer auth and
// failure limit as an upgrade, GET and HEAD only; without Options.Metrics
// it is an ordinary WebSocket path.
func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	v := &hdVerifier{}
	var served atomic.Int64
	met := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		io.WriteString(w, "appserver_x 1\n")
	})
	srv := appserver.NewServer(nil)
	defer srv.Close()
	withAuth := NewHandler(srv, &Options{Verifier: v, Metrics: met, CheckHost: true, FailureLimit: FailureLimit{Burst: 2, Interval: time.Hour}})
	noAuth := NewHandler(srv, &Options{Metrics: met, CheckHost: true})
	without := NewHandler(srv, &Options{CheckHost: true})
	const remote = "127.0.0.1:4000"
	good := []string{"Authorization", "Bearer " + hdGood}

	for _, tt := range []struct {
		name           string
		h              http.Handler
		method, remote string
		host           string
		kv             []string
		status         int
		body           string
		served         bool
	}{
		{"no token", withAuth, "GET", remote, "localhost", nil, 401, "missing websocket bearer token", false},
		{"token", withAuth, "GET", remote, "localhost", good, 200, "appserver_x 1\n", true},
		{"HEAD with token", withAuth, "HEAD", remote, "localhost", good, 200, "appserver_x 1\n", true}, // a recorder keeps HEAD bodies
		{"POST with token", withAuth, "POST", remote, "localhost", good, 405, "", false},
		{"Origin with token", withAuth, "GET", remote, "localhost", append([]string{"Origin", "http://localhost"}, good...), 403, "", false},
		{"evil Host with token", withAuth, "GET", remote, "evil.example", good, 403, "host not allowed", false},
		{"wrong token 1", withAuth, "GET", "192.0.2.9:1", "localhost", []string{"Authorization", "Bearer x"}, 401, "invalid websocket bearer token", false},
		{"wrong token 2", withAuth, "GET", "192.0.2.9:1", "localhost", []string{"Authorization", "Bearer y"}, 401, "invalid websocket bearer token", false},
		{"right token while limited", withAuth, "GET", "192.0.2.9:1", "localhost", good, 429, hdLimTxt, false},
		{"no auth configured", noAuth, "GET", remote, "localhost", nil, 200, "appserver_x 1\n", true},
		{"no auth configured, Origin", noAuth, "GET", remote, "localhost", []string{"Origin", "null"}, 403, "", false},
		{"no auth configured, evil Host", noAuth, "GET", remote, "evil.example", nil, 403, "host not allowed", false},
		{"metrics off: a WebSocket path", without, "GET", remote, "localhost", nil, 400, "Connection header did not include 'upgrade'", false},
	} {
		before := served.Load()
		rec := hdServeRec(tt.h, tt.method, "/metrics", tt.host, tt.remote, tt.kv...)
		if rec.Code != tt.status || rec.Body.String() != tt.body {
			t.Errorf("%s: %d %q, want %d %q", tt.name, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
		if got := served.Load() > before; got != tt.served {
			t.Errorf("%s: metrics handler ran %v, want %v", tt.name, got, tt.served)
		}
		if tt.status == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", tt.name, rec.Header().Get("Allow"))
		}
		if tt.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, rec.Header().Get("WWW-Authenticate"))
		}
	}
	// Without Options.Metrics, an upgrade to /metrics is an upgrade.
	l := hdServe(t, &Options{CheckHost: true})
	if r := hdDo(t, l.addr, hdUpgrade(l.addr, "/metrics", "")); r.status != 101 {
		t.Errorf("upgrade to /metrics without Options.Metrics: %d %q", r.status, r.body)
	}
}
