package responses_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/appserver-go/appserver/internal/responses"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (rerun with -update after checking):\ngot  %s\nwant %s", name, got, want)
	}
}

// encode marshals v as the request body does, without HTML escaping.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

// fullRequest exercises every field and item kind.
func fullRequest() *responses.Request {
	return &responses.Request{
		Model:        "mock-model",
		Instructions: "You are Codex. Use <tools> & be brief.",
		Input: []responses.Item{
			responses.DeveloperText("<permissions>sandbox: read-only</permissions>"),
			responses.UserText("say hi ✓"),
			responses.AssistantText("Hello from mock"),
			responses.FunctionCall("call_1", "exec_command", `{"cmd":"ls -la"}`),
			responses.FunctionCallOutput("call_1", "total 0\n"),
		},
		Tools: []responses.Tool{
			{
				Name:        "exec_command",
				Description: "Runs a command.",
				Parameters:  json.RawMessage(`{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"],"additionalProperties":false}`),
			},
			{Name: "get_goal", Description: "Reads the goal."},
		},
		ParallelToolCalls: true,
		Reasoning:         &responses.Reasoning{Effort: "medium", Summary: "auto"},
		Include:           []string{"reasoning.encrypted_content"},
		PromptCacheKey:    "thread-1",
	}
}

func TestRequestJSONGolden(t *testing.T) {
	wire, err := fullRequest().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, wire, "", "  "); err != nil {
		t.Fatal(err)
	}
	golden(t, "request.golden.json", append(indented.Bytes(), '\n'))
}

func TestRequestJSONMinimal(t *testing.T) {
	b, err := (&responses.Request{Model: "m"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"model":"m","instructions":"","input":[],"tools":[],"tool_choice":"auto","parallel_tool_calls":false,"store":false,"stream":true}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, _ = (&responses.Request{Model: "m", OutputSchema: json.RawMessage(`{"type":"object"}`), ToolChoice: "none"}).MarshalJSON()
	const wantSchema = `{"model":"m","instructions":"","input":[],"tools":[],"tool_choice":"none","parallel_tool_calls":false,"store":false,"stream":true,"text":{"format":{"type":"json_schema","name":"codex_output_schema","schema":{"type":"object"},"strict":true}}}`
	if string(b) != wantSchema {
		t.Errorf("got  %s\nwant %s", b, wantSchema)
	}
}

func TestRequestJSONErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		req  responses.Request
	}{
		{"no model", responses.Request{}},
		{"untyped item", responses.Request{Model: "m", Input: []responses.Item{{}}}},
		{"bad role", responses.Request{Model: "m", Input: []responses.Item{{Type: "message", Role: "robot"}}}},
		{"call without id", responses.Request{Model: "m", Input: []responses.Item{responses.FunctionCall("", "f", "{}")}}},
		{"output without id", responses.Request{Model: "m", Input: []responses.Item{responses.FunctionCallOutput("", "x")}}},
		{"unknown type without JSON", responses.Request{Model: "m", Input: []responses.Item{{Type: "reasoning"}}}},
		{"tool without name", responses.Request{Model: "m", Tools: []responses.Tool{{}}}},
		{"invalid parameters", responses.Request{Model: "m", Tools: []responses.Tool{{Name: "f", Parameters: json.RawMessage(`{`)}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.req.MarshalJSON(); err == nil {
				t.Errorf("marshalled %s", b)
			}
		})
	}
}

func TestItemJSON(t *testing.T) {
	for _, tt := range []struct {
		item responses.Item
		want string
	}{
		{responses.UserText("hi <b>"), `{"type":"message","role":"user","content":[{"type":"input_text","text":"hi <b>"}]}`},
		{responses.AssistantText("yo"), `{"type":"message","role":"assistant","content":[{"type":"output_text","text":"yo"}]}`},
		{responses.DeveloperText("d"), `{"type":"message","role":"developer","content":[{"type":"input_text","text":"d"}]}`},
		{responses.FunctionCall("c", "n", `{"a":1}`), `{"type":"function_call","call_id":"c","name":"n","arguments":"{\"a\":1}"}`},
		{responses.FunctionCallOutput("c", "out"), `{"type":"function_call_output","call_id":"c","output":"out"}`},
	} {
		b, err := encode(tt.item)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.item, b, err, tt.want)
		}
		var back responses.Item
		if err := json.Unmarshal(b, &back); err != nil || back != tt.item {
			t.Errorf("round trip of %s = %+v, %v", b, back, err)
		}
	}
}

func TestItemUnmarshal(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want responses.Item
		raw  bool
	}{
		{`{"role":"user","content":"plain"}`, responses.UserText("plain"), false},
		{`{"type":"message","role":"user","content":[{"type":"input_text","text":"a"}]}`, responses.UserText("a"), false},
		{`{"type":"function_call_output","call_id":"c","output":"o"}`, responses.FunctionCallOutput("c", "o"), false},
		{`{"type":"function_call","id":"fc_1","call_id":"c","name":"n","arguments":"{}"}`, responses.FunctionCall("c", "n", "{}"), false},
		// Not modelled: kept verbatim.
		{`{"type":"message","role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"data:"}]}`, responses.Item{Type: "message", Role: "user", Text: "a"}, true},
		{`{"type":"reasoning","summary":[],"encrypted_content":"x"}`, responses.Item{Type: "reasoning"}, true},
	} {
		var got responses.Item
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got.Type != tt.want.Type || got.Role != tt.want.Role || got.Text != tt.want.Text ||
			got.CallID != tt.want.CallID || got.Output != tt.want.Output || (got.RawJSON() != nil) != tt.raw {
			t.Errorf("%s: got %+v (raw %s), want %+v", tt.in, got, got.RawJSON(), tt.want)
		}
		if tt.raw {
			b, _ := encode(got)
			if string(b) != tt.in {
				t.Errorf("raw item re-encoded as %s, want %s", b, tt.in)
			}
		}
	}
}

func TestOutputItemInput(t *testing.T) {
	msg := responses.OutputItem{Type: "message", ID: "msg_1", Role: "assistant", Text: "hi"}
	if got := msg.Input(); got != responses.AssistantText("hi") {
		t.Errorf("message: %+v", got)
	}
	call := responses.OutputItem{Type: "function_call", ID: "fc_1", CallID: "c", Name: "n", Arguments: "{}"}
	if got := call.Input(); got != responses.FunctionCall("c", "n", "{}") {
		t.Errorf("call: %+v", got)
	}
	rs := responses.OutputItem{Type: "reasoning", ID: "rs_1",
		Raw: json.RawMessage(`{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"<think>"}],"encrypted_content":"e"}`)}
	b, err := encode(rs.Input())
	const want = `{"encrypted_content":"e","summary":[{"type":"summary_text","text":"<think>"}],"type":"reasoning"}`
	if err != nil || string(b) != want {
		t.Errorf("reasoning: %s, %v; want %s", b, err, want)
	}
}
