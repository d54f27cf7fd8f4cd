package execmethods_test

import (
	"strings"
	"testing"
)

// TestCommandExecErrors: every error row the reference was seen to give
// for the command/exec family, with its code and text.
func TestCommandExecErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	dir := tempDir(t)

	for _, tt := range []struct {
		name   string
		method string
		params string
		code   int64
		msg    string
	}{
		{"tty without processId", "command/exec", `{"command":["echo","hi"],"tty":true}`, -32600, "command/exec tty or streaming requires a client-supplied processId"},
		{"streamStdin without processId", "command/exec", `{"command":["echo","hi"],"streamStdin":true}`, -32600, "command/exec tty or streaming requires a client-supplied processId"},
		{"streamStdoutStderr without processId", "command/exec", `{"command":["echo","hi"],"streamStdoutStderr":true}`, -32600, "command/exec tty or streaming requires a client-supplied processId"},
		{"size without tty", "command/exec", `{"command":["echo","hi"],"size":{"rows":10,"cols":10}}`, -32602, "command/exec size requires tty: true"},
		{"cap and disableOutputCap", "command/exec", `{"command":["echo","hi"],"outputBytesCap":5,"disableOutputCap":true}`, -32602, "command/exec cannot set both outputBytesCap and disableOutputCap"},
		{"timeoutMs and disableTimeout", "command/exec", `{"command":["echo","hi"],"timeoutMs":5,"disableTimeout":true}`, -32602, "command/exec cannot set both timeoutMs and disableTimeout"},
		{"negative timeoutMs", "command/exec", `{"command":["echo","hi"],"timeoutMs":-5}`, -32602, "command/exec timeoutMs must be non-negative, got -5"},
		{"sandboxPolicy and permissionProfile", "command/exec", `{"command":["echo","hi"],"sandboxPolicy":{"type":"readOnly"},"permissionProfile":":read-only"}`, -32600, "`permissionProfile` cannot be combined with `sandboxPolicy`"},
		{"unknown profile", "command/exec", `{"command":["echo","hi"],"permissionProfile":":bogus"}`, -32600, "invalid permission profile: default_permissions refers to unknown built-in profile `:bogus`"},
		{"missing binary", "command/exec", `{"command":["/nonexistent/binary"]}`, -32603, "failed to spawn command: No such file or directory (os error 2)"},
		{"missing binary on PATH", "command/exec", `{"command":["no-such-binary-execmethods"]}`, -32603, "failed to spawn command: No such file or directory (os error 2)"},
		{"empty command", "command/exec", `{"command":[]}`, -32600, "command must not be empty"},
		{"missing command", "command/exec", `{}`, -32600, "Invalid request: missing field `command`"},
		{"missing params", "command/exec", `null`, -32600, "Invalid request: missing field `params`"},
		{"missing cwd", "command/exec", `{"command":["true"],"cwd":` + js(dir+"/nope") + `}`, -32603, "failed to spawn command: No such file or directory (os error 2)"},
		{"write unknown id", "command/exec/write", `{"processId":"zz","deltaBase64":"aGk="}`, -32600, `no active command/exec for process id "zz"`},
		{"terminate unknown id", "command/exec/terminate", `{"processId":"zz"}`, -32600, `no active command/exec for process id "zz"`},
		{"resize unknown id", "command/exec/resize", `{"processId":"zz","size":{"rows":1,"cols":1}}`, -32600, `no active command/exec for process id "zz"`},
		{"invalid base64", "command/exec/write", `{"processId":"zz","deltaBase64":"!!!"}`, -32602, "invalid deltaBase64: Invalid symbol 33, offset 0."},
		{"write without processId", "command/exec/write", `{"deltaBase64":"aGk="}`, -32600, "Invalid request: missing field `processId`"},
		{"resize without size", "command/exec/resize", `{"processId":"zz"}`, -32600, "Invalid request: missing field `size`"},
		{"resize without cols", "command/exec/resize", `{"processId":"zz","size":{"rows":1}}`, -32600, "Invalid request: missing field `cols`"},
		{"externalSandbox", "command/exec", `{"command":["true"],"sandboxPolicy":{"type":"externalSandbox"}}`, -32600, "Invalid request: sandbox policy externalSandbox is not supported: appserver cannot verify that it already runs inside a sandbox; use readOnly or workspaceWrite, or dangerFullAccess to run without a sandbox"},
		{"relative writable root", "command/exec", `{"command":["true"],"sandboxPolicy":{"type":"workspaceWrite","writableRoots":["rel"]}}`, -32600, `Invalid request: writable root "rel": AbsolutePathBuf deserialized without a base path`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c.as(t)
			wantError(t, c.call(tt.method, tt.params), tt.code, tt.msg)
		})
	}

	t.Run("duplicate processId", func(t *testing.T) {
		c := c.as(t)
		id := c.send("command/exec", `{"command":["sleep","30"],"processId":"dup"}`)
		// Until the first is running, the second may win the name; wait
		// for the first to be active.
		c.waitActive("command/exec/resize", `{"processId":"dup","size":{"rows":1,"cols":1}}`)
		wantError(t, c.call("command/exec", `{"command":["true"],"processId":"dup"}`), -32600, `duplicate active command/exec process id: "dup"`)
		wantResult(t, c.call("command/exec/terminate", `{"processId":"dup"}`), `{}`)
		r, _ := c.response(id)
		wantResult(t, r, `{"exitCode":137,"stdout":"","stderr":""}`)
	})

	t.Run("write without streamStdin", func(t *testing.T) {
		c := c.as(t)
		id := c.send("command/exec", `{"command":["sleep","30"],"processId":"nostdin"}`)
		c.waitActive("command/exec/resize", `{"processId":"nostdin","size":{"rows":1,"cols":1}}`)
		wantError(t, c.call("command/exec/write", `{"processId":"nostdin","deltaBase64":"aGk="}`), -32600, "stdin streaming is not enabled for this process")
		wantError(t, c.call("command/exec/write", `{"processId":"nostdin","closeStdin":true}`), -32600, "stdin streaming is not enabled for this process")
		wantError(t, c.call("command/exec/resize", `{"processId":"nostdin","size":{"rows":1,"cols":1}}`), -32600, `command/exec process "nostdin" has no terminal (tty: false)`)
		wantResult(t, c.call("command/exec/terminate", `{"processId":"nostdin"}`), `{}`)
		r, _ := c.response(id)
		wantResult(t, r, `{"exitCode":137,"stdout":"","stderr":""}`)
	})

	// The connection survives every error.
	wantResult(t, c.call("command/exec", `{"command":["echo","ok"]}`), `{"exitCode":0,"stdout":"ok\n","stderr":""}`)
}

// waitActive waits until a request naming a process stops answering
// "no active …" (any other answer, error or not, means it is running).
func (c *client) waitActive(method, params string) {
	c.t.Helper()
	r := c.retryWhileInactive(method, params)
	if r.Error != nil && strings.HasPrefix(r.Error.Message, "no active ") {
		c.t.Fatalf("never active: %s", r.Error.Message)
	}
}

// TestProcessErrors: the process/* family's error rows.
func TestProcessErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)
	dir := tempDir(t)
	cwd := `"cwd":` + js(dir)

	for _, tt := range []struct {
		name   string
		method string
		params string
		code   int64
		msg    string
	}{
		{"size without tty", "process/spawn", `{"command":["true"],"processHandle":"h",` + cwd + `,"size":{"rows":1,"cols":1}}`, -32602, "process/spawn size requires tty: true"},
		{"negative timeoutMs", "process/spawn", `{"command":["true"],"processHandle":"h",` + cwd + `,"timeoutMs":-1}`, -32602, "process/spawn timeoutMs must be non-negative, got -1"},
		{"missing binary", "process/spawn", `{"command":["/nonexistent/binary"],"processHandle":"h",` + cwd + `}`, -32603, "failed to spawn process: No such file or directory (os error 2)"},
		{"missing binary on PATH", "process/spawn", `{"command":["no-such-binary-execmethods"],"processHandle":"h",` + cwd + `}`, -32603, "failed to spawn process: No such file or directory (os error 2)"},
		{"empty command", "process/spawn", `{"command":[],"processHandle":"h",` + cwd + `}`, -32600, "command must not be empty"},
		{"relative cwd", "process/spawn", `{"command":["true"],"processHandle":"h","cwd":"rel"}`, -32600, "Invalid request: AbsolutePathBuf deserialized without a base path"},
		{"missing cwd", "process/spawn", `{"command":["true"],"processHandle":"h"}`, -32600, "Invalid request: missing field `cwd`"},
		{"missing handle", "process/spawn", `{"command":["true"],` + cwd + `}`, -32600, "Invalid request: missing field `processHandle`"},
		{"write unknown handle", "process/writeStdin", `{"processHandle":"zz","deltaBase64":"aGk="}`, -32600, `no active process for process handle "zz"`},
		{"kill unknown handle", "process/kill", `{"processHandle":"zz"}`, -32600, `no active process for process handle "zz"`},
		{"resize unknown handle", "process/resizePty", `{"processHandle":"zz","size":{"rows":1,"cols":1}}`, -32600, `no active process for process handle "zz"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c.as(t)
			wantError(t, c.call(tt.method, tt.params), tt.code, tt.msg)
		})
	}
	// None of the failed spawns left a process behind or a name taken.
	c.expectNoNote("process/exited", 100)

	t.Run("duplicate handle and no stdin", func(t *testing.T) {
		c := c.as(t)
		wantResult(t, c.call("process/spawn", `{"command":["sleep","30"],"processHandle":"h1",`+cwd+`}`), `{}`)
		wantError(t, c.call("process/spawn", `{"command":["true"],"processHandle":"h1",`+cwd+`}`), -32600, `duplicate active process handle: "h1"`)
		wantError(t, c.call("process/writeStdin", `{"processHandle":"h1","deltaBase64":"aGk="}`), -32600, "stdin streaming is not enabled for this process")
		wantError(t, c.call("process/writeStdin", `{"processHandle":"h1","deltaBase64":"!!!"}`), -32602, "invalid deltaBase64: Invalid symbol 33, offset 0.")
		wantError(t, c.call("process/resizePty", `{"processHandle":"h1","size":{"rows":1,"cols":1}}`), -32600, `process "h1" has no terminal (tty: false)`)
		// A command/exec processId and a process handle are separate names.
		wantResult(t, c.call("command/exec", `{"command":["true"],"processId":"h1"}`), `{"exitCode":0,"stdout":"","stderr":""}`)
		wantResult(t, c.call("process/kill", `{"processHandle":"h1"}`), `{}`)
		n := c.waitNote("process/exited", "processHandle", "h1", nil)
		if n.params["exitCode"] != float64(137) {
			t.Fatalf("exited %v", n.params)
		}
	})
}

// TestExperimentalGating: process/* need the experimentalApi capability;
// command/exec does not.
func TestExperimentalGating(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	for _, m := range []string{"process/spawn", "process/writeStdin", "process/kill", "process/resizePty"} {
		wantError(t, c.call(m, `{"command":["true"],"processHandle":"h","cwd":"/"}`), -32600, m+" requires experimentalApi capability")
	}
	wantResult(t, c.call("command/exec", `{"command":["true"]}`), `{"exitCode":0,"stdout":"","stderr":""}`)
}
