package fsmethods

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

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
		c.call("fs/createDirectory", js(obj{"path": root + "/d/made/deeper"}))
		if r := c.call("fs/getMetadata", js(obj{"path": root + "/d/only-outside"})); r.Error == nil {
			leaks++ // it exists only outside
		}
		if r := c.call("fs/readDirectory", js(obj{"path": root + "/d"})); r.Error == nil && strings.Contains(string(r.Result), "only-outside") {
			leaks++
		}
	}
	close(stop)
	<-done
	if leaks > 0 {
		t.Errorf("fs/readFile, fs/readDirectory, fs/copy or fs/getMetadata showed what is outside the roots %d times", leaks)
	}
	if b, err := os.ReadFile(outside + "/victim"); err != nil || string(b) != "keep me" {
		t.Errorf("fs/remove or fs/copy changed a file outside the roots: %q %v", b, err)
	}
	entries, _ := os.ReadDir(outside)
	for _, e := range entries {
		if e.Name() != "secret" && e.Name() != "victim" && e.Name() != "only-outside" {
			t.Errorf("fs/writeFile, fs/copy or fs/createDirectory left %s outside the roots", e.Name())
		}
	}
}
