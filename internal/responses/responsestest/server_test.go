package responsestest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
	rt "github.com/appserver-go/appserver/internal/responses/responsestest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run streams one response and returns its text, the function calls done,
// and the error (nil at a clean end).
func run(ctx context.Context, c *responses.Client, input ...responses.Item) (string, []responses.OutputItem, error) {
	st, err := c.Stream(ctx, &responses.Request{Model: "mock-model", Input: input})
	if err != nil {
		return "", nil, err
	}
	defer st.Close()
	var text strings.Builder
	var calls []responses.OutputItem
	for {
		ev, err := st.Next()
		if err == io.EOF {
			return text.String(), calls, nil
		}
		if err != nil {
			return text.String(), calls, err
		}
		switch ev := ev.(type) {
		case responses.TextDelta:
			text.WriteString(ev.Delta)
		case responses.ItemDone:
			if ev.Item.Type == responses.TypeFunctionCall {
				calls = append(calls, ev.Item)
			}
		case responses.Failed:
			return text.String(), calls, ev
		}
	}
}

func TestScriptInOrder(t *testing.T) {
	srv := rt.New(t, rt.Text("one"), rt.Text("two"))
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") || !strings.HasSuffix(srv.URL(), "/v1") {
		t.Errorf("URL() = %s", srv.URL())
	}
	srv.Push(rt.Text("three"))
	for _, want := range []string{"one", "two", "three"} {
		got, _, err := run(t.Context(), srv.Client(), responses.UserText(want))
		if err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		if r.N != i+1 || r.LastUserText() != []string{"one", "two", "three"}[i] || r.Model != "mock-model" || !r.Stream || r.Store {
			t.Errorf("request %d: %+v", i, r)
		}
	}
}

// TestHandler is the dynamic script an end-to-end test with the real
// client uses: answer a prompt with a tool call, and a tool's output with a
// message echoing it.
func TestHandler(t *testing.T) {
	srv := rt.New(t)
	srv.SetHandler(func(req rt.ReceivedRequest) rt.Reply {
		last := req.LastInput()
		switch {
		case last.Type == responses.TypeFunctionCallOutput:
			return rt.Text("done: ", last.Output)
		case strings.HasPrefix(req.LastUserText(), "run:"):
			args, _ := json.Marshal(map[string]string{"cmd": strings.TrimPrefix(req.LastUserText(), "run:")})
			return rt.ToolCall(fmt.Sprintf("call_%d", req.N), "exec_command", string(args))
		}
		return rt.Text("Hello ", "from mock")
	})
	c := srv.Client()
	if text, _, err := run(t.Context(), c, responses.UserText("hello")); err != nil || text != "Hello from mock" {
		t.Fatalf("got %q, %v", text, err)
	}
	history := []responses.Item{responses.UserText("run:touch x")}
	_, calls, err := run(t.Context(), c, history...)
	if err != nil || len(calls) != 1 || calls[0].Arguments != `{"cmd":"touch x"}` || calls[0].CallID != "call_2" {
		t.Fatalf("calls %+v, %v", calls, err)
	}
	history = append(history, calls[0].Input(), responses.FunctionCallOutput(calls[0].CallID, "exit 0"))
	if text, _, err := run(t.Context(), c, history...); err != nil || text != "done: exit 0" {
		t.Fatalf("got %q, %v", text, err)
	}
}

func TestScriptBeforeHandler(t *testing.T) {
	srv := rt.New(t, rt.Text("scripted"))
	srv.SetHandler(func(rt.ReceivedRequest) rt.Reply { return rt.Text("handled") })
	for _, want := range []string{"scripted", "handled", "handled"} {
		if got, _, err := run(t.Context(), srv.Client()); err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
}

// recordTB records Errorf calls instead of failing.
type recordTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestUnscripted(t *testing.T) {
	tb := &recordTB{TB: t}
	srv := rt.New(tb)
	_, err := srv.Client().Stream(t.Context(), &responses.Request{Model: "m"})
	var se *responses.StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 || !strings.Contains(se.Message, "no scripted reply") {
		t.Errorf("err = %v", err)
	}
	if len(tb.errs) != 1 {
		t.Errorf("test errors: %q", tb.errs)
	}

	standalone := rt.NewServer()
	defer standalone.Close()
	if _, err := standalone.Client().Stream(t.Context(), &responses.Request{Model: "m"}); !errors.As(err, &se) || se.StatusCode != 500 {
		t.Errorf("standalone: err = %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	srv := rt.New(t, rt.Text("kept for the good request"))
	hc := srv.Client().HTTPClient
	for _, tt := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/responses", "", 404},
		{"POST", "/v1/chat/completions", "{}", 404},
		{"POST", "/v1/responses", "{not json", 400},
		{"POST", "/v1/responses", `{"model":"m","input":[{"type":"message","role":"user","content":7}]}`, 200},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tt.method, strings.TrimSuffix(srv.URL(), "/v1")+tt.path, strings.NewReader(tt.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s %s: status %d, want %d (%s)", tt.method, tt.path, tt.body, resp.StatusCode, tt.status, b)
		}
		if tt.status != 200 && !json.Valid(b) {
			t.Errorf("error body is not JSON: %s", b)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 4 || reqs[2].DecodeError == nil || reqs[1].Path != "/v1/chat/completions" || reqs[3].DecodeError != nil {
		t.Errorf("requests: %+v", reqs)
	}
	// Content that is neither a string nor text parts stays raw.
	if it := reqs[3].Input[0]; it.Type != "message" || it.RawJSON() == nil {
		t.Errorf("odd message decoded as %+v", it)
	}
}

func TestStringInput(t *testing.T) {
	srv := rt.New(t, rt.Text("ok"))
	resp, err := srv.Client().HTTPClient.Post(srv.URL()+"/responses", "application/json",
		strings.NewReader(`{"model":"m","input":"just text","tool_choice":{"type":"function","name":"f"},"tools":[{"type":"function","name":"f","parameters":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := srv.Requests()[0]
	if r.LastInput() != responses.UserText("just text") || r.ToolChoice != `{"type":"function","name":"f"}` || len(r.Tools) != 1 || r.Tools[0].Name != "f" {
		t.Errorf("request %+v", r)
	}
}

func TestConcurrentRequests(t *testing.T) {
	const n = 20
	var script []rt.Reply
	for i := range n {
		script = append(script, rt.Slow(time.Millisecond, rt.Text(fmt.Sprint(i))))
	}
	srv := rt.New(t, script...)
	var wg sync.WaitGroup
	seen := make(chan string, n)
	for range n {
		wg.Go(func() {
			text, _, err := run(t.Context(), srv.Client(), responses.UserText("hi"))
			if err != nil {
				t.Error(err)
			}
			seen <- text
			_ = srv.Requests()
		})
	}
	wg.Wait()
	close(seen)
	got := map[string]bool{}
	for s := range seen {
		got[s] = true
	}
	if len(got) != n || len(srv.Requests()) != n {
		t.Errorf("%d distinct replies, %d requests", len(got), len(srv.Requests()))
	}
}

func TestSlowAndDisconnect(t *testing.T) {
	srv := rt.New(t, rt.Slow(20*time.Millisecond, rt.Text("a", "b")), rt.Disconnect(6, rt.Text("a", "b", "c")))
	start := time.Now()
	if text, _, err := run(t.Context(), srv.Client()); err != nil || text != "ab" {
		t.Fatalf("got %q, %v", text, err)
	}
	if d := time.Since(start); d < 10*20*time.Millisecond {
		t.Errorf("slow reply took only %v", d)
	}
	text, _, err := run(t.Context(), srv.Client())
	if !errors.Is(err, responses.ErrStreamDisconnected) || text != "ab" {
		t.Errorf("got %q, %v; want \"ab\" then a disconnect", text, err)
	}
}

// TestCloseEndsHangingReplies: Close must not wait for a client that never
// gives up.
func TestCloseEndsHangingReplies(t *testing.T) {
	srv := rt.NewServer(rt.Hang(), rt.Slow(time.Hour, rt.Text("x")))
	c := srv.Client()
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, _, err := run(context.Background(), c); errs <- err }()
	}
	for len(srv.Requests()) < 2 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { srv.Close(); srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on hanging replies")
	}
	for range 2 {
		if err := <-errs; !responses.Retryable(err) {
			t.Errorf("client saw %v, want a retryable error", err)
		}
	}
}

func TestBuilders(t *testing.T) {
	for name, r := range map[string]rt.Reply{
		"text":       rt.Text("a", "b"),
		"tool call":  rt.ToolCall("c", "f", `{"x":"ü"}`),
		"reasoning":  rt.Reasoning("why"),
		"failed":     rt.Failed("server_error", "boom"),
		"incomplete": rt.Incomplete("max_output_tokens", rt.Text("a")),
		"concat":     rt.Concat(rt.Reasoning("r"), rt.Text("t"), rt.ToolCall("c", "f", "{}")),
	} {
		last := -1
		for i, e := range r.Events {
			var m map[string]any
			if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
				t.Fatalf("%s: event %d: %v", name, i, err)
			}
			if m["type"] != e.Type {
				t.Errorf("%s: event %d has type %v and event field %q", name, i, m["type"], e.Type)
			}
			if seq, _ := m["sequence_number"].(float64); int(seq) != last+1 {
				t.Errorf("%s: event %d has sequence_number %v", name, i, m["sequence_number"])
			}
			last++
		}
		if first := r.Events[0].Type; first != "response.created" {
			t.Errorf("%s starts with %s", name, first)
		}
	}
	c := rt.Concat(rt.Text("t"), rt.ToolCall("c", "f", "{}"))
	var idx []any
	for _, e := range c.Events {
		var m map[string]any
		json.Unmarshal([]byte(e.Data), &m)
		if e.Type == "response.output_item.added" {
			idx = append(idx, m["output_index"])
		}
	}
	if fmt.Sprint(idx) != "[0 1]" {
		t.Errorf("concat output indexes %v", idx)
	}
}

// TestMultiLineData: data with newlines goes out as several data lines and
// arrives joined.
func TestMultiLineData(t *testing.T) {
	srv := rt.New(t, rt.Events(
		rt.Event{Type: "response.output_text.delta", Data: "{\"type\":\"response.output_text.delta\",\n\"item_id\":\"m\",\n\"delta\":\"x\"}"},
		rt.JSONEvent("response.completed", map[string]any{"response": map[string]any{"id": "r"}}),
	))
	if text, _, err := run(t.Context(), srv.Client()); err != nil || text != "x" {
		t.Errorf("got %q, %v", text, err)
	}
}
