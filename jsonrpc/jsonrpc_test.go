package jsonrpc_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/appserver-go/appserver/jsonrpc"
)

func TestDecodeMessage(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // %#v-ish summary, or "invalid"
	}{
		{`{"id":1,"method":"fs/readFile","params":{"path":"/etc/hostname"}}`, `call 1 fs/readFile {"path":"/etc/hostname"}`},
		{`{"id":"initialize","method":"initialize","params":{}}`, `call "initialize" initialize {}`},
		{`{"id":-3,"method":"m"}`, `call -3 m `},
		{` {"method":"initialized"} `, `notify initialized `},
		{`{"jsonrpc":"1.0","method":"x","params":null}`, `notify x null`},
		{`{"id":1,"method":"x","result":5}`, `call 1 x `}, // stray members ignored
		{`{"id":1,"result":{"a":1}}`, `result 1 {"a":1}`},
		{`{"id":1,"result":null}`, `result 1 null`},
		{`{"error":{"code":-32000,"message":"no"},"id":"q"}`, `error "q" -32000 no`},
		{`{"id":9223372036854775807,"method":"m"}`, `call 9223372036854775807 m `},
		{`{"id":null,"method":"m"}`, `invalid`},
		{`{"id":1.5,"method":"m"}`, `invalid`},
		{`{"id":1.0,"method":"m"}`, `invalid`},
		{`{"id":1e3,"method":"m"}`, `invalid`},
		{`{"id":9223372036854775808,"method":"m"}`, `invalid`},
		{`{"id":true,"method":"m"}`, `invalid`},
		{`{"id":5}`, `invalid`},
		{`{}`, `invalid`},
		{`[{"id":1,"method":"m"}]`, `invalid`},
		{`"str"`, `invalid`},
		{``, `invalid`},
		{`{"id":1,"method":"m"}{"id":2,"method":"m"}`, `invalid`},
		{`{"id":1,"method":"m"`, `invalid`},
		{`{"id":1,"result":1,"error":{"code":1,"message":"x"}}`, `invalid`},
		{`{"result":1}`, `invalid`},
		{`{"id":1,"error":null}`, `invalid`},
		{`{"id":1,"error":"x"}`, `invalid`},
		{`{"method":5}`, `invalid`},
	} {
		m, err := jsonrpc.DecodeMessage([]byte(tt.in))
		got := summarize(m, err)
		if got != tt.want {
			t.Errorf("DecodeMessage(%s) = %s, want %s", tt.in, got, tt.want)
		}
		if err != nil && !errors.Is(err, jsonrpc.ErrInvalidMessage) {
			t.Errorf("DecodeMessage(%s) error %v does not wrap ErrInvalidMessage", tt.in, err)
		}
	}
}

func summarize(m jsonrpc.Message, err error) string {
	if err != nil {
		return "invalid"
	}
	switch m := m.(type) {
	case *jsonrpc.Request:
		if m.IsCall() {
			return fmt.Sprintf("call %v %s %s", m.ID, m.Method, m.Params)
		}
		return fmt.Sprintf("notify %s %s", m.Method, m.Params)
	case *jsonrpc.Response:
		if m.Error != nil {
			return fmt.Sprintf("error %v %d %s", m.ID, m.Error.Code, m.Error.Message)
		}
		return fmt.Sprintf("result %v %s", m.ID, m.Result)
	}
	return "?"
}

func TestEncodeMessage(t *testing.T) {
	for _, tt := range []struct {
		m    jsonrpc.Message
		want string
	}{
		{&jsonrpc.Request{ID: jsonrpc.Int64ID(0), Method: "item/x", Params: json.RawMessage(`{"a":1}`)}, `{"id":0,"method":"item/x","params":{"a":1}}`},
		{&jsonrpc.Request{Method: "fs/changed", Params: json.RawMessage(`{}`), EmittedAtMs: 1795861640536}, `{"method":"fs/changed","params":{},"emittedAtMs":1795861640536}`},
		{&jsonrpc.Request{Method: "n"}, `{"method":"n"}`},
		{&jsonrpc.Response{ID: jsonrpc.StringID("a\"b"), Result: json.RawMessage(`{"x":[1]}`)}, `{"id":"a\"b","result":{"x":[1]}}`},
		{&jsonrpc.Response{ID: jsonrpc.Int64ID(1)}, `{"id":1,"result":null}`},
		{&jsonrpc.Response{ID: jsonrpc.Int64ID(1), Error: &jsonrpc.Error{Code: -32600, Message: "Not initialized"}}, `{"id":1,"error":{"code":-32600,"message":"Not initialized"}}`},
		{&jsonrpc.Response{ID: jsonrpc.Int64ID(1), Error: &jsonrpc.Error{Code: -32600, Message: "m", Data: json.RawMessage(`{"config_write_error_code":"configVersionConflict"}`)}}, `{"id":1,"error":{"code":-32600,"message":"m","data":{"config_write_error_code":"configVersionConflict"}}}`},
	} {
		got, err := jsonrpc.EncodeMessage(tt.m)
		if err != nil || string(got) != tt.want {
			t.Errorf("EncodeMessage(%#v) = %s, %v; want %s", tt.m, got, err, tt.want)
		}
		back, err := jsonrpc.DecodeMessage(got)
		if err != nil {
			t.Errorf("round trip of %s: %v", got, err)
			continue
		}
		again, _ := jsonrpc.EncodeMessage(back)
		if tt.want != string(again) && !strings.Contains(tt.want, "emittedAtMs") {
			t.Errorf("round trip changed %s into %s", tt.want, again)
		}
	}
	if _, err := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: "m", Params: json.RawMessage(`{bad`)}); err == nil {
		t.Error("invalid params JSON was encoded")
	}
	if _, err := jsonrpc.EncodeMessage(&jsonrpc.Response{Result: json.RawMessage(`1`)}); err == nil {
		t.Error("a response without id was encoded")
	}
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", jsonrpc.NewError(jsonrpc.CodeServerOverloaded, "Server overloaded; retry later."))
	if !errors.Is(err, &jsonrpc.Error{Code: jsonrpc.CodeServerOverloaded}) {
		t.Error("errors.Is does not match by code")
	}
	if errors.Is(err, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest}) {
		t.Error("errors.Is matched a different code")
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n cr\r tab\t", "\x00\x01\x1f\x7f", "é漢字🙂", "bad\xffutf8\xc3", "<>&", "\u2028\u2029"} {
		got := jsonrpc.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("AppendString(%q) = %s is not JSON: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("AppendString(%q) decodes to %q, want %q", s, back, want)
		}
	}
}

// FuzzDecodeMessage checks that decoding never panics, that whatever
// decodes re-encodes to valid JSON that decodes to the same message, and
// that strings survive AppendString.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"method":"fs/readFile","params":{"path":"/etc/hostname"}}`,
		`{"id":"x","result":{"a":[1,2,{"b":null}]}}`,
		`{"error":{"code":-32600,"message":"Not initialized","data":{"k":1}},"id":1}`,
		`{"method":"initialized"}`, `[1]`, `{"id":null}`, `{"id":1.5,"method":"m"}`,
		"{\"id\":\"\\ud800\",\"method\":\"\\u0000\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := jsonrpc.DecodeMessage(data)
		if err != nil {
			return
		}
		out, err := jsonrpc.EncodeMessage(m)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
		if !json.Valid(out) {
			t.Fatalf("encoding of %q is not valid JSON: %q", data, out)
		}
		m2, err := jsonrpc.DecodeMessage(out)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", out, err)
		}
		if summarize(m, nil) != summarize(m2, nil) && utf8.Valid(data) {
			t.Fatalf("round trip changed %s into %s", summarize(m, nil), summarize(m2, nil))
		}
	})
}
