package fsmethods

import "os"

// statFallback is statPath without statx: no birth time.
func statFallback(path string, m *metadata) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		m.isSymlink = true
		if fi, err = os.Stat(path); err != nil {
			return err
		}
	}
	m.isDir = fi.IsDir()
	m.isFile = fi.Mode().IsRegular()
	t := fi.ModTime()
	m.modifiedMs = unixMillis(t.Unix(), int64(t.Nanosecond()))
	return nil
}
