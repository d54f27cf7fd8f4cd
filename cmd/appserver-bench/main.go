// Command appserver-bench measures app-servers side by side over ws:// with a
// bearer token. Scenarios (--scenarios, all by default):
//
//   - handshake: latency of connect + upgrade + initialize, p50/p99 over
//     --handshakes sequential handshakes;
//   - handshake-rate: handshakes/s with --handshake-clients clients looping
//     connect + upgrade + initialize + close;
//   - rpc: requests/s, p50/p99 latency and the share of -32001 answers for
//     --method/--params at each --rpc load CONNSxDEPTH (each connection keeps
//     DEPTH requests outstanding);
//   - reject-flood: upgrades with a wrong token answered 401 per second,
//     with --flooders clients, each attempt a fresh TCP connection;
//   - flood-resilience: the --flood-load request rate while those flooders
//     run, as a share of the same load without them;
//   - idle-rss: server VmRSS with no connections and with --idle-conns idle
//     initialized connections, and the difference per connection;
//   - delta-latency: on one thread, after a warm-up turn, --delta-turns
//     turns whose model answer is --deltas text deltas --delta-gap apart;
//     p50/p99 of the time from the provider flushing a delta to its
//     item/agentMessage/delta notification arriving here, the same for the
//     first delta of each turn, and the server's own time before the
//     provider request and after the provider's last event;
//   - idle-threads: server VmRSS before and after --threads thread/start {}
//     calls on one connection, and the difference per thread.
//
// The model provider is the tool's own (provider.go): a Responses API
// server on loopback (--provider-addr) streaming scripted answers. Before
// starting a server the tool writes {home}/config.toml pointing it there
// (model "mock-model", provider "mock", approval_policy "never",
// sandbox_mode "read-only"); a --url server must be configured so by hand,
// with a fixed --provider-addr, or delta-latency skips it.
//
// Servers are either started by the tool (--server NAME=COMMAND: COMMAND is
// split on spaces, {token_file} and {home} are replaced, CODEX_HOME and
// APPSERVER_HOME are set to {home}, the port is read from the "listening
// on: ws://HOST:PORT" line on stderr, and the process group is killed at the
// end) or already running (--url NAME=ws://HOST:PORT with --token-env VAR,
// and --pid NAME=PID for RSS). Each scenario runs on every server in turn,
// for --rounds rounds; the Markdown report on stdout gives the median per
// figure, with a ratio column for two servers. Progress goes to stderr;
// --json FILE keeps the raw numbers.
//
// Example:
//
//	appserver-bench \
//	  --server 'codex=/path/to/codex app-server --listen ws://127.0.0.1:0 --ws-auth capability-token --ws-token-file {token_file}' \
//	  --server 'appserver=./appserver --listen ws://127.0.0.1:0 --ws-auth capability-token --ws-token-file {token_file}'
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "appserver-bench: interrupted, stopping servers (again to force)")
		cancel()
		<-sig
		killAllNow()
		if d := tmpDir.Load(); d != nil {
			os.RemoveAll(*d)
		}
		os.Exit(130)
	}()
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stopAll(3 * time.Second) // in case run returned early
	if err != nil {
		fmt.Fprintln(os.Stderr, "appserver-bench:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		if ctx.Err() != nil {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// tmpDir holds the token file and the servers' homes; a forced exit removes it.
var tmpDir atomic.Pointer[string]

// targetSpec is one --server or --url flag, in command-line order.
type targetSpec struct {
	Name  string
	Value string // command or URL
	IsURL bool
}

type specList struct {
	list  *[]targetSpec
	isURL bool
}

func (s specList) String() string { return "" }

func (s specList) Set(v string) error {
	name, val, ok := strings.Cut(v, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.TrimSpace(val) == "" {
		if s.isURL {
			return errors.New("want NAME=ws://HOST:PORT")
		}
		return errors.New("want NAME=COMMAND")
	}
	for _, o := range *s.list {
		if o.Name == name {
			return fmt.Errorf("server name %q used twice", name)
		}
	}
	*s.list = append(*s.list, targetSpec{Name: name, Value: strings.TrimSpace(val), IsURL: s.isURL})
	return nil
}

type pidMap map[string]int

func (p pidMap) String() string { return "" }

func (p pidMap) Set(v string) error {
	name, val, ok := strings.Cut(v, "=")
	n, err := strconv.Atoi(strings.TrimSpace(val))
	if !ok || name == "" || err != nil || n <= 0 {
		return errors.New("want NAME=PID")
	}
	p[name] = n
	return nil
}

// run is the whole program; main only adds signal handling.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("appserver-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		specs      []targetSpec
		pids       = pidMap{}
		cfg        config
		tokenEnv   = fs.String("token-env", "", "environment variable holding the bearer token for --url servers")
		method     = fs.String("method", "bench/unknown", "method for the request loads")
		params     = fs.String("params", "{}", "params (JSON) for the request loads")
		rpcFlag    = fs.String("rpc", "16x8,64x4", "request loads, CONNSxDEPTH, comma-separated")
		floodLoad  = fs.String("flood-load", "16x8", "request load measured during the wrong-token flood")
		scenarios  = fs.String("scenarios", strings.Join(scenarioOrder, ","), "scenarios to run, comma-separated")
		jsonOut    = fs.String("json", "", "also write the raw numbers to this file")
		startupMax = fs.Duration("startup-timeout", 60*time.Second, "how long a server may take to print its banner and be ready")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the bench itself to this file")
		procs      = fs.Int("procs", 1, "GOMAXPROCS for the bench (0: Go's default); one P keeps its overhead low on a small machine it shares with the server")
		provAddr   = fs.String("provider-addr", "", "HOST:PORT for the scripted model provider (default 127.0.0.1 on any free port); give it to configure a --url server for delta-latency")
	)
	fs.Var(specList{&specs, false}, "server", "NAME=COMMAND: start COMMAND (split on spaces; {token_file} and {home} are replaced); repeatable")
	fs.Var(specList{&specs, true}, "url", "NAME=ws://HOST:PORT: an already running server (token from --token-env); repeatable")
	fs.Var(pids, "pid", "NAME=PID: the process of a --url server, for RSS and CPU; repeatable")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds; each figure is the median over rounds")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "length of each timed measurement")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up before each request-load measurement")
	fs.DurationVar(&cfg.Settle, "settle", 2*time.Second, "wait before each RSS reading")
	fs.IntVar(&cfg.Handshakes, "handshakes", 200, "sequential handshakes for the latency figures")
	fs.IntVar(&cfg.HandshakeClients, "handshake-clients", 16, "concurrent clients for the handshake rate")
	fs.IntVar(&cfg.IdleConns, "idle-conns", 1000, "idle initialized connections for the RSS figure")
	fs.IntVar(&cfg.Flooders, "flooders", 8, "clients sending upgrades with a wrong token")
	fs.IntVar(&cfg.DialParallel, "dial-parallel", 16, "connections opened at once when setting up a load")
	fs.BoolVar(&cfg.BatchWrites, "batch-writes", true, "in request loads, send the requests that are due at the same moment in one write (false: one write per request, which costs the bench a syscall per request)")
	fs.Float64Var(&cfg.QuietCores, "quiet-cores", 0.3, "before each measurement, wait until other processes use less CPU than this (cores)...")
	fs.DurationVar(&cfg.QuietWait, "quiet-wait", 30*time.Second, "...but no longer than this (0: do not wait)")
	fs.Float64Var(&cfg.MaxOthers, "max-others", 0.5, "repeat a measurement during which other processes used more CPU than this (cores)...")
	fs.IntVar(&cfg.Redo, "redo", 2, "...at most this many times (0: never)")
	fs.IntVar(&cfg.Deltas, "deltas", 200, "delta-latency: text deltas in each model answer")
	fs.DurationVar(&cfg.DeltaGap, "delta-gap", 2*time.Millisecond, "delta-latency: time between two deltas")
	fs.IntVar(&cfg.DeltaTurns, "delta-turns", 5, "delta-latency: measured turns (after one warm-up turn)")
	fs.IntVar(&cfg.Threads, "threads", 500, "idle-threads: thread/start calls")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: appserver-bench (--server NAME=COMMAND | --url NAME=ws://HOST:PORT --token-env VAR)... [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if len(specs) == 0 {
		fs.Usage()
		return errors.New("no servers: give --server or --url")
	}
	if err := finishConfig(&cfg, *method, *params, *rpcFlag, *floodLoad, *scenarios); err != nil {
		return err
	}
	cfg.ProviderFixed = *provAddr != ""
	if !cfg.ProviderFixed {
		*provAddr = "127.0.0.1:0"
	}
	log := newLogger(stderr)
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	// Start or attach to the servers.
	tmp, err := os.MkdirTemp("", "appserver-bench-")
	if err != nil {
		return err
	}
	tmpDir.Store(&tmp)
	defer os.RemoveAll(tmp)
	defer stopAll(3 * time.Second) // before RemoveAll: servers write to their homes
	serverToken := randomToken(32)
	tokenFile := filepath.Join(tmp, "token")
	if err := os.WriteFile(tokenFile, []byte(serverToken+"\n"), 0o600); err != nil {
		return err
	}
	cfg.WorkDir = filepath.Join(tmp, "work")
	if err := os.Mkdir(cfg.WorkDir, 0o700); err != nil {
		return err
	}
	prov, err := startProvider(*provAddr, cfg.Deltas, cfg.DeltaGap, time.Now())
	if err != nil {
		return err
	}
	defer prov.Close()
	log.printf("model provider at %s", prov.URL())
	var targets []*target
	wrong := map[string]string{}
	for i, sp := range specs {
		var t *target
		if sp.IsURL {
			t, err = attach(sp, *tokenEnv, pids)
		} else {
			home := filepath.Join(tmp, fmt.Sprintf("home-%d", i))
			if err = os.Mkdir(home, 0o700); err != nil {
				return err
			}
			if err = prov.writeConfig(home); err != nil {
				return err
			}
			var argv []string
			argv, err = expandArgv(sp.Value, tokenFile, home)
			if err != nil {
				return fmt.Errorf("%s: %w", sp.Name, err)
			}
			log.printf("starting %s: %s", sp.Name, strings.Join(argv, " "))
			t, err = startServer(ctx, sp.Name, argv, home, serverToken, *startupMax)
			if err == nil && pids[sp.Name] > 0 {
				t.RSSPID = pids[sp.Name]
			}
		}
		if err != nil {
			return err
		}
		targets = append(targets, t)
		wrong[t.Name] = wrongToken(t.Token)
		if t.Started {
			log.printf("%s ready at %s (pid %d, RSS/CPU read from pid %d)", t.Name, t.URL, t.PID, t.RSSPID)
		}
	}

	startupRSS := map[string]float64{}
	if slices.ContainsFunc(targets, func(t *target) bool { return t.Started && t.RSSPID > 0 }) {
		if err := sleepCtx(ctx, cfg.Settle); err != nil {
			return err
		}
		for _, t := range targets {
			if t.Started && t.RSSPID > 0 {
				if kib, err := rssKiB(t.RSSPID); err == nil {
					startupRSS[t.Name] = kib / 1024
					log.printf("%s: %.1f MiB RSS at startup", t.Name, kib/1024)
				}
			}
		}
	}

	r := &runner{cfg: cfg, targets: targets, log: log.printf, wrong: wrong, prov: prov, results: map[string]map[string][]float64{}}
	var all []measurement
	began := time.Now()
rounds:
	for round := 1; round <= cfg.Rounds; round++ {
		for _, sc := range cfg.Scenarios {
			for _, t := range targets {
				if ctx.Err() != nil {
					break rounds
				}
				log.setPrefix(fmt.Sprintf("round %d/%d, %s: ", round, cfg.Rounds, t.Name))
				m := r.measure(ctx, sc, t, round)
				if m.Error != "" {
					log.printf("%s: ERROR: %s", sc, m.Error)
				}
				all = append(all, m)
			}
		}
	}
	log.setPrefix("")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	log.printf("done in %v", time.Since(began).Round(time.Second))

	rep := &report{
		Args:       args,
		Date:       time.Now(),
		Machine:    machineInfo(),
		Cfg:        cfg,
		Method:     *method,
		Params:     *params,
		Targets:    targets,
		StartupRSS: startupRSS,
		Results:    r.results,
		Runs:       all,
	}
	rep.writeMarkdown(stdout)
	if *jsonOut != "" {
		if err := rep.writeJSON(*jsonOut); err != nil {
			return err
		}
		log.printf("raw numbers written to %s", *jsonOut)
	}
	for _, t := range targets {
		if err := t.alive(); err != nil {
			return fmt.Errorf("%v; last stderr lines:\n%s", err, t.stderrTail())
		}
	}
	return nil
}

func finishConfig(cfg *config, method, params, rpcFlag, floodLoad, scenarios string) error {
	if cfg.Rounds < 1 || cfg.Duration <= 0 || cfg.Handshakes < 1 || cfg.HandshakeClients < 1 ||
		cfg.IdleConns < 1 || cfg.Flooders < 1 || cfg.DialParallel < 1 || cfg.Warmup < 0 || cfg.Settle < 0 {
		return errors.New("--rounds, --duration, --handshakes, --handshake-clients, --idle-conns, --flooders and --dial-parallel must be positive")
	}
	if cfg.Deltas < 1 || cfg.DeltaGap < 0 || cfg.DeltaTurns < 1 || cfg.Threads < 1 {
		return errors.New("--deltas, --delta-turns and --threads must be positive, --delta-gap not negative")
	}
	for s := range strings.SplitSeq(rpcFlag, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		sh, err := parseShape(s)
		if err != nil {
			return fmt.Errorf("--rpc: %w", err)
		}
		cfg.RPC = append(cfg.RPC, sh)
	}
	var err error
	if cfg.FloodLoad, err = parseShape(floodLoad); err != nil {
		return fmt.Errorf("--flood-load: %w", err)
	}
	want := map[string]bool{}
	for s := range strings.SplitSeq(scenarios, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(scenarioOrder, s) {
			return fmt.Errorf("--scenarios: unknown %q (known: %s)", s, strings.Join(scenarioOrder, ", "))
		}
		want[s] = true
	}
	for _, s := range scenarioOrder {
		if want[s] {
			cfg.Scenarios = append(cfg.Scenarios, s)
		}
	}
	if len(cfg.Scenarios) == 0 {
		return errors.New("--scenarios: none selected")
	}
	if want["rpc"] && len(cfg.RPC) == 0 {
		return errors.New("--rpc: no loads given")
	}
	methodJSON, _ := json.Marshal(method)
	var pb bytes.Buffer
	if err := json.Compact(&pb, []byte(params)); err != nil {
		return fmt.Errorf("--params: not valid JSON: %w", err)
	}
	cfg.suffix = requestSuffix(methodJSON, pb.Bytes())
	return nil
}

// attach describes an already running server.
func attach(sp targetSpec, tokenEnv string, pids pidMap) (*target, error) {
	u, err := url.Parse(sp.Value)
	if err != nil || u.Scheme != "ws" || u.Host == "" {
		return nil, fmt.Errorf("--url %s: want ws://HOST:PORT, got %q", sp.Name, sp.Value)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return nil, fmt.Errorf("--url %s: want ws://HOST:PORT, got %q", sp.Name, sp.Value)
	}
	if tokenEnv == "" {
		return nil, errors.New("--url needs --token-env VAR")
	}
	tok := strings.TrimSpace(os.Getenv(tokenEnv))
	if tok == "" {
		return nil, fmt.Errorf("--token-env: $%s is empty", tokenEnv)
	}
	return &target{Name: sp.Name, URL: "ws://" + u.Host, Token: tok, PID: pids[sp.Name], RSSPID: pids[sp.Name]}, nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wrongToken returns a token of the same length as tok that differs from it.
func wrongToken(tok string) string {
	for {
		w := randomToken((len(tok) + 1) / 2)[:max(len(tok), 1)]
		if w != tok {
			return w
		}
	}
}

// logger writes progress lines to stderr with the elapsed time.
type logger struct {
	w      io.Writer
	start  time.Time
	prefix string
}

func newLogger(w io.Writer) *logger { return &logger{w: w, start: time.Now()} }

func (l *logger) setPrefix(p string) { l.prefix = p }

func (l *logger) printf(format string, args ...any) {
	fmt.Fprintf(l.w, "[%6.1fs] %s%s\n", time.Since(l.start).Seconds(), l.prefix, fmt.Sprintf(format, args...))
}
