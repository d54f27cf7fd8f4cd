package fsmethods

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxLinkHops bounds symlink chains, as the kernel does (ELOOP after 40).
const maxLinkHops = 40

// atomicWrite replaces the file at path with data so that a reader, or a
// crash, sees either the old content or the new one, never a mix:
//
//  1. a temporary file is created next to the target (same directory, so
//     same file system), with the target's mode and owner if it exists,
//     else 0666 minus the umask (what the reference's File::create gives);
//  2. data is written and fsynced, and the file closed;
//  3. it is renamed over the target (atomic on POSIX), and the directory
//     fsynced so that the rename itself survives a power cut.
//
// A symlink at path is followed (the link stays, its target is replaced),
// as the reference writes through links. Any failure removes the
// temporary file.
func (f *fsMethods) atomicWrite(path string, data []byte) error {
	target, err := followLinks(path)
	if err != nil {
		return osError(err)
	}
	// Everything below happens relative to one open descriptor of the
	// target's directory: a directory on the path swapped for a symlink
	// meanwhile cannot move the temporary file or the rename elsewhere,
	// and under workspace roots the directory is checked as opened.
	dir, base := filepath.Dir(target), filepath.Base(target)
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return osError(err)
	}
	defer d.Close()
	if err := f.checkOpened(d); err != nil {
		return err
	}
	dfd := int(d.Fd())
	perm := fs.FileMode(0o666)
	exists := false
	uid, gid := -1, -1
	var st unix.Stat_t
	err = unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil:
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			return osError(syscall.EISDIR)
		case unix.S_IFREG:
		default:
			// Renaming over a device or FIFO would replace it; writing
			// into one could block. Neither is a file write. (A symlink
			// here was swapped in after followLinks: not ours to follow.)
			return notAFile(path)
		}
		exists = true
		perm = fs.FileMode(st.Mode & 0o777)
		uid, gid = int(st.Uid), int(st.Gid)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return osError(err) // e.g. ENOTDIR: a parent is a file
	}

	tmp, tmpBase, err := createTempAt(d, base, perm)
	if err != nil {
		return osError(err)
	}
	tmpName := filepath.Join(dir, tmpBase)
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = unix.Unlinkat(dfd, tmpBase, 0)
		}
	}()
	if exists {
		// The create mode went through the umask; restore the exact mode,
		// and the owner when we may (root writing a user's file).
		if err := tmp.Chmod(perm); err != nil {
			return osError(err)
		}
		if st, ok := mustStat(tmp); ok && (int(st.Uid) != uid || int(st.Gid) != gid) {
			_ = tmp.Chown(uid, gid)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return osError(err)
	}
	if err := tmp.Sync(); err != nil {
		return osError(err)
	}
	if err := tmp.Close(); err != nil {
		_ = unix.Unlinkat(dfd, tmpBase, 0)
		done = true
		return osError(err)
	}
	if f.beforeRename != nil {
		if err := f.beforeRename(tmpName, target); err != nil {
			_ = unix.Unlinkat(dfd, tmpBase, 0)
			done = true
			return err
		}
	}
	if err := unix.Renameat(dfd, tmpBase, dfd, base); err != nil {
		_ = unix.Unlinkat(dfd, tmpBase, 0)
		done = true
		return osError(&fs.PathError{Op: "rename", Path: target, Err: err})
	}
	done = true
	// File systems that cannot fsync a directory (EINVAL, ENOTSUP) are
	// not an error.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		// The new content is in place; only its durability across a power
		// cut is in doubt. Failing the request would make the client
		// believe the write did not happen.
		f.logger.Warn("fs/writeFile: fsync of the directory failed", "dir", dir, "err", err)
	}
	return nil
}

func mustStat(f *os.File) (*syscall.Stat_t, bool) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// followLinks follows the symlink chain at path (the last component only;
// the kernel resolves the others) and returns where it ends, which may not
// exist yet (a dangling link is written through, as the reference does).
func followLinks(path string) (string, error) {
	for range maxLinkHops {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil // a missing path or a non-link: the caller decides
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = filepath.Clean(dest)
	}
	return "", &fs.PathError{Op: "open", Path: path, Err: syscall.ELOOP}
}

// tempPrefixMax keeps the temporary name under NAME_MAX (255 bytes).
const tempPrefixMax = 200

// tempMarker is in every temporary file's name: ".<name>.appserver-tmp-<n>".
const tempMarker = ".appserver-tmp-"

// createTempAt creates a new, exclusive file in the directory d for a
// write to base, and returns it with its name in d.
func createTempAt(d *os.File, base string, perm fs.FileMode) (*os.File, string, error) {
	if len(base) > tempPrefixMax {
		base = base[:tempPrefixMax]
	}
	for range 10 {
		name := "." + base + tempMarker + strconv.FormatUint(rand.Uint64(), 36)
		fd, err := unix.Openat(int(d.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, uint32(perm))
		if err == nil {
			return os.NewFile(uintptr(fd), filepath.Join(d.Name(), name)), name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, "", &fs.PathError{Op: "open", Path: filepath.Join(d.Name(), name), Err: err}
		}
	}
	return nil, "", &fs.PathError{Op: "open", Path: d.Name(), Err: syscall.EEXIST}
}
