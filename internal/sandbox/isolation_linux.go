package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Isolation hides the server's private files (its state directory, token
// and key files, its unix socket) from sandboxed commands. Landlock can
// only grant access, and a sandbox that reads everything would otherwise
// read the server's credentials and could drive the server with them. An
// isolated command starts in new user and mount namespaces (see
// SysProcAttr), where the helper mounts an empty read-only tmpfs over
// each hidden directory and /dev/null over each hidden file before it
// confines itself; the command, without capabilities and under Landlock,
// cannot undo the mounts.
type Isolation struct {
	hide []string
	// The server's mount and user namespaces, which the helper must not
	// be in: only a mount namespace owned by a new user namespace turns
	// the mounts it copied into slaves, so that what the helper mounts
	// cannot propagate back to the server's.
	mntNS, userNS uint64
	uid, gid      int
}

// NewIsolation returns an Isolation hiding paths (missing ones are
// skipped; symlinks are resolved now, so the mounts cover the real
// files). It fails when this system cannot create the namespaces:
// unprivileged user namespaces are off in some distributions and
// containers. The caller then runs commands without it, and should say so.
func NewIsolation(helper string, paths []string) (*Isolation, error) {
	mnt, user, err := namespaces()
	if err != nil {
		return nil, err
	}
	iso := &Isolation{mntNS: mnt, userNS: user, uid: os.Getuid(), gid: os.Getgid()}
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		} else if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if !slices.Contains(iso.hide, abs) {
			iso.hide = append(iso.hide, abs)
		}
	}
	if len(iso.hide) == 0 {
		return nil, errors.New("nothing to hide")
	}
	if err := iso.probe(helper); err != nil {
		return nil, err
	}
	return iso, nil
}

// Hidden returns the paths hidden from sandboxed commands.
func (iso *Isolation) Hidden() []string { return slices.Clone(iso.hide) }

// Command is the package's Command for an isolated server: the argv, and
// whether the command must start with SysProcAttr's namespaces. A nil
// Isolation, or DangerFullAccess, isolates nothing.
func (iso *Isolation) Command(helper string, p Policy, argv []string) ([]string, bool, error) {
	full, err := Command(helper, p, argv)
	if err != nil || iso == nil || p.Kind == DangerFullAccess {
		return full, false, err
	}
	// helper HelperArg POLICY [isolation flags] -- argv
	out := make([]string, 0, len(full)+len(iso.hide)+1)
	out = append(out, full[:3]...)
	out = append(out, iso.flags()...)
	out = append(out, full[3:]...)
	return out, true, nil
}

// namespaces returns the inode numbers of this process's mount and user
// namespaces.
func namespaces() (mnt, user uint64, err error) {
	var m, u unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &m); err != nil {
		return 0, 0, fmt.Errorf("reading the mount namespace: %w", err)
	}
	if err := unix.Stat("/proc/self/ns/user", &u); err != nil {
		return 0, 0, fmt.Errorf("reading the user namespace: %w", err)
	}
	return m.Ino, u.Ino, nil
}

func (iso *Isolation) flags() []string {
	f := []string{"--from-ns=" + strconv.FormatUint(iso.mntNS, 10) + ":" + strconv.FormatUint(iso.userNS, 10)}
	for _, h := range iso.hide {
		f = append(f, "--hide="+h)
	}
	return f
}

// SysProcAttr sets the namespaces an isolated command starts in: a new
// user namespace mapping only the server's own uid and gid to themselves
// (the command keeps its identity), and a new mount namespace.
func (iso *Isolation) SysProcAttr(sys *syscall.SysProcAttr) {
	sys.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
	sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: iso.uid, HostID: iso.uid, Size: 1}}
	sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: iso.gid, HostID: iso.gid, Size: 1}}
	sys.GidMappingsEnableSetgroups = false
	// A non-root user keeps no capability across the helper's execve; as
	// an ambient capability CAP_SYS_ADMIN (over the new namespaces only)
	// survives it, for the mounts. The helper drops it, with every other
	// capability, before it runs the command.
	sys.AmbientCaps = append(sys.AmbientCaps, unix.CAP_SYS_ADMIN)
}

// probe starts the helper isolated once, hiding a directory made for the
// purpose, and checks that it was hidden.
func (iso *Isolation) probe(helper string) error {
	dir, err := os.MkdirTemp("", "appserver-isolation-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "visible"), []byte("x"), 0o600); err != nil {
		return err
	}
	probe := &Isolation{hide: []string{dir}, mntNS: iso.mntNS, userNS: iso.userNS, uid: iso.uid, gid: iso.gid}
	argv := append([]string{helper, HelperArg, "--probe-isolation"}, probe.flags()...)
	attr := &syscall.SysProcAttr{}
	probe.SysProcAttr(attr)
	pid, err := syscall.ForkExec(helper, argv, &syscall.ProcAttr{Env: []string{}, Files: []uintptr{0, 1, 2}, Sys: attr})
	if err != nil {
		return fmt.Errorf("starting a command in new user and mount namespaces: %w", err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return err
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("the isolation probe failed (%v)", ws)
	}
	return nil
}

// isolate applies the isolation flags of the helper's command line: it
// refuses to mount anything unless it is in new mount and user namespaces
// (see Isolation), then covers each hidden path.
func isolate(flags []string) error {
	var fromMnt, fromUser uint64
	var hide []string
	for _, f := range flags {
		switch {
		case strings.HasPrefix(f, "--from-ns="):
			m, u, ok := strings.Cut(strings.TrimPrefix(f, "--from-ns="), ":")
			var err1, err2 error
			fromMnt, err1 = strconv.ParseUint(m, 10, 64)
			fromUser, err2 = strconv.ParseUint(u, 10, 64)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("bad %s", f)
			}
		case strings.HasPrefix(f, "--hide="):
			p := strings.TrimPrefix(f, "--hide=")
			if !filepath.IsAbs(p) {
				return fmt.Errorf("bad %s: not an absolute path", f)
			}
			hide = append(hide, p)
		default:
			return fmt.Errorf("unknown isolation flag %q", f)
		}
	}
	if len(hide) == 0 {
		return nil
	}
	mnt, user, err := namespaces()
	if err != nil {
		return err
	}
	if fromMnt == 0 || fromUser == 0 || mnt == fromMnt || user == fromUser {
		return errors.New("isolation asked for, but this is not a new mount and user namespace: refusing to mount over the server's files")
	}
	for _, p := range hide {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("hiding %s: %w", p, err)
		}
		var err error
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=000")
		} else {
			// A file or socket: reads find nothing, writes go nowhere.
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("hiding %s: %w", p, err)
		}
	}
	return nil
}

// probeIsolation is the helper's side of the probe: isolate, then check
// that the hidden directory shows nothing.
func probeIsolation(flags []string) int {
	if err := isolate(flags); err != nil {
		return fail(ExitCannotRun, "%v", err)
	}
	for _, f := range flags {
		if p, ok := strings.CutPrefix(f, "--hide="); ok {
			if _, err := os.Stat(filepath.Join(p, "visible")); err == nil {
				return fail(ExitCannotRun, "%s is still visible after isolation", p)
			}
		}
	}
	return 0
}
