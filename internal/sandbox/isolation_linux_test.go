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
