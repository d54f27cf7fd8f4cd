package execmethods_test

import (
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/execmethods"
)

// exited decodes a process/exited notification, checking it has exactly
// the reference's fields.
func exited(t *testing.T, n note) map[string]any {
	t.Helper()
	for _, k := range []string{"processHandle", "exitCode", "outputDrainTimedOut", "stdout", "stdoutCapReached", "stderr", "stderrCapReached"} {
		if _, ok := n.params[k]; !ok {
			t.Fatalf("process/exited without %s: %v", k, n.params)
		}
	}
	if len(n.params) != 7 {
		t.Fatalf("process/exited has extra fields: %v", n.params)
	}
	return n.params
}

// TestProcessExamples replays PROTOCOL.md §3.2.
func TestProcessExamples(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)
	dir := tempDir(t)
	cwd := `"cwd":` + js(dir)

	t.Run("spawn answers at once, exited reports", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["sh","-c","pwd; echo out; echo err >&2; exit 4"],"processHandle":"h1",`+cwd+`}`), `{}`)
		p := exited(t, c.waitNote("process/exited", "processHandle", "h1", nil))
		want := map[string]any{"processHandle": "h1", "exitCode": 4, "outputDrainTimedOut": false, "stdout": dir + "\nout\n", "stdoutCapReached": false, "stderr": "err\n", "stderrCapReached": false}
		if js(p) != js(want) {
			t.Fatalf("exited %v, want %v", p, want)
		}
	})

	t.Run("response before exit", func(t *testing.T) {
		c := c.as(t)
		id := c.send("process/spawn", `{"command":["sleep","0.3"],"processHandle":"slow",`+cwd+`}`)
		r, pos := c.response(id)
		wantResult(t, r, `{}`)
		n := c.waitNote("process/exited", "processHandle", "slow", nil)
		if n.pos < pos || exited(t, n)["exitCode"] != float64(0) {
			t.Fatalf("exited %v at %d, response at %d", n.params, n.pos, pos)
		}
	})

	t.Run("cat with streamed stdin and output", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["cat"],"processHandle":"h2",`+cwd+`,"streamStdin":true,"streamStdoutStderr":true}`), `{}`)
		wantResult(t, c.call("process/writeStdin", `{"processHandle":"h2","deltaBase64":"aGVsbG8K","closeStdin":true}`), `{}`)
		n := c.waitNote("process/exited", "processHandle", "h2", nil)
		p := exited(t, n)
		if p["exitCode"] != float64(0) || p["stdout"] != "" || p["stderr"] != "" {
			t.Fatalf("exited %v", p)
		}
		o := c.deltas("process/outputDelta", "processHandle", "h2")
		if string(o.stdout) != "hello\n" {
			t.Fatalf("stdout %q", o.stdout)
		}
		if d := o.deltas[0].params; d["deltaBase64"] != "aGVsbG8K" || d["capReached"] != false || d["stream"] != "stdout" {
			t.Errorf("delta %v", d)
		}
		for _, d := range o.deltas {
			if d.pos > n.pos {
				t.Fatal("delta after process/exited")
			}
		}
	})

	t.Run("kill is 137", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["sleep","30"],"processHandle":"h3",`+cwd+`}`), `{}`)
		wantResult(t, c.call("process/kill", `{"processHandle":"h3"}`), `{}`)
		if p := exited(t, c.waitNote("process/exited", "processHandle", "h3", nil)); p["exitCode"] != float64(137) {
			t.Fatalf("exited %v", p)
		}
		// Gone: the handle is free, and no longer active.
		wantError(t, c.call("process/kill", `{"processHandle":"h3"}`), -32600, `no active process for process handle "h3"`)
		wantError(t, c.call("process/writeStdin", `{"processHandle":"h3","deltaBase64":"aGk="}`), -32600, `no active process for process handle "h3"`)
	})

	t.Run("caps", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["sh","-c","echo 1234567890; echo abcdefghij >&2"],"processHandle":"cap",`+cwd+`,"outputBytesCap":5}`), `{}`)
		p := exited(t, c.waitNote("process/exited", "processHandle", "cap", nil))
		if p["stdout"] != "12345" || p["stderr"] != "abcde" || p["stdoutCapReached"] != true || p["stderrCapReached"] != true {
			t.Fatalf("exited %v", p)
		}
		// null: no cap at all.
		wantResult(t, c.call("process/spawn", `{"command":["sh","-c","head -c 1100000 /dev/zero | tr '\\0' x"],"processHandle":"nocap",`+cwd+`,"outputBytesCap":null}`), `{}`)
		p = exited(t, c.waitNote("process/exited", "processHandle", "nocap", nil))
		if s, _ := p["stdout"].(string); len(s) != 1100000 || p["stdoutCapReached"] != false {
			t.Fatalf("stdout %d bytes, capReached %v", len(s), p["stdoutCapReached"])
		}
		// Absent: the default 1 MiB.
		wantResult(t, c.call("process/spawn", `{"command":["sh","-c","head -c 1100000 /dev/zero | tr '\\0' x"],"processHandle":"defcap",`+cwd+`}`), `{}`)
		p = exited(t, c.waitNote("process/exited", "processHandle", "defcap", nil))
		if s, _ := p["stdout"].(string); len(s) != 1<<20 || p["stdoutCapReached"] != true {
			t.Fatalf("stdout %d bytes, capReached %v", len(s), p["stdoutCapReached"])
		}
	})

	t.Run("env", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["sh","-c","echo ${HOME-unset} $FOO"],"processHandle":"env",`+cwd+`,"env":{"HOME":null,"FOO":"bar"}}`), `{}`)
		if p := exited(t, c.waitNote("process/exited", "processHandle", "env", nil)); p["stdout"] != "unset bar\n" {
			t.Fatalf("exited %v", p)
		}
	})

	t.Run("tty and resizePty", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["sh","-c","stty size; read x; echo got $x; stty size"],"processHandle":"tty",`+cwd+`,"tty":true,"size":{"rows":24,"cols":80}}`), `{}`)
		c.waitOutput("process/outputDelta", "processHandle", "tty", "24 80\r\n")
		wantResult(t, c.call("process/resizePty", `{"processHandle":"tty","size":{"rows":30,"cols":100}}`), `{}`)
		wantResult(t, c.call("process/writeStdin", `{"processHandle":"tty","deltaBase64":"aGkK"}`), `{}`)
		p := exited(t, c.waitNote("process/exited", "processHandle", "tty", nil))
		o := c.deltas("process/outputDelta", "processHandle", "tty")
		if p["exitCode"] != float64(0) || string(o.stdout) != "24 80\r\nhi\r\ngot hi\r\n30 100\r\n" {
			t.Fatalf("exited %v, output %q", p, o.stdout)
		}
	})

	t.Run("streamed output cap", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["yes"],"processHandle":"yes",`+cwd+`,"streamStdoutStderr":true,"outputBytesCap":70000}`), `{}`)
		n := c.waitNote("process/exited", "processHandle", "yes", nil)
		p := exited(t, n)
		o := c.deltas("process/outputDelta", "processHandle", "yes")
		if p["exitCode"] != float64(141) || p["stdoutCapReached"] != true || p["stdout"] != "" || len(o.stdout) != 70000 {
			t.Fatalf("exited %v, streamed %d", p, len(o.stdout))
		}
		if last := o.deltas[len(o.deltas)-1]; last.params["capReached"] != true || len(o.deltas) < 2 {
			t.Fatalf("deltas %d, last %v", len(o.deltas), last.params)
		}
	})
}

// TestProcessTimeouts: absent timeoutMs is the default, null disables it.
func TestProcessTimeouts(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *execmethods.Options) { o.DefaultTimeout = 300 * time.Millisecond })
	c := connect(t, srv, true)
	cwd := `"cwd":` + js(tempDir(t))
	for _, tt := range []struct{ handle, extra string }{
		{"absent", ``},
		{"null", `,"timeoutMs":null`},
		{"short", `,"timeoutMs":100`},
		{"long", `,"timeoutMs":3000`},
	} {
		wantResult(t, c.call("process/spawn", `{"command":["sleep","0.8"],"processHandle":"`+tt.handle+`",`+cwd+tt.extra+`}`), `{}`)
	}
	for _, tt := range []struct {
		handle string
		code   float64
	}{{"absent", 124}, {"null", 0}, {"short", 124}, {"long", 0}} {
		if p := exited(t, c.waitNote("process/exited", "processHandle", tt.handle, nil)); p["exitCode"] != tt.code {
			t.Errorf("%s: exited %v, want %v", tt.handle, p, tt.code)
		}
	}
	// timeoutMs of the wrong type.
	r := c.call("process/spawn", `{"command":["true"],"processHandle":"x",`+cwd+`,"timeoutMs":"5"}`)
	if r.Error == nil || r.Error.Code != -32600 || !strings.Contains(r.Error.Message, "timeoutMs") {
		t.Fatalf("got %+v", r)
	}
}
