package procexec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// lookPath resolves a command name without a slash as execvp would, in the
// PATH of the child's environment, falling back to the server's PATH when
// env has none (Rust's Command does the same, so the reference behaves
// alike). Relative PATH entries are taken relative to dir, where the child
// will run. Names with a slash are left to execve. The error is an
// *os.PathError with ENOENT, or EACCES if only non-executable candidates
// were found.
func lookPath(name string, env []string, dir string) (string, error) {
	if strings.IndexByte(name, '/') >= 0 {
		return name, nil
	}
	if name == "" {
		return "", &os.PathError{Op: "exec", Path: name, Err: unix.ENOENT}
	}
	path, ok := getenv(env, "PATH")
	if !ok {
		path = os.Getenv("PATH")
	}
	denied := false
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		cand := d + "/" + name
		check := cand
		if dir != "" && !filepath.IsAbs(cand) {
			check = filepath.Join(dir, cand)
		}
		var st unix.Stat_t
		if unix.Stat(check, &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue
		}
		if st.Mode&0o111 == 0 {
			denied = true
			continue
		}
		return cand, nil
	}
	if denied {
		return "", &os.PathError{Op: "exec", Path: name, Err: unix.EACCES}
	}
	return "", &os.PathError{Op: "exec", Path: name, Err: unix.ENOENT}
}

// getenv returns the last value of key in env, as the child's getenv would.
func getenv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key); ok && strings.HasPrefix(v, "=") {
			return v[1:], true
		}
	}
	return "", false
}

// spawnError turns a ForkExec errno into an *os.PathError naming what
// failed. The child reports only an errno, so a failure is blamed on dir
// when dir turns out to be unusable; the check runs only after a failure.
func spawnError(path, dir string, err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return &os.PathError{Op: "exec", Path: path, Err: err}
	}
	if dir != "" {
		var st unix.Stat_t
		if serr := unix.Stat(dir, &st); serr != nil {
			return &os.PathError{Op: "chdir", Path: dir, Err: serr}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return &os.PathError{Op: "chdir", Path: dir, Err: unix.ENOTDIR}
		}
		if errno == unix.EACCES && unix.Access(dir, unix.X_OK) != nil {
			return &os.PathError{Op: "chdir", Path: dir, Err: unix.EACCES}
		}
	}
	return &os.PathError{Op: "exec", Path: path, Err: errno}
}
