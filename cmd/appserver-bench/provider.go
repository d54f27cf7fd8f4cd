package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// provider is the scripted model provider the agent scenarios point the
// servers at: an HTTP server on loopback that answers POST /v1/responses as
// the OpenAI Responses API does, with server-sent events. Every answer is
// one assistant message streamed as Deltas response.output_text.delta
// events Gap apart; each delta's text is a marker naming its stream and its
// index (see deltaMarker), and the provider records when it flushed each
// one, so that a client seeing the marker in an item/agentMessage/delta
// notification knows how long the server took to pass it on.
//
// Times are nanoseconds since base, the same clock the scenarios read. Its
// methods are safe for concurrent use.
type provider struct {
	base   time.Time
	deltas int
	gap    time.Duration
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}

	mu      sync.Mutex
	streams []*providerStream // stream s is streams[s-1]
	byTag   map[int64][]int64 // turn tag -> stream ids, in order of arrival
	other   map[string]int    // requests to anything but POST /v1/responses, by "METHOD PATH"
}

// providerStream is one answered request.
type providerStream struct {
	ID        int64
	Tag       int64   // the largest turn tag in the request body; 0 if none
	Arrived   int64   // when the request's body had been read
	Flushed   []int64 // flush time of delta i
	Completed int64   // flush time of response.completed; 0 until sent
}

// turnTagPrefix starts the tag the scenarios put in each turn's user text,
// "appserver-bench turn N", so that the provider can tell which turn a
// request belongs to (the request also carries the thread's earlier turns,
// whose tags are smaller).
const turnTagPrefix = "appserver-bench turn "

var turnTagRE = regexp.MustCompile(`appserver-bench turn (\d+)`)

// startProvider listens on addr (HOST:PORT, port 0 for any) and serves.
func startProvider(addr string, deltas int, gap time.Duration, base time.Time) (*provider, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("model provider: %w", err)
	}
	p := &provider{base: base, deltas: deltas, gap: gap, ln: ln, done: make(chan struct{}),
		byTag: map[int64][]int64{}, other: map[string]int{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// URL returns the base_url servers are configured with.
func (p *provider) URL() string { return "http://" + p.ln.Addr().String() + "/v1" }

// Close stops the provider and cuts streams in progress.
func (p *provider) Close() {
	select {
	case <-p.done:
		return
	default:
		close(p.done)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if p.srv.Shutdown(ctx) != nil {
		p.srv.Close()
	}
}

func (p *provider) now() int64 { return int64(time.Since(p.base)) }

// configTOML is the config.toml that makes a server use the provider:
// offline, no login, no approvals (a read-only sandbox, never asked).
func (p *provider) configTOML() string {
	return fmt.Sprintf(`model = "mock-model"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "read-only"

[model_providers.mock]
name = "Mock"
base_url = %q
wire_api = "responses"
requires_openai_auth = false
`, p.URL())
}

// writeConfig writes home/config.toml.
func (p *provider) writeConfig(home string) error {
	return os.WriteFile(filepath.Join(home, "config.toml"), []byte(p.configTOML()), 0o600)
}

// stream returns a copy of stream s's record, or false.
func (p *provider) stream(s int64) (providerStream, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s < 1 || s > int64(len(p.streams)) {
		return providerStream{}, false
	}
	st := *p.streams[s-1]
	st.Flushed = append([]int64(nil), st.Flushed...)
	return st, true
}

// flushTime returns when delta i of stream s was flushed.
func (p *provider) flushTime(s, i int64) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s < 1 || s > int64(len(p.streams)) {
		return 0, false
	}
	f := p.streams[s-1].Flushed
	if i < 0 || i >= int64(len(f)) {
		return 0, false
	}
	return f[i], true
}

// turnStreams returns the streams answered for turn tag, in order.
func (p *provider) turnStreams(tag int64) []providerStream {
	p.mu.Lock()
	ids := append([]int64(nil), p.byTag[tag]...)
	p.mu.Unlock()
	out := make([]providerStream, 0, len(ids))
	for _, s := range ids {
		if st, ok := p.stream(s); ok {
			out = append(out, st)
		}
	}
	return out
}

// otherRequests returns the requests the provider did not serve, by
// "METHOD PATH".
func (p *provider) otherRequests() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.other))
	for k, v := range p.other {
		out[k] = v
	}
	return out
}

// deltaMarker is the text of delta i of stream s: "~s<s>d<i> ".
func deltaMarker(s, i int64) string {
	return "~s" + strconv.FormatInt(s, 10) + "d" + strconv.FormatInt(i, 10) + " "
}

// parseMarkers calls f for every marker in text, in order: one per delta,
// or several if a server merged deltas.
func parseMarkers(text string, f func(s, i int64)) {
	for {
		k := strings.Index(text, "~s")
		if k < 0 {
			return
		}
		text = text[k+2:]
		s, n := leadingInt(text)
		if n == 0 || n >= len(text) || text[n] != 'd' {
			continue
		}
		i, m := leadingInt(text[n+1:])
		if m == 0 {
			continue
		}
		f(s, i)
		text = text[n+1+m:]
	}
}

// leadingInt parses the decimal digits at the start of s (at most 18).
func leadingInt(s string) (v int64, n int) {
	for n < len(s) && n < 18 && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + int64(s[n]-'0')
		n++
	}
	return v, n
}

func (p *provider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/responses" {
		p.mu.Lock()
		p.other[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return
	}
	var tag int64
	for _, m := range turnTagRE.FindAllSubmatch(body, -1) {
		if v, err := strconv.ParseInt(string(m[1]), 10, 64); err == nil && v > tag {
			tag = v
		}
	}
	st := &providerStream{Tag: tag, Arrived: p.now(), Flushed: make([]int64, 0, p.deltas)}
	p.mu.Lock()
	p.streams = append(p.streams, st)
	sid := int64(len(p.streams))
	st.ID = sid
	p.byTag[tag] = append(p.byTag[tag], sid)
	p.mu.Unlock()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx := r.Context()
	send := func(typ string, fields map[string]any) (int64, bool) {
		fields["type"] = typ
		b, _ := json.Marshal(fields)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b); err != nil {
			return 0, false
		}
		t := p.now() // before the write reaches the socket: latencies are never negative
		return t, rc.Flush() == nil
	}
	respID := "resp_" + strconv.FormatInt(sid, 10)
	msgID := "msg_" + strconv.FormatInt(sid, 10)
	resp := func(status string, output []any) map[string]any {
		return map[string]any{"id": respID, "object": "response", "status": status, "model": "mock-model", "output": output}
	}
	at := func(k string, v any) map[string]any {
		return map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, k: v}
	}
	if _, ok := send("response.created", map[string]any{"response": resp("in_progress", []any{})}); !ok {
		return
	}
	if _, ok := send("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{
		"type": "message", "id": msgID, "status": "in_progress", "role": "assistant", "content": []any{}}}); !ok {
		return
	}
	var full bytes.Buffer
	start := time.Now()
	for i := range int64(p.deltas) {
		// On a fixed schedule, so that a late delta does not delay the rest.
		if d := time.Until(start.Add(time.Duration(i+1) * p.gap)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			case <-p.done:
				t.Stop()
				return
			}
		}
		text := deltaMarker(sid, i)
		full.WriteString(text)
		t, ok := send("response.output_text.delta", at("delta", text))
		p.mu.Lock()
		st.Flushed = append(st.Flushed, t)
		p.mu.Unlock()
		if !ok {
			return
		}
	}
	item := map[string]any{"type": "message", "id": msgID, "status": "completed", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": full.String(), "annotations": []any{}}}}
	if _, ok := send("response.output_item.done", map[string]any{"output_index": 0, "item": item}); !ok {
		return
	}
	done := resp("completed", []any{item})
	done["usage"] = map[string]any{
		"input_tokens": 10, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": p.deltas, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
		"total_tokens": 10 + p.deltas,
	}
	t, _ := send("response.completed", map[string]any{"response": done})
	p.mu.Lock()
	st.Completed = t
	p.mu.Unlock()
}
