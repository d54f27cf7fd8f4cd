package procexec

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const shPath = "PATH=/usr/bin:/bin"

// waitExited waits until the leader is a zombie: it has exited and Wait has
// not reaped it yet.
func waitExited(t *testing.T, p *Process) {
	t.Helper()
	eventually(t, "the leader has exited", func() bool {
		state, _, _, ok := procStat(p.Pid())
		return ok && state == 'Z'
	})
}

func TestExitCodesAndBufferedOutput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		spec           Spec
		code           int
		stdout, stderr string
	}{
		{name: "zero", spec: helper("outerr", "out", "err", "0"), code: 0, stdout: "out", stderr: "err"},
		{name: "three", spec: helper("outerr", "", "boom\n", "3"), code: 3, stderr: "boom\n"},
		{name: "255", spec: helper("outerr", "x", "", "255"), code: 255, stdout: "x"},
		{name: "SIGTERM is 128+15", spec: helper("signal", "15"), code: 143},
		{name: "SIGHUP is 128+1", spec: helper("signal", "1"), code: 129},
		{name: "shell", spec: Spec{Argv: []string{"sh", "-c", "echo a; echo b >&2; exit 7"}, Env: []string{shPath}}, code: 7, stdout: "a\n", stderr: "b\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := start(t, tt.spec).Wait()
			if res.ExitCode != tt.code || string(res.Stdout) != tt.stdout || string(res.Stderr) != tt.stderr {
				t.Fatalf("got code %d stdout %q stderr %q; want %d %q %q", res.ExitCode, res.Stdout, res.Stderr, tt.code, tt.stdout, tt.stderr)
			}
			if res.TimedOut || res.OutputDrainTimedOut || res.StdoutCapReached || res.StderrCapReached {
				t.Fatalf("unexpected flags: %+v", res)
			}
		})
	}
}

// TestProtocolExamples replays the command/exec examples of PROTOCOL.md §3.1.
func TestProtocolExamples(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := start(t, Spec{
		Argv: []string{"sh", "-c", "pwd; echo $FOO; echo err >&2; exit 3"},
		Dir:  dir,
		Env:  []string{shPath, "FOO=bar"},
	}).Wait()
	if res.ExitCode != 3 || string(res.Stdout) != dir+"\nbar\n" || string(res.Stderr) != "err\n" {
		t.Errorf("pwd example: %+v", res)
	}

	res = start(t, Spec{
		Argv:      []string{"sh", "-c", "echo 1234567890; echo abcdefghij >&2"},
		Env:       []string{shPath},
		OutputCap: 5,
	}).Wait()
	if string(res.Stdout) != "12345" || string(res.Stderr) != "abcde" || !res.StdoutCapReached || !res.StderrCapReached {
		t.Errorf("outputBytesCap example: %+v", res)
	}

	res = start(t, Spec{Argv: []string{"sleep", "5"}, Env: []string{shPath}, Timeout: 300 * time.Millisecond}).Wait()
	if res.ExitCode != ExitTimedOut || !res.TimedOut {
		t.Errorf("timeout example: %+v", res)
	}
}

func TestNonUTF8OutputIsKeptAsBytes(t *testing.T) {
	t.Parallel()
	res := start(t, helper("bytes")).Wait()
	if want := []byte{0xff, 0xfe, 0x00, 'a', 0x80, '\n'}; !bytes.Equal(res.Stdout, want) {
		t.Fatalf("stdout %q, want %q", res.Stdout, want)
	}
}

func TestEnvironmentIsExactlySpecEnv(t *testing.T) {
	t.Parallel()
	// env is found through the server's PATH, since Env has none.
	res := start(t, Spec{Argv: []string{"env"}, Env: []string{"A=1", "B=two words"}}).Wait()
	if string(res.Stdout) != "A=1\nB=two words\n" {
		t.Fatalf("env printed %q", res.Stdout)
	}
	res = start(t, Spec{Argv: []string{"/usr/bin/env"}}).Wait()
	if len(res.Stdout) != 0 {
		t.Fatalf("nil Env: env printed %q", res.Stdout)
	}
}

func TestLookPathUsesTheChildsPATH(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	script := filepath.Join(bin, "mycmd")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho mine\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := start(t, Spec{Argv: []string{"mycmd"}, Env: []string{"PATH=/nonexistent:" + bin}}).Wait()
	if string(res.Stdout) != "mine\n" {
		t.Fatalf("got %+v", res)
	}
	// A relative PATH entry is resolved in Dir, where the child runs.
	res = start(t, Spec{Argv: []string{"mycmd"}, Dir: bin, Env: []string{"PATH=."}}).Wait()
	if string(res.Stdout) != "mine\n" {
		t.Fatalf("relative PATH: got %+v", res)
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := helper("pwd")
	spec.Dir = dir
	if res := start(t, spec).Wait(); string(res.Stdout) != dir+"\n" {
		t.Fatalf("pwd printed %q, want %q", res.Stdout, dir)
	}
}

func TestSpawnErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		spec  Spec
		op    string
		errno syscall.Errno
	}{
		{"missing name", Spec{Argv: []string{"no-such-command-xyz"}, Env: []string{shPath}}, "exec", syscall.ENOENT},
		{"missing path", Spec{Argv: []string{"/no/such/binary"}}, "exec", syscall.ENOENT},
		{"not executable", Spec{Argv: []string{file}}, "exec", syscall.EACCES},
		{"not executable in PATH", Spec{Argv: []string{"file"}, Env: []string{"PATH=" + dir}}, "exec", syscall.EACCES},
		{"missing cwd", Spec{Argv: []string{"/bin/true"}, Dir: filepath.Join(dir, "nope")}, "chdir", syscall.ENOENT},
		{"cwd is a file", Spec{Argv: []string{"/bin/true"}, Dir: file}, "chdir", syscall.ENOTDIR},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(context.Background(), tt.spec)
			if err == nil {
				p.Wait()
				t.Fatal("Start succeeded")
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Op != tt.op || !errors.Is(err, tt.errno) {
				t.Fatalf("got %#v (%v), want op %q errno %v", err, err, tt.op, tt.errno)
			}
		})
	}
	if _, err := Start(context.Background(), Spec{}); !errors.Is(err, ErrEmptyArgv) {
		t.Errorf("empty argv: %v", err)
	}
	if _, err := Start(context.Background(), Spec{Argv: []string{"/bin/true"}, Stream: true}); !errors.Is(err, ErrNoOnOutput) {
		t.Errorf("Stream without OnOutput: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Spec{Argv: []string{"/bin/true"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestDefaultCapBuffered(t *testing.T) {
	t.Parallel()
	// 3 MiB in one write(2) to stdout, and a little on stderr.
	spec := helper("out", "3145728")
	res := start(t, spec).Wait()
	if len(res.Stdout) != DefaultOutputCap || !bytes.Equal(res.Stdout, pattern(3 << 20)[:DefaultOutputCap]) {
		t.Fatalf("kept %d bytes, want exactly the first %d", len(res.Stdout), DefaultOutputCap)
	}
	if !res.StdoutCapReached || res.StderrCapReached {
		t.Fatalf("cap flags: %+v", res)
	}
	// We closed the pipe at the cap: the child died of SIGPIPE mid-write.
	if res.ExitCode != 128+int(syscall.SIGPIPE) {
		t.Fatalf("exit code %d, want %d (SIGPIPE)", res.ExitCode, 128+int(syscall.SIGPIPE))
	}
}

func TestCapBoundaries(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n, cap  int
		keep    int
		reached bool
	}{
		{n: 4, cap: 5, keep: 4, reached: false},
		{n: 5, cap: 5, keep: 5, reached: true}, // reached, as in the reference, not exceeded
		{n: 6, cap: 5, keep: 5, reached: true},
		{n: 200000, cap: -1, keep: 200000, reached: false},
	} {
		spec := helper("out", strconv.Itoa(tt.n), "stderr")
		spec.OutputCap = int64(tt.cap)
		res := start(t, spec).Wait()
		if len(res.Stderr) != tt.keep || res.StderrCapReached != tt.reached || len(res.Stdout) != 0 || res.StdoutCapReached {
			t.Errorf("n=%d cap=%d: kept %d reached %v (stdout %d); want %d %v", tt.n, tt.cap, len(res.Stderr), res.StderrCapReached, len(res.Stdout), tt.keep, tt.reached)
		}
	}
}

func TestStreamedChunksAndCap(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("out", "307200") // 300 KiB
	spec.Stream, spec.OnOutput, spec.OutputCap = true, c.onOutput, 200000
	res := start(t, spec).Wait()
	if len(res.Stdout) != 0 || !res.StdoutCapReached {
		t.Fatalf("result: stdout %d bytes, capReached %v", len(res.Stdout), res.StdoutCapReached)
	}
	if got := c.String("stdout"); got != string(pattern(307200)[:200000]) {
		t.Fatalf("streamed %d bytes, want the first 200000", len(got))
	}
	sizes, caps := c.chunks["stdout"], c.caps["stdout"]
	for i, n := range sizes {
		if n < 1 || n > MaxChunk {
			t.Errorf("chunk %d has %d bytes", i, n)
		}
		if caps[i] != (i == len(sizes)-1) {
			t.Errorf("chunk %d of %d: capReached=%v", i, len(sizes), caps[i])
		}
	}
	if len(c.chunks["stderr"]) != 0 {
		t.Errorf("stderr chunks: %v", c.chunks["stderr"])
	}
}

func TestStreamedWithoutCap(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("out", "3145728")
	spec.Stream, spec.OnOutput, spec.OutputCap = true, c.onOutput, -1
	res := start(t, spec).Wait()
	if res.ExitCode != 0 || res.StdoutCapReached {
		t.Fatalf("result %+v", res)
	}
	if got := c.String("stdout"); got != string(pattern(3<<20)) {
		t.Fatalf("streamed %d bytes, want %d", len(got), 3<<20)
	}
	for i, n := range c.chunks["stdout"] {
		if n > MaxChunk || c.caps["stdout"][i] {
			t.Fatalf("chunk %d: %d bytes, capReached %v", i, n, c.caps["stdout"][i])
		}
	}
}

func TestStdoutAndStderrStreamSeparately(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("outerr", "to out", "to err", "0")
	spec.Stream, spec.OnOutput = true, c.onOutput
	res := start(t, spec).Wait()
	if c.String("stdout") != "to out" || c.String("stderr") != "to err" || len(res.Stdout)+len(res.Stderr) != 0 {
		t.Fatalf("stdout %q stderr %q result %+v", c.String("stdout"), c.String("stderr"), res)
	}
}

// TestCapChildSeesBrokenPipe: once the cap is reached we close our end, and
// a child that keeps writing gets EPIPE (SIGPIPE ignored) or dies of SIGPIPE.
func TestCapChildSeesBrokenPipe(t *testing.T) {
	t.Parallel()
	t.Run("EPIPE", func(t *testing.T) {
		t.Parallel()
		spec := helper("flood", "ignore")
		spec.OutputCap = 10000
		res := start(t, spec).Wait()
		if res.ExitCode != 42 || !strings.Contains(string(res.Stderr), "broken pipe") || len(res.Stdout) != 10000 {
			t.Fatalf("code %d stderr %q stdout %d bytes", res.ExitCode, res.Stderr, len(res.Stdout))
		}
	})
	t.Run("SIGPIPE", func(t *testing.T) {
		t.Parallel()
		c := newCollector()
		spec := helper("flood")
		spec.OutputCap, spec.Stream, spec.OnOutput = 10000, true, c.onOutput
		res := start(t, spec).Wait()
		if res.ExitCode != 128+int(syscall.SIGPIPE) || !res.StdoutCapReached {
			t.Fatalf("result %+v", res)
		}
	})
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	// Long enough for the helper to start its grandchildren even on a
	// loaded machine running -race.
	const timeout = 2 * time.Second
	spec := helper("spawn", "2", "plain", "wait")
	spec.Timeout = timeout
	c := newCollector()
	spec.Stream, spec.OnOutput = true, c.onOutput
	p := start(t, spec)
	eventually(t, "both pids printed", func() bool { return len(strings.Fields(c.String("stdout"))) == 2 })
	pids := pidsFrom(t, c.String("stdout"), 2)
	res := p.Wait()
	if res.ExitCode != ExitTimedOut || !res.TimedOut {
		t.Fatalf("result %+v", res)
	}
	if res.Duration < timeout || res.Duration > timeout+5*time.Second {
		t.Errorf("duration %v", res.Duration)
	}
	for _, pid := range pids {
		eventually(t, "grandchild is dead", func() bool { return !alive(pid) })
	}
	requireGroupGone(t, p.Pid())
}

func TestTimeoutAfterExitIsIgnored(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	spec := helper("outerr", "", "", "5")
	spec.Timeout = timeout
	begin := time.Now()
	p := start(t, spec)
	waitExited(t, p)
	if time.Since(begin) > timeout-500*time.Millisecond {
		t.Skip("the helper took too long to exit on this machine")
	}
	time.Sleep(time.Until(begin.Add(timeout + 200*time.Millisecond))) // the timer fires on an exited leader
	if res := p.Wait(); res.ExitCode != 5 || res.TimedOut {
		t.Fatalf("result %+v", res)
	}
}

func TestTerminate(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("ignoreterm")
	spec.Stream, spec.OnOutput = true, c.onOutput
	p := start(t, spec)
	c.waitFor(t, "stdout", "ready")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(p.Terminate)
	}
	wg.Wait()
	if res := p.Wait(); res.ExitCode != ExitKilled || res.TimedOut {
		t.Fatalf("result %+v", res)
	}
	p.Terminate() // after Wait: nothing happens
	requireGroupGone(t, p.Pid())
}

func TestTerminateAfterExitStillReports137(t *testing.T) {
	t.Parallel()
	p := start(t, helper("outerr", "", "", "5"))
	waitExited(t, p)
	p.Terminate()
	if res := p.Wait(); res.ExitCode != ExitKilled {
		t.Fatalf("result %+v", res)
	}
}

func TestContextCancelKillsGroup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCollector()
	spec := helper("spawn", "2", "plain", "wait")
	spec.Stream, spec.OnOutput = true, c.onOutput
	p := startCtx(t, ctx, spec)
	c.waitFor(t, "stdout", "\n")
	eventually(t, "both pids printed", func() bool { return len(strings.Fields(c.String("stdout"))) == 2 })
	cancel()
	if res := p.Wait(); res.ExitCode != ExitKilled {
		t.Fatalf("result %+v", res)
	}
	requireGroupGone(t, p.Pid())
}

// TestNoOrphans: the shell case under every way of ending early.
func TestNoOrphans(t *testing.T) {
	t.Parallel()
	argv := []string{"sh", "-c", "sleep 300 & sleep 300 & wait"}
	for _, how := range []string{"terminate", "timeout", "cancel"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			spec := Spec{Argv: argv, Env: []string{shPath}}
			if how == "timeout" {
				spec.Timeout = time.Second // the sleeps must start first
			}
			p := startCtx(t, ctx, spec)
			eventually(t, "both sleeps started", func() bool { return len(liveMembers(p.Pid(), 0)) == 3 })
			switch how {
			case "terminate":
				p.Terminate()
			case "cancel":
				cancel()
			}
			res := p.Wait()
			want := ExitKilled
			if how == "timeout" {
				want = ExitTimedOut
			}
			if res.ExitCode != want {
				t.Fatalf("result %+v", res)
			}
			requireGroupGone(t, p.Pid())
		})
	}
}

// TestDrainTimeoutKillsLingeringChild: the leader exits leaving `sleep 300`
// with our stdout; Wait gives up after DrainTimeout, reports it, and the
// sleep is gone.
func TestDrainTimeoutKillsLingeringChild(t *testing.T) {
	t.Parallel()
	p := start(t, Spec{
		Argv:         []string{"sh", "-c", "echo hi; sleep 300 & echo $!"},
		Env:          []string{shPath},
		DrainTimeout: 300 * time.Millisecond,
	})
	begin := time.Now()
	res := p.Wait()
	if waited := time.Since(begin); waited < 250*time.Millisecond || waited > 5*time.Second {
		t.Errorf("Wait took %v with a 300ms drain timeout", waited)
	}
	if res.ExitCode != 0 || !res.OutputDrainTimedOut || !strings.HasPrefix(string(res.Stdout), "hi\n") {
		t.Fatalf("result %+v", res)
	}
	pid := pidsFrom(t, strings.TrimPrefix(string(res.Stdout), "hi\n"), 1)[0]
	eventually(t, "the background sleep is dead", func() bool { return !alive(pid) })
	requireGroupGone(t, p.Pid())
}

// TestQuietBackgroundChildIsKilled: a background child that closed its
// output does not delay Wait, and is killed anyway.
func TestQuietBackgroundChildIsKilled(t *testing.T) {
	t.Parallel()
	p := start(t, Spec{
		Argv:         []string{"sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"},
		Env:          []string{shPath},
		DrainTimeout: 10 * time.Second,
	})
	res := p.Wait()
	if res.OutputDrainTimedOut || res.ExitCode != 0 || res.Duration > 5*time.Second {
		t.Fatalf("result %+v", res)
	}
	pid := pidsFrom(t, string(res.Stdout), 1)[0]
	eventually(t, "the background sleep is dead", func() bool { return !alive(pid) })
}

// TestSessionSweep: grandchildren that moved to their own process group
// (as a job-control shell's jobs do) die with a Terminate.
func TestSessionSweep(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("spawn", "2", "setpgid", "wait")
	spec.Stream, spec.OnOutput = true, c.onOutput
	p := start(t, spec)
	eventually(t, "both pids printed", func() bool { return len(strings.Fields(c.String("stdout"))) == 2 })
	pids := pidsFrom(t, c.String("stdout"), 2)
	for _, pid := range pids {
		if _, pgrp, sid, _ := procStat(pid); pgrp == p.Pid() || sid != p.Pid() {
			t.Fatalf("grandchild %d: pgrp %d sid %d, want another group in session %d", pid, pgrp, sid, p.Pid())
		}
	}
	p.Terminate()
	p.Wait()
	for _, pid := range pids {
		eventually(t, "grandchild in another group is dead", func() bool { return !alive(pid) })
	}
}

// TestSetsidEscapes documents the limit: a grandchild that starts its own
// session is out of reach. It holds our stdout, so Wait returns after the
// drain timeout with OutputDrainTimedOut; the test then kills it itself.
func TestSetsidEscapes(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("spawn", "1", "setsid", "exit")
	spec.Stream, spec.OnOutput, spec.DrainTimeout = true, c.onOutput, 300*time.Millisecond
	res := start(t, spec).Wait()
	pid := pidsFrom(t, c.String("stdout"), 1)[0]
	defer syscall.Kill(pid, syscall.SIGKILL)
	if !res.OutputDrainTimedOut || res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	if !alive(pid) {
		t.Fatal("the setsid grandchild died; update the package doc")
	}
}

func TestStdinStreaming(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("cat")
	spec.Stdin, spec.Stream, spec.OnOutput = true, true, c.onOutput
	p := start(t, spec)
	if err := p.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "stdout", "hello\n")
	if err := p.Write([]byte("world\n")); err != nil {
		t.Fatal(err)
	}
	if err := p.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if err := p.CloseStdin(); err != nil {
		t.Fatalf("second CloseStdin: %v", err)
	}
	if err := p.Write([]byte("late")); !errors.Is(err, ErrStdinClosed) {
		t.Fatalf("Write after CloseStdin: %v", err)
	}
	res := p.Wait()
	if res.ExitCode != 0 || c.String("stdout") != "hello\nworld\nEOF\n" {
		t.Fatalf("result %+v, stdout %q", res, c.String("stdout"))
	}
	if err := p.Write([]byte("after")); !errors.Is(err, ErrStdinClosed) {
		t.Fatalf("Write after Wait: %v", err)
	}
}

func TestStdinNotRequestedIsDevNull(t *testing.T) {
	t.Parallel()
	p := start(t, helper("cat"))
	if err := p.Write([]byte("x")); !errors.Is(err, ErrNoStdin) {
		t.Fatalf("Write: %v", err)
	}
	if err := p.CloseStdin(); !errors.Is(err, ErrNoStdin) {
		t.Fatalf("CloseStdin: %v", err)
	}
	if res := p.Wait(); string(res.Stdout) != "EOF\n" {
		t.Fatalf("result %+v", res)
	}
}

func TestWriteAfterExitFails(t *testing.T) {
	t.Parallel()
	spec := helper("outerr", "", "", "0")
	spec.Stdin = true
	p := start(t, spec)
	waitExited(t, p)
	// A child being forked concurrently (other tests run in parallel) may
	// briefly hold a copy of the pipe's read end until its exec closes it,
	// and while any reader exists a small write succeeds; so poll.
	var err error
	eventually(t, "Write fails with EPIPE", func() bool {
		err = p.Write([]byte("anyone?"))
		return err != nil
	})
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write to an exited process: %v, want EPIPE", err)
	}
	p.Wait()
}

// TestBlockedWriteEndsWithProcess: a Write stuck on a full pipe returns once
// the process is terminated.
func TestBlockedWriteEndsWithProcess(t *testing.T) {
	t.Parallel()
	spec := helper("sleep", "300s")
	spec.Stdin = true
	p := start(t, spec)
	done := make(chan error, 1)
	go func() { done <- p.Write(make([]byte, 4<<20)) }()
	select {
	case err := <-done:
		t.Fatalf("4 MiB Write to a child that does not read returned early: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	p.Terminate()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Write succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write still blocked after Terminate")
	}
	p.Wait()
}

func TestPTY(t *testing.T) {
	t.Parallel()
	c := newCollector()
	spec := helper("tty")
	spec.TTY, spec.Rows, spec.Cols = true, 30, 100
	spec.Stream, spec.OnOutput = true, c.onOutput
	p := start(t, spec)
	c.waitFor(t, "stdout", "start 30 100\r\n")
	if err := p.Resize(40, 120); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "stdout", "winch 40 120\r\n")
	if err := p.Write([]byte("size\n")); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "stdout", "size 40 120\r\n")
	if err := p.CloseStdin(); err != nil { // ^D: the helper's read sees EOF
		t.Fatal(err)
	}
	res := p.Wait()
	if res.ExitCode != 0 || !strings.HasSuffix(c.String("stdout"), "eof\r\n") {
		t.Fatalf("result %+v, output %q", res, c.String("stdout"))
	}
	if len(c.chunks["stderr"]) != 0 {
		t.Fatal("a TTY reported stderr")
	}
	if err := p.Resize(1, 1); !errors.Is(err, ErrFinished) {
		t.Fatalf("Resize after Wait: %v", err)
	}
}

// TestPTYShell is PROTOCOL.md's tty example with a real shell and stty.
func TestPTYShell(t *testing.T) {
	t.Parallel()
	c := newCollector()
	p := start(t, Spec{
		Argv:   []string{"sh", "-c", "stty size; read x; echo got $x; stty size"},
		Env:    []string{shPath},
		TTY:    true,
		Stream: true, OnOutput: c.onOutput,
	})
	c.waitFor(t, "stdout", "24 80\r\n")
	if err := p.Resize(30, 100); err != nil {
		t.Fatal(err)
	}
	if err := p.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	res := p.Wait()
	if out := c.String("stdout"); res.ExitCode != 0 || !strings.Contains(out, "got hi\r\n30 100\r\n") {
		t.Fatalf("result %+v, output %q", res, out)
	}
}

func TestPTYBuffered(t *testing.T) {
	t.Parallel()
	res := start(t, Spec{
		Argv: []string{"sh", "-c", "printf 'a\\nb\\n'; echo err >&2"},
		Env:  []string{shPath},
		TTY:  true,
	}).Wait()
	if string(res.Stdout) != "a\r\nb\r\nerr\r\n" || len(res.Stderr) != 0 {
		t.Fatalf("result %+v", res)
	}
}

// TestPTYCapHangsUp: at the cap we close the master, which hangs up the
// terminal; a child that keeps writing is stopped by SIGHUP or EIO.
func TestPTYCapHangsUp(t *testing.T) {
	t.Parallel()
	c := newCollector()
	res := start(t, Spec{
		Argv:      []string{"sh", "-c", "while :; do echo 0123456789; done"},
		Env:       []string{shPath},
		TTY:       true,
		OutputCap: 100,
		Stream:    true, OnOutput: c.onOutput,
	}).Wait()
	if !res.StdoutCapReached || len(c.String("stdout")) != 100 || res.ExitCode == 0 {
		t.Fatalf("result %+v, %d bytes streamed", res, len(c.String("stdout")))
	}
	t.Logf("exit code %d", res.ExitCode)
	if caps := c.caps["stdout"]; !caps[len(caps)-1] {
		t.Fatal("the last chunk does not report the cap")
	}
}

func TestResizeWithoutTTY(t *testing.T) {
	t.Parallel()
	p := start(t, helper("outerr", "", "", "0"))
	if err := p.Resize(10, 10); !errors.Is(err, ErrNotTTY) {
		t.Fatalf("Resize: %v", err)
	}
	p.Wait()
}

func TestConcurrentProcesses(t *testing.T) {
	t.Parallel()
	const n = 50
	procs := make([]*Process, n)
	for i := range procs {
		procs[i] = start(t, helper("outerr", "out"+strconv.Itoa(i), "err"+strconv.Itoa(i), strconv.Itoa(i)))
	}
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() {
			res := p.Wait()
			if res.ExitCode != i || string(res.Stdout) != "out"+strconv.Itoa(i) || string(res.Stderr) != "err"+strconv.Itoa(i) {
				t.Errorf("process %d: %+v", i, res)
			}
		})
	}
	wg.Wait()
}

func TestWaitIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	p := start(t, helper("outerr", "same", "", "9"))
	results := make([]Result, 6)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = p.Wait() })
	}
	wg.Wait()
	for i, r := range results {
		if r.ExitCode != 9 || string(r.Stdout) != "same" {
			t.Fatalf("Wait %d: %+v", i, r)
		}
	}
	if r := p.Wait(); r.ExitCode != 9 {
		t.Fatalf("late Wait: %+v", r)
	}
}
