package websocket

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Handshake refusal texts, as the reference server sends them.
const (
	textMethod     = "Request method must be `GET`"
	textConnection = "Connection header did not include 'upgrade'"
	textUpgrade    = "`Upgrade` header did not include 'websocket'"
	textVersion    = "`Sec-WebSocket-Version` header did not include '13'"
	textKeyMissing = "`Sec-WebSocket-Key` header missing"
	textKeyInvalid = "`Sec-WebSocket-Key` header is not 16 bytes of base64"
	textHTTP10     = "WebSocket request couldn't be upgraded since no upgrade state was present"
)

// TestCheckRequest checks each refusal's status and text, the order of the
// checks (a request failing two gets the earlier one), and the accepted
// variants.
func TestCheckRequest(t *testing.T) {
	type req struct {
		method string
		proto  string // "1.0" or "1.1"
		hdr    map[string][]string
	}
	valid := func() req {
		return req{method: "GET", proto: "1.1", hdr: map[string][]string{
			"Connection":            {"Upgrade"},
			"Upgrade":               {"websocket"},
			"Sec-WebSocket-Version": {"13"},
			"Sec-WebSocket-Key":     {testKey},
		}}
	}
	with := func(f func(*req)) req { r := valid(); f(&r); return r }
	del := func(name string) func(*req) { return func(r *req) { delete(r.hdr, name) } }
	set := func(name string, v ...string) func(*req) { return func(r *req) { r.hdr[name] = v } }
	both := func(fs ...func(*req)) func(*req) {
		return func(r *req) {
			for _, f := range fs {
				f(r)
			}
		}
	}
	method := func(m string) func(*req) { return func(r *req) { r.method = m } }
	http10 := func(r *req) { r.proto = "1.0" }

	tests := []struct {
		name   string
		req    req
		status int // 0: accepted
		text   string
	}{
		{"valid", valid(), 0, ""},
		{"connection token list", with(set("Connection", "keep-alive, Upgrade")), 0, ""},
		{"connection token case", with(set("Connection", "UPGRADE")), 0, ""},
		{"connection in a second header line", with(set("Connection", "keep-alive", "upgrade")), 0, ""},
		{"upgrade token case", with(set("Upgrade", "WebSocket")), 0, ""},
		{"upgrade token list", with(set("Upgrade", "h2c, websocket")), 0, ""},
		{"key of 16 zero bytes", with(set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")), 0, ""},

		{"POST", with(method("POST")), 405, textMethod},
		{"HEAD", with(method("HEAD")), 405, textMethod},
		{"PUT", with(method("PUT")), 405, textMethod},
		{"no Connection", with(del("Connection")), 400, textConnection},
		{"Connection keep-alive", with(set("Connection", "keep-alive")), 400, textConnection},
		{"Connection upgraded (not a token match)", with(set("Connection", "upgraded")), 400, textConnection},
		{"no Upgrade", with(del("Upgrade")), 400, textUpgrade},
		{"Upgrade h2c", with(set("Upgrade", "h2c")), 400, textUpgrade},
		{"no version", with(del("Sec-WebSocket-Version")), 400, textVersion},
		{"version 8", with(set("Sec-WebSocket-Version", "8")), 400, textVersion},
		{"version 13 twice", with(set("Sec-WebSocket-Version", "13", "13")), 400, textVersion},
		{"version list", with(set("Sec-WebSocket-Version", "13, 8")), 400, textVersion},
		{"no key", with(del("Sec-WebSocket-Key")), 400, textKeyMissing},
		{"key abc", with(set("Sec-WebSocket-Key", "abc")), 400, textKeyInvalid},
		{"empty key", with(set("Sec-WebSocket-Key", "")), 400, textKeyInvalid},
		{"key of 15 bytes", with(set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")), 400, textKeyInvalid},
		{"key of 17 bytes", with(set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=")), 400, textKeyInvalid},
		{"key of 18 bytes in 24 characters", with(set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA")), 400, textKeyInvalid},
		{"key not base64", with(set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==")), 400, textKeyInvalid},
		{"key in URL-safe base64", with(set("Sec-WebSocket-Key", "-_-_-_-_-_-_-_-_-_-_-w==")), 400, textKeyInvalid},
		{"two keys", with(set("Sec-WebSocket-Key", testKey, testKey)), 400, textKeyInvalid},
		{"HTTP/1.0", with(http10), 426, textHTTP10},

		// Order: the earlier check wins.
		{"POST without Connection", with(both(method("POST"), del("Connection"))), 405, textMethod},
		{"POST over HTTP/1.0 without anything", with(both(method("POST"), http10, del("Connection"), del("Upgrade"), del("Sec-WebSocket-Version"), del("Sec-WebSocket-Key"))), 405, textMethod},
		{"no Connection, no Upgrade", with(both(del("Connection"), del("Upgrade"))), 400, textConnection},
		{"no Connection, bad key", with(both(del("Connection"), set("Sec-WebSocket-Key", "abc"))), 400, textConnection},
		{"no Upgrade, bad version", with(both(del("Upgrade"), set("Sec-WebSocket-Version", "8"))), 400, textUpgrade},
		{"no Upgrade, HTTP/1.0", with(both(del("Upgrade"), http10)), 400, textUpgrade},
		{"bad version, no key", with(both(set("Sec-WebSocket-Version", "8"), del("Sec-WebSocket-Key"))), 400, textVersion},
		{"no key, HTTP/1.0", with(both(del("Sec-WebSocket-Key"), http10)), 400, textKeyMissing},
		{"bad key, HTTP/1.0", with(both(set("Sec-WebSocket-Key", "abc"), http10)), 400, textKeyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.req.method, "/", nil)
			if tt.req.proto == "1.0" {
				r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0
			}
			for k, vs := range tt.req.hdr {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			herr := CheckRequest(r)
			if tt.status == 0 {
				if herr != nil {
					t.Fatalf("refused: %v", herr)
				}
				return
			}
			if herr == nil {
				t.Fatalf("accepted, want %d %q", tt.status, tt.text)
			}
			if herr.Status != tt.status || herr.Text != tt.text {
				t.Fatalf("got %d %q, want %d %q", herr.Status, herr.Text, tt.status, tt.text)
			}
			if !strings.Contains(herr.Error(), tt.text) {
				t.Fatalf("Error() = %q", herr.Error())
			}
		})
	}
}

// TestCheckRequestOverTheWire sends refused requests to a real server,
// including a real HTTP/1.0 request, and checks status and body.
func TestCheckRequestOverTheWire(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	tests := []struct {
		name   string
		req    string
		status int
		text   string
	}{
		{"plain GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, textConnection},
		{"POST upgrade", strings.Replace(upgradeRequest(""), "GET", "POST", 1), 405, textMethod},
		{"key abc", strings.Replace(upgradeRequest(""), testKey, "abc", 1), 400, textKeyInvalid},
		{"HTTP/1.0", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/1.0", 1), 426, textHTTP10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, s.addr(), tt.req, nil)
			body, err := io.ReadAll(rc.resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if rc.resp.StatusCode != tt.status || string(body) != tt.text {
				t.Fatalf("got %d %q, want %d %q", rc.resp.StatusCode, body, tt.status, tt.text)
			}
		})
	}
}

// TestAcceptKey checks the example of RFC 6455 §4.2.2.
func TestAcceptKey(t *testing.T) {
	if got := acceptKey(testKey); got != testAccept {
		t.Fatalf("acceptKey(%q) = %q, want %q", testKey, got, testAccept)
	}
}

// TestUpgradeResponse checks the 101: status, Upgrade, Connection,
// Sec-WebSocket-Accept, the extra headers (all values), and that nothing
// is negotiated (no extension, no subprotocol) even when offered.
func TestUpgradeResponse(t *testing.T) {
	extra := http.Header{
		"X-Codex-Websocket-Max-Unfragmented-Message-Bytes": {"16777216"},
		"X-Multi": {"one", "two"},
	}
	s := newTestServer(t, serverConfig{extra: extra})
	rc := dialRaw(t, s.addr(), upgradeRequest("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Protocol: chat\r\n"), nil)
	resp := rc.resp
	if resp.StatusCode != 101 || resp.Proto != "HTTP/1.1" {
		t.Fatalf("status %q %s", resp.Status, resp.Proto)
	}
	checks := map[string]string{
		"Upgrade":              "websocket",
		"Connection":           "Upgrade",
		"Sec-Websocket-Accept": testAccept,
		"X-Codex-Websocket-Max-Unfragmented-Message-Bytes": "16777216",
	}
	for k, v := range checks {
		if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := resp.Header.Values("X-Multi"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("X-Multi = %q", got)
	}
	for _, k := range []string{"Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "Content-Length", "Transfer-Encoding"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("unexpected %s: %q", k, v)
		}
	}
	// The connection works: nothing was written after the headers.
	rc.write(frame(true, OpText, []byte("ok")))
	rc.expectText([]byte("ok"))
}

// TestUpgradeClearsServerDeadlines checks that the read and write deadlines
// the http.Server sets for the request (ReadHeaderTimeout, ReadTimeout,
// WriteTimeout) do not apply to the upgraded connection.
func TestUpgradeClearsServerDeadlines(t *testing.T) {
	const d = 150 * time.Millisecond
	s := newTestServer(t, serverConfig{http: func(hs *http.Server) {
		hs.ReadHeaderTimeout = d
		hs.ReadTimeout = d
		hs.WriteTimeout = d
		hs.IdleTimeout = d
	}})
	rc := dialWS(t, s)
	time.Sleep(3 * d)
	rc.write(frame(true, OpText, []byte("still open")))
	rc.expectText([]byte("still open"))
	time.Sleep(3 * d)
	rc.write(frame(true, opPing, []byte("p")))
	rc.expectFrame(opPong, []byte("p"))
	select {
	case err := <-s.results:
		t.Fatalf("server reader ended: %v", err)
	default:
	}
}

// TestUpgradeSlowRequestHeaders: a request whose headers arrive in pieces
// (within ReadHeaderTimeout) still upgrades, and the frame sent in the last
// piece is not lost.
func TestUpgradeSlowRequestHeaders(t *testing.T) {
	s := newTestServer(t, serverConfig{http: func(hs *http.Server) { hs.ReadHeaderTimeout = 2 * time.Second }})
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := upgradeRequest("")
	for _, part := range []string{req[:10], req[10:40], req[40:]} {
		if _, err := io.WriteString(nc, part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := nc.Write(frame(true, OpText, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v, %v", resp, err)
	}
	rc.expectText([]byte("after"))
}

// TestUpgradeWithoutHijack checks that Upgrade fails cleanly on a
// ResponseWriter that cannot be hijacked.
func TestUpgradeWithoutHijack(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Sec-WebSocket-Key", testKey)
	c, err := Upgrade(w, r, nil, nil)
	if err == nil || c != nil {
		t.Fatalf("Upgrade = %v, %v", c, err)
	}
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
}
