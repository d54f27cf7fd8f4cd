package pathguard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheck(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.Mkdir(filepath.Join(root, "sub"), 0o755)
	os.Symlink(outside, filepath.Join(root, "out"))                            // a symlink out of the root
	os.Symlink(filepath.Join(outside, "new"), filepath.Join(root, "dangling")) // dangling, pointing out
	os.Symlink(filepath.Join(root, "sub"), filepath.Join(outside, "in"))       // outside, pointing in
	g, err := New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		p  string
		ok bool
	}{
		{root, true},
		{filepath.Join(root, "sub", "file"), true},
		{filepath.Join(root, "not", "yet", "there"), true},
		{filepath.Join(root, "sub", "..", "..", filepath.Base(outside)), false},
		{filepath.Join(root, "out", "x"), false},
		{filepath.Join(root, "dangling"), false},
		{filepath.Join(root, "dangling", "deeper"), false},
		{filepath.Join(outside, "in", "file"), true},
		{outside, false},
		{root + "-sibling", false},
		{"/", false},
	} {
		_, err := g.Check(tt.p)
		var oe *OutsideError
		if got := err == nil; got != tt.ok || (err != nil && !errors.As(err, &oe)) {
			t.Errorf("Check(%s) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
	if _, err := g.Check("relative/path"); !errors.Is(err, ErrNotAbsolute) {
		t.Errorf("relative path: %v", err)
	}
	var open Guard
	if p, err := open.Check("/etc/../etc/hostname"); err != nil || p != "/etc/hostname" {
		t.Errorf("unconfined Check = %q, %v", p, err)
	}
}
