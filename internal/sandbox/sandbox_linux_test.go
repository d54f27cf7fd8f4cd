//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/appserver-go/appserver/internal/sandbox"
)

type result struct {
	stdout, stderr string
	code           int
}

// helperPath is the test binary, which doubles as the helper (TestMain).
func helperPath(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// needSandbox skips the test unless this kernel can enforce p.
func needSandbox(t testing.TB, p sandbox.Policy) {
	t.Helper()
	if err := p.Check(sandbox.Probe()); err != nil {
		t.Skip(err)
	}
}

// env returns the test's environment with kv added (later entries win).
func env(kv ...string) []string { return append(os.Environ(), kv...) }

// run runs argv under p, as the exec methods do: Command for the argv,
// HelperEnv for the environment.
func run(t *testing.T, p sandbox.Policy, environ []string, argv ...string) result {
	t.Helper()
	needSandbox(t, p)
	args, err := sandbox.Command(helperPath(t), p, argv)
	if err != nil {
		t.Fatal(err)
	}
	if environ == nil {
		environ = os.Environ()
	}
	environ = sandbox.HelperEnv(p, environ)
	return runArgv(t, environ, args...)
}

func runArgv(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = environ
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %q: %v", args, err)
	}
	return r
}

// sh runs a shell script under p; "$1", "$2", … are args.
func sh(t *testing.T, p sandbox.Policy, environ []string, script string, args ...string) result {
	t.Helper()
	return run(t, p, environ, append([]string{"sh", "-c", script, "sh"}, args...)...)
}

func mustSucceed(t *testing.T, what string, r result) {
	t.Helper()
	if r.code != 0 {
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want success", what, r.code, r.stdout, r.stderr)
	}
}

func mustFail(t *testing.T, what string, r result, stderrHas string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("%s: succeeded (stdout %q); want failure", what, r.stdout)
	} else if !strings.Contains(r.stderr, stderrHas) {
		t.Errorf("%s: stderr %q, want it to contain %q", what, r.stderr, stderrHas)
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProbe(t *testing.T) {
	s := sandbox.Probe()
	t.Logf("Probe: ABI %d, seccomp %v: %v", s.ABI, s.Seccomp, s)
	if s.ABI == 0 && s.Reason == "" {
		t.Error("ABI 0 without a reason")
	}
}

// TestReadOnly: reads, listings, /dev/null and output work; every kind of
// write to the filesystem fails and leaves it as it was.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	ro := sandbox.Policy{}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "r"), "content\n")

	r := run(t, ro, nil, "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Errorf("echo hi: %+v", r)
	}
	r = run(t, ro, nil, "cat", filepath.Join(dir, "r"))
	if r.code != 0 || r.stdout != "content\n" {
		t.Errorf("cat: %+v", r)
	}
	r = run(t, ro, nil, "ls", dir, "/", "/usr/bin")
	if r.code != 0 || !strings.Contains(r.stdout, "r\n") {
		t.Errorf("ls: %+v", r)
	}
	mustSucceed(t, "write /dev/null", sh(t, ro, nil, `echo x > /dev/null && echo x >> /dev/null && cat /dev/zero | head -c 3 > /dev/null`))

	mustFail(t, "create file", sh(t, ro, nil, `echo x > "$1/f"`, dir), "Permission denied")
	if exists(filepath.Join(dir, "f")) {
		t.Error("the file was created")
	}
	mustFail(t, "overwrite", sh(t, ro, nil, `echo x > "$1/r"`, dir), "Permission denied")
	mustFail(t, "append", sh(t, ro, nil, `echo x >> "$1/r"`, dir), "Permission denied")
	mustFail(t, "truncate", run(t, ro, nil, "truncate", "-s", "0", filepath.Join(dir, "r")), "Permission denied")
	mustFail(t, "remove", run(t, ro, nil, "rm", "-f", filepath.Join(dir, "r")), "Permission denied")
	mustFail(t, "mkdir", run(t, ro, nil, "mkdir", filepath.Join(dir, "d")), "Permission denied")
	mustFail(t, "symlink", run(t, ro, nil, "ln", "-s", "/etc/passwd", filepath.Join(dir, "l")), "Permission denied")
	mustFail(t, "rename", run(t, ro, nil, "mv", filepath.Join(dir, "r"), filepath.Join(dir, "r2")), "Permission denied")
	mustFail(t, "mkfifo", run(t, ro, nil, "mkfifo", filepath.Join(dir, "p")), "Permission denied")
	mustFail(t, "write /tmp", sh(t, ro, nil, `echo x > /tmp/appserver-sandbox-ro-$$`), "Permission denied")
	if got := readFile(t, filepath.Join(dir, "r")); got != "content\n" {
		t.Errorf("file changed to %q", got)
	}
	for _, name := range []string{"f", "d", "l", "r2", "p"} {
		if exists(filepath.Join(dir, name)) {
			t.Errorf("%s was created", name)
		}
	}
}

// TestInheritedDescriptors: Landlock checks opens, not writes to
// descriptors the command inherits; stdout pointing at a file outside any
// writable root still works (that is how the server captures output).
func TestInheritedDescriptors(t *testing.T) {
	t.Parallel()
	needSandbox(t, sandbox.Policy{})
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args, err := sandbox.Command(helperPath(t), sandbox.Policy{}, []string{"echo", "inherited"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = sandbox.HelperEnv(sandbox.Policy{}, os.Environ())
	cmd.Stdout = f
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != "inherited\n" {
		t.Errorf("output %q", got)
	}
}

// TestOnlyStdioInherited: a descriptor the helper inherits beyond 0-2
// (the server's own, left open by whatever started it) does not reach
// the command.
func TestOnlyStdioInherited(t *testing.T) {
	t.Parallel()
	needSandbox(t, sandbox.Policy{})
	secret := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secret, "server-only")
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args, err := sandbox.Command(helperPath(t), sandbox.Policy{}, []string{"sh", "-c", "cat <&3 && echo leaked || echo closed"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = sandbox.HelperEnv(sandbox.Policy{}, os.Environ())
	cmd.ExtraFiles = []*os.File{f} // fd 3, without close-on-exec
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "closed\n" {
		t.Errorf("the command read an inherited descriptor: %q", got)
	}
}

// TestWorkspaceWrite: writes succeed under the roots, in new nested
// directories too, and fail everywhere else, including through a symlink
// that leaves a root.
func TestWorkspaceWrite(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(b, "victim"), "safe\n")
	if err := os.Symlink(b, filepath.Join(a, "to-b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(b, "victim"), filepath.Join(a, "victim-link")); err != nil {
		t.Fatal(err)
	}
	// t.TempDir is under /tmp or $TMPDIR, which workspaceWrite may write
	// by default; exclude both so that only a is writable.
	ws := sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{a}, ExcludeSlashTmp: true, ExcludeTmpdirEnvVar: true}

	mustSucceed(t, "write in root", sh(t, ws, nil, `echo x > "$1/f" && echo y >> "$1/f"`, a))
	if got := readFile(t, filepath.Join(a, "f")); got != "x\ny\n" {
		t.Errorf("a/f = %q", got)
	}
	mustSucceed(t, "nested dirs", sh(t, ws, nil, `mkdir -p "$1/x/y/z" && echo n > "$1/x/y/z/f" && ln -s f "$1/x/y/z/l"`, a))
	if got := readFile(t, filepath.Join(a, "x/y/z/l")); got != "n\n" {
		t.Errorf("nested file = %q", got)
	}
	mustSucceed(t, "rename between directories of the root", sh(t, ws, nil, `mv "$1/x/y/z/f" "$1/moved" && mv "$1/x/y" "$1/ydir"`, a))
	mustSucceed(t, "truncate and remove in root", sh(t, ws, nil, `truncate -s 0 "$1/f" && rm -r "$1/ydir" "$1/moved"`, a))

	mustFail(t, "write in sibling", sh(t, ws, nil, `echo x > "$1/f"`, b), "Permission denied")
	mustFail(t, "write through symlinked dir", sh(t, ws, nil, `echo x > "$1/to-b/f"`, a), "Permission denied")
	mustFail(t, "write through symlinked file", sh(t, ws, nil, `echo pwned > "$1/victim-link"`, a), "Permission denied")
	mustFail(t, "move out of the root", run(t, ws, nil, "mv", filepath.Join(a, "f"), filepath.Join(b, "f")), "")
	mustFail(t, "write /tmp when excluded", sh(t, ws, nil, `echo x > /tmp/appserver-sandbox-ws-$$`), "Permission denied")
	if exists(filepath.Join(b, "f")) {
		t.Error("a file appeared in the sibling")
	}
	if got := readFile(t, filepath.Join(b, "victim")); got != "safe\n" {
		t.Errorf("victim changed to %q", got)
	}
	// Removing the link itself is a write in a, and allowed.
	mustSucceed(t, "remove symlink in root", run(t, ws, nil, "rm", filepath.Join(a, "to-b")))
	if !exists(filepath.Join(b, "victim")) {
		t.Error("victim removed")
	}
}

func TestWorkspaceWriteTemp(t *testing.T) {
	t.Parallel()
	a, tmpdir, other := t.TempDir(), t.TempDir(), t.TempDir()
	slashTmp, err := os.MkdirTemp("/tmp", "appserver-sandbox-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(slashTmp) })
	environ := env("TMPDIR=" + tmpdir)
	ws := sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{a}}

	mustSucceed(t, "write /tmp by default", sh(t, ws, environ, `echo x > "$1/f"`, slashTmp))
	mustSucceed(t, "write $TMPDIR by default", sh(t, ws, environ, `echo x > "$TMPDIR/f"`))

	noSlashTmp := ws
	noSlashTmp.ExcludeSlashTmp = true
	mustFail(t, "write /tmp with excludeSlashTmp", sh(t, noSlashTmp, environ, `echo x > "$1/g"`, slashTmp), "Permission denied")
	mustSucceed(t, "write $TMPDIR with excludeSlashTmp", sh(t, noSlashTmp, environ, `echo x > "$TMPDIR/g"`))
	mustFail(t, "write elsewhere with excludeSlashTmp", sh(t, noSlashTmp, environ, `echo x > "$1/g"`, other), "Permission denied")

	neither := noSlashTmp
	neither.ExcludeTmpdirEnvVar = true
	mustFail(t, "write $TMPDIR with both excluded", sh(t, neither, environ, `echo x > "$TMPDIR/h"`), "Permission denied")
	mustSucceed(t, "root still writable", sh(t, neither, environ, `echo x > "$1/h"`, a))

	// A relative $TMPDIR grants nothing, even where it would resolve.
	if err := os.Mkdir(filepath.Join(other, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	args, err := sandbox.Command(helperPath(t), noSlashTmp, []string{"sh", "-c", `echo x > rel/f`})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = sandbox.HelperEnv(noSlashTmp, env("TMPDIR=rel"))
	cmd.Dir = other
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("relative TMPDIR: %v, %q; want Permission denied", err, out)
	}
}

func TestWorkspaceWriteRoots(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	file := filepath.Join(b, "only-this")
	writeFile(t, file, "")
	ws := sandbox.Policy{Kind: sandbox.WorkspaceWrite, ExcludeSlashTmp: true, ExcludeTmpdirEnvVar: true,
		WritableRoots: []string{a, "/nonexistent/appserver/root", file}}

	// A root that does not exist is skipped, not an error.
	mustSucceed(t, "missing root skipped", sh(t, ws, nil, `echo x > "$1/f"`, a))
	// A root that is a file makes that one file writable.
	mustSucceed(t, "file root", sh(t, ws, nil, `echo x > "$1"`, file))
	mustFail(t, "next to file root", sh(t, ws, nil, `echo x > "$1/other"`, b), "Permission denied")
}

// listen starts a TCP listener on loopback that accepts and closes.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// probe runs the test binary in targetMode mode inside p.
func probe(t *testing.T, p sandbox.Policy, mode, addr string) result {
	t.Helper()
	// GORACE: a race-enabled binary otherwise sleeps a second at exit.
	return run(t, p, env("SANDBOX_TEST_MODE="+mode, "SANDBOX_TEST_ADDR="+addr, "GORACE=atexit_sleep_ms=0"), helperPath(t))
}

// TestNetwork: with networkAccess false, TCP connect and bind fail, also
// by Multipath TCP and io_uring; with it true, or under dangerFullAccess,
// they work.
func TestNetwork(t *testing.T) {
	t.Parallel()
	addr := listen(t)
	_, port, _ := net.SplitHostPort(addr)
	bashConnect := []string{"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + port}
	a := t.TempDir()
	denied := map[string]sandbox.Policy{
		"readOnly":       {},
		"workspaceWrite": {Kind: sandbox.WorkspaceWrite, WritableRoots: []string{a}},
	}
	allowed := map[string]sandbox.Policy{
		"readOnly+network":       {NetworkAccess: true},
		"workspaceWrite+network": {Kind: sandbox.WorkspaceWrite, WritableRoots: []string{a}, NetworkAccess: true},
		"dangerFullAccess":       {Kind: sandbox.DangerFullAccess},
	}
	for name, p := range denied {
		mustFail(t, name+": bash connect", run(t, p, nil, bashConnect...), "Permission denied")
		mustFail(t, name+": Go dial", probe(t, p, "dial", addr), "permission denied")
		mustFail(t, name+": Go listen", probe(t, p, "listen", ""), "permission denied")
		mustFail(t, name+": MPTCP connect", probe(t, p, "mptcp", addr), "protocol not supported")
		mustFail(t, name+": io_uring", probe(t, p, "uring", ""), "function not implemented")
	}
	mptcp := readFileOr("/proc/sys/net/mptcp/enabled") == "1"
	uring := readFileOr("/proc/sys/kernel/io_uring_disabled") == "0"
	for name, p := range allowed {
		mustSucceed(t, name+": bash connect", run(t, p, nil, bashConnect...))
		mustSucceed(t, name+": Go dial", probe(t, p, "dial", addr))
		mustSucceed(t, name+": Go listen", probe(t, p, "listen", ""))
		// The controls: these succeed when allowed, so the failures
		// above come from the sandbox.
		if mptcp {
			mustSucceed(t, name+": MPTCP connect", probe(t, p, "mptcp", addr))
		}
		if uring {
			mustSucceed(t, name+": io_uring", probe(t, p, "uring", ""))
		}
	}
}

func readFileOr(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// TestUDP: with the network off no datagram leaves, whatever the Landlock
// ABI (below 10 Landlock does not confine UDP; the seccomp filter refuses
// the socket), and with it on datagrams flow.
func TestUDP(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := probe(t, sandbox.Policy{}, "udp", pc.LocalAddr().String())
	mustFail(t, "UDP send with the network off", r, "permission denied")
	_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := pc.ReadFrom(make([]byte, 16)); err == nil {
		t.Errorf("a %d-byte datagram got out", n)
	}
	on := sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{t.TempDir()}, NetworkAccess: true}
	mustSucceed(t, "UDP send with the network on", probe(t, on, "udp", pc.LocalAddr().String()))
}

// TestScopes: signals and abstract unix sockets do not leave the sandbox
// (Landlock ABI 6): the scoping decisions in landlockRules.
func TestScopes(t *testing.T) {
	t.Parallel()
	if !sandbox.Probe().Scopes() {
		t.Skip("Landlock ABI < 6: no scoping")
	}
	pid := strconv.Itoa(os.Getpid())
	for _, p := range []sandbox.Policy{{}, {NetworkAccess: true}} {
		mustFail(t, "signal the server", run(t, p, nil, "kill", "-0", pid), "")
		mustSucceed(t, "signal own child", sh(t, p, nil, `sleep 10 & kill $! && wait $!; [ $? -eq 143 ]`))
	}
	mustSucceed(t, "dangerFullAccess signals the server", run(t, sandbox.Policy{Kind: sandbox.DangerFullAccess}, nil, "kill", "-0", pid))

	name := "appserver-sandbox-test-" + pid
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	mustFail(t, "abstract socket, no network", probe(t, sandbox.Policy{}, "abstract", name), "operation not permitted")
	mustSucceed(t, "abstract socket, network", probe(t, sandbox.Policy{NetworkAccess: true}, "abstract", name))
}

// TestResourceLimits: a confined command cannot lower the server's
// resource limits (Landlock has no hook for prlimit; a seccomp filter
// refuses it), but may set its own.
func TestResourceLimits(t *testing.T) {
	t.Parallel()
	if !sandbox.Probe().Seccomp {
		t.Skip("no seccomp")
	}
	var before unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(os.Getpid())
	for _, p := range []sandbox.Policy{{}, {NetworkAccess: true}} {
		mustFail(t, "lower the server's limit", run(t, p, nil, "prlimit", "--pid", pid, "--nofile=3:3"), "Operation not permitted")
		mustSucceed(t, "read the server's limits", run(t, p, nil, "prlimit", "--pid", pid, "--nofile"))
		mustSucceed(t, "lower its own limit", sh(t, p, nil, `ulimit -n 64 && [ "$(ulimit -n)" = 64 ]`))
	}
	var after unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the server's RLIMIT_NOFILE changed from %+v to %+v", before, after)
	}
	// Without the sandbox the same command works: the test can fail.
	r := run(t, sandbox.Policy{Kind: sandbox.DangerFullAccess}, nil, "prlimit", "--pid", pid, "--nofile="+strconv.FormatUint(before.Cur, 10)+":"+strconv.FormatUint(before.Max, 10))
	mustSucceed(t, "dangerFullAccess sets the server's limit (to what it was)", r)
}

// TestCapabilities: a confined command has no capabilities, even as root,
// and no_new_privs is set, so it cannot gain any by executing a setuid or
// file-capability binary.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	r := run(t, sandbox.Policy{}, nil, "grep", "^\\(Cap\\|NoNewPrivs\\)", "/proc/self/status")
	if r.code != 0 {
		t.Fatalf("grep: %+v", r)
	}
	root := os.Geteuid() == 0
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		name, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch {
		case name == "NoNewPrivs":
			if v != "1" {
				t.Errorf("%s: want 1", line)
			}
		case name == "CapBnd" && !root:
			// Only root (CAP_SETPCAP) can empty it; without
			// capabilities and with no_new_privs, it grants nothing.
		case strings.Trim(v, "0") != "":
			t.Errorf("%s: want no capabilities", line)
		}
	}
	if root {
		// Landlock does not confine chown; without CAP_CHOWN, root
		// cannot give its own file away. (A scratch file: if this
		// check ever regresses it must not damage the machine.)
		dir := t.TempDir()
		f := filepath.Join(dir, "mine")
		writeFile(t, f, "")
		ws := sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{dir}}
		mustFail(t, "root chown", run(t, ws, nil, "chown", "1:1", f), "Operation not permitted")
	}
}

// TestDangerFullAccess: no sandbox at all, write anywhere and connect.
func TestDangerFullAccess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	danger := sandbox.Policy{Kind: sandbox.DangerFullAccess}
	argv, err := sandbox.Command(helperPath(t), danger, []string{"true"})
	if err != nil || len(argv) != 1 || argv[0] != "true" {
		t.Fatalf("Command = %q, %v; want [true]", argv, err)
	}
	mustSucceed(t, "write anywhere", sh(t, danger, nil, `echo x > "$1/f" && echo y > /tmp/appserver-sandbox-danger-$$ && rm /tmp/appserver-sandbox-danger-$$`, dir))
	if !exists(filepath.Join(dir, "f")) {
		t.Error("file not written")
	}
	addr := listen(t)
	mustSucceed(t, "connect", probe(t, danger, "dial", addr))
}

// TestTTY: a terminal program works under readOnly: stty reads and sets
// the size on the inherited terminal and on /dev/tty opened inside the
// sandbox (which needs the device-ioctl right from Landlock ABI 5), and the
// command can reopen its own terminal, but not write to another one.
func TestTTY(t *testing.T) {
	t.Parallel()
	ro := sandbox.Policy{}
	needSandbox(t, ro)
	otherMaster, other, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer otherMaster.Close()
	defer other.Close()

	script := `stty size; stty size </dev/tty; stty rows 30 cols 100 </dev/tty; stty size
echo tty >/dev/tty; echo own >"$(tty)"; { echo other >"$1"; } 2>/dev/null || echo denied`
	args, err := sandbox.Command(helperPath(t), ro, []string{"sh", "-c", script, "sh", other.Name()})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = sandbox.HelperEnv(ro, os.Environ())
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, _ := io.ReadAll(f) // ends with EIO once the child has gone
	if err := cmd.Wait(); err != nil {
		t.Errorf("wait: %v; output %q", err, out)
	}
	const want = "24 80\r\n24 80\r\n30 100\r\ntty\r\nown\r\ndenied\r\n"
	if string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestExitCodes: the target's status passes through (the helper becomes
// the target); failures before exec are 126, a missing command 127.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	ro := sandbox.Policy{}
	if r := sh(t, ro, nil, "exit 7"); r.code != 7 {
		t.Errorf("exit 7: %+v", r)
	}
	r := run(t, ro, nil, "appserver-no-such-command")
	if r.code != 127 || r.stderr != "appserver sandbox: appserver-no-such-command: command not found\n" {
		t.Errorf("missing command: %+v", r)
	}
	r = run(t, ro, nil, "/nonexistent/cmd")
	if r.code != 127 || r.stderr != "appserver sandbox: /nonexistent/cmd: No such file or directory\n" {
		t.Errorf("missing path: %+v", r)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "noexec"), "#!/bin/sh\n")
	r = run(t, ro, env("PATH="+dir), "noexec")
	if r.code != 126 || !strings.Contains(r.stderr, "noexec: Permission denied") {
		t.Errorf("not executable: %+v", r)
	}
	// PATH comes from the command's environment.
	if err := os.WriteFile(filepath.Join(dir, "mine"), []byte("#!/bin/sh\necho mine \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = run(t, ro, env("PATH="+dir+":/usr/bin:/bin"), "mine", "a")
	if r.code != 0 || r.stdout != "mine a\n" {
		t.Errorf("PATH lookup: %+v", r)
	}

	exe := helperPath(t)
	for _, tt := range []struct {
		name   string
		args   []string
		env    []string
		stderr string
	}{
		{"bad policy", []string{exe, sandbox.HelperArg, "{bad", "--", "true"}, nil, "appserver sandbox: bad policy argument: "},
		{"external policy", []string{exe, sandbox.HelperArg, `{"type":"externalSandbox"}`, "--", "true"}, nil, "externalSandbox is not supported"},
		{"danger via helper", []string{exe, sandbox.HelperArg, `{"type":"dangerFullAccess"}`, "--", "true"}, nil, "refusing policy dangerFullAccess"},
		{"no separator", []string{exe, sandbox.HelperArg, `{"type":"readOnly"}`, "true"}, nil, "appserver sandbox: usage: "},
		{"no command", []string{exe, sandbox.HelperArg, `{"type":"readOnly"}`, "--"}, nil, "appserver sandbox: usage: "},
		{"relative root", []string{exe, sandbox.HelperArg, `{"type":"workspaceWrite","writableRoots":["x"]}`, "--", "true"}, nil, "AbsolutePathBuf deserialized without a base path"},
		{"loader variable not stashed", []string{exe, sandbox.HelperArg, `{"type":"readOnly","networkAccess":true}`, "--", "true"}, env("LD_APPSERVER_TEST=1"), "LD_APPSERVER_TEST is set in the helper's environment"},
	} {
		environ := tt.env
		if environ == nil {
			environ = os.Environ()
		}
		r := runArgv(t, environ, tt.args...)
		if r.code != 126 || !strings.HasPrefix(r.stderr, "appserver sandbox: ") || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("%s: %+v; want 126 and %q", tt.name, r, tt.stderr)
		}
	}
}

// TestLoaderVariables: HelperEnv hides LD_* from the helper and Main gives
// them back to the target.
func TestLoaderVariables(t *testing.T) {
	t.Parallel()
	r := sh(t, sandbox.Policy{}, env("LD_LIBRARY_PATH=/nonexistent/lib", "LD_APPSERVER_TEST=x y"), `echo "$LD_LIBRARY_PATH|$LD_APPSERVER_TEST|$APPSERVER_SANDBOX_ENV_LD_LIBRARY_PATH"`)
	if r.code != 0 || r.stdout != "/nonexistent/lib|x y|\n" {
		t.Errorf("target environment: %+v", r)
	}
}

// BenchmarkExec measures what the helper adds to starting a command:
// `true` run directly, and through the helper under readOnly. The helper
// here is the test binary, whose start-up is close to the server's.
func BenchmarkExec(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip(err)
	}
	for _, bc := range []struct {
		name string
		p    sandbox.Policy
	}{
		{"direct", sandbox.Policy{Kind: sandbox.DangerFullAccess}},
		{"readOnly", sandbox.Policy{}},
		{"workspaceWrite", sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{b.TempDir()}, NetworkAccess: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			needSandbox(b, bc.p)
			args, err := sandbox.Command(helperPath(b), bc.p, []string{truePath})
			if err != nil {
				b.Fatal(err)
			}
			environ := sandbox.HelperEnv(bc.p, os.Environ())
			start := time.Now()
			for b.Loop() {
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Env = environ
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/run")
		})
	}
}
