package execmethods_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/execmethods"
	"github.com/appserver-go/appserver/internal/sandbox"
)

// TestRequestAfterConnectionStopped: a request that reaches the process
// table after its connection has stopped reading (it was in flight when
// the client left) is refused, and does not wedge the methods for every
// other connection. It used to deadlock: the table's cleanup ran at once,
// under the lock that creating the table held.
func TestRequestAfterConnectionStopped(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	gate := make(chan bool, 1) // the first Env call waits
	gate <- true
	srv := newServer(t, func(o *execmethods.Options) {
		o.Env = func() []string {
			select {
			case <-gate:
				once.Do(func() { close(entered) })
				<-release
			default:
			}
			return baseEnv()
		}
	})
	c := connect(t, srv, false)
	c.send("command/exec", `{"command":["echo","late"]}`)
	<-entered
	stopped := make(chan struct{})
	c.sess.AfterClose(func() { close(stopped) })
	c.close()
	<-stopped
	close(release)

	done := make(chan struct{})
	go func() {
		c.sess.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the late request never finished (deadlock)")
	}
	other := connect(t, srv, false)
	wantResult(t, other.call("command/exec", `{"command":["echo","ok"]}`), `{"exitCode":0,"stdout":"ok\n","stderr":""}`)
}

// TestProcessSpawnOutputCapZero: outputBytesCap 0 keeps nothing and
// reports the cap on process/spawn as on command/exec; it used to mean
// the 1 MiB default.
func TestProcessSpawnOutputCapZero(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)
	wantResult(t, c.call("process/spawn", `{"command":["sh","-c","echo out; echo err >&2"],"processHandle":"z","cwd":"/","outputBytesCap":0}`), `{}`)
	p := exited(t, c.waitNote("process/exited", "processHandle", "z", nil))
	if p["stdout"] != "" || p["stderr"] != "" || p["stdoutCapReached"] != true || p["stderrCapReached"] != true {
		t.Fatalf("exited %v", p)
	}
	wantResult(t, c.call("process/spawn", `{"command":["sh","-c","echo out; echo err >&2"],"processHandle":"zs","cwd":"/","outputBytesCap":0,"streamStdoutStderr":true}`), `{}`)
	c.waitNote("process/exited", "processHandle", "zs", nil)
	o := c.deltas("process/outputDelta", "processHandle", "zs")
	if len(o.stdout)+len(o.stderr) != 0 || len(o.deltas) != 2 {
		t.Fatalf("deltas %v", o.deltas)
	}
	for _, d := range o.deltas {
		if d.params["capReached"] != true {
			t.Fatalf("delta %v", d.params)
		}
	}
}

// TestHugeTimeout: a timeoutMs too large for a time.Duration means
// "practically never", not whatever the multiplication wrapped to (it
// used to wrap 18446744073710 ms to under a millisecond).
func TestHugeTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, true)
	for _, ms := range []string{"18446744073710", "9223372036854775807", "9223372036855"} {
		wantResult(t, c.call("command/exec", `{"command":["sleep","0.3"],"timeoutMs":`+ms+`}`), `{"exitCode":0,"stdout":"","stderr":""}`)
		wantResult(t, c.call("process/spawn", `{"command":["sleep","0.3"],"processHandle":"h`+ms+`","cwd":"/","timeoutMs":`+ms+`}`), `{}`)
		if p := exited(t, c.waitNote("process/exited", "processHandle", "h"+ms, nil)); p["exitCode"] != float64(0) {
			t.Fatalf("timeoutMs %s: exited %v", ms, p)
		}
	}
}

// TestShutdownWaitsForRunningCommand: a graceful Shutdown lets a running
// command/exec finish and answer before the connection closes.
func TestShutdownWaitsForRunningCommand(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := connect(t, srv, false)
	id := c.send("command/exec", `{"command":["sh","-c","sleep 0.3; echo done"],"processId":"g"}`)
	c.waitActive("command/exec/resize", `{"processId":"g","size":{"rows":1,"cols":1}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r, _ := c.response(id)
	wantResult(t, r, `{"exitCode":0,"stdout":"done\n","stderr":""}`)
	if _, err := srv.Connect(context.Background(), nopConn{}); err != appserver.ErrServerClosed {
		t.Fatalf("Connect after Shutdown: %v", err)
	}
}

// nopConn is a Connection that is never served.
type nopConn struct{}

func (nopConn) Read() ([]byte, error)             { return nil, os.ErrClosed }
func (nopConn) Write([][]byte) error              { return os.ErrClosed }
func (nopConn) Close(*appserver.CloseError) error { return nil }

// TestActiveOnceOutputSeen: a client that has seen a process's output can
// act on it at once. Output used to be sent before the process was
// registered, so a fast client could be told "no active …" about a
// process it had just heard from.
func TestActiveOnceOutputSeen(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	for i := range 4 {
		t.Run("conn"+itoa(i), func(t *testing.T) {
			t.Parallel()
			c := connect(t, srv, true)
			for j := range 15 {
				pid := "r" + itoa(j)
				id := c.send("command/exec", `{"command":["sh","-c","echo ready; sleep 30"],"processId":"`+pid+`","streamStdoutStderr":true,"sandboxPolicy":{"type":"dangerFullAccess"}}`)
				c.waitOutput("command/exec/outputDelta", "processId", pid, "ready")
				wantResult(t, c.call("command/exec/terminate", `{"processId":"`+pid+`"}`), `{}`)
				c.response(id)

				c.send("process/spawn", `{"command":["sh","-c","echo ready; sleep 30"],"processHandle":"`+pid+`","cwd":"/","streamStdoutStderr":true}`)
				c.waitOutput("process/outputDelta", "processHandle", pid, "ready")
				wantResult(t, c.call("process/kill", `{"processHandle":"`+pid+`"}`), `{}`)
				c.waitNote("process/exited", "processHandle", pid, nil)
			}
		})
	}
}

// TestProcessSpawnAnswersFirst: process/spawn's {} comes before any
// process/outputDelta or process/exited of its process, however fast the
// process is.
func TestProcessSpawnAnswersFirst(t *testing.T) {
	t.Parallel()
	// Unsandboxed, the process starts sooner.
	srv := newServer(t, func(o *execmethods.Options) { o.DefaultPolicy = sandbox.Policy{Kind: sandbox.DangerFullAccess} })
	c := connect(t, srv, true)
	for i := range 40 {
		h := "fast" + itoa(i)
		params := `{"command":["echo","hi"],"processHandle":"` + h + `","cwd":"/"`
		if i%2 == 0 {
			params += `,"streamStdoutStderr":true`
		}
		id := c.send("process/spawn", params+"}")
		n := c.waitNote("process/exited", "processHandle", h, nil)
		r, pos := c.response(id)
		wantResult(t, r, `{}`)
		if n.pos < pos {
			t.Fatalf("%s: process/exited before the response", h)
		}
		for _, d := range c.notes("process/outputDelta", "processHandle", h) {
			if d.pos < pos {
				t.Fatalf("%s: process/outputDelta before the response", h)
			}
		}
	}
}
