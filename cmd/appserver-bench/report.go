package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type machine struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

type aggKind int

const (
	aggMedian aggKind = iota
	aggTotal          // failure counts: the sum over rounds
)

// rowDef is one line of the table.
type rowDef struct {
	Key        string
	Label      string
	Prec       int
	Agg        aggKind
	HideIfZero bool // failure counters are shown only when something failed
}

func rowDefs(cfg config) []rowDef {
	var rows []rowDef
	add := func(r ...rowDef) { rows = append(rows, r...) }
	for _, sc := range cfg.Scenarios {
		switch sc {
		case "handshake":
			add(rowDef{Key: "handshake.p50_ms", Label: "handshake latency p50 (ms)", Prec: 2},
				rowDef{Key: "handshake.p99_ms", Label: "handshake latency p99 (ms)", Prec: 2},
				rowDef{Key: "handshake.failures", Label: "handshake failures (total)", Agg: aggTotal, HideIfZero: true},
				rowDef{Key: "handshake.init_retries", Label: "handshake initialize -32001 retries (total)", Agg: aggTotal, HideIfZero: true})
		case "handshake-rate":
			n := strconv.Itoa(cfg.HandshakeClients)
			add(rowDef{Key: "handshake_rate.per_s", Label: "handshakes/s, " + n + " clients"},
				rowDef{Key: "handshake_rate.failures", Label: "handshake-rate failures (total)", Agg: aggTotal, HideIfZero: true},
				rowDef{Key: "handshake_rate.init_retries", Label: "handshake-rate initialize -32001 retries (total)", Agg: aggTotal, HideIfZero: true})
		case "rpc":
			for _, sh := range cfg.RPC {
				p, s := "rpc."+sh.String(), sh.String()
				add(rowDef{Key: p + ".req_per_s", Label: s + " req/s"},
					rowDef{Key: p + ".served_per_s", Label: s + " req/s not -32001"},
					rowDef{Key: p + ".p50_ms", Label: s + " latency p50 (ms)", Prec: 2},
					rowDef{Key: p + ".p99_ms", Label: s + " latency p99 (ms)", Prec: 2},
					rowDef{Key: p + ".overload_pct", Label: s + " answers -32001 (%)", Prec: 1})
			}
		case "reject-flood":
			n := strconv.Itoa(cfg.Flooders)
			add(rowDef{Key: "reject.per_s", Label: "rejected upgrades/s (401 or 429), " + n + " clients"},
				rowDef{Key: "reject.limited", Label: "of which 429 (failure limit)", Agg: aggTotal, HideIfZero: true},
				rowDef{Key: "reject.non401", Label: "reject-flood other outcomes (total)", Agg: aggTotal})
		case "flood-resilience":
			s := cfg.FloodLoad.String()
			add(rowDef{Key: "flood.baseline_req_per_s", Label: s + " req/s just before the flood"},
				rowDef{Key: "flood.req_per_s", Label: s + " req/s during wrong-token flood"},
				rowDef{Key: "flood.pct_of_baseline", Label: s + " rate kept during flood (% of just before)", Prec: 1},
				rowDef{Key: "flood.p99_ms", Label: s + " latency p99 during flood (ms)", Prec: 2},
				rowDef{Key: "flood.reject_per_s", Label: "rejected upgrades/s (401 or 429) during that load"},
				rowDef{Key: "flood.non401", Label: "flood-resilience other outcomes (total)", Agg: aggTotal, HideIfZero: true})
		case "idle-rss":
			n := strconv.Itoa(cfg.IdleConns)
			add(rowDef{Key: "startup.rss_mib", Label: "RSS at startup, no connections (MiB)", Prec: 1},
				rowDef{Key: "idle.rss0_mib", Label: "RSS idle after load, no connections (MiB)", Prec: 1},
				rowDef{Key: "idle.rssN_mib", Label: "RSS with " + n + " idle connections (MiB)", Prec: 1},
				rowDef{Key: "idle.kib_per_conn", Label: "RSS per idle connection (KiB)", Prec: 1})
		case "delta-latency":
			n := strconv.Itoa(cfg.Deltas)
			add(rowDef{Key: "delta.p50_ms", Label: "model text delta to item/agentMessage/delta p50 (ms)", Prec: 3},
				rowDef{Key: "delta.p99_ms", Label: "model text delta to item/agentMessage/delta p99 (ms)", Prec: 3},
				rowDef{Key: "delta.max_ms", Label: "model text delta to item/agentMessage/delta max (ms)", Prec: 2},
				rowDef{Key: "delta.first_ms", Label: "first delta of a turn to its notification, median (ms)", Prec: 2},
				rowDef{Key: "delta.missing", Label: "deltas never notified, of " + n + " per turn (total)", Agg: aggTotal, HideIfZero: true},
				rowDef{Key: "delta.turn_start_ms", Label: "turn/start sent to provider request, median (ms)", Prec: 1},
				rowDef{Key: "delta.turn_end_ms", Label: "response.completed to turn/completed, median (ms)", Prec: 1})
		case "idle-threads":
			n := strconv.Itoa(cfg.Threads)
			add(rowDef{Key: "threads.rss0_mib", Label: "RSS before idle threads, one connection (MiB)", Prec: 1},
				rowDef{Key: "threads.rssN_mib", Label: "RSS after " + n + " more thread/start {} (MiB)", Prec: 1},
				rowDef{Key: "threads.kib_per_thread", Label: "RSS per idle thread (KiB)", Prec: 1},
				rowDef{Key: "threads.start_p50_ms", Label: "thread/start latency p50, one at a time (ms)", Prec: 2},
				rowDef{Key: "threads.start_p99_ms", Label: "thread/start latency p99, one at a time (ms)", Prec: 2},
				rowDef{Key: "threads.loaded", Label: "of which loaded afterwards (thread/loaded/list)"},
				rowDef{Key: "threads.files_per_thread", Label: "files written under the server's home per thread", Prec: 2})
		}
	}
	// Where the load generator's own CPU use can be checked.
	add(rowDef{Key: "noise.max_cores", Label: "CPU taken by other processes or VM stalls, worst kept measurement (cores)", Prec: 2})
	for _, sc := range cfg.Scenarios {
		switch sc {
		case "handshake-rate":
			add(rowDef{Key: "handshake_rate.server_cpu", Label: "server CPU during handshake rate (cores)", Prec: 2},
				rowDef{Key: "handshake_rate.client_cpu", Label: "bench CPU during handshake rate (cores)", Prec: 2})
		case "rpc":
			for _, sh := range cfg.RPC {
				p, s := "rpc."+sh.String(), sh.String()
				add(rowDef{Key: p + ".server_cpu", Label: "server CPU during " + s + " (cores)", Prec: 2},
					rowDef{Key: p + ".client_cpu", Label: "bench CPU during " + s + " (cores)", Prec: 2})
			}
		case "reject-flood":
			add(rowDef{Key: "reject.server_cpu", Label: "server CPU during reject flood (cores)", Prec: 2},
				rowDef{Key: "reject.client_cpu", Label: "bench CPU during reject flood (cores)", Prec: 2})
		case "flood-resilience":
			add(rowDef{Key: "flood.server_cpu", Label: "server CPU during flood + load (cores)", Prec: 2},
				rowDef{Key: "flood.client_cpu", Label: "bench CPU during flood + load (cores)", Prec: 2})
		case "delta-latency":
			add(rowDef{Key: "delta.server_cpu", Label: "server CPU while streaming deltas (cores)", Prec: 2},
				rowDef{Key: "delta.client_cpu", Label: "bench CPU while streaming deltas (cores)", Prec: 2})
		case "idle-threads":
			add(rowDef{Key: "threads.server_cpu_ms", Label: "server CPU per thread/start (ms)", Prec: 2})
		}
	}
	return rows
}

type report struct {
	Args       []string
	Date       time.Time
	Machine    machine
	Cfg        config
	Method     string
	Params     string
	Targets    []*target
	StartupRSS map[string]float64
	Results    map[string]map[string][]float64
	Runs       []measurement
}

// values returns the per-round values of a metric for a server.
func (r *report) values(server, key string) []float64 {
	if key == "noise.max_cores" {
		worst := math.NaN()
		for k, vals := range r.Results[server] {
			if strings.HasSuffix(k, ".noise_cpu") {
				for _, v := range vals {
					if !math.IsNaN(v) && (math.IsNaN(worst) || v > worst) {
						worst = v
					}
				}
			}
		}
		if math.IsNaN(worst) {
			return nil
		}
		return []float64{worst}
	}
	if key == "startup.rss_mib" {
		if v, ok := r.StartupRSS[server]; ok {
			return []float64{v}
		}
		return nil
	}
	return r.Results[server][key]
}

func (r *report) aggregate(server string, row rowDef) float64 {
	v := r.values(server, row.Key)
	if row.Agg == aggTotal {
		return sum(v)
	}
	return median(v)
}

func (r *report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "```\n%s\n```\n\n", commandLine(r.Args))
	fmt.Fprintf(w, "- date: %s\n", r.Date.UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(w, "- machine: %d CPUs (%s), Linux %s; bench built with %s; the bench shares the CPUs with the servers\n",
		r.Machine.CPUs, r.Machine.CPU, r.Machine.Kernel, r.Machine.Go)
	fmt.Fprintf(w, "- %d round(s), servers interleaved per scenario; %v per timed measurement, request loads after a %v warm-up; method %s, params %s\n",
		r.Cfg.Rounds, r.Cfg.Duration, r.Cfg.Warmup, r.Method, r.Params)
	if r.Cfg.BatchWrites {
		fmt.Fprintln(w, "- request loads send the requests due at the same moment in one write (--batch-writes)")
	} else {
		fmt.Fprintln(w, "- request loads send one write per request (--batch-writes=false)")
	}
	if r.Cfg.QuietWait > 0 {
		fmt.Fprintf(w, "- before each measurement the bench waited (up to %v) for other processes to use < %.2f cores\n", r.Cfg.QuietWait, r.Cfg.QuietCores)
	}
	if r.Cfg.Redo > 0 {
		fmt.Fprintf(w, "- a measurement during which other processes used > %.2f cores was repeated (up to %d times)\n", r.Cfg.MaxOthers, r.Cfg.Redo)
	}
	for _, t := range r.Targets {
		switch {
		case t.Started && t.RSSPID != t.PID:
			fmt.Fprintf(w, "- %s: %s, started as pid %d; RSS and CPU of pid %d (the process listening on the port)\n", t.Name, t.URL, t.PID, t.RSSPID)
		case t.RSSPID > 0:
			fmt.Fprintf(w, "- %s: %s, pid %d\n", t.Name, t.URL, t.RSSPID)
		default:
			fmt.Fprintf(w, "- %s: %s, pid unknown: no RSS or server CPU\n", t.Name, t.URL)
		}
	}
	fmt.Fprintln(w)

	names := make([]string, len(r.Targets))
	for i, t := range r.Targets {
		names[i] = t.Name
	}
	ratio := len(names) == 2
	fmt.Fprintf(w, "| metric | %s |", strings.Join(names, " | "))
	if ratio {
		fmt.Fprintf(w, " %s / %s |", names[1], names[0])
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|"+strings.Repeat("---:|", len(names)))
	if ratio {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, row := range rowDefs(r.Cfg) {
		vals := make([]float64, len(names))
		any, nonzero := false, false
		for i, n := range names {
			vals[i] = r.aggregate(n, row)
			if !math.IsNaN(vals[i]) {
				any = true
				if vals[i] != 0 {
					nonzero = true
				}
			}
		}
		if !any || (row.HideIfZero && !nonzero) {
			continue
		}
		fmt.Fprintf(w, "| %s |", row.Label)
		for _, v := range vals {
			fmt.Fprintf(w, " %s |", formatNum(v, row.Prec))
		}
		if ratio {
			q := vals[1] / vals[0]
			if math.IsNaN(q) || math.IsInf(q, 0) {
				fmt.Fprint(w, " – |")
			} else {
				fmt.Fprintf(w, " %.2f |", q)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each figure is the median over rounds; \"(total)\" rows are sums over rounds. Request rates count every answer; \"not -32001\" leaves out \"Server overloaded\" answers.")
	var errs, noisy []string
	for _, m := range r.Runs {
		if m.Error != "" {
			errs = append(errs, fmt.Sprintf("- round %d, %s, %s: %s", m.Round, m.Scenario, m.Server, m.Error))
		}
		if n, ok := m.Details["noisy_cores"].(float64); ok {
			noisy = append(noisy, fmt.Sprintf("round %d %s on %s (%.2f cores)", m.Round, m.Scenario, m.Server, n))
		}
	}
	if len(noisy) > 0 {
		fmt.Fprintf(w, "\nMeasured while other processes or VM stalls took more than %.2f cores even after %d repeats (least noisy try kept): %s.\n",
			r.Cfg.MaxOthers, r.Cfg.Redo, strings.Join(noisy, "; "))
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nErrors:\n%s\n", strings.Join(errs, "\n"))
	}
}

// formatNum prints v with prec decimals and thousands separators.
func formatNum(v float64, prec int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

// commandLine renders the command line; a binary built by "go run" (in a
// go-build temporary directory) is shown as the go run command.
func commandLine(args []string) string {
	if len(args) > 0 && strings.Contains(args[0], "/go-build") && filepath.Base(args[0]) == "appserver-bench" {
		return "go run ./cmd/appserver-bench " + shellQuote(args[1:])
	}
	return shellQuote(args)
}

// shellQuote renders args so that they can be pasted back into a shell.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@%+", r))
		}) < 0 {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// jnum is a float64 that encodes NaN as null.
type jnum float64

func (n jnum) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func jnums(v []float64) []jnum {
	out := make([]jnum, len(v))
	for i, x := range v {
		out[i] = jnum(x)
	}
	return out
}

func (r *report) writeJSON(path string) error {
	type server struct {
		Name    string   `json:"name"`
		URL     string   `json:"url"`
		Command []string `json:"command,omitempty"`
		PID     int      `json:"pid,omitempty"`
		RSSPID  int      `json:"rss_pid,omitempty"`
	}
	type metric struct {
		Value    jnum   `json:"value"`
		Agg      string `json:"agg"`
		PerRound []jnum `json:"per_round"`
	}
	type run struct {
		Round    int             `json:"round"`
		Scenario string          `json:"scenario"`
		Server   string          `json:"server"`
		Metrics  map[string]jnum `json:"metrics"`
		Details  map[string]any  `json:"details,omitempty"`
		Error    string          `json:"error,omitempty"`
	}
	out := struct {
		Command     []string                     `json:"command"`
		Date        string                       `json:"date"`
		Machine     machine                      `json:"machine"`
		Config      map[string]any               `json:"config"`
		Servers     []server                     `json:"servers"`
		Summary     map[string]map[string]metric `json:"summary"`
		Runs        []run                        `json:"runs"`
		Startup     map[string]jnum              `json:"startup_rss_mib"`
		MetricOrder []string                     `json:"metric_order"`
	}{
		Command: r.Args,
		Date:    r.Date.UTC().Format(time.RFC3339),
		Machine: r.Machine,
		Config: map[string]any{
			"rounds": r.Cfg.Rounds, "duration_s": r.Cfg.Duration.Seconds(), "warmup_s": r.Cfg.Warmup.Seconds(),
			"settle_s": r.Cfg.Settle.Seconds(), "handshakes": r.Cfg.Handshakes, "handshake_clients": r.Cfg.HandshakeClients,
			"rpc": shapes(r.Cfg.RPC), "idle_conns": r.Cfg.IdleConns, "flooders": r.Cfg.Flooders,
			"flood_load": r.Cfg.FloodLoad.String(), "scenarios": r.Cfg.Scenarios, "method": r.Method, "params": r.Params,
			"batch_writes": r.Cfg.BatchWrites, "max_others": r.Cfg.MaxOthers, "redo": r.Cfg.Redo, "quiet_cores": r.Cfg.QuietCores, "quiet_wait_s": r.Cfg.QuietWait.Seconds(), "dial_parallel": r.Cfg.DialParallel,
			"deltas": r.Cfg.Deltas, "delta_gap_ms": ms(r.Cfg.DeltaGap), "delta_turns": r.Cfg.DeltaTurns, "threads": r.Cfg.Threads,
		},
		Summary: map[string]map[string]metric{},
		Startup: map[string]jnum{},
	}
	for _, t := range r.Targets {
		out.Servers = append(out.Servers, server{Name: t.Name, URL: t.URL, Command: t.Argv, PID: t.PID, RSSPID: t.RSSPID})
		if v, ok := r.StartupRSS[t.Name]; ok {
			out.Startup[t.Name] = jnum(v)
		}
		sm := map[string]metric{}
		keys := make([]string, 0, len(r.Results[t.Name]))
		for k := range r.Results[t.Name] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			agg, val := "median", median(r.Results[t.Name][k])
			if strings.HasSuffix(k, "failures") || strings.HasSuffix(k, "retries") || strings.HasSuffix(k, "non401") || strings.HasSuffix(k, "missing") {
				agg, val = "total", sum(r.Results[t.Name][k])
			}
			sm[k] = metric{Value: jnum(val), Agg: agg, PerRound: jnums(r.Results[t.Name][k])}
		}
		out.Summary[t.Name] = sm
	}
	for _, row := range rowDefs(r.Cfg) {
		out.MetricOrder = append(out.MetricOrder, row.Key)
	}
	for _, m := range r.Runs {
		rm := map[string]jnum{}
		for k, v := range m.Metrics {
			rm[k] = jnum(v)
		}
		out.Runs = append(out.Runs, run{Round: m.Round, Scenario: m.Scenario, Server: m.Server, Metrics: rm, Details: m.Details, Error: m.Error})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func shapes(s []shape) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.String()
	}
	return out
}
