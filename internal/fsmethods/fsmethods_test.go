package fsmethods

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appserver-go/appserver/jsonrpc"
)

const (
	invalid  = -32600
	internal = -32603
)

// Params handling shared by every method: params required, required
// fields named, relative paths refused before missing fields (as serde
// does), unknown fields ignored, wrong types refused.
func TestParams(t *testing.T) {
	dir := t.TempDir()
	c := newEnv(t, Options{}).connect(t)
	for _, m := range []string{"fs/readFile", "fs/writeFile", "fs/createDirectory", "fs/getMetadata",
		"fs/readDirectory", "fs/remove", "fs/copy", "fs/watch", "fs/unwatch"} {
		c.fails(m, "", invalid, "Invalid request: missing field `params`")
		c.fails(m, "null", invalid, "Invalid request: missing field `params`")
	}
	for _, m := range []string{"fs/readFile", "fs/createDirectory", "fs/getMetadata", "fs/readDirectory", "fs/remove"} {
		c.fails(m, `{}`, invalid, "Invalid request: missing field `path`")
		c.fails(m, `{"path":"rel"}`, invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
		c.fails(m, `{"path":""}`, invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
		c.fails(m, `{"path":"~/x"}`, invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
		c.fails(m, js(obj{"path": dir + "/a\x00b"}), invalid, "file name contained an unexpected NUL byte")
	}
	c.fails("fs/writeFile", `{}`, invalid, "Invalid request: missing field `path`")
	c.fails("fs/writeFile", js(obj{"path": dir + "/w"}), invalid, "Invalid request: missing field `dataBase64`")
	c.fails("fs/writeFile", `{"path":"rel"}`, invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
	c.fails("fs/copy", `{}`, invalid, "Invalid request: missing field `sourcePath`")
	c.fails("fs/copy", js(obj{"sourcePath": dir}), invalid, "Invalid request: missing field `destinationPath`")
	c.fails("fs/copy", js(obj{"destinationPath": dir}), invalid, "Invalid request: missing field `sourcePath`")
	c.fails("fs/copy", js(obj{"sourcePath": dir, "destinationPath": "rel"}), invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
	c.fails("fs/watch", `{}`, invalid, "Invalid request: missing field `watchId`")
	c.fails("fs/watch", `{"watchId":"w"}`, invalid, "Invalid request: missing field `path`")
	c.fails("fs/watch", `{"watchId":"w","path":"rel"}`, invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
	c.fails("fs/unwatch", `{}`, invalid, "Invalid request: missing field `watchId`")

	// Wrong types are refused (the engine words the detail).
	for _, p := range []string{`{"path":5}`, `{"path":null}`} {
		if r := c.call("fs/getMetadata", p); r.Error == nil || r.Error.Code != invalid {
			t.Errorf("fs/getMetadata %s = %v %s", p, r.Error, r.Result)
		}
	}
	if r := c.call("fs/remove", js(obj{"path": dir + "/x", "recursive": 5})); r.Error == nil || r.Error.Code != invalid {
		t.Errorf("recursive:5 = %v", r.Error)
	}
	// Unknown fields are ignored.
	c.ok("fs/writeFile", js(obj{"path": dir + "/u", "dataBase64": b64("x"), "extra": 1}))
	c.ok("fs/getMetadata", js(obj{"extra": []int{1}, "path": dir}))
}

// §3.3 fs/readFile.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/hello.txt", "hello\n")
	mkdir(t, dir+"/sub")
	symlink(t, "hello.txt", dir+"/lnk")
	symlink(t, "nowhere", dir+"/dang")
	symlink(t, "sub", dir+"/dlnk")
	if err := syscall.Mkfifo(dir+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	c := newEnv(t, Options{}).connect(t)
	jsonEq(t, c.ok("fs/readFile", js(obj{"path": dir + "/hello.txt"})), `{"dataBase64":"aGVsbG8K"}`)
	jsonEq(t, c.ok("fs/readFile", js(obj{"path": dir + "/sub/../hello.txt"})), `{"dataBase64":"aGVsbG8K"}`)
	jsonEq(t, c.ok("fs/readFile", js(obj{"path": dir + "/lnk"})), `{"dataBase64":"aGVsbG8K"}`)
	write(t, dir+"/empty", "")
	jsonEq(t, c.ok("fs/readFile", js(obj{"path": dir + "/empty"})), `{"dataBase64":""}`)

	c.fails("fs/readFile", js(obj{"path": dir}), invalid, "path `"+dir+"` is not a file")
	c.fails("fs/readFile", js(obj{"path": dir + "/sub/"}), invalid, "path `"+dir+"/sub` is not a file")
	c.fails("fs/readFile", js(obj{"path": dir + "//sub/inner/.."}), invalid, "path `"+dir+"/sub` is not a file")
	c.fails("fs/readFile", js(obj{"path": dir + "/dlnk"}), invalid, "path `"+dir+"/dlnk` is not a file")
	c.fails("fs/readFile", js(obj{"path": "/dev/null"}), invalid, "path `/dev/null` is not a file")
	// A FIFO is refused at once, not read forever.
	c.fails("fs/readFile", js(obj{"path": dir + "/fifo"}), invalid, "path `"+dir+"/fifo` is not a file")
	c.fails("fs/readFile", js(obj{"path": dir + "/nope"}), internal, "No such file or directory (os error 2)")
	c.fails("fs/readFile", js(obj{"path": dir + "/dang"}), internal, "No such file or directory (os error 2)")
	c.fails("fs/readFile", js(obj{"path": dir + "/hello.txt/x"}), internal, "Not a directory (os error 20)")

	// Files whose size is unknown to stat (/proc) are read to the end.
	r := c.ok("fs/readFile", `{"path":"/proc/self/status"}`)
	var res struct{ DataBase64 string }
	if err := json.Unmarshal(r, &res); err != nil {
		t.Fatal(err)
	}
	if data, _ := base64.StdEncoding.DecodeString(res.DataBase64); !strings.Contains(string(data), "Name:") {
		t.Errorf("/proc/self/status read as %q", data)
	}
}

// A file past MaxReadBytes is refused without reading it whole.
func TestReadFileBounded(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/big", strings.Repeat("x", 1001))
	write(t, dir+"/fits", strings.Repeat("x", 1000))
	c := newEnv(t, Options{MaxReadBytes: 1000}).connect(t)
	c.fails("fs/readFile", js(obj{"path": dir + "/big"}), invalid,
		"path `"+dir+"/big` is too large to read (1001 bytes or more; the limit is 1000 bytes)")
	c.ok("fs/readFile", js(obj{"path": dir + "/fits"}))

	// A reader that lies about its size (as /proc does) is cut at the bound.
	data, err := readAtMost(strings.NewReader(strings.Repeat("y", 5000)), 0, 1000)
	if err != errTooLarge || len(data) != 1001 {
		t.Errorf("readAtMost = %d bytes, %v; want 1001, errTooLarge", len(data), err)
	}
	data, err = readAtMost(strings.NewReader(strings.Repeat("y", 1000)), 0, 1000)
	if err != nil || len(data) != 1000 {
		t.Errorf("readAtMost at the bound = %d, %v", len(data), err)
	}
}

// §3.3 fs/writeFile, with the reference's base64 error texts.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, dir+"/sub")
	write(t, dir+"/f.txt", "hello\n")
	c := newEnv(t, Options{}).connect(t)

	c.ok("fs/writeFile", js(obj{"path": dir + "/w.txt", "dataBase64": "aGVsbG8K"}))
	if got := readString(t, dir+"/w.txt"); got != "hello\n" {
		t.Errorf("content = %q", got)
	}
	c.ok("fs/writeFile", js(obj{"path": dir + "/sub/../w.txt", "dataBase64": ""}))
	if got := readString(t, dir+"/w.txt"); got != "" {
		t.Errorf("empty write left %q", got)
	}
	// Observed on the reference, byte for byte.
	for in, detail := range map[string]string{
		"!!!":             "Invalid symbol 33, offset 0.",
		"a":               "Invalid input length: 1",
		"aaaaa":           "Invalid input length: 5",
		"ab":              "Invalid padding",
		"abc":             "Invalid padding",
		"YQ=":             "Invalid padding",
		"aGVsbG8gd29ybGQ": "Invalid padding",
		"abcd=":           "Invalid symbol 61, offset 4.",
		"aGk=x":           "Invalid symbol 61, offset 3.",
		"aG=k":            "Invalid symbol 61, offset 2.",
		"aGk==":           "Invalid symbol 61, offset 3.",
		"YQ==YQ==":        "Invalid symbol 61, offset 2.",
		"aGl=":            "Invalid last symbol 108, offset 2.",
		"YR==":            "Invalid last symbol 82, offset 1.",
		" aGk=":           "Invalid symbol 32, offset 0.",
		"aGk=\n":          "Invalid symbol 10, offset 4.",
		"a\nGk=":          "Invalid symbol 10, offset 1.",
		"aGk-":            "Invalid symbol 45, offset 3.",
		"aGk_":            "Invalid symbol 95, offset 3.",
		"€":               "Invalid symbol 226, offset 0.",
		"aaaa!":           "Invalid symbol 33, offset 4.",
		"abcd!efg":        "Invalid symbol 33, offset 4.",
		"!!!!!":           "Invalid symbol 33, offset 4.", // the crate checks a stray last byte first
	} {
		// Base64 is checked before the file system: a missing parent does
		// not change the answer.
		c.fails("fs/writeFile", js(obj{"path": dir + "/nodir/x", "dataBase64": in}), invalid,
			"fs/writeFile requires valid base64 dataBase64: "+detail)
	}
	c.fails("fs/writeFile", js(obj{"path": dir + "/nodir/w.txt", "dataBase64": "aGk="}), internal, "No such file or directory (os error 2)")
	c.fails("fs/writeFile", js(obj{"path": dir + "/f.txt/x", "dataBase64": "aGk="}), internal, "Not a directory (os error 20)")
	// A directory is not replaced by a file.
	c.fails("fs/writeFile", js(obj{"path": dir + "/sub", "dataBase64": "aGk="}), internal, "Is a directory (os error 21)")
	if fi, err := os.Stat(dir + "/sub"); err != nil || !fi.IsDir() {
		t.Errorf("sub after a refused write: %v %v", fi, err)
	}
	// A FIFO (or device) is neither renamed over nor written into.
	if err := syscall.Mkfifo(dir+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	c.fails("fs/writeFile", js(obj{"path": dir + "/fifo", "dataBase64": "aGk="}), invalid, "path `"+dir+"/fifo` is not a file")
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// Huge payloads are refused before decoding.
func TestWriteFileBounded(t *testing.T) {
	dir := t.TempDir()
	c := newEnv(t, Options{MaxWriteBytes: 3000}).connect(t)
	c.ok("fs/writeFile", js(obj{"path": dir + "/ok", "dataBase64": strings.Repeat("A", 4000)}))
	c.fails("fs/writeFile", js(obj{"path": dir + "/big", "dataBase64": strings.Repeat("A", 4004)}), invalid,
		"fs/writeFile data is too large (3003 bytes; the limit is 3000 bytes)")
	if _, err := os.Stat(dir + "/big"); !os.IsNotExist(err) {
		t.Errorf("refused write created the file: %v", err)
	}
}

// Modes: an existing file keeps its mode; a new one gets 0666 minus the
// umask, like the reference's File::create.
func TestWriteFileMode(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/secret", "old")
	if err := os.Chmod(dir+"/secret", 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, dir+"/exec", "old")
	if err := os.Chmod(dir+"/exec", 0o751); err != nil {
		t.Fatal(err)
	}
	c := newEnv(t, Options{}).connect(t)
	for _, name := range []string{"secret", "exec", "new"} {
		c.ok("fs/writeFile", js(obj{"path": dir + "/" + name, "dataBase64": b64("new")}))
	}
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	for name, want := range map[string]os.FileMode{"secret": 0o600, "exec": 0o751, "new": 0o666 &^ os.FileMode(umask)} {
		fi, err := os.Stat(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
		if got := readString(t, dir+"/"+name); got != "new" {
			t.Errorf("%s: content %q", name, got)
		}
	}
}

// Writing through a symlink replaces the target and keeps the link, as the
// reference; a dangling link creates its target.
func TestWriteFileThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/real", "old")
	symlink(t, "real", dir+"/lnk")
	symlink(t, "lnk", dir+"/lnk2") // a chain
	symlink(t, "created", dir+"/dang")
	c := newEnv(t, Options{}).connect(t)
	c.ok("fs/writeFile", js(obj{"path": dir + "/lnk2", "dataBase64": b64("new")}))
	if fi, err := os.Lstat(dir + "/lnk"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("lnk is no longer a symlink: %v %v", fi, err)
	}
	if got := readString(t, dir+"/real"); got != "new" {
		t.Errorf("target = %q", got)
	}
	c.ok("fs/writeFile", js(obj{"path": dir + "/dang", "dataBase64": b64("made")}))
	if got := readString(t, dir+"/created"); got != "made" {
		t.Errorf("dangling target = %q", got)
	}
	symlink(t, "loop2", dir+"/loop1")
	symlink(t, "loop1", dir+"/loop2")
	c.fails("fs/writeFile", js(obj{"path": dir + "/loop1", "dataBase64": b64("x")}), internal, "Too many levels of symbolic links (os error 40)")
}

// Atomicity: until the rename, readers (and a crash) see the old content
// in full, while the temporary file already holds the new content in full;
// a failure at that point leaves the old file and no temporary file.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	target := dir + "/f"
	old := strings.Repeat("o", 100000)
	write(t, target, old)
	e := newEnv(t, Options{})
	c := e.connect(t)
	newData := strings.Repeat("n", 200000)

	var sawTmp string
	e.fsm.beforeRename = func(tmp, tgt string) error {
		sawTmp = tmp
		if filepath.Dir(tmp) != dir || tgt != target {
			t.Errorf("temporary %s for %s: not in the target's directory", tmp, tgt)
		}
		if got := readString(t, target); got != old {
			t.Errorf("target changed before the rename (%d bytes)", len(got))
		}
		if got := readString(t, tmp); got != newData {
			t.Errorf("temporary file incomplete before the rename (%d bytes)", len(got))
		}
		return os.ErrDeadlineExceeded // the "crash"
	}
	r := c.call("fs/writeFile", js(obj{"path": target, "dataBase64": b64(newData)}))
	if r.Error == nil || r.Error.Code != internal {
		t.Fatalf("simulated crash: %v %s", r.Error, r.Result)
	}
	if sawTmp == "" {
		t.Fatal("hook not called")
	}
	if got := readString(t, target); got != old {
		t.Errorf("target after a failed write: %d bytes, want the old %d", len(got), len(old))
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Errorf("temporary files left after a failure: %v", left)
	}

	e.fsm.beforeRename = nil
	c.ok("fs/writeFile", js(obj{"path": target, "dataBase64": b64(newData)}))
	if got := readString(t, target); got != newData {
		t.Errorf("target after success: %d bytes", len(got))
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Errorf("temporary files left after success: %v", left)
	}
}

// Concurrent writers: the last rename wins and a reader never sees a mix
// or a partial file.
func TestWriteFileConcurrent(t *testing.T) {
	dir := t.TempDir()
	target := dir + "/f"
	const size = 64 << 10
	write(t, target, strings.Repeat("-", size))
	e := newEnv(t, Options{})
	clients := []*client{e.connect(t), e.connect(t), e.connect(t), e.connect(t)}

	stop := make(chan struct{})
	readerDone := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				readerDone <- ""
				return
			default:
			}
			b, err := os.ReadFile(target)
			if err != nil {
				readerDone <- err.Error()
				return
			}
			if len(b) != size || strings.Count(string(b), string(b[:1])) != size {
				readerDone <- "torn read: " + string(b[:1]) + "…" + string(b[len(b)-1:])
				return
			}
		}
	}()
	var pending []chanResp
	for round := 0; round < 10; round++ {
		for i, c := range clients {
			data := strings.Repeat(string(rune('a'+i)), size)
			pending = append(pending, chanResp{c, c.start("fs/writeFile", js(obj{"path": target, "dataBase64": b64(data)}))})
		}
	}
	for _, p := range pending {
		select {
		case r := <-p.ch:
			if r.Error != nil {
				t.Errorf("write: %v", r.Error)
			}
		case <-time.After(waitTimeout):
			t.Fatal("write timed out")
		}
	}
	close(stop)
	if msg := <-readerDone; msg != "" {
		t.Fatal(msg)
	}
	b := readString(t, target)
	if len(b) != size || strings.Count(b, b[:1]) != size || !strings.Contains("abcd", b[:1]) {
		t.Errorf("final content is a mix or partial (%d bytes)", len(b))
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

type chanResp struct {
	c  *client
	ch chan *jsonrpc.Response
}

// §3.3 fs/createDirectory.
func TestCreateDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/f.txt", "x")
	mkdir(t, dir+"/sub")
	symlink(t, "sub", dir+"/dlnk")
	symlink(t, "nowhere", dir+"/dang")
	c := newEnv(t, Options{}).connect(t)
	c.ok("fs/createDirectory", js(obj{"path": dir + "/x/y/z"})) // recursive by default
	c.ok("fs/createDirectory", js(obj{"path": dir + "/x/y/z"})) // existing is fine
	c.ok("fs/createDirectory", js(obj{"path": dir + "/x/y/z", "recursive": nil}))
	c.ok("fs/createDirectory", js(obj{"path": dir + "/dlnk"})) // a link to a directory is one
	c.ok("fs/createDirectory", js(obj{"path": dir + "/new", "recursive": false}))
	c.ok("fs/createDirectory", js(obj{"path": dir + "/sub/a/.."})) // cleaned: "sub", which exists
	for _, p := range []string{"/x/y/z", "/new"} {
		if !isDir(dir + p) {
			t.Errorf("%s not created", p)
		}
	}
	c.fails("fs/createDirectory", js(obj{"path": dir + "/sub", "recursive": false}), internal, "File exists (os error 17)")
	c.fails("fs/createDirectory", js(obj{"path": dir + "/p/q", "recursive": false}), internal, "No such file or directory (os error 2)")
	c.fails("fs/createDirectory", js(obj{"path": dir + "/f.txt"}), internal, "File exists (os error 17)")
	c.fails("fs/createDirectory", js(obj{"path": dir + "/f.txt", "recursive": false}), internal, "File exists (os error 17)")
	c.fails("fs/createDirectory", js(obj{"path": dir + "/f.txt/q"}), internal, "Not a directory (os error 20)")
	c.fails("fs/createDirectory", js(obj{"path": dir + "/f.txt/q", "recursive": false}), internal, "Not a directory (os error 20)")
	c.fails("fs/createDirectory", js(obj{"path": dir + "/dang"}), internal, "File exists (os error 17)")
}

// §3.3 fs/getMetadata.
func TestGetMetadata(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/f.txt", "x")
	mkdir(t, dir+"/sub")
	symlink(t, "f.txt", dir+"/lnk")
	symlink(t, "sub", dir+"/dlnk")
	symlink(t, "nowhere", dir+"/dang")
	if err := syscall.Mkfifo(dir+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.UnixMilli(1795861640331)
	if err := os.Chtimes(dir+"/f.txt", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	old := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	write(t, dir+"/old", "")
	if err := os.Chtimes(dir+"/old", old, old); err != nil {
		t.Fatal(err)
	}
	c := newEnv(t, Options{}).connect(t)
	type md struct {
		IsDirectory, IsFile, IsSymlink bool
		CreatedAtMs, ModifiedAtMs      int64
	}
	get := func(p string) md {
		t.Helper()
		r := c.ok("fs/getMetadata", js(obj{"path": p}))
		var m md
		if err := json.Unmarshal(r, &m); err != nil {
			t.Fatal(err)
		}
		var keys map[string]any
		_ = json.Unmarshal(r, &keys)
		if len(keys) != 5 {
			t.Errorf("%s: %s, want exactly the five fields", p, r)
		}
		return m
	}
	if m := get(dir + "/f.txt"); !m.IsFile || m.IsDirectory || m.IsSymlink || m.ModifiedAtMs != 1795861640331 {
		t.Errorf("file: %+v", m)
	}
	now := time.Now().UnixMilli()
	if m := get(dir + "/f.txt"); m.CreatedAtMs != 0 && (m.CreatedAtMs < now-60000 || m.CreatedAtMs > now+1000) {
		t.Errorf("createdAtMs %d is neither 0 nor the birth time (now %d)", m.CreatedAtMs, now)
	}
	if m := get(dir + "/sub"); !m.IsDirectory || m.IsFile || m.IsSymlink {
		t.Errorf("dir: %+v", m)
	}
	if m := get(dir + "/lnk"); !m.IsFile || !m.IsSymlink || m.ModifiedAtMs != 1795861640331 {
		t.Errorf("link to file: %+v", m)
	}
	if m := get(dir + "/dlnk"); !m.IsDirectory || !m.IsSymlink {
		t.Errorf("link to dir: %+v", m)
	}
	if m := get(dir + "/fifo"); m.IsDirectory || m.IsFile || m.IsSymlink {
		t.Errorf("fifo: %+v", m)
	}
	if m := get(dir + "/old"); m.ModifiedAtMs != 0 {
		t.Errorf("pre-epoch mtime: %+v, want 0 as the reference", m)
	}
	if m := get("/"); !m.IsDirectory {
		t.Errorf("/: %+v", m)
	}
	if m := get(dir + "/sub/../f.txt"); !m.IsFile {
		t.Errorf("with ..: %+v", m)
	}
	long := dir + "/" + strings.Repeat("d/", 300) + "x" // past the stack buffer
	c.fails("fs/getMetadata", js(obj{"path": long}), internal, "No such file or directory (os error 2)")
	c.fails("fs/getMetadata", js(obj{"path": dir + "/dang"}), internal, "No such file or directory (os error 2)")
	c.fails("fs/getMetadata", js(obj{"path": dir + "/nope"}), internal, "No such file or directory (os error 2)")
	c.fails("fs/getMetadata", js(obj{"path": dir + "/f.txt/x"}), internal, "Not a directory (os error 20)")
	c.fails("fs/getMetadata", js(obj{"path": dir + "/" + strings.Repeat("x", 300)}), internal, "File name too long (os error 36)")

	// The fallback without statx agrees.
	for _, p := range []string{"/f.txt", "/sub", "/lnk", "/dlnk", "/fifo", "/old"} {
		var a, b metadata
		if err := statPath(dir+p, &a); err != nil {
			t.Fatal(err)
		}
		if err := statFallback(dir+p, &b); err != nil {
			t.Fatal(err)
		}
		a.createdMs = 0
		if a != b {
			t.Errorf("%s: statx %+v, fallback %+v", p, a, b)
		}
	}
}

// The allocation-free decoding of getMetadata's params accepts only the
// plain form and agrees with the generic decoder.
func TestFastPathParam(t *testing.T) {
	for in, want := range map[string]string{
		`{"path":"/a/b"}`:            "/a/b",
		` { "path" : "/a b" } `:      "/a b",
		"{\n\"path\":\"/x\"\n}":      "/x",
		`{"path":"rel"}`:             "rel", // refused later as relative
		`{"path":"/a\"b"}`:           "",
		`{"path":"/a\\nb"}`:          "",
		`{"path":"/é"}`:              "",
		`{"path":"/a","x":1}`:        "",
		`{"x":1,"path":"/a"}`:        "",
		`{"path":5}`:                 "",
		`["/a"]`:                     "",
		`{"path":"/a"`:               "",
		`{"path":"/a", "path":"/b"}`: "",
	} {
		got, ok := fastPathParam([]byte(in))
		if ok != (want != "") || got != want {
			t.Errorf("fastPathParam(%s) = %q %v, want %q", in, got, ok, want)
		}
	}
	// Every form answers alike through the server.
	dir := t.TempDir()
	write(t, dir+"/f", "x")
	c := newEnv(t, Options{}).connect(t)
	want := c.ok("fs/getMetadata", js(obj{"path": dir + "/f"}))
	for _, p := range []string{
		` {"path" : "` + dir + `/f"} `,
		`{"path":"` + strings.ReplaceAll(dir, "/", `\/`) + `/f"}`,
		`{"path":"` + dir + `/f","extra":true}`,
	} {
		jsonEq(t, c.ok("fs/getMetadata", p), string(want))
	}
}

// §3.3 fs/readDirectory.
func TestReadDirectory(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, dir+"/a/b")
	write(t, dir+"/a/hello.txt", "hi")
	c := newEnv(t, Options{}).connect(t)
	jsonEq(t, c.ok("fs/readDirectory", js(obj{"path": dir + "/a"})),
		`{"entries":[{"fileName":"b","isDirectory":true,"isFile":false},{"fileName":"hello.txt","isDirectory":false,"isFile":true}]}`)
	jsonEq(t, c.ok("fs/readDirectory", js(obj{"path": dir + "/a/b"})), `{"entries":[]}`)

	d := dir + "/mix"
	mkdir(t, d+"/sub")
	for _, n := range []string{"Z", "_z", "a", "B"} {
		write(t, d+"/"+n, "")
	}
	symlink(t, "a", d+"/lnk")
	symlink(t, "sub", d+"/dlnk")
	symlink(t, "nowhere", d+"/dang")
	if err := syscall.Mkfifo(d+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, d+"/bad\xff\xfename", "")
	jsonEq(t, c.ok("fs/readDirectory", js(obj{"path": d})), `{"entries":[
		{"fileName":"B","isDirectory":false,"isFile":true},
		{"fileName":"Z","isDirectory":false,"isFile":true},
		{"fileName":"_z","isDirectory":false,"isFile":true},
		{"fileName":"a","isDirectory":false,"isFile":true},
		{"fileName":"bad\ufffd\ufffdname","isDirectory":false,"isFile":true},
		{"fileName":"dang","isDirectory":false,"isFile":false},
		{"fileName":"dlnk","isDirectory":true,"isFile":false},
		{"fileName":"fifo","isDirectory":false,"isFile":false},
		{"fileName":"lnk","isDirectory":false,"isFile":true},
		{"fileName":"sub","isDirectory":true,"isFile":false}]}`)
	// Through a symlinked directory.
	symlink(t, "a", dir+"/alink")
	jsonEq(t, c.ok("fs/readDirectory", js(obj{"path": dir + "/alink"})),
		`{"entries":[{"fileName":"b","isDirectory":true,"isFile":false},{"fileName":"hello.txt","isDirectory":false,"isFile":true}]}`)

	c.fails("fs/readDirectory", js(obj{"path": dir + "/a/hello.txt"}), internal, "Not a directory (os error 20)")
	c.fails("fs/readDirectory", js(obj{"path": dir + "/nope"}), internal, "No such file or directory (os error 2)")
	c.fails("fs/readDirectory", js(obj{"path": d + "/dang"}), internal, "No such file or directory (os error 2)")
}

// A large directory is listed whole (batched reads).
func TestReadDirectoryLarge(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 1100; i++ {
		write(t, filepath.Join(dir, fmt.Sprintf("f%05d", i)), "")
	}
	c := newEnv(t, Options{}).connect(t)
	var res readDirectoryResult
	if err := json.Unmarshal(c.ok("fs/readDirectory", js(obj{"path": dir})), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1100 || res.Entries[0].FileName != "f00000" || res.Entries[1099].FileName != "f01099" {
		t.Errorf("%d entries, first %v", len(res.Entries), res.Entries[:1])
	}
}

// §3.3 fs/remove.
func TestRemove(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, dir+"/sub/inner")
	write(t, dir+"/sub/inner/deep", "x")
	write(t, dir+"/f.txt", "x")
	c := newEnv(t, Options{}).connect(t)
	c.ok("fs/remove", js(obj{"path": dir + "/nope"}))
	c.fails("fs/remove", js(obj{"path": dir + "/nope", "force": false}), internal, "No such file or directory (os error 2)")
	c.fails("fs/remove", js(obj{"path": dir + "/nope/deeper", "force": false}), internal, "No such file or directory (os error 2)")
	c.fails("fs/remove", js(obj{"path": dir + "/f.txt/x"}), internal, "Not a directory (os error 20)")
	c.fails("fs/remove", js(obj{"path": dir + "/sub", "recursive": false}), internal, "Directory not empty (os error 39)")
	c.ok("fs/remove", js(obj{"path": dir + "/sub/inner/deep", "recursive": false}))
	c.ok("fs/remove", js(obj{"path": dir + "/sub/inner", "recursive": false}))
	mkdir(t, dir+"/sub/inner/more")
	c.ok("fs/remove", js(obj{"path": dir + "/sub"})) // non-empty, recursive by default
	c.ok("fs/remove", js(obj{"path": "/nonexistent/.." + dir + "/f.txt/"}))
	// The root directory itself is refused, not recursively emptied.
	c.fails("fs/remove", js(obj{"path": "/"}), invalid, "fs/remove refuses to remove the root directory /")
	c.fails("fs/remove", js(obj{"path": "/.."}), invalid, "fs/remove refuses to remove the root directory /")
	for _, p := range []string{"/sub", "/f.txt"} {
		if _, err := os.Lstat(dir + p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
}

// fs/remove never follows a symlink: not the one named, not one inside a
// tree being removed. What they point to survives.
func TestRemoveDoesNotFollowSymlinks(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	mkdir(t, outside+"/keep")
	write(t, outside+"/keep/k", "precious")
	mkdir(t, dir+"/tree/deeper")
	symlink(t, outside, dir+"/tree/out")
	symlink(t, outside+"/keep", dir+"/tree/deeper/keep")
	symlink(t, outside+"/keep/k", dir+"/tree/file")
	symlink(t, outside, dir+"/top")
	c := newEnv(t, Options{}).connect(t)
	c.ok("fs/remove", js(obj{"path": dir + "/tree"}))
	c.ok("fs/remove", js(obj{"path": dir + "/top", "recursive": false}))
	if got := readString(t, outside+"/keep/k"); got != "precious" {
		t.Fatalf("outside content = %q", got)
	}
	if _, err := os.Lstat(dir + "/tree"); !os.IsNotExist(err) {
		t.Errorf("tree still there: %v", err)
	}
	if _, err := os.Lstat(dir + "/top"); !os.IsNotExist(err) {
		t.Errorf("link still there: %v", err)
	}
	symlink(t, outside, dir+"/top2")
	c.ok("fs/remove", js(obj{"path": dir + "/top2"})) // recursive: still only the link
	if got := readString(t, outside+"/keep/k"); got != "precious" {
		t.Fatalf("outside content = %q", got)
	}
}

// §3.3 fs/copy, with the behaviours observed on the reference.
func TestCopy(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, dir+"/src/inner")
	write(t, dir+"/f.txt", "hello\n")
	if err := os.Chmod(dir+"/f.txt", 0o751); err != nil {
		t.Fatal(err)
	}
	write(t, dir+"/src/inner/deep", "x")
	if err := os.Chmod(dir+"/src/inner", 0o700); err != nil {
		t.Fatal(err)
	}
	symlink(t, "../f.txt", dir+"/src/rel")
	symlink(t, "/etc", dir+"/src/abs")
	symlink(t, "nowhere", dir+"/src/dang")
	if err := syscall.Mkfifo(dir+"/src/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "f.txt", dir+"/lnk")
	symlink(t, "src", dir+"/dlnk")
	mkdir(t, dir+"/exists")
	write(t, dir+"/exists/file", "old")
	c := newEnv(t, Options{}).connect(t)
	cp := func(src, dst string, rec any) string {
		p := obj{"sourcePath": dir + src, "destinationPath": dir + dst}
		if rec != nil {
			p["recursive"] = rec
		}
		return js(p)
	}

	c.ok("fs/copy", cp("/f.txt", "/f2.txt", nil))
	c.ok("fs/copy", cp("/f.txt", "/f2.txt", nil)) // overwrite
	if got := readString(t, dir+"/f2.txt"); got != "hello\n" {
		t.Errorf("copy = %q", got)
	}
	if fi, _ := os.Stat(dir + "/f2.txt"); fi.Mode().Perm() != 0o751 {
		t.Errorf("copied mode %v, want 0751", fi.Mode().Perm())
	}
	c.fails("fs/copy", cp("/nope", "/f3", nil), internal, "No such file or directory (os error 2)")
	c.fails("fs/copy", cp("/f.txt", "/nodir/f3", nil), internal, "No such file or directory (os error 2)")
	c.fails("fs/copy", cp("/f.txt", "/exists", nil), internal, "Is a directory (os error 21)")
	c.fails("fs/copy", cp("/f.txt", "/f.txt/x", nil), internal, "Not a directory (os error 20)")

	// Onto itself, directly or through a link: a no-op (the reference
	// truncates the file to zero bytes).
	c.ok("fs/copy", cp("/f.txt", "/f.txt", nil))
	c.ok("fs/copy", cp("/f.txt", "/lnk", nil))
	if got := readString(t, dir+"/f.txt"); got != "hello\n" {
		t.Errorf("self-copy destroyed the file: %q", got)
	}

	// A symlink source is copied as a link, never followed.
	c.ok("fs/copy", cp("/lnk", "/lnkcopy", nil))
	c.ok("fs/copy", cp("/dlnk", "/dlnkcopy", nil))
	c.ok("fs/copy", cp("/src/dang", "/dangcopy", nil))
	for name, want := range map[string]string{"/lnkcopy": "f.txt", "/dlnkcopy": "src", "/dangcopy": "nowhere"} {
		if got, err := os.Readlink(dir + name); err != nil || got != want {
			t.Errorf("%s -> %q %v, want %q", name, got, err, want)
		}
	}
	c.fails("fs/copy", cp("/lnk", "/f2.txt", nil), internal, "File exists (os error 17)")

	// Directories.
	c.fails("fs/copy", cp("/src", "/dst", nil), invalid, "fs/copy requires recursive: true when sourcePath is a directory")
	c.fails("fs/copy", cp("/src", "/dst", false), invalid, "fs/copy requires recursive: true when sourcePath is a directory")
	c.ok("fs/copy", cp("/src", "/dst", true))
	if got := readString(t, dir+"/dst/inner/deep"); got != "x" {
		t.Errorf("deep = %q", got)
	}
	for name, want := range map[string]string{"/dst/rel": "../f.txt", "/dst/abs": "/etc", "/dst/dang": "nowhere"} {
		if got, err := os.Readlink(dir + name); err != nil || got != want {
			t.Errorf("%s -> %q %v, want %q", name, got, err, want)
		}
	}
	if _, err := os.Lstat(dir + "/dst/fifo"); !os.IsNotExist(err) {
		t.Errorf("a FIFO inside the tree was copied: %v", err)
	}
	// Again: the links exist now, as on the reference.
	c.fails("fs/copy", cp("/src", "/dst", true), internal, "File exists (os error 17)")
	// Into an existing directory: merged.
	c.ok("fs/copy", cp("/src", "/exists", true))
	if readString(t, dir+"/exists/file") != "old" || readString(t, dir+"/exists/inner/deep") != "x" {
		t.Error("merge into an existing directory")
	}
	// Missing parents of the destination are created (only for trees).
	c.ok("fs/copy", cp("/src", "/np/dst", true))
	if readString(t, dir+"/np/dst/inner/deep") != "x" {
		t.Error("copy into new parents")
	}
	c.fails("fs/copy", cp("/src", "/f.txt", true), internal, "File exists (os error 17)")
	c.fails("fs/copy", cp("/src/inner", "/f.txt/x", true), internal, "Not a directory (os error 20)")
	c.fails("fs/copy", cp("/src/fifo", "/fifocopy", nil), invalid, "fs/copy only supports regular files, directories, and symlinks")

	// Into itself: refused, whether spelled directly or through a link.
	for _, dst := range []string{"/src", "/src/self", "/dlnk/self", "/src/inner/../x"} {
		c.fails("fs/copy", cp("/src", dst, true), invalid, "fs/copy cannot copy a directory to itself or one of its descendants")
	}
	c.ok("fs/copy", cp("/src", "/src/../src2", true)) // a sibling is fine
}

// Even if the destination ends up inside the source (a race the up-front
// check cannot see), the copy does not descend into its own output.
func TestCopyTreeSkipsDestination(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, dir+"/src/a")
	write(t, dir+"/src/a/f", "x")
	// Copy src into src/out directly, bypassing the method's check.
	done := make(chan error, 1)
	go func() { done <- copyTree(t.Context(), dir+"/src", dir+"/src/out", func(*os.File) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("copy into itself did not finish")
	}
	if readString(t, dir+"/src/out/a/f") != "x" {
		t.Error("content not copied")
	}
	if _, err := os.Lstat(dir + "/src/out/out"); !os.IsNotExist(err) {
		t.Errorf("the copy descended into its own destination: %v", err)
	}
}
