package listen

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in       string
		kind     Kind
		addr     string
		path     string
		loopback bool
		bad      bool
	}{
		{in: "stdio://", kind: Stdio},
		{in: "off", kind: Off},
		{in: "ws://127.0.0.1:4500", kind: WebSocket, addr: "127.0.0.1:4500", loopback: true},
		{in: "ws://127.0.0.1:4500/", kind: WebSocket, addr: "127.0.0.1:4500", loopback: true},
		{in: "ws://127.0.0.2:0", kind: WebSocket, addr: "127.0.0.2:0", loopback: true},
		{in: "ws://[::1]:4500", kind: WebSocket, addr: "[::1]:4500", loopback: true},
		{in: "ws://[::ffff:127.0.0.1]:1", kind: WebSocket, addr: "[::ffff:127.0.0.1]:1", loopback: true},
		{in: "ws://0.0.0.0:4500", kind: WebSocket, addr: "0.0.0.0:4500"},
		{in: "ws://[::]:4500", kind: WebSocket, addr: "[::]:4500"},
		{in: "ws://192.168.1.10:4500", kind: WebSocket, addr: "192.168.1.10:4500"},
		{in: "unix://", kind: Unix, path: ""},
		{in: "unix:///tmp/a.sock", kind: Unix, path: "/tmp/a.sock"},
		{in: "unix://rel.sock", kind: Unix, path: "rel.sock"},
		{in: "ws://localhost:4500", bad: true},
		{in: "ws://127.0.0.1", bad: true},
		{in: "ws://127.0.0.1:99999", bad: true},
		{in: "ws://127.0.0.1:4500/path", bad: true},
		{in: "ws://127.0.0.1:4500?x=1", bad: true},
		{in: "ws://u@127.0.0.1:4500", bad: true},
		{in: "ws://::1:4500", bad: true},
		{in: "wss://127.0.0.1:4500", kind: WebSocket, addr: "127.0.0.1:4500", loopback: true},
		{in: "wss://127.0.0.1:4500/x", bad: true},
		{in: "http://127.0.0.1:4500", bad: true},
		{in: "stdio", bad: true},
		{in: "", bad: true},
		{in: "/tmp/sock", bad: true},
		{in: "unix://a\x00b", bad: true},
	} {
		u, err := Parse(tt.in)
		if tt.bad {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), Forms) {
				t.Errorf("Parse(%q) = %+v, %v; want an error naming the accepted forms", tt.in, u, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if u.Kind != tt.kind || u.Path != tt.path || u.IsLoopback() != tt.loopback {
			t.Errorf("Parse(%q) = %+v (loopback %v)", tt.in, u, u.IsLoopback())
		}
		if tt.addr != "" && u.Addr.String() != tt.addr {
			t.Errorf("Parse(%q).Addr = %s, want %s", tt.in, u.Addr, tt.addr)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"stdio://", "off", "ws://127.0.0.1:4500", "wss://[::1]:1", "ws://[::1]:0", "unix://", "unix:///x", "ws://[fe80::1%eth0]:1", "ws://1.2.3.4:5/?#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			return
		}
		// Whatever parses formats back to something that parses the same.
		u2, err := Parse(u.String())
		if err != nil || u2 != u {
			t.Fatalf("Parse(%q) = %+v, but its String %q parses to %+v, %v", s, u, u.String(), u2, err)
		}
		if u.Kind == WebSocket && !u.Addr.IsValid() {
			t.Fatalf("Parse(%q) gave an invalid address", s)
		}
	})
}
