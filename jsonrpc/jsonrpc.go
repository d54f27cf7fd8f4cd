// Package jsonrpc holds the message types, error codes and codec of the
// app-server wire format: JSON-RPC 2.0 as the Codex app-server speaks it.
//
// The format differs from strict JSON-RPC 2.0 in ways clients rely on:
//
//   - no "jsonrpc" member is ever sent, and any value is accepted;
//   - ids are an int64 or a string and are echoed exactly; a null or
//     fractional id makes the message invalid (it gets no reply);
//   - unparseable input, batches and "id":null get no reply at all
//     (there is no -32700 answer);
//   - server notifications carry a top-level "emittedAtMs" (epoch ms).
//
// The package depends on the standard library only, so transport authors
// and clients can use it without linking a server.
package jsonrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Error codes used by the app-server. Unknown methods and bad params are
// answered with [CodeInvalidRequest], as the reference server does;
// [CodeMethodNotFound] and [CodeParseError] are defined for completeness and
// never sent.
const (
	CodeParseError       = -32700
	CodeInvalidRequest   = -32600
	CodeMethodNotFound   = -32601
	CodeInvalidParams    = -32602
	CodeInternalError    = -32603
	CodeServerOverloaded = -32001
)

// ID is a request id: an int64 or a string. The zero ID is "no id", which
// makes a request a notification.
type ID struct {
	str  string
	num  int64
	kind idKind
}

type idKind uint8

const (
	idNone idKind = iota
	idInt
	idString
)

// Int64ID returns the integer id n.
func Int64ID(n int64) ID { return ID{num: n, kind: idInt} }

// StringID returns the string id s.
func StringID(s string) ID { return ID{str: s, kind: idString} }

// IsValid reports whether id is set (an int or a string).
func (id ID) IsValid() bool { return id.kind != idNone }

// Int64 returns the integer value and whether id is an integer id.
func (id ID) Int64() (int64, bool) { return id.num, id.kind == idInt }

// Str returns the string value and whether id is a string id.
func (id ID) Str() (string, bool) { return id.str, id.kind == idString }

// String formats id for logs: integers bare, strings quoted.
func (id ID) String() string {
	switch id.kind {
	case idInt:
		return strconv.FormatInt(id.num, 10)
	case idString:
		return strconv.Quote(id.str)
	}
	return "<none>"
}

// AppendJSON appends the JSON encoding of id (null for the zero ID).
func (id ID) AppendJSON(dst []byte) []byte {
	switch id.kind {
	case idInt:
		return strconv.AppendInt(dst, id.num, 10)
	case idString:
		return AppendString(dst, id.str)
	}
	return append(dst, "null"...)
}

// MarshalJSON implements [json.Marshaler].
func (id ID) MarshalJSON() ([]byte, error) { return id.AppendJSON(nil), nil }

// UnmarshalJSON implements [json.Unmarshaler]. It accepts an integer that
// fits in int64 or a string; null, fractions, exponents and other types are
// errors.
func (id *ID) UnmarshalJSON(b []byte) error {
	v, err := parseID(b)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

var errBadID = errors.New("id must be an int64 or a string")

func parseID(b []byte) (ID, error) {
	if len(b) == 0 {
		return ID{}, errBadID
	}
	switch c := b[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return ID{}, errBadID
		}
		return StringID(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		// Only the integer syntax: 1.0 and 1e3 are numbers but not int64
		// in the reference's decoder, so they are refused here too.
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return ID{}, errBadID
		}
		return Int64ID(n), nil
	}
	return ID{}, errBadID
}

// Message is a decoded wire message: a *Request (a call or a notification)
// or a *Response.
type Message interface {
	isMessage()
}

// Request is a call (ID set) or a notification (ID zero).
type Request struct {
	ID     ID
	Method string
	// Params is the raw params value; nil when absent. A JSON null is kept
	// as the bytes "null" so handlers can tell absent from null if they
	// care; [IsNull] treats both alike.
	Params json.RawMessage
	// Trace is the optional W3C trace context object, passed through raw.
	Trace json.RawMessage
	// EmittedAtMs is the app-server notification timestamp (epoch
	// milliseconds). Encoders write it when non-zero.
	EmittedAtMs int64
}

// IsCall reports whether r expects a response.
func (r *Request) IsCall() bool { return r.ID.IsValid() }

func (*Request) isMessage() {}

// Response answers a call: exactly one of Result and Error is set.
type Response struct {
	ID     ID
	Result json.RawMessage
	Error  *Error
}

func (*Response) isMessage() {}

// Error is a JSON-RPC error object. It is also a Go error, and errors.Is
// compares codes, so errors.Is(err, &Error{Code: CodeServerOverloaded})
// holds for any overload answer however it was wrapped.
type Error struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// NewError returns an error with the given code and message.
func NewError(code int64, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf returns an error with the given code and a formatted message.
func Errorf(code int64, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	return "jsonrpc error " + strconv.FormatInt(e.Code, 10) + ": " + e.Message
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// AppendJSON appends the JSON encoding of e.
func (e *Error) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, e.Code, 10)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, e.Message)
	if len(e.Data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, e.Data...)
	}
	return append(dst, '}')
}

// ErrInvalidMessage is returned by [DecodeMessage] for input that is not
// one app-server message. The server drops such input without a reply.
var ErrInvalidMessage = errors.New("jsonrpc: invalid message")

// wireMessage is the union of all message shapes, used for decoding only.
type wireMessage struct {
	ID     json.RawMessage `json:"id"`
	Method *string         `json:"method"`
	Params json.RawMessage `json:"params"`
	Trace  json.RawMessage `json:"trace"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// DecodeMessage decodes one message. It fails (wrapping
// [ErrInvalidMessage]) on anything that is not exactly one JSON object of a
// known shape: malformed JSON, trailing data, arrays (batches), a null or
// fractional id, an object with neither method nor result nor error.
func DecodeMessage(data []byte) (Message, error) {
	// Skip leading blanks to look at the first byte cheaply.
	i := 0
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if i == len(data) {
		return nil, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	if data[i] != '{' {
		if data[i] == '[' {
			return nil, fmt.Errorf("%w: batches are not supported", ErrInvalidMessage)
		}
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidMessage)
	}
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	var id ID
	if w.ID != nil {
		var err error
		if id, err = parseID(w.ID); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
		}
	}
	switch {
	case w.Method != nil:
		// Like the reference, a method makes a request; stray members
		// such as "result" are ignored as unknown fields would be.
		return &Request{ID: id, Method: *w.Method, Params: w.Params, Trace: w.Trace}, nil
	case w.Result != nil || w.Error != nil:
		if !id.IsValid() {
			return nil, fmt.Errorf("%w: response without id", ErrInvalidMessage)
		}
		if w.Result != nil && w.Error != nil {
			return nil, fmt.Errorf("%w: both result and error", ErrInvalidMessage)
		}
		r := &Response{ID: id}
		if w.Error != nil {
			var e Error
			if err := json.Unmarshal(w.Error, &e); err != nil || IsNull(w.Error) {
				return nil, fmt.Errorf("%w: bad error object", ErrInvalidMessage)
			}
			r.Error = &e
		} else {
			r.Result = w.Result
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: no method, result or error", ErrInvalidMessage)
}

// EncodeMessage returns the wire encoding of m, without a "jsonrpc" member
// and without a trailing newline.
func EncodeMessage(m Message) ([]byte, error) {
	return AppendMessage(nil, m)
}

// AppendMessage appends the wire encoding of m to dst.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	switch m := m.(type) {
	case *Request:
		if m.Params != nil && !json.Valid(m.Params) {
			return dst, errors.New("jsonrpc: invalid params JSON")
		}
		dst = append(dst, '{')
		if m.ID.IsValid() {
			dst = append(dst, `"id":`...)
			dst = m.ID.AppendJSON(dst)
			dst = append(dst, ',')
		}
		dst = append(dst, `"method":`...)
		dst = AppendString(dst, m.Method)
		if m.Params != nil {
			dst = append(dst, `,"params":`...)
			dst = append(dst, m.Params...)
		}
		if m.EmittedAtMs != 0 {
			dst = append(dst, `,"emittedAtMs":`...)
			dst = strconv.AppendInt(dst, m.EmittedAtMs, 10)
		}
		return append(dst, '}'), nil
	case *Response:
		if !m.ID.IsValid() {
			return dst, errors.New("jsonrpc: response without id")
		}
		if m.Error != nil {
			return AppendError(dst, m.ID, m.Error), nil
		}
		if m.Result == nil {
			return AppendResult(dst, m.ID, []byte("null")), nil
		}
		if !json.Valid(m.Result) {
			return dst, errors.New("jsonrpc: invalid result JSON")
		}
		return AppendResult(dst, m.ID, m.Result), nil
	}
	return dst, fmt.Errorf("jsonrpc: unknown message type %T", m)
}

// AppendResult appends a success response. result must be valid JSON; it
// is not checked.
func AppendResult(dst []byte, id ID, result []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = id.AppendJSON(dst)
	dst = append(dst, `,"result":`...)
	dst = append(dst, result...)
	return append(dst, '}')
}

// AppendError appends an error response.
func AppendError(dst []byte, id ID, e *Error) []byte {
	dst = append(dst, `{"id":`...)
	dst = id.AppendJSON(dst)
	dst = append(dst, `,"error":`...)
	dst = e.AppendJSON(dst)
	return append(dst, '}')
}

// IsNull reports whether raw is absent or the JSON null.
func IsNull(raw json.RawMessage) bool {
	i := 0
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	if i == len(raw) {
		return true
	}
	rest := raw[i:]
	if len(rest) >= 4 && string(rest[:4]) == "null" {
		for _, c := range rest[4:] {
			if !isSpace(c) {
				return false
			}
		}
		return true
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
