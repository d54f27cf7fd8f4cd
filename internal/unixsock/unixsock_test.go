package unixsock

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenCreatesPrivateSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a 0600 socket", fi.Mode())
	}
	// A live socket is not replaced.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("second Listen = %v, want already in use", err)
	}
	ln.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	// A socket file nothing listens on, as a crash leaves behind.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()
}

func TestListenRefusesNonSockets(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, []byte("keep me"), 0o600)
	target := filepath.Join(dir, "target.sock")
	link := filepath.Join(dir, "link.sock")
	os.Symlink(target, link)
	sub := filepath.Join(dir, "dir")
	os.Mkdir(sub, 0o700)
	for _, tt := range []struct{ path, want string }{
		{regular, "not a socket"},
		{link, "symlink"},
		{sub, "not a socket"},
		{"/" + strings.Repeat("x", 200), "limit is 107"},
	} {
		if _, err := Listen(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Listen(%s) = %v, want an error containing %q", tt.path, err, tt.want)
		}
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Error("the regular file was touched")
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Error("something was created through the symlink")
	}
}
