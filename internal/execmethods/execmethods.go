// Package execmethods serves command/exec and process/*: commands run for
// a client, each in its own process group, under a Landlock sandbox unless
// the client asks for (and is allowed) dangerFullAccess.
//
// Both families are connection-scoped: process ids and handles name
// processes of one connection only, and every process of a connection is
// killed, with its whole process group, when the connection closes or the
// server shuts down (the handlers run on the session's context).
package execmethods

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/b64"
	"github.com/appserver-go/appserver/internal/oserr"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/procexec"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/jsonrpc"
)

// DefaultTimeout is the reference's default for both families.
const DefaultTimeout = 10 * time.Second

// DefaultMaxProcesses bounds the processes one connection may run at once.
const DefaultMaxProcesses = 64

// Options configure the methods.
type Options struct {
	// Guard confines working directories (and writable roots) to the
	// workspace roots, when it has any.
	Guard *pathguard.Guard
	// DefaultPolicy applies to command/exec requests that name no policy
	// and to every process/spawn (which has no policy parameter).
	DefaultPolicy sandbox.Policy
	// Helper is the binary that applies the sandbox (its main calls
	// sandbox.Main); "/proc/self/exe" for the server itself.
	Helper string
	// Isolation, if set, hides the server's private files from sandboxed
	// commands.
	Isolation *sandbox.Isolation
	// Support is what the kernel can enforce (sandbox.Probe()).
	Support sandbox.Support
	// Env returns the base environment of commands; nil means os.Environ.
	Env func() []string
	// Cwd is the working directory of commands that name none; "" means
	// the server's.
	Cwd string
	// DefaultTimeout applies when a request sets none; zero means
	// DefaultTimeout.
	DefaultTimeout time.Duration
	// MaxProcesses bounds each connection's running processes; zero means
	// DefaultMaxProcesses.
	MaxProcesses int
	Logger       *slog.Logger
}

// Methods holds the running processes of every connection.
type Methods struct {
	opts Options

	mu    sync.Mutex
	conns map[*appserver.Session]*conn
}

// conn is one connection's processes.
type conn struct {
	exec    map[string]*running // command/exec, by processId
	spawned map[string]*running // process/*, by processHandle
	count   int                 // all running, for the bound
	closed  bool
}

// running is a started process.
type running struct {
	p     *procexec.Process
	stdin bool // the client may write to it
	tty   bool
}

// Register adds command/exec, command/exec/write, command/exec/terminate,
// command/exec/resize and the experimental process/spawn,
// process/writeStdin, process/kill and process/resizePty to srv.
func Register(srv *appserver.Server, opts Options) *Methods {
	if opts.Env == nil {
		opts.Env = os.Environ
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.MaxProcesses <= 0 {
		opts.MaxProcesses = DefaultMaxProcesses
	}
	if opts.Cwd == "" {
		opts.Cwd, _ = os.Getwd()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Methods{opts: opts, conns: make(map[*appserver.Session]*conn)}
	srv.AddMethod(appserver.Method{Name: "command/exec", Handler: m.commandExec})
	srv.AddMethod(appserver.Method{Name: "command/exec/write", Handler: m.commandWrite})
	srv.AddMethod(appserver.Method{Name: "command/exec/terminate", Handler: m.commandTerminate})
	srv.AddMethod(appserver.Method{Name: "command/exec/resize", Handler: m.commandResize})
	srv.AddMethod(appserver.Method{Name: "process/spawn", Experimental: true, Handler: m.processSpawn})
	srv.AddMethod(appserver.Method{Name: "process/writeStdin", Experimental: true, Handler: m.processWrite})
	srv.AddMethod(appserver.Method{Name: "process/kill", Experimental: true, Handler: m.processKill})
	srv.AddMethod(appserver.Method{Name: "process/resizePty", Experimental: true, Handler: m.processResize})
	return m
}

// connFor returns s's process table, creating it (and its cleanup) first.
// The cleanup is registered after m.mu is released: on a session that has
// already stopped (a request still in flight when the client left),
// AfterClose runs it at once, and it takes m.mu itself.
func (m *Methods) connFor(s *appserver.Session) *conn {
	m.mu.Lock()
	c, ok := m.conns[s]
	if !ok {
		c = &conn{exec: map[string]*running{}, spawned: map[string]*running{}}
		m.conns[s] = c
	}
	m.mu.Unlock()
	if !ok {
		s.AfterClose(func() {
			// The processes' contexts are the session's, already cancelled:
			// they are being killed. Only the table goes.
			m.mu.Lock()
			c.closed = true
			if m.conns[s] == c {
				delete(m.conns, s)
			}
			m.mu.Unlock()
		})
	}
	return c
}

// millis converts a client's timeoutMs; one too large for a Duration
// (about 292 years) is the longest Duration rather than what the
// multiplication would wrap to.
func millis(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

type termSize struct {
	Rows *uint16 `json:"rows"`
	Cols *uint16 `json:"cols"`
}

func (t *termSize) validate() error {
	switch {
	case t.Rows == nil:
		return appserver.MissingField("rows")
	case t.Cols == nil:
		return appserver.MissingField("cols")
	}
	return nil
}

// invalidParams is the reference's -32602 for contradictory options.
func invalidParams(format string, args ...any) *jsonrpc.Error {
	return jsonrpc.Errorf(jsonrpc.CodeInvalidParams, format, args...)
}

func invalidRequest(format string, args ...any) *jsonrpc.Error {
	return jsonrpc.Errorf(jsonrpc.CodeInvalidRequest, format, args...)
}

// environment merges overrides into the base environment; a null value
// unsets the variable.
func (m *Methods) environment(overrides map[string]*string) []string {
	base := m.opts.Env()
	if len(overrides) == 0 {
		return base
	}
	out := make([]string, 0, len(base)+len(overrides))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := overrides[name]; ok {
			continue
		}
		out = append(out, kv)
	}
	for name, v := range overrides {
		if v != nil {
			out = append(out, name+"="+*v)
		}
	}
	return out
}

// workdir resolves and checks a working directory.
func (m *Methods) workdir(cwd string) (string, error) {
	if cwd == "" {
		cwd = m.opts.Cwd
	}
	if !filepath.IsAbs(cwd) {
		cwd = filepath.Join(m.opts.Cwd, cwd)
	}
	return m.opts.Guard.Check(cwd)
}

// confine checks a policy against the kernel and the workspace roots.
func (m *Methods) confine(p sandbox.Policy) error {
	if err := p.Check(m.opts.Support); err != nil {
		return invalidRequest("%v", err)
	}
	if !m.opts.Guard.Confined() {
		return nil
	}
	if p.Kind == sandbox.DangerFullAccess {
		return invalidRequest("dangerFullAccess is not allowed: this server is confined to its workspace roots")
	}
	for _, r := range p.WritableRoots {
		if _, err := m.opts.Guard.Check(r); err != nil {
			return invalidRequest("writable root %s: %v", r, err)
		}
	}
	return nil
}

// lookPath reports whether argv[0] names an executable, on the PATH of
// env for a bare name (the server's PATH if env has none, as procexec
// does), so that a missing command fails as the reference's does
// ("failed to spawn command: No such file or directory (os error 2)")
// rather than as the sandbox helper's exit 127. A relative name with a
// slash, and a relative PATH entry, are taken from dir, where the command
// will run. Errors carry an errno, for oserr.Text.
func lookPath(name string, env []string, dir string) error {
	inDir := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if strings.Contains(name, "/") {
		fi, err := os.Stat(inDir(name))
		if err != nil {
			return err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return &os.PathError{Op: "exec", Path: name, Err: syscall.EACCES}
		}
		return nil
	}
	path, ok := "", false
	for _, kv := range env {
		if v, found := strings.CutPrefix(kv, "PATH="); found {
			path, ok = v, true
		}
	}
	if !ok {
		path = os.Getenv("PATH")
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if fi, err := os.Stat(inDir(filepath.Join(d, name))); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return nil
		}
	}
	return &os.PathError{Op: "exec", Path: name, Err: syscall.ENOENT}
}

// start checks the command and starts it under policy.
func (m *Methods) start(ctx context.Context, what string, argv []string, policy sandbox.Policy, spec procexec.Spec) (*procexec.Process, error) {
	if err := lookPath(argv[0], spec.Env, spec.Dir); err != nil {
		return nil, jsonrpc.NewError(jsonrpc.CodeInternalError, "failed to spawn "+what+": "+oserr.Text(err))
	}
	full, isolated, err := m.opts.Isolation.Command(m.opts.Helper, policy, argv)
	if err != nil {
		return nil, invalidRequest("%v", err)
	}
	if isolated {
		spec.Isolate = m.opts.Isolation.SysProcAttr
	}
	spec.Argv = full
	spec.Env = sandbox.HelperEnv(policy, spec.Env)
	p, err := procexec.Start(ctx, spec)
	if err != nil {
		return nil, jsonrpc.NewError(jsonrpc.CodeInternalError, "failed to spawn "+what+": "+oserr.Text(err))
	}
	return p, nil
}

// decodeDelta decodes a deltaBase64 field with the reference's error text.
func decodeDelta(s string) ([]byte, error) {
	b, msg := b64.Decode(s)
	if msg != "" {
		return nil, invalidParams("invalid deltaBase64: %s", msg)
	}
	return b, nil
}

// outputText turns captured bytes into the response's string; invalid
// UTF-8 becomes U+FFFD rather than an empty string as on the reference.
func outputText(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// reserve claims a slot and a name in table for a new process.
func (m *Methods) reserve(c *conn, table map[string]*running, name string, dup func() error) (*running, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.closed {
		return nil, appserver.ErrConnectionClosed
	}
	if _, ok := table[name]; ok && name != "" {
		return nil, dup()
	}
	if c.count >= m.opts.MaxProcesses {
		return nil, invalidRequest("too many running processes on this connection (the limit is %d)", m.opts.MaxProcesses)
	}
	r := &running{}
	if name != "" {
		table[name] = r
	}
	c.count++
	return r, nil
}

// release frees a slot and, if it still names r, the name.
func (m *Methods) release(c *conn, table map[string]*running, name string, r *running) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name != "" && table[name] == r {
		delete(table, name)
	}
	c.count--
}

// lookup finds a running process by name.
func (m *Methods) lookup(c *conn, table map[string]*running, name string) *running {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := table[name]; r != nil && r.p != nil {
		return r
	}
	return nil
}

// writeTo writes a delta and/or closes stdin.
func writeTo(r *running, data []byte, closeStdin bool) error {
	if len(data) > 0 {
		if err := r.p.Write(data); err != nil {
			return invalidRequest("%s", procErrText(err))
		}
	}
	if closeStdin {
		if err := r.p.CloseStdin(); err != nil && !errors.Is(err, procexec.ErrStdinClosed) {
			return invalidRequest("%s", procErrText(err))
		}
	}
	return nil
}

// procErrText words a process-layer error for a client, without the
// package prefix that means nothing on the wire.
func procErrText(err error) string {
	switch {
	case errors.Is(err, procexec.ErrStdinClosed):
		return "stdin is already closed"
	case errors.Is(err, procexec.ErrNoStdin):
		return "stdin is not open for writing (start the process with streamStdin: true)"
	case errors.Is(err, procexec.ErrFinished):
		return "the process has already exited"
	case errors.Is(err, procexec.ErrNotTTY):
		return "the process has no terminal (tty: false)"
	}
	s, _ := strings.CutPrefix(err.Error(), "procexec: ")
	return s
}

// rawIsSet reports whether a JSON field was present and not null.
func rawIsSet(raw json.RawMessage) bool { return !jsonrpc.IsNull(raw) }
