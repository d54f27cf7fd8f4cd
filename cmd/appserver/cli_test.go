package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"

	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/appserver-go/appserver/internal/testutil"
)

func TestVersionAndHelp(t *testing.T) {
	r := run(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "appserver 0.") {
		t.Errorf("version: %+v", r)
	}
	r = run(t, nil, "--help")
	for _, flag := range []string{"--listen <URL>", "--ws-auth <MODE>", "--ws-token-file <PATH>", "--ws-token-sha256 <HEX>",
		"--ws-shared-secret-file <PATH>", "--ws-issuer <ISSUER>", "--ws-audience <AUDIENCE>", "--ws-max-clock-skew-seconds <SECONDS>",
		"--insecure-no-auth", "--log-format <FORMAT>", "--log-level <LEVEL>", "--shutdown-grace <DURATION>", "--stdio"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("--help does not document %s", flag)
		}
	}
	if r.code != 0 {
		t.Errorf("--help exited %d", r.code)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--ws-auth", "bogus"}, "error: invalid value 'bogus' for '--ws-auth <MODE>'"},
		{[]string{"--ws-auth", "capability-token", "--ws-auth", "capability-token"}, "error: the argument '--ws-auth <MODE>' cannot be used multiple times"},
		{[]string{"--ws-max-clock-skew-seconds", "-5"}, "error: unexpected argument '-5' found"},
		{[]string{"--ws-max-clock-skew-seconds", "abc"}, "error: invalid value 'abc' for '--ws-max-clock-skew-seconds <SECONDS>': invalid digit found in string"},
		{[]string{"--ws-token-file"}, "error: a value is required for '--ws-token-file <PATH>' but none was supplied"},
		{[]string{"--listen", "ws://localhost:4500"}, "error: invalid value 'ws://localhost:4500' for '--listen <URL>': expected stdio://, ws://IP:PORT, wss://IP:PORT, unix://, unix://PATH or off"},
		{[]string{"--listen", "wss://127.0.0.1:1/path"}, "error: invalid value"},
		{[]string{"--listen", "/tmp/x"}, "error: invalid value"},
		{[]string{"--nope"}, "error: unexpected argument '--nope' found"},
		{[]string{"bogus-command"}, "error: unrecognized subcommand 'bogus-command'"},
	} {
		r := run(t, nil, tt.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tt.want) {
			t.Errorf("appserver %v: exit %d, stderr %q; want exit 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// TestStdio runs the default transport: JSON lines on stdin and stdout,
// nothing but protocol on stdout, and a clean exit at EOF.
func TestStdio(t *testing.T) {
	home := t.TempDir()
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "APPSERVER_HOME="+home)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	send := func(s string) {
		if _, err := io.WriteString(in, s); err != nil {
			t.Fatal(err)
		}
	}
	next := func() string {
		if !lines.Scan() {
			t.Fatalf("stdout ended: %v\n%s", lines.Err(), stderr.String())
		}
		return lines.Text()
	}
	// Partial writes are buffered until the newline; CRLF and blanks are
	// tolerated; empty lines and junk get no reply.
	send(`  {"id":1,"method":"initialize",`)
	time.Sleep(20 * time.Millisecond)
	send(`"params":{"clientInfo":{"name":"t","version":"1"}}}  ` + "\r\n\n   \nnot json\n")
	var init struct {
		ID     int
		Result struct{ CodexHome string }
	}
	if err := json.Unmarshal([]byte(next()), &init); err != nil || init.ID != 1 || init.Result.CodexHome != home {
		t.Fatalf("initialize answer: %+v %v", init, err)
	}
	send(`{"id":"two","method":"nope"}` + "\n")
	if got := next(); got != "{\"id\":\"two\",\"error\":{\"code\":-32600,\"message\":\"Invalid request: unknown variant `nope`\"}}" {
		t.Errorf("got %s", got)
	}
	in.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after EOF: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no exit after EOF on stdin")
	}
	if lines.Scan() {
		t.Errorf("unexpected output: %s", lines.Text())
	}
}

// TestStdioAnswersAfterEOF: a client that writes its requests and closes
// stdin (printf ... | appserver) still gets every answer, also of a
// request still running at EOF, and then the server exits 0.
func TestStdioAnswersAfterEOF(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "APPSERVER_HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(`{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}` + "\n" +
		`{"id":2,"method":"command/exec","params":{"command":["sh","-c","sleep 0.3; echo late"]}}` + "\n" +
		`{"id":3,"method":"no/such"}`)
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	got := string(out)
	for _, want := range []string{`{"id":1,"result":{"userAgent"`, `{"id":2,"result":{"exitCode":0,"stdout":"late\n"`, `{"id":3,"error":{"code":-32600`} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in:\n%s", want, got)
		}
	}
}

// TestStdioSignalWithStdinOpen: on stdio, SIGTERM or SIGINT ends the
// server within the grace period even though the client keeps stdin open
// (a blocked read of a pipe is not woken by closing it) and a request is
// still running.
func TestStdioSignalWithStdinOpen(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(binary, "--shutdown-grace", "1s")
			cmd.Env = append(os.Environ(), "APPSERVER_HOME="+t.TempDir())
			in, _ := cmd.StdinPipe()
			defer in.Close()
			out, _ := cmd.StdoutPipe()
			var stderr testutil.SyncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(out)
			io.WriteString(in, `{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}`+"\n")
			if !lines.Scan() {
				t.Fatalf("no answer to initialize\n%s", stderr.String())
			}
			io.WriteString(in, `{"id":2,"method":"command/exec","params":{"command":["sleep","30"]}}`+"\n")
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() {
				for lines.Scan() {
				}
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("exit: %v\n%s", err, stderr.String())
				}
				if d := time.Since(start); d > 4*time.Second {
					t.Errorf("exited %v after %v, want within the 1s grace period", d, sig)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 10s after %v with stdin open\n%s", sig, stderr.String())
			}
		})
	}
}

// TestListenOff: `--listen off` serves nothing, says so, and exits 0 on a
// signal.
func TestListenOff(t *testing.T) {
	cmd := exec.Command(binary, "--listen", "off")
	cmd.Env = append(os.Environ(), "APPSERVER_HOME="+t.TempDir())
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "no listener (--listen off); waiting for a signal") {
		if time.Now().After(deadline) {
			t.Fatalf("no notice on stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
}

// TestSIGTERMClosesWith1001 checks graceful shutdown: a connected client
// gets close status 1001 and the process exits 0.
func TestSIGTERMClosesWith1001(t *testing.T) {
	s := start(t, nil, "--listen", "ws://127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit status %d after SIGTERM\n%s", code, s.stderr)
	}
	_, _, err = c.Read(ctx)
	if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
		t.Errorf("client read %v (status %d), want 1001", err, status)
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	s := start(t, nil, "--listen", "unix://"+sock)
	if s.url != "unix://"+sock {
		t.Fatalf("banner URL %s", s.url)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	r := run(t, nil, "rpc", "unix://"+sock, "initialize")
	if r.code != 0 || !strings.Contains(r.stdout, `"codexHome":"`+s.home+`"`) {
		t.Errorf("rpc over unix: %+v", r)
	}
	// A second server refuses the live socket; a regular file is refused.
	r = run(t, nil, "--listen", "unix://"+sock)
	if r.code != 1 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("second server on a live socket: %+v", r)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	r = run(t, nil, "--listen", "unix://"+file)
	if r.code != 1 || !strings.Contains(r.stderr, "not a socket") {
		t.Errorf("server on a regular file: %+v", r)
	}
	// The default path lives in the state directory.
	d := start(t, nil, "--listen", "unix://")
	if want := "unix://" + filepath.Join(d.home, "run", "appserver.sock"); d.url != want {
		t.Errorf("default socket %s, want %s", d.url, want)
	}
	// ...and `rpc unix://` finds it there.
	r = run(t, []string{"APPSERVER_HOME=" + d.home}, "rpc", "unix://", "initialize")
	if r.code != 0 || !strings.Contains(r.stdout, `"codexHome":"`+d.home+`"`) {
		t.Errorf("rpc unix:// to the default socket: %+v", r)
	}
}

// TestRPCFollow: `rpc --follow` prints the answer, then the notifications
// that arrive after it (a watched directory changing), until interrupted,
// and exits 0 on SIGINT.
func TestRPCFollow(t *testing.T) {
	s := start(t, nil, "--listen", "ws://127.0.0.1:0")
	dir := t.TempDir()
	cmd := exec.Command(binary, "rpc", "--follow", s.url, "fs/watch", `{"watchId":"w1","path":"`+dir+`"}`)
	cmd.Env = append(os.Environ(), "APPSERVER_HOME="+t.TempDir())
	out, _ := cmd.StdoutPipe()
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string) string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("rpc ended before %s\n%s", what, stderr.String())
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s\n%s", what, stderr.String())
		}
		return ""
	}
	if l := next("answer"); !strings.HasPrefix(l, `{"id":1,"result":{"path":`) {
		t.Fatalf("answer %s", l)
	}
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o600)
	if l := next("fs/changed"); !strings.Contains(l, `"method":"fs/changed"`) || !strings.Contains(l, "new.txt") {
		t.Errorf("after the answer: %s", l)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("rpc --follow after SIGINT: %v\n%s", err, stderr.String())
	}
}

func TestRPCCommand(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tok")
	r := run(t, []string{"APPSERVER_HOME=" + dir}, "token", "create", "--file", tokenFile)
	if r.code != 0 {
		t.Fatalf("token create: %+v", r)
	}
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", tokenFile)

	r = run(t, nil, "rpc", "--token-file", tokenFile, s.url, "bench/unknown", "{}")
	if r.code != 1 || r.stdout != "{\"id\":1,\"error\":{\"code\":-32600,\"message\":\"Invalid request: unknown variant `bench/unknown`\"}}\n" ||
		!strings.Contains(r.stderr, "Error: Invalid request: unknown variant `bench/unknown` (code -32600)") {
		t.Errorf("rpc with an error answer: %+v", r)
	}
	tok, _ := os.ReadFile(tokenFile)
	r = run(t, []string{"MY_TOKEN=" + strings.TrimSpace(string(tok))}, "rpc", "--token-env", "MY_TOKEN", s.url, "initialize")
	if r.code != 0 || !strings.Contains(r.stdout, `"userAgent":"appserver/`) {
		t.Errorf("rpc initialize: %+v", r)
	}
	r = run(t, nil, "rpc", s.url, "initialize")
	if r.code != 1 || !strings.Contains(r.stderr, "HTTP 401: missing websocket bearer token") {
		t.Errorf("rpc without a token: %+v", r)
	}
	r = run(t, nil, "rpc", "--token-file", tokenFile, "ws://192.0.2.1:4500", "initialize")
	if r.code != 1 || !strings.Contains(r.stderr, "refusing to send a bearer token over ws:// to non-loopback host 192.0.2.1") {
		t.Errorf("rpc with a bearer to a remote ws:// host: %+v", r)
	}
	r = run(t, nil, "rpc", s.url)
	if r.code != 2 {
		t.Errorf("rpc without a method: %+v", r)
	}
	// stdio://: spawn the server given after --.
	r = run(t, nil, "rpc", "stdio://", "nope", "{}", "--", binary, "--listen", "stdio://")
	if r.code != 1 || !strings.Contains(r.stdout, "unknown variant `nope`") {
		t.Errorf("rpc over stdio: %+v", r)
	}
}

func TestTokenCreate(t *testing.T) {
	home := t.TempDir()
	env := []string{"APPSERVER_HOME=" + home}
	r := run(t, env, "token", "create")
	file := filepath.Join(home, "ws-token")
	if r.code != 0 || !strings.Contains(r.stdout, "--ws-token-file "+file) || !strings.Contains(r.stdout, "codex --remote ws://127.0.0.1:4500 --remote-auth-token-env APPSERVER_TOKEN") {
		t.Fatalf("token create: %+v", r)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v %v", fi.Mode(), err)
	}
	first, _ := os.ReadFile(file)
	if tok := strings.TrimSpace(string(first)); len(tok) != 43 {
		t.Errorf("token %q is not 256 bits of base64url", tok)
	}
	r = run(t, env, "token", "create")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists; pass --force") {
		t.Errorf("token create over an existing file: %+v", r)
	}
	if again, _ := os.ReadFile(file); string(again) != string(first) {
		t.Error("the existing token was overwritten without --force")
	}
	r = run(t, env, "token", "create", "--force")
	if again, _ := os.ReadFile(file); r.code != 0 || string(again) == string(first) {
		t.Errorf("--force did not replace the token: %+v", r)
	}
	r = run(t, env, "secret", "create")
	sec, _ := os.ReadFile(filepath.Join(home, "ws-secret"))
	if r.code != 0 || len(strings.TrimSpace(string(sec))) < 32 {
		t.Errorf("secret create: %+v, %q", r, sec)
	}
	r = run(t, env, "token", "sign", "--secret-file", filepath.Join(home, "ws-secret"), "--sub", "me", "--iss", "i", "--aud", "a", "--ttl", "5m")
	if r.code != 0 || strings.Count(strings.TrimSpace(r.stdout), ".") != 2 {
		t.Errorf("token sign: %+v", r)
	}
	// The signed token opens a server configured with that secret.
	s := start(t, nil, "--listen", "ws://127.0.0.1:0", "--ws-auth", "signed-bearer-token",
		"--ws-shared-secret-file", filepath.Join(home, "ws-secret"), "--ws-issuer", "i", "--ws-audience", "a")
	r = run(t, []string{"JWT=" + strings.TrimSpace(r.stdout)}, "rpc", "--token-env", "JWT", s.url, "initialize")
	if r.code != 0 {
		t.Errorf("rpc with a signed token: %+v", r)
	}
}

// codexBinary finds the real Codex CLI: $CODEX_BIN, then node_modules
// under the repository (where .ci/run installs it), then PATH.
func codexBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CODEX_BIN"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../.ci/node_modules/.bin/codex"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("codex"); err == nil {
		return p
	}
	if os.Getenv("APPSERVER_REQUIRE_CODEX") != "" {
		t.Fatal("the codex CLI is required (APPSERVER_REQUIRE_CODEX is set) but was not found; run .ci/run or set CODEX_BIN")
	}
	t.Skip("the codex CLI (npm @openai/codex@0.169.0) is not installed; .ci/run installs it")
	return ""
}

// TestConfigFile: config.toml and -c overrides as a user meets them. A
// malformed file or a bad value stops the server at startup with the
// place that is wrong; an unknown key is a warning; -c wins over the file.
func TestConfigFile(t *testing.T) {
	home := t.TempDir()
	env := []string{"APPSERVER_HOME=" + home}
	write := func(body string) {
		if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("model = \n")
	r := run(t, env, "--listen", "ws://127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "config.toml: line 1") {
		t.Errorf("malformed file: %+v", r)
	}
	write(`approval_policy = "untrusted"` + "\n")
	if r = run(t, env, "--listen", "ws://127.0.0.1:0"); r.code != 1 || !strings.Contains(r.stderr, "no longer supported") {
		t.Errorf("untrusted policy: %+v", r)
	}
	write("model = \"from-file\"\nmodel_colour = \"blue\"\n")
	if r = run(t, env, "-c", "model_provider=nowhere", "--listen", "ws://127.0.0.1:0"); r.code != 1 || !strings.Contains(r.stderr, `model_provider "nowhere" is not defined`) {
		t.Errorf("-c with an undefined provider: %+v", r)
	}

	s := start(t, env, "--listen", "ws://127.0.0.1:0", "-c", "model=from-flag")
	if !strings.Contains(s.stderr.String(), `unknown configuration key \"model_colour\"`) {
		t.Errorf("no warning for the unknown key:\n%s", s.stderr)
	}
	r = run(t, env, "rpc", s.url, "config/read", `{"includeLayers":true}`)
	if r.code != 0 || !strings.Contains(r.stdout, `"model":"from-flag"`) || !strings.Contains(r.stdout, `"from-file"`) {
		t.Errorf("config/read: %+v", r)
	}
}

// TestSandboxHelper checks which binary confines commands: the standalone
// appserver-sandbox when it is installed beside the server, the server
// itself when it is not, and in both cases the command runs confined.
func TestSandboxHelper(t *testing.T) {
	alone := filepath.Join(t.TempDir(), "appserver")
	copyFile(t, binary, alone, 0o755)
	for _, c := range []struct {
		name, exe, log string
	}{
		{"beside", binary, `msg="sandbox helper" path=` + filepath.Join(filepath.Dir(binary), "appserver-sandbox")},
		{"alone", alone, "sandbox helper: this binary (no appserver-sandbox beside it)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(c.exe, "--log-level", "debug")
			cmd.Env = append(os.Environ(), "APPSERVER_HOME="+t.TempDir())
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			var stderr testutil.SyncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer in.Close()
			dir := t.TempDir()
			req, _ := json.Marshal(map[string]any{"id": 2, "method": "command/exec", "params": map[string]any{
				"command": []string{"sh", "-c", `echo ran; touch "$0/new"`, dir}}})
			io.WriteString(in, `{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}`+"\n"+string(req)+"\n")
			lines := bufio.NewScanner(out)
			var got struct {
				ID     int
				Result struct {
					ExitCode int
					Stdout   string
					Stderr   string
				}
			}
			for got.ID != 2 {
				if !lines.Scan() {
					t.Fatalf("stdout ended\n%s", stderr.String())
				}
				_ = json.Unmarshal(lines.Bytes(), &got)
			}
			r := got.Result
			if r.Stdout != "ran\n" || r.ExitCode == 0 || !strings.Contains(r.Stderr, "new") {
				t.Errorf("read-only command: %+v; want it run and its write refused", r)
			}
			if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
				t.Errorf("the sandboxed command wrote %s", dir)
			}
			if !strings.Contains(stderr.String(), c.log) {
				t.Errorf("log does not say %q:\n%s", c.log, stderr.String())
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// TestSandboxCannotReachServer is the escape a security audit found: a
// sandboxed command that reads the server's token and connects back to
// its unix socket could run anything unsandboxed. With the state
// directory hidden from sandboxed commands, it finds neither.
func TestSandboxCannotReachServer(t *testing.T) {
	home := t.TempDir()
	env := []string{"APPSERVER_HOME=" + home}
	tokenFile := filepath.Join(home, "ws-token")
	if r := run(t, env, "token", "create", "--file", tokenFile); r.code != 0 {
		t.Fatal(r)
	}
	s := startIn(t, "", env, "--listen", "unix://", "--ws-auth", "capability-token", "--ws-token-file", tokenFile, "--log-level", "debug")
	sock := strings.TrimPrefix(s.url, "unix://")
	if strings.Contains(s.stderr.String(), "cannot hide them on this system") {
		t.Skipf("no isolation on this system:\n%s", s.stderr.String())
	}
	pwned := filepath.Join(t.TempDir(), "pwned")
	escape := fmt.Sprintf(`cat %q; %q rpc --token-file %q unix://%s command/exec '{"command":["touch",%q],"sandboxPolicy":{"type":"dangerFullAccess"}}'; echo end`,
		tokenFile, binary, tokenFile, sock, pwned)
	params, _ := json.Marshal(map[string]any{"command": []string{"sh", "-c", escape}})
	r := run(t, env, "rpc", "--token-file", tokenFile, s.url, "command/exec", string(params))
	if r.code != 0 || !strings.Contains(r.stdout, `end\n`) {
		t.Fatalf("command/exec: %+v", r)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatalf("a sandboxed command drove the server into running an unsandboxed one: %s", r.stdout)
	}
	tok, _ := os.ReadFile(tokenFile)
	if strings.Contains(r.stdout, strings.TrimSpace(string(tok))) {
		t.Errorf("a sandboxed command read the server's token: %s", r.stdout)
	}
}

// TestSandboxHidesServerFilesAsUser is TestSandboxCannotReachServer's
// hiding for a server run by an ordinary user, the usual case (a non-root
// helper keeps no capability across execve, which a first version missed).
// It needs root, to start the server as nobody.
func TestSandboxHidesServerFilesAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the server as another user")
	}
	const nobody = 65534
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "bin")
	home := filepath.Join(dir, "home")
	for _, d := range []string{bin, home} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, binary, filepath.Join(bin, "appserver"), 0o755)
	copyFile(t, filepath.Join(filepath.Dir(binary), "appserver-sandbox"), filepath.Join(bin, "appserver-sandbox"), 0o755)
	token := filepath.Join(home, "ws-token")
	if err := os.WriteFile(token, []byte("user-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bin, filepath.Join(bin, "appserver"), filepath.Join(bin, "appserver-sandbox"), home, token} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(bin, "appserver"), "--log-level", "debug")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "APPSERVER_HOME=" + home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Stdin = strings.NewReader(`{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}` + "\n" +
		`{"id":2,"method":"command/exec","params":{"command":["sh","-c","id -u; cat ` + token + `; echo end"]}}` + "\n")
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("server as nobody: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "cannot hide them on this system") {
		// Only acceptable where an ordinary user cannot create a user
		// namespace at all.
		probe := exec.Command("unshare", "--user", "true")
		probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if probe.Run() == nil {
			t.Fatalf("user namespaces work for nobody here, yet the server could not hide its files:\n%s", stderr.String())
		}
		t.Skipf("no user namespaces for ordinary users on this system")
	}
	if !strings.Contains(string(out), `"stdout":"65534\nend\n"`) || strings.Contains(string(out), "user-secret") {
		t.Errorf("a sandboxed command of a server run by a user read its token, or did not run:\n%s\n%s", out, stderr.String())
	}
}
