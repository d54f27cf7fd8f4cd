package connlimit

// Tests of the connection caps with real loopback sockets (SECURITY.md
// §1.5 case 41: pre-auth floods; "max concurrent connections"). Run them
// with -race: the counting is lock-free and Close and Upgraded race in
// real servers (the HTTP server's ConnState hook against the WebSocket
// reader's close).

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ccServe wraps a loopback listener and accepts on a goroutine; accepted
// connections arrive on the returned channel. Everything is closed when the
// test ends.
func ccServe(t *testing.T, l *Listener) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Listener = raw
	ch := make(chan net.Conn, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		raw.Close()
		<-done
		for {
			select {
			case c := <-ch:
				c.Close()
			default:
				return
			}
		}
	})
	return raw.Addr().String(), ch
}

func ccDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ccDialFrom dials addr from the loopback source address src.
func ccDialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ccByAddr returns the pending count of one address and the number of
// addresses in the table.
func ccByAddr(l *Listener, ip string) (int64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byAddr[AddrKey(netip.MustParseAddr(ip))], len(l.byAddr)
}

func ccAccepted(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("nothing accepted")
		return nil
	}
}

// ccRefusal reads the 503 a refused connection gets and checks its form:
// status, reason as the body, Retry-After, Connection: close, and that the
// server then closes.
func ccRefusal(t *testing.T, c net.Conn, reason string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the refusal's body: %v", err)
	}
	if resp.StatusCode != 503 || resp.Status != "503 Service Unavailable" || string(body) != reason {
		t.Errorf("refusal %q %q, want 503 Service Unavailable %q", resp.Status, body, reason)
	}
	if resp.Header.Get("Retry-After") != "1" || !resp.Close || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("refusal headers %v", resp.Header)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the refusal: read %d, %v; want EOF", n, err)
	}
	// End the listener's drain of this connection at once.
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// ccWaitCounts waits until the listener's counts are open and pending.
func ccWaitCounts(t *testing.T, l *Listener, open, pending int64) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if l.Open() == open && l.Pending() == pending {
			return
		}
	}
	t.Fatalf("open %d pending %d, want %d %d", l.Open(), l.Pending(), open, pending)
}

// TestMaxConns: beyond MaxConns open connections (upgraded or not) a new
// one gets 503 "too many connections" and is closed; OnReject hears the
// reason; closing one frees its place.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reasons []string
	l := &Listener{MaxConns: 3, OnReject: func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() }}
	addr, acc := ccServe(t, l)
	var held []net.Conn
	for range 3 {
		ccDial(t, addr)
		held = append(held, ccAccepted(t, acc))
	}
	Upgraded(held[0]) // upgraded connections still count as open
	ccWaitCounts(t, l, 3, 2)

	ccRefusal(t, ccDial(t, addr), "too many connections")
	ccRefusal(t, ccDial(t, addr), "too many connections")
	mu.Lock()
	if len(reasons) != 2 || reasons[0] != "too many connections" {
		t.Errorf("OnReject heard %q", reasons)
	}
	mu.Unlock()
	ccWaitCounts(t, l, 3, 2) // refusals never count

	held[0].Close()
	ccWaitCounts(t, l, 2, 2)
	ccDial(t, addr)
	if c := ccAccepted(t, acc); c == nil {
		t.Fatal("no place after a close")
	}
	ccWaitCounts(t, l, 3, 3)
}

// TestMaxPending: beyond MaxPending connections that have not been
// upgraded a new one gets 503 "too many pending connections"; upgrading or
// closing one frees a place, and upgraded connections do not count.
func TestMaxPending(t *testing.T) {
	t.Parallel()
	l := &Listener{MaxPending: 2}
	addr, acc := ccServe(t, l)
	ccDial(t, addr)
	a := ccAccepted(t, acc)
	ccDial(t, addr)
	b := ccAccepted(t, acc)
	ccWaitCounts(t, l, 2, 2)
	ccRefusal(t, ccDial(t, addr), "too many pending connections")

	Upgraded(a)
	ccWaitCounts(t, l, 2, 1)
	ccDial(t, addr)
	c := ccAccepted(t, acc)
	ccWaitCounts(t, l, 3, 2)
	ccRefusal(t, ccDial(t, addr), "too many pending connections")

	b.Close()
	ccWaitCounts(t, l, 2, 1)
	ccDial(t, addr)
	ccAccepted(t, acc)
	ccWaitCounts(t, l, 3, 2)
	_ = c
}

// TestMaxPendingPerAddr: one client address (here 127.0.0.1) may hold at
// most MaxPendingPerAddr pending connections; past that it gets 503 "too
// many pending connections from this address" while other addresses are
// still served; upgrading or closing frees the address's place, exactly
// once, and the table forgets an address with nothing pending.
func TestMaxPendingPerAddr(t *testing.T) {
	t.Parallel()
	l := &Listener{MaxPendingPerAddr: 2}
	addr, acc := ccServe(t, l)
	ccDialFrom(t, "127.0.0.1", addr)
	a := ccAccepted(t, acc)
	ccDialFrom(t, "127.0.0.1", addr)
	b := ccAccepted(t, acc)
	ccRefusal(t, ccDialFrom(t, "127.0.0.1", addr), "too many pending connections from this address")
	ccDialFrom(t, "127.0.0.2", addr)
	other := ccAccepted(t, acc)
	if n, size := ccByAddr(l, "127.0.0.1"); n != 2 || size != 2 {
		t.Fatalf("127.0.0.1 pending %d, table %d; want 2, 2", n, size)
	}

	Upgraded(a)
	if n, _ := ccByAddr(l, "127.0.0.1"); n != 1 {
		t.Fatalf("after an upgrade: 127.0.0.1 pending %d, want 1", n)
	}
	ccDialFrom(t, "127.0.0.1", addr)
	c := ccAccepted(t, acc)
	ccRefusal(t, ccDialFrom(t, "127.0.0.1", addr), "too many pending connections from this address")
	a.Close() // upgraded: its pending place was already given back
	Upgraded(a)
	if n, _ := ccByAddr(l, "127.0.0.1"); n != 2 {
		t.Fatalf("closing an upgraded connection changed 127.0.0.1's pending count to %d, want 2", n)
	}
	b.Close()
	b.Close()
	c.Close()
	other.Close()
	if n, size := ccByAddr(l, "127.0.0.1"); n != 0 || size != 0 {
		t.Errorf("after closing everything: 127.0.0.1 pending %d, table %d", n, size)
	}
	ccWaitCounts(t, l, 0, 0)
}

// TestMaxConnsCheckedBeforeMaxPending: when both caps are full, the
// reason is "too many connections".
func TestMaxConnsCheckedBeforeMaxPending(t *testing.T) {
	t.Parallel()
	l := &Listener{MaxConns: 1, MaxPending: 1}
	addr, acc := ccServe(t, l)
	ccDial(t, addr)
	ccAccepted(t, acc)
	ccRefusal(t, ccDial(t, addr), "too many connections")
}

// TestRefusalSurvivesASentRequest: a refused client that already sent a
// request (and more) still reads the whole 503 instead of a reset, since
// the listener half-closes and drains before closing.
func TestRefusalSurvivesASentRequest(t *testing.T) {
	t.Parallel()
	l := &Listener{MaxConns: 1}
	addr, acc := ccServe(t, l)
	ccDial(t, addr)
	ccAccepted(t, acc)
	for i := range 5 {
		c := ccDial(t, addr)
		req := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("x", 200000)
		go func() {
			_, _ = io.WriteString(c, req)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		time.Sleep(time.Duration(i) * 5 * time.Millisecond) // let some of it arrive first
		ccRefusal(t, c, "too many connections")
	}
}

// TestZeroMeansNoBound: with both caps zero every connection is accepted.
func TestZeroMeansNoBound(t *testing.T) {
	t.Parallel()
	l := &Listener{}
	addr, acc := ccServe(t, l)
	for range 20 {
		ccDial(t, addr)
		ccAccepted(t, acc)
	}
	ccWaitCounts(t, l, 20, 20)
}

// TestCloseAndUpgradedAreIdempotent: closing twice, upgrading twice, and
// upgrading after close each count once; Upgraded on a connection that is
// not ours is a no-op.
func TestCloseAndUpgradedAreIdempotent(t *testing.T) {
	t.Parallel()
	l := &Listener{MaxConns: 10, MaxPending: 10}
	addr, acc := ccServe(t, l)
	var cs []net.Conn
	for range 3 {
		ccDial(t, addr)
		cs = append(cs, ccAccepted(t, acc))
	}
	ccWaitCounts(t, l, 3, 3)
	Upgraded(cs[0])
	Upgraded(cs[0])
	ccWaitCounts(t, l, 3, 2)
	cs[0].Close()
	cs[0].Close()
	ccWaitCounts(t, l, 2, 2)
	cs[1].Close()
	Upgraded(cs[1])
	cs[1].Close()
	ccWaitCounts(t, l, 1, 1)
	if err := cs[2].(*Conn).CloseWrite(); err != nil {
		t.Errorf("CloseWrite: %v", err)
	}
	ccWaitCounts(t, l, 1, 1) // a half-close is not a close
	cs[2].Close()
	ccWaitCounts(t, l, 0, 0)

	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	Upgraded(p1) // not a *Conn: nothing happens
	ccWaitCounts(t, l, 0, 0)
}

// TestCloseUpgradedRace: many connections (counted per address too), each
// closed twice and upgraded twice from four goroutines at once, as the HTTP server's ConnState hook
// and the WebSocket reader do. The counts must end at zero and never go
// negative. Run with -race.
func TestCloseUpgradedRace(t *testing.T) {
	t.Parallel()
	const n = 100
	l := &Listener{MaxConns: n, MaxPending: n, MaxPendingPerAddr: n}
	addr, acc := ccServe(t, l)
	var cs []net.Conn
	for range n {
		ccDial(t, addr)
		cs = append(cs, ccAccepted(t, acc))
	}
	ccWaitCounts(t, l, n, n)
	var negative atomic.Bool
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			// Open first: both only fall here, so a pending count read
			// after it can never exceed it unless the accounting is wrong.
			o := l.Open()
			p := l.Pending()
			if o < 0 || p < 0 || p > o {
				negative.Store(true)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for _, c := range cs {
		for _, f := range []func(){func() { c.Close() }, func() { c.Close() }, func() { Upgraded(c) }, func() { Upgraded(c) }} {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		}
	}
	wg.Wait()
	close(stop)
	<-watched
	if l.Open() != 0 || l.Pending() != 0 {
		t.Errorf("after closing everything: open %d, pending %d", l.Open(), l.Pending())
	}
	if pend, size := ccByAddr(l, "127.0.0.1"); pend != 0 || size != 0 {
		t.Errorf("after closing everything: 127.0.0.1 pending %d, table %d", pend, size)
	}
	if negative.Load() {
		t.Error("a count went negative, or pending exceeded open, during the race")
	}
}

func TestItoa(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 7: "7", 10: "10", 28: "28", 1234567: "1234567"} {
		if got := itoa(n); got != want {
			t.Errorf("itoa(%d) = %q", n, got)
		}
	}
}
