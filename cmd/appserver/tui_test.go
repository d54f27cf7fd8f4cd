package main

// End-to-end tests with the real Codex terminal client (codex --remote)
// under tmux, against this binary and a scripted model provider on
// loopback (internal/e2emock).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/e2emock"
)

// tui is one codex --remote session in a detached tmux session.
type tui struct {
	t    *testing.T
	name string
}

// startTUI runs codex --remote url in dir with token, in a 160x50 tmux
// session that outlives the client (so its last screen can be read).
func startTUI(t *testing.T, codex, url, token, dir string) *tui {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("APPSERVER_REQUIRE_CODEX") != "" {
			t.Fatal("tmux is required (APPSERVER_REQUIRE_CODEX is set) but was not found")
		}
		t.Skip("tmux is not installed")
	}
	codexHome := t.TempDir()
	// Skip the client's one-time screen reader question.
	os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte("[tui]\nscreen_reader_detection_done = true\n"), 0o600)
	name := fmt.Sprintf("appserver-tui-%d-%d", os.Getpid(), time.Now().UnixNano())
	script := "cd " + dir + " && env CODEX_HOME=" + codexHome + " RUST_BACKTRACE=0 APPSERVER_TEST_TOKEN=" + token + " " + codex +
		" --remote " + url + " --remote-auth-token-env APPSERVER_TEST_TOKEN; echo EXIT=$?; sleep 120"
	cmd := exec.Command("tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "50", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	v := &tui{t: t, name: name}
	t.Cleanup(v.close)
	return v
}

func (v *tui) close() { exec.Command("tmux", "kill-session", "-t", v.name).Run() }

// screen is the pane with its scrollback, wrapped lines joined.
func (v *tui) screen() string {
	out, err := exec.Command("tmux", "capture-pane", "-p", "-J", "-S", "-", "-t", v.name).Output()
	if err != nil {
		v.t.Fatalf("capture-pane: %v", err)
	}
	return string(out)
}

// waitFor polls the screen until it contains every want, and returns it.
func (v *tui) waitFor(timeout time.Duration, want ...string) string {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	var s string
	for {
		s = v.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("the client's screen lacks %q after %v:\n%s", missing, timeout, s)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// keys sends tmux key names (Enter, Escape, y, ...).
func (v *tui) keys(keys ...string) {
	v.t.Helper()
	args := append([]string{"send-keys", "-t", v.name}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		v.t.Fatalf("send-keys: %v %s", err, out)
	}
}

// submit types text and presses Enter. The client treats a fast burst of
// keys ending in Enter as a paste, so Enter goes separately.
func (v *tui) submit(text string) {
	v.t.Helper()
	v.keys("-l", text)
	time.Sleep(600 * time.Millisecond)
	v.keys("Enter")
}

// checkNoWarnings fails on the client's warning and error banners.
func (v *tui) checkNoWarnings(s string) {
	v.t.Helper()
	for _, bad := range []string{"⚠", "■ Error", "error: ", "HTTP error", "failed to ", "Failed to "} {
		if strings.Contains(s, bad) {
			v.t.Errorf("the client shows %q:\n%s", bad, s)
		}
	}
}

// TestCodexTUI drives the real Codex terminal client through a session a
// user has: a model answer, a command the model asks to run and the user
// approves, an interrupted turn, a "!" shell command, then — after the
// server restarts — /resume of the thread with its history.
func TestCodexTUI(t *testing.T) {
	codex := codexBinary(t)
	base, stopMock := e2emock.Start()
	defer stopMock()

	home, work := t.TempDir(), t.TempDir()
	writeMockConfig(t, home, base, "on-request")
	tokenFile := filepath.Join(home, "tok")
	env := []string{"APPSERVER_HOME=" + home}
	if r := run(t, env, "token", "create", "--file", tokenFile); r.code != 0 {
		t.Fatal(r)
	}
	tok, _ := os.ReadFile(tokenFile)
	token := strings.TrimSpace(string(tok))
	args := []string{"--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", tokenFile}

	// The remote client sends no cwd: threads run in the server's.
	s := startIn(t, work, env, args...)
	v := startTUI(t, codex, s.url, token, work)
	v.waitFor(60*time.Second, "mock-model", work)
	// The start-up screen: no banner about a method the client called.
	time.Sleep(time.Second)
	v.checkNoWarnings(v.screen())

	v.submit("hello")
	v.waitFor(30*time.Second, "Hello from mock")

	// The model asks for an escalated command; the approval prompt shows
	// it, and "y" runs it outside the read-only sandbox.
	marker := filepath.Join(work, "approved.txt")
	// Two lines of output: the model repeats only the last, so seeing
	// the first proves the command's own output reached the screen.
	v.submit("please run:touch " + marker + " && echo shown-$((5*5)) && echo made-$((6*7))")
	v.waitFor(30*time.Second, "Would you like to run the following command?")
	v.keys("y")
	v.waitFor(30*time.Second, "You approved", "shown-25", "done: made-42")
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the approved command did not run: %v", err)
	}

	// Esc interrupts a streaming turn.
	v.submit("tell me a slow story")
	v.waitFor(30*time.Second, "word3")
	v.keys("Escape")
	v.waitFor(30*time.Second, "Conversation interrupted")

	// "!" runs a command for the user, in the thread's cwd (the server's).
	v.submit("!echo hi from bang in $(basename $PWD)")
	v.waitFor(30*time.Second, "hi from bang in "+filepath.Base(work))
	v.checkNoWarnings(v.screen())
	v.close()

	// The thread survives a restart: /resume lists it and opens it with
	// its history.
	if code := s.stop(t); code != 0 {
		t.Fatalf("appserver exited %d:\n%s", code, s.stderr)
	}
	s = startIn(t, work, env, args...)
	v = startTUI(t, codex, s.url, token, work)
	v.waitFor(60*time.Second, "mock-model")
	v.submit("/resume")
	v.waitFor(30*time.Second, "hello")
	v.keys("Enter")
	screen := v.waitFor(30*time.Second, "Hello from mock", "done: made-42")
	v.checkNoWarnings(screen)

	if strings.Contains(s.stderr.String(), token) {
		t.Error("the token appears in the server's log")
	}
}

// TestCodexTUIWrongToken: the client shows the 401 and exits 1, and the
// server logs why it refused.
func TestCodexTUIWrongToken(t *testing.T) {
	codex := codexBinary(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tok")
	if r := run(t, []string{"APPSERVER_HOME=" + dir}, "token", "create", "--file", tokenFile); r.code != 0 {
		t.Fatal(r)
	}
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", tokenFile)
	v := startTUI(t, codex, s.url, "not-the-token", dir)
	v.waitFor(60*time.Second, "HTTP error: 401 Unauthorized", "EXIT=1")
	if want := `reason="invalid websocket bearer token"`; !strings.Contains(s.stderr.String(), want) {
		t.Errorf("server log lacks %q:\n%s", want, s.stderr)
	}
}
