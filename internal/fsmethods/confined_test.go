package fsmethods

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// With workspace roots, every method refuses every path that resolves
// outside them: plainly, through "..", through a symlink (to a file, to a
// directory, dangling) and through a symlinked parent directory. Nothing
// outside is read, created, changed or removed.
func TestConfinedRefusesEscapes(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, outside+"/secret", "secret")
	mkdir(t, outside+"/dir")
	write(t, root+"/in.txt", "in")
	mkdir(t, root+"/sub")
	symlink(t, outside+"/secret", root+"/lnkfile")
	symlink(t, outside+"/dir", root+"/lnkdir")
	symlink(t, outside+"/new", root+"/dang")
	symlink(t, outside, root+"/pdir")
	symlink(t, "../"+filepath.Base(outside), root+"/rel")
	c := confined(t, root, Options{}).connect(t)

	escapes := []string{
		outside + "/secret",
		outside,
		root + "/../" + filepath.Base(outside) + "/secret",
		root + "/sub/../../" + filepath.Base(outside),
		root + "/lnkfile",
		root + "/lnkdir",
		root + "/lnkdir/x",
		root + "/dang",
		root + "/dang/deeper",
		root + "/pdir/secret",
		root + "/pdir/dir/new",
		root + "/rel/secret",
		"/",
	}
	for _, p := range escapes {
		want := "path `" + filepath.Clean(p) + "` is outside the workspace roots"
		P := js(obj{"path": p})
		c.fails("fs/readFile", P, invalid, want)
		c.fails("fs/writeFile", js(obj{"path": p, "dataBase64": b64("pwned")}), invalid, want)
		c.fails("fs/createDirectory", P, invalid, want)
		c.fails("fs/getMetadata", P, invalid, want)
		c.fails("fs/readDirectory", P, invalid, want)
		c.fails("fs/remove", P, invalid, want)
		c.fails("fs/copy", js(obj{"sourcePath": p, "destinationPath": root + "/copy", "recursive": true}), invalid, want)
		c.fails("fs/copy", js(obj{"sourcePath": root + "/in.txt", "destinationPath": p}), invalid, want)
		c.fails("fs/watch", js(obj{"watchId": "w", "path": p}), invalid, want)
	}
	// Nothing outside changed.
	if got := readString(t, outside+"/secret"); got != "secret" {
		t.Errorf("secret = %q", got)
	}
	for _, p := range []string{outside + "/new", outside + "/dir/new", root + "/copy"} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s was created: %v", p, err)
		}
	}
	if !isDir(outside + "/dir") {
		t.Error("outside/dir removed")
	}

	// Inside, everything works, ".." included.
	c.ok("fs/readFile", js(obj{"path": root + "/sub/../in.txt"}))
	c.ok("fs/writeFile", js(obj{"path": root + "/sub/w", "dataBase64": b64("x")}))
	c.ok("fs/createDirectory", js(obj{"path": root + "/a/b"}))
	c.ok("fs/getMetadata", js(obj{"path": root}))
	c.ok("fs/readDirectory", js(obj{"path": root}))
	c.ok("fs/copy", js(obj{"sourcePath": root + "/sub", "destinationPath": root + "/sub2", "recursive": true}))
	c.ok("fs/remove", js(obj{"path": root + "/sub2"}))
	c.ok("fs/watch", js(obj{"watchId": "w", "path": root + "/not/yet"}))
	c.ok("fs/unwatch", js(obj{"watchId": "w"}))
}

// TestConfinedRaceSwap: a command running beside the server swaps a
// directory inside the roots with a symlink to one outside, as fast as it
// can, while a client reads, lists, writes and removes through it.
// Whatever the timing, nothing outside is read, listed, written or
// removed: each open is checked where it landed, and a write or removal
// goes through one checked descriptor of the parent directory.
func TestConfinedRaceSwap(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mkdir(t, root+"/d")
	write(t, root+"/d/secret", "inside")
	write(t, outside+"/secret", "OUTSIDE")
	write(t, outside+"/victim", "keep me")
	write(t, outside+"/only-outside", "x")
	write(t, root+"/plain", "plain")
	symlink(t, outside, root+"/link")
	c := confined(t, root, Options{}).connect(t)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = unix.Renameat2(unix.AT_FDCWD, root+"/d", unix.AT_FDCWD, root+"/link", unix.RENAME_EXCHANGE)
		}
	}()
	leaks := 0
	for range 1500 {
		r := c.call("fs/readFile", js(obj{"path": root + "/d/secret"}))
		if r.Error == nil && strings.Contains(string(r.Result), b64("OUTSIDE")) {
			leaks++
		}
		c.call("fs/writeFile", js(obj{"path": root + "/d/written", "dataBase64": b64("pwned")}))
		c.call("fs/remove", js(obj{"path": root + "/d/victim"}))
		c.call("fs/copy", js(obj{"sourcePath": root + "/d/secret", "destinationPath": root + "/copied"}))
		if b, err := os.ReadFile(root + "/copied"); err == nil && strings.Contains(string(b), "OUTSIDE") {
			leaks++
		}
		c.call("fs/copy", js(obj{"sourcePath": root + "/plain", "destinationPath": root + "/d/victim"}))
		if r := c.call("fs/readDirectory", js(obj{"path": root + "/d"})); r.Error == nil && strings.Contains(string(r.Result), "only-outside") {
			leaks++
		}
	}
	close(stop)
	<-done
	if leaks > 0 {
		t.Errorf("fs/readFile, fs/readDirectory or fs/copy showed what is outside the roots %d times", leaks)
	}
	if b, err := os.ReadFile(outside + "/victim"); err != nil || string(b) != "keep me" {
		t.Errorf("fs/remove or fs/copy changed a file outside the roots: %q %v", b, err)
	}
	entries, _ := os.ReadDir(outside)
	for _, e := range entries {
		if e.Name() != "secret" && e.Name() != "victim" && e.Name() != "only-outside" {
			t.Errorf("fs/writeFile left %s outside the roots", e.Name())
		}
	}
}
