package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// target is one server under test: either a process this tool started
// (--server) or an already-running server (--url).
type target struct {
	Name    string
	URL     string // ws://HOST:PORT
	Token   string
	Argv    []string // expanded command, for --server
	PID     int      // the process we started (its process group), or --pid
	RSSPID  int      // the process whose RSS and CPU are read; 0 = unknown
	Started bool     // started by this tool
	Home    string   // CODEX_HOME and APPSERVER_HOME of a started server

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the started process exits
	exitErr  error
	tailMu   sync.Mutex
	tail     []string // last lines of the server's stderr
	stopOnce sync.Once
}

const tailLines = 30

// expandArgv splits command on spaces (no shell, no quoting) and replaces
// the placeholders {token_file} and {home} in every argument.
func expandArgv(command, tokenFile, home string) ([]string, error) {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	r := strings.NewReplacer("{token_file}", tokenFile, "{home}", home)
	for i, a := range argv {
		argv[i] = r.Replace(a)
	}
	return argv, nil
}

var bannerRE = regexp.MustCompile(`listening on:\s*ws://(\S+)`)

// parseBanner returns the HOST:PORT from a banner line such as
// "  listening on: ws://127.0.0.1:4811", or ok=false if the line is not one.
func parseBanner(line string) (hostport string, ok bool) {
	m := bannerRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	hp := strings.TrimRight(m[1], "/")
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host == "" {
		return "", false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return "", false
	}
	return hp, true
}

// envWith returns env with the given variables set, replacing any earlier
// values.
func envWith(env []string, kv ...string) []string {
	out := make([]string, 0, len(env)+len(kv)/2)
	for _, e := range env {
		keep := true
		for i := 0; i < len(kv); i += 2 {
			if strings.HasPrefix(e, kv[i]+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, e)
		}
	}
	for i := 0; i < len(kv); i += 2 {
		out = append(out, kv[i]+"="+kv[i+1])
	}
	return out
}

// startServer starts argv in its own process group with CODEX_HOME and
// APPSERVER_HOME set to home, waits for the banner on stderr and for
// /readyz to answer 200.
func startServer(ctx context.Context, name string, argv []string, home, token string, timeout time.Duration) (*target, error) {
	t := &target{Name: name, Argv: argv, Token: token, Started: true, Home: home, exited: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = envWith(os.Environ(), "CODEX_HOME", home, "APPSERVER_HOME", home)
	cmd.Dir, _ = os.Getwd()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	t.cmd = cmd
	t.PID = cmd.Process.Pid
	registerTarget(t)

	banner := make(chan string, 1)
	go t.drainStderr(stderr, banner)
	go func() {
		t.exitErr = cmd.Wait()
		close(t.exited)
	}()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var hostport string
	select {
	case hostport = <-banner:
	case <-t.exited:
		return t, fmt.Errorf("%s exited before printing its banner (%v); stderr:\n%s", name, t.exitErr, t.stderrTail())
	case <-deadline.C:
		return t, fmt.Errorf("%s printed no \"listening on: ws://HOST:PORT\" line within %v; stderr:\n%s", name, timeout, t.stderrTail())
	case <-ctx.Done():
		return t, ctx.Err()
	}
	t.URL = "ws://" + hostport
	if err := waitReady(ctx, t, hostport, deadline.C); err != nil {
		return t, err
	}
	_, port, _ := net.SplitHostPort(hostport)
	if pid := findListener(t.PID, port); pid > 0 {
		t.RSSPID = pid
	} else {
		t.RSSPID = t.PID
	}
	return t, nil
}

func (t *target) drainStderr(r io.Reader, banner chan<- string) {
	br := bufio.NewReaderSize(r, 64<<10)
	found := false
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimRight(line, "\r\n")
			t.tailMu.Lock()
			t.tail = append(t.tail, line)
			if len(t.tail) > tailLines {
				t.tail = t.tail[len(t.tail)-tailLines:]
			}
			t.tailMu.Unlock()
			if !found {
				if hp, ok := parseBanner(line); ok {
					found = true
					banner <- hp
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (t *target) stderrTail() string {
	t.tailMu.Lock()
	defer t.tailMu.Unlock()
	return strings.Join(t.tail, "\n")
}

// alive reports whether the target can still be measured.
func (t *target) alive() error {
	if !t.Started {
		return nil
	}
	select {
	case <-t.exited:
		return fmt.Errorf("server %s has exited (%v)", t.Name, t.exitErr)
	default:
		return nil
	}
}

func waitReady(ctx context.Context, t *target, hostport string, deadline <-chan time.Time) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + hostport + "/readyz"
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-t.exited:
			return fmt.Errorf("%s exited before /readyz answered (%v); stderr:\n%s", t.Name, t.exitErr, t.stderrTail())
		case <-deadline:
			return fmt.Errorf("%s: %s did not answer 200 in time", t.Name, url)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the whole process group: SIGTERM, then SIGKILL after a grace
// period. It is safe to call more than once and from a signal handler.
func (t *target) stop(grace time.Duration) {
	if !t.Started || t.cmd == nil {
		return
	}
	t.stopOnce.Do(func() {
		pgid := t.PID
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-t.exited:
		case <-time.After(grace):
		}
		// Children of the leader may outlive it; SIGKILL whatever is left.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-t.exited:
		case <-time.After(2 * time.Second):
		}
	})
}

// The started servers, so that a signal handler can kill them.
var (
	targetsMu sync.Mutex
	started   []*target
)

func registerTarget(t *target) {
	targetsMu.Lock()
	started = append(started, t)
	targetsMu.Unlock()
}

// killAllNow sends SIGKILL to every started process group at once, without
// waiting; for a second Ctrl-C.
func killAllNow() {
	targetsMu.Lock()
	defer targetsMu.Unlock()
	for _, t := range started {
		if t.PID > 0 {
			_ = syscall.Kill(-t.PID, syscall.SIGKILL)
		}
	}
}

func stopAll(grace time.Duration) {
	targetsMu.Lock()
	ts := append([]*target(nil), started...)
	targetsMu.Unlock()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() { t.stop(grace) })
	}
	wg.Wait()
}

// ---- /proc helpers ----

// procStat returns the process group id of pid and the CPU time (clock
// ticks) used by it and by the children it has reaped: utime + stime +
// cutime + cstime. The children count because they are the server's work:
// the reference starts a login shell for every new thread (its shell
// snapshot), which would otherwise show up as other processes' noise.
func procStat(pid int) (pgid int, ticks uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); pgrp is field 5, utime 14, stime 15,
	// cutime 16, cstime 17.
	if len(f) < 15 {
		return 0, 0, errors.New("short stat")
	}
	pgid, _ = strconv.Atoi(f[2])
	for _, v := range f[11:15] {
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	return pgid, ticks, nil
}

const clockTicks = 100 // USER_HZ on Linux

// cpuSeconds returns the CPU time used so far by pid (all its threads) and
// its reaped children.
func cpuSeconds(pid int) (float64, bool) {
	if pid <= 0 {
		return 0, false
	}
	_, ticks, err := procStat(pid)
	if err != nil {
		return 0, false
	}
	return float64(ticks) / clockTicks, true
}

// selfCPUSeconds returns the CPU time (user+system) used by this process.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// machineCPU is the first line of /proc/stat, in seconds summed over all
// CPUs.
type machineCPU struct {
	Procs  float64 // running processes: user, nice, system, steal
	IRQ    float64 // serving interrupts: irq, softirq (on loopback mostly the TCP work of the bench and the server)
	IOWait float64
	Total  float64 // everything, idle included
	NCPU   int     // CPUs counted in /proc/stat
}

func readMachineCPU() (machineCPU, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, false
	}
	line, rest, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, false
	}
	n := 0
	for l := range strings.SplitSeq(rest, "\n") {
		if len(l) > 3 && strings.HasPrefix(l, "cpu") && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	field := func(i int) float64 {
		v, _ := strconv.ParseUint(f[i], 10, 64)
		return float64(v) / clockTicks
	}
	m := machineCPU{
		Procs:  field(1) + field(2) + field(3) + field(8),
		IRQ:    field(6) + field(7),
		IOWait: field(5),
		NCPU:   n,
	}
	m.Total = m.Procs + m.IRQ + m.IOWait + field(4)
	return m, true
}

// rssKiB reads VmRSS from /proc/PID/status.
func rssKiB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// findListener returns the pid, within process group pgid, that holds the
// listening TCP socket on port (hex-compared against /proc/net/tcp{,6}); 0 if
// none is found. Wrappers (the npm codex launcher is a node process that
// spawns the native server) make this differ from the pid we started.
func findListener(pgid int, port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for k := range listenInodes(f, p) {
			inodes[k] = true
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, _, err := procStat(pid); err != nil || g != pgid {
			continue
		}
		fdDir := filepath.Join("/proc", e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(l, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return pid
			}
		}
	}
	return 0
}

func listenInodes(file string, port int) map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile(file)
	if err != nil {
		return out
	}
	want := fmt.Sprintf(":%04X", port)
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" { // 0A = LISTEN
			continue
		}
		if strings.HasSuffix(f[1], want) {
			out[f[9]] = true
		}
	}
	return out
}
