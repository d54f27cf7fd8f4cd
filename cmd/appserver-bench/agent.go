package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// This file holds the scenarios that drive threads and turns:
//
//   - delta-latency: how long a server takes to pass a model text delta on
//     as an item/agentMessage/delta notification, measured against the
//     tool's own scripted provider (provider.go);
//   - idle-threads: RSS per loaded idle thread, after --threads
//     thread/start calls on one connection.

// rpcError is a JSON-RPC error answer.
type rpcError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("error %d: %s", e.Code, e.Message) }

// agentMsg is one message from the server, decoded enough to dispatch.
type agentMsg struct {
	At     int64           // receive time, ns since the connection's base
	ID     json.RawMessage // answers and server requests
	Method string          // notifications and server requests
	Params json.RawMessage
	Result json.RawMessage
	Error  *rpcError
}

// agentConn is an initialized connection for the agent scenarios. One
// goroutine reads: it stamps each message with its arrival time as soon as
// the frame is read, answers server requests (approvals and the like,
// which these scenarios do not expect) with an error, and hands the rest
// to the scenario's goroutine, which sends requests and waits for answers
// one at a time.
type agentConn struct {
	ws     *wsConn
	base   time.Time
	msgs   chan agentMsg
	done   chan struct{} // closed when the reader stops
	err    error         // why it stopped; read after done
	nextID int64

	serverRequests atomic.Int64
}

// dialAgent connects, initializes and sends "initialized", as real clients
// do.
func dialAgent(ctx context.Context, t *target, base time.Time) (*agentConn, error) {
	buf := make([]byte, 0, 8<<10)
	ws, _, err := newClient(t).connect(ctx, &buf)
	if err != nil {
		return nil, err
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"method":"initialized"}`)); err != nil {
		ws.CloseNow()
		return nil, err
	}
	a := &agentConn{ws: ws, base: base, msgs: make(chan agentMsg, 8192), done: make(chan struct{})}
	go a.reader()
	return a, nil
}

func (a *agentConn) reader() {
	defer close(a.done)
	ctx := context.Background()
	buf := make([]byte, 0, 64<<10)
	for {
		b, err := readMessage(ctx, a.ws.Conn, buf)
		at := int64(time.Since(a.base))
		buf = b[:0]
		if err != nil {
			a.err = err
			return
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
			Error  *rpcError       `json:"error"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m.Method != "" && len(m.ID) > 0 {
			a.serverRequests.Add(1)
			reply := `{"id":` + string(m.ID) + `,"error":{"code":-32601,"message":"appserver-bench answers no server requests"}}`
			_ = a.ws.Write(ctx, websocket.MessageText, []byte(reply))
			continue
		}
		a.msgs <- agentMsg{At: at, ID: m.ID, Method: m.Method, Params: m.Params, Result: m.Result, Error: m.Error}
	}
}

// close closes the connection and waits for the reader.
func (a *agentConn) close() {
	a.ws.CloseNow()
	for {
		select {
		case <-a.done:
			return
		case <-a.msgs: // unblock a reader waiting to hand over a message
		}
	}
}

// send sends a request and returns its id.
func (a *agentConn) send(ctx context.Context, method string, params any) (int64, error) {
	a.nextID++
	id := a.nextID
	p, err := json.Marshal(params)
	if err != nil {
		return 0, err
	}
	req := fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, p)
	return id, a.ws.Write(ctx, websocket.MessageText, []byte(req))
}

// next returns the next message.
func (a *agentConn) next(ctx context.Context) (agentMsg, error) {
	select {
	case m := <-a.msgs:
		return m, nil
	case <-ctx.Done():
		return agentMsg{}, ctx.Err()
	case <-a.done:
		select {
		case m := <-a.msgs:
			return m, nil
		default:
		}
		return agentMsg{}, fmt.Errorf("connection closed: %w", a.err)
	}
}

// isAnswer reports whether m answers request id.
func (m agentMsg) isAnswer(id int64) bool {
	return m.Method == "" && string(m.ID) == strconv.FormatInt(id, 10)
}

// call sends a request and waits for its answer; other messages go to
// other (if not nil) or are dropped.
func (a *agentConn) call(ctx context.Context, method string, params any, other func(agentMsg)) (json.RawMessage, error) {
	id, err := a.send(ctx, method, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	for {
		m, err := a.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		if m.isAnswer(id) {
			if m.Error != nil {
				return nil, fmt.Errorf("%s: %w", method, m.Error)
			}
			return m.Result, nil
		}
		if other != nil {
			other(m)
		}
	}
}

// drainFor reads and drops messages for d, so that nothing backs up in the
// server while the scenario waits.
func (a *agentConn) drainFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-a.msgs:
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-a.done:
			return fmt.Errorf("connection closed: %w", a.err)
		}
	}
}

// startThread calls thread/start and returns the new thread's id.
func (a *agentConn) startThread(ctx context.Context, params any) (string, error) {
	res, err := a.call(ctx, "thread/start", params, nil)
	if err != nil {
		return "", err
	}
	var r struct {
		Thread struct {
			ID string `json:"id"`
		} `json:"thread"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Thread.ID == "" {
		return "", fmt.Errorf("thread/start: no thread id in %.200s", res)
	}
	return r.Thread.ID, nil
}

// loadedThreads returns the ids thread/loaded/list returns, following its
// cursor; nil if the server does not answer it.
func (a *agentConn) loadedThreads(ctx context.Context) map[string]bool {
	ids := map[string]bool{}
	params := map[string]any{}
	for range 1000 {
		res, err := a.call(ctx, "thread/loaded/list", params, nil)
		if err != nil {
			return nil
		}
		var r struct {
			Data       []string `json:"data"`
			NextCursor *string  `json:"nextCursor"`
		}
		if json.Unmarshal(res, &r) != nil {
			return nil
		}
		for _, id := range r.Data {
			ids[id] = true
		}
		if r.NextCursor == nil || *r.NextCursor == "" {
			break
		}
		params = map[string]any{"cursor": *r.NextCursor}
	}
	return ids
}

// turnTags numbers the turns of every delta-latency run, so that the
// provider can tell them apart whichever server sent them.
var turnTags atomic.Int64

// received is one delta marker seen in a notification.
type received struct {
	Stream, Index int64
	At            int64
}

// turnResult is what one turn of delta-latency saw.
type turnResult struct {
	Tag    int64
	SentAt int64 // turn/start sent
	DoneAt int64 // turn/completed received
	Deltas []received
}

// runTurn starts a turn on thread and waits for its turn/completed,
// collecting the delta markers of the thread's agent messages.
func (a *agentConn) runTurn(ctx context.Context, thread string, timeout time.Duration) (turnResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := turnResult{Tag: turnTags.Add(1)}
	params := map[string]any{
		"threadId": thread,
		"input": []any{map[string]any{"type": "text", "text_elements": []any{},
			"text": "Please stream your answer (" + turnTagPrefix + strconv.FormatInt(tr.Tag, 10) + ")"}},
	}
	tr.SentAt = int64(time.Since(a.base))
	id, err := a.send(ctx, "turn/start", params)
	if err != nil {
		return tr, fmt.Errorf("turn/start: %w", err)
	}
	var lastError string // the server's "error" notifications, e.g. while it retries the provider
	for {
		m, err := a.next(ctx)
		if err != nil {
			if lastError != "" {
				err = fmt.Errorf("%w (last error notification: %s)", err, lastError)
			}
			return tr, fmt.Errorf("turn %d: %w", tr.Tag, err)
		}
		switch {
		case m.isAnswer(id):
			if m.Error != nil {
				return tr, fmt.Errorf("turn/start: %w", m.Error)
			}
		case m.Method == "item/agentMessage/delta":
			var p struct {
				ThreadID string `json:"threadId"`
				Delta    string `json:"delta"`
			}
			if json.Unmarshal(m.Params, &p) != nil || p.ThreadID != thread {
				continue
			}
			parseMarkers(p.Delta, func(s, i int64) {
				tr.Deltas = append(tr.Deltas, received{Stream: s, Index: i, At: m.At})
			})
		case m.Method == "error":
			lastError = string(m.Params)
		case m.Method == "turn/completed":
			var p struct {
				ThreadID string `json:"threadId"`
				Turn     struct {
					Status string          `json:"status"`
					Error  json.RawMessage `json:"error"`
				} `json:"turn"`
			}
			if json.Unmarshal(m.Params, &p) != nil || p.ThreadID != thread {
				continue
			}
			tr.DoneAt = m.At
			if p.Turn.Status != "completed" {
				return tr, fmt.Errorf("turn %d ended %q: %s", tr.Tag, p.Turn.Status, p.Turn.Error)
			}
			return tr, nil
		}
	}
}

// deltaLatency: one connection, one thread, a warm-up turn, then
// --delta-turns turns each streaming --deltas deltas --delta-gap apart.
// Each marker seen in an item/agentMessage/delta notification gives one
// latency: its arrival here less the provider's flush of that delta.
func (r *runner) deltaLatency(ctx context.Context, t *target, m *measurement) error {
	p := r.prov
	if p == nil || (!t.Started && !r.cfg.ProviderFixed) {
		r.log("delta-latency: skipped, %s was not started by the tool and --provider-addr was not given, so it does not know the provider", t.Name)
		m.Details["skipped"] = "provider unknown to the server"
		return nil
	}
	a, err := dialAgent(ctx, t, p.base)
	if err != nil {
		return err
	}
	defer a.close()
	thread, err := a.startThread(ctx, map[string]any{"cwd": r.cfg.WorkDir})
	if err != nil {
		return err
	}
	timeout := 60*time.Second + 4*time.Duration(r.cfg.Deltas)*r.cfg.DeltaGap
	if _, err := a.runTurn(ctx, thread, timeout); err != nil { // warm-up: the first turn may pay one-time setup
		return fmt.Errorf("warm-up %w", err)
	}
	turns := make([]turnResult, 0, r.cfg.DeltaTurns)
	c0 := snapCPU(t)
	for range r.cfg.DeltaTurns {
		tr, err := a.runTurn(ctx, thread, timeout)
		if err != nil {
			return err
		}
		turns = append(turns, tr)
	}
	cu := cores(c0, snapCPU(t))

	var lat, first, startLag, endLag []time.Duration
	missing, foreign := 0, 0
	for _, tr := range turns {
		streams := p.turnStreams(tr.Tag)
		if len(streams) == 0 {
			return fmt.Errorf("turn %d: the provider got no request for it", tr.Tag)
		}
		startLag = append(startLag, time.Duration(streams[0].Arrived-tr.SentAt))
		if last := streams[len(streams)-1]; last.Completed > 0 {
			endLag = append(endLag, time.Duration(tr.DoneAt-last.Completed))
		}
		seen := map[[2]int64]bool{}
		for _, d := range tr.Deltas {
			st, ok := p.stream(d.Stream)
			if !ok || st.Tag != tr.Tag {
				foreign++
				continue
			}
			f, ok := p.flushTime(d.Stream, d.Index)
			if !ok {
				foreign++
				continue
			}
			seen[[2]int64{d.Stream, d.Index}] = true
			lat = append(lat, time.Duration(d.At-f))
			if d.Index == 0 && d.Stream == streams[len(streams)-1].ID {
				first = append(first, time.Duration(d.At-f))
			}
		}
		// Deltas of the turn's last stream that never arrived (a server
		// that retried the provider streamed again; the earlier tries do
		// not count).
		last := streams[len(streams)-1]
		for i := range int64(r.cfg.Deltas) {
			if !seen[[2]int64{last.ID, i}] {
				missing++
			}
		}
	}
	if len(lat) == 0 {
		return errors.New("no delta notification carried a marker")
	}
	sortDurations(lat)
	sortDurations(first)
	sortDurations(startLag)
	sortDurations(endLag)
	m.Metrics["delta.p50_ms"] = ms(percentile(lat, 50))
	m.Metrics["delta.p99_ms"] = ms(percentile(lat, 99))
	m.Metrics["delta.max_ms"] = ms(lat[len(lat)-1])
	m.Metrics["delta.first_ms"] = medianMS(first)
	m.Metrics["delta.missing"] = float64(missing)
	m.Metrics["delta.turn_start_ms"] = medianMS(startLag)
	m.Metrics["delta.turn_end_ms"] = medianMS(endLag)
	cu.record(m, "delta")
	m.Details["deltas"] = len(lat)
	m.Details["p90_ms"] = ms(percentile(lat, 90))
	m.Details["p95_ms"] = ms(percentile(lat, 95))
	var over1ms int
	for _, d := range lat {
		if d > time.Millisecond {
			over1ms++
		}
	}
	m.Details["over_1ms"] = over1ms
	m.Details["turns"] = len(turns)
	if foreign > 0 {
		m.Details["foreign_markers"] = foreign
	}
	if n := a.serverRequests.Load(); n > 0 {
		m.Details["server_requests"] = n
	}
	if o := p.otherRequests(); len(o) > 0 {
		m.Details["provider_other_requests"] = o
	}
	r.log("delta-latency: p50 %.3f ms, p99 %.3f ms, max %.2f ms over %d deltas in %d turns (missing %d); first delta of a turn %.2f ms; turn/start to provider request %.1f ms, response.completed to turn/completed %.1f ms (%v)",
		m.Metrics["delta.p50_ms"], m.Metrics["delta.p99_ms"], m.Metrics["delta.max_ms"], len(lat), len(turns), missing, m.Metrics["delta.first_ms"],
		m.Metrics["delta.turn_start_ms"], m.Metrics["delta.turn_end_ms"], cu)
	return nil
}

// idleThreads: on one initialized connection, RSS before and after
// --threads thread/start {} calls (one at a time), each reading after
// --settle. The threads stay loaded afterwards (the reference keeps an idle
// thread without subscribers loaded for a while), so later rounds start
// from a higher RSS; the difference is what counts.
func (r *runner) idleThreads(ctx context.Context, t *target, m *measurement) error {
	if t.RSSPID <= 0 {
		r.log("idle-threads: skipped, no pid known for %s (use --pid)", t.Name)
		m.Details["skipped"] = "no pid"
		return nil
	}
	a, err := dialAgent(ctx, t, time.Now())
	if err != nil {
		return err
	}
	defer a.close()
	files0 := listFiles(t.Home)
	if err := a.drainFor(ctx, r.cfg.Settle); err != nil {
		return err
	}
	rss0, err := rssKiB(t.RSSPID)
	if err != nil {
		return err
	}
	n := r.cfg.Threads
	lat := make([]time.Duration, 0, n)
	ids := make([]string, 0, n)
	c0 := snapCPU(t)
	began := time.Now()
	for i := range n {
		t0 := time.Now()
		id, err := a.startThread(ctx, struct{}{})
		if err != nil {
			return fmt.Errorf("thread %d: %w", i+1, err)
		}
		lat = append(lat, time.Since(t0))
		ids = append(ids, id)
	}
	elapsed := time.Since(began)
	c1 := snapCPU(t)
	cu := cores(c0, c1)
	if err := a.drainFor(ctx, r.cfg.Settle); err != nil {
		return err
	}
	rssN, err := rssKiB(t.RSSPID)
	if err != nil {
		return err
	}
	loaded := a.loadedThreads(ctx)
	filesN := listFiles(t.Home)

	sortDurations(lat)
	m.Metrics["threads.rss0_mib"] = rss0 / 1024
	m.Metrics["threads.rssN_mib"] = rssN / 1024
	m.Metrics["threads.kib_per_thread"] = (rssN - rss0) / float64(n)
	m.Metrics["threads.start_p50_ms"] = ms(percentile(lat, 50))
	m.Metrics["threads.start_p99_ms"] = ms(percentile(lat, 99))
	m.Metrics["threads.per_s"] = float64(n) / elapsed.Seconds()
	m.Metrics["threads.server_cpu_ms"] = math.NaN()
	if c0.serverOK && c1.serverOK {
		m.Metrics["threads.server_cpu_ms"] = 1000 * (c1.server - c0.server) / float64(n)
	}
	m.Metrics["threads.loaded"] = math.NaN()
	if loaded != nil {
		k := 0
		for _, id := range ids {
			if loaded[id] {
				k++
			}
		}
		m.Metrics["threads.loaded"] = float64(k)
	}
	m.Metrics["threads.files_per_thread"] = math.NaN()
	if filesN != nil {
		byDir, k := newFiles(files0, filesN)
		m.Metrics["threads.files_per_thread"] = float64(k) / float64(n)
		if k > 0 {
			m.Details["new_files"] = byDir
			r.log("idle-threads: %d new files under the server's home, by directory: %v", k, byDir)
		}
	}
	// No cu.record: a noisy machine does not make this run repeat, since
	// every repeat would leave --threads more threads loaded.
	r.log("idle-threads: %.1f MiB before, %.1f MiB with %d more idle threads: %.1f KiB each; thread/start p50 %.2f ms, p99 %.2f ms, server CPU %.2f ms each; %v of them loaded afterwards; %.2f files written per thread (%v)",
		rss0/1024, rssN/1024, n, (rssN-rss0)/float64(n), ms(percentile(lat, 50)), ms(percentile(lat, 99)),
		m.Metrics["threads.server_cpu_ms"], m.Metrics["threads.loaded"], m.Metrics["threads.files_per_thread"], cu)
	return nil
}

// listFiles returns the regular files under dir, relative to it; nil if
// dir is unknown.
func listFiles(dir string) map[string]bool {
	if dir == "" {
		return nil
	}
	files := map[string]bool{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			files[rel] = true
		}
		return nil
	})
	return files
}

// newFiles counts the files in after that are not in before, by their
// first path element ("." for files at the top), and in all.
func newFiles(before, after map[string]bool) (map[string]int, int) {
	byDir := map[string]int{}
	n := 0
	for f := range after {
		if !before[f] {
			n++
			dir, _, ok := strings.Cut(f, string(filepath.Separator))
			if !ok {
				dir = "."
			}
			byDir[dir]++
		}
	}
	return byDir, n
}

// medianMS returns the median of sorted in milliseconds; NaN if empty.
func medianMS(sorted []time.Duration) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	v := make([]float64, len(sorted))
	for i, d := range sorted {
		v[i] = ms(d)
	}
	return median(v)
}
