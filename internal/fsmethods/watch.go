package fsmethods

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/jsonrpc"
)

// maxPendingPaths bounds the paths gathered for one fs/changed. Past it,
// the notification names the watched path alone: "something changed here,
// look again" instead of an unbounded list.
const maxPendingPaths = 4096

// pathMax is the longest path the kernel accepts (PATH_MAX minus the NUL).
const pathMax = 4095

type watchParams struct {
	WatchID *string `json:"watchId"`
	Path    *string `json:"path"`
}

func (p *watchParams) Validate() error {
	if err := checkAbs(p.Path); err != nil {
		return err
	}
	if p.WatchID == nil {
		return appserver.MissingField("watchId")
	}
	if p.Path == nil {
		return appserver.MissingField("path")
	}
	return nil
}

type unwatchParams struct {
	WatchID *string `json:"watchId"`
}

func (p *unwatchParams) Validate() error {
	if p.WatchID == nil {
		return appserver.MissingField("watchId")
	}
	return nil
}

type watchResult struct {
	Path string `json:"path"`
}

// ChangedParams are the params of the fs/changed notification.
type ChangedParams struct {
	WatchID      string   `json:"watchId"`
	ChangedPaths []string `json:"changedPaths"`
}

func (f *fsMethods) watch(ctx context.Context, s *appserver.Session, p watchParams) (any, error) {
	if len(*p.WatchID) > maxWatchIDBytes {
		return nil, refuse("watchId is too long (the limit is " + strconv.Itoa(maxWatchIDBytes) + " bytes)")
	}
	path, err := f.checkPath(*p.Path)
	if err != nil {
		return nil, err
	}
	if len(path) > pathMax {
		return nil, osError(syscall.ENAMETOOLONG)
	}
	if err := f.watches.add(s, *p.WatchID, path, f.maxWatches); err != nil {
		return nil, err
	}
	// The reference answers with the path normalised, symlinks kept.
	return watchResult{Path: path}, nil
}

func (f *fsMethods) unwatch(ctx context.Context, s *appserver.Session, p unwatchParams) (any, error) {
	f.watches.remove(s, *p.WatchID)
	return empty{}, nil
}

// hub holds the watches of every connection of one server on a single
// fsnotify watcher (one inotify instance: the per-user limit on instances
// is small, 128 by default, while watches are plentiful). Directories are
// subscribed once whatever the number of watches interested in them, by
// their symlink-free path, so two spellings of a directory share one
// inotify watch (fsnotify cannot tell aliases of one inode apart). The
// watcher and its goroutine exist only while there is at least one watch.
type hub struct {
	guard    *pathguard.Guard
	logger   *slog.Logger
	debounce time.Duration

	mu       sync.Mutex
	nw       *fsnotify.Watcher
	loopDone chan struct{}
	dirs     map[string]*dirSub
	conns    map[*appserver.Session]*connWatches
	total    int // live watches, all connections
}

// dirSub is one watched directory and the watches that need it.
type dirSub struct {
	armed bool // an inotify watch is in place
	subs  map[*watch]struct{}
}

// connWatches are one connection's watches, by id. It lives as long as
// the connection, so its AfterClose is registered once.
type connWatches struct {
	sess *appserver.Session
	byID map[string]*watch
}

// watch is one fs/watch. All fields are guarded by hub.mu.
type watch struct {
	conn *connWatches
	id   string
	path string // as answered to the client; reported paths start with it
	loc  location

	armed    bool // located at least once
	pending  map[string]struct{}
	overflow bool
	timer    *time.Timer
	closed   bool
}

// location is where a watched path is on disk right now.
type location struct {
	entry  string // path with its parent's symlinks resolved: the directory entry
	target string // entry with every symlink resolved (entry if it does not exist)
	exists bool
	isDir  bool
	dirs   []string // directories subscribed for this watch
}

func newHub(guard *pathguard.Guard, logger *slog.Logger, debounce time.Duration) *hub {
	return &hub{
		guard:    guard,
		logger:   logger,
		debounce: debounce,
		dirs:     make(map[string]*dirSub),
		conns:    make(map[*appserver.Session]*connWatches),
	}
}

// add starts a watch for sess.
func (h *hub) add(sess *appserver.Session, id, path string, max int) error {
	h.mu.Lock()
	cw := h.conns[sess]
	created := cw == nil
	if created {
		cw = &connWatches{sess: sess, byID: make(map[string]*watch)}
		h.conns[sess] = cw
	}
	err := h.addLocked(cw, id, path, max)
	nw, done := h.releaseLocked()
	h.mu.Unlock()
	closeWatcher(nw, done)
	if created {
		// Outside h.mu: if the session has already ended, this runs now.
		sess.AfterClose(func() { h.dropConn(sess) })
	}
	return err
}

func (h *hub) addLocked(cw *connWatches, id, path string, max int) error {
	if _, dup := cw.byID[id]; dup {
		return refuse("watchId already exists: " + id)
	}
	if len(cw.byID) >= max {
		return refuse("too many watches on this connection (the limit is " + strconv.Itoa(max) + ")")
	}
	if h.nw == nil {
		nw, err := fsnotify.NewWatcher()
		if err != nil { // EMFILE: fs.inotify.max_user_instances
			return jsonrpc.NewError(jsonrpc.CodeInternalError, "cannot watch files: "+err.Error())
		}
		h.nw, h.loopDone = nw, make(chan struct{})
		go h.loop(nw, h.loopDone)
	}
	w := &watch{conn: cw, id: id, path: path}
	if err := h.arm(w); err != nil {
		for _, d := range w.loc.dirs {
			h.unsubscribe(w, d)
		}
		if errors.Is(err, syscall.ENOSPC) {
			return jsonrpc.NewError(jsonrpc.CodeInternalError, "cannot watch `"+path+"`: the inotify watch limit is reached (fs.inotify.max_user_watches)")
		}
		return osError(err)
	}
	cw.byID[id] = w
	h.total++
	return nil
}

// remove ends sess's watch id, if it exists.
func (h *hub) remove(sess *appserver.Session, id string) {
	h.mu.Lock()
	if cw := h.conns[sess]; cw != nil {
		if w := cw.byID[id]; w != nil {
			h.removeLocked(w)
		}
	}
	nw, done := h.releaseLocked()
	h.mu.Unlock()
	closeWatcher(nw, done)
}

// dropConn ends every watch of a closed connection.
func (h *hub) dropConn(sess *appserver.Session) {
	h.mu.Lock()
	if cw := h.conns[sess]; cw != nil {
		delete(h.conns, sess)
		for _, w := range cw.byID {
			h.removeLocked(w)
		}
	}
	nw, done := h.releaseLocked()
	h.mu.Unlock()
	closeWatcher(nw, done)
}

func (h *hub) removeLocked(w *watch) {
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.pending = nil
	for _, d := range w.loc.dirs {
		h.unsubscribe(w, d)
	}
	delete(w.conn.byID, w.id)
	h.total--
}

// releaseLocked detaches the watcher once no watch is left; the caller
// closes it with closeWatcher after unlocking.
func (h *hub) releaseLocked() (*fsnotify.Watcher, chan struct{}) {
	if h.total > 0 || h.nw == nil {
		return nil, nil
	}
	nw, done := h.nw, h.loopDone
	h.nw, h.loopDone = nil, nil
	clear(h.dirs)
	return nw, done
}

// closeWatcher closes nw and waits for its goroutine. Called without
// h.mu: the goroutine may be waiting for it.
func closeWatcher(nw *fsnotify.Watcher, done chan struct{}) {
	if nw == nil {
		return
	}
	_ = nw.Close()
	<-done
}

func (h *hub) subscribe(w *watch, dir string) error {
	sub := h.dirs[dir]
	if sub == nil {
		sub = &dirSub{subs: make(map[*watch]struct{}, 1)}
		h.dirs[dir] = sub
	}
	sub.subs[w] = struct{}{}
	if !sub.armed {
		if err := h.nw.Add(dir); err != nil {
			return err
		}
		sub.armed = true
	}
	return nil
}

func (h *hub) unsubscribe(w *watch, dir string) {
	sub := h.dirs[dir]
	if sub == nil {
		return
	}
	delete(sub.subs, w)
	if len(sub.subs) == 0 {
		if sub.armed {
			_ = h.nw.Remove(dir) // may already be gone with the directory
		}
		delete(h.dirs, dir)
	}
}

// arm (re)computes where w's path is and subscribes the directories that
// reveal its changes: its parent (creation, removal, renames and writes
// of the path itself) and, for a directory, the directory (its entries).
// A path that does not exist yet is watched through its nearest existing
// ancestor until it appears. It reports the path when it appeared or
// disappeared in between, since the events saying so may have been missed.
func (h *hub) arm(w *watch) error {
	old := w.loc
	var firstErr error
	for range 8 {
		loc := h.locate(w.path)
		firstErr = nil
		for _, d := range loc.dirs {
			if err := h.subscribe(w, d); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		for _, d := range w.loc.dirs {
			if !slices.Contains(loc.dirs, d) {
				h.unsubscribe(w, d)
			}
		}
		w.loc = loc
		// A directory that vanished between locate and Add: look again.
		if firstErr != nil && (errors.Is(firstErr, syscall.ENOENT) || errors.Is(firstErr, syscall.ENOTDIR)) {
			continue
		}
		// A directory created between locate and Add (mkdir -p making
		// several levels at once) sent its event before anyone listened:
		// look again, and go on down if the path now leads further.
		if again := h.locate(w.path); slices.Equal(again.dirs, loc.dirs) && again.exists == loc.exists {
			break
		}
	}
	if w.armed && old.exists != w.loc.exists {
		h.report(w, w.path)
	}
	w.armed = true
	if errors.Is(firstErr, syscall.ENOENT) || errors.Is(firstErr, syscall.ENOTDIR) {
		return nil // still moving; the next event re-arms
	}
	return firstErr
}

// locate finds path on disk. Directories outside the workspace roots are
// never subscribed, even if a symlink now leads there.
func (h *hub) locate(path string) location {
	var loc location
	parent := filepath.Dir(path)
	switch {
	case parent == path: // "/"
		loc = location{entry: path, target: path, exists: true, isDir: true, dirs: []string{path}}
	case !isDir(parent):
		// The parent is missing (or not a directory): wait for it on the
		// nearest existing ancestor.
		loc.entry = resolveLoose(path)
		loc.target = loc.entry
		if anc := nearestDir(filepath.Dir(loc.entry)); anc != "" {
			loc.dirs = []string{anc}
		}
	default:
		rp, err := filepath.EvalSymlinks(parent)
		if err != nil {
			rp = parent
		}
		loc.entry = filepath.Join(rp, filepath.Base(path))
		loc.target = loc.entry
		loc.dirs = []string{rp}
		if fi, err := os.Stat(loc.entry); err == nil {
			loc.exists = true
			loc.isDir = fi.IsDir()
			if t, err := filepath.EvalSymlinks(loc.entry); err == nil {
				loc.target = t
			}
			switch {
			case loc.isDir:
				loc.dirs = append(loc.dirs, loc.target)
			case loc.target != loc.entry:
				// A link to a file elsewhere: writes show in the target's directory.
				loc.dirs = append(loc.dirs, filepath.Dir(loc.target))
			}
		}
	}
	loc.dirs = slices.Compact(loc.dirs)
	if h.guard.Confined() {
		loc.dirs = slices.DeleteFunc(loc.dirs, func(d string) bool {
			_, err := h.guard.Check(d)
			return err != nil
		})
	}
	return loc
}

// nearestDir returns the symlink-free path of dir or its nearest existing
// ancestor that is a directory.
func nearestDir(dir string) string {
	for {
		if isDir(dir) {
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				return real
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// loop delivers nw's events until it is closed. Errors are drained on a
// goroutine of their own that never takes h.mu: fsnotify may send an error
// while holding its internal lock, which the event goroutine may be
// waiting for (in Add or Remove) while holding h.mu.
func (h *hub) loop(nw *fsnotify.Watcher, done chan struct{}) {
	defer close(done)
	kick := make(chan struct{}, 1)
	var overflowed atomic.Bool
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range nw.Errors {
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				overflowed.Store(true)
				select {
				case kick <- struct{}{}:
				default:
				}
				continue
			}
			h.logger.Warn("fs/watch: watcher error", "err", err)
		}
	}()
	for events := nw.Events; events != nil; {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			h.handle(nw, ev)
		case <-kick:
			if overflowed.Swap(false) {
				h.overflow(nw)
			}
		}
	}
	<-errsDone
}

const structural = fsnotify.Create | fsnotify.Remove | fsnotify.Rename

func (h *hub) handle(nw *fsnotify.Watcher, ev fsnotify.Event) {
	name := ev.Name
	if strings.HasPrefix(name, "//") { // an entry of "/"
		name = name[1:]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nw != nw {
		return // a watcher being closed
	}
	self := h.dirs[name]
	if self != nil && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
		self.armed = false // inotify dropped it, or it now watches a moved inode
	}
	parent := h.dirs[filepath.Dir(name)]
	if self == nil && parent == nil {
		return
	}
	// Collect first: re-arming changes the subscriber sets.
	var ws []*watch
	for _, sub := range []*dirSub{self, parent} {
		if sub == nil {
			continue
		}
		for w := range sub.subs {
			if !slices.Contains(ws, w) {
				ws = append(ws, w)
			}
		}
	}
	for _, w := range ws {
		if !w.closed {
			h.dispatch(w, name, ev.Op)
		}
	}
}

// dispatch applies one event to one watch.
func (h *hub) dispatch(w *watch, name string, op fsnotify.Op) {
	loc := &w.loc
	switch {
	case name == loc.entry || (loc.exists && name == loc.target):
		h.report(w, w.path)
		if op&structural != 0 {
			_ = h.arm(w)
		}
	case loc.isDir && filepath.Dir(name) == loc.target:
		h.report(w, filepath.Join(w.path, filepath.Base(name)))
	case op&structural != 0 && (isAncestor(name, loc.entry) || isAncestor(name, loc.target)):
		_ = h.arm(w)
	}
}

func isAncestor(a, p string) bool {
	return len(p) > len(a) && strings.HasPrefix(p, a) && (a == "/" || p[len(a)] == '/')
}

// overflow handles lost events: every watch may have missed something, so
// each reports its path and is re-armed.
func (h *hub) overflow(nw *fsnotify.Watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nw != nw {
		return
	}
	h.logger.Warn("fs/watch: inotify queue overflowed; reporting every watched path")
	for _, cw := range h.conns {
		for _, w := range cw.byID {
			h.report(w, w.path)
			_ = h.arm(w)
		}
	}
}

// report adds p to w's next notification, opening the coalescing window
// if it is not open: the notification goes out debounce after the first
// change, so a steady stream of changes gives one notification per window
// rather than none until it stops (as the reference).
func (h *hub) report(w *watch, p string) {
	if w.overflow {
		return
	}
	if w.pending == nil {
		w.pending = make(map[string]struct{}, 4)
	}
	if _, ok := w.pending[p]; !ok && len(w.pending) >= maxPendingPaths {
		clear(w.pending)
		w.pending[w.path] = struct{}{}
		w.overflow = true
	} else {
		w.pending[p] = struct{}{}
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(h.debounce, func() { h.flush(w) })
	}
}

// flush sends w's pending paths, sorted, in one fs/changed. It runs under
// h.mu (Notify only queues), so nothing is sent after fs/unwatch answers.
func (h *hub) flush(w *watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.timer = nil
	if w.closed || len(w.pending) == 0 {
		return
	}
	paths := make([]string, 0, len(w.pending))
	for p := range w.pending {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	w.pending = nil
	w.overflow = false
	if err := w.conn.sess.Notify("fs/changed", ChangedParams{WatchID: w.id, ChangedPaths: paths}); err != nil {
		h.logger.Debug("fs/changed not sent", "watchId", w.id, "err", err)
	}
}

// hubStats is a snapshot for tests.
type hubStats struct {
	watches, dirs, kernelWatches int
	running                      bool
}

func (h *hub) stats() hubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := hubStats{watches: h.total, dirs: len(h.dirs), running: h.nw != nil}
	if h.nw != nil {
		st.kernelWatches = len(h.nw.WatchList())
	}
	return st
}
