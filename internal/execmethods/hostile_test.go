package execmethods_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/execmethods"
)

// TestHostileArguments: argv the kernel refuses fails fast with a clear
// -32603, and a long one that fits runs.
func TestHostileArguments(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)

	huge := strings.Repeat("a", 4<<20)
	// (call fails the test if the answer takes longer than waitTimeout.)
	for _, policy := range []string{``, `,"sandboxPolicy":{"type":"dangerFullAccess"}`} {
		wantError(t, c.call("command/exec", `{"command":["echo",`+js(huge)+`]`+policy+`}`), -32603, "failed to spawn command: Argument list too long (os error 7)")
	}
	// The same through process/spawn, and many arguments too long together.
	wantError(t, c.call("process/spawn", `{"command":["echo",`+js(huge)+`],"processHandle":"big","cwd":"/"}`), -32603, "failed to spawn process: Argument list too long (os error 7)")
	many := make([]string, 70000) // 7 MB: over ARG_MAX even with an unlimited stack
	for i := range many {
		many[i] = strings.Repeat("b", 100)
	}
	wantError(t, c.call("command/exec", `{"command":`+js(append([]string{"echo"}, many...))+`}`), -32603, "failed to spawn command: Argument list too long (os error 7)")
	// Many small arguments within the kernel's limits.
	args := make([]string, 10000)
	for i := range args {
		args[i] = fmt.Sprintf("arg%d", i)
	}
	argv := append([]string{"sh", "-c", `echo $#; echo "$1 ${9999}"`, "_"}, args...)
	wantResult(t, c.call("command/exec", `{"command":`+js(argv)+`}`), `{"exitCode":0,"stdout":"10000\narg0 arg9998\n","stderr":""}`)

	// A NUL byte cannot reach execve.
	for _, argv := range []string{`["echo","a\u0000b"]`, `["ec\u0000ho"]`} {
		r := c.call("command/exec", `{"command":`+argv+`}`)
		if r.Error == nil || r.Error.Code != -32603 || !strings.HasPrefix(r.Error.Message, "failed to spawn command: ") {
			t.Errorf("%s: got %+v %s", argv, r.Error, r.Result)
		}
	}
	// An empty program name is not found.
	wantError(t, c.call("command/exec", `{"command":[""]}`), -32603, "failed to spawn command: No such file or directory (os error 2)")
	// The connection is fine.
	wantResult(t, c.call("command/exec", `{"command":["echo","ok"]}`), `{"exitCode":0,"stdout":"ok\n","stderr":""}`)
}

// TestHostilePaths: cwd with "..", a file as cwd, relative commands and
// programs that cannot be executed.
func TestHostilePaths(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)
	dir := tempDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("#!/bin/sh\necho script $(pwd)\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("echo no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pwdIs := func(path string) string {
		return js(map[string]any{"exitCode": 0, "stdout": path + "\n", "stderr": ""})
	}

	// ".." is accepted and cleaned, for both families.
	wantResult(t, c.call("command/exec", `{"command":["pwd"],"cwd":`+js(dir+"/sub/deeper/../../sub/..")+`}`), pwdIs(dir))
	wantResult(t, c.call("command/exec", `{"command":["pwd"],"cwd":`+js(dir+"/sub/./deeper//")+`}`), pwdIs(dir+"/sub/deeper"))
	wantResult(t, c.call("command/exec", `{"command":["pwd"],"cwd":"/../../.."}`), pwdIs("/"))
	wantResult(t, c.call("process/spawn", `{"command":["pwd"],"processHandle":"dots","cwd":`+js(dir+"/sub/..")+`}`), `{}`)
	if p := exited(t, c.waitNote("process/exited", "processHandle", "dots", nil)); p["stdout"] != dir+"\n" {
		t.Fatalf("exited %v", p)
	}

	// A file is not a working directory.
	wantError(t, c.call("command/exec", `{"command":["pwd"],"cwd":`+js(file)+`}`), -32603, "failed to spawn command: Not a directory (os error 20)")
	wantError(t, c.call("process/spawn", `{"command":["pwd"],"processHandle":"f","cwd":`+js(file)+`}`), -32603, "failed to spawn process: Not a directory (os error 20)")
	wantError(t, c.call("command/exec", `{"command":["pwd"],"cwd":`+js(file+"/x")+`}`), -32603, "failed to spawn command: Not a directory (os error 20)")

	// A relative program with a slash runs from the command's cwd.
	wantResult(t, c.call("command/exec", `{"command":["./file"],"cwd":`+js(dir)+`}`), js(map[string]any{"exitCode": 0, "stdout": "script " + dir + "\n", "stderr": ""}))
	wantResult(t, c.call("command/exec", `{"command":["../file"],"cwd":`+js(dir+"/sub")+`}`), js(map[string]any{"exitCode": 0, "stdout": "script " + dir + "/sub\n", "stderr": ""}))
	wantResult(t, c.call("process/spawn", `{"command":["./file"],"processHandle":"rel","cwd":`+js(dir)+`}`), `{}`)
	if p := exited(t, c.waitNote("process/exited", "processHandle", "rel", nil)); p["stdout"] != "script "+dir+"\n" {
		t.Fatalf("exited %v", p)
	}
	// A relative PATH entry is looked up from the cwd too.
	wantResult(t, c.call("command/exec", `{"command":["file"],"cwd":`+js(dir)+`,"env":{"PATH":".:/usr/bin:/bin"}}`), js(map[string]any{"exitCode": 0, "stdout": "script " + dir + "\n", "stderr": ""}))

	// Not executable: a plain file, a directory.
	wantError(t, c.call("command/exec", `{"command":[`+js(plain)+`]}`), -32603, "failed to spawn command: Permission denied (os error 13)")
	wantError(t, c.call("command/exec", `{"command":[`+js(dir)+`]}`), -32603, "failed to spawn command: Permission denied (os error 13)")

	// Without PATH in the environment, a bare name is found as the
	// server would find it.
	res := result(t, c.call("command/exec", `{"command":["sh","-c","echo ran"],"env":{"PATH":null}}`))
	if res.ExitCode != 0 || res.Stdout != "ran\n" {
		t.Fatalf("%+v", res)
	}
}

// TestHostileIDs: empty, huge and odd process ids and handles.
func TestHostileIDs(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)

	wantError(t, c.call("command/exec", `{"command":["true"],"processId":"","streamStdoutStderr":true}`), -32600, "command/exec tty or streaming requires a client-supplied processId")

	big := strings.Repeat("p", 100<<10)
	id := c.send("command/exec", `{"command":["echo","hi"],"processId":`+js(big)+`,"streamStdoutStderr":true}`)
	r, _ := c.response(id)
	wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
	if o := c.execDeltas(big); string(o.stdout) != "hi\n" {
		t.Fatalf("deltas for the 100 KB id: %q", o.stdout)
	}
	wantError(t, c.call("command/exec/terminate", `{"processId":`+js(big)+`}`), -32600, `no active command/exec for process id "`+big+`"`)

	// Quotes and control characters in ids are quoted in errors.
	wantError(t, c.call("command/exec/terminate", `{"processId":"a\"b\n"}`), -32600, `no active command/exec for process id "a\"b\n"`)
	wantError(t, c.call("process/kill", `{"processHandle":"é\u0000"}`), -32600, `no active process for process handle "é\x00"`)

	// A 100 KB handle works for process/*.
	wantResult(t, c.call("process/spawn", `{"command":["echo","hi"],"processHandle":`+js(big)+`,"cwd":"/","streamStdoutStderr":true}`), `{}`)
	if p := exited(t, c.waitNote("process/exited", "processHandle", big, nil)); p["exitCode"] != float64(0) {
		t.Fatalf("exited %v", p)
	}
}

// TestHostileStdin: writes after closeStdin, after exit, invalid base64 and
// odd sizes.
func TestHostileStdin(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)

	// Closed stdin: closing again is fine, writing is refused, the
	// process runs on.
	id := c.send("command/exec", `{"command":["sh","-c","cat; echo after-eof; sleep 30"],"processId":"s","streamStdin":true,"streamStdoutStderr":true}`)
	wantResult(t, c.retryWhileInactive("command/exec/write", `{"processId":"s","deltaBase64":"YQo="}`), `{}`)
	wantError(t, c.call("command/exec/write", `{"processId":"s","deltaBase64":"!!!"}`), -32602, "invalid deltaBase64: Invalid symbol 33, offset 0.")
	wantError(t, c.call("command/exec/write", `{"processId":"s","deltaBase64":"YQ"}`), -32602, "invalid deltaBase64: Invalid padding")
	wantResult(t, c.call("command/exec/write", `{"processId":"s","deltaBase64":"","closeStdin":true}`), `{}`)
	c.waitOutput("command/exec/outputDelta", "processId", "s", "a\nafter-eof\n")
	wantResult(t, c.call("command/exec/write", `{"processId":"s","closeStdin":true}`), `{}`)
	wantError(t, c.call("command/exec/write", `{"processId":"s","deltaBase64":"YQo="}`), -32600, "stdin is already closed")
	// Resizing a process without a terminal, and a size out of range.
	wantError(t, c.call("command/exec/resize", `{"processId":"s","size":{"rows":10,"cols":10}}`), -32600, `command/exec process "s" has no terminal (tty: false)`)
	r := c.call("command/exec/resize", `{"processId":"s","size":{"rows":70000,"cols":10}}`)
	if r.Error == nil || r.Error.Code != -32600 {
		t.Fatalf("rows 70000: %+v %s", r.Error, r.Result)
	}
	wantResult(t, c.call("command/exec/terminate", `{"processId":"s"}`), `{}`)
	resp, _ := c.response(id)
	wantResult(t, resp, `{"exitCode":137,"stdout":"","stderr":""}`)

	// After exit every method says the process is gone.
	wantError(t, c.call("command/exec/write", `{"processId":"s","deltaBase64":"YQo="}`), -32600, `no active command/exec for process id "s"`)
	wantError(t, c.call("command/exec/resize", `{"processId":"s","size":{"rows":1,"cols":1}}`), -32600, `no active command/exec for process id "s"`)
	wantResult(t, c.call("process/spawn", `{"command":["true"],"processHandle":"gone","cwd":"/","streamStdin":true}`), `{}`)
	c.waitNote("process/exited", "processHandle", "gone", nil)
	wantError(t, c.call("process/writeStdin", `{"processHandle":"gone","deltaBase64":"YQo="}`), -32600, `no active process for process handle "gone"`)
	wantError(t, c.call("process/resizePty", `{"processHandle":"gone","size":{"rows":1,"cols":1}}`), -32600, `no active process for process handle "gone"`)

	// A zero-sized terminal is legal.
	id = c.send("command/exec", `{"command":["stty","size"],"processId":"z","tty":true,"size":{"rows":0,"cols":0}}`)
	resp, _ = c.response(id)
	wantResult(t, resp, `{"exitCode":0,"stdout":"","stderr":""}`)

	// A large write to a process that does not read is not a hang for
	// the other requests of the connection.
	id = c.send("command/exec", `{"command":["sleep","30"],"processId":"full","streamStdin":true}`)
	c.waitActive("command/exec/resize", `{"processId":"full","size":{"rows":1,"cols":1}}`)
	blocked := c.send("command/exec/write", `{"processId":"full","deltaBase64":`+js(b64(strings.Repeat("x", 1<<20)))+`}`)
	wantResult(t, c.call("command/exec", `{"command":["echo","meanwhile"]}`), `{"exitCode":0,"stdout":"meanwhile\n","stderr":""}`)
	wantResult(t, c.call("command/exec/terminate", `{"processId":"full"}`), `{}`)
	resp, _ = c.response(blocked)
	if resp.Error == nil || resp.Error.Code != -32600 {
		t.Fatalf("write to a killed process: %+v %s", resp.Error, resp.Result)
	}
	resp, _ = c.response(id)
	wantResult(t, resp, `{"exitCode":137,"stdout":"","stderr":""}`)
}

// TestHostileFlood: 50 MiB printed while streaming is cut at the cap and
// the connection stays healthy; without a cap every byte arrives, in order.
func TestHostileFlood(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)

	id := c.send("command/exec", `{"command":["head","-c","52428800","/dev/zero"],"processId":"flood","streamStdoutStderr":true}`)
	r, _ := c.response(id)
	if res := result(t, r); res.ExitCode != 141 {
		t.Fatalf("%+v", res)
	}
	o := c.execDeltas("flood")
	if len(o.stdout) != 1<<20 || o.deltas[len(o.deltas)-1].params["capReached"] != true {
		t.Fatalf("streamed %d bytes", len(o.stdout))
	}
	wantResult(t, c.call("command/exec", `{"command":["echo","healthy"]}`), `{"exitCode":0,"stdout":"healthy\n","stderr":""}`)

	const n = 4 << 20
	id = c.send("command/exec", `{"command":["sh","-c","seq 1 2000000 | head -c 4194304"],"processId":"all","streamStdoutStderr":true,"disableOutputCap":true}`)
	r, _ = c.response(id)
	wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
	o = c.execDeltas("all")
	if len(o.stdout) != n || !strings.HasPrefix(string(o.stdout), "1\n2\n3\n") {
		t.Fatalf("streamed %d bytes, want %d", len(o.stdout), n)
	}
	for _, d := range o.deltas {
		if d.params["capReached"] != false {
			t.Fatal("capReached without a cap")
		}
	}
	// Buffered, 50 MiB is cut at 1 MiB and the response is quick.
	begin := time.Now()
	res := result(t, c.call("command/exec", `{"command":["head","-c","52428800","/dev/zero"]}`))
	if len(res.Stdout) != 1<<20 || time.Since(begin) > 5*time.Second {
		t.Fatalf("%d bytes after %v", len(res.Stdout), time.Since(begin))
	}
}

// TestMaxProcesses: a connection runs at most MaxProcesses processes, of
// both families; others are not affected, and a slot frees on exit.
func TestMaxProcesses(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *execmethods.Options) { o.MaxProcesses = 2 })
	c := connect(t, srv, true)
	other := connect(t, srv, true)

	a := c.send("command/exec", `{"command":["sleep","30"],"processId":"a"}`)
	wantResult(t, c.call("process/spawn", `{"command":["sleep","30"],"processHandle":"b","cwd":"/"}`), `{}`)
	c.waitActive("command/exec/resize", `{"processId":"a","size":{"rows":1,"cols":1}}`)
	const full = "too many running processes on this connection (the limit is 2)"
	wantError(t, c.call("command/exec", `{"command":["true"]}`), -32600, full)
	wantError(t, c.call("command/exec", `{"command":["true"],"processId":"c"}`), -32600, full)
	wantError(t, c.call("process/spawn", `{"command":["true"],"processHandle":"c","cwd":"/"}`), -32600, full)
	// A refused request reserved nothing.
	wantError(t, c.call("command/exec/terminate", `{"processId":"c"}`), -32600, `no active command/exec for process id "c"`)

	wantResult(t, other.call("command/exec", `{"command":["echo","other"]}`), `{"exitCode":0,"stdout":"other\n","stderr":""}`)

	wantResult(t, c.call("command/exec/terminate", `{"processId":"a"}`), `{}`)
	r, _ := c.response(a)
	wantResult(t, r, `{"exitCode":137,"stdout":"","stderr":""}`)
	wantResult(t, c.call("command/exec", `{"command":["echo","again"]}`), `{"exitCode":0,"stdout":"again\n","stderr":""}`)
	wantResult(t, c.call("process/kill", `{"processHandle":"b"}`), `{}`)
	c.waitNote("process/exited", "processHandle", "b", nil)
	// Failed spawns give their slot back.
	for range 3 {
		wantError(t, c.call("command/exec", `{"command":["/nonexistent"]}`), -32603, "failed to spawn command: No such file or directory (os error 2)")
		wantError(t, c.call("process/spawn", `{"command":["/nonexistent"],"processHandle":"n","cwd":"/"}`), -32603, "failed to spawn process: No such file or directory (os error 2)")
	}
	wantResult(t, c.call("command/exec", `{"command":["true"],"processId":"x"}`), `{"exitCode":0,"stdout":"","stderr":""}`)
}

// TestConcurrentConnections: 3 connections run 10 commands each at once,
// with the same process ids on every connection; each command's output
// reaches its own connection only, and a terminate touches only its own.
func TestConcurrentConnections(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	const conns, cmds = 3, 10
	cs := make([]*client, conns)
	for i := range cs {
		cs[i] = connect(t, srv, false)
	}

	ids := make([][]int64, conns)
	for j := range cmds {
		for i, c := range cs {
			name := fmt.Sprintf("conn%d-cmd%d", i, j)
			params := `{"command":["sh","-c","echo \"$0\"; sleep 0.3; echo \"$0\" >&2",` + js(name) + `]`
			if j%2 == 0 {
				params += `,"processId":"p` + itoa(j) + `","streamStdoutStderr":true`
			}
			ids[i] = append(ids[i], c.send("command/exec", params+"}"))
		}
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for j, id := range ids[i] {
				name := fmt.Sprintf("conn%d-cmd%d", i, j)
				r, pos := c.response(id)
				if j%2 == 1 {
					wantResult(t, r, js(map[string]any{"exitCode": 0, "stdout": name + "\n", "stderr": name + "\n"}))
					continue
				}
				wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
				o := c.execDeltas("p" + itoa(j))
				if string(o.stdout) != name+"\n" || string(o.stderr) != name+"\n" {
					t.Errorf("%s: deltas %q %q", name, o.stdout, o.stderr)
				}
				for _, d := range o.deltas {
					if d.pos > pos {
						t.Errorf("%s: delta after the response", name)
					}
				}
			}
		})
	}
	wg.Wait()

	// The same id on two connections: terminating one leaves the other.
	a := cs[0].send("command/exec", `{"command":["sleep","30"],"processId":"same"}`)
	cs[1].send("command/exec", `{"command":["sleep","30"],"processId":"same"}`)
	cs[0].waitActive("command/exec/resize", `{"processId":"same","size":{"rows":1,"cols":1}}`)
	cs[1].waitActive("command/exec/resize", `{"processId":"same","size":{"rows":1,"cols":1}}`)
	wantError(t, cs[2].call("command/exec/terminate", `{"processId":"same"}`), -32600, `no active command/exec for process id "same"`)
	wantResult(t, cs[0].call("command/exec/terminate", `{"processId":"same"}`), `{}`)
	r, _ := cs[0].response(a)
	wantResult(t, r, `{"exitCode":137,"stdout":"","stderr":""}`)
	wantError(t, cs[1].call("command/exec/resize", `{"processId":"same","size":{"rows":1,"cols":1}}`), -32600, `command/exec process "same" has no terminal (tty: false)`)
	// Closing connection 1 kills its process; connection 2 is unaffected.
	cs[1].close()
	wantResult(t, cs[2].call("command/exec", `{"command":["echo","still"]}`), `{"exitCode":0,"stdout":"still\n","stderr":""}`)
}
