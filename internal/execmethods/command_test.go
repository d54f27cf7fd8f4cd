package execmethods_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/execmethods"
)

// TestCommandExecExamples replays the examples of PROTOCOL.md §3.1 that
// answer with one response.
func TestCommandExecExamples(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	dir := tempDir(t)

	t.Run("echo", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("command/exec", `{"command":["echo","hi"]}`), `{"exitCode":0,"stdout":"hi\n","stderr":""}`)
	})
	t.Run("cwd env stderr exit code", func(t *testing.T) {
		c := c.as(t)
		r := c.call("command/exec", `{"command":["sh","-c","pwd; echo $FOO; echo err >&2; exit 3"],"cwd":`+js(dir)+`,"env":{"FOO":"bar"}}`)
		wantResult(t, r, js(map[string]any{"exitCode": 3, "stdout": dir + "\nbar\n", "stderr": "err\n"}))
	})
	t.Run("timeout 300ms is 124", func(t *testing.T) {
		c := c.as(t)
		begin := time.Now()
		wantResult(t, c.call("command/exec", `{"command":["sleep","5"],"timeoutMs":300}`), `{"exitCode":124,"stdout":"","stderr":""}`)
		if d := time.Since(begin); d < 300*time.Millisecond || d > 8*time.Second {
			t.Errorf("a 300ms timeout answered after %v", d)
		}
	})
	t.Run("outputBytesCap 5", func(t *testing.T) {
		c := c.as(t)
		r := c.call("command/exec", `{"command":["sh","-c","echo 1234567890; echo abcdefghij >&2"],"outputBytesCap":5}`)
		wantResult(t, r, `{"exitCode":0,"stdout":"12345","stderr":"abcde"}`)
	})
	t.Run("env null unsets", func(t *testing.T) {
		c := c.as(t)
		r := c.call("command/exec", `{"command":["sh","-c","echo ${HOME-unset} $FOO"],"env":{"HOME":null,"FOO":"bar"}}`)
		wantResult(t, r, `{"exitCode":0,"stdout":"unset bar\n","stderr":""}`)
	})
	t.Run("default cap is 1 MiB buffered", func(t *testing.T) {
		c := c.as(t)
		res := result(t, c.call("command/exec", `{"command":["sh","-c","head -c 2000000 /dev/zero | tr '\\0' x; head -c 1048577 /dev/zero | tr '\\0' y >&2"]}`))
		if len(res.Stdout) != 1<<20 || strings.Trim(res.Stdout, "x") != "" || len(res.Stderr) != 1<<20 || strings.Trim(res.Stderr, "y") != "" {
			t.Fatalf("stdout %d bytes, stderr %d bytes; want 1048576 each", len(res.Stdout), len(res.Stderr))
		}
	})
	t.Run("exactly the cap is kept whole", func(t *testing.T) {
		c := c.as(t)
		res := result(t, c.call("command/exec", `{"command":["sh","-c","printf 12345"],"outputBytesCap":5}`))
		if res.Stdout != "12345" || res.ExitCode != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("disableOutputCap", func(t *testing.T) {
		c := c.as(t)
		res := result(t, c.call("command/exec", `{"command":["sh","-c","head -c 1500000 /dev/zero | tr '\\0' x"],"disableOutputCap":true}`))
		if len(res.Stdout) != 1500000 || res.ExitCode != 0 {
			t.Fatalf("stdout %d bytes, exit %d; want 1500000, 0", len(res.Stdout), res.ExitCode)
		}
	})
	t.Run("outputBytesCap 0 keeps nothing", func(t *testing.T) {
		c := c.as(t)
		// echo usually meets the closed pipe (141); either way nothing is kept.
		res := result(t, c.call("command/exec", `{"command":["sh","-c","echo hi; echo err >&2"],"outputBytesCap":0}`))
		if res.Stdout != "" || res.Stderr != "" || (res.ExitCode != 0 && res.ExitCode != 141) {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("non-UTF-8 output becomes U+FFFD", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("command/exec", `{"command":["printf","\\377\\376a\\n"]}`), `{"exitCode":0,"stdout":"\ufffda\n","stderr":""}`)
	})
	t.Run("exit by signal is 128+N", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("command/exec", `{"command":["sh","-c","kill -TERM $$"]}`), `{"exitCode":143,"stdout":"","stderr":""}`)
	})
	t.Run("relative cwd is taken from the server's", func(t *testing.T) {
		c := c.as(t)
		// Options.Cwd is "" here: the test's working directory.
		r := c.call("command/exec", `{"command":["pwd","-P"],"cwd":"."}`)
		wd, _ := execmethodsWd()
		wantResult(t, r, js(map[string]any{"exitCode": 0, "stdout": wd + "\n", "stderr": ""}))
	})
}

// TestCommandExecStreaming: deltas are base64, split by stream, in order,
// and every one comes before the response, which then carries no output.
func TestCommandExecStreaming(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)

	id := c.send("command/exec", `{"command":["sh","-c","echo a; sleep 0.3; echo b >&2"],"processId":"p1","streamStdoutStderr":true}`)
	r, pos := c.response(id)
	wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
	o := c.execDeltas("p1")
	if string(o.stdout) != "a\n" || string(o.stderr) != "b\n" || len(o.deltas) != 2 {
		t.Fatalf("deltas %+v", o.deltas)
	}
	// The example's exact notifications: "YQo=" then "Ygo=".
	if d := o.deltas[0].params; d["stream"] != "stdout" || d["deltaBase64"] != "YQo=" || d["capReached"] != false {
		t.Errorf("first delta %v", d)
	}
	if d := o.deltas[1].params; d["stream"] != "stderr" || d["deltaBase64"] != "Ygo=" || d["capReached"] != false {
		t.Errorf("second delta %v", d)
	}
	for _, d := range o.deltas {
		if d.pos > pos {
			t.Errorf("delta %v after the response", d.params)
		}
	}

	// Many chunks: still all before the response, and complete.
	id = c.send("command/exec", `{"command":["sh","-c","for i in $(seq 1 2000); do echo line $i; done; echo done >&2"],"processId":"many","streamStdoutStderr":true}`)
	r, pos = c.response(id)
	wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
	o = c.execDeltas("many")
	var want bytes.Buffer
	for i := 1; i <= 2000; i++ {
		want.WriteString("line " + itoa(i) + "\n")
	}
	if !bytes.Equal(o.stdout, want.Bytes()) || string(o.stderr) != "done\n" {
		t.Fatalf("stdout %d bytes, stderr %q", len(o.stdout), o.stderr)
	}
	for _, d := range o.deltas {
		if d.pos > pos {
			t.Fatalf("delta after the response")
		}
	}
}

// TestCommandExecStdin: the cat example; write, then closeStdin ends it.
func TestCommandExecStdin(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)

	id := c.send("command/exec", `{"command":["cat"],"processId":"p2","streamStdin":true,"streamStdoutStderr":true}`)
	wantResult(t, c.retryWhileInactive("command/exec/write", `{"processId":"p2","deltaBase64":"aGVsbG8K"}`), `{}`)
	c.waitOutput("command/exec/outputDelta", "processId", "p2", "hello\n")
	wantResult(t, c.call("command/exec/write", `{"processId":"p2","closeStdin":true}`), `{}`)
	r, _ := c.response(id)
	wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
	if o := c.execDeltas("p2"); string(o.stdout) != "hello\n" {
		t.Fatalf("stdout %q", o.stdout)
	}

	// streamStdin without streamed output: the output is buffered into the
	// response; a write and closeStdin in one request.
	id = c.send("command/exec", `{"command":["cat"],"processId":"p3","streamStdin":true}`)
	wantResult(t, c.retryWhileInactive("command/exec/write", `{"processId":"p3","deltaBase64":"eHl6","closeStdin":true}`), `{}`)
	r, _ = c.response(id)
	wantResult(t, r, `{"exitCode":0,"stdout":"xyz","stderr":""}`)

	// Without streamStdin, stdin is /dev/null: cat ends at once.
	wantResult(t, c.call("command/exec", `{"command":["cat"]}`), `{"exitCode":0,"stdout":"","stderr":""}`)
}

// TestCommandExecTTY: the stty example, under dangerFullAccess as in the
// reference's transcript and under the default sandbox, where the
// terminal stays usable.
func TestCommandExecTTY(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	for _, policy := range []string{`,"sandboxPolicy":{"type":"dangerFullAccess"}`, ``} {
		name := "default sandbox"
		if policy != "" {
			name = "dangerFullAccess"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if policy == "" {
				requireSandbox(t)
			}
			c := connect(t, srv, false)
			id := c.send("command/exec", `{"command":["sh","-c","stty size; read x; echo got $x; stty size"],"processId":"p3","tty":true,"size":{"rows":24,"cols":80}`+policy+`}`)
			c.waitOutput("command/exec/outputDelta", "processId", "p3", "24 80\r\n")
			if d := c.execDeltas("p3").deltas[0].params; d["deltaBase64"] != "MjQgODANCg==" || d["stream"] != "stdout" {
				t.Errorf("first delta %v, want the transcript's", d)
			}
			wantResult(t, c.call("command/exec/resize", `{"processId":"p3","size":{"rows":30,"cols":100}}`), `{}`)
			wantResult(t, c.call("command/exec/write", `{"processId":"p3","deltaBase64":"aGkK"}`), `{}`)
			r, pos := c.response(id)
			wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
			o := c.execDeltas("p3")
			// The terminal echoes "hi" with CRLF; everything is "stdout".
			if string(o.stdout) != "24 80\r\nhi\r\ngot hi\r\n30 100\r\n" || len(o.stderr) != 0 {
				t.Fatalf("tty output %q, stderr %q", o.stdout, o.stderr)
			}
			if last := o.deltas[len(o.deltas)-1]; last.pos > pos {
				t.Fatal("delta after the response")
			}
		})
	}

	t.Run("default size and closeStdin types EOF", func(t *testing.T) {
		t.Parallel()
		c := connect(t, srv, false)
		id := c.send("command/exec", `{"command":["sh","-c","stty size; cat; echo eof"],"processId":"t","tty":true,"sandboxPolicy":{"type":"dangerFullAccess"}}`)
		c.waitOutput("command/exec/outputDelta", "processId", "t", "24 80\r\n")
		wantResult(t, c.call("command/exec/write", `{"processId":"t","closeStdin":true}`), `{}`)
		r, _ := c.response(id)
		wantResult(t, r, `{"exitCode":0,"stdout":"","stderr":""}`)
		if o := c.execDeltas("t"); !strings.HasSuffix(string(o.stdout), "eof\r\n") {
			t.Fatalf("tty output %q", o.stdout)
		}
	})
}

// TestCommandExecTerminate: terminate answers {} and the command's own
// response follows with 137.
func TestCommandExecTerminate(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	id := c.send("command/exec", `{"command":["sleep","30"],"processId":"p4"}`)
	tr := c.retryWhileInactive("command/exec/terminate", `{"processId":"p4"}`)
	wantResult(t, tr, `{}`)
	r, _ := c.response(id)
	wantResult(t, r, `{"exitCode":137,"stdout":"","stderr":""}`)
	// The id is free again, and no longer active.
	wantError(t, c.call("command/exec/terminate", `{"processId":"p4"}`), -32600, `no active command/exec for process id "p4"`)
	wantResult(t, c.call("command/exec", `{"command":["true"],"processId":"p4"}`), `{"exitCode":0,"stdout":"","stderr":""}`)
}

// TestCommandExecStreamingCap: the default cap on streamed output is
// 1 MiB per stream, in chunks of at most 64 KiB, the last capped.
func TestCommandExecStreamingCap(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)

	for _, tt := range []struct {
		name, params string
		cap          int
	}{
		{"default 1 MiB", ``, 1 << 20},
		{"outputBytesCap 5", `,"outputBytesCap":5`, 5},
		{"outputBytesCap 100000", `,"outputBytesCap":100000`, 100000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c.as(t)
			pid := "cap" + itoa(tt.cap)
			id := c.send("command/exec", `{"command":["yes","0123456789"],"processId":"`+pid+`","streamStdoutStderr":true`+tt.params+`}`)
			r, pos := c.response(id)
			// yes writes on after the cap and dies of SIGPIPE.
			wantResult(t, r, `{"exitCode":141,"stdout":"","stderr":""}`)
			o := c.execDeltas(pid)
			if len(o.stdout) != tt.cap || len(o.stderr) != 0 {
				t.Fatalf("streamed %d bytes, want %d", len(o.stdout), tt.cap)
			}
			for i, d := range o.deltas {
				b, _ := decodeB64(d.params["deltaBase64"].(string))
				last := i == len(o.deltas)-1
				if d.params["capReached"] != last || len(b) > 64<<10 || len(b) == 0 || d.pos > pos {
					t.Fatalf("delta %d of %d: %d bytes, capReached %v", i, len(o.deltas), len(b), d.params["capReached"])
				}
			}
		})
	}

	t.Run("outputBytesCap 0 reports the cap at once", func(t *testing.T) {
		c := c.as(t)
		id := c.send("command/exec", `{"command":["sh","-c","echo hi; echo err >&2"],"processId":"zero","streamStdoutStderr":true,"outputBytesCap":0}`)
		r, _ := c.response(id)
		if res := result(t, r); res.Stdout != "" || res.Stderr != "" {
			t.Fatalf("%+v", res)
		}
		o := c.execDeltas("zero")
		if len(o.stdout)+len(o.stderr) != 0 || len(o.deltas) != 2 {
			t.Fatalf("deltas %v", o.deltas)
		}
		for _, d := range o.deltas {
			if d.params["capReached"] != true || d.params["deltaBase64"] != "" {
				t.Fatalf("delta %v", d.params)
			}
		}
	})
}

// TestCommandExecTimeouts: the default timeout applies when none is given,
// timeoutMs 0 and disableTimeout run without one.
func TestCommandExecTimeouts(t *testing.T) {
	t.Parallel()
	if execmethods.DefaultTimeout != 10*time.Second {
		t.Errorf("DefaultTimeout = %v, want the reference's 10s", execmethods.DefaultTimeout)
	}
	srv := newServer(t, func(o *execmethods.Options) { o.DefaultTimeout = 300 * time.Millisecond })
	c := connect(t, srv, false)
	for _, tt := range []struct {
		params string
		code   int
	}{
		{`{"command":["sleep","0.8"]}`, 124},
		{`{"command":["sleep","0.8"],"timeoutMs":null}`, 124},
		{`{"command":["sleep","0.8"],"timeoutMs":0}`, 0},
		{`{"command":["sleep","0.8"],"disableTimeout":true}`, 0},
		{`{"command":["sleep","0.8"],"timeoutMs":2000}`, 0},
		{`{"command":["sleep","5"],"timeoutMs":100}`, 124},
	} {
		t.Run(tt.params, func(t *testing.T) {
			c := c.as(t)
			t.Parallel()
			if res := result(t, c.call("command/exec", tt.params)); res.ExitCode != tt.code {
				t.Fatalf("exit %d, want %d", res.ExitCode, tt.code)
			}
		})
	}
}
