package appserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/appserver-go/appserver/jsonrpc"
)

// Handler answers one request. It returns the result (encoded with
// encoding/json; a json.RawMessage is sent as is) or an error: a
// *jsonrpc.Error is sent as is, anything else as -32603 with its text.
//
// Handlers run concurrently, each on its own goroutine; ctx is cancelled
// when the connection closes.
type Handler func(ctx context.Context, req *Request) (result any, err error)

// Method is one entry of the server's method table.
type Method struct {
	// Name is the JSON-RPC method name, such as "fs/readFile".
	Name string
	// Handler answers the method.
	Handler Handler
	// Experimental methods are refused on connections that did not ask
	// for the experimentalApi capability.
	Experimental bool
	// ParamsOptional lets params be absent or null. Otherwise a request
	// without params is refused with "missing field `params`", as the
	// reference does for methods whose params are a struct.
	ParamsOptional bool
	// ExperimentalFields names top-level params fields that only
	// experimentalApi connections may set (to anything but null).
	ExperimentalFields []string
}

// Request is a call as a handler sees it.
type Request struct {
	// Session is the connection the request came on.
	Session *Session
	// ID is the client's request id.
	ID jsonrpc.ID
	// Method is the method name.
	Method string
	// Params is the raw params value, nil when absent.
	Params json.RawMessage
}

// DecodeParams decodes the params into v. Failures come back as -32600
// "Invalid request: ..." errors ready to return from a handler. If v (or
// what it points to) has a Validate() error method, it is called after
// decoding and its error is reported the same way.
func (r *Request) DecodeParams(v any) error {
	return decodeParams(r.Params, v)
}

func decodeParams(raw json.RawMessage, v any) error {
	if !jsonrpc.IsNull(raw) {
		if err := json.Unmarshal(raw, v); err != nil {
			return InvalidRequest(describeJSONError(err))
		}
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			var werr *jsonrpc.Error
			if errors.As(err, &werr) {
				return werr
			}
			return InvalidRequest(err.Error())
		}
	}
	return nil
}

// Typed adapts a function taking decoded params to a Handler. P is decoded
// with [Request.DecodeParams]; R is the result.
func Typed[P, R any](fn func(ctx context.Context, s *Session, params P) (R, error)) Handler {
	return func(ctx context.Context, req *Request) (any, error) {
		var p P
		if err := req.DecodeParams(&p); err != nil {
			return nil, err
		}
		return fn(ctx, req.Session, p)
	}
}

// AfterReply wraps a handler's result so that then runs right after the
// answer has been queued, on the handler's goroutine: notifications then
// sends reach the client after the answer. turn/start uses it to answer
// with the turn before announcing turn/started, as the reference does.
func AfterReply(result any, then func()) any {
	return afterReply{result: result, then: then}
}

type afterReply struct {
	result any
	then   func()
}

// InvalidRequest returns the -32600 error "Invalid request: <detail>" that
// the reference sends for params it cannot use.
func InvalidRequest(detail string) *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "Invalid request: "+detail)
}

// MissingField returns the error for a required params field that is
// absent: "Invalid request: missing field `name`".
func MissingField(name string) *jsonrpc.Error {
	return InvalidRequest("missing field `" + name + "`")
}

// describeJSONError turns an encoding/json error into a short statement of
// what is wrong with the params.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		msg := "invalid type: " + te.Value + ", expected " + kindName(te.Type)
		if te.Field != "" {
			msg += " at `" + te.Field + "`"
		}
		return msg
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// maxEchoedName bounds how much of an unknown method name an error echoes.
const maxEchoedName = 128

// unknownMethod is the error for a method not in the table. Unlike the
// reference, it does not list every method (4 KB per answer, and the whole
// surface disclosed to anyone who asks); see docs/design.md.
func unknownMethod(name string) *jsonrpc.Error {
	if len(name) > maxEchoedName {
		n := maxEchoedName
		for n > 0 && !utf8.RuneStart(name[n]) {
			n--
		}
		name = name[:n] + "…"
	}
	return InvalidRequest("unknown variant `" + name + "`")
}

// checkExperimentalFields reports the first experimental field set in raw.
func checkExperimentalFields(method string, fields []string, raw json.RawMessage) error {
	if len(fields) == 0 || jsonrpc.IsNull(raw) {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil // not an object: the handler reports the type error
	}
	for _, f := range fields {
		if v, ok := m[f]; ok && !jsonrpc.IsNull(v) {
			return jsonrpc.NewError(jsonrpc.CodeInvalidRequest, fmt.Sprintf("%s.%s requires experimentalApi capability", method, f))
		}
	}
	return nil
}
