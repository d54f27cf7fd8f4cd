package fsmethods

import (
	"os"
	"path/filepath"
	"testing"
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
