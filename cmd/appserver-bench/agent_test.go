package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAgent gives the fake server threads and turns: thread/start,
// thread/loaded/list (50 ids a page) and turn/start, whose model answer it
// fetches from the provider named in the config.toml the tool wrote and
// relays delta by delta. Its methods are safe for concurrent use.
type fakeAgent struct {
	provider string // base_url; "" for the in-process fake, which has no home

	mu      sync.Mutex
	threads []string
	turns   int
}

var baseURLRE = regexp.MustCompile(`(?m)^base_url\s*=\s*"([^"]+)"`)

// newFakeAgent reads the provider's base_url from home/config.toml.
func newFakeAgent(home string) (*fakeAgent, error) {
	if home == "" {
		return &fakeAgent{}, nil
	}
	b, err := os.ReadFile(filepath.Join(home, "config.toml"))
	if err != nil {
		return nil, err
	}
	m := baseURLRE.FindSubmatch(b)
	if m == nil || !strings.Contains(string(b), `model_provider = "mock"`) {
		return nil, fmt.Errorf("config.toml has no mock provider:\n%s", b)
	}
	return &fakeAgent{provider: string(m[1])}, nil
}

// handle answers method if it is one of the agent's; send writes a message.
func (f *fakeAgent) handle(ctx context.Context, id int64, method string, params json.RawMessage, send func(string) bool) (handled bool) {
	switch method {
	case "thread/start":
		f.mu.Lock()
		tid := fmt.Sprintf("thr-%d", len(f.threads)+1)
		f.threads = append(f.threads, tid)
		f.mu.Unlock()
		send(fmt.Sprintf(`{"id":%d,"result":{"thread":{"id":%q,"turns":[]},"model":"mock-model"}}`, id, tid))
		send(fmt.Sprintf(`{"method":"thread/started","params":{"thread":{"id":%q}},"emittedAtMs":1}`, tid))
	case "thread/loaded/list":
		var p struct {
			Cursor string `json:"cursor"`
		}
		_ = json.Unmarshal(params, &p)
		from, _ := strconv.Atoi(p.Cursor)
		f.mu.Lock()
		page := f.threads[min(from, len(f.threads)):min(from+50, len(f.threads))]
		next := "null"
		if from+50 < len(f.threads) {
			next = strconv.Quote(strconv.Itoa(from + 50))
		}
		data, _ := json.Marshal(page)
		f.mu.Unlock()
		send(fmt.Sprintf(`{"id":%d,"result":{"data":%s,"nextCursor":%s}}`, id, data, next))
	case "turn/start":
		var p struct {
			ThreadID string `json:"threadId"`
			Input    []struct {
				Text string `json:"text"`
			} `json:"input"`
		}
		if json.Unmarshal(params, &p) != nil || len(p.Input) == 0 || f.provider == "" {
			send(fmt.Sprintf(`{"id":%d,"error":{"code":-32600,"message":"fake: bad turn/start or no provider"}}`, id))
			return true
		}
		f.mu.Lock()
		f.turns++
		turn := fmt.Sprintf("turn-%d", f.turns)
		f.mu.Unlock()
		send(fmt.Sprintf(`{"id":%d,"result":{"turn":{"id":%q,"status":"inProgress","items":[],"error":null}}}`, id, turn))
		go f.stream(ctx, p.ThreadID, turn, p.Input[0].Text, send)
	default:
		return false
	}
	return true
}

// stream posts the turn to the provider and relays its text deltas, then
// completes the turn.
func (f *fakeAgent) stream(ctx context.Context, thread, turn, text string, send func(string) bool) {
	end := func(status, errMsg string) {
		e := "null"
		if errMsg != "" {
			e = fmt.Sprintf(`{"message":%q}`, errMsg)
		}
		send(fmt.Sprintf(`{"method":"turn/completed","params":{"threadId":%q,"turn":{"id":%q,"status":%q,"error":%s}},"emittedAtMs":3}`, thread, turn, status, e))
	}
	body, _ := json.Marshal(map[string]any{"model": "mock-model", "stream": true,
		"input": []any{map[string]any{"type": "message", "role": "user", "content": []any{map[string]any{"type": "input_text", "text": text}}}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.provider+"/responses", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		end("failed", err.Error())
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		end("failed", fmt.Sprintf("provider: HTTP %d: %s", resp.StatusCode, b))
		return
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type   string `json:"type"`
			Delta  string `json:"delta"`
			ItemID string `json:"item_id"`
		}
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		switch ev.Type {
		case "response.output_text.delta":
			d, _ := json.Marshal(ev.Delta)
			if !send(fmt.Sprintf(`{"method":"item/agentMessage/delta","params":{"delta":%s,"itemId":%q,"threadId":%q,"turnId":%q},"emittedAtMs":2}`, d, ev.ItemID, thread, turn)) {
				return
			}
		case "response.completed":
			end("completed", "")
			return
		}
	}
	end("failed", "provider stream ended without response.completed")
}

func TestMarkers(t *testing.T) {
	for _, tt := range []struct {
		text string
		want string
	}{
		{deltaMarker(3, 17), "3.17"},
		{deltaMarker(1, 0) + deltaMarker(1, 1), "1.0 1.1"}, // merged deltas
		{"no marker", ""},
		{"~s ~sx ~s12 ~s12d ~s9d8", "9.8"}, // broken markers are skipped
		{"prefix~s5d6suffix", "5.6"},
	} {
		var got []string
		parseMarkers(tt.text, func(s, i int64) { got = append(got, fmt.Sprintf("%d.%d", s, i)) })
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("parseMarkers(%q) = %q, want %q", tt.text, g, tt.want)
		}
	}
}

// The provider streams what the Responses API would, records a flush time
// per delta, and files the stream under the turn tag of the request.
func TestProviderStream(t *testing.T) {
	p, err := startProvider("127.0.0.1:0", 5, time.Millisecond, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	home := t.TempDir()
	if err := p.writeConfig(home); err != nil {
		t.Fatal(err)
	}
	f, err := newFakeAgent(home)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"input":[{"role":"user","content":"x (` + turnTagPrefix + `3)"},{"role":"user","content":"y (` + turnTagPrefix + `41)"}]}`
	resp, err := http.Post(f.provider+"/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var types []string
	var text strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			var ev struct{ Type, Delta string }
			if err := json.Unmarshal([]byte(d), &ev); err != nil {
				t.Fatalf("bad event %q: %v", d, err)
			}
			types = append(types, ev.Type)
			text.WriteString(ev.Delta)
		}
	}
	want := "response.created response.output_item.added" + strings.Repeat(" response.output_text.delta", 5) +
		" response.output_item.done response.completed"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}
	n := 0
	parseMarkers(text.String(), func(s, i int64) {
		if s != 1 || i != int64(n) {
			t.Errorf("marker %d is %d.%d", n, s, i)
		}
		n++
	})
	if n != 5 {
		t.Errorf("%d markers, want 5", n)
	}
	streams := p.turnStreams(41)
	if len(streams) != 1 || len(streams[0].Flushed) != 5 || streams[0].Completed < streams[0].Flushed[4] {
		t.Fatalf("turn 41: %+v", streams)
	}
	// Paced on a fixed schedule from the request: the 5th delta never
	// leaves before 5 gaps have passed (late ones may bunch up on a
	// loaded machine, so only this bound is certain).
	if st := streams[0]; st.Flushed[4]-st.Arrived < int64(5*time.Millisecond) {
		t.Errorf("deltas not paced: arrived %d, flushed %v", st.Arrived, st.Flushed)
	}
	if _, ok := p.flushTime(1, 5); ok {
		t.Error("flush time for a delta that was never sent")
	}
	resp, err = http.Get(f.provider + "/models")
	if err == nil {
		resp.Body.Close()
	}
	if o := p.otherRequests(); o["GET /v1/models"] != 1 || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("other requests: %v", o)
	}
}

// The agent scenarios against our own server, built from this checkout:
// its turns work with the tool's provider and config.toml, every delta
// arrives, and its threads are loaded.
func TestAgentScenariosAppserver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs cmd/appserver")
	}
	bin := filepath.Join(t.TempDir(), "appserver")
	build := exec.Command("go", "build", "-o", bin, "github.com/appserver-go/appserver/cmd/appserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	args := []string{"appserver-bench",
		"--server", "appserver=" + bin + " --listen ws://127.0.0.1:0 --ws-auth capability-token --ws-token-file {token_file} --log-level warn",
		"--scenarios", "delta-latency,idle-threads", "--rounds", "2", "--settle", "200ms",
		"--deltas", "50", "--delta-gap", "1ms", "--delta-turns", "3", "--threads", "100",
		"--quiet-wait", "0", "--redo", "0", "--json", jsonPath}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr.String())
	if strings.Contains(out, "Errors:") {
		t.Error("errors reported")
	}
	for _, label := range []string{
		"model text delta to item/agentMessage/delta p50 (ms)", "model text delta to item/agentMessage/delta p99 (ms)",
		"first delta of a turn to its notification, median (ms)",
		"turn/start sent to provider request, median (ms)", "response.completed to turn/completed, median (ms)",
		"RSS per idle thread (KiB)", "thread/start latency p50, one at a time (ms)", "server CPU per thread/start (ms)",
	} {
		if !regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(label) + ` \| -?[0-9][0-9,.]* \|$`).MatchString(out) {
			t.Errorf("row %q missing or not a number", label)
		}
	}
	if strings.Contains(out, "deltas never notified") {
		t.Error("some deltas were never notified")
	}
	var rep struct {
		Runs []struct {
			Scenario string             `json:"scenario"`
			Metrics  map[string]float64 `json:"metrics"`
			Details  map[string]any     `json:"details"`
		} `json:"runs"`
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 4 {
		t.Fatalf("%d runs, want 4", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		switch r.Scenario {
		case "delta-latency":
			if r.Details["deltas"] != float64(3*50) || r.Metrics["delta.missing"] != 0 {
				t.Errorf("delta-latency: %v %v", r.Details, r.Metrics)
			}
			if p50, p99 := r.Metrics["delta.p50_ms"], r.Metrics["delta.p99_ms"]; !(p50 > 0 && p50 <= p99) {
				t.Errorf("delta-latency: p50 %v, p99 %v", p50, p99)
			}
		case "idle-threads":
			if r.Metrics["threads.loaded"] != 100 {
				t.Errorf("idle-threads: %v more threads loaded, want 100", r.Metrics["threads.loaded"])
			}
		}
	}
}
