// Package listen parses the --listen URL: which transport to serve and
// where.
package listen

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Kind is a transport.
type Kind int

// The transports.
const (
	Stdio Kind = iota
	WebSocket
	Unix
	Off
)

// URL is a parsed --listen value.
type URL struct {
	Kind Kind
	// Addr is the TCP address of a WebSocket listener.
	Addr netip.AddrPort
	// TLS is set for wss:// listeners.
	TLS bool
	// Path is the socket path of a unix listener; empty means the default
	// path in the state directory.
	Path string
}

// Forms lists the accepted forms, for error messages and --help.
const Forms = "stdio://, ws://IP:PORT, wss://IP:PORT, unix://, unix://PATH or off"

// ErrInvalid is wrapped by every Parse error.
var ErrInvalid = errors.New("invalid --listen value")

// Parse parses s. WebSocket listeners take an IP literal (IPv4, or IPv6 in
// brackets) and a port, 0 meaning any free port; host names are refused so
// that what is bound is exactly what was written.
func Parse(s string) (URL, error) {
	bad := func(why string) (URL, error) {
		return URL{}, fmt.Errorf("%w %q: %s; expected %s", ErrInvalid, s, why, Forms)
	}
	switch {
	case s == "stdio://":
		return URL{Kind: Stdio}, nil
	case s == "off":
		return URL{Kind: Off}, nil
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if strings.ContainsRune(p, 0) {
			return bad("the path contains a NUL byte")
		}
		return URL{Kind: Unix, Path: p}, nil
	case strings.HasPrefix(s, "ws://"), strings.HasPrefix(s, "wss://"):
		u, err := url.Parse(s)
		if err != nil {
			return bad("not a URL")
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/") {
			return bad("only ws://IP:PORT or wss://IP:PORT is accepted, without user, path or query")
		}
		ap, err := netip.ParseAddrPort(u.Host)
		if err != nil {
			return bad("the host must be an IP address and a port, such as 127.0.0.1:4500 or [::1]:4500")
		}
		return URL{Kind: WebSocket, Addr: ap, TLS: u.Scheme == "wss"}, nil
	}
	return bad("unknown scheme")
}

// IsLoopback reports whether a WebSocket listener binds only loopback
// addresses (127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104). Wildcards and LAN
// addresses are not loopback. The policy is decided by the bound address,
// never by where a request comes from.
func (u URL) IsLoopback() bool {
	return u.Kind == WebSocket && u.Addr.Addr().Unmap().IsLoopback()
}

// String formats u as a --listen value.
func (u URL) String() string {
	switch u.Kind {
	case Stdio:
		return "stdio://"
	case WebSocket:
		if u.TLS {
			return "wss://" + u.Addr.String()
		}
		return "ws://" + u.Addr.String()
	case Unix:
		return "unix://" + u.Path
	}
	return "off"
}
