package fsmethods

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
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
	perm := fs.FileMode(0o666)
	exists := false
	uid, gid := -1, -1
	fi, err := os.Lstat(target)
	switch {
	case err == nil:
		if fi.IsDir() {
			return osError(syscall.EISDIR)
		}
		if !fi.Mode().IsRegular() {
			// Renaming over a device or FIFO would replace it; writing
			// into one could block. Neither is a file write.
			return notAFile(path)
		}
		exists = true
		perm = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return osError(err) // e.g. ENOTDIR: a parent is a file
	}

	dir := filepath.Dir(target)
	tmp, err := createTemp(dir, filepath.Base(target), perm)
	if err != nil {
		return osError(err)
	}
	tmpName := tmp.Name()
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
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
		_ = os.Remove(tmpName)
		done = true
		return osError(err)
	}
	if f.beforeRename != nil {
		if err := f.beforeRename(tmpName, target); err != nil {
			_ = os.Remove(tmpName)
			done = true
			return err
		}
	}
	if err := os.Rename(tmpName, target); err != nil {
		_ = os.Remove(tmpName)
		done = true
		return osError(err)
	}
	done = true
	if err := syncDir(dir); err != nil {
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

// createTemp creates a new, exclusive file in dir for a write to base.
func createTemp(dir, base string, perm fs.FileMode) (*os.File, error) {
	if len(base) > tempPrefixMax {
		base = base[:tempPrefixMax]
	}
	for range 10 {
		name := filepath.Join(dir, "."+base+tempMarker+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, perm)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return nil, &fs.PathError{Op: "open", Path: dir, Err: syscall.EEXIST}
}

// syncDir fsyncs a directory so that a rename in it is durable. File
// systems that cannot fsync a directory (EINVAL) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}
