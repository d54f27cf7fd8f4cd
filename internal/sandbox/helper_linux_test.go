//go:build linux

package sandbox_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/appserver-go/appserver/internal/sandbox"
)

// installHelper lays out a server install in a new directory: a stand-in
// server binary and, beside it, src copied as the standalone helper with
// mode. It returns the server binary's path and the helper's.
func installHelper(t *testing.T, src string, mode os.FileMode) (exe, helper string) {
	t.Helper()
	dir := t.TempDir()
	exe = filepath.Join(dir, "appserver")
	if err := os.WriteFile(exe, []byte("server"), 0o755); err != nil {
		t.Fatal(err)
	}
	helper = filepath.Join(dir, sandbox.HelperName)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(helper, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(helper, mode); err != nil {
		t.Fatal(err)
	}
	return exe, helper
}

func TestFindHelperStandalone(t *testing.T) {
	p := sandbox.Policy{} // readOnly
	needSandbox(t, p)
	exe, file := installHelper(t, helperPath(t), 0o755)
	h := sandbox.FindHelper(exe)
	defer h.Close()
	if !h.Standalone || h.Reason != "" || !strings.HasPrefix(h.Path, "/proc/self/fd/") {
		t.Fatalf("FindHelper = %+v; want the standalone helper, run through its descriptor", h)
	}
	if target, _ := os.Readlink(h.Path); !strings.HasPrefix(target, "/memfd:") {
		t.Fatalf("the helper runs from %s, want a sealed memory file", target)
	}
	if err := os.WriteFile(h.Path, []byte("x"), 0o755); err == nil {
		t.Fatalf("the sealed helper could be written")
	}
	// The file is rewritten in place (by a command that can write where
	// the binaries are installed, say), then removed: the helper that was
	// checked still runs every command.
	if err := os.WriteFile(file, []byte("#!/bin/sh\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args, err := sandbox.Command(h.Path, p, []string{"sh", "-c", `echo ran; touch "$1/new"`, "sh", dir})
	if err != nil {
		t.Fatal(err)
	}
	r := runArgv(t, sandbox.HelperEnv(p, os.Environ()), args...)
	if r.stdout != "ran\n" || r.code == 0 || exists(filepath.Join(dir, "new")) {
		t.Errorf("a read-only command through the standalone helper: exit %d, stdout %q, stderr %q; want it run, and its write refused", r.code, r.stdout, r.stderr)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFindHelperRefuses(t *testing.T) {
	echo, err := filepath.EvalSymlinks("/bin/echo")
	if err != nil {
		t.Skip(err)
	}
	cases := []struct {
		name   string
		setup  func(t *testing.T) string // returns the server binary's path
		reason string                    // "" = no helper file at all
	}{
		{"absent", func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "appserver")
		}, ""},
		{"world-writable", func(t *testing.T) string {
			exe, _ := installHelper(t, helperPath(t), 0o757)
			return exe
		}, "writable by group or others"},
		{"group-writable", func(t *testing.T) string {
			exe, _ := installHelper(t, helperPath(t), 0o775)
			return exe
		}, "writable by group or others"},
		{"not executable", func(t *testing.T) string {
			exe, _ := installHelper(t, helperPath(t), 0o644)
			return exe
		}, "not executable"},
		{"a directory", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, sandbox.HelperName), 0o755); err != nil {
				t.Fatal(err)
			}
			exe := filepath.Join(dir, "appserver")
			if err := os.WriteFile(exe, []byte("server"), 0o755); err != nil {
				t.Fatal(err)
			}
			return exe
		}, "not a regular file"},
		{"a FIFO", func(t *testing.T) string {
			exe, file := installHelper(t, helperPath(t), 0o755)
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mkfifo(file, 0o755); err != nil {
				t.Fatal(err)
			}
			return exe
		}, "not a regular file"},
		{"another user's file", func(t *testing.T) string {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the file away")
			}
			exe, file := installHelper(t, helperPath(t), 0o755)
			if err := os.Chown(file, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return exe
		}, "owned by uid 65534"},
		{"another protocol", func(t *testing.T) string {
			exe, _ := installHelper(t, echo, 0o755) // answers with its argv
			return exe
		}, `speaks protocol "__appserver-sandbox --protocol"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := sandbox.FindHelper(c.setup(t))
			defer h.Close()
			if h.Standalone || h.Path != "/proc/self/exe" {
				t.Fatalf("FindHelper = %+v; want the server binary", h)
			}
			if c.reason == "" && h.Reason != "" || !strings.Contains(h.Reason, c.reason) {
				t.Errorf("Reason = %q; want it to contain %q", h.Reason, c.reason)
			}
		})
	}
}
