package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// testKey is the example key of RFC 6455 §4.2.2; its accept value is
// s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
const (
	testKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	testAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// received is one message the test server's reader returned.
type received struct {
	op  int
	msg []byte
}

// serverConfig configures a testServer.
type serverConfig struct {
	opts  *Options
	extra http.Header
	// handle is called for every message read; nil echoes text messages
	// with WriteMessages and ignores binary ones.
	handle func(c *Conn, op int, msg []byte)
	// http adjusts the http.Server before it starts (timeouts).
	http func(*http.Server)
}

// testServer is an httptest server whose handler runs CheckRequest,
// Upgrade and a read loop, and reports what happened on channels.
type testServer struct {
	t   testing.TB
	srv *httptest.Server
	cfg serverConfig
	wg  sync.WaitGroup

	conns   chan *Conn     // every upgraded connection
	msgs    chan received  // every message read (up to 64 KiB)
	results chan error     // the error that ended each read loop
	upErrs  chan error     // Upgrade errors
	ended   chan time.Time // when each handler returned (after Finish)
}

func newTestServer(t testing.TB, cfg serverConfig) *testServer {
	t.Helper()
	s := &testServer{
		t:       t,
		cfg:     cfg,
		conns:   make(chan *Conn, 64),
		msgs:    make(chan received, 4096),
		results: make(chan error, 64),
		upErrs:  make(chan error, 64),
		ended:   make(chan time.Time, 64),
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if cfg.http != nil {
		cfg.http(s.srv.Config)
	}
	s.srv.Start()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return s.srv.Listener.Addr().String() }

func (s *testServer) close() {
	s.srv.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.t.Errorf("websocket handlers still running 15s after the test")
	}
}

func (s *testServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	if herr := CheckRequest(r); herr != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(herr.Status)
		_, _ = io.WriteString(w, herr.Text)
		return
	}
	c, err := Upgrade(w, r, s.cfg.extra, s.cfg.opts)
	if err != nil {
		s.upErrs <- err
		return
	}
	s.conns <- c
	for {
		op, msg, err := c.ReadMessage()
		if err != nil {
			s.results <- err
			c.Finish()
			s.ended <- time.Now()
			return
		}
		// Keep small messages only: the big ones of TestDefaultLimits
		// would stay reachable from the channel.
		if len(msg) <= 64<<10 {
			select {
			case s.msgs <- received{op, msg}:
			default:
			}
		}
		if s.cfg.handle != nil {
			s.cfg.handle(c, op, msg)
		} else if op == OpText {
			// A write error is not fatal to the loop: the reader will
			// see the connection end.
			_ = c.WriteMessages([][]byte{msg})
		}
	}
}

// conn returns the next upgraded server-side connection.
func (s *testServer) conn() *Conn {
	s.t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(5 * time.Second):
		s.t.Fatalf("no connection was upgraded")
		return nil
	}
}

// result returns the error that ended the next read loop.
func (s *testServer) result(timeout time.Duration) error {
	s.t.Helper()
	select {
	case err := <-s.results:
		return err
	case <-time.After(timeout):
		s.t.Fatalf("server ReadMessage did not return within %v", timeout)
		return nil
	}
}

// wantCloseError checks that err is a *CloseError with code, sent first by
// the server (local) or by the client.
func wantCloseError(t testing.TB, err error, code int, local bool) *CloseError {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("server error = %v (%T), want *CloseError %d", err, err, code)
	}
	if ce.Code != code || ce.Local != local {
		t.Fatalf("server error = %+v, want code %d local %v", ce, code, local)
	}
	return ce
}

// upgradeRequest is a valid upgrade request; extra lines (each ending in
// \r\n) are added to the headers.
func upgradeRequest(extra string) string {
	return "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// rawClient is a hand-written WebSocket client over TCP.
type rawClient struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	resp *http.Response
	key  uint32 // the next masking key
}

// dialRaw opens a TCP connection, writes req followed by pipelined bytes,
// and reads the response head.
func dialRaw(t testing.TB, addr, req string, pipelined []byte) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	rc := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc), key: 0x37fa213d}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(append([]byte(req), pipelined...)); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	rc.resp = resp
	return rc
}

// dialWS dials s and checks the 101.
func dialWS(t testing.TB, s *testServer) *rawClient {
	t.Helper()
	rc := dialRaw(t, s.addr(), upgradeRequest(""), nil)
	if rc.resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(rc.resp.Body)
		t.Fatalf("status %d %q, want 101", rc.resp.StatusCode, body)
	}
	return rc
}

// frameSpec describes a client frame, valid or not.
type frameSpec struct {
	fin      bool
	rsv      byte // already shifted: 0x40, 0x20, 0x10
	op       byte
	unmasked bool
	payload  []byte
	// lenForm forces the length encoding: 7, 16 or 64 bits; 0 picks the
	// shortest.
	lenForm int
	// declared, if non-zero, is written as the length instead of
	// len(payload) (use with lenForm 64 for huge values).
	declared uint64
	key      [4]byte
}

func (f frameSpec) bytes() []byte {
	n := uint64(len(f.payload))
	if f.declared != 0 {
		n = f.declared
	}
	b := []byte{f.rsv | f.op}
	if f.fin {
		b[0] |= 0x80
	}
	var mask byte = 0x80
	if f.unmasked {
		mask = 0
	}
	form := f.lenForm
	if form == 0 {
		switch {
		case n <= 125:
			form = 7
		case n <= 0xFFFF:
			form = 16
		default:
			form = 64
		}
	}
	switch form {
	case 7:
		b = append(b, mask|byte(n))
	case 16:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, n)
	}
	if f.unmasked {
		return append(b, f.payload...)
	}
	b = append(b, f.key[:]...)
	start := len(b)
	b = append(b, f.payload...)
	for i := range f.payload {
		b[start+i] ^= f.key[i&3]
	}
	return b
}

// frame builds a masked frame with a fixed non-trivial key.
func frame(fin bool, op byte, payload []byte) []byte {
	return frameSpec{fin: fin, op: op, payload: payload, key: [4]byte{0x37, 0xfa, 0x21, 0x3d}}.bytes()
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

func (rc *rawClient) write(b ...[]byte) {
	rc.t.Helper()
	_ = rc.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.nc.Write(bytes.Join(b, nil)); err != nil {
		rc.t.Fatalf("client write: %v", err)
	}
}

// serverFrame is a frame read from the server.
type serverFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// readFrame reads one server frame, checking that it is unmasked and has no
// RSV bits, and that its length uses the shortest encoding.
func (rc *rawClient) readFrame(timeout time.Duration) (serverFrame, error) {
	_ = rc.nc.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return serverFrame{}, err
	}
	f := serverFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0F}
	if h[0]&0x70 != 0 {
		return f, fmt.Errorf("server frame has RSV bits: %#x", h[0])
	}
	if h[1]&0x80 != 0 {
		return f, fmt.Errorf("server frame is masked")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
		if n <= 125 {
			return f, fmt.Errorf("non-minimal 16-bit length %d", n)
		}
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
		if n <= 0xFFFF {
			return f, fmt.Errorf("non-minimal 64-bit length %d", n)
		}
	}
	if n > 256<<20 {
		return f, fmt.Errorf("server frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(rc.br, f.payload); err != nil {
		return f, err
	}
	return f, nil
}

// next reads one frame and fails the test on error.
func (rc *rawClient) next() serverFrame {
	rc.t.Helper()
	f, err := rc.readFrame(5 * time.Second)
	if err != nil {
		rc.t.Fatalf("reading a server frame: %v", err)
	}
	return f
}

// expectText reads one frame and checks it is a final text frame with want.
func (rc *rawClient) expectText(want []byte) {
	rc.t.Helper()
	f := rc.next()
	if f.op != OpText || !f.fin {
		rc.t.Fatalf("got frame op %#x fin %v %q, want a final text frame", f.op, f.fin, trunc(f.payload))
	}
	if !bytes.Equal(f.payload, want) {
		rc.t.Fatalf("text frame of %d bytes %q, want %d bytes %q", len(f.payload), trunc(f.payload), len(want), trunc(want))
	}
}

// expectFrame reads one frame and checks its opcode and payload.
func (rc *rawClient) expectFrame(op byte, payload []byte) {
	rc.t.Helper()
	f := rc.next()
	if f.op != op || !f.fin || !bytes.Equal(f.payload, payload) {
		rc.t.Fatalf("got frame op %#x fin %v %q, want op %#x %q", f.op, f.fin, trunc(f.payload), op, trunc(payload))
	}
}

// expectClose reads the next frame, which must be a close frame with code
// (code 0: an empty close frame), and returns its reason.
func (rc *rawClient) expectClose(code int) string {
	rc.t.Helper()
	f := rc.next()
	if f.op != opClose {
		rc.t.Fatalf("got frame op %#x %q, want a close frame with %d", f.op, trunc(f.payload), code)
	}
	if code == 0 {
		if len(f.payload) != 0 {
			rc.t.Fatalf("close payload %q, want empty", f.payload)
		}
		return ""
	}
	if len(f.payload) < 2 {
		rc.t.Fatalf("close payload %q, want status %d", f.payload, code)
	}
	if got := int(binary.BigEndian.Uint16(f.payload)); got != code {
		rc.t.Fatalf("close status %d (%q), want %d", got, f.payload[2:], code)
	}
	return string(f.payload[2:])
}

// expectEOF checks that the server closes the connection (or at least its
// sending side) within timeout without sending anything more.
func (rc *rawClient) expectEOF(timeout time.Duration) {
	rc.t.Helper()
	_ = rc.nc.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	n, err := rc.br.Read(b[:])
	if n > 0 {
		rc.t.Fatalf("server sent %#x after its close frame", b[0])
	}
	if err != io.EOF {
		rc.t.Fatalf("read after close = %v, want io.EOF", err)
	}
}

func trunc(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%q…(%d bytes)", b[:64], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// fakeConn is a net.Conn reading from r and writing to w (discarding if w
// is nil); deadlines are no-ops.
type fakeConn struct {
	r      io.Reader
	w      io.Writer
	writes int
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, io.EOF
	}
	return f.r.Read(p)
}

func (f *fakeConn) Write(p []byte) (int, error) {
	f.writes++
	if f.w != nil {
		return f.w.Write(p)
	}
	return len(p), nil
}

func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }

// parseServerFrames parses unmasked server frames from b.
func parseServerFrames(t testing.TB, b []byte) []serverFrame {
	t.Helper()
	rc := &rawClient{t: t, nc: nopDeadlineConn{}, br: bufio.NewReader(bytes.NewReader(b))}
	var out []serverFrame
	for {
		f, err := rc.readFrame(time.Second)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("parsing server frames: %v", err)
		}
		out = append(out, f)
	}
}

type nopDeadlineConn struct{ net.Conn }

func (nopDeadlineConn) SetReadDeadline(time.Time) error { return nil }

// pattern returns n bytes of printable ASCII, varying with seed.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i*7+seed*13+i/251)%26)
	}
	return b
}
