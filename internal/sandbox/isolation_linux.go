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
	hide []hidden
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
		if err != nil || slices.ContainsFunc(iso.hide, func(h hidden) bool { return h.path == abs }) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(abs, &st) != nil {
			continue // missing: nothing to hide
		}
		h := hidden{path: abs, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR}
		pin := abs
		if !h.dir {
			pin = filepath.Dir(abs)
		}
		if unix.Stat(pin, &st) != nil {
			continue
		}
		h.dev, h.ino = st.Dev, st.Ino
		iso.hide = append(iso.hide, h)
	}
	if len(iso.hide) == 0 {
		return nil, errors.New("nothing to hide")
	}
	if err := iso.probe(helper); err != nil {
		return nil, err
	}
	return iso, nil
}

// Hidden returns the paths hidden from sandboxed commands, as they
// resolve now.
func (iso *Isolation) Hidden() []string {
	targets, _ := iso.targets()
	var out []string
	for _, t := range targets {
		out = append(out, t.path)
	}
	return out
}

// Command is the package's Command for an isolated server: the argv, and
// whether the command must start with SysProcAttr's namespaces. A nil
// Isolation, or DangerFullAccess, isolates nothing.
func (iso *Isolation) Command(helper string, p Policy, argv []string) ([]string, bool, error) {
	full, err := Command(helper, p, argv)
	if err != nil || iso == nil || p.Kind == DangerFullAccess {
		return full, false, err
	}
	flags, err := iso.flags()
	if err != nil {
		return nil, false, err
	}
	// helper HelperArg POLICY [isolation flags] -- argv
	out := make([]string, 0, len(full)+len(flags))
	out = append(out, full[:3]...)
	out = append(out, flags...)
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

func (iso *Isolation) flags() ([]string, error) {
	targets, err := iso.targets()
	if err != nil {
		return nil, err
	}
	f := []string{"--from-ns=" + strconv.FormatUint(iso.mntNS, 10) + ":" + strconv.FormatUint(iso.userNS, 10)}
	for _, t := range targets {
		f = append(f, "--hide="+strconv.FormatUint(t.dev, 10)+":"+strconv.FormatUint(t.ino, 10)+":"+t.path)
	}
	return f, nil
}

// hidden is a path to hide as configured, with the identity (device and
// inode) it is pinned to: a directory's own, or a file's directory's. A
// file is resolved again for each command (a credential rotated by a
// symlink swap or a rename over it is hidden in its new place), but only
// inside the same directory; the directories are never followed
// elsewhere. Otherwise a command that renamed a parent and made a decoy
// in its place would have the next command hide the decoy and see the
// real thing.
type hidden struct {
	path     string
	dir      bool
	dev, ino uint64
}

// hideTarget is a hidden path as resolved for one command: where it is
// now, and which file that is.
type hideTarget struct {
	path     string
	dev, ino uint64
	dir      bool
}

// errMoved refuses sandboxed commands once a pinned directory moved.
var errMoved = errors.New("a directory the server hides from sandboxed commands is no longer where it was at start-up; refusing to run sandboxed commands until the server restarts")

// targets resolves the hidden paths for one command. Files that no longer
// exist are skipped; a pinned directory that moved is an error.
func (iso *Isolation) targets() ([]hideTarget, error) {
	var out []hideTarget
	for _, h := range iso.hide {
		var pin unix.Stat_t
		pinPath := h.path
		if !h.dir {
			pinPath = filepath.Dir(h.path)
		}
		if err := unix.Stat(pinPath, &pin); err != nil || pin.Dev != h.dev || pin.Ino != h.ino {
			return nil, errMoved
		}
		real, err := filepath.EvalSymlinks(h.path)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(real, &st) != nil {
			continue
		}
		if !slices.ContainsFunc(out, func(t hideTarget) bool { return t.path == real }) {
			out = append(out, hideTarget{path: real, dev: st.Dev, ino: st.Ino, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR})
		}
	}
	// What lies inside a hidden directory is hidden with it (and could not
	// be found under the mount to be hidden again).
	var dirs []string
	for _, t := range out {
		if t.dir {
			dirs = append(dirs, t.path+string(filepath.Separator))
		}
	}
	return slices.DeleteFunc(out, func(t hideTarget) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return strings.HasPrefix(t.path, d) })
	}), nil
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
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	probe := &Isolation{hide: []hidden{{path: dir, dir: true, dev: st.Dev, ino: st.Ino}},
		mntNS: iso.mntNS, userNS: iso.userNS, uid: iso.uid, gid: iso.gid}
	flags, err := probe.flags()
	if err != nil {
		return err
	}
	argv := append([]string{helper, HelperArg, "--probe-isolation"}, flags...)
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
// (see Isolation), then covers each hidden path, and refuses to go on if
// the command's working directory was inside one.
//
// Each path is opened without following a final symlink and checked to be
// the very file the server named (device and inode), and the mount goes
// onto that open file: a command that renamed a parent directory, or
// planted a symlink, since the server resolved the path can make the
// helper refuse, never mount elsewhere or skip a path.
func isolate(flags []string) error {
	var fromMnt, fromUser uint64
	var hide []hideTarget
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
			parts := strings.SplitN(strings.TrimPrefix(f, "--hide="), ":", 3)
			if len(parts) != 3 || !filepath.IsAbs(parts[2]) {
				return fmt.Errorf("bad %s", f)
			}
			dev, err1 := strconv.ParseUint(parts[0], 10, 64)
			ino, err2 := strconv.ParseUint(parts[1], 10, 64)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("bad %s", f)
			}
			hide = append(hide, hideTarget{path: parts[2], dev: dev, ino: ino})
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
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("reading the working directory: %w", err)
	}
	var before unix.Stat_t
	if err := unix.Stat(".", &before); err != nil {
		return fmt.Errorf("reading the working directory: %w", err)
	}
	for _, h := range hide {
		if err := cover(h); err != nil {
			return err
		}
	}
	// A working directory inside a hidden path would still reach what is
	// under the mount through relative paths: enter it again by name and
	// refuse unless it is the same directory.
	var after unix.Stat_t
	if unix.Chdir(cwd) != nil || unix.Stat(".", &after) != nil || after.Dev != before.Dev || after.Ino != before.Ino {
		return fmt.Errorf("the working directory %s lies in a path the server keeps from sandboxed commands", cwd)
	}
	return nil
}

// cover mounts an empty read-only tmpfs over a hidden directory, or
// /dev/null over a hidden file, after checking it is still that file.
func cover(h hideTarget) error {
	fd, err := unix.Open(h.path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("hiding %s: %w (it changed since the server looked; refusing to run)", h.path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("hiding %s: %w", h.path, err)
	}
	if st.Dev != h.dev || st.Ino != h.ino {
		return fmt.Errorf("hiding %s: it is not the file the server named any more; refusing to run", h.path)
	}
	target := "/proc/self/fd/" + strconv.Itoa(fd)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = unix.Mount("tmpfs", target, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=000")
	} else {
		// A file or socket: reads find nothing, writes go nowhere.
		err = unix.Mount("/dev/null", target, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("hiding %s: %w", h.path, err)
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
		if v, ok := strings.CutPrefix(f, "--hide="); ok {
			parts := strings.SplitN(v, ":", 3)
			p := parts[len(parts)-1]
			if _, err := os.Stat(filepath.Join(p, "visible")); err == nil {
				return fail(ExitCannotRun, "%s is still visible after isolation", p)
			}
		}
	}
	return 0
}
