//go:build linux

package fsmethods

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const statxMask = unix.STATX_TYPE | unix.STATX_MTIME | unix.STATX_BTIME

// statPath fills m for path: isSymlink from the path itself, the rest from
// what it points to (a dangling link fails with ENOENT, as the reference).
// It uses statx for the birth time, with the path copied into a stack
// buffer so that a call allocates nothing.
func statPath(path string, m *metadata) error {
	var buf [512]byte
	var p *byte
	if len(path) < len(buf) {
		copy(buf[:], path)
		p = &buf[0]
	} else {
		bp, err := unix.BytePtrFromString(path)
		if err != nil {
			return err
		}
		p = bp
	}
	var st unix.Statx_t
	err := statx(p, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT, &st)
	if err == syscall.ENOSYS {
		return statFallback(path, m)
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		m.isSymlink = true
		if err := statx(p, unix.AT_STATX_SYNC_AS_STAT, &st); err != nil {
			return err
		}
	}
	m.fill(&st)
	return nil
}

var atFDCWD = unix.AT_FDCWD

func statx(path *byte, flags int, st *unix.Statx_t) error {
	_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(atFDCWD), uintptr(unsafe.Pointer(path)),
		uintptr(flags), uintptr(statxMask), uintptr(unsafe.Pointer(st)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// statOpened is statPath for a server confined to workspace roots: it
// opens path (O_PATH, the link itself first) and lets check judge each
// descriptor where it landed before reporting on it, so a directory
// swapped for a symlink meanwhile cannot make it describe a file outside.
func statOpened(path string, m *metadata, check func(*os.File) error) error {
	stat := func(flags int) (unix.Statx_t, error) {
		var st unix.Statx_t
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC|flags, 0)
		if err != nil {
			return st, &os.PathError{Op: "stat", Path: path, Err: err}
		}
		f := os.NewFile(uintptr(fd), path)
		defer f.Close()
		if err := check(f); err != nil {
			return st, err
		}
		err = unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, statxMask, &st)
		if err != nil {
			return st, &os.PathError{Op: "stat", Path: path, Err: err}
		}
		return st, nil
	}
	st, err := stat(unix.O_NOFOLLOW)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		m.isSymlink = true
		if st, err = stat(0); err != nil {
			return err
		}
	}
	m.fill(&st)
	return nil
}

// fill sets m's type and times from what st describes (the link's target
// when the path was a symlink).
func (m *metadata) fill(st *unix.Statx_t) {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m.isDir = true
	case unix.S_IFREG:
		m.isFile = true
	}
	m.modifiedMs = unixMillis(st.Mtime.Sec, int64(st.Mtime.Nsec))
	if st.Mask&unix.STATX_BTIME != 0 {
		m.createdMs = unixMillis(st.Btime.Sec, int64(st.Btime.Nsec))
	}
}
