package main

// Black-box tests of the appserver binary: TestMain builds it once, and
// each test runs it as a user would, reading stdout and stderr separately.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/testutil"
)

// binary is the path of the appserver binary built for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "appserver-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Installed as `go install ./cmd/...` installs it: the standalone
	// sandbox helper beside the server (TestSandboxHelper also runs the
	// server without it).
	binary = filepath.Join(dir, "appserver")
	build := exec.Command("go", "build", "-o", dir, ".", "../appserver-sandbox")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building appserver:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished command run.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary to completion with args, in a fresh state directory
// unless env sets APPSERVER_HOME.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "APPSERVER_HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running appserver %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// server is a running appserver process.
type server struct {
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
	url    string // ws://127.0.0.1:PORT or unix:///path
	http   string // http://127.0.0.1:PORT, empty for unix
	home   string
	exited chan struct{}
	code   int
}

// start runs the binary with args (which must include a --listen for a
// WebSocket or unix listener), waits for its banner and returns it. The
// process gets SIGTERM when the test ends.
func start(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	return startIn(t, "", env, args...)
}

// startIn is start with the working directory dir ("" for the test's).
func startIn(t *testing.T, dir string, env []string, args ...string) *server {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "APPSERVER_HOME="+home)
	cmd.Env = append(cmd.Env, env...)
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout testutil.SyncBuffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &testutil.SyncBuffer{}, home: home, exited: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.stderr.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "  listening on: "); ok && !sent {
				urlc <- u
				sent = true
			}
		}
		if !sent {
			close(urlc)
		}
	}()
	go func() {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		}
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	select {
	case u, ok := <-urlc:
		if !ok {
			<-s.exited
			t.Fatalf("appserver %v exited (%d) without a banner:\n%s", args, s.code, s.stderr)
		}
		s.url = u
	case <-time.After(15 * time.Second):
		t.Fatalf("no banner from appserver %v:\n%s", args, s.stderr)
	}
	if hp, ok := strings.CutPrefix(s.url, "ws://"); ok {
		s.http = "http://" + hp
		waitReady(t, s.http+"/readyz")
	}
	if stdout.String() != "" {
		t.Errorf("the server wrote to stdout: %q", stdout.String())
	}
	return s
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}

// stop sends SIGTERM and waits for the process; it is idempotent.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.code
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("appserver did not exit within 20s of SIGTERM:\n%s", s.stderr)
	}
	return s.code
}

// writeMockConfig writes home/config.toml for the scripted model provider
// at base (its base_url) with approval policy policy and a read-only
// sandbox, as the end-to-end tests use it.
func writeMockConfig(t *testing.T, home, base, policy string) {
	t.Helper()
	config := `model = "mock-model"
model_provider = "mock"
approval_policy = "` + policy + `"
sandbox_mode = "read-only"

[model_providers.mock]
name = "Mock"
base_url = "` + base + `"
wire_api = "responses"
requires_openai_auth = false
`
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
}
