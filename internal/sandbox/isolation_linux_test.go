//go:build linux

package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/appserver-go/appserver/internal/sandbox"
)

// TestIsolationHidesPaths: an isolated sandboxed command finds a hidden
// directory empty and unreadable and a hidden file empty, cannot write
// either, and the server still sees both as they were.
func TestIsolationHidesPaths(t *testing.T) {
	p := sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{t.TempDir()}}
	needSandbox(t, p)
	state := t.TempDir()
	writeFile(t, filepath.Join(state, "ws-token"), "state-secret")
	keyFile := filepath.Join(t.TempDir(), "tls.key")
	writeFile(t, keyFile, "key-secret")
	iso, err := sandbox.NewIsolation(helperPath(t), []string{state, keyFile, filepath.Join(state, "missing")})
	if err != nil {
		t.Skipf("no isolation on this system: %v", err)
	}
	if got := iso.Hidden(); len(got) != 2 {
		t.Errorf("Hidden = %v, want the two existing paths", got)
	}
	// The state directory is also under a writable root here: hiding
	// must win over the grant.
	p.WritableRoots = append(p.WritableRoots, state)
	script := `cat "$1/ws-token"; ls "$1"; echo x > "$1/new" && echo wrote-dir; cat "$2"; echo x > "$2" && echo wrote-file; echo end`
	args, isolated, err := iso.Command(helperPath(t), p, []string{"sh", "-c", script, "sh", state, keyFile})
	if err != nil || !isolated {
		t.Fatalf("Command: isolated %v, %v", isolated, err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = sandbox.HelperEnv(p, os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	iso.SysProcAttr(cmd.SysProcAttr)
	out, _ := cmd.CombinedOutput()
	got := string(out)
	t.Logf("isolated command:\n%s", got)
	for _, leak := range []string{"state-secret", "key-secret", "ws-token\n", "wrote-dir"} {
		if strings.Contains(got, leak) {
			t.Errorf("the isolated command saw or did %q:\n%s", leak, got)
		}
	}
	if !strings.HasSuffix(got, "end\n") {
		t.Errorf("the command did not run to the end:\n%s", got)
	}
	if readFile(t, filepath.Join(state, "ws-token")) != "state-secret" || readFile(t, keyFile) != "key-secret" || exists(filepath.Join(state, "new")) {
		t.Errorf("the server's view changed")
	}

	// DangerFullAccess is not isolated (nothing is hidden from it).
	if _, isolated, _ := iso.Command(helperPath(t), sandbox.Policy{Kind: sandbox.DangerFullAccess}, []string{"true"}); isolated {
		t.Errorf("dangerFullAccess isolated")
	}
}

// TestIsolationRefusedInServerNamespace: a helper told to isolate but
// started without new namespaces refuses to run rather than mount over the
// server's own files (as root it could).
func TestIsolationRefusedInServerNamespace(t *testing.T) {
	p := sandbox.Policy{}
	needSandbox(t, p)
	state := t.TempDir()
	writeFile(t, filepath.Join(state, "f"), "visible")
	iso, err := sandbox.NewIsolation(helperPath(t), []string{state})
	if err != nil {
		t.Skipf("no isolation on this system: %v", err)
	}
	args, _, err := iso.Command(helperPath(t), p, []string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	r := runArgv(t, sandbox.HelperEnv(p, os.Environ()), args...) // no SysProcAttr
	mustFail(t, "isolation flags in the server's mount namespace", r, "this is not a new mount and user namespace")
	if readFile(t, filepath.Join(state, "f")) != "visible" {
		t.Errorf("the directory was mounted over in the server's namespace")
	}
}

// TestIsolationAttacks replays what a second audit did to the first
// version of the isolation: a working directory inside the hidden
// directory (relative paths reached under the mount), a parent renamed
// and a decoy put in its place (the next command hid the decoy), and a
// credential rotated by renaming a new file over it (the bind mount
// covered the old entry only).
func TestIsolationAttacks(t *testing.T) {
	p := sandbox.Policy{}
	needSandbox(t, p)
	base := t.TempDir()
	state := filepath.Join(base, "a", "home")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(state, "ws-token"), "state-secret")
	secrets := filepath.Join(base, "secrets")
	os.Mkdir(secrets, 0o700)
	token := filepath.Join(secrets, "token")
	writeFile(t, token, "old-token")
	iso, err := sandbox.NewIsolation(helperPath(t), []string{state, token})
	if err != nil {
		t.Skipf("no isolation on this system: %v", err)
	}
	run := func(dir string, script string) (string, error) {
		args, _, err := iso.Command(helperPath(t), p, []string{"sh", "-c", script})
		if err != nil {
			return "", err
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = sandbox.HelperEnv(p, os.Environ())
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		iso.SysProcAttr(cmd.SysProcAttr)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// A working directory inside the hidden directory is refused.
	out, err := run(state, "cat ws-token")
	if err == nil || strings.Contains(out, "state-secret") || !strings.Contains(out, "lies in a path the server keeps") {
		t.Errorf("working directory inside the state directory: %v\n%s", err, out)
	}

	// A credential renamed over: the next command sees the new one hidden.
	writeFile(t, token+".new", "new-token")
	if err := os.Rename(token+".new", token); err != nil {
		t.Fatal(err)
	}
	if out, err := run(base, "cat "+token+"; echo end"); err != nil || strings.Contains(out, "new-token") || !strings.HasSuffix(out, "end\n") {
		t.Errorf("rotated credential: %v\n%s", err, out)
	}

	// The state directory's parent renamed and a decoy made in its place:
	// sandboxed commands are refused rather than shown the real one.
	if err := os.Rename(filepath.Join(base, "a"), filepath.Join(base, "a2")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(state, 0o700)
	if _, err := run(base, "cat "+filepath.Join(base, "a2", "home", "ws-token")); err == nil || !strings.Contains(err.Error(), "no longer where it was") {
		t.Errorf("moved state directory: %v", err)
	}
}
