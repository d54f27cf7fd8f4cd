// Package pathguard checks the paths clients send: they must be absolute
// (the protocol's AbsolutePathBuf), and, when the server is confined to
// workspace roots, resolve inside one of them.
package pathguard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotAbsolute is the reference's text for a relative path.
var ErrNotAbsolute = errors.New("AbsolutePathBuf deserialized without a base path")

// Guard confines paths to a set of roots. The zero Guard (no roots)
// accepts any absolute path, as the reference does.
type Guard struct {
	roots []string // cleaned, symlinks resolved
}

// New returns a Guard for roots, which must exist; their symlinks are
// resolved once, here.
func New(roots []string) (*Guard, error) {
	g := &Guard{}
	for _, r := range roots {
		if !filepath.IsAbs(r) {
			abs, err := filepath.Abs(r)
			if err != nil {
				return nil, err
			}
			r = abs
		}
		real, err := filepath.EvalSymlinks(r)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(real)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, errors.New("workspace root " + r + " is not a directory")
		}
		g.roots = append(g.roots, filepath.Clean(real))
	}
	return g, nil
}

// Confined reports whether the guard has roots.
func (g *Guard) Confined() bool { return g != nil && len(g.roots) > 0 }

// Roots returns the resolved roots.
func (g *Guard) Roots() []string {
	if g == nil {
		return nil
	}
	return append([]string(nil), g.roots...)
}

// OutsideError reports a path outside every root.
type OutsideError struct{ Path string }

func (e *OutsideError) Error() string {
	return "path `" + e.Path + "` is outside the workspace roots"
}

// Check validates p: it must be absolute, and when the guard is confined,
// p with every symlink in it resolved (or, for a path that does not exist
// yet, its nearest existing ancestor resolved) must lie inside a root. It
// returns p cleaned. ".." segments are allowed, as in the reference, and
// judged after cleaning and resolution, so they cannot climb out of a root.
func (g *Guard) Check(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", ErrNotAbsolute
	}
	p = filepath.Clean(p)
	if !g.Confined() {
		return p, nil
	}
	real, err := resolve(p)
	if err != nil {
		return "", err
	}
	for _, r := range g.roots {
		if real == r || strings.HasPrefix(real, r+string(filepath.Separator)) || r == string(filepath.Separator) {
			return p, nil
		}
	}
	return "", &OutsideError{Path: p}
}

// resolve resolves symlinks in p; for a path that does not exist, it
// resolves the longest existing prefix and appends the rest. A dangling
// symlink is followed to where it points, since creating the path would
// create the target.
func resolve(p string) (string, error) {
	for hops := 0; hops < 40; hops++ {
		rest := ""
		cur := p
		for {
			real, err := filepath.EvalSymlinks(cur)
			if err == nil {
				return filepath.Join(real, rest), nil
			}
			if !errors.Is(err, os.ErrNotExist) {
				return "", err
			}
			if fi, lerr := os.Lstat(cur); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
				target, rerr := os.Readlink(cur)
				if rerr != nil {
					return "", rerr
				}
				if !filepath.IsAbs(target) {
					target = filepath.Join(filepath.Dir(cur), target)
				}
				p = filepath.Join(target, rest)
				break
			}
			parent := filepath.Dir(cur)
			if parent == cur {
				return filepath.Join(cur, rest), nil
			}
			rest = filepath.Join(filepath.Base(cur), rest)
			cur = parent
		}
	}
	return "", errors.New("too many levels of symbolic links")
}
