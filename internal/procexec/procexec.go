package procexec

import (
	"context"
	"errors"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Defaults and protocol constants.
const (
	// NoOutput as Spec.OutputCap keeps no output at all: each stream is
	// closed at once and reported capped (streamed: one empty capped chunk),
	// as the reference does for an output cap of 0.
	NoOutput int64 = math.MinInt64
	// DefaultOutputCap is the per-stream cap when Spec.OutputCap is 0 (the
	// reference's 1 MiB).
	DefaultOutputCap = 1 << 20
	// DefaultDrainTimeout is how long Wait waits, after the leader exits, for
	// its output pipes to reach EOF when Spec.DrainTimeout is 0 (the
	// reference's IO_DRAIN_TIMEOUT_MS).
	DefaultDrainTimeout = 2 * time.Second
	// MaxChunk is the largest chunk passed to Spec.OnOutput.
	MaxChunk = 64 << 10

	// ExitTimedOut is Result.ExitCode after Spec.Timeout expired.
	ExitTimedOut = 124
	// ExitKilled is Result.ExitCode after Terminate or cancellation
	// (128+SIGKILL).
	ExitKilled = 128 + int(unix.SIGKILL)
)

// Errors returned by Start and the Process methods.
var (
	ErrEmptyArgv   = errors.New("procexec: command must not be empty")
	ErrNoOnOutput  = errors.New("procexec: Spec.Stream requires Spec.OnOutput")
	ErrNoStdin     = errors.New("procexec: stdin is not open for writing")
	ErrStdinClosed = errors.New("procexec: stdin is closed")
	ErrNotTTY      = errors.New("procexec: process has no terminal")
	ErrFinished    = errors.New("procexec: process has finished")
)

// Spec describes one command. The zero value of every optional field is a
// usable default.
type Spec struct {
	// Argv is the command and its arguments; it must not be empty. A name
	// without a slash is looked up in the PATH of Env, or in the server's
	// PATH if Env has none (as Rust's Command does).
	Argv []string
	// Dir is the working directory; "" inherits the server's.
	Dir string
	// Env is the complete environment of the child; nil is an empty one.
	// The caller merges overrides into the server's environment.
	Env []string
	// TTY runs the command on a new pseudo-terminal: stdin, stdout and
	// stderr are the terminal, output is reported as "stdout" with the
	// terminal's CRLF line ends, and Write, CloseStdin and Resize work
	// whatever Stdin says.
	TTY bool
	// Rows and Cols are the initial terminal size; 0 means 24 rows or 80
	// columns.
	Rows, Cols uint16
	// Isolate, if set, adjusts the child's process attributes before it
	// starts: the sandbox's namespaces (sandbox.Isolation.SysProcAttr).
	Isolate func(*syscall.SysProcAttr)
	// Stdin keeps a pipe to the child's stdin open for Write and CloseStdin.
	// Without it (and without TTY) the child's stdin is /dev/null.
	Stdin bool
	// Stream delivers output through OnOutput instead of buffering it into
	// the Result.
	Stream bool
	// OutputCap is the per-stream byte cap: 0 means DefaultOutputCap,
	// NoOutput keeps nothing (each stream is reported capped at once), a
	// negative value means no cap.
	OutputCap int64
	// Timeout kills the process group and reports ExitTimedOut once it
	// expires; 0 means no timeout.
	Timeout time.Duration
	// DrainTimeout bounds the wait for output after the leader has exited
	// (a background child may hold the pipes); 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// OnOutput receives streamed output when Stream is set: stream is
	// "stdout" or "stderr", chunk holds 1 to MaxChunk bytes and is valid only
	// during the call, and capReached is true on the chunk that reaches
	// OutputCap, the stream's last. It is called from one goroutine per
	// stream, in order, and every call returns before Wait does. It must not
	// block for long (the child stalls on a full pipe meanwhile) and must not
	// call Wait.
	OnOutput func(stream string, chunk []byte, capReached bool)
}

// Result is the outcome of a process, returned by Wait.
type Result struct {
	// ExitCode is the exit status, 128+N after death by signal N,
	// ExitTimedOut after a timeout and ExitKilled after Terminate or
	// cancellation.
	ExitCode int
	// Stdout and Stderr hold the output when it was not streamed, cut at
	// the cap (on a TTY everything is in Stdout).
	Stdout, Stderr []byte
	// StdoutCapReached and StderrCapReached report that the stream reached
	// its cap, streamed or not.
	StdoutCapReached, StderrCapReached bool
	// TimedOut reports that Spec.Timeout expired.
	TimedOut bool
	// OutputDrainTimedOut reports that a stream had neither reached EOF nor
	// its cap when Spec.DrainTimeout expired after the leader's exit.
	OutputDrainTimedOut bool
	// Duration runs from Start until Wait observed the leader's exit.
	Duration time.Duration
}

type killReason uint8

const (
	notKilled killReason = iota
	killedTimeout
	killedTerminate
	killedCancel
)

// Process is a started command. Its methods are safe for concurrent use.
type Process struct {
	pid          int
	start        time.Time
	tty          bool
	drainTimeout time.Duration

	pidfd *os.File // nil without pidfd support
	stdin *os.File // pipe write end or the pty master; nil without stdin
	ptmx  *os.File // pty master (also stdin and the reader's file); nil without TTY

	stdinClosed atomic.Bool

	streams  [2]stream
	nstreams int
	pending  atomic.Int32  // streams still reading
	drained  chan struct{} // closed when pending reaches 0

	timer   *time.Timer
	stopCtx func() bool

	mu     sync.Mutex
	reaped bool // the leader's pid is released: no more signals to its group
	swept  bool // the session has been swept once
	reason killReason

	once sync.Once
	res  Result
}

// devNull is a read-only /dev/null shared by every child without stdin, so a
// spawn costs no extra open and close. A failed open (EMFILE) is retried by
// the next spawn rather than remembered.
var devNull struct {
	sync.Mutex
	fd   int
	open bool
}

func devNullFD() (int, error) {
	devNull.Lock()
	defer devNull.Unlock()
	if !devNull.open {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: "/dev/null", Err: err}
		}
		devNull.fd, devNull.open = fd, true
	}
	return devNull.fd, nil
}

// Start starts spec.Argv. Spawn failures come back here with the OS error
// (an *os.PathError: op "exec" with ENOENT, EACCES, ENOEXEC..., or op
// "chdir" for a bad Dir); a context that is already done returns its error.
// Cancelling ctx later kills the process group (ExitKilled).
//
// The leader gets PR_SET_PDEATHSIG=SIGKILL, which the kernel ties to the
// forking OS thread: do not call Start from a goroutine locked to its thread
// (runtime.LockOSThread) that may exit while the child runs.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, ErrEmptyArgv
	}
	if spec.Stream && spec.OnOutput == nil {
		return nil, ErrNoOnOutput
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := lookPath(spec.Argv[0], spec.Env, spec.Dir)
	if err != nil {
		return nil, err
	}

	p := &Process{tty: spec.TTY, drainTimeout: spec.DrainTimeout}
	if p.drainTimeout <= 0 {
		p.drainTimeout = DefaultDrainTimeout
	}
	capBytes := spec.OutputCap
	switch capBytes {
	case 0:
		capBytes = DefaultOutputCap
	case NoOutput:
		capBytes = 0
	}
	var onOutput func(string, []byte, bool)
	if spec.Stream {
		onOutput = spec.OnOutput
	}

	// Child descriptors, closed in the parent once the child has them.
	var childFDs [3]int
	nchild := 0
	var parentFiles [3]*os.File
	nparent := 0
	fail := func(err error) (*Process, error) {
		for _, fd := range childFDs[:nchild] {
			_ = unix.Close(fd)
		}
		for _, f := range parentFiles[:nparent] {
			_ = f.Close()
		}
		return nil, err
	}

	var files [3]uintptr
	if spec.TTY {
		ptmx, slaveFD, err := openPTY(spec.Rows, spec.Cols)
		if err != nil {
			return fail(err)
		}
		childFDs[0], nchild = slaveFD, 1
		parentFiles[0], nparent = ptmx, 1
		files = [3]uintptr{uintptr(slaveFD), uintptr(slaveFD), uintptr(slaveFD)}
		p.ptmx, p.stdin = ptmx, ptmx
		p.streams[0] = stream{p: p, name: "stdout", f: ptmx, left: capBytes, onOutput: onOutput}
		p.nstreams = 1
	} else {
		if spec.Stdin {
			w, r, err := pipe(false)
			if err != nil {
				return fail(err)
			}
			childFDs[nchild], nchild = r, nchild+1
			parentFiles[nparent], nparent = w, nparent+1
			files[0], p.stdin = uintptr(r), w
		} else {
			fd, err := devNullFD()
			if err != nil {
				return fail(err)
			}
			files[0] = uintptr(fd)
		}
		for i, name := range [2]string{"stdout", "stderr"} {
			r, w, err := pipe(true)
			if err != nil {
				return fail(err)
			}
			childFDs[nchild], nchild = w, nchild+1
			parentFiles[nparent], nparent = r, nparent+1
			files[1+i] = uintptr(w)
			p.streams[i] = stream{p: p, name: name, f: r, left: capBytes, onOutput: onOutput}
		}
		p.nstreams = 2
	}

	pidfd := -1
	sys := &syscall.SysProcAttr{
		// A new session: its own process group (pgid = pid) and, without a
		// TTY, no controlling terminal, so a child cannot read or write the
		// terminal the server may have been started from.
		Setsid:    true,
		Setctty:   spec.TTY,
		Ctty:      0, // child fd 0, the pty slave
		Pdeathsig: syscall.SIGKILL,
		PidFD:     &pidfd,
	}
	if spec.Isolate != nil {
		spec.Isolate(sys)
	}
	start := time.Now()
	pid, err := syscall.ForkExec(path, spec.Argv, &syscall.ProcAttr{
		Dir:   spec.Dir,
		Env:   spec.Env,
		Files: files[:],
		Sys:   sys,
	})
	for _, fd := range childFDs[:nchild] {
		_ = unix.Close(fd)
	}
	nchild = 0
	if err != nil {
		return fail(spawnError(path, spec.Dir, err))
	}
	p.pid, p.start = pid, start
	if pidfd >= 0 {
		if unix.SetNonblock(pidfd, true) == nil {
			p.pidfd = os.NewFile(uintptr(pidfd), "pidfd")
		} else {
			_ = unix.Close(pidfd)
		}
	}

	p.drained = make(chan struct{})
	p.pending.Store(int32(p.nstreams))
	for i := range p.nstreams {
		go p.streams[i].run()
	}
	if spec.Timeout > 0 {
		p.timer = time.AfterFunc(spec.Timeout, func() { p.kill(killedTimeout) })
	}
	if ctx.Done() != nil {
		p.stopCtx = context.AfterFunc(ctx, func() { p.kill(killedCancel) })
	}
	return p, nil
}

// openPTY opens a pseudo-terminal of the given size. The master comes back
// non-blocking and registered with the netpoller (so Close interrupts a
// pending Read or Write); the slave is a plain blocking descriptor for the
// child.
func openPTY(rows, cols uint16) (master *os.File, slave int, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, -1, err
	}
	defer func() {
		_ = m.Close()
		_ = s.Close()
	}()
	if rows == 0 {
		rows = 24
	}
	if cols == 0 {
		cols = 80
	}
	// pty.Open has put m in blocking mode (its ioctls use Fd), and pty.Setsize
	// would do the same to any file we give it; so use ioctls on our own
	// duplicates instead.
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		return nil, -1, os.NewSyscallError("ioctl(TIOCSWINSZ)", err)
	}
	mfd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(mfd, true); err != nil {
		_ = unix.Close(mfd)
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	sfd, err := unix.FcntlInt(s.Fd(), unix.F_DUPFD_CLOEXEC, 0) // s.Fd made it blocking
	if err != nil {
		_ = unix.Close(mfd)
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(mfd), "/dev/ptmx"), sfd, nil
}

// pipe makes a pipe whose parent end is non-blocking and registered with the
// netpoller and whose child end is blocking, as programs expect of their
// stdio. Both are close-on-exec; ForkExec dup2s the child end into place.
func pipe(parentReads bool) (parent *os.File, child int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, -1, os.NewSyscallError("pipe2", err)
	}
	pfd, cfd := fds[1], fds[0]
	if parentReads {
		pfd, cfd = fds[0], fds[1]
	}
	if err := unix.SetNonblock(pfd, true); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(pfd), "|pipe"), cfd, nil
}

// Pid returns the leader's process id, which is also its process group and
// session id.
func (p *Process) Pid() int { return p.pid }

// Write writes b to the child's stdin (or its terminal). It returns
// ErrNoStdin if the process was started without Stdin or TTY, and
// ErrStdinClosed after CloseStdin or Wait. A Write blocked on a full pipe
// returns when the child reads, when it and anything holding its stdin have
// exited (EPIPE), or when Wait finishes; it never outlives the process.
func (p *Process) Write(b []byte) error {
	if p.stdin == nil {
		return ErrNoStdin
	}
	if p.stdinClosed.Load() {
		return ErrStdinClosed
	}
	_, err := p.stdin.Write(b)
	if errors.Is(err, os.ErrClosed) {
		return ErrStdinClosed
	}
	return err
}

// CloseStdin closes the child's stdin: the pipe is closed, so the child reads
// EOF. On a TTY the terminal must stay open for output, so CloseStdin types
// the terminal's EOF character (VEOF, ^D) once instead: in canonical mode a
// reader at the start of a line sees EOF (after a partial line it only ends
// that line); a program in raw mode just receives the byte. Later Writes
// return ErrStdinClosed. CloseStdin is idempotent and returns ErrNoStdin only
// if there was never a stdin.
func (p *Process) CloseStdin() error {
	if p.stdin == nil {
		return ErrNoStdin
	}
	if !p.stdinClosed.CompareAndSwap(false, true) {
		return nil
	}
	if !p.tty {
		if err := p.stdin.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			return err
		}
		return nil
	}
	eof := byte(4) // ^D
	if rc, err := p.ptmx.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			// Termios ioctls on a Linux pty master act on the slave's settings.
			if t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS); err == nil && t.Cc[unix.VEOF] != 0 {
				eof = t.Cc[unix.VEOF]
			}
		})
	}
	_, err := p.ptmx.Write([]byte{eof})
	if err != nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, unix.EIO) {
		return err
	}
	return nil
}

// Resize sets the terminal size; the kernel sends SIGWINCH to the
// terminal's foreground process group. It returns ErrNotTTY without a TTY
// and ErrFinished once the terminal is closed.
func (p *Process) Resize(rows, cols uint16) error {
	if !p.tty {
		return ErrNotTTY
	}
	rc, err := p.ptmx.SyscallConn()
	if err != nil {
		return ErrFinished
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); err != nil {
		return ErrFinished // the only error Control returns is a closed file
	}
	if ierr != nil {
		return os.NewSyscallError("ioctl(TIOCSWINSZ)", ierr)
	}
	return nil
}

// Terminate kills the whole process group with SIGKILL now, and sweeps its
// session. The Result reports ExitKilled, even if the leader had already
// exited, unless a timeout or cancellation came first. It is safe to call at
// any time and any number of times; after Wait has returned it does nothing.
func (p *Process) Terminate() { p.kill(killedTerminate) }

// kill records why the process is being killed and SIGKILLs its group and
// session. A timeout that fires after the leader has exited is ignored.
func (p *Process) kill(why killReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return // the pid may belong to someone else now
	}
	if why == killedTimeout && p.leaderExited() {
		return
	}
	if p.reason == notKilled {
		p.reason = why
	}
	_ = unix.Kill(-p.pid, unix.SIGKILL)
	p.sweepLocked()
}

// sweepLocked kills the members of the session that left the process group.
// Once is enough: everything found is dead and cannot fork again. p.mu must
// be held and the leader not reaped.
func (p *Process) sweepLocked() {
	if !p.swept {
		p.swept = true
		sweepSession(p.pid)
	}
}

// leaderExited reports whether the leader has exited, without reaping it.
func (p *Process) leaderExited() bool {
	var info unix.Siginfo
	var err error
	for {
		if p.pidfd != nil {
			err = errors.New("closed")
			if rc, rerr := p.pidfd.SyscallConn(); rerr == nil {
				_ = rc.Control(func(fd uintptr) {
					err = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
				})
			}
		} else {
			err = unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
		}
		if err != unix.EINTR {
			break
		}
	}
	return err == nil && info.Signo != 0
}

// awaitExit blocks until the leader has exited, leaving it unreaped (a
// zombie) so that its pid, and so its group and session ids, stay ours.
// With a pidfd the wait parks the goroutine in the netpoller instead of
// holding an OS thread in waitid.
func (p *Process) awaitExit() error {
	if p.pidfd != nil {
		if rc, err := p.pidfd.SyscallConn(); err == nil {
			var werr error
			err = rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo
				for {
					werr = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
					if werr != unix.EINTR {
						break
					}
				}
				if werr == unix.EAGAIN { // a non-blocking pidfd whose process runs
					werr = nil
					return false
				}
				return werr != nil || info.Signo != 0
			})
			if err == nil {
				return werr
			}
			// Not pollable after all: fall back to a blocking wait.
		}
	}
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// Wait waits for the leader to exit and its output to be delivered, kills
// whatever is left of its process group, reaps it and returns the Result.
// All OnOutput calls have returned before Wait returns. Wait may be called
// any number of times from any goroutine; every call returns the same
// Result.
func (p *Process) Wait() Result {
	p.once.Do(p.finish)
	return p.res
}

func (p *Process) finish() {
	werr := p.awaitExit()
	duration := time.Since(p.start)
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.stopCtx != nil {
		p.stopCtx()
	}

	drainTimedOut := false
	select {
	case <-p.drained:
	default:
		t := time.NewTimer(p.drainTimeout)
		select {
		case <-p.drained:
		case <-t.C:
			drainTimedOut = true
		}
		t.Stop()
	}

	// Anything left in the group goes now, while the zombie leader still
	// pins the group id. A drain timeout is a forceful end: sweep the
	// session too. If waiting failed (ECHILD: someone else reaped the
	// leader, say with SIGCHLD ignored) the ids may not be ours any more.
	p.mu.Lock()
	if werr == nil {
		_ = unix.Kill(-p.pid, unix.SIGKILL)
		if drainTimedOut {
			p.sweepLocked()
		}
	} else {
		p.reaped = true
	}
	p.mu.Unlock()
	if drainTimedOut {
		// Something outside our reach (an escaped descendant) holds the
		// output open: stop reading.
		for i := range p.nstreams {
			_ = p.streams[i].f.Close()
		}
		<-p.drained
	}

	var ws unix.WaitStatus
	rerr := werr
	p.mu.Lock()
	if werr == nil {
		for {
			_, rerr = unix.Wait4(p.pid, &ws, 0, nil) // a zombie: does not block
			if rerr != unix.EINTR {
				break
			}
		}
	}
	p.reaped = true
	reason := p.reason
	p.mu.Unlock()

	if p.pidfd != nil {
		_ = p.pidfd.Close()
	}
	if p.stdin != nil {
		p.stdinClosed.Store(true)
		_ = p.stdin.Close()
	}

	res := Result{Duration: duration, OutputDrainTimedOut: drainTimedOut}
	switch {
	case rerr != nil:
		res.ExitCode = -1
	case ws.Exited():
		res.ExitCode = ws.ExitStatus()
	case ws.Signaled():
		res.ExitCode = 128 + int(ws.Signal())
	default:
		res.ExitCode = -1
	}
	switch reason {
	case killedTimeout:
		res.ExitCode, res.TimedOut = ExitTimedOut, true
	case killedTerminate, killedCancel:
		res.ExitCode = ExitKilled
	}
	out := &p.streams[0]
	res.Stdout, res.StdoutCapReached = out.out, out.capReached
	if p.nstreams > 1 {
		errs := &p.streams[1]
		res.Stderr, res.StderrCapReached = errs.out, errs.capReached
	}
	p.res = res
}

// streamDone is called by each reader as it ends.
func (p *Process) streamDone() {
	if p.pending.Add(-1) == 0 {
		close(p.drained)
	}
}
