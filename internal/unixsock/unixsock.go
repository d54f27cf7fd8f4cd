// Package unixsock listens on a unix socket safely: owner-only
// permissions, and an existing path replaced only when it is a socket that
// nothing listens on.
package unixsock

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// maxPath is the longest path sockaddr_un holds on Linux, without its NUL.
const maxPath = 107

// Listen listens on the unix socket at path with mode 0600. An existing
// socket is replaced only if a connection to it is refused (a stale socket
// left by a crash); a live one is "already in use"; a symlink, a regular
// file or anything else at the path is refused and left alone.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxPath {
		return nil, fmt.Errorf("unix socket path %s is %d bytes long; the limit is %d", path, len(path), maxPath)
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("refusing to listen on %s: it is a symlink", path)
	case fi.Mode()&fs.ModeSocket == 0:
		return nil, fmt.Errorf("refusing to listen on %s: it exists and is not a socket", path)
	default:
		c, derr := net.DialTimeout("unix", path, time.Second)
		if derr == nil {
			_ = c.Close()
			return nil, fmt.Errorf("unix socket %s is already in use by another server", path)
		}
		if !errors.Is(derr, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("checking the existing socket %s: %w", path, derr)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	}
	// Create the socket owner-only from the start rather than chmod it
	// afterwards, so there is no window in which others may connect. The
	// umask is process-wide; this runs at startup, before other files are
	// created.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}
