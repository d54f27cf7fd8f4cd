package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Item types: the values of [Item.Type] and [OutputItem.Type] this package
// knows. Providers send others (web_search_call, custom_tool_call, …); they
// reach the caller as [OutputItem.Raw] and go back verbatim.
const (
	TypeMessage            = "message"
	TypeFunctionCall       = "function_call"
	TypeFunctionCallOutput = "function_call_output"
	TypeReasoning          = "reasoning"
)

// Message roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleDeveloper = "developer"
	RoleSystem    = "system"
)

// Request is one call to POST {BaseURL}/responses. It is always sent with
// "stream": true and "store": false: the conversation lives in the caller's
// history ([Request.Input]), not on the provider.
type Request struct {
	Model        string // required
	Instructions string // the system prompt
	// Input is the conversation so far, oldest first; nil is sent as [].
	Input []Item
	// Tools the model may call; nil is sent as [].
	Tools []Tool
	// ToolChoice is "auto" (when empty), "none" or "required".
	ToolChoice        string
	ParallelToolCalls bool
	// Reasoning, when set, is sent as "reasoning" (effort and summary).
	Reasoning *Reasoning
	// Include lists extra output fields, e.g. "reasoning.encrypted_content"
	// (needed to replay reasoning items when store is false).
	Include []string
	// PromptCacheKey, when set, lets the provider reuse its prompt cache
	// across requests of one conversation (the reference sends its thread id).
	PromptCacheKey string
	// OutputSchema, when set, constrains the final message to this JSON
	// schema ("text": {"format": {"type": "json_schema", …}}), as a turn's
	// outputSchema asks.
	OutputSchema json.RawMessage
}

// Reasoning configures a reasoning model.
type Reasoning struct {
	Effort  string `json:"effort,omitempty"`  // "minimal", "low", "medium", "high"
	Summary string `json:"summary,omitempty"` // "auto", "concise", "detailed"
}

// Tool is a function the model may call. It is sent as
// {"type":"function","name","description","parameters","strict"}.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Parameters is the JSON schema of the arguments object; nil is sent as
	// an object schema without properties.
	Parameters json.RawMessage `json:"parameters"`
	Strict     bool            `json:"strict"`
}

// MarshalJSON adds "type":"function".
func (t Tool) MarshalJSON() ([]byte, error) { return marshal(t.wire()) }

func (t Tool) wire() toolJSON {
	p := t.Parameters
	if len(p) == 0 {
		p = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return toolJSON{"function", t.Name, t.Description, p, t.Strict}
}

type toolJSON struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

// Item is one entry of a conversation: a message, a function call, a
// function call's output, or an item of another type kept as raw JSON.
// Build items with [UserText], [AssistantText], [DeveloperText],
// [FunctionCall] and [FunctionCallOutput], or from the model's own output
// with [OutputItem.Input]. Items are comparable.
type Item struct {
	Type string // TypeMessage, TypeFunctionCall, TypeFunctionCallOutput, …

	Role string // message: RoleUser, RoleAssistant, RoleDeveloper, RoleSystem
	Text string // message: its text

	CallID    string // function_call, function_call_output
	Name      string // function_call
	Arguments string // function_call: a JSON object, as text
	Output    string // function_call_output: what the tool returned

	// raw is the item's JSON for types this package does not model (and
	// for messages whose content is not plain text); sent verbatim.
	raw string
}

// UserText returns a user message.
func UserText(text string) Item { return Item{Type: TypeMessage, Role: RoleUser, Text: text} }

// AssistantText returns an assistant message (the model's earlier answer).
func AssistantText(text string) Item {
	return Item{Type: TypeMessage, Role: RoleAssistant, Text: text}
}

// DeveloperText returns a developer message (instructions that rank above
// the user's, e.g. the sandbox and approval policy).
func DeveloperText(text string) Item {
	return Item{Type: TypeMessage, Role: RoleDeveloper, Text: text}
}

// FunctionCall returns the model's call of a tool, for replaying history.
func FunctionCall(callID, name, arguments string) Item {
	return Item{Type: TypeFunctionCall, CallID: callID, Name: name, Arguments: arguments}
}

// FunctionCallOutput returns the result of the call with this call ID.
func FunctionCallOutput(callID, output string) Item {
	return Item{Type: TypeFunctionCallOutput, CallID: callID, Output: output}
}

// RawJSON returns the item's JSON when it is kept verbatim (an item type
// this package does not model), or nil.
func (it Item) RawJSON() json.RawMessage {
	if it.raw == "" {
		return nil
	}
	return json.RawMessage(it.raw)
}

// MarshalJSON encodes the item in the Responses API's input format.
func (it Item) MarshalJSON() ([]byte, error) {
	w, err := it.wire()
	if err != nil {
		return nil, err
	}
	return marshal(w)
}

type contentJSON struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type messageJSON struct {
	Type    string        `json:"type"`
	Role    string        `json:"role"`
	Content []contentJSON `json:"content"`
}

type functionCallJSON struct {
	Type      string `json:"type"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type functionCallOutputJSON struct {
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	Output string `json:"output"`
}

// wire returns a value whose standard encoding is the item's JSON.
func (it Item) wire() (any, error) {
	if it.raw != "" {
		return json.RawMessage(it.raw), nil
	}
	switch it.Type {
	case TypeMessage:
		part := "input_text"
		switch it.Role {
		case RoleAssistant:
			part = "output_text"
		case RoleUser, RoleDeveloper, RoleSystem:
		default:
			return nil, fmt.Errorf("responses: message item with role %q", it.Role)
		}
		return messageJSON{TypeMessage, it.Role, []contentJSON{{part, it.Text}}}, nil
	case TypeFunctionCall:
		if it.CallID == "" || it.Name == "" {
			return nil, errors.New("responses: function_call item without call_id or name")
		}
		return functionCallJSON{TypeFunctionCall, it.CallID, it.Name, it.Arguments}, nil
	case TypeFunctionCallOutput:
		if it.CallID == "" {
			return nil, errors.New("responses: function_call_output item without call_id")
		}
		return functionCallOutputJSON{TypeFunctionCallOutput, it.CallID, it.Output}, nil
	case "":
		return nil, errors.New("responses: item without a type")
	}
	return nil, fmt.Errorf("responses: item of type %q has no JSON (build it with OutputItem.Input)", it.Type)
}

// UnmarshalJSON decodes an input item. Messages whose content is text only,
// function calls and their outputs become typed items; anything else keeps
// its JSON (see [Item.RawJSON]) with Type (and, for messages, Role and the
// text parts) filled in.
func (it *Item) UnmarshalJSON(b []byte) error {
	var w struct {
		Type      string          `json:"type"`
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		CallID    string          `json:"call_id"`
		Name      string          `json:"name"`
		Arguments string          `json:"arguments"`
		Output    json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type == "" && w.Role != "" {
		w.Type = TypeMessage // the API's "easy input message" omits the type
	}
	*it = Item{Type: w.Type}
	plain := true
	switch w.Type {
	case TypeMessage:
		it.Role = w.Role
		it.Text, plain = contentText(w.Content)
	case TypeFunctionCall:
		it.CallID, it.Name, it.Arguments = w.CallID, w.Name, w.Arguments
	case TypeFunctionCallOutput:
		it.CallID = w.CallID
		it.Output, plain = contentText(w.Output)
	default:
		plain = false
	}
	if !plain {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		it.raw = buf.String()
	}
	return nil
}

// contentText returns the text of a content field (a string or an array of
// text parts) and whether it was nothing but text.
func contentText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	plain := len(parts) == 1
	for _, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			b.WriteString(p.Text)
		default:
			plain = false
		}
	}
	return b.String(), plain
}

// requestJSON is the request body, in the order the reference sends it.
type requestJSON struct {
	Model             string        `json:"model"`
	Instructions      string        `json:"instructions"`
	Input             []any         `json:"input"`
	Tools             []toolJSON    `json:"tools"`
	ToolChoice        string        `json:"tool_choice"`
	ParallelToolCalls bool          `json:"parallel_tool_calls"`
	Reasoning         *Reasoning    `json:"reasoning,omitempty"`
	Store             bool          `json:"store"`
	Stream            bool          `json:"stream"`
	Include           []string      `json:"include,omitempty"`
	PromptCacheKey    string        `json:"prompt_cache_key,omitempty"`
	Text              *textFormatJS `json:"text,omitempty"`
}

type textFormatJS struct {
	Format struct {
		Type   string          `json:"type"`
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict bool            `json:"strict"`
	} `json:"format"`
}

// MarshalJSON encodes the request body, with "stream": true and
// "store": false. It fails on a missing model and on malformed items.
func (r Request) MarshalJSON() ([]byte, error) {
	if r.Model == "" {
		return nil, errors.New("responses: Request.Model is empty")
	}
	w := requestJSON{
		Model:             r.Model,
		Instructions:      r.Instructions,
		Input:             make([]any, 0, len(r.Input)),
		Tools:             make([]toolJSON, 0, len(r.Tools)),
		ToolChoice:        r.ToolChoice,
		ParallelToolCalls: r.ParallelToolCalls,
		Reasoning:         r.Reasoning,
		Stream:            true,
		Include:           r.Include,
		PromptCacheKey:    r.PromptCacheKey,
	}
	if w.ToolChoice == "" {
		w.ToolChoice = "auto"
	}
	for i, it := range r.Input {
		v, err := it.wire()
		if err != nil {
			return nil, fmt.Errorf("input[%d]: %w", i, err)
		}
		w.Input = append(w.Input, v)
	}
	for i, t := range r.Tools {
		if t.Name == "" {
			return nil, fmt.Errorf("responses: tools[%d] has no name", i)
		}
		w.Tools = append(w.Tools, t.wire())
	}
	if len(r.OutputSchema) > 0 {
		w.Text = new(textFormatJS)
		w.Text.Format.Type = "json_schema"
		w.Text.Format.Name = "codex_output_schema"
		w.Text.Format.Schema = r.OutputSchema
		w.Text.Format.Strict = true
	}
	return marshal(w)
}

// marshal encodes v without escaping <, > and & (the provider reads JSON,
// not HTML, and prompts are full of them).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
