package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scenario names, in the order they run within a round. idle-rss runs after
// the request loads so that its idle reading comes after they have loaded
// the server; the agent scenarios come last because the threads they start
// stay loaded, and idle-rss (in the first round at least) should not count
// them.
var scenarioOrder = []string{"handshake", "handshake-rate", "rpc", "reject-flood", "flood-resilience", "idle-rss", "delta-latency", "idle-threads"}

// shape is a request load: connections x pipelining depth.
type shape struct{ Conns, Depth int }

func (s shape) String() string { return fmt.Sprintf("%dx%d", s.Conns, s.Depth) }

func parseShape(s string) (shape, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "x")
	c, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || c <= 0 || d <= 0 {
		return shape{}, fmt.Errorf("bad load %q: want CONNSxDEPTH with positive numbers, e.g. 16x8", s)
	}
	return shape{c, d}, nil
}

// config is everything a run needs besides the targets.
type config struct {
	Rounds           int
	Duration         time.Duration
	Warmup           time.Duration
	Settle           time.Duration
	Handshakes       int
	HandshakeClients int
	RPC              []shape
	IdleConns        int
	Flooders         int
	FloodLoad        shape
	DialParallel     int
	BatchWrites      bool
	QuietCores       float64       // wait for other processes to use less than this...
	QuietWait        time.Duration // ...for at most this long before each scenario
	MaxOthers        float64       // repeat a measurement during which others used more
	Redo             int           // at most this many times
	Scenarios        []string
	suffix           []byte // request tail: method and params

	// Agent scenarios.
	Deltas        int           // text deltas per provider answer
	DeltaGap      time.Duration // between two deltas
	DeltaTurns    int           // measured turns per delta-latency run
	Threads       int           // thread/start calls per idle-threads run
	ProviderFixed bool          // --provider-addr was given: --url servers may be configured for it
	WorkDir       string        // an empty directory, the cwd of delta-latency's threads
}

// measurement is what one scenario on one target in one round produced.
type measurement struct {
	Round    int                `json:"round"`
	Scenario string             `json:"scenario"`
	Server   string             `json:"server"`
	Metrics  map[string]float64 `json:"metrics"`
	Details  map[string]any     `json:"details,omitempty"`
	Error    string             `json:"error,omitempty"`
}

// cpuSnap is a reading of the CPU time used by this tool, by the server
// and by the whole machine.
type cpuSnap struct {
	at       time.Time
	self     float64
	server   float64
	serverOK bool
	machine  machineCPU
	machOK   bool
}

func snapCPU(t *target) cpuSnap {
	s := cpuSnap{at: time.Now(), self: selfCPUSeconds()}
	s.server, s.serverOK = cpuSeconds(t.RSSPID)
	s.machine, s.machOK = readMachineCPU()
	return s
}

// cpuUse is the CPU used during a window, in cores.
type cpuUse struct {
	Bench  float64 // this tool
	Server float64 // the server process (NaN if its pid is unknown)
	Others float64 // other processes on the machine (NaN if unknown)
	IRQ    float64 // interrupt and softirq work, mostly loopback TCP
	IOWait float64 // idle with I/O outstanding
	Lost   float64 // CPU time the machine did not account at all (the VM was not running)
}

func (c cpuUse) String() string {
	s := fmt.Sprintf("CPU: bench %.2f, server %.2f, softirq %.2f, other processes %.2f cores", c.Bench, c.Server, c.IRQ, c.Others)
	if c.IOWait >= 0.05 {
		s += fmt.Sprintf(", iowait %.2f", c.IOWait)
	}
	if c.Lost >= 0.05 {
		s += fmt.Sprintf(", unaccounted %.2f", c.Lost)
	}
	return s
}

// noise is how much of the machine something other than the bench and the
// server took during the window, in cores.
func (c cpuUse) noise() float64 {
	if math.IsNaN(c.Others) && math.IsNaN(c.Lost) {
		return math.NaN()
	}
	n := 0.0
	for _, v := range []float64{c.Others, c.Lost} {
		if !math.IsNaN(v) {
			n += v
		}
	}
	return n
}

func (c cpuUse) record(m *measurement, prefix string) {
	m.Metrics[prefix+".client_cpu"] = c.Bench
	m.Metrics[prefix+".server_cpu"] = c.Server
	m.Metrics[prefix+".others_cpu"] = c.Others
	m.Metrics[prefix+".irq_cpu"] = c.IRQ
	m.Metrics[prefix+".iowait_cpu"] = c.IOWait
	m.Metrics[prefix+".lost_cpu"] = c.Lost
	m.Metrics[prefix+".noise_cpu"] = c.noise()
}

// cores returns the CPU used between a and b. "Others" is the machine's
// process time less the bench and the server: other people's builds and
// tests on a shared machine show up there. "Lost" is wall time × CPUs that
// /proc/stat did not account for: the VM itself was paused.
func cores(a, b cpuSnap) cpuUse {
	nan := math.NaN()
	u := cpuUse{Bench: nan, Server: nan, Others: nan, IRQ: nan, IOWait: nan, Lost: nan}
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return u
	}
	u.Bench = (b.self - a.self) / wall
	if a.serverOK && b.serverOK {
		u.Server = (b.server - a.server) / wall
	}
	if a.machOK && b.machOK {
		d := func(f func(machineCPU) float64) float64 { return (f(b.machine) - f(a.machine)) / wall }
		u.IRQ = d(func(m machineCPU) float64 { return m.IRQ })
		u.IOWait = d(func(m machineCPU) float64 { return m.IOWait })
		u.Lost = max(0, float64(b.machine.NCPU)-d(func(m machineCPU) float64 { return m.Total }))
		if u.Lost < 0.1 { // tick granularity
			u.Lost = 0
		}
		if !math.IsNaN(u.Server) {
			u.Others = max(0, d(func(m machineCPU) float64 { return m.Procs })-u.Bench-u.Server)
		}
	}
	return u
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepUntil sleeps until w's base + off.
func sleepUntil(ctx context.Context, w *window, off int64) error {
	return sleepCtx(ctx, time.Until(w.base.Add(time.Duration(off))))
}

// runner runs the scenarios against the targets.
type runner struct {
	cfg     config
	targets []*target
	log     func(format string, args ...any)
	wrong   map[string]string // target name -> wrong token of the same length
	prov    *provider         // the scripted model provider of the agent scenarios

	mu      sync.Mutex
	results map[string]map[string][]float64 // server -> metric -> value per round (NaN = none)
}

func (r *runner) record(server, metric string, round int, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.results[server]
	if m == nil {
		m = map[string][]float64{}
		r.results[server] = m
	}
	vals := m[metric]
	for len(vals) < r.cfg.Rounds {
		vals = append(vals, math.NaN())
	}
	if round >= 1 && round <= len(vals) {
		vals[round-1] = v
	}
	m[metric] = vals
}

// othersCores samples, over d, the CPU used by everything on the machine
// except this tool and the targets' server processes.
func othersCores(ctx context.Context, targets []*target, d time.Duration) (float64, bool) {
	snap := func() (float64, bool) {
		mc, ok := readMachineCPU()
		if !ok {
			return 0, false
		}
		busy := mc.Procs - selfCPUSeconds()
		for _, t := range targets {
			if c, ok := cpuSeconds(t.RSSPID); ok {
				busy -= c
			}
		}
		return busy, true
	}
	t0 := time.Now()
	a, ok := snap()
	if !ok || sleepCtx(ctx, d) != nil {
		return 0, false
	}
	b, ok := snap()
	return max(0, (b-a)/time.Since(t0).Seconds()), ok
}

// waitQuiet waits, up to cfg.QuietWait, until other processes use less
// than cfg.QuietCores, so that a measurement does not start in the middle
// of someone else's build on a shared machine.
func (r *runner) waitQuiet(ctx context.Context, targets []*target) {
	if r.cfg.QuietWait <= 0 {
		return
	}
	deadline := time.Now().Add(r.cfg.QuietWait)
	logged := false
	for {
		c, ok := othersCores(ctx, targets, 300*time.Millisecond)
		if !ok || c < r.cfg.QuietCores {
			if logged {
				r.log("other processes are quiet now (%.2f cores)", c)
			}
			return
		}
		if time.Now().After(deadline) {
			r.log("other processes still use %.2f cores after %v; measuring anyway", c, r.cfg.QuietWait)
			return
		}
		if !logged {
			r.log("waiting up to %v for other processes to go below %.2f cores (now %.2f)", r.cfg.QuietWait, r.cfg.QuietCores, c)
			logged = true
		}
		if sleepCtx(ctx, 200*time.Millisecond) != nil {
			return
		}
	}
}

// measure runs one scenario on one target and records its figures. On a
// shared machine it first waits for other processes to calm down, and it
// repeats a measurement (up to cfg.Redo times) during which they used more
// than cfg.MaxOthers cores.
func (r *runner) measure(ctx context.Context, name string, t *target, round int) measurement {
	var best measurement
	bestNoise := math.Inf(1)
	for attempt := 0; ; attempt++ {
		r.waitQuiet(ctx, r.targets)
		m := r.run(ctx, name, t, round)
		noise := math.NaN()
		for k, v := range m.Metrics {
			if strings.HasSuffix(k, ".noise_cpu") && !math.IsNaN(v) && !(v <= noise) {
				noise = v
			}
		}
		if attempt == 0 || m.Error == "" && noise < bestNoise {
			best, bestNoise = m, noise
		}
		if m.Error != "" || ctx.Err() != nil || !(noise > r.cfg.MaxOthers) {
			break
		}
		if attempt >= r.cfg.Redo {
			if r.cfg.Redo > 0 {
				r.log("%s: other processes or VM stalls took %.2f cores or more in each of %d tries; keeping the quietest (%.2f)", name, r.cfg.MaxOthers, attempt+1, bestNoise)
			}
			best.Details["noisy_cores"] = bestNoise
			break
		}
		r.log("%s: other processes or VM stalls took %.2f cores during the measurement; repeating it", name, noise)
	}
	for k, v := range best.Metrics {
		r.record(t.Name, k, round, v)
	}
	if len(best.Details) == 0 {
		best.Details = nil
	}
	return best
}

// run executes one scenario on one target.
func (r *runner) run(ctx context.Context, name string, t *target, round int) measurement {
	m := measurement{Round: round, Scenario: name, Server: t.Name, Metrics: map[string]float64{}, Details: map[string]any{}}
	err := t.alive()
	if err == nil {
		switch name {
		case "handshake":
			err = r.handshake(ctx, t, &m)
		case "handshake-rate":
			err = r.handshakeRate(ctx, t, &m)
		case "rpc":
			err = r.rpc(ctx, t, &m)
		case "idle-rss":
			err = r.idleRSS(ctx, t, &m)
		case "reject-flood":
			err = r.rejectFlood(ctx, t, &m)
		case "flood-resilience":
			err = r.floodResilience(ctx, t, &m)
		case "delta-latency":
			err = r.deltaLatency(ctx, t, &m)
		case "idle-threads":
			err = r.idleThreads(ctx, t, &m)
		default:
			err = fmt.Errorf("unknown scenario %q", name)
		}
	}
	if err == nil {
		err = t.alive() // a server that died during the scenario taints it
	}
	if err != nil {
		m.Error = err.Error()
	}
	return m
}

// handshake: N sequential connect+upgrade+initialize, each then closed.
func (r *runner) handshake(ctx context.Context, t *target, m *measurement) error {
	c := newClient(t)
	buf := make([]byte, 0, 8<<10)
	// A few unmeasured handshakes first: the first initialize on a fresh
	// server can pay for one-time setup.
	for range 3 {
		ws, _, err := c.connect(ctx, &buf)
		if err != nil {
			return err
		}
		ws.CloseNow()
	}
	lat := make([]time.Duration, 0, r.cfg.Handshakes)
	failures, retries := 0, 0
	var firstErr error
	a := snapCPU(t)
	defer func() { cores(a, snapCPU(t)).record(m, "handshake") }()
	for range r.cfg.Handshakes {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		ws, hr, err := c.connect(ctx, &buf)
		d := time.Since(t0)
		retries += hr.Retries
		if err != nil {
			failures++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		lat = append(lat, d)
		ws.CloseNow()
	}
	sortDurations(lat)
	m.Metrics["handshake.failures"] = float64(failures)
	m.Metrics["handshake.init_retries"] = float64(retries)
	if len(lat) == 0 {
		return fmt.Errorf("no handshake succeeded: %v", firstErr)
	}
	m.Metrics["handshake.p50_ms"] = ms(percentile(lat, 50))
	m.Metrics["handshake.p99_ms"] = ms(percentile(lat, 99))
	m.Details["handshakes"] = len(lat)
	if firstErr != nil {
		m.Details["first_error"] = firstErr.Error()
	}
	r.log("handshake: p50 %.2f ms, p99 %.2f ms over %d (failures %d, initialize retries %d)",
		m.Metrics["handshake.p50_ms"], m.Metrics["handshake.p99_ms"], len(lat), failures, retries)
	return nil
}

// handshakeRate: K clients loop connect+upgrade+initialize+close for D.
func (r *runner) handshakeRate(ctx context.Context, t *target, m *measurement) error {
	c := newClient(t)
	w := &window{base: time.Now(), start: 0, end: int64(r.cfg.Duration)}
	var (
		done, failures, retries atomic.Int64
		stop                    = make(chan struct{})
		wg                      sync.WaitGroup
		errMu                   sync.Mutex
		firstErr                error
	)
	for range r.cfg.HandshakeClients {
		wg.Go(func() {
			buf := make([]byte, 0, 8<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				ws, hr, err := c.connect(ctx, &buf)
				now := w.now()
				if ws != nil {
					ws.CloseNow()
				}
				if !w.in(now) {
					continue
				}
				retries.Add(int64(hr.Retries))
				if err != nil {
					failures.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					time.Sleep(time.Millisecond)
					continue
				}
				done.Add(1)
			}
		})
	}
	a := snapCPU(t)
	err := sleepUntil(ctx, w, w.end)
	b := snapCPU(t)
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	cu := cores(a, b)
	secs := float64(w.end-w.start) / 1e9
	m.Metrics["handshake_rate.per_s"] = float64(done.Load()) / secs
	m.Metrics["handshake_rate.failures"] = float64(failures.Load())
	m.Metrics["handshake_rate.init_retries"] = float64(retries.Load())
	cu.record(m, "handshake_rate")
	if firstErr != nil {
		m.Details["first_error"] = firstErr.Error()
	}
	r.log("handshake-rate: %.0f/s with %d clients (failures %d, initialize retries %d; %v)",
		m.Metrics["handshake_rate.per_s"], r.cfg.HandshakeClients, failures.Load(), retries.Load(), cu)
	return nil
}

// rpcOnce opens sh.Conns connections, runs the request load for warm-up + D
// and returns its statistics and CPU use. withFlood adds the wrong-token
// flooders, started once the connections are open and counted over the same
// window.
func (r *runner) rpcOnce(ctx context.Context, t *target, sh shape, withFlood bool) (rpcStats, *floodStats, cpuUse, error) {
	c := newClient(t)
	conns, _, err := openConns(ctx, c, sh.Conns, r.cfg.DialParallel)
	if err != nil {
		return rpcStats{}, nil, cpuUse{}, err
	}
	w := &window{base: time.Now(), start: int64(r.cfg.Warmup), end: int64(r.cfg.Warmup + r.cfg.Duration)}
	var fl *flood
	if withFlood {
		fl = startFlood(strings.TrimPrefix(t.URL, "ws://"), r.wrong[t.Name], r.cfg.Flooders, w)
	}
	l := startRPCLoad(conns, sh.Depth, r.cfg.suffix, w, r.cfg.BatchWrites)
	err = sleepUntil(ctx, w, w.start)
	a := snapCPU(t)
	if err == nil {
		err = sleepUntil(ctx, w, w.end)
	}
	b := snapCPU(t)
	st, lerr := l.finish()
	var fs *floodStats
	if fl != nil {
		s := fl.finish()
		fs = &s
	}
	return st, fs, cores(a, b), errors.Join(err, lerr)
}

func rpcMetrics(m *measurement, prefix string, st rpcStats) {
	m.Metrics[prefix+".req_per_s"] = st.rate()
	m.Metrics[prefix+".served_per_s"] = float64(st.Answers-st.Overload) / st.Seconds
	m.Metrics[prefix+".p50_ms"] = ms(st.P50)
	m.Metrics[prefix+".p99_ms"] = ms(st.P99)
	pct := math.NaN()
	if st.Answers > 0 {
		pct = 100 * float64(st.Overload) / float64(st.Answers)
	}
	m.Metrics[prefix+".overload_pct"] = pct
}

func rpcDetails(st rpcStats) map[string]any {
	codes := map[string]int64{}
	for k, v := range st.Codes {
		codes[fmt.Sprint(k)] = v
	}
	return map[string]any{"answers": st.Answers, "ok": st.OK, "overloaded": st.Overload, "other": st.Other,
		"other_codes": codes, "unmatched": st.Unmatched, "invalid": st.Invalid, "seconds": st.Seconds}
}

func codesString(st rpcStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ok %d, -32001 %d, other %d", st.OK, st.Overload, st.Other)
	for k, v := range st.Codes {
		if k == codeMissing {
			fmt.Fprintf(&b, " [no code: %d]", v)
		} else {
			fmt.Fprintf(&b, " [%d: %d]", k, v)
		}
	}
	return b.String()
}

// rpc: every configured connections x depth load.
func (r *runner) rpc(ctx context.Context, t *target, m *measurement) error {
	var errs []error
	for _, sh := range r.cfg.RPC {
		st, _, cu, err := r.rpcOnce(ctx, t, sh, false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", sh, err))
			if st.Seconds == 0 {
				continue
			}
		}
		p := "rpc." + sh.String()
		rpcMetrics(m, p, st)
		cu.record(m, p)
		m.Details[sh.String()] = rpcDetails(st)
		r.log("rpc %v: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.1f %% -32001 (%s; %v)",
			sh, st.rate(), ms(st.P50), ms(st.P99), m.Metrics[p+".overload_pct"], codesString(st), cu)
	}
	return errors.Join(errs...)
}

// idleRSS: VmRSS with no connections, then with N idle initialized ones.
func (r *runner) idleRSS(ctx context.Context, t *target, m *measurement) error {
	if t.RSSPID <= 0 {
		r.log("idle-rss: skipped, no pid known for %s (use --pid)", t.Name)
		m.Details["skipped"] = "no pid"
		return nil
	}
	if err := sleepCtx(ctx, r.cfg.Settle); err != nil {
		return err
	}
	rss0, err := rssKiB(t.RSSPID)
	if err != nil {
		return err
	}
	c := newClient(t)
	conns, retries, err := openConns(ctx, c, r.cfg.IdleConns, r.cfg.DialParallel)
	if err != nil {
		return fmt.Errorf("opening %d connections: %w", r.cfg.IdleConns, err)
	}
	// Drain what the server pushes (notifications) so that nothing backs
	// up; the connections send nothing.
	var wg sync.WaitGroup
	for _, ws := range conns {
		wg.Go(func() {
			buf := make([]byte, 0, 512)
			for {
				b, err := readMessage(context.Background(), ws.Conn, buf)
				if err != nil {
					return
				}
				buf = b[:0]
			}
		})
	}
	err = sleepCtx(ctx, r.cfg.Settle)
	var rssN float64
	if err == nil {
		rssN, err = rssKiB(t.RSSPID)
	}
	closeConns(conns)
	wg.Wait()
	if err != nil {
		return err
	}
	n := float64(r.cfg.IdleConns)
	m.Metrics["idle.rss0_mib"] = rss0 / 1024
	m.Metrics["idle.rssN_mib"] = rssN / 1024
	m.Metrics["idle.kib_per_conn"] = (rssN - rss0) / n
	m.Details["init_retries"] = retries
	r.log("idle-rss: %.1f MiB idle, %.1f MiB with %d idle connections: %.1f KiB each",
		rss0/1024, rssN/1024, r.cfg.IdleConns, (rssN-rss0)/n)
	return nil
}

// rejectFlood: F clients loop upgrades with a wrong token for D.
func (r *runner) rejectFlood(ctx context.Context, t *target, m *measurement) error {
	w := &window{base: time.Now(), start: 0, end: int64(r.cfg.Duration)}
	fl := startFlood(strings.TrimPrefix(t.URL, "ws://"), r.wrong[t.Name], r.cfg.Flooders, w)
	a := snapCPU(t)
	err := sleepUntil(ctx, w, w.end)
	b := snapCPU(t)
	st := fl.finish()
	if err != nil {
		return err
	}
	cu := cores(a, b)
	m.Metrics["reject.per_s"] = st.rate()
	m.Metrics["reject.non401"] = float64(st.Other)
	m.Metrics["reject.limited"] = float64(st.Limited)
	cu.record(m, "reject")
	if len(st.Outcomes) > 0 {
		m.Details["non401"] = st.Outcomes
	}
	r.log("reject-flood: %.0f rejected upgrades/s with %d clients (non-401: %d %v; %v)",
		st.rate(), r.cfg.Flooders, st.Other, st.Outcomes, cu)
	return nil
}

// floodResilience: the flood-load request rate while F clients flood wrong
// tokens, as a share of the same load without the flood measured right
// before it (back to back, so that both see the same machine).
func (r *runner) floodResilience(ctx context.Context, t *target, m *measurement) error {
	sh := r.cfg.FloodLoad
	bst, _, bcu, err := r.rpcOnce(ctx, t, sh, false)
	if err != nil {
		return fmt.Errorf("baseline %v: %w", sh, err)
	}
	bcu.record(m, "flood.baseline")
	base := bst.rate()
	r.log("flood-resilience: baseline %v %.0f req/s (%v)", sh, base, bcu)
	st, fs, cu, err := r.rpcOnce(ctx, t, sh, true)
	if err != nil && (ctx.Err() != nil || st.Seconds == 0) {
		return err
	}
	m.Metrics["flood.baseline_req_per_s"] = base
	m.Metrics["flood.req_per_s"] = st.rate()
	m.Metrics["flood.pct_of_baseline"] = 100 * st.rate() / base
	m.Metrics["flood.p99_ms"] = ms(st.P99)
	m.Metrics["flood.overload_pct"] = math.NaN()
	if st.Answers > 0 {
		m.Metrics["flood.overload_pct"] = 100 * float64(st.Overload) / float64(st.Answers)
	}
	m.Metrics["flood.reject_per_s"] = fs.rate()
	m.Metrics["flood.non401"] = float64(fs.Other)
	cu.record(m, "flood")
	m.Details["rpc"] = rpcDetails(st)
	if len(fs.Outcomes) > 0 {
		m.Details["non401"] = fs.Outcomes
	}
	r.log("flood-resilience: %v %.0f req/s under a %d-client flood = %.0f %% of %.0f (p99 %.2f ms, %.1f %% -32001; flood %.0f rejected/s, non-401 %d; %v)",
		sh, st.rate(), r.cfg.Flooders, 100*st.rate()/base, base, ms(st.P99), m.Metrics["flood.overload_pct"], fs.rate(), fs.Other, cu)
	return err
}
