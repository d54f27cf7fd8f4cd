// Package connlimit caps a listener's connections before any request is
// read: all open connections, and those that have not yet finished their
// WebSocket upgrade. Anyone who can reach the port can open sockets; without
// a cap they can hold file descriptors and memory for free.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Listener wraps a net.Listener. Connections beyond MaxConns open, or beyond
// MaxPending not yet upgraded, are answered "503 Service Unavailable" and
// closed as soon as they are accepted.
type Listener struct {
	net.Listener
	// MaxConns bounds open connections, upgraded or not; zero means no bound.
	MaxConns int64
	// MaxPending bounds connections that have not been upgraded (still
	// sending headers, or idle HTTP keep-alive); zero means no bound.
	MaxPending int64
	// MaxPendingPerAddr bounds the pending connections of one client
	// address (an IPv4 address or an IPv6 /64), so that one client cannot
	// take every pending slot from the others; zero means no bound.
	MaxPendingPerAddr int64
	// OnReject, if set, is called for each refused connection.
	OnReject func(reason string)

	open    atomic.Int64
	pending atomic.Int64

	mu     sync.Mutex
	byAddr map[netip.Prefix]int64 // pending connections per address
	// lingering bounds the goroutines that drain refused connections.
	lingering atomic.Int64
}

// Conn is a connection accepted by a Listener.
type Conn struct {
	net.Conn
	l     *Listener
	key   netip.Prefix // the client address, when counted per address
	state atomic.Int32 // statePending, stateUpgraded or stateClosed
}

const (
	statePending int32 = iota
	stateUpgraded
	stateClosed
)

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		switch {
		case l.MaxConns > 0 && l.open.Load() >= l.MaxConns:
			l.refuse(c, "too many connections")
			continue
		case l.MaxPending > 0 && l.pending.Load() >= l.MaxPending:
			l.refuse(c, "too many pending connections")
			continue
		}
		lc := &Conn{Conn: c, l: l}
		if l.MaxPendingPerAddr > 0 {
			if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
				lc.key = AddrKey(ap.Addr())
				l.mu.Lock()
				if l.byAddr == nil {
					l.byAddr = make(map[netip.Prefix]int64)
				}
				n := l.byAddr[lc.key]
				if n >= l.MaxPendingPerAddr {
					l.mu.Unlock()
					l.refuse(c, "too many pending connections from this address")
					continue
				}
				l.byAddr[lc.key] = n + 1
				l.mu.Unlock()
			}
		}
		l.open.Add(1)
		l.pending.Add(1)
		return lc, nil
	}
}

// AddrKey is how client addresses are counted: an IPv4 address, or the /64
// an IPv6 address belongs to (one site's network, so that rotating through
// its addresses does not reset the count).
func AddrKey(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, _ := addr.Prefix(64)
	return p
}

// notPending drops c from the pending counts.
func (l *Listener) notPending(c *Conn) {
	l.pending.Add(-1)
	if c.key.IsValid() {
		l.mu.Lock()
		if n := l.byAddr[c.key] - 1; n > 0 {
			l.byAddr[c.key] = n
		} else {
			delete(l.byAddr, c.key)
		}
		l.mu.Unlock()
	}
}

// Open and Pending return the current counts.
func (l *Listener) Open() int64    { return l.open.Load() }
func (l *Listener) Pending() int64 { return l.pending.Load() }

const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: "

// refuse answers 503 and closes c. It half-closes and drains briefly first,
// so that a request the client already sent does not turn the close into a
// reset that discards the answer; at most 64 such drains run at once, past
// which c is simply closed.
func (l *Listener) refuse(c net.Conn, reason string) {
	if l.OnReject != nil {
		l.OnReject(reason)
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	body := reason
	_, _ = c.Write([]byte(refusal + itoa(len(body)) + "\r\n\r\n" + body))
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || l.lingering.Add(1) > 64 {
		if ok {
			l.lingering.Add(-1)
		}
		_ = c.Close()
		return
	}
	_ = cw.CloseWrite()
	go func() {
		defer l.lingering.Add(-1)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		var buf [1024]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				break
			}
		}
		_ = c.Close()
	}()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Upgraded marks c as upgraded: it no longer counts as pending. It is
// meant for http.Server.ConnState on StateHijacked.
func Upgraded(c net.Conn) {
	if lc, ok := c.(*Conn); ok && lc.state.CompareAndSwap(statePending, stateUpgraded) {
		lc.l.notPending(lc)
	}
}

// Close closes the connection and releases its place.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	switch c.state.Swap(stateClosed) {
	case statePending:
		c.l.notPending(c)
		c.l.open.Add(-1)
	case stateUpgraded:
		c.l.open.Add(-1)
	}
	return err
}

// CloseWrite half-closes a TCP or unix connection, as the WebSocket close
// handshake needs.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
