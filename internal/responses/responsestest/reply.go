package responsestest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/appserver-go/appserver/internal/responses"
)

// Reply is the scripted answer to one request: either an HTTP error
// (Status and Body) or a stream of server-sent events, optionally slowed,
// cut short, or never sent.
type Reply struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Header holds extra response headers (Retry-After, x-request-id…).
	Header http.Header
	// Body is written as is for a reply without Events (with Content-Type
	// application/json unless Header sets one). A reply with Events, or
	// with neither Events nor Body and status 200, is an SSE stream.
	Body string
	// Events are the SSE stream, sent in order, each flushed at once.
	Events []Event
	// Disconnect cuts the connection abruptly after DisconnectAfter events:
	// no terminal event, no end of the chunked body.
	Disconnect      bool
	DisconnectAfter int
	// Hang sends nothing at all, not even headers, until the client goes
	// away or the server closes.
	Hang bool
}

// Event is one server-sent event.
type Event struct {
	// Delay is waited before the event is sent.
	Delay time.Duration
	// Type is the SSE "event:" field (the Responses API repeats it as the
	// JSON's "type"); empty sends no event field.
	Type string
	// Data is the event's data, usually a JSON object; a newline in it
	// starts another "data:" line.
	Data string
	// Raw, when set, is written verbatim instead of Type and Data: garbage,
	// comments, odd line endings.
	Raw string
}

// bytes returns the event as written on the wire.
func (e Event) bytes() []byte {
	if e.Raw != "" {
		return []byte(e.Raw)
	}
	var b strings.Builder
	if e.Type != "" {
		b.WriteString("event: " + e.Type + "\n")
	}
	for line := range strings.SplitSeq(e.Data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// JSONEvent returns an event of type typ whose data is fields plus
// "type": typ, as JSON.
func JSONEvent(typ string, fields map[string]any) Event {
	m := make(map[string]any, len(fields)+1)
	maps.Copy(m, fields)
	m["type"] = typ
	return Event{Type: typ, Data: mustJSON(m)}
}

// Events returns a 200 reply streaming evs.
func Events(evs ...Event) Reply { return Reply{Events: evs} }

// Error returns an HTTP error reply with the API's error body,
// {"error":{"message":msg,"type":…,"param":null,"code":…}}: type
// "requests" and code "rate_limit_exceeded" for a 429, type "server_error"
// for a 5xx, type "invalid_request_error" otherwise, code null.
func Error(status int, msg string) Reply {
	typ, code := "invalid_request_error", any(nil)
	switch {
	case status == http.StatusTooManyRequests:
		typ, code = "requests", "rate_limit_exceeded"
	case status >= 500:
		typ = "server_error"
	}
	body := map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}}
	return Reply{Status: status, Body: mustJSON(body)}
}

// Hang returns a reply that never answers.
func Hang() Reply { return Reply{Hang: true} }

// Slow returns r with every event delayed by perEvent.
func Slow(perEvent time.Duration, r Reply) Reply {
	r.Events = append([]Event(nil), r.Events...)
	for i := range r.Events {
		r.Events[i].Delay = perEvent
	}
	return r
}

// Disconnect returns r cut off after its first afterEvents events.
func Disconnect(afterEvents int, r Reply) Reply {
	r.Disconnect, r.DisconnectAfter = true, afterEvents
	return r
}

// WithHeader returns r with a response header added.
func WithHeader(key, value string, r Reply) Reply {
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Add(key, value)
	r.Header = h
	return r
}

// WithUsage returns r with the usage of its terminal event replaced.
func WithUsage(u responses.Usage, r Reply) Reply {
	r.Events = append([]Event(nil), r.Events...)
	for i, e := range r.Events {
		if e.Type != "response.completed" && e.Type != "response.incomplete" {
			continue
		}
		m := tryDecode(e)
		if m == nil {
			continue
		}
		resp, _ := m["response"].(map[string]any)
		if resp == nil {
			resp = map[string]any{}
			m["response"] = resp
		}
		resp["usage"] = usageJSON(u)
		r.Events[i].Data = mustJSON(m)
	}
	return r
}

// Incomplete returns r with its response.completed replaced by
// response.incomplete for reason ("max_output_tokens", "content_filter").
func Incomplete(reason string, r Reply) Reply {
	r.Events = append([]Event(nil), r.Events...)
	for i, e := range r.Events {
		if e.Type != "response.completed" {
			continue
		}
		m := tryDecode(e)
		if m == nil {
			continue
		}
		m["type"] = "response.incomplete"
		if resp, ok := m["response"].(map[string]any); ok {
			resp["status"] = "incomplete"
			resp["incomplete_details"] = map[string]any{"reason": reason}
		}
		r.Events[i] = Event{Delay: e.Delay, Type: "response.incomplete", Data: mustJSON(m)}
	}
	return r
}

// ids numbers the ids builders make (resp_1, msg_2, fc_3…), unique within
// the process.
var ids atomic.Int64

func nextID(prefix string) string { return fmt.Sprintf("%s_%d", prefix, ids.Add(1)) }

// defaultUsage is the usage builders put in response.completed: 10 input
// tokens (4 of them cached), 1 output token per delta, and the total.
func defaultUsage(deltas int) responses.Usage {
	return responses.Usage{InputTokens: 10, CachedInputTokens: 4, OutputTokens: int64(deltas),
		ReasoningOutputTokens: 0, TotalTokens: 10 + int64(deltas)}
}

func usageJSON(u responses.Usage) map[string]any {
	return map[string]any{
		"input_tokens":          u.InputTokens,
		"input_tokens_details":  map[string]any{"cached_tokens": u.CachedInputTokens},
		"output_tokens":         u.OutputTokens,
		"output_tokens_details": map[string]any{"reasoning_tokens": u.ReasoningOutputTokens},
		"total_tokens":          u.TotalTokens,
	}
}

// response returns a response object as the terminal events carry it.
func response(id, status string, output []any, u *responses.Usage) map[string]any {
	m := map[string]any{"id": id, "object": "response", "status": status, "model": "mock-model", "output": output}
	if output == nil {
		m["output"] = []any{}
	}
	if u != nil {
		m["usage"] = usageJSON(*u)
	}
	return m
}

// stream assembles the events of a one-item response: created, the item's
// events, completed (with usage for deltas deltas).
func stream(item map[string]any, mid []Event, deltas int) Reply {
	resp := nextID("resp")
	u := defaultUsage(deltas)
	evs := []Event{
		JSONEvent("response.created", map[string]any{"response": response(resp, "in_progress", nil, nil)}),
		JSONEvent("response.in_progress", map[string]any{"response": response(resp, "in_progress", nil, nil)}),
	}
	evs = append(evs, mid...)
	evs = append(evs, JSONEvent("response.completed", map[string]any{"response": response(resp, "completed", []any{item}, &u)}))
	return Reply{Events: number(evs)}
}

// Text returns a reply streaming one assistant message: its parts as
// response.output_text.delta events, then the whole text in
// response.output_item.done, then response.completed with usage (10 input
// tokens, 4 of them cached, and one output token per part; see
// [WithUsage]).
func Text(parts ...string) Reply {
	id := nextID("msg")
	full := strings.Join(parts, "")
	at := map[string]any{"item_id": id, "output_index": 0, "content_index": 0}
	with := func(k string, v any) map[string]any {
		m := maps.Clone(at)
		m[k] = v
		return m
	}
	done := map[string]any{"type": "message", "id": id, "status": "completed", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": full, "annotations": []any{}}}}
	evs := []Event{
		JSONEvent("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{
			"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []any{}}}),
		JSONEvent("response.content_part.added", with("part", map[string]any{"type": "output_text", "text": "", "annotations": []any{}})),
	}
	for _, p := range parts {
		evs = append(evs, JSONEvent("response.output_text.delta", with("delta", p)))
	}
	evs = append(evs,
		JSONEvent("response.output_text.done", with("text", full)),
		JSONEvent("response.content_part.done", with("part", map[string]any{"type": "output_text", "text": full, "annotations": []any{}})),
		JSONEvent("response.output_item.done", map[string]any{"output_index": 0, "item": done}),
	)
	return stream(done, evs, len(parts))
}

// ToolCall returns a reply in which the model calls tool name with
// argumentsJSON, streamed as response.function_call_arguments.delta events
// in a few pieces, then the whole call in response.output_item.done.
func ToolCall(callID, name, argumentsJSON string) Reply {
	id := nextID("fc")
	item := func(status, args string) map[string]any {
		return map[string]any{"type": "function_call", "id": id, "status": status, "call_id": callID, "name": name, "arguments": args}
	}
	evs := []Event{JSONEvent("response.output_item.added", map[string]any{"output_index": 0, "item": item("in_progress", "")})}
	chunks := split(argumentsJSON, 3)
	for _, c := range chunks {
		evs = append(evs, JSONEvent("response.function_call_arguments.delta", map[string]any{"item_id": id, "output_index": 0, "delta": c}))
	}
	done := item("completed", argumentsJSON)
	evs = append(evs,
		JSONEvent("response.function_call_arguments.done", map[string]any{"item_id": id, "output_index": 0, "arguments": argumentsJSON}),
		JSONEvent("response.output_item.done", map[string]any{"output_index": 0, "item": done}),
	)
	return stream(done, evs, len(chunks))
}

// Reasoning returns a reply with one reasoning item whose summary parts are
// streamed as response.reasoning_summary_text.delta events.
func Reasoning(summary ...string) Reply {
	id := nextID("rs")
	var parts []any
	evs := []Event{JSONEvent("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{
		"type": "reasoning", "id": id, "summary": []any{}}})}
	for i, s := range summary {
		at := map[string]any{"item_id": id, "output_index": 0, "summary_index": i}
		part := map[string]any{"type": "summary_text", "text": s}
		evs = append(evs, JSONEvent("response.reasoning_summary_part.added", with(at, "part", map[string]any{"type": "summary_text", "text": ""})))
		for _, c := range split(s, 2) {
			evs = append(evs, JSONEvent("response.reasoning_summary_text.delta", with(at, "delta", c)))
		}
		evs = append(evs,
			JSONEvent("response.reasoning_summary_text.done", with(at, "text", s)),
			JSONEvent("response.reasoning_summary_part.done", with(at, "part", part)))
		parts = append(parts, part)
	}
	done := map[string]any{"type": "reasoning", "id": id, "summary": parts, "encrypted_content": "enc:" + id}
	if parts == nil {
		done["summary"] = []any{}
	}
	evs = append(evs, JSONEvent("response.output_item.done", map[string]any{"output_index": 0, "item": done}))
	return stream(done, evs, len(summary))
}

// Failed returns a reply whose response fails: response.created, then
// response.failed with error {code, message}.
func Failed(code, msg string) Reply {
	resp := nextID("resp")
	failed := response(resp, "failed", nil, nil)
	failed["error"] = map[string]any{"code": code, "message": msg}
	return Reply{Events: number([]Event{
		JSONEvent("response.created", map[string]any{"response": response(resp, "in_progress", nil, nil)}),
		JSONEvent("response.failed", map[string]any{"response": failed}),
	})}
}

// Concat returns one response with the output items of several built
// replies, in order (e.g. reasoning, a message, then a tool call): the
// first reply's response.created, every reply's item events with their
// output_index shifted, and one terminal event carrying all the items and
// the summed usage.
func Concat(rs ...Reply) Reply {
	var evs []Event
	var terminal map[string]any
	var output []any
	var usage responses.Usage
	for n, r := range rs {
		index := len(output)
		for _, e := range r.Events {
			switch e.Type {
			case "response.created", "response.in_progress":
				if n == 0 {
					evs = append(evs, e)
				}
				continue
			case "response.completed", "response.incomplete", "response.failed":
				m := tryDecode(e)
				if m == nil {
					continue
				}
				resp, _ := m["response"].(map[string]any)
				if items, ok := resp["output"].([]any); ok {
					output = append(output, items...)
				}
				if u, ok := resp["usage"].(map[string]any); ok {
					usage = addUsage(usage, u)
				}
				terminal = m
				continue
			}
			if m := tryDecode(e); m != nil {
				if i, ok := m["output_index"].(float64); ok {
					m["output_index"] = int(i) + index
					e.Data = mustJSON(m)
				}
			}
			evs = append(evs, e)
		}
	}
	if terminal != nil {
		resp, _ := terminal["response"].(map[string]any)
		if resp != nil {
			resp["output"] = output
			resp["usage"] = usageJSON(usage)
		}
		typ, _ := terminal["type"].(string)
		evs = append(evs, Event{Type: typ, Data: mustJSON(terminal)})
	}
	return Reply{Events: number(evs)}
}

func addUsage(u responses.Usage, m map[string]any) responses.Usage {
	num := func(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }
	in, _ := m["input_tokens_details"].(map[string]any)
	out, _ := m["output_tokens_details"].(map[string]any)
	u.InputTokens += num(m, "input_tokens")
	u.CachedInputTokens += num(in, "cached_tokens")
	u.OutputTokens += num(m, "output_tokens")
	u.ReasoningOutputTokens += num(out, "reasoning_tokens")
	u.TotalTokens += num(m, "total_tokens")
	return u
}

// number sets each JSON event's sequence_number to its position.
func number(evs []Event) []Event {
	for i, e := range evs {
		m := tryDecode(e)
		if m == nil {
			continue
		}
		m["sequence_number"] = i
		evs[i].Data = mustJSON(m)
	}
	return evs
}

func with(m map[string]any, k string, v any) map[string]any {
	c := maps.Clone(m)
	c[k] = v
	return c
}

// split cuts s into at most n pieces at rune boundaries (one piece for a
// short s; none for an empty one).
func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	var out []string
	size := max((len(s)+n-1)/n, 1)
	for len(s) > 0 {
		i := min(size, len(s))
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// tryDecode returns a JSON event's data as a map, or nil.
func tryDecode(e Event) map[string]any {
	var m map[string]any
	if e.Raw != "" || json.Unmarshal([]byte(e.Data), &m) != nil {
		return nil
	}
	return m
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
