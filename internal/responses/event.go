package responses

import (
	"encoding/json"
	"errors"
	"strings"
)

// Event is one thing [Stream.Next] reports. It is one of [Created],
// [ItemAdded], [TextDelta], [ArgumentsDelta], [ReasoningSummaryDelta],
// [ReasoningTextDelta], [ItemDone], and the terminal events [Completed],
// [Failed] and [Incomplete]. Switch on the concrete type.
type Event interface{ event() }

// Created reports response.created: the provider accepted the request.
type Created struct{ ResponseID string }

// ItemAdded reports response.output_item.added: the model started an output
// item (a message, a function call, reasoning…). Its text or arguments are
// usually still empty; deltas follow, then [ItemDone].
type ItemAdded struct{ Item OutputItem }

// TextDelta reports response.output_text.delta: more text of the message
// item ItemID.
type TextDelta struct{ ItemID, Delta string }

// ArgumentsDelta reports response.function_call_arguments.delta: more of the
// arguments of the function call item ItemID.
type ArgumentsDelta struct{ ItemID, Delta string }

// ReasoningSummaryDelta reports response.reasoning_summary_text.delta: more
// of summary part SummaryIndex of the reasoning item ItemID.
type ReasoningSummaryDelta struct {
	ItemID       string
	SummaryIndex int
	Delta        string
}

// ReasoningTextDelta reports response.reasoning_text.delta: more raw
// reasoning of content part ContentIndex of the reasoning item ItemID.
type ReasoningTextDelta struct {
	ItemID       string
	ContentIndex int
	Delta        string
}

// ItemDone reports response.output_item.done: the item is complete. For a
// message, Item.Text is the whole text; for a function call, Item.Arguments
// are the whole arguments (the stream fills both from the deltas when the
// provider leaves them out of the done item).
type ItemDone struct{ Item OutputItem }

// Completed reports response.completed, the successful end of a response.
type Completed struct {
	ResponseID string
	Usage      Usage
}

// Failed reports response.failed or an error event: the provider gave up on
// the response. It is also an error, so an agent loop may return it; see
// [Retryable] for which codes are worth another attempt.
type Failed struct {
	ResponseID string
	Code       string // e.g. "server_error", "rate_limit_exceeded", "context_length_exceeded"
	Message    string
}

// Incomplete reports response.incomplete: the response ended early, for
// Reason ("max_output_tokens", "content_filter", …). Items done so far are
// valid.
type Incomplete struct {
	ResponseID string
	Reason     string
	Usage      Usage
}

func (Created) event()               {}
func (ItemAdded) event()             {}
func (TextDelta) event()             {}
func (ArgumentsDelta) event()        {}
func (ReasoningSummaryDelta) event() {}
func (ReasoningTextDelta) event()    {}
func (ItemDone) event()              {}
func (Completed) event()             {}
func (Failed) event()                {}
func (Incomplete) event()            {}

func (f Failed) Error() string {
	msg := f.Message
	if msg == "" {
		msg = "response failed"
	}
	if f.Code != "" {
		return "responses: " + f.Code + ": " + msg
	}
	return "responses: " + msg
}

// Usage is the token accounting of one response, flattened.
type Usage struct {
	InputTokens           int64 // input_tokens
	CachedInputTokens     int64 // input_tokens_details.cached_tokens
	OutputTokens          int64 // output_tokens
	ReasoningOutputTokens int64 // output_tokens_details.reasoning_tokens
	TotalTokens           int64 // total_tokens
}

// OutputItem is an item of the model's output.
type OutputItem struct {
	Type   string // TypeMessage, TypeFunctionCall, TypeReasoning, or another
	ID     string // the provider's item id (msg_…, fc_…, rs_…)
	Status string // "in_progress", "completed", "incomplete"
	Role   string // message: "assistant"
	// Text is, for a message, its output_text parts concatenated (a refusal
	// counts as text); for reasoning, its summary parts joined by a blank
	// line.
	Text      string
	CallID    string // function_call
	Name      string // function_call
	Arguments string // function_call: a JSON object, as text
	// Raw is the item exactly as the provider sent it.
	Raw json.RawMessage
}

// Input returns the item as it goes back to the provider in the next
// request's input: an assistant message, a function call, or, for other
// types (reasoning, …), the provider's JSON without its "id" (items are not
// stored with store=false, so ids must not be referenced).
func (o OutputItem) Input() Item {
	switch o.Type {
	case TypeMessage:
		return AssistantText(o.Text)
	case TypeFunctionCall:
		return FunctionCall(o.CallID, o.Name, o.Arguments)
	}
	it := Item{Type: o.Type}
	var m map[string]json.RawMessage
	if json.Unmarshal(o.Raw, &m) == nil {
		delete(m, "id")
		if b, err := marshal(m); err == nil {
			it.raw = string(b)
		}
	}
	return it
}

// ErrMalformedEvent is returned when an event this package knows does not
// have the documented shape (a delta that is not a string, an item that is
// not an object…). Events whose data is not JSON at all ("[DONE]",
// keep-alives) and events of unknown types are skipped instead.
var ErrMalformedEvent = errors.New("responses: malformed event")

// wireEvent holds the fields of every event this package decodes.
type wireEvent struct {
	Type         string          `json:"type"`
	ItemID       string          `json:"item_id"`
	Delta        string          `json:"delta"`
	SummaryIndex int             `json:"summary_index"`
	ContentIndex int             `json:"content_index"`
	Item         json.RawMessage `json:"item"`
	Response     *wireResponse   `json:"response"`
	// error events: {"type":"error","code","message"} or {"error":{…}}
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Error   *wireError      `json:"error"`
}

type wireResponse struct {
	ID                string      `json:"id"`
	Usage             wireUsage   `json:"usage"`
	Error             *wireError  `json:"error"`
	IncompleteDetails *wireReason `json:"incomplete_details"`
}

type wireError struct {
	Code    json.RawMessage `json:"code"`
	Type    string          `json:"type"`
	Message string          `json:"message"`
}

type wireReason struct {
	Reason string `json:"reason"`
}

type wireUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

func (u wireUsage) usage() Usage {
	return Usage{
		InputTokens:           u.InputTokens,
		CachedInputTokens:     u.InputTokensDetails.CachedTokens,
		OutputTokens:          u.OutputTokens,
		ReasoningOutputTokens: u.OutputTokensDetails.ReasoningTokens,
		TotalTokens:           u.TotalTokens,
	}
}

type wirePart struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Refusal string `json:"refusal"`
}

type wireItem struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Summary   []wirePart      `json:"summary"`
}

// decodeItem decodes an output item. hasText reports whether a message had
// text parts, hasArgs whether a function call had non-empty arguments.
func decodeItem(raw json.RawMessage) (it OutputItem, hasText, hasArgs bool, err error) {
	var w wireItem
	if err := json.Unmarshal(raw, &w); err != nil {
		return OutputItem{}, false, false, err
	}
	it = OutputItem{
		Type: w.Type, ID: w.ID, Status: w.Status, Role: w.Role,
		CallID: w.CallID, Name: w.Name, Raw: raw,
	}
	switch w.Type {
	case TypeMessage:
		var parts []wirePart
		if len(w.Content) > 0 && json.Unmarshal(w.Content, &parts) != nil {
			var s string
			if err := json.Unmarshal(w.Content, &s); err != nil {
				return OutputItem{}, false, false, err
			}
			parts = []wirePart{{Type: "output_text", Text: s}}
		}
		var b strings.Builder
		for _, p := range parts {
			switch p.Type {
			case "output_text", "text", "input_text":
				b.WriteString(p.Text)
				hasText = true
			case "refusal":
				b.WriteString(p.Refusal)
				hasText = true
			}
		}
		it.Text = b.String()
	case TypeFunctionCall:
		it.Arguments = looseString(w.Arguments)
		hasArgs = it.Arguments != ""
	case TypeReasoning:
		texts := make([]string, 0, len(w.Summary))
		for _, p := range w.Summary {
			texts = append(texts, p.Text)
		}
		it.Text = strings.Join(texts, "\n\n")
	}
	return it, hasText, hasArgs, nil
}

// looseString returns a JSON string's value, or other JSON (a number, an
// object) as its text; null and absent are "".
func looseString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// failure builds a Failed from an error event or a failed response.
func failure(w *wireEvent) Failed {
	f := Failed{Code: looseString(w.Code), Message: w.Message}
	e := w.Error
	if w.Response != nil {
		f.ResponseID = w.Response.ID
		if w.Response.Error != nil {
			e = w.Response.Error
		}
	}
	if e != nil {
		if c := looseString(e.Code); c != "" {
			f.Code = c
		} else if f.Code == "" {
			f.Code = e.Type
		}
		if e.Message != "" {
			f.Message = e.Message
		}
	}
	return f
}
