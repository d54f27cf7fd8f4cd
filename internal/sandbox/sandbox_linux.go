//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// abiConfigs[v-1] is go-landlock's configuration for Landlock ABI v: it
// handles every access right that ABI knows, so whatever a rule does not
// grant is denied.
var abiConfigs = []landlock.Config{
	landlock.V1, landlock.V2, landlock.V3, landlock.V4, landlock.V5, landlock.V6,
	landlock.V7, landlock.V8, landlock.V9, landlock.V10, landlock.V11,
}

// Probe reports what the running kernel can enforce. It makes three system
// calls and no allocation worth mentioning; the helper calls it on every
// start.
func Probe() Support {
	var s Support
	_, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	s.Seccomp = err == nil
	v, err := ll.LandlockGetABIVersion()
	switch {
	case errors.Is(err, unix.ENOSYS):
		s.Reason = "Landlock is not available on this kernel (requires Linux 5.13 with CONFIG_SECURITY_LANDLOCK; a container's seccomp profile can also hide it)"
	case errors.Is(err, unix.EOPNOTSUPP):
		s.Reason = "Landlock is disabled on this kernel (add landlock to the lsm= boot parameter)"
	case err != nil:
		s.Reason = "cannot probe Landlock: " + err.Error()
	case v <= 0:
		s.Reason = "Landlock is not available on this kernel"
	default:
		// As go-landlock does (its strict mode must agree with us): a
		// kernel without the fix for the signal scoping bug counts as
		// ABI 5.
		if v >= abiScopes {
			if errata, err := ll.LandlockGetErrata(); err != nil || errata&0x2 == 0 {
				v = abiIoctlDev
			}
		}
		s.ABI = min(v, len(abiConfigs))
	}
	return s
}

// Main is the sandbox helper: args are what follows HelperArg on its
// command line, "<policy JSON> -- command [args...]". It confines the
// whole process, then replaces itself with the command, found on the PATH
// of its environment. It returns only on failure, with ExitCannotRun or
// ExitNotFound after printing "appserver sandbox: <reason>" to stderr; it
// never executes the command unconfined. "--protocol" alone prints
// HelperProtocol (see FindHelper).
func Main(args []string) int {
	if len(args) == 1 && args[0] == "--protocol" {
		fmt.Println(HelperProtocol)
		return 0
	}
	if len(args) > 0 && args[0] == "--probe-isolation" {
		return probeIsolation(args[1:])
	}
	// <policy> [isolation flags] -- command [args...]
	sep := slices.Index(args, "--")
	if len(args) < 3 || sep < 1 || sep == len(args)-1 {
		return fail(ExitCannotRun, "usage: %s <policy> [--from-ns=MNT:USER --hide=DEV:INO:PATH...] -- command [args...]", HelperArg)
	}
	isoFlags := args[1:sep]
	args = append([]string{args[0], "--"}, args[sep+1:]...)
	p, err := ParsePolicy(json.RawMessage(args[0]))
	if err != nil {
		return fail(ExitCannotRun, "bad policy argument: %v", err)
	}
	if p.Kind == DangerFullAccess {
		return fail(ExitCannotRun, "refusing policy dangerFullAccess: the helper only runs confined commands")
	}
	argv := args[2:]
	env, err := targetEnv(os.Environ())
	if err != nil {
		return fail(ExitCannotRun, "%v", err)
	}
	s := Probe()
	if err := p.Check(s); err != nil {
		return fail(ExitCannotRun, "%v", err)
	}

	// The capabilities and the seccomp filter are per thread, so the
	// thread that sets them up must be the one that executes the target.
	// It is never unlocked: if Exec fails the process exits.
	runtime.LockOSThread()
	// Mounts first: they need the capabilities the new user namespace
	// gave this process, which confine then drops for good.
	if err := isolate(isoFlags); err != nil {
		return fail(ExitCannotRun, "%v", err)
	}
	if err := confine(p, s, env); err != nil {
		return fail(ExitCannotRun, "%v", err)
	}
	path, code, err := lookPath(argv[0], env)
	if err != nil {
		return fail(code, "%s: %v", argv[0], err)
	}
	// Only 0-2 go to the command: a descriptor the server inherited
	// without close-on-exec (from the shell or service manager that
	// started it) could be a socket or file the sandbox would not let the
	// command open.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail(ExitCannotRun, "closing inherited descriptors: %v", err)
	}
	err = syscall.Exec(path, argv, env)
	code = ExitCannotRun
	if errors.Is(err, syscall.ENOENT) {
		code = ExitNotFound
	}
	return fail(code, "%s: %s", argv[0], errnoText(err))
}

// confine applies p to the process: no capabilities for the target, then
// Landlock on every thread (which sets no_new_privs), then the seccomp
// filters (network, resource limits) on this thread.
func confine(p Policy, s Support, env []string) error {
	if err := dropCapabilities(); err != nil {
		return err
	}
	cfg, rules, err := landlockRules(p, s, env)
	if err != nil {
		return err
	}
	// Strict mode: the configuration is what this ABI can enforce, and
	// any shortfall is an error, never a silent downgrade.
	if err := cfg.Restrict(rules...); err != nil {
		return fmt.Errorf("applying Landlock: %w", err)
	}
	if !p.NetworkAccess {
		if err := installNetFilter(); err != nil {
			return err
		}
	}
	// Where seccomp exists, also keep the command from lowering the
	// server's resource limits (Landlock does not cover prlimit).
	if s.Seccomp && haveMPTCPFilter {
		if err := installLimitFilter(); err != nil {
			return err
		}
	}
	return nil
}

// Filesystem access rights, by use.
const (
	accRead      = ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSReadDir
	accDevice    = ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSTruncate
	accTerminal  = ll.AccessFSIoctlDev
	accFileWrite = ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSTruncate
)

// landlockRules builds the configuration and rules for p on ABI s.ABI.
func landlockRules(p Policy, s Support, env []string) (landlock.Config, []landlock.Rule, error) {
	cfg := abiConfigs[s.ABI-1]
	if p.NetworkAccess {
		cfg.HandledAccessNet = 0
	}
	// Signals are scoped always: a confined command may signal its own
	// descendants, not the server or the user's other processes. Abstract
	// unix sockets, which have no file to guard them, are scoped when the
	// network is off: they lead to services outside the sandbox as
	// surely as a TCP port does.
	scoped := landlock.ScopedSet(ll.ScopeSignal)
	if !p.NetworkAccess {
		scoped |= ll.ScopeAbstractUnixSocket
	}
	cfg.Scoped &= scoped

	handled := cfg.HandledAccessFS
	has := func(a landlock.AccessFSSet) landlock.AccessFSSet { return handled & a }
	rules := []landlock.Rule{
		// Read and execute everywhere. Connecting to pathname unix
		// sockets (ABI 9) stays allowed: their file modes guard them,
		// and the C library's name service needs them.
		landlock.PathAccess(has(accRead|ll.AccessFSResolveUnix), "/"),
		// The bit buckets a read-only shell still writes.
		landlock.PathAccess(has(accDevice), "/dev/null", "/dev/zero", "/dev/full").IgnoreIfMissing(),
		// The controlling terminal, whichever it is: /dev/tty cannot
		// name any other. Device ioctls (ABI 5) are for TCGETS, TCSETS,
		// TIOCGWINSZ and TIOCSWINSZ on a /dev/tty opened inside; no other
		// device gets them (a command must not drive a disk or an input
		// device it can open for reading).
		landlock.PathAccess(has(accDevice|accTerminal), "/dev/tty").IgnoreIfMissing(),
	}
	// The terminal the server gave the command on fds 0-2, by its own
	// name, for programs that reopen it (tty(1), ttyname(3)). Not the
	// rest of /dev/pts: those are the user's other terminals.
	if ttys := inheritedTerminals(); len(ttys) > 0 {
		rules = append(rules, landlock.PathAccess(has(accDevice|accTerminal), ttys...).IgnoreIfMissing())
	}
	if p.Kind == WorkspaceWrite {
		for _, root := range writableRoots(p, env) {
			fi, err := os.Stat(root)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue // Nothing to write under; granting nothing is safe.
			}
			if err != nil {
				return cfg, nil, fmt.Errorf("writable root: %w", err)
			}
			if fi.IsDir() {
				// Everything, "refer" included so that renames
				// between directories of the workspace work.
				rules = append(rules, landlock.PathAccess(handled&^ll.AccessFSIoctlDev, root))
			} else {
				rules = append(rules, landlock.PathAccess(has(accFileWrite), root))
			}
		}
	}
	return cfg, rules, nil
}

// inheritedTerminals returns the device paths of the terminals on fds 0-2.
func inheritedTerminals() []string {
	var ttys []string
	for fd := range 3 {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			continue
		}
		name, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil || !strings.HasPrefix(name, "/dev/") {
			continue
		}
		ttys = append(ttys, name)
	}
	return ttys
}

// writableRoots lists the roots WorkspaceWrite may write under.
func writableRoots(p Policy, env []string) []string {
	roots := append([]string(nil), p.WritableRoots...)
	if !p.ExcludeSlashTmp {
		roots = append(roots, "/tmp")
	}
	if !p.ExcludeTmpdirEnvVar {
		if dir, ok := getenv(env, "TMPDIR"); ok && filepath.IsAbs(dir) {
			roots = append(roots, dir)
		}
	}
	return roots
}

// dropCapabilities makes sure the target runs with no capabilities, even
// as root: a root process with CAP_SYS_MODULE or CAP_SYS_BOOT would not be
// sandboxed by file rules. It clears this thread's capability sets; once
// no_new_privs is set, execve cannot raise them again (not even for root
// or a file with capabilities). The bounding set is emptied too where
// allowed, belt and braces.
func dropCapabilities() error {
	for c := 0; ; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err != nil {
			// EINVAL: past the last capability. EPERM: no
			// CAP_SETPCAP, so the bounding set stays; clearing
			// the sets below is what counts.
			break
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	return nil
}

// lookPath finds name as execvp(3) would, on PATH from env (or a default
// PATH if it has none). A name with a slash is used as it is.
func lookPath(name string, env []string) (string, int, error) {
	if strings.Contains(name, "/") {
		return name, 0, nil
	}
	path, ok := getenv(env, "PATH")
	if !ok {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	denied := false
	if name != "" {
		for _, dir := range filepath.SplitList(path) {
			if dir == "" {
				dir = "."
			}
			file := dir + "/" + name
			fi, err := os.Stat(file)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if unix.Access(file, unix.X_OK) != nil {
				denied = true
				continue
			}
			return file, 0, nil
		}
	}
	if denied {
		return "", ExitCannotRun, errors.New("Permission denied")
	}
	return "", ExitNotFound, errors.New("command not found")
}

// errnoText spells an exec error as a shell does ("Permission denied").
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg := errno.Error()
		if msg != "" {
			return strings.ToUpper(msg[:1]) + msg[1:]
		}
	}
	return err.Error()
}
