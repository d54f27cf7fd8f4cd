package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestScanMessage(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name string
		in   string
		want scanned
	}{
		{"result id first", `{"id":7,"result":{"a":[1,2,{"b":"}"}]}}`, scanned{kindResult, 7, 0}},
		{"result id last", `{"result":null,"id":12}`, scanned{kindResult, 12, 0}},
		{"error first", `{"error":{"code":-32600,"message":"Invalid request: unknown variant"},"id":3}`, scanned{kindError, 3, -32600}},
		{"error id first", `{"id":4,"error":{"message":"Server overloaded; retry later.","code":-32001}}`, scanned{kindError, 4, -32001}},
		{"error with data", `{"error":{"code":-32600,"data":{"code":5,"x":"}]"},"message":"m"},"id":9}`, scanned{kindError, 9, -32600}},
		{"long message", `{"error":{"code":-32600,"message":"` + long + `"},"id":1}`, scanned{kindError, 1, -32600}},
		{"escaped quotes", `{"error":{"message":"a \"quoted\" \\\\ \\\" id\":5","code":-1},"id":2}`, scanned{kindError, 2, -1}},
		{"whitespace", " {\n \"id\" : 5 ,\t\"result\" : { } }\n", scanned{kindResult, 5, 0}},
		{"negative id", `{"id":-3,"result":1}`, scanned{kindResult, -3, 0}},
		{"big id", `{"id":9223372036854775807,"result":1}`, scanned{kindResult, 9223372036854775807, 0}},
		{"min id", `{"id":-9223372036854775808,"result":1}`, scanned{kindResult, -9223372036854775808, 0}},
		{"overflow id", `{"id":9223372036854775808,"result":1}`, scanned{}},
		{"string id", `{"id":"x","result":1}`, scanned{}},
		{"fraction id", `{"id":1.5,"result":1}`, scanned{}},
		{"null id", `{"id":null,"result":1}`, scanned{}},
		{"notification", `{"method":"configWarning","params":{"summary":"x"},"emittedAtMs":1}`, scanned{Kind: kindServer}},
		{"server request", `{"method":"item/commandExecution/requestApproval","id":0,"params":{}}`, scanned{kindServer, 0, 0}},
		{"no id", `{"result":1}`, scanned{}},
		{"neither", `{"id":1}`, scanned{}},
		{"error without code", `{"error":{"message":"m"},"id":1}`, scanned{kindError, 1, codeMissing}},
		{"error not object", `{"error":"boom","id":1}`, scanned{}},
		{"error null with result", `{"error":null,"result":true,"id":1}`, scanned{kindResult, 1, 0}},
		{"escaped key", `{"\u0069d":6,"result":0}`, scanned{kindResult, 6, 0}},
		{"duplicate id last wins", `{"id":1,"id":2,"result":0}`, scanned{kindResult, 2, 0}},
		{"array", `[{"id":1,"result":0}]`, scanned{}},
		{"empty", ``, scanned{}},
		{"truncated", `{"id":1,"result":{"a":`, scanned{}},
		{"unterminated string", `{"error":{"message":"abc`, scanned{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanMessage([]byte(tc.in))
			if got.Kind != tc.want.Kind || (got.Kind != kindServer && got.Kind != kindInvalid && (got.ID != tc.want.ID || got.Code != tc.want.Code)) {
				t.Errorf("scanMessage(%.80q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if tc.in != "" && json.Valid([]byte(tc.in)) {
				if want, ok := oracle([]byte(tc.in)); ok && !sameScan(got, want) {
					t.Errorf("oracle disagrees: %+v vs %+v", want, got)
				}
			}
		})
	}
}

func TestScanMessageNoAllocs(t *testing.T) {
	msg := []byte(`{"error":{"code":-32600,"message":"Invalid request: unknown variant ` + "`bench/unknown`" + `"},"id":123456}`)
	if n := testing.AllocsPerRun(100, func() { scanMessage(msg) }); n != 0 {
		t.Errorf("scanMessage allocates %v times per call", n)
	}
}

// oracle decodes b with encoding/json and applies the same rules as
// scanMessage. ok is false when b is not valid JSON.
func oracle(b []byte) (scanned, bool) {
	if !json.Valid(b) {
		return scanned{}, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return scanned{}, true // valid JSON but not an object
	}
	if _, ok := m["method"]; ok {
		return scanned{Kind: kindServer}, true
	}
	raw, ok := m["id"]
	if !ok {
		return scanned{}, true
	}
	id, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return scanned{}, true
	}
	if e := m["error"]; len(e) > 0 && e[0] == '{' {
		var em map[string]json.RawMessage
		_ = json.Unmarshal(e, &em)
		code := int64(codeMissing)
		if c, ok := em["code"]; ok {
			if v, err := strconv.ParseInt(string(c), 10, 64); err == nil {
				code = v
			}
		}
		return scanned{kindError, id, code}, true
	}
	if _, ok := m["result"]; ok {
		return scanned{kindResult, id, 0}, true
	}
	return scanned{}, true
}

func sameScan(a, b scanned) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case kindResult:
		return a.ID == b.ID
	case kindError:
		return a.ID == b.ID && a.Code == b.Code
	}
	return true
}

func FuzzScanMessage(f *testing.F) {
	for _, s := range []string{
		`{"id":7,"result":{"a":[1,2,{"b":"}"}]}}`,
		`{"error":{"code":-32600,"message":"Invalid request"},"id":3}`,
		`{"id":4,"error":{"message":"Server overloaded; retry later.","code":-32001}}`,
		`{"method":"remoteControl/status/changed","params":{"status":"disabled"},"emittedAtMs":1}`,
		`{"error":{"message":"a \"q\" \\","code":-1,"code":2},"id":2,"id":"x"}`,
		`{"\u0065rror":{"c\u006fde":5},"id":0}`,
		`[1,2]`, `null`, `"str"`, `{}`, `{"id":-0,"result":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := scanMessage(b) // must not panic or hang on anything
		if want, ok := oracle(b); ok && !sameScan(got, want) {
			t.Fatalf("scanMessage(%q) = %+v, encoding/json says %+v", b, got, want)
		}
	})
}
