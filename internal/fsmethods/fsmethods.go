// Package fsmethods serves the fs/* methods: reading, writing, listing,
// copying and removing files on the host, and watching paths for changes
// (fs/watch, fs/unwatch and the fs/changed notification).
//
// Every path a client sends goes through a [pathguard.Guard]: it must be
// absolute, and when the server is confined to workspace roots it must
// resolve inside one of them. Failures use the reference's texts: -32600 for
// requests the server will not carry out ("path `/x` is not a file"),
// -32603 with the OS error ("No such file or directory (os error 2)") for
// requests that failed.
//
// Differences from the reference, on purpose:
//   - fs/writeFile replaces the file atomically (temporary file, fsync,
//     rename, fsync of the directory) instead of truncating it in place.
//   - fs/copy of a file onto itself (or onto a link to it) is a no-op; the
//     reference truncates the file to zero bytes.
//   - fs/readDirectory lists entries sorted by name and keeps dangling
//     symlinks (isDirectory and isFile false); the reference returns
//     readdir order and drops them.
//   - fs/writeFile refuses a FIFO or device at the path ("is not a file")
//     instead of writing into it.
//   - fs/copy of a tree walks both sides through os.Root: a symlink in an
//     existing destination is not written through to outside it.
//   - fs/getMetadata reports the birth time as createdAtMs where the file
//     system records it; the reference always sends 0.
//   - fs/readFile, fs/writeFile and fs/watch are bounded (file size, decoded
//     size, watches per connection, watchId length, paths per fs/changed).
//
// Watches (fs/watch) are not recursive, as the reference: a directory
// watch reports the directory and its direct entries, a file watch the
// file. They survive the path being deleted and recreated or renamed away
// and back, and may name a path that does not exist yet. Changes are
// coalesced: the first one opens a window (Options.WatchDebounce) at the
// end of which one fs/changed lists every changed path once, sorted.
package fsmethods

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/appserver-go/appserver"
	refb64 "github.com/appserver-go/appserver/internal/b64"
	"github.com/appserver-go/appserver/internal/oserr"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/jsonrpc"
)

// Defaults for [Options].
const (
	// DefaultMaxReadBytes bounds the files fs/readFile returns.
	DefaultMaxReadBytes = 64 << 20
	// DefaultMaxWriteBytes bounds the decoded data of fs/writeFile. A
	// transport's message limit (64 MiB) already bounds it to 48 MiB.
	DefaultMaxWriteBytes = 64 << 20
	// DefaultWatchDebounce is how long changes are gathered before one
	// fs/changed is sent, as the reference (about 200 ms).
	DefaultWatchDebounce = 200 * time.Millisecond
	// DefaultMaxWatchesPerConnection bounds fs/watch per connection.
	DefaultMaxWatchesPerConnection = 256
)

// maxWatchIDBytes bounds a watchId: it is kept for the watch's lifetime.
const maxWatchIDBytes = 1024

// Options configure the fs methods. The zero value is usable.
type Options struct {
	// Guard checks every path; nil accepts any absolute path.
	Guard *pathguard.Guard
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// MaxReadBytes is the largest file fs/readFile returns; larger ones get
	// -32600. Zero means DefaultMaxReadBytes.
	MaxReadBytes int64
	// MaxWriteBytes is the largest decoded payload fs/writeFile accepts.
	// Zero means DefaultMaxWriteBytes.
	MaxWriteBytes int64
	// WatchDebounce is the coalescing window of fs/changed: the first
	// change after a quiet period opens it, and everything that changed
	// until it closes is sent in one notification. Zero means
	// DefaultWatchDebounce.
	WatchDebounce time.Duration
	// MaxWatchesPerConnection bounds the live watches of one connection.
	// Zero means DefaultMaxWatchesPerConnection.
	MaxWatchesPerConnection int
}

// Register adds fs/readFile, fs/writeFile, fs/createDirectory,
// fs/getMetadata, fs/readDirectory, fs/remove, fs/copy, fs/watch and
// fs/unwatch to srv. Watches belong to their connection and end with it.
func Register(srv *appserver.Server, opts Options) {
	register(srv, opts)
}

func register(srv *appserver.Server, opts Options) *fsMethods {
	fsm := newFS(opts)
	srv.AddMethod(appserver.Method{Name: "fs/readFile", Handler: appserver.Typed(fsm.readFile)})
	srv.AddMethod(appserver.Method{Name: "fs/writeFile", Handler: appserver.Typed(fsm.writeFile)})
	srv.AddMethod(appserver.Method{Name: "fs/createDirectory", Handler: appserver.Typed(fsm.createDirectory)})
	srv.AddMethod(appserver.Method{Name: "fs/getMetadata", Handler: fsm.getMetadata})
	srv.AddMethod(appserver.Method{Name: "fs/readDirectory", Handler: appserver.Typed(fsm.readDirectory)})
	srv.AddMethod(appserver.Method{Name: "fs/remove", Handler: appserver.Typed(fsm.remove)})
	srv.AddMethod(appserver.Method{Name: "fs/copy", Handler: appserver.Typed(fsm.copy)})
	srv.AddMethod(appserver.Method{Name: "fs/watch", Handler: appserver.Typed(fsm.watch)})
	srv.AddMethod(appserver.Method{Name: "fs/unwatch", Handler: appserver.Typed(fsm.unwatch)})
	return fsm
}

// fsMethods holds the configuration and the watch hub of one Register call.
type fsMethods struct {
	guard        *pathguard.Guard
	logger       *slog.Logger
	maxRead      int64
	maxWrite     int64
	maxWatches   int
	watches      *hub
	beforeRename func(tmp, target string) error // test hook: a crash before the rename
}

func newFS(opts Options) *fsMethods {
	f := &fsMethods{
		guard:      opts.Guard,
		logger:     opts.Logger,
		maxRead:    opts.MaxReadBytes,
		maxWrite:   opts.MaxWriteBytes,
		maxWatches: opts.MaxWatchesPerConnection,
	}
	if f.logger == nil {
		f.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if f.maxRead <= 0 {
		f.maxRead = DefaultMaxReadBytes
	}
	if f.maxWrite <= 0 {
		f.maxWrite = DefaultMaxWriteBytes
	}
	if f.maxWatches <= 0 {
		f.maxWatches = DefaultMaxWatchesPerConnection
	}
	debounce := opts.WatchDebounce
	if debounce <= 0 {
		debounce = DefaultWatchDebounce
	}
	f.watches = newHub(f.guard, f.logger, debounce)
	return f
}

// ---- params and errors ----

var errNotAbsolute = appserver.InvalidRequest(pathguard.ErrNotAbsolute.Error())

// checkAbs is the decode-time check of an AbsolutePathBuf field. As in the
// reference, a relative path is reported before any missing field.
func checkAbs(p *string) error {
	if p != nil && !filepath.IsAbs(*p) {
		return errNotAbsolute
	}
	return nil
}

// osError is a failed operation: -32603 with the OS error's text.
func osError(err error) *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeInternalError, oserr.Text(err))
}

// refuse is a request the server will not carry out: -32600, no prefix.
func refuse(msg string) *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeInvalidRequest, msg)
}

// checkPath validates a path from the client: no NUL byte, and inside the
// workspace roots when confined. It returns the path cleaned.
func (f *fsMethods) checkPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", refuse("file name contained an unexpected NUL byte")
	}
	clean, err := f.guard.Check(p)
	if err != nil {
		var oe *pathguard.OutsideError
		switch {
		case errors.Is(err, pathguard.ErrNotAbsolute):
			return "", errNotAbsolute
		case errors.As(err, &oe):
			return "", refuse(err.Error())
		}
		return "", osError(err)
	}
	return clean, nil
}

// checkOpened checks, when the server is confined to workspace roots,
// that what was opened lies inside them. checkPath judged the path, but a
// command running beside the server may swap a directory on it for a
// symlink before the open; the descriptor says where the open really
// went.
func (f *fsMethods) checkOpened(file *os.File) error {
	if !f.guard.Confined() {
		return nil
	}
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(file.Fd())))
	if err != nil {
		return osError(err)
	}
	if _, err := f.guard.Check(real); err != nil {
		return refuse(err.Error())
	}
	return nil
}

type pathParams struct {
	Path *string `json:"path"`
}

func (p *pathParams) Validate() error {
	if err := checkAbs(p.Path); err != nil {
		return err
	}
	if p.Path == nil {
		return appserver.MissingField("path")
	}
	return nil
}

// empty is the result of the methods that answer {}.
type empty struct{}

// ---- fs/readFile ----

func (f *fsMethods) readFile(ctx context.Context, s *appserver.Session, p pathParams) (any, error) {
	path, err := f.checkPath(*p.Path)
	if err != nil {
		return nil, err
	}
	// Devices and FIFOs are refused before they are opened (opening some
	// devices has effects); O_NONBLOCK and the fstat below cover one
	// swapped in between.
	if fi, err := os.Stat(path); err != nil {
		return nil, osError(err)
	} else if !fi.Mode().IsRegular() {
		return nil, notAFile(path)
	}
	file, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, osError(err)
	}
	defer file.Close()
	if err := f.checkOpened(file); err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		return nil, osError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notAFile(path)
	}
	if fi.Size() > f.maxRead {
		return nil, tooLarge(path, fi.Size(), f.maxRead)
	}
	// Files in /proc report size 0 and still have content: read to EOF,
	// never more than the limit.
	data, err := readAtMost(file, fi.Size(), f.maxRead)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, tooLarge(path, int64(len(data)), f.maxRead)
		}
		return nil, osError(err)
	}
	// Encode straight into the response: {"dataBase64":"..."}.
	const head, tail = `{"dataBase64":"`, `"}`
	out := make([]byte, len(head)+base64.StdEncoding.EncodedLen(len(data))+len(tail))
	copy(out, head)
	base64.StdEncoding.Encode(out[len(head):], data)
	copy(out[len(out)-len(tail):], tail)
	return jsonRaw(out), nil
}

var errTooLarge = errors.New("file too large")

// readAtMost reads r to EOF, failing with errTooLarge once it has read
// more than maxBytes (it reads at most maxBytes+1). hint sizes the buffer.
func readAtMost(r io.Reader, hint, maxBytes int64) ([]byte, error) {
	limit := maxBytes + 1
	size := min(max(hint+1, 512), limit) // +1: see EOF without growing
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit-int64(len(buf)))))
		}
		n, err := r.Read(buf[len(buf):min(int64(cap(buf)), limit)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > maxBytes {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func notAFile(path string) error {
	return refuse("path `" + path + "` is not a file")
}

func tooLarge(path string, size, max int64) error {
	return refuse("path `" + path + "` is too large to read (" + strconv.FormatInt(size, 10) +
		" bytes or more; the limit is " + strconv.FormatInt(max, 10) + " bytes)")
}

// ---- fs/writeFile ----

type writeFileParams struct {
	Path       *string `json:"path"`
	DataBase64 *string `json:"dataBase64"`
}

func (p *writeFileParams) Validate() error {
	if err := checkAbs(p.Path); err != nil {
		return err
	}
	if p.Path == nil {
		return appserver.MissingField("path")
	}
	if p.DataBase64 == nil {
		return appserver.MissingField("dataBase64")
	}
	return nil
}

func (f *fsMethods) writeFile(ctx context.Context, s *appserver.Session, p writeFileParams) (any, error) {
	path, err := f.checkPath(*p.Path)
	if err != nil {
		return nil, err
	}
	// The decoded size is known before decoding: refuse early, allocate once.
	if n := decodedLen(*p.DataBase64); n > f.maxWrite {
		return nil, refuse("fs/writeFile data is too large (" + strconv.FormatInt(n, 10) +
			" bytes; the limit is " + strconv.FormatInt(f.maxWrite, 10) + " bytes)")
	}
	data, msg := refb64.Decode(*p.DataBase64)
	if msg != "" {
		return nil, refuse("fs/writeFile requires valid base64 dataBase64: " + msg)
	}
	if err := f.atomicWrite(path, data); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// decodedLen is the size valid base64 s decodes to.
func decodedLen(s string) int64 {
	n := int64(len(s)) / 4 * 3
	if strings.HasSuffix(s, "==") {
		n -= 2
	} else if strings.HasSuffix(s, "=") {
		n--
	}
	return max(n, 0)
}

// ---- fs/createDirectory ----

type createDirectoryParams struct {
	Path      *string `json:"path"`
	Recursive *bool   `json:"recursive"`
}

func (p *createDirectoryParams) Validate() error {
	return (&pathParams{Path: p.Path}).Validate()
}

func (f *fsMethods) createDirectory(ctx context.Context, s *appserver.Session, p createDirectoryParams) (any, error) {
	path, err := f.checkPath(*p.Path)
	if err != nil {
		return nil, err
	}
	recursive := p.Recursive == nil || *p.Recursive
	switch {
	case f.guard.Confined():
		err = f.mkdirChecked(path, recursive)
	case recursive:
		err = mkdirAll(path)
	default:
		err = syscall.Mkdir(path, 0o777)
	}
	var rpcErr *jsonrpc.Error
	switch {
	case err == nil:
		return empty{}, nil
	case errors.As(err, &rpcErr):
		return nil, rpcErr
	}
	return nil, osError(err)
}

// mkdirChecked is createDirectory for a server confined to workspace
// roots: it finds the deepest directory of path that exists, opens it and
// checks it where it landed, then creates each missing component beneath
// that descriptor (mkdirat, then openat without following symlinks), so a
// directory swapped for a symlink meanwhile cannot make it create
// anything outside the roots. The errors are mkdirAll's and mkdir(2)'s.
func (f *fsMethods) mkdirChecked(path string, recursive bool) error {
	var missing []string
	base := path
	for {
		err := unix.Access(base, unix.F_OK)
		if err == nil {
			break
		}
		if err != unix.ENOENT {
			return &fs.PathError{Op: "mkdir", Path: path, Err: err}
		}
		parent := filepath.Dir(base)
		if parent == base {
			return &fs.PathError{Op: "mkdir", Path: path, Err: err}
		}
		missing = append(missing, filepath.Base(base))
		base = parent
	}
	switch {
	case len(missing) == 0 && recursive && isDir(path):
		return nil
	case len(missing) == 0:
		return &fs.PathError{Op: "mkdir", Path: path, Err: syscall.EEXIST}
	case !recursive && len(missing) > 1:
		return &fs.PathError{Op: "mkdir", Path: path, Err: syscall.ENOENT}
	}
	d, err := os.OpenFile(base, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := f.checkOpened(d); err != nil {
		return err
	}
	fd := int(d.Fd())
	for i := len(missing) - 1; i >= 0; i-- {
		name := missing[i]
		if err := unix.Mkdirat(fd, name, 0o777); err != nil && (err != unix.EEXIST || !recursive) {
			return &fs.PathError{Op: "mkdir", Path: path, Err: err}
		}
		if i == 0 {
			break
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if fd != int(d.Fd()) {
			unix.Close(fd)
		}
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: path, Err: err}
		}
		fd = next
	}
	if fd != int(d.Fd()) {
		unix.Close(fd)
	}
	return nil
}

// mkdirAll creates path and its missing parents like Rust's
// create_dir_all, which the reference uses: an existing directory (or a
// symlink to one) is fine; anything else there is "File exists" (Go's
// MkdirAll says "Not a directory").
func mkdirAll(path string) error {
	err := syscall.Mkdir(path, 0o777)
	if err == nil {
		return nil
	}
	if err != syscall.ENOENT {
		if isDir(path) {
			return nil
		}
		return err
	}
	parent := filepath.Dir(path)
	if parent == path {
		return err
	}
	if err := mkdirAll(parent); err != nil {
		return err
	}
	if err := syscall.Mkdir(path, 0o777); err != nil && !isDir(path) {
		return err
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// ---- fs/getMetadata ----

// getMetadata is the hot path (clients poll it): params are decoded
// without reflection when they are the plain {"path":"..."} form, and the
// answer is built in one buffer.
func (f *fsMethods) getMetadata(ctx context.Context, req *appserver.Request) (any, error) {
	raw, ok := fastPathParam(req.Params)
	if !ok {
		var p pathParams
		if err := req.DecodeParams(&p); err != nil {
			return nil, err
		}
		raw = *p.Path
	} else if !filepath.IsAbs(raw) {
		return nil, errNotAbsolute
	}
	path, err := f.checkPath(raw)
	if err != nil {
		return nil, err
	}
	var m metadata
	if f.guard.Confined() {
		err = statOpened(path, &m, f.checkOpened)
	} else {
		err = statPath(path, &m)
	}
	if err != nil {
		var rpcErr *jsonrpc.Error
		if errors.As(err, &rpcErr) {
			return nil, rpcErr
		}
		return nil, osError(err)
	}
	return jsonRaw(m.appendJSON(make([]byte, 0, 128))), nil
}

// metadata is what fs/getMetadata reports.
type metadata struct {
	isDir, isFile, isSymlink bool
	createdMs, modifiedMs    int64
}

func (m *metadata) appendJSON(b []byte) []byte {
	b = append(b, `{"isDirectory":`...)
	b = strconv.AppendBool(b, m.isDir)
	b = append(b, `,"isFile":`...)
	b = strconv.AppendBool(b, m.isFile)
	b = append(b, `,"isSymlink":`...)
	b = strconv.AppendBool(b, m.isSymlink)
	b = append(b, `,"createdAtMs":`...)
	b = strconv.AppendInt(b, m.createdMs, 10)
	b = append(b, `,"modifiedAtMs":`...)
	b = strconv.AppendInt(b, m.modifiedMs, 10)
	return append(b, '}')
}

// unixMillis converts a timestamp; times before the epoch are 0, as in
// the reference.
func unixMillis(sec, nsec int64) int64 {
	if sec < 0 {
		return 0
	}
	return sec*1000 + nsec/1e6
}

var pathKey = []byte(`"path"`)

// fastPathParam recognises params that are exactly {"path":"<s>"} (with
// optional blanks) where s has no escapes, and returns s. Anything else,
// including other fields, goes through the generic decoder.
func fastPathParam(raw []byte) (string, bool) {
	b := bytes.TrimSpace(raw)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return "", false
	}
	b = bytes.TrimSpace(b[1 : len(b)-1])
	if !bytes.HasPrefix(b, pathKey) {
		return "", false
	}
	b = bytes.TrimSpace(b[len(pathKey):])
	if len(b) == 0 || b[0] != ':' {
		return "", false
	}
	b = bytes.TrimSpace(b[1:])
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	s := b[1 : len(b)-1]
	for _, c := range s {
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(s), true
}

// ---- fs/readDirectory ----

// DirectoryEntry is one entry of fs/readDirectory.
type DirectoryEntry struct {
	FileName    string `json:"fileName"`
	IsDirectory bool   `json:"isDirectory"`
	IsFile      bool   `json:"isFile"`
}

type readDirectoryResult struct {
	Entries []DirectoryEntry `json:"entries"`
}

func (f *fsMethods) readDirectory(ctx context.Context, s *appserver.Session, p pathParams) (any, error) {
	path, err := f.checkPath(*p.Path)
	if err != nil {
		return nil, err
	}
	dir, err := os.Open(path)
	if err != nil {
		return nil, osError(err)
	}
	defer dir.Close()
	if err := f.checkOpened(dir); err != nil {
		return nil, err
	}
	entries := []DirectoryEntry{}
	for {
		batch, err := dir.ReadDir(1024)
		for _, d := range batch {
			e := DirectoryEntry{FileName: d.Name()}
			t := d.Type()
			if t&os.ModeSymlink != 0 {
				// Follow the link, as the reference; a dangling one is
				// listed as neither file nor directory.
				if fi, err := os.Stat(filepath.Join(path, d.Name())); err == nil {
					t = fi.Mode().Type()
				}
			}
			e.IsDirectory = t.IsDir()
			e.IsFile = t.IsRegular()
			entries = append(entries, e)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, osError(err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	// Names are bytes; encoding/json turns invalid UTF-8 into U+FFFD.
	slices.SortFunc(entries, func(a, b DirectoryEntry) int { return strings.Compare(a.FileName, b.FileName) })
	return readDirectoryResult{Entries: entries}, nil
}

// ---- fs/remove ----

type removeParams struct {
	Path      *string `json:"path"`
	Recursive *bool   `json:"recursive"`
	Force     *bool   `json:"force"`
}

func (p *removeParams) Validate() error {
	return (&pathParams{Path: p.Path}).Validate()
}

func (f *fsMethods) remove(ctx context.Context, s *appserver.Session, p removeParams) (any, error) {
	path, err := f.checkPath(*p.Path)
	if err != nil {
		return nil, err
	}
	recursive := p.Recursive == nil || *p.Recursive
	force := p.Force == nil || *p.Force
	err = f.removeIn(path, recursive)
	var rpcErr *jsonrpc.Error
	switch {
	case err == nil, force && errors.Is(err, os.ErrNotExist):
		return empty{}, nil
	case errors.As(err, &rpcErr):
		return nil, rpcErr // outside the roots, as opened
	}
	return nil, osError(err)
}

// removeIn removes path through one descriptor of its parent directory,
// checked where it landed when the server is confined to workspace roots:
// a parent swapped for a symlink meanwhile cannot redirect the removal.
// The entry itself is never followed (a symlink is removed, not its
// target), and a recursive removal walks with openat/unlinkat beneath
// that directory (os.Root), so a link swapped in during the walk cannot
// redirect it either.
func (f *fsMethods) removeIn(path string, recursive bool) error {
	parent, base := filepath.Dir(path), filepath.Base(path)
	if parent == path {
		return refuse("fs/remove refuses to remove the root directory /")
	}
	d, err := os.OpenFile(parent, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := f.checkOpened(d); err != nil {
		return err
	}
	dfd := int(d.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case isDir && recursive:
		root, err := os.OpenRoot("/proc/self/fd/" + strconv.Itoa(dfd))
		if err != nil {
			return err
		}
		defer root.Close()
		return root.RemoveAll(base)
	case isDir:
		err = unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR)
	default:
		err = unix.Unlinkat(dfd, base, 0)
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}

// jsonRaw marks pre-encoded JSON: the engine sends it as is.
func jsonRaw(b []byte) any { return json.RawMessage(b) }
