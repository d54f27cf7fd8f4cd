package execmethods_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/appserver-go/appserver/internal/execmethods"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/sandbox"
)

// listener is a TCP listener that counts the connections it accepts.
type listener struct {
	ln    net.Listener
	count atomic.Int32
	port  string
}

func listen(t *testing.T) *listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{ln: ln, port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.count.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return l
}

// outsideTemp returns a fresh directory outside /tmp and $TMPDIR, which
// workspaceWrite grants by default.
func outsideTemp(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/var/tmp", "execmethods-test-")
	if err != nil {
		t.Skipf("no directory outside /tmp: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	d, _ = filepath.EvalSymlinks(d)
	return d
}

// probeScript tries to write a file in each directory given as an
// argument ("w1" if it could, "w0" if not), then to connect to
// 127.0.0.1:$PORT ("n1" or "n0").
const probeScript = `for d in "$@"; do if (echo x > "$d/f") 2>/dev/null; then echo w1; else echo w0; fi; done; ` +
	`if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then echo n1; else echo n0; fi`

// TestSandboxPromises proves each policy's promise with real writes and a
// real connection: readOnly writes nowhere, workspaceWrite only in its
// roots and the temp dirs, networkAccess false stops TCP connects, and
// dangerFullAccess does all three. The default (no policy) is readOnly.
func TestSandboxPromises(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	if _, err := os.Stat("/usr/bin/bash"); err != nil {
		t.Skip("needs bash for /dev/tcp")
	}
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	root, tmp, outside := tempDir(t), tempDir(t), outsideTemp(t)

	for i, tt := range []struct {
		name   string
		policy string // params fragment; "$ROOT" is the case's root
		tmpdir bool   // set TMPDIR to the case's tmp dir
		want   string // root, tmp, outside, network
	}{
		{"default is readOnly", ``, false, "w0 w0 w0 n0"},
		{"readOnly", `"sandboxPolicy":{"type":"readOnly"}`, false, "w0 w0 w0 n0"},
		{"readOnly with network", `"sandboxPolicy":{"type":"readOnly","networkAccess":true}`, false, "w0 w0 w0 n1"},
		{"workspaceWrite", `"sandboxPolicy":{"type":"workspaceWrite","writableRoots":["$ROOT"],"networkAccess":false}`, false, "w1 w1 w0 n0"},
		{"workspaceWrite without temp dirs", `"sandboxPolicy":{"type":"workspaceWrite","writableRoots":["$ROOT"],"excludeSlashTmp":true,"excludeTmpdirEnvVar":true}`, true, "w1 w0 w0 n0"},
		{"workspaceWrite with TMPDIR only", `"sandboxPolicy":{"type":"workspaceWrite","writableRoots":["$ROOT"],"excludeSlashTmp":true}`, true, "w1 w1 w0 n0"},
		{"workspaceWrite no roots", `"sandboxPolicy":{"type":"workspaceWrite","excludeSlashTmp":true}`, false, "w0 w0 w0 n0"},
		{"workspaceWrite with network", `"sandboxPolicy":{"type":"workspaceWrite","writableRoots":["$ROOT"],"networkAccess":true}`, false, "w1 w1 w0 n1"},
		{"dangerFullAccess", `"sandboxPolicy":{"type":"dangerFullAccess"}`, false, "w1 w1 w1 n1"},
		{":read-only", `"permissionProfile":":read-only"`, false, "w0 w0 w0 n0"},
		{":workspace makes the cwd writable", `"permissionProfile":":workspace"`, false, "w1 w1 w0 n0"},
		{":danger-full-access", `"permissionProfile":":danger-full-access"`, false, "w1 w1 w1 n1"},
		{"null policy is the default", `"sandboxPolicy":null`, false, "w0 w0 w0 n0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c.as(t)
			t.Parallel()
			sub := "case" + strconv.Itoa(i)
			dirs := []string{filepath.Join(root, sub), filepath.Join(tmp, sub), filepath.Join(outside, sub)}
			for _, d := range dirs {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			l := listen(t)
			env := map[string]any{"PORT": l.port}
			if tt.tmpdir {
				env["TMPDIR"] = dirs[1]
			}
			params := `{"command":["bash","-c",` + js(probeScript) + `,"_",` + js(dirs[0]) + `,` + js(dirs[1]) + `,` + js(dirs[2]) + `],"cwd":` + js(dirs[0]) + `,"env":` + js(env)
			if tt.policy != "" {
				params += "," + strings.ReplaceAll(tt.policy, "$ROOT", dirs[0])
			}
			res := result(t, c.call("command/exec", params+"}"))
			got := strings.Join(strings.Fields(res.Stdout), " ")
			if res.ExitCode != 0 || got != tt.want {
				t.Fatalf("got %q (exit %d, stderr %q), want %q", got, res.ExitCode, res.Stderr, tt.want)
			}
			// The disk and the listener agree with what the script saw.
			for j, d := range dirs {
				_, err := os.Stat(filepath.Join(d, "f"))
				if wrote := strings.Fields(tt.want)[j] == "w1"; wrote != (err == nil) {
					t.Errorf("%s/f exists: %v, want %v", d, err == nil, wrote)
				}
			}
			if strings.HasSuffix(tt.want, "n1") {
				eventually(t, "the listener sees the connection", func() bool { return l.count.Load() == 1 })
			} else if n := l.count.Load(); n != 0 {
				t.Errorf("the listener accepted %d connections from a command without network access", n)
			}
		})
	}
}

// TestSandboxNetworkFromGo: a Go program (which would try Multipath TCP
// where it can) cannot connect without network access, and can with it.
func TestSandboxNetworkFromGo(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	l := listen(t)
	addr := "127.0.0.1:" + l.port
	params := func(policy string) string {
		return `{"command":[` + js(testExe) + `,` + js(addr) + `],"env":{"` + modeEnv + `":"dial"}` + policy + `}`
	}
	res := result(t, c.call("command/exec", params(``)))
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "permission denied") {
		t.Fatalf("default policy: %+v", res)
	}
	if l.count.Load() != 0 {
		t.Fatal("the listener accepted a connection from a sandboxed command")
	}
	for _, p := range []string{`,"sandboxPolicy":{"type":"readOnly","networkAccess":true}`, `,"sandboxPolicy":{"type":"dangerFullAccess"}`} {
		if res := result(t, c.call("command/exec", params(p))); res.ExitCode != 0 || res.Stdout != "connected\n" {
			t.Fatalf("%s: %+v", p, res)
		}
	}
	eventually(t, "two connections", func() bool { return l.count.Load() == 2 })
}

// TestProcessSpawnIsSandboxed: process/spawn runs under the server's
// default policy (readOnly unless configured), unlike the reference.
func TestProcessSpawnIsSandboxed(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	dir := tempDir(t)
	script := `if (echo x > f) 2>/dev/null; then echo w1; else echo w0; fi; touch g; echo $?`

	srv := newServer(t, nil)
	c := connect(t, srv, true)
	wantResult(t, c.call("process/spawn", `{"command":["sh","-c",`+js(script)+`],"processHandle":"w",`+`"cwd":`+js(dir)+`}`), `{}`)
	p := exited(t, c.waitNote("process/exited", "processHandle", "w", nil))
	if p["stdout"] != "w0\n1\n" || !strings.Contains(p["stderr"].(string), "Permission denied") {
		t.Fatalf("exited %v", p)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("process/spawn wrote %v under the default readOnly policy", ents)
	}

	// With a workspaceWrite default the same spawn writes its cwd only.
	outside := outsideTemp(t)
	srv2 := newServer(t, func(o *execmethods.Options) {
		o.DefaultPolicy = sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{dir}}
	})
	c2 := connect(t, srv2, true)
	wantResult(t, c2.call("process/spawn", `{"command":["sh","-c",`+js(script)+`],"processHandle":"w",`+`"cwd":`+js(dir)+`}`), `{}`)
	if p := exited(t, c2.waitNote("process/exited", "processHandle", "w", nil)); p["stdout"] != "w1\n0\n" {
		t.Fatalf("exited %v", p)
	}
	wantResult(t, c2.call("process/spawn", `{"command":["sh","-c",`+js(script)+`],"processHandle":"o",`+`"cwd":`+js(outside)+`}`), `{}`)
	if p := exited(t, c2.waitNote("process/exited", "processHandle", "o", nil)); p["stdout"] != "w0\n1\n" {
		t.Fatalf("exited %v", p)
	}
	// And command/exec without a policy takes the same default.
	res := result(t, c2.call("command/exec", `{"command":["sh","-c",`+js(script)+`],"cwd":`+js(outside)+`}`))
	if res.Stdout != "w0\n1\n" {
		t.Fatalf("%+v", res)
	}
}

// TestConfinedServer: with workspace roots, dangerFullAccess is refused,
// and working directories and writable roots must lie inside the roots,
// ".." or not.
func TestConfinedServer(t *testing.T) {
	t.Parallel()
	root, other := tempDir(t), tempDir(t)
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	guard, err := pathguard.New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, func(o *execmethods.Options) { o.Guard, o.Cwd = guard, root })
	c := connect(t, srv, true)

	const noDanger = "dangerFullAccess is not allowed: this server is confined to its workspace roots"
	wantError(t, c.call("command/exec", `{"command":["true"],"sandboxPolicy":{"type":"dangerFullAccess"}}`), -32600, noDanger)
	wantError(t, c.call("command/exec", `{"command":["true"],"permissionProfile":":danger-full-access"}`), -32600, noDanger)
	wantError(t, c.call("command/exec", `{"command":["true"],"cwd":`+js(other)+`}`), -32600, "Invalid request: path `"+other+"` is outside the workspace roots")
	wantError(t, c.call("command/exec", `{"command":["true"],"cwd":`+js(root+"/sub/../..")+`}`), -32600, "Invalid request: path `"+filepath.Dir(root)+"` is outside the workspace roots")
	wantError(t, c.call("command/exec", `{"command":["true"],"cwd":"/etc/../"}`), -32600, "Invalid request: path `/` is outside the workspace roots")
	wantError(t, c.call("command/exec", `{"command":["true"],"sandboxPolicy":{"type":"workspaceWrite","writableRoots":[`+js(other)+`]}}`), -32600, "writable root "+other+": path `"+other+"` is outside the workspace roots")
	wantError(t, c.call("process/spawn", `{"command":["true"],"processHandle":"h","cwd":`+js(other)+`}`), -32600, "Invalid request: path `"+other+"` is outside the workspace roots")
	// A symlink inside the root that leads out does not get out.
	if err := os.Symlink(other, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.call("command/exec", `{"command":["true"],"cwd":`+js(root+"/link")+`}`), -32600, "Invalid request: path `"+root+"/link` is outside the workspace roots")

	if support.Files() && (sandbox.Policy{}).Check(support) == nil {
		// Inside is fine; ".." is cleaned; the default cwd is Options.Cwd.
		wantResult(t, c.call("command/exec", `{"command":["pwd"],"cwd":`+js(root+"/sub/..")+`}`), js(map[string]any{"exitCode": 0, "stdout": root + "\n", "stderr": ""}))
		wantResult(t, c.call("command/exec", `{"command":["pwd"]}`), js(map[string]any{"exitCode": 0, "stdout": root + "\n", "stderr": ""}))
		res := result(t, c.call("command/exec", `{"command":["sh","-c","echo x > f && cat f"],"cwd":`+js(root+"/sub")+`,"permissionProfile":":workspace"}`))
		if res.Stdout != "x\n" {
			t.Fatalf("%+v", res)
		}
	}
}

// TestUnenforceablePolicyRefused: on a kernel that cannot keep a policy
// the request fails with -32600 and says why, and nothing runs; what the
// kernel can keep still runs.
func TestUnenforceablePolicyRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		support sandbox.Support
		params  string
		want    string // "" = runs
	}{
		{"no Landlock, default policy", sandbox.Support{Reason: "Landlock is disabled on this kernel"},
			`{"command":["true"]}`, "sandbox policy readOnly cannot be enforced: Landlock is disabled on this kernel; use dangerFullAccess to run without a sandbox"},
		{"no Landlock, dangerFullAccess", sandbox.Support{Reason: "Landlock is disabled on this kernel"},
			`{"command":["true"],"sandboxPolicy":{"type":"dangerFullAccess"}}`, ""},
		{"ABI 3, no network", sandbox.Support{ABI: 3, Seccomp: true},
			`{"command":["true"]}`, "sandbox policy readOnly cannot be enforced: networkAccess=false needs Landlock ABI 4 (Linux 6.7); this kernel has ABI 3"},
		{"ABI 2", sandbox.Support{ABI: 2, Seccomp: true},
			`{"command":["true"],"sandboxPolicy":{"type":"workspaceWrite","networkAccess":true}}`, "confining file writes needs Landlock ABI 3 (Linux 6.2); this kernel has ABI 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(o *execmethods.Options) { o.Support = tc.support })
			c := connect(t, srv, false)
			r := c.call("command/exec", tc.params)
			if tc.want == "" {
				if r.Error != nil {
					t.Fatalf("refused: %v", r.Error)
				}
				return
			}
			if r.Error == nil || r.Error.Code != -32600 || !strings.Contains(r.Error.Message, tc.want) {
				t.Errorf("answer %+v, want -32600 containing %q", r, tc.want)
			}
		})
	}
}
