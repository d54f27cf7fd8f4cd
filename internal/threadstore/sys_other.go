//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package threadstore

import "os"

// lockDir only creates dir/LOCK: these systems get no cross-process lock.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// syncDir does nothing: directories cannot be synced portably here.
func syncDir(string) error { return nil }
