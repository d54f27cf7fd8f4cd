package execmethods_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// treeScript prints its pid (its session id: every command leads its own
// session) and leaves two children behind it.
const treeScript = `echo $$; sleep 300 & sleep 300 & wait`

// sessionOf waits for the pid a command printed first and for its whole
// tree (the shell and both sleeps) to be running, and returns it.
func sessionOf(t *testing.T, c *client, method, key, val string, members int) int {
	t.Helper()
	c.waitOutput(method, key, val, "\n")
	o := c.deltas(method, key, val)
	line, _, _ := strings.Cut(string(o.stdout), "\n")
	sid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("no pid in %q", o.stdout)
	}
	if _, _, s, ok := procStat(sid); !ok || s != sid {
		t.Fatalf("process %d is not a session leader (session %d)", sid, s)
	}
	eventually(t, "the whole tree runs", func() bool { return len(liveInSession(sid)) == members })
	return sid
}

// requireTreeGone fails unless every process of session sid is dead
// within a few seconds.
func requireTreeGone(t *testing.T, sid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		live := liveInSession(sid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of session %d survive: %v", sid, live)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNoOrphans ends `sh -c 'sleep 300 & sleep 300 & wait'` every way a
// command can end early and proves, in /proc, that nothing of its session
// survives.
func TestNoOrphans(t *testing.T) {
	t.Parallel()
	execParams := func(extra string) string {
		return `{"command":["sh","-c",` + js(treeScript) + `],"processId":"o","streamStdoutStderr":true` + extra + `}`
	}
	spawnParams := `{"command":["sh","-c",` + js(treeScript) + `],"processHandle":"o","cwd":"/","streamStdoutStderr":true}`

	for _, tt := range []struct {
		name  string
		spawn bool   // process/spawn rather than command/exec
		extra string // more command/exec params
		end   func(t *testing.T, c *client)
		code  float64 // the command's exit code when the connection lives on; 0: not checked
	}{
		{name: "command/exec/terminate", code: 137, end: func(t *testing.T, c *client) {
			wantResult(t, c.call("command/exec/terminate", `{"processId":"o"}`), `{}`)
		}},
		{name: "timeout", extra: `,"timeoutMs":1500`, code: 124},
		{name: "command/exec closed connection", end: func(t *testing.T, c *client) { c.close() }},
		{name: "command/exec server Shutdown", end: func(t *testing.T, c *client) {
			// Shutdown lets running requests finish: this one does not,
			// so Shutdown's deadline closes the connection, which kills it.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if err := c.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v", err)
			}
		}},
		{name: "command/exec server Close", end: func(t *testing.T, c *client) { _ = c.srv.Close() }},
		{name: "process/kill", spawn: true, code: 137, end: func(t *testing.T, c *client) {
			wantResult(t, c.call("process/kill", `{"processHandle":"o"}`), `{}`)
		}},
		{name: "process/spawn timeout", spawn: true, code: 124},
		{name: "process/spawn closed connection", spawn: true, end: func(t *testing.T, c *client) { c.close() }},
		{name: "process/spawn server Shutdown", spawn: true, end: func(t *testing.T, c *client) {
			// No request is running: Shutdown closes the connection at once.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown = %v", err)
			}
		}},
		{name: "process/spawn server Close", spawn: true, end: func(t *testing.T, c *client) { _ = c.srv.Close() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, nil)
			c := connect(t, srv, true)
			var id int64
			method, key := "command/exec/outputDelta", "processId"
			if tt.spawn {
				method, key = "process/outputDelta", "processHandle"
				params := spawnParams
				if tt.end == nil {
					params = strings.TrimSuffix(params, "}") + `,"timeoutMs":1500}`
				}
				wantResult(t, c.call("process/spawn", params), `{}`)
			} else {
				id = c.send("command/exec", execParams(tt.extra))
			}
			sid := sessionOf(t, c, method, key, "o", 3)
			if tt.end != nil {
				tt.end(t, c)
			}
			requireTreeGone(t, sid)
			if tt.code == 0 {
				return
			}
			if tt.spawn {
				if p := exited(t, c.waitNote("process/exited", "processHandle", "o", nil)); p["exitCode"] != tt.code {
					t.Fatalf("exited %v, want exit code %v", p, tt.code)
				}
				return
			}
			r, _ := c.response(id)
			if res := result(t, r); float64(res.ExitCode) != tt.code {
				t.Fatalf("exit %d, want %v", res.ExitCode, tt.code)
			}
		})
	}
}

// TestNoOrphansJobControl: a job-control shell on a terminal puts its jobs
// in process groups of their own; terminate still kills them (the session
// is swept), and so does closing the connection.
func TestNoOrphansJobControl(t *testing.T) {
	t.Parallel()
	const script = `set -m; echo $$; sleep 300 & sleep 300 & wait`
	for _, how := range []string{"terminate", "close"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, nil)
			c := connect(t, srv, false)
			id := c.send("command/exec", `{"command":["sh","-c",`+js(script)+`],"processId":"j","tty":true}`)
			sid := sessionOf(t, c, "command/exec/outputDelta", "processId", "j", 3)
			others := 0
			for _, pid := range liveInSession(sid) {
				if _, pgrp, _, _ := procStat(pid); pgrp != sid {
					others++
				}
			}
			if others != 2 {
				t.Fatalf("%d of the 2 jobs run in another process group, want both (is job control off?)", others)
			}
			if how == "close" {
				c.close()
				requireTreeGone(t, sid)
				return
			}
			wantResult(t, c.call("command/exec/terminate", `{"processId":"j"}`), `{}`)
			requireTreeGone(t, sid)
			r, _ := c.response(id)
			if res := result(t, r); res.ExitCode != 137 {
				t.Fatalf("exit %d", res.ExitCode)
			}
		})
	}
}

// TestNoOrphansAfterNormalExit: a background child left behind by a shell
// that exits on its own is killed too, and does not hold the response
// (it closed its output).
func TestNoOrphansAfterNormalExit(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	begin := time.Now()
	res := result(t, c.call("command/exec", `{"command":["sh","-c","sleep 300 >/dev/null 2>&1 & echo $$"]}`))
	if res.ExitCode != 0 || time.Since(begin) > 5*time.Second {
		t.Fatalf("%+v after %v", res, time.Since(begin))
	}
	sid, err := strconv.Atoi(strings.TrimSpace(res.Stdout))
	if err != nil {
		t.Fatalf("stdout %q", res.Stdout)
	}
	requireTreeGone(t, sid)
}
