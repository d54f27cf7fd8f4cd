package wstransport_test

// Tests of the real http.Handler: the order of checks (Origin → health →
// handshake → auth) as a table over recorded requests, and live upgrades
// over loopback with coder/websocket as an independent client: sessions,
// the principal in the session's context, close codes, frame limits, and
// goroutine leaks on rejected upgrades (SECURITY.md §1.5 cases 1-9, 42).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/auth"
	"github.com/appserver-go/appserver/internal/testutil"
	"github.com/appserver-go/appserver/wstransport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	goodToken = "good-token-0123456789abcdef"
	wsKey     = "dGhlIHNhbXBsZSBub25jZQ=="
)

// stubVerifier accepts goodToken and counts its calls, so tests can tell
// whether a request reached authentication at all.
type stubVerifier struct{ calls atomic.Int64 }

func (v *stubVerifier) Verify(token string) (auth.Principal, error) {
	v.calls.Add(1)
	if token == goodToken {
		return auth.Principal{Mode: auth.ModeCapabilityToken, Fingerprint: "sha256:0123456789ab"}, nil
	}
	return auth.Principal{}, fmt.Errorf("%w: stub", auth.ErrInvalidToken)
}

func (v *stubVerifier) Mode() string { return auth.ModeCapabilityToken }

// hdr builds a header from name, value pairs, keeping repeated names.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// upgradeHdr is a valid upgrade request's header plus kv.
func upgradeHdr(kv ...string) http.Header {
	return hdr(append([]string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", wsKey}, kv...)...)
}

func without(h http.Header, name string) http.Header {
	h = h.Clone()
	h.Del(name)
	return h
}

func TestOrderOfChecks(t *testing.T) {
	t.Parallel()
	const (
		connText    = "Connection header did not include 'upgrade'"
		upgradeText = "`Upgrade` header did not include 'websocket'"
		versionText = "`Sec-WebSocket-Version` header did not include '13'"
		keyMissing  = "`Sec-WebSocket-Key` header missing"
		keyInvalid  = "`Sec-WebSocket-Key` header is not 16 bytes of base64"
		methodText  = "Request method must be `GET`"
		http10Text  = "WebSocket request couldn't be upgraded since no upgrade state was present"
	)
	good := "Bearer " + goodToken
	for _, tt := range []struct {
		name     string
		method   string
		target   string
		http10   bool
		header   http.Header
		status   int
		body     string
		verified bool // the verifier was asked
	}{
		// 1. Origin, before everything, on every route.
		{"origin on an upgrade with a good token", "GET", "/", false, upgradeHdr("Origin", "https://evil.example", "Authorization", good), 403, "", false},
		{"empty origin", "GET", "/", false, upgradeHdr("Origin", "", "Authorization", good), 403, "", false},
		{"origin null", "GET", "/", false, upgradeHdr("Origin", "null", "Authorization", good), 403, "", false},
		{"own origin", "GET", "/", false, upgradeHdr("Origin", "http://127.0.0.1:4500", "Authorization", good), 403, "", false},
		{"origin on /readyz", "GET", "/readyz", false, hdr("Origin", "null"), 403, "", false},
		{"origin on HEAD /healthz", "HEAD", "/healthz", false, hdr("Origin", "x"), 403, "", false},
		{"origin on POST /readyz", "POST", "/readyz", false, hdr("Origin", "x"), 403, "", false},
		{"origin, bad handshake, no token", "POST", "/x", false, hdr("Origin", "https://evil.example"), 403, "", false},
		{"origin on HTTP/1.0", "GET", "/", true, upgradeHdr("Origin", "null"), 403, "", false},
		{"two origins", "GET", "/", false, upgradeHdr("Origin", "a", "Origin", "b", "Authorization", good), 403, "", false},

		// 2. Health, without credentials.
		{"GET /readyz", "GET", "/readyz", false, nil, 200, "", false},
		{"HEAD /readyz", "HEAD", "/readyz", false, nil, 200, "", false},
		{"GET /healthz with a bad token", "GET", "/healthz", false, hdr("Authorization", "Bearer wrong"), 200, "", false},
		{"GET /healthz with two tokens", "GET", "/healthz", false, hdr("Authorization", "Basic x", "Authorization", "Bearer y"), 200, "", false},
		{"GET /readyz over HTTP/1.0", "GET", "/readyz", true, nil, 200, "", false},
		{"upgrade to /readyz", "GET", "/readyz", false, upgradeHdr(), 200, "", false},
		{"POST /readyz", "POST", "/readyz", false, nil, 405, "", false},
		{"DELETE /healthz", "DELETE", "/healthz", false, nil, 405, "", false},
		{"POST upgrade to /healthz", "POST", "/healthz", false, upgradeHdr(), 405, "", false},
		{"/readyz/ is not health", "GET", "/readyz/", false, nil, 400, connText, false},
		{"/READYZ is not health", "GET", "/READYZ", false, nil, 400, connText, false},
		{"/healthz?x=1 is health", "GET", "/healthz?x=1", false, nil, 200, "", false},

		// 3. Handshake, before auth: no token and a wrong one both get the
		// handshake error, and the verifier is never asked.
		{"plain GET /", "GET", "/", false, nil, 400, connText, false},
		{"plain GET /any/path?x=1", "GET", "/any/path?x=1", false, hdr("Authorization", "Bearer wrong"), 400, connText, false},
		{"POST upgrade", "POST", "/", false, upgradeHdr(), 405, methodText, false},
		{"POST upgrade with a wrong token", "POST", "/", false, upgradeHdr("Authorization", "Bearer wrong"), 405, methodText, false},
		{"no Upgrade", "GET", "/", false, without(upgradeHdr(), "Upgrade"), 400, upgradeText, false},
		{"Upgrade h2c", "GET", "/", false, func() http.Header { h := upgradeHdr(); h.Set("Upgrade", "h2c"); return h }(), 400, upgradeText, false},
		{"version 8", "GET", "/", false, func() http.Header { h := upgradeHdr(); h.Set("Sec-WebSocket-Version", "8"); return h }(), 400, versionText, false},
		{"two versions", "GET", "/", false, upgradeHdr("Sec-WebSocket-Version", "13"), 400, versionText, false},
		{"no key", "GET", "/", false, without(upgradeHdr("Authorization", "Bearer wrong"), "Sec-WebSocket-Key"), 400, keyMissing, false},
		{"key abc", "GET", "/", false, func() http.Header { h := upgradeHdr(); h.Set("Sec-WebSocket-Key", "abc"); return h }(), 400, keyInvalid, false},
		{"key of 15 bytes", "GET", "/", false, func() http.Header { h := upgradeHdr(); h.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"); return h }(), 400, keyInvalid, false},
		{"two keys", "GET", "/", false, upgradeHdr("Sec-WebSocket-Key", wsKey), 400, keyInvalid, false},
		{"HTTP/1.0", "GET", "/", true, upgradeHdr("Authorization", "Bearer wrong"), 426, http10Text, false},

		// 4. Auth.
		{"no token", "GET", "/", false, upgradeHdr(), 401, "missing websocket bearer token", false},
		{"token only in the query", "GET", "/?token=" + goodToken, false, upgradeHdr(), 401, "missing websocket bearer token", false},
		{"Basic", "GET", "/", false, upgradeHdr("Authorization", "Basic "+goodToken), 401, "invalid authorization header", false},
		{"Bearer without a token", "GET", "/", false, upgradeHdr("Authorization", "Bearer"), 401, "invalid authorization header", false},
		{"two Authorization headers", "GET", "/", false, upgradeHdr("Authorization", good, "Authorization", good), 401, "multiple authorization headers", false},
		{"wrong token", "GET", "/any/path", false, upgradeHdr("Authorization", "Bearer wrong"), 401, "invalid websocket bearer token", true},
		{"64 KiB token", "GET", "/", false, upgradeHdr("Authorization", "Bearer "+strings.Repeat(".", 64<<10)), 401, "invalid websocket bearer token", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &stubVerifier{}
			h := wstransport.NewHandler(appserver.NewServer(nil), &wstransport.Options{Verifier: v})
			req := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.header != nil {
				req.Header = tt.header.Clone()
			}
			if tt.http10 {
				req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.0", 1, 0
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tt.status, tt.body)
			}
			if called := v.calls.Load() > 0; called != tt.verified {
				t.Errorf("verifier called: %v, want %v", called, tt.verified)
			}
			switch tt.status {
			case 401:
				if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if wa := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") {
					t.Errorf("WWW-Authenticate %q", wa)
				}
			case 405:
				if tt.body == "" { // a health route
					if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
						t.Errorf("Allow %q", allow)
					}
				}
			}
			if tt.status != 401 && rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("a %d carries WWW-Authenticate", tt.status)
			}
		})
	}
}

// live is a handler served on a loopback listener.
type live struct {
	srv  *appserver.Server
	hs   *httptest.Server
	addr string
	url  string
	tr   *http.Transport
}

type baseKey struct{}

// newLive serves a new appserver.Server through the handler with opts.
// The server has a method test/whoami that answers what the session's
// context holds. Everything is closed when the test ends.
func newLive(t *testing.T, opts *wstransport.Options) *live {
	t.Helper()
	srv := appserver.NewServer(nil)
	srv.AddMethod(appserver.Method{Name: "test/whoami", ParamsOptional: true, Handler: func(ctx context.Context, _ *appserver.Request) (any, error) {
		p, ok := auth.FromContext(ctx)
		base, _ := ctx.Value(baseKey{}).(string)
		return map[string]any{"ok": ok, "mode": p.Mode, "fingerprint": p.Fingerprint, "subject": p.Subject, "issuer": p.Issuer, "id": p.ID, "base": base}, nil
	}})
	hs := httptest.NewServer(wstransport.NewHandler(srv, opts))
	tr := &http.Transport{}
	l := &live{srv: srv, hs: hs, addr: hs.Listener.Addr().String(), url: "ws" + strings.TrimPrefix(hs.URL, "http"), tr: tr}
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = srv.Close() })
	t.Cleanup(tr.CloseIdleConnections)
	return l
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial upgrades with token (none if empty). The connection is closed when
// the test ends.
func (l *live) dial(t *testing.T, token string) (*websocket.Conn, *http.Response) {
	t.Helper()
	opts := &websocket.DialOptions{HTTPClient: &http.Client{Transport: l.tr}, HTTPHeader: http.Header{}}
	if token != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.Dial(testCtx(t), l.url, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, resp
}

// call sends a request and returns the answer with the same id, skipping
// notifications.
func call(t *testing.T, c *websocket.Conn, id int, method, params string) map[string]json.RawMessage {
	t.Helper()
	ctx := testCtx(t)
	req := fmt.Sprintf(`{"id":%d,"method":%q`, id, method)
	if params != "" {
		req += `,"params":` + params
	}
	req += "}"
	if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	return readAnswer(t, c, id)
}

func readAnswer(t *testing.T, c *websocket.Conn, id int) map[string]json.RawMessage {
	t.Helper()
	ctx := testCtx(t)
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != websocket.MessageText {
			t.Fatalf("server sent a %v message", typ)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatalf("answer %s: %v", msg, err)
		}
		if string(m["id"]) == fmt.Sprint(id) {
			return m
		}
		if _, isReq := m["method"]; !isReq {
			t.Fatalf("answer for another id: %s", msg)
		}
	}
}

const initParams = `{"clientInfo":{"name":"wstransport-test","version":"1"}}`

func initialize(t *testing.T, c *websocket.Conn) {
	t.Helper()
	if m := call(t, c, 1, "initialize", initParams); m["result"] == nil {
		t.Fatalf("initialize: %s", m["error"])
	}
}

func whoami(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	m := call(t, c, 99, "test/whoami", "")
	var res map[string]any
	if err := json.Unmarshal(m["result"], &res); err != nil {
		t.Fatalf("whoami: %s %s", m["result"], m["error"])
	}
	return res
}

func TestUpgradeCarriesPrincipal(t *testing.T) {
	t.Parallel()
	v := &stubVerifier{}
	base := context.WithValue(context.Background(), baseKey{}, "from BaseContext")
	l := newLive(t, &wstransport.Options{Verifier: v, BaseContext: base})
	c, resp := l.dial(t, goodToken)
	if got := resp.Header.Get("X-Codex-Websocket-Max-Unfragmented-Message-Bytes"); got != "16777216" {
		t.Errorf("max frame header %q, want 16777216", got)
	}
	if proto := resp.Header.Get("Sec-WebSocket-Protocol"); proto != "" {
		t.Errorf("a subprotocol was selected: %q", proto)
	}
	initialize(t, c)
	got := whoami(t, c)
	if got["ok"] != true || got["mode"] != auth.ModeCapabilityToken || got["fingerprint"] != "sha256:0123456789ab" || got["base"] != "from BaseContext" {
		t.Errorf("the session's context holds %v", got)
	}
	if n := v.calls.Load(); n != 1 {
		t.Errorf("verifier called %d times for one upgrade", n)
	}
}

func TestUpgradeWithoutVerifierHasNoPrincipal(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil)
	c, _ := l.dial(t, "")
	initialize(t, c)
	if got := whoami(t, c); got["ok"] != false {
		t.Errorf("a session without auth has a principal: %v", got)
	}
	// A token sent to a server without auth is ignored.
	c2, _ := l.dial(t, "anything")
	initialize(t, c2)
}

func TestUpgradeWithRealVerifiers(t *testing.T) {
	t.Parallel()
	t.Run("capability", func(t *testing.T) {
		t.Parallel()
		v, err := auth.NewCapabilityToken(goodToken)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := v.Verify(goodToken)
		l := newLive(t, &wstransport.Options{Verifier: v})
		c, _ := l.dial(t, goodToken)
		initialize(t, c)
		if got := whoami(t, c); got["fingerprint"] != want.Fingerprint || !strings.HasPrefix(want.Fingerprint, "sha256:") {
			t.Errorf("principal %v, want fingerprint %s", got, want.Fingerprint)
		}
	})
	t.Run("jwt", func(t *testing.T) {
		t.Parallel()
		secret := []byte(strings.Repeat("s", 32))
		v, err := auth.NewJWTVerifier(secret, auth.JWTOptions{Issuer: "iss-1", Audience: "aud-1", ClockSkew: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := auth.SignHS256(secret, map[string]any{"iss": "iss-1", "aud": "aud-1", "sub": "alice", "jti": "j-7", "exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		l := newLive(t, &wstransport.Options{Verifier: v})
		c, _ := l.dial(t, tok)
		initialize(t, c)
		if got := whoami(t, c); got["mode"] != auth.ModeSignedBearerToken || got["subject"] != "alice" || got["issuer"] != "iss-1" || got["id"] != "j-7" {
			t.Errorf("principal %v", got)
		}
		// A wrong audience never upgrades.
		bad, _ := auth.SignHS256(secret, map[string]any{"iss": "iss-1", "aud": "other", "exp": time.Now().Add(time.Hour).Unix()})
		_, resp, err := websocket.Dial(testCtx(t), l.url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: l.tr}, HTTPHeader: http.Header{"Authorization": {"Bearer " + bad}}})
		if err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("wrong audience: %v %v", resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "websocket jwt audience mismatch" {
			t.Errorf("body %q", body)
		}
	})
}

// rawExchange writes req on a new connection to addr, reads the response
// and closes the connection.
func rawExchange(addr, req string) (int, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body), err
}

// TestRejectedUpgradesLeakNoGoroutines makes 200 rejected upgrades of each
// kind (403 Origin, 400 handshake, 401 auth, some with a 64 KiB header)
// and checks that the goroutine count comes back to where it was.
func TestRejectedUpgradesLeakNoGoroutines(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	v, err := auth.NewCapabilityToken(goodToken)
	if err != nil {
		t.Fatal(err)
	}
	l := newLive(t, &wstransport.Options{Verifier: v})
	// Warm up: one accepted session, closed again, so lazily started
	// goroutines are part of the baseline.
	if st, _, err := rawExchange(l.addr, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil || st != 200 {
		t.Fatalf("warm-up: %d %v", st, err)
	}
	time.Sleep(10 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()
	baseline := runtime.NumGoroutine()

	handshake := "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + wsKey + "\r\n"
	kinds := []struct {
		name   string
		req    func(i int) string
		status int
	}{
		{"origin", func(i int) string {
			return "GET / HTTP/1.1\r\n" + handshake + "Origin: https://evil.example\r\nAuthorization: Bearer " + goodToken + "\r\n\r\n"
		}, 403},
		{"handshake", func(i int) string {
			return "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 7\r\n\r\n"
		}, 400},
		{"auth", func(i int) string {
			tok := fmt.Sprintf("wrong-%d", i)
			if i%10 == 0 {
				tok = strings.Repeat(".", 64<<10)
			}
			return "GET / HTTP/1.1\r\n" + handshake + "Authorization: Bearer " + tok + "\r\n\r\n"
		}, 401},
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(kinds))
	for _, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				st, body, err := rawExchange(l.addr, k.req(i))
				if err != nil || st != k.status {
					errs <- fmt.Errorf("%s %d: %d %q %v", k.name, i, st, body, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
	var n int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= baseline {
			break
		}
	}
	if n > baseline {
		t.Errorf("%d goroutines after 600 rejected upgrades, %d before", n, baseline)
	}
}

func TestShutdownClosesWith1001(t *testing.T) {
	t.Parallel()
	l := newLive(t, &wstransport.Options{Verifier: &stubVerifier{}})
	c, _ := l.dial(t, goodToken)
	initialize(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.srv.Shutdown(ctx) }()
	_, _, err := c.Read(testCtx(t))
	if st := websocket.CloseStatus(err); st != websocket.StatusGoingAway {
		t.Errorf("client read %v (status %d), want 1001", err, st)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestInvalidJSONKeepsConnection(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil)
	c, _ := l.dial(t, "")
	ctx := testCtx(t)
	for _, junk := range []string{"not json", "{", `{"id":1,"method":`, "[]", `[{"id":5,"method":"initialize"}]`, `{"id":null,"method":"initialize"}`, ""} {
		if err := c.Write(ctx, websocket.MessageText, []byte(junk)); err != nil {
			t.Fatalf("write %q: %v", junk, err)
		}
	}
	// The next request is the first one answered.
	if m := call(t, c, 2, "initialize", initParams); m["result"] == nil {
		t.Fatalf("initialize after junk: %v", m)
	}
}

func TestBinaryFrameDropped(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil)
	c, _ := l.dial(t, "")
	ctx := testCtx(t)
	if err := c.Write(ctx, websocket.MessageBinary, []byte(`{"id":7,"method":"initialize","params":`+initParams+`}`)); err != nil {
		t.Fatal(err)
	}
	// Had the binary frame been served, this would be "Already
	// initialized", and an answer for id 7 would come first.
	m := call(t, c, 8, "initialize", initParams)
	if m["result"] == nil {
		t.Fatalf("initialize after a binary frame: %v", m)
	}
}

// TestFrameAndMessageLimits: a frame one byte over MaxFrameBytes closes the
// connection with 1009; a frame of exactly the limit is served, and so is
// a fragmented message larger than the frame limit but within
// MaxMessageBytes, which is enforced on its own.
func TestFrameAndMessageLimits(t *testing.T) {
	t.Parallel()
	const frameLimit, messageLimit = 4096, 16384
	l := newLive(t, &wstransport.Options{MaxFrameBytes: frameLimit, MaxMessageBytes: messageLimit})
	padded := func(id, n int) []byte {
		msg := fmt.Sprintf(`{"id":%d,"method":"test/whoami","params":{"pad":""}}`, id)
		return []byte(strings.Replace(msg, `"pad":""`, `"pad":"`+strings.Repeat("p", n-len(msg))+`"`, 1))
	}

	t.Run("frame header", func(t *testing.T) {
		_, resp := l.dial(t, "")
		if got := resp.Header.Get("X-Codex-Websocket-Max-Unfragmented-Message-Bytes"); got != "4096" {
			t.Errorf("max frame header %q", got)
		}
	})
	t.Run("exact frame limit", func(t *testing.T) {
		c, _ := l.dial(t, "")
		initialize(t, c)
		msg := padded(2, frameLimit)
		if err := c.Write(testCtx(t), websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if m := readAnswer(t, c, 2); m["result"] == nil {
			t.Errorf("a %d-byte frame: %v", len(msg), m)
		}
	})
	t.Run("fragmented message over the frame limit", func(t *testing.T) {
		c, _ := l.dial(t, "")
		initialize(t, c)
		msg := padded(3, 3*frameLimit)
		w, err := c.Writer(testCtx(t), websocket.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(msg); i += frameLimit - 100 {
			if _, err := w.Write(msg[i:min(i+frameLimit-100, len(msg))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if m := readAnswer(t, c, 3); m["result"] == nil {
			t.Errorf("a %d-byte fragmented message: %v", len(msg), m)
		}
	})
	for _, tt := range []struct {
		name string
		send func(t *testing.T, c *websocket.Conn)
	}{
		{"frame one byte over", func(t *testing.T, c *websocket.Conn) {
			if err := c.Write(testCtx(t), websocket.MessageText, padded(4, frameLimit+1)); err != nil {
				t.Fatal(err)
			}
		}},
		{"fragmented message over the message limit", func(t *testing.T, c *websocket.Conn) {
			w, err := c.Writer(testCtx(t), websocket.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			chunk := bytes.Repeat([]byte(" "), frameLimit)
			for range messageLimit/frameLimit + 1 {
				if _, err := w.Write(chunk); err != nil {
					return // the server may close before the last fragment
				}
			}
			_ = w.Close()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := l.dial(t, "")
			initialize(t, c)
			tt.send(t, c)
			for {
				_, _, err := c.Read(testCtx(t))
				if err == nil {
					continue
				}
				if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
					t.Errorf("read %v (status %d), want close 1009", err, st)
				}
				return
			}
		})
	}
}

// TestUpgradeDecisionsLogged: one event per decision, with the fixed
// reason and the remote address, and never the presented token.
func TestUpgradeDecisionsLogged(t *testing.T) {
	t.Parallel()
	var buf testutil.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := newLive(t, &wstransport.Options{Verifier: &stubVerifier{}, Logger: logger})
	const secretish = "wrong-token-that-must-not-be-logged"
	handshake := "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + wsKey + "\r\n"
	for _, tt := range []struct {
		req    string
		status int
	}{
		{"GET / HTTP/1.1\r\n" + handshake + "Authorization: Bearer " + secretish + "\r\n\r\n", 401},
		{"GET / HTTP/1.1\r\n" + handshake + "Authorization: Bearer " + secretish + "\r\nOrigin: null\r\n\r\n", 403},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer " + secretish + "\r\n\r\n", 400},
		{"GET /readyz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secretish + "\r\n\r\n", 200},
	} {
		if st, body, err := rawExchange(l.addr, tt.req); err != nil || st != tt.status {
			t.Fatalf("%q: %d %q %v", tt.req, st, body, err)
		}
	}
	c, _ := l.dial(t, goodToken)
	initialize(t, c)
	c.Close(websocket.StatusNormalClosure, "")

	log := buf.String()
	if strings.Contains(log, secretish) || strings.Contains(log, goodToken) {
		t.Errorf("a token reached the log:\n%s", log)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if ev["msg"] == "websocket upgrade" {
			events = append(events, ev)
		}
	}
	want := []struct {
		outcome string
		status  float64
		reason  string
	}{{"rejected", 401, "invalid websocket bearer token"}, {"rejected", 403, "origin"}, {"rejected", 400, "Sec-WebSocket-Version"}, {"accepted", 0, ""}}
	if len(events) != len(want) {
		t.Fatalf("%d upgrade events, want %d:\n%s", len(events), len(want), log)
	}
	for i, w := range want {
		ev := events[i]
		if ev["outcome"] != w.outcome || (w.status != 0 && ev["status"] != w.status) || !strings.Contains(fmt.Sprint(ev["reason"]), w.reason) {
			t.Errorf("event %d: %v, want %+v", i, ev, w)
		}
		if r, _ := ev["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
			t.Errorf("event %d without the remote address: %v", i, ev)
		}
	}
	if events[0]["mode"] != auth.ModeCapabilityToken || events[3]["mode"] != auth.ModeCapabilityToken {
		t.Errorf("auth decisions without the mode: %v / %v", events[0], events[3])
	}
	if p, _ := events[3]["principal"].(map[string]any); p["fingerprint"] != "sha256:0123456789ab" {
		t.Errorf("accepted event without the principal: %v", events[3])
	}
}

// TestHijackUnsupported: a ResponseWriter that cannot be hijacked (an
// HTTP/2 or a recorder) gets a 500 and no session.
func TestHijackUnsupported(t *testing.T) {
	t.Parallel()
	srv := appserver.NewServer(nil)
	defer srv.Close()
	h := wstransport.NewHandler(srv, nil)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header = upgradeHdr()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || len(srv.Sessions()) != 0 {
		t.Errorf("got %d %q, %d sessions", rec.Code, rec.Body.String(), len(srv.Sessions()))
	}
}

// farFutureVerifier accepts every token as a JWT principal expiring in the
// year 146138514283, as a validly signed token with exp = 2^62 does
// (WEBSOCKET-AUTH.md: "exp = 2^62 is accepted").
type farFutureVerifier struct{}

func (farFutureVerifier) Verify(string) (auth.Principal, error) {
	return auth.Principal{Mode: auth.ModeSignedBearerToken, Subject: "s", ExpiresAt: time.Unix(1<<62, 0).UTC()}, nil
}

func (farFutureVerifier) Mode() string { return auth.ModeSignedBearerToken }

// TestAcceptedEventIsJSONForFarFutureExpiry: the audit event of an
// accepted upgrade stays one valid JSON object whatever the principal's
// expiry. slog's JSONHandler writes `"!ERROR:time.Time year outside of
// range [0,9999]""…"` for such times, so auth.Principal.LogValue must not
// pass them through unchanged.
func TestAcceptedEventIsJSONForFarFutureExpiry(t *testing.T) {
	t.Parallel()
	var buf testutil.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	l := newLive(t, &wstransport.Options{Verifier: farFutureVerifier{}, Logger: logger})
	c, _ := l.dial(t, "anything")
	initialize(t, c)
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not valid JSON: %s", line)
		}
	}
}
