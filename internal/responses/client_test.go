package responses_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
	rt "github.com/appserver-go/appserver/internal/responses/responsestest"
)

// collect reads a stream to its end and returns its events and final error
// (nil for a clean io.EOF).
func collect(t *testing.T, c *responses.Client, req *responses.Request) ([]responses.Event, error) {
	t.Helper()
	st, err := c.Stream(t.Context(), req)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var evs []responses.Event
	for {
		ev, err := st.Next()
		if err == io.EOF {
			if _, again := st.Next(); again != io.EOF {
				t.Errorf("Next after EOF = %v", again)
			}
			return evs, nil
		}
		if err != nil {
			if _, again := st.Next(); again != err {
				t.Errorf("Next after %v = %v, want the same error", err, again)
			}
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func simple() *responses.Request {
	return &responses.Request{Model: "mock-model", Input: []responses.Item{responses.UserText("hello")}}
}

// kinds returns the events' type names, e.g. "TextDelta".
func kinds(evs []responses.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, strings.TrimPrefix(fmt.Sprintf("%T", e), "responses."))
	}
	return strings.Join(s, " ")
}

func TestStreamText(t *testing.T) {
	srv := rt.New(t, rt.Text("Hello ", "from ", "mock"))
	c := srv.Client()
	c.APIKey = "sk-test"
	evs, err := collect(t, c, simple())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(evs), "Created ItemAdded TextDelta TextDelta TextDelta ItemDone Completed"; got != want {
		t.Fatalf("events: %s\nwant    %s", got, want)
	}
	added := evs[1].(responses.ItemAdded).Item
	if added.Type != responses.TypeMessage || added.Role != "assistant" || added.ID == "" || added.Text != "" {
		t.Errorf("added: %+v", added)
	}
	var text string
	for _, e := range evs[2:5] {
		d := e.(responses.TextDelta)
		if d.ItemID != added.ID {
			t.Errorf("delta for %q, want %q", d.ItemID, added.ID)
		}
		text += d.Delta
	}
	done := evs[5].(responses.ItemDone).Item
	if text != "Hello from mock" || done.Text != text || done.ID != added.ID || done.Status != "completed" {
		t.Errorf("text %q, done %+v", text, done)
	}
	if done.Input() != responses.AssistantText("Hello from mock") {
		t.Errorf("Input() = %+v", done.Input())
	}
	comp := evs[6].(responses.Completed)
	want := responses.Usage{InputTokens: 10, CachedInputTokens: 4, OutputTokens: 3, TotalTokens: 13}
	if comp.Usage != want || !strings.HasPrefix(comp.ResponseID, "resp_") || comp.ResponseID != evs[0].(responses.Created).ResponseID {
		t.Errorf("completed: %+v", comp)
	}

	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/responses" || r.Model != "mock-model" || !r.Stream || r.Store ||
		r.ToolChoice != "auto" || r.LastUserText() != "hello" {
		t.Errorf("request: %+v", r)
	}
	for k, v := range map[string]string{"Authorization": "Bearer sk-test", "Accept": "text/event-stream", "Content-Type": "application/json"} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestStreamToolCall(t *testing.T) {
	const args = `{"cmd":"touch /tmp/approved.txt","sandbox_permissions":"require_escalated"}`
	srv := rt.New(t, rt.ToolCall("call_1", "exec_command", args))
	evs, err := collect(t, srv.Client(), simple())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(evs), "Created ItemAdded ArgumentsDelta ArgumentsDelta ArgumentsDelta ItemDone Completed"; got != want {
		t.Fatalf("events: %s\nwant    %s", got, want)
	}
	var acc string
	for _, e := range evs[2:5] {
		acc += e.(responses.ArgumentsDelta).Delta
	}
	done := evs[5].(responses.ItemDone).Item
	if acc != args || done.Arguments != args || done.CallID != "call_1" || done.Name != "exec_command" || done.Type != responses.TypeFunctionCall {
		t.Errorf("accumulated %q, done %+v", acc, done)
	}
	if done.Input() != responses.FunctionCall("call_1", "exec_command", args) {
		t.Errorf("Input() = %+v", done.Input())
	}
}

// TestStreamFillsFromDeltas: a provider (or a hand-written mock) whose done
// items omit the text or arguments still yields complete items.
func TestStreamFillsFromDeltas(t *testing.T) {
	ev := rt.JSONEvent
	srv := rt.New(t, rt.Events(
		ev("response.output_item.added", map[string]any{"item": map[string]any{"type": "message", "id": "m1", "role": "assistant"}}),
		ev("response.output_text.delta", map[string]any{"item_id": "m1", "delta": "Hel"}),
		ev("response.output_text.delta", map[string]any{"delta": "lo"}), // no item_id: the last item added
		ev("response.output_item.done", map[string]any{"item": map[string]any{"type": "message", "id": "m1", "role": "assistant"}}),
		ev("response.output_item.added", map[string]any{"item": map[string]any{"type": "function_call", "id": "f1", "call_id": "c1", "name": "ls"}}),
		ev("response.function_call_arguments.delta", map[string]any{"item_id": "f1", "delta": `{"a":`}),
		ev("response.function_call_arguments.delta", map[string]any{"item_id": "f1", "delta": `1}`}),
		ev("response.output_item.done", map[string]any{"item": map[string]any{"type": "function_call", "id": "f1", "call_id": "c1", "name": "ls"}}),
		ev("response.completed", map[string]any{"response": map[string]any{"id": "r1"}}),
	))
	evs, err := collect(t, srv.Client(), simple())
	if err != nil {
		t.Fatal(err)
	}
	if d := evs[2].(responses.TextDelta); d.ItemID != "m1" {
		t.Errorf("delta without item_id attributed to %q", d.ItemID)
	}
	if it := evs[3].(responses.ItemDone).Item; it.Text != "Hello" {
		t.Errorf("message text %q", it.Text)
	}
	if it := evs[7].(responses.ItemDone).Item; it.Arguments != `{"a":1}` {
		t.Errorf("arguments %q", it.Arguments)
	}
	if c := evs[8].(responses.Completed); c.ResponseID != "r1" || c.Usage != (responses.Usage{}) {
		t.Errorf("completed %+v", c)
	}
}

func TestStreamReasoningAndConcat(t *testing.T) {
	srv := rt.New(t, rt.Concat(
		rt.Reasoning("Thinking about it.", "Done thinking."),
		rt.Text("Running ", "ls."),
		rt.ToolCall("call_9", "exec_command", `{"cmd":"ls"}`),
	))
	evs, err := collect(t, srv.Client(), simple())
	if err != nil {
		t.Fatal(err)
	}
	want := "Created ItemAdded ReasoningSummaryDelta ReasoningSummaryDelta ReasoningSummaryDelta ReasoningSummaryDelta ItemDone " +
		"ItemAdded TextDelta TextDelta ItemDone ItemAdded ArgumentsDelta ArgumentsDelta ArgumentsDelta ItemDone Completed"
	if got := kinds(evs); got != want {
		t.Fatalf("events: %s\nwant    %s", got, want)
	}
	var summary [2]string
	for _, e := range evs[2:6] {
		d := e.(responses.ReasoningSummaryDelta)
		summary[d.SummaryIndex] += d.Delta
	}
	rs := evs[6].(responses.ItemDone).Item
	if summary != [2]string{"Thinking about it.", "Done thinking."} || rs.Text != "Thinking about it.\n\nDone thinking." {
		t.Errorf("summary %q, item %+v", summary, rs)
	}
	in := rs.Input()
	if raw := string(in.RawJSON()); in.Type != responses.TypeReasoning || !strings.Contains(raw, `"encrypted_content":"enc:rs_`) || strings.Contains(raw, `"id"`) {
		t.Errorf("reasoning input %s", raw)
	}
	var items []responses.Item
	for _, e := range evs {
		if d, ok := e.(responses.ItemDone); ok {
			items = append(items, d.Item.Input())
		}
	}
	if items[1] != responses.AssistantText("Running ls.") || items[2] != responses.FunctionCall("call_9", "exec_command", `{"cmd":"ls"}`) {
		t.Errorf("items %+v", items)
	}
	// The next request replays them, and the provider sees them intact.
	srv.Push(rt.Text("ok"))
	req := simple()
	req.Input = append(append(req.Input, items...), responses.FunctionCallOutput("call_9", "a\nb\n"))
	if _, err := collect(t, srv.Client(), req); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()[1].Input
	if len(got) != 5 || got[2] != items[1] || got[3] != items[2] || got[4] != responses.FunctionCallOutput("call_9", "a\nb\n") ||
		!bytes.Equal(got[1].RawJSON(), in.RawJSON()) {
		t.Errorf("provider saw %+v", got)
	}
	usage := evs[len(evs)-1].(responses.Completed).Usage
	if usage != (responses.Usage{InputTokens: 30, CachedInputTokens: 12, OutputTokens: 7, TotalTokens: 37}) {
		t.Errorf("summed usage %+v", usage)
	}
}

func TestStreamUsage(t *testing.T) {
	u := responses.Usage{InputTokens: 1234, CachedInputTokens: 1000, OutputTokens: 56, ReasoningOutputTokens: 40, TotalTokens: 1290}
	srv := rt.New(t, rt.WithUsage(u, rt.Text("x")))
	evs, err := collect(t, srv.Client(), simple())
	if err != nil {
		t.Fatal(err)
	}
	if got := evs[len(evs)-1].(responses.Completed).Usage; got != u {
		t.Errorf("usage %+v, want %+v", got, u)
	}
}

func TestStreamTerminalFailures(t *testing.T) {
	for _, tt := range []struct {
		name      string
		reply     rt.Reply
		want      responses.Event
		retryable bool
	}{
		{"response.failed", rt.Failed("server_error", "The model crashed."),
			responses.Failed{Code: "server_error", Message: "The model crashed."}, true},
		{"context window", rt.Failed("context_length_exceeded", "Your input exceeds the context window."),
			responses.Failed{Code: "context_length_exceeded", Message: "Your input exceeds the context window."}, false},
		{"error event", rt.Events(rt.JSONEvent("error", map[string]any{"code": "rate_limit_exceeded", "message": "Please try again in 2s.", "param": nil})),
			responses.Failed{Code: "rate_limit_exceeded", Message: "Please try again in 2s."}, true},
		{"nested error event", rt.Events(rt.JSONEvent("error", map[string]any{"error": map[string]any{"type": "invalid_request_error", "message": "bad"}})),
			responses.Failed{Code: "invalid_request_error", Message: "bad"}, false},
		{"incomplete", rt.Incomplete("max_output_tokens", rt.Text("trunc")),
			responses.Incomplete{Reason: "max_output_tokens", Usage: responses.Usage{InputTokens: 10, CachedInputTokens: 4, OutputTokens: 1, TotalTokens: 11}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := rt.New(t, tt.reply)
			evs, err := collect(t, srv.Client(), simple())
			if err != nil {
				t.Fatal(err)
			}
			last := evs[len(evs)-1]
			switch l := last.(type) {
			case responses.Failed:
				l.ResponseID = ""
				last = l
				if responses.Retryable(l) != tt.retryable {
					t.Errorf("Retryable(%v) = %v", l, !tt.retryable)
				}
			case responses.Incomplete:
				l.ResponseID = ""
				last = l
			}
			if !reflect.DeepEqual(last, tt.want) {
				t.Errorf("terminal event %#v, want %#v", last, tt.want)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	for _, tt := range []struct {
		name      string
		reply     rt.Reply
		want      responses.StatusError
		retryable bool
	}{
		{"429 with Retry-After", rt.WithHeader("Retry-After", "2", rt.Error(429, "Rate limit reached.")),
			responses.StatusError{StatusCode: 429, Message: "Rate limit reached.", Code: "rate_limit_exceeded", RetryAfter: 2 * time.Second}, true},
		{"429 quota", rt.Reply{Status: 429, Body: `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","code":"insufficient_quota"}}`},
			responses.StatusError{StatusCode: 429, Message: "You exceeded your current quota.", Code: "insufficient_quota"}, false},
		{"500", rt.Error(500, "The server had an error."),
			responses.StatusError{StatusCode: 500, Message: "The server had an error.", Code: "server_error"}, true},
		{"503 with retry-after-ms", rt.WithHeader("retry-after-ms", "150", rt.Reply{Status: 503, Body: "upstream overloaded"}),
			responses.StatusError{StatusCode: 503, Message: "Service Unavailable", RetryAfter: 150 * time.Millisecond}, true},
		{"400 with error body", rt.Reply{Status: 400, Body: `{"error":{"message":"Invalid 'input[2].call_id'.","type":"invalid_request_error","param":"input[2].call_id","code":"invalid_value"}}`},
			responses.StatusError{StatusCode: 400, Message: "Invalid 'input[2].call_id'.", Code: "invalid_value"}, false},
		{"401 without body", rt.Reply{Status: 401},
			responses.StatusError{StatusCode: 401, Message: "Unauthorized"}, false},
		{"404 HTML", rt.Reply{Status: 404, Body: "<html>not here</html>", Header: http.Header{"Content-Type": {"text/html"}}},
			responses.StatusError{StatusCode: 404, Message: "Not Found"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := rt.New(t, tt.reply)
			st, err := srv.Client().Stream(t.Context(), simple())
			if st != nil {
				st.Close()
				t.Fatal("got a stream")
			}
			var se *responses.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want a *StatusError", err, err)
			}
			if *se != tt.want {
				t.Errorf("got  %+v\nwant %+v", *se, tt.want)
			}
			if responses.Retryable(err) != tt.retryable {
				t.Errorf("Retryable = %v", !tt.retryable)
			}
			if responses.RetryAfter(err) != tt.want.RetryAfter {
				t.Errorf("RetryAfter = %v", responses.RetryAfter(err))
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.want.StatusCode)) {
				t.Errorf("message %q lacks the status", err)
			}
		})
	}
}

func TestStreamDisconnect(t *testing.T) {
	for _, tt := range []struct {
		name   string
		reply  rt.Reply
		events int
	}{
		{"mid-stream", rt.Disconnect(5, rt.Text("a", "b", "c")), 3}, // created, (in_progress), added, (part), delta
		{"before any event", rt.Disconnect(0, rt.Text("a")), 0},
		{"clean end without a terminal event", rt.Events(rt.Text("a").Events[:5]...), 3},
		{"empty 200", rt.Reply{}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := rt.New(t, tt.reply)
			evs, err := collect(t, srv.Client(), simple())
			if !errors.Is(err, responses.ErrStreamDisconnected) || !responses.Retryable(err) {
				t.Fatalf("err = %v, want ErrStreamDisconnected", err)
			}
			if len(evs) != tt.events {
				t.Errorf("%d events before the error (%s), want %d", len(evs), kinds(evs), tt.events)
			}
		})
	}
}

func TestConnectionFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &responses.Client{BaseURL: "http://" + addr + "/v1", APIKey: "sk-secret", HTTPClient: &http.Client{Transport: tr}}
	_, err = c.Stream(t.Context(), simple())
	if !errors.Is(err, responses.ErrConnectionFailed) || !responses.Retryable(err) {
		t.Fatalf("err = %v, want ErrConnectionFailed", err)
	}
	if strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("error leaks the key: %v", err)
	}
}

// within fails the test unless f returns within d.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still blocked after %v", d)
	}
}

func TestHangCancel(t *testing.T) {
	t.Run("before headers", func(t *testing.T) {
		srv := rt.New(t, rt.Hang())
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		within(t, 2*time.Second, func() {
			_, err := srv.Client().Stream(ctx, simple())
			if !errors.Is(err, context.Canceled) || responses.Retryable(err) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	})
	t.Run("mid-stream", func(t *testing.T) {
		srv := rt.New(t, rt.Slow(time.Hour, rt.Text("never")))
		ctx, cancel := context.WithCancel(t.Context())
		st, err := srv.Client().Stream(ctx, simple())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		within(t, 2*time.Second, func() {
			_, err := st.Next()
			if !errors.Is(err, context.Canceled) || responses.Retryable(err) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
		t.Logf("Next returned %v after the cancel", time.Since(start)-50*time.Millisecond)
	})
	t.Run("Close from another goroutine", func(t *testing.T) {
		srv := rt.New(t, rt.Slow(time.Hour, rt.Text("never")))
		st, err := srv.Client().Stream(t.Context(), simple())
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(50*time.Millisecond, func() { st.Close() })
		within(t, 2*time.Second, func() {
			_, err := st.Next()
			if err == nil || errors.Is(err, responses.ErrStreamDisconnected) || responses.Retryable(err) {
				t.Errorf("err = %v, want a closed-stream error", err)
			}
		})
		st.Close()
	})
	t.Run("deadline", func(t *testing.T) {
		srv := rt.New(t, rt.Slow(time.Hour, rt.Text("never")))
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		st, err := srv.Client().Stream(ctx, simple())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		within(t, 2*time.Second, func() {
			if _, err := st.Next(); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want DeadlineExceeded", err)
			}
		})
	})
}

func TestIdleTimeout(t *testing.T) {
	srv := rt.New(t, rt.Hang(), rt.Slow(time.Hour, rt.Text("never")), rt.Slow(20*time.Millisecond, rt.Text("a", "b", "c", "d")))
	c := srv.Client()
	c.IdleTimeout = 300 * time.Millisecond

	_, err := c.Stream(t.Context(), simple())
	if !errors.Is(err, responses.ErrConnectionFailed) || !responses.Retryable(err) || !strings.Contains(err.Error(), "idle") {
		t.Errorf("no headers: err = %v, want ErrConnectionFailed (idle)", err)
	}
	_, err = collect(t, c, simple())
	if !errors.Is(err, responses.ErrStreamDisconnected) || !responses.Retryable(err) || !strings.Contains(err.Error(), "idle") {
		t.Errorf("silent stream: err = %v, want ErrStreamDisconnected (idle)", err)
	}
	// A stream slower in total than the timeout, but never silent that long, is fine.
	if _, err := collect(t, c, simple()); err != nil {
		t.Errorf("slow stream: %v", err)
	}
}

func TestOversizedEvent(t *testing.T) {
	huge := `{"type":"response.output_text.delta","item_id":"m","delta":"` + strings.Repeat("x", responses.MaxEventSize) + `"}`
	srv := rt.New(t,
		rt.Events(rt.Event{Type: "response.output_text.delta", Data: huge}),
		// Within the event limit, but the item grows past it.
		rt.Events(
			rt.JSONEvent("response.output_text.delta", map[string]any{"item_id": "m", "delta": strings.Repeat("y", responses.MaxEventSize/2+1)}),
			rt.JSONEvent("response.output_text.delta", map[string]any{"item_id": "m", "delta": strings.Repeat("y", responses.MaxEventSize/2+1)}),
		),
	)
	big := strings.Repeat("z", responses.MaxEventSize/2+1)
	delta := func(id string) rt.Event {
		return rt.JSONEvent("response.output_text.delta", map[string]any{"item_id": id, "delta": big})
	}
	doneItem := func(id string) rt.Event {
		return rt.JSONEvent("response.output_item.done", map[string]any{"item": map[string]any{"type": "message", "id": id,
			"content": []any{map[string]any{"type": "output_text", "text": "(elided)"}}}})
	}
	srv.Push(
		// Items opened and never finished count together.
		rt.Events(delta("a"), delta("b")),
		// Finished items do not.
		rt.Events(delta("a"), doneItem("a"), delta("b"), doneItem("b"), delta("c"), doneItem("c"),
			rt.JSONEvent("response.completed", map[string]any{"response": map[string]any{"id": "r"}})),
	)
	for range 3 {
		_, err := collect(t, srv.Client(), simple())
		if !errors.Is(err, responses.ErrEventTooLarge) || responses.Retryable(err) {
			t.Errorf("err = %v, want ErrEventTooLarge", err)
		}
	}
	if evs, err := collect(t, srv.Client(), simple()); err != nil || len(evs) != 7 {
		t.Errorf("finished items: %d events, %v", len(evs), err)
	}
}

func TestGarbage(t *testing.T) {
	text := rt.Text("fine")
	noise := []rt.Event{
		{Raw: "\x00\xff\xfe garbage without a field\n\n"},
		{Raw: ": keep-alive comment\n\n"},
		{Raw: "data: [DONE]\n\n"},
		{Raw: "data: {not json\n\n"},
		{Raw: "event: response.output_text.delta\ndata: 42\n\n"}, // valid JSON, not an object, for a known event
		{Raw: "data: {\"type\":\"response.audio.delta\",\"delta\":{\"odd\":true}}\n\n"},
		{Raw: "data: {\"type\":\"response.brand_new\",\"item\":7}\r\n\r\n"},
		{Raw: "retry: 10\rid: 5\r\r"},
	}
	t.Run("skipped", func(t *testing.T) {
		var evs []rt.Event
		for i, e := range text.Events {
			evs = append(evs, e)
			if i < len(noise) && i != 4 {
				evs = append(evs, noise[i])
			}
		}
		srv := rt.New(t, rt.Events(evs...))
		got, err := collect(t, srv.Client(), simple())
		if err != nil {
			t.Fatal(err)
		}
		if kinds(got) != "Created ItemAdded TextDelta ItemDone Completed" {
			t.Errorf("events %s", kinds(got))
		}
	})
	t.Run("malformed known event", func(t *testing.T) {
		for _, bad := range []string{
			`{"type":"response.output_text.delta","delta":17}`,
			`{"type":"response.output_item.done","item":"nope"}`,
			`{"type":"response.completed","response":[]}`,
			`42`,
		} {
			srv := rt.New(t, rt.Events(rt.Event{Type: "response.output_text.delta", Data: bad}))
			_, err := collect(t, srv.Client(), simple())
			if !errors.Is(err, responses.ErrMalformedEvent) || responses.Retryable(err) {
				t.Errorf("%s: err = %v, want ErrMalformedEvent", bad, err)
			}
		}
	})
	t.Run("only garbage", func(t *testing.T) {
		srv := rt.New(t, rt.Events(rt.Event{Raw: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}, rt.Event{Raw: strings.Repeat("\r", 1000)}))
		_, err := collect(t, srv.Client(), simple())
		if !errors.Is(err, responses.ErrStreamDisconnected) {
			t.Errorf("err = %v, want ErrStreamDisconnected", err)
		}
	})
}

func TestClientHeaders(t *testing.T) {
	srv := rt.New(t, rt.WithHeader("X-Request-Id", "req_42", rt.Text("a")), rt.Text("b"))
	c := srv.Client()
	c.Header = http.Header{"Originator": {"codex_cli_rs"}, "session_id": {"thread-1"}}
	st, err := c.Stream(t.Context(), simple())
	if err != nil {
		t.Fatal(err)
	}
	if st.Header().Get("X-Request-Id") != "req_42" {
		t.Errorf("response header %v", st.Header())
	}
	st.Close()
	st.Close() // idempotent
	c.APIKey = ""
	if _, err := collect(t, c, simple()); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Requests() {
		if r.Header.Get("Originator") != "codex_cli_rs" || r.Header.Get("Session_id") != "thread-1" {
			t.Errorf("extra headers missing: %v", r.Header)
		}
		if _, ok := r.Header["Authorization"]; ok {
			t.Errorf("Authorization sent without a key: %v", r.Header)
		}
	}
}

func TestClientRedactsKey(t *testing.T) {
	const key = "sk-proj-VERYSECRET"
	c := responses.Client{BaseURL: "http://127.0.0.1:1/v1", APIKey: key}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("provider", "client", c, "ptr", &c)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("provider", "client", c)
	for _, s := range []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c), fmt.Sprintf("%v %+v", &c, &c), c.String(), logged.String(),
	} {
		if strings.Contains(s, "VERYSECRET") {
			t.Errorf("key leaked: %s", s)
		}
		if !strings.Contains(s, "REDACTED") {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

func TestBadRequestNotSent(t *testing.T) {
	srv := rt.New(t)
	if _, err := srv.Client().Stream(t.Context(), &responses.Request{}); err == nil {
		t.Fatal("no error for a request without a model")
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
