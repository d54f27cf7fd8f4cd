package fsmethods

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/goleak"
)

// testDebounce keeps the watch tests quick; TestWatchCoalescing uses the
// default window.
const testDebounce = 50 * time.Millisecond

// settle gathers notifications until none has come for quiet, and returns
// the paths reported per watch id (one action can straddle two windows).
// The first one is awaited for up to first.
func (c *client) settle(first, quiet time.Duration) map[string][]string {
	c.t.Helper()
	out := map[string][]string{}
	for wait := first; ; wait = quiet {
		p, ok := c.changed(wait)
		if !ok {
			return out
		}
		for _, path := range p.ChangedPaths {
			if !slices.Contains(out[p.WatchID], path) {
				out[p.WatchID] = append(out[p.WatchID], path)
			}
		}
	}
}

// expect performs act and checks the union of what each watch reported.
func (c *client) expect(act func(), want map[string][]string) {
	c.t.Helper()
	act()
	first := 4 * testDebounce
	if len(want) > 0 {
		first = waitTimeout // something is due: a loaded machine may be slow
	}
	got := c.settle(first, 4*testDebounce)
	for id := range got {
		slices.Sort(got[id])
	}
	for id := range want {
		slices.Sort(want[id])
	}
	if len(got) != len(want) {
		c.t.Fatalf("notifications %q, want %q", got, want)
	}
	for id, paths := range want {
		if !slices.Equal(got[id], paths) {
			c.t.Fatalf("notifications %q, want %q", got, want)
		}
	}
}

func watchIt(t *testing.T, c *client, id, path string) {
	t.Helper()
	jsonEq(t, c.ok("fs/watch", js(obj{"watchId": id, "path": path})), js(obj{"path": filepath.Clean(path)}))
}

// §3.3: changes in a watched directory (creations, writes, renames,
// removals, copies into it) are reported with absolute paths, sorted, each
// once; changes deeper down are not (watches are not recursive, as the
// reference).
func TestWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	a := dir + "/a"
	mkdir(t, a+"/sub")
	write(t, a+"/hello.txt", "hi")
	c := newEnv(t, Options{WatchDebounce: testDebounce}).connect(t)
	watchIt(t, c, "w1", dir+"/x/../a/")
	c.quiet(2 * testDebounce)

	c.expect(func() { write(t, a+"/new.txt", "x") }, map[string][]string{"w1": {a + "/new.txt"}})
	c.expect(func() { write(t, a+"/hello.txt", "again") }, map[string][]string{"w1": {a + "/hello.txt"}})
	c.expect(func() {
		if err := os.Rename(a+"/new.txt", a+"/renamed.txt"); err != nil {
			t.Fatal(err)
		}
	}, map[string][]string{"w1": {a + "/new.txt", a + "/renamed.txt"}})
	c.expect(func() { _ = os.Remove(a + "/renamed.txt") }, map[string][]string{"w1": {a + "/renamed.txt"}})
	c.expect(func() { mkdir(t, a+"/d") }, map[string][]string{"w1": {a + "/d"}})
	c.expect(func() { symlink(t, "hello.txt", a+"/ln") }, map[string][]string{"w1": {a + "/ln"}})
	c.expect(func() { _ = os.Chmod(a+"/hello.txt", 0o600) }, map[string][]string{"w1": {a + "/hello.txt"}})
	// Through the methods themselves.
	c.expect(func() {
		c.ok("fs/copy", js(obj{"sourcePath": a + "/hello.txt", "destinationPath": a + "/copy.txt"}))
	}, map[string][]string{"w1": {a + "/copy.txt"}})
	// Not recursive.
	c.expect(func() { write(t, a+"/sub/deep.txt", "x") }, map[string][]string{})
	// One notification per window lists a path once.
	write(t, a+"/one", "1")
	write(t, a+"/two", "2")
	write(t, a+"/one", "11")
	p, ok := c.changed(waitTimeout)
	if !ok || p.WatchID != "w1" || len(p.ChangedPaths) != 2 || p.ChangedPaths[0] != a+"/one" || p.ChangedPaths[1] != a+"/two" {
		t.Fatalf("burst: %+v %v", p, ok)
	}
}

// 10 writes in 50 ms give one notification listing the path once, about
// one window after the first write; a steady stream gives one per window
// (the window opens at the first change, it is not pushed back by later
// ones, as the reference).
func TestWatchCoalescing(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/f"
	write(t, f, "")
	c := newEnv(t, Options{}).connect(t) // default window: 200 ms
	watchIt(t, c, "w", f)
	start := time.Now()
	for i := 0; i < 10; i++ {
		fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fh.WriteString("x")
		_ = fh.Close()
		time.Sleep(5 * time.Millisecond)
	}
	c.mustChange("w", f)
	if d := time.Since(start); d < DefaultWatchDebounce-20*time.Millisecond || d > DefaultWatchDebounce+300*time.Millisecond {
		t.Errorf("notified after %v, want about %v", d, DefaultWatchDebounce)
	}
	c.quiet(2 * DefaultWatchDebounce)

	// Steady writes every 40 ms for 1 s: several notifications, not one at
	// the end.
	stop := time.Now().Add(time.Second)
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for time.Now().Before(stop) {
			write(t, f, "y")
			time.Sleep(40 * time.Millisecond)
		}
	}()
	for {
		p, ok := c.changed(3 * DefaultWatchDebounce)
		if !ok {
			break
		}
		if len(p.ChangedPaths) != 1 || p.ChangedPaths[0] != f {
			t.Fatalf("steady: %+v", p)
		}
		n++
	}
	<-done
	if n < 3 || n > 7 {
		t.Errorf("steady writes for 1 s gave %d notifications, want about 5", n)
	}
}

// A watch on a file reports that file only, and keeps working when the
// file is deleted and recreated, replaced by rename (fs/writeFile), or
// renamed away and back.
func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/f.txt"
	write(t, f, "x")
	c := newEnv(t, Options{WatchDebounce: testDebounce}).connect(t)
	watchIt(t, c, "wf", f)
	w := map[string][]string{"wf": {f}}
	c.expect(func() { write(t, dir+"/sibling", "x") }, map[string][]string{})
	c.expect(func() { write(t, f, "y") }, w)
	c.expect(func() { _ = os.Remove(f) }, w)
	c.expect(func() { write(t, f, "again") }, w)
	c.expect(func() { write(t, f, "more") }, w)
	c.expect(func() { c.ok("fs/writeFile", js(obj{"path": f, "dataBase64": b64("atomic")})) }, w)
	c.expect(func() { write(t, f, "after atomic") }, w)
	c.expect(func() { _ = os.Rename(f, f+".away") }, w)
	c.expect(func() { write(t, f+".away", "unseen") }, map[string][]string{})
	c.expect(func() { _ = os.Rename(f+".away", f) }, w)
	c.expect(func() { write(t, f, "back") }, w)
	// The parent directory deleted and recreated.
	c.expect(func() { _ = os.RemoveAll(dir) }, w)
	c.expect(func() { mkdir(t, dir) }, map[string][]string{})
	c.expect(func() { write(t, f, "reborn") }, w)
	c.expect(func() { write(t, f, "and again") }, w)
}

// A watch on a directory that is deleted and recreated, or renamed away
// and back, keeps working.
func TestWatchRecreatedDirectory(t *testing.T) {
	dir := t.TempDir()
	a := dir + "/a"
	mkdir(t, a+"/sub")
	write(t, a+"/f", "x")
	c := newEnv(t, Options{WatchDebounce: testDebounce}).connect(t)
	watchIt(t, c, "w", a)
	c.expect(func() { _ = os.RemoveAll(a) }, map[string][]string{"w": {a, a + "/f", a + "/sub"}})
	c.expect(func() { mkdir(t, a) }, map[string][]string{"w": {a}})
	c.expect(func() { write(t, a+"/x", "1") }, map[string][]string{"w": {a + "/x"}})
	for i := 0; i < 3; i++ { // repeatedly
		c.expect(func() { _ = os.RemoveAll(a); mkdir(t, a) }, map[string][]string{"w": {a, a + "/x"}})
		c.expect(func() { write(t, a+"/x", "1") }, map[string][]string{"w": {a + "/x"}})
	}
	c.expect(func() { _ = os.Rename(a, dir+"/moved") }, map[string][]string{"w": {a}})
	c.expect(func() { write(t, dir+"/moved/y", "unseen") }, map[string][]string{})
	c.expect(func() { _ = os.Rename(dir+"/moved", a) }, map[string][]string{"w": {a}})
	c.expect(func() { write(t, a+"/z", "1") }, map[string][]string{"w": {a + "/z"}})
	c.expect(func() { _ = os.Chtimes(a, time.Now(), time.Now()) }, map[string][]string{"w": {a}})
}

// A path that does not exist yet (even several levels down) is fine, and
// is reported when it appears; once it is a directory, its entries are.
func TestWatchNotYetExisting(t *testing.T) {
	dir := t.TempDir()
	c := newEnv(t, Options{WatchDebounce: testDebounce}).connect(t)
	watchIt(t, c, "later", dir+"/later")
	watchIt(t, c, "deep", dir+"/p/q/x")
	c.expect(func() { mkdir(t, dir+"/later") }, map[string][]string{"later": {dir + "/later"}})
	c.expect(func() { write(t, dir+"/later/z", "x") }, map[string][]string{"later": {dir + "/later/z"}})
	c.expect(func() { mkdir(t, dir+"/p/q") }, map[string][]string{})
	c.expect(func() { write(t, dir+"/p/q/x", "x") }, map[string][]string{"deep": {dir + "/p/q/x"}})
	c.expect(func() { write(t, dir+"/p/q/x", "y") }, map[string][]string{"deep": {dir + "/p/q/x"}})
	c.expect(func() { write(t, dir+"/p/q/other", "y") }, map[string][]string{})
}

// A watch through a symlinked directory reports paths under the name the
// client used; a second spelling of the same directory shares one inotify
// watch and each watch still gets its own paths.
func TestWatchSymlinkedDirectory(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, dir+"/real")
	symlink(t, "real", dir+"/lnkdir")
	e := newEnv(t, Options{WatchDebounce: testDebounce})
	c := e.connect(t)
	watchIt(t, c, "viaLink", dir+"/lnkdir")
	watchIt(t, c, "direct", dir+"/real")
	c.expect(func() { write(t, dir+"/real/r", "x") }, map[string][]string{
		"viaLink": {dir + "/lnkdir/r"},
		"direct":  {dir + "/real/r"},
	})
	if st := e.fsm.watches.stats(); st.dirs != 2 || st.kernelWatches != 2 { // dir and real
		t.Errorf("stats %+v, want 2 directories watched", st)
	}
}

// Watch ids: per connection, reusable after fs/unwatch; fs/unwatch of an
// unknown id is fine; bounds on ids and on watches per connection.
func TestWatchIDs(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, Options{WatchDebounce: testDebounce, MaxWatchesPerConnection: 3})
	c1, c2 := e.connect(t), e.connect(t)
	watchIt(t, c1, "w1", dir)
	c1.fails("fs/watch", js(obj{"watchId": "w1", "path": dir}), invalid, "watchId already exists: w1")
	c1.fails("fs/watch", js(obj{"watchId": "w1", "path": dir + "/other"}), invalid, "watchId already exists: w1")
	watchIt(t, c2, "w1", dir) // another connection: independent
	watchIt(t, c1, "", dir)   // an empty id is an id, as the reference
	watchIt(t, c1, "w3", dir+"/f")
	c1.fails("fs/watch", js(obj{"watchId": "w4", "path": dir}), invalid, "too many watches on this connection (the limit is 3)")
	c1.fails("fs/watch", js(obj{"watchId": strings.Repeat("x", 1025), "path": dir}), invalid, "watchId is too long (the limit is 1024 bytes)")
	c1.fails("fs/watch", js(obj{"watchId": "long", "path": "/" + strings.Repeat("x/", 2100)}), internal, "File name too long (os error 36)")

	c1.expect(func() { write(t, dir+"/f", "x") }, map[string][]string{"w1": {dir + "/f"}, "": {dir + "/f"}, "w3": {dir + "/f"}})
	c2.expect(func() {}, map[string][]string{"w1": {dir + "/f"}})

	jsonEq(t, c1.ok("fs/unwatch", `{"watchId":"w1"}`), `{}`)
	jsonEq(t, c1.ok("fs/unwatch", `{"watchId":"w1"}`), `{}`)
	jsonEq(t, c1.ok("fs/unwatch", `{"watchId":"nope"}`), `{}`)
	c1.ok("fs/unwatch", `{"watchId":""}`)
	c1.expect(func() { write(t, dir+"/g", "x") }, map[string][]string{})
	c2.expect(func() {}, map[string][]string{"w1": {dir + "/g"}})
	watchIt(t, c1, "w1", dir) // reusable
	c1.expect(func() { write(t, dir+"/h", "x") }, map[string][]string{"w1": {dir + "/h"}})
	c2.settle(2*testDebounce, 2*testDebounce)
}

// Nothing is sent for a watch after fs/unwatch has answered, even with
// changes pending in its window.
func TestUnwatchDropsPending(t *testing.T) {
	dir := t.TempDir()
	c := newEnv(t, Options{WatchDebounce: 300 * time.Millisecond}).connect(t)
	watchIt(t, c, "w", dir)
	write(t, dir+"/f", "x")
	time.Sleep(50 * time.Millisecond) // the event is in the window
	c.ok("fs/unwatch", `{"watchId":"w"}`)
	c.quiet(500 * time.Millisecond)
}

// inotifyFDs counts this process's inotify instances.
func inotifyFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

// Watches belong to their connection: closing it removes them, their
// inotify watches, and, with the last one, the inotify instance and its
// goroutines. All connections share one inotify instance.
func TestWatchCleanup(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	mkdir(t, dir+"/a")
	mkdir(t, dir+"/b")
	base := inotifyFDs(t)
	e := newEnv(t, Options{WatchDebounce: testDebounce})
	c1, c2 := e.connect(t), e.connect(t)
	if st := e.fsm.watches.stats(); st.running || st.watches != 0 {
		t.Fatalf("before any watch: %+v", st)
	}
	watchIt(t, c1, "a", dir+"/a")       // dir, a
	watchIt(t, c1, "af", dir+"/a/file") // a (shared)
	watchIt(t, c1, "b", dir+"/b")       // dir (shared), b
	watchIt(t, c2, "a", dir+"/a")       // shared
	watchIt(t, c2, "n", dir+"/b/n/x")   // b (nearest existing ancestor)
	st := e.fsm.watches.stats()
	if st.watches != 5 || st.dirs != 3 || st.kernelWatches != 3 || !st.running {
		t.Fatalf("stats %+v, want 5 watches on 3 directories", st)
	}
	if n := inotifyFDs(t); n != base+1 {
		t.Fatalf("%d inotify instances, want %d", n, base+1)
	}
	// Pending changes when the connection closes are dropped with it.
	write(t, dir+"/a/file", "x")
	c1.close()
	st = e.fsm.watches.stats()
	if st.watches != 2 || st.dirs != 3 || st.kernelWatches != 3 {
		t.Fatalf("after closing c1: %+v, want 2 watches on dir, a, b", st)
	}
	c2.expect(func() { write(t, dir+"/a/g", "x") }, map[string][]string{"a": {dir + "/a/file", dir + "/a/g"}})
	c2.ok("fs/unwatch", `{"watchId":"n"}`)
	if st := e.fsm.watches.stats(); st.dirs != 2 {
		t.Fatalf("after unwatch: %+v", st)
	}
	c2.close()
	if st := e.fsm.watches.stats(); st.watches != 0 || st.dirs != 0 || st.running {
		t.Fatalf("after closing every connection: %+v", st)
	}
	if n := inotifyFDs(t); n != base {
		t.Fatalf("%d inotify instances left, want %d", n, base)
	}

	// Watch and unwatch many times: nothing accumulates.
	c3 := e.connect(t)
	for i := 0; i < 50; i++ {
		watchIt(t, c3, "w", dir+"/a")
		c3.ok("fs/unwatch", `{"watchId":"w"}`)
	}
	if st := e.fsm.watches.stats(); st.watches != 0 || st.running {
		t.Fatalf("after watch/unwatch cycles: %+v", st)
	}
	c3.close()
}

// With workspace roots, a watched symlink later pointed outside does not
// make the server watch (and report) what is outside.
func TestWatchConfinedRetarget(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mkdir(t, root+"/in")
	symlink(t, "in", root+"/link")
	e := confined(t, root, Options{WatchDebounce: testDebounce})
	c := e.connect(t)
	watchIt(t, c, "w", root+"/link")
	c.expect(func() { write(t, root+"/in/a", "x") }, map[string][]string{"w": {root + "/link/a"}})
	c.expect(func() {
		_ = os.Remove(root + "/link")
		symlink(t, outside, root+"/link")
	}, map[string][]string{"w": {root + "/link"}})
	c.expect(func() { write(t, outside+"/secret", "x") }, map[string][]string{})
	for d := range e.fsm.watches.dirs {
		if !strings.HasPrefix(d, root) {
			t.Errorf("watching %s, outside the root", d)
		}
	}
}

// A lost-events overflow (IN_Q_OVERFLOW) reports every watched path.
func TestWatchOverflow(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, Options{WatchDebounce: testDebounce})
	c := e.connect(t)
	watchIt(t, c, "w1", dir)
	watchIt(t, c, "w2", dir+"/f")
	h := e.fsm.watches
	h.mu.Lock()
	nw := h.nw
	h.mu.Unlock()
	// As fsnotify reports it: on the Errors channel.
	c.expect(func() { nw.Errors <- fsnotify.ErrEventOverflow }, map[string][]string{"w1": {dir}, "w2": {dir + "/f"}})
	// Other errors are logged, not reported.
	c.expect(func() { nw.Errors <- os.ErrInvalid }, map[string][]string{})
}

// A flood of distinct changes in one window is capped: the watch reports
// its own path instead of an unbounded list.
func TestWatchPendingBound(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, Options{WatchDebounce: time.Hour})
	c := e.connect(t)
	watchIt(t, c, "w", dir)
	h := e.fsm.watches
	h.mu.Lock()
	w := h.conns[c.sess].byID["w"]
	for i := 0; i < maxPendingPaths+10; i++ {
		h.report(w, dir+"/f"+strconv.Itoa(i))
	}
	n := len(w.pending)
	_, only := w.pending[dir]
	h.mu.Unlock()
	if n != 1 || !only {
		t.Fatalf("%d pending paths after a flood, want 1 (the watched path)", n)
	}
	h.flush(w)
	c.mustChange("w", dir)
}
