package procexec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the helper child (STYLE.md 2.4 rule 14): with
// PROCEXEC_HELPER=mode in its environment, TestMain runs helperMain instead
// of the tests.
const helperEnv = "PROCEXEC_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

var testExe = func() string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return exe
}()

// helper returns a Spec running the helper child in mode with args.
// GORACE drops the race runtime's one-second sleep at exit in -race builds.
func helper(mode string, args ...string) Spec {
	return Spec{
		Argv: append([]string{testExe}, args...),
		Env:  []string{helperEnv + "=" + mode, "GORACE=atexit_sleep_ms=0"},
	}
}

// pattern returns n bytes of a recognisable pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func helperMain(mode string, args []string) int {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	num := func(i int) int {
		n, err := strconv.Atoi(arg(i))
		if err != nil {
			panic(fmt.Sprintf("helper %s: bad argument %d: %q", mode, i, arg(i)))
		}
		return n
	}
	switch mode {
	case "out": // out N [stderr]: write N pattern bytes in one write
		w := os.Stdout
		if arg(1) == "stderr" {
			w = os.Stderr
		}
		if _, err := w.Write(pattern(num(0))); err != nil {
			return 3
		}
		return 0
	case "outerr": // outerr OUT ERR CODE
		fmt.Fprint(os.Stdout, arg(0))
		fmt.Fprint(os.Stderr, arg(1))
		return num(2)
	case "bytes": // bytes that are not UTF-8
		os.Stdout.Write([]byte{0xff, 0xfe, 0x00, 'a', 0x80, '\n'})
		return 0
	case "signal": // signal N: die by signal N
		syscall.Kill(os.Getpid(), syscall.Signal(num(0)))
		time.Sleep(10 * time.Second)
		return 1
	case "sleep": // sleep DURATION
		d, _ := time.ParseDuration(arg(0))
		time.Sleep(d)
		return 0
	case "ignoreterm": // ignore SIGTERM, say so, then sleep
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(5 * time.Minute)
		return 0
	case "cat": // copy stdin to stdout, then report EOF
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Println("EOF")
		return 0
	case "flood": // flood [ignore]: write until the pipe breaks
		if arg(0) == "ignore" {
			signal.Ignore(syscall.SIGPIPE)
		}
		// Go dies of SIGPIPE on fd 1 unless SIGPIPE is ignored or notified,
		// like a C program with the default disposition.
		chunk := pattern(4096)
		for {
			if _, err := os.Stdout.Write(chunk); err != nil {
				fmt.Fprintln(os.Stderr, "write error:", err)
				return 42
			}
		}
	case "tty": // report the terminal size at start, on "size" lines and on SIGWINCH
		size := func(tag string) {
			ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ)
			if err != nil {
				fmt.Printf("%s error %v\n", tag, err)
				return
			}
			fmt.Printf("%s %d %d\n", tag, ws.Row, ws.Col)
		}
		var mu sync.Mutex
		winch := make(chan os.Signal, 4)
		signal.Notify(winch, syscall.SIGWINCH)
		go func() {
			for range winch {
				mu.Lock()
				size("winch")
				mu.Unlock()
			}
		}()
		mu.Lock()
		size("start")
		mu.Unlock()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			mu.Lock()
			if sc.Text() == "size" {
				size("size")
			} else {
				fmt.Printf("got %q\n", sc.Text())
			}
			mu.Unlock()
		}
		fmt.Println("eof")
		return 0
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
		return 0
	case "pwd":
		wd, _ := os.Getwd()
		fmt.Println(wd)
		return 0
	case "spawn": // spawn N ATTR WAIT: start N sleeping grandchildren
		// ATTR: "plain" (stays in our group), "setpgid" (new group, same
		// session) or "setsid" (new session); WAIT: "wait" keeps the leader
		// alive, "exit" exits at once. Grandchildren inherit stdout unless
		// ATTR ends in "-quiet". Prints one grandchild pid per line.
		n, attr := num(0), arg(1)
		quiet := strings.HasSuffix(attr, "-quiet")
		attr = strings.TrimSuffix(attr, "-quiet")
		var pids []string
		for range n {
			cmd := exec.Command(testExe)
			cmd.Env = []string{helperEnv + "=sleep", "GORACE=atexit_sleep_ms=0"}
			cmd.Args = []string{testExe, "300s"}
			if !quiet {
				cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			}
			switch attr {
			case "setpgid":
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			case "setsid":
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			}
			if err := cmd.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 3
			}
			pids = append(pids, strconv.Itoa(cmd.Process.Pid))
		}
		fmt.Println(strings.Join(pids, "\n"))
		if arg(2) == "wait" {
			time.Sleep(5 * time.Minute)
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// collector gathers streamed output for a test.
type collector struct {
	mu     sync.Mutex
	data   map[string]*bytes.Buffer
	chunks map[string][]int  // chunk sizes per stream
	caps   map[string][]bool // capReached per chunk
	change chan struct{}     // pulsed (non-blocking) on every chunk
}

func newCollector() *collector {
	return &collector{
		data:   map[string]*bytes.Buffer{"stdout": {}, "stderr": {}},
		chunks: map[string][]int{},
		caps:   map[string][]bool{},
		change: make(chan struct{}, 1),
	}
}

func (c *collector) onOutput(stream string, chunk []byte, capReached bool) {
	c.mu.Lock()
	c.data[stream].Write(chunk)
	c.chunks[stream] = append(c.chunks[stream], len(chunk))
	c.caps[stream] = append(c.caps[stream], capReached)
	c.mu.Unlock()
	select {
	case c.change <- struct{}{}:
	default:
	}
}

func (c *collector) String(stream string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data[stream].String()
}

// waitFor waits until stream contains want.
func (c *collector) waitFor(t *testing.T, stream, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(c.String(stream), want) {
		select {
		case <-c.change:
		case <-deadline:
			t.Fatalf("timed out waiting for %q in %s; have %q", want, stream, c.String(stream))
		}
	}
}

// start starts spec or fails the test; a cleanup terminates and waits so no
// test leaves a process behind even when it fails early.
func start(t *testing.T, spec Spec) *Process {
	t.Helper()
	return startCtx(t, context.Background(), spec)
}

func startCtx(t *testing.T, ctx context.Context, spec Spec) *Process {
	t.Helper()
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start(%q): %v", spec.Argv, err)
	}
	t.Cleanup(func() {
		p.Terminate()
		p.Wait()
	})
	return p
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	state, _, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// liveMembers returns the live (non-zombie) members of process group pgid
// and of session sid (either may be 0 to skip it).
func liveMembers(pgid, sid int) []int {
	var pids []int
	names, _ := os.ReadDir("/proc")
	for _, e := range names {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pg, s, ok := procStat(pid)
		if !ok || state == 'Z' || state == 'X' {
			continue
		}
		if (pgid != 0 && pg == pgid) || (sid != 0 && s == sid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// eventually polls cond for up to 5 s: SIGKILL is delivered asynchronously,
// so a victim may take a moment to die.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requireGroupGone checks that nothing of the group or session of pgid is
// alive. kill(-pgid, 0) fails with ESRCH only once the dead are reaped by
// whoever inherited them; where init does not reap orphans (as in the
// project's sandbox) zombies stay in the group, so /proc is the judge and
// ESRCH is only logged.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	eventually(t, fmt.Sprintf("group %d is gone", pgid), func() bool {
		return len(liveMembers(pgid, pgid)) == 0
	})
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Logf("kill(-%d, 0) = %v: only unreaped zombies remain in the group", pgid, err)
	}
}

// pidsFrom parses the grandchild pids printed by the "spawn" helper.
func pidsFrom(t *testing.T, out string, n int) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad pid %q in %q", f, out)
		}
		pids = append(pids, pid)
	}
	if len(pids) != n {
		t.Fatalf("got %d pids from %q, want %d", len(pids), out, n)
	}
	return pids
}
