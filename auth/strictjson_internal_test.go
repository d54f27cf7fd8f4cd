package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// oracleKeys is an independent implementation of walkObject on top of
// json.Decoder.Token (the straightforward way, and slower): it returns the
// top-level keys of the object in b, or an error for anything walkObject
// must refuse.
func oracleKeys(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errNotObject
	}
	var keys []string
	if err := oracleObject(dec, 1, func(k string) { keys = append(keys, k) }); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errJSONSyntax
	}
	return keys, nil
}

func oracleObject(dec *json.Decoder, depth int, onKey func(string)) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k := tok.(string)
		if seen[k] {
			return errDuplicateKey
		}
		seen[k] = true
		onKey(k)
		if err := oracleValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

func oracleValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxJSONDepth {
		return errJSONDepth
	}
	if d == '{' {
		return oracleObject(dec, depth+1, func(string) {})
	}
	for dec.More() {
		if err := oracleValue(dec, depth+1); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

func walkKeys(b []byte) ([]string, error) {
	var keys []string
	err := walkObject(b, func(k string, raw []byte) error {
		if !json.Valid(raw) {
			return errors.New("raw value is not one JSON value")
		}
		keys = append(keys, k)
		return nil
	})
	return keys, err
}

var walkSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":1,"b":2}}`,
	`{"a":[{"b":1},{"b":1,"b":2}]}`, `{"a":{"b":1},"c":{"b":1}}`, `{"a\ud800":1,"a\udc00":2}`,
	"{\"a\xff\":1,\"a\xfe\":2}", `{"a":"x\"y","b":"\\"}`, `{"a":-1.5e+10,"b":true,"c":null,"d":false}`,
	`[1]`, `"x"`, `null`, ``, `{`, `{"a":1}}`, `{"a":1} {}`, `{"a" 1}`, `{"a":1,}`, `{,}`,
	`{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`,
	`{"a":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`,
	`{"a":` + strings.Repeat(`{"b":`, maxJSONDepth) + `1` + strings.Repeat("}", maxJSONDepth) + `}`,
	`{"exp":1,"aud":["a","b"],"iss":"x"}`, "{\"a\":1\n,\t\"b\"\r:2}",
}

func TestWalkObjectMatchesOracle(t *testing.T) {
	for _, s := range walkSeeds {
		compareWalk(t, []byte(s))
	}
}

func TestWalkObjectDepth(t *testing.T) {
	ok := `{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`
	if _, err := walkKeys([]byte(ok)); err != nil {
		t.Errorf("depth %d refused: %v", maxJSONDepth, err)
	}
	deep := `{"a":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`
	if _, err := walkKeys([]byte(deep)); err == nil {
		t.Error("100000 levels accepted")
	}
}

// FuzzWalkObject cross-checks the fast walker against the Decoder-based
// oracle: they must accept the same inputs and report the same keys.
func FuzzWalkObject(f *testing.F) {
	for _, s := range walkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(compareWalk)
}

func compareWalk(t *testing.T, b []byte) {
	got, gerr := walkKeys(b)
	want, werr := oracleKeys(b)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("walkObject(%q) err = %v, oracle err = %v", b, gerr, werr)
	}
	if gerr == nil && !slices.Equal(got, want) {
		t.Fatalf("walkObject(%q) keys = %q, oracle %q", b, got, want)
	}
	if gerr != nil && errors.Is(werr, errDuplicateKey) != errors.Is(gerr, errDuplicateKey) && !errors.Is(gerr, errJSONDepth) && !errors.Is(werr, errJSONDepth) {
		t.Logf("walkObject(%q): %v; oracle: %v", b, gerr, werr)
	}
}

// TestParseNumericDate pins the NumericDate rules that the external table
// reaches only through signed tokens.
func TestParseNumericDate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		sec  int64
		nsec int
		ok   bool
	}{
		{"0", 0, 0, true},
		{"-0", 0, 0, true},
		{"1700000000", 1700000000, 0, true},
		{"1700000000.25", 1700000000, 250000000, true},
		{"1.5e0", 1, 500000000, true},
		{"-1.5", -2, 500000000, true},
		{"4611686018427387904", 1 << 62, 0, true},
		{"9223372036854775807", 1 << 62, 0, true}, // clamped
		{"-9223372036854775808", -(1 << 62), 0, true},
		{"9223372036854775808", 0, 0, false},
		{"9.3e18", 0, 0, false},
		{"-9.3e18", 0, 0, false},
		{"1e400", 0, 0, false},
		{"1e-400", 0, 0, true}, // underflows to 0, which is finite
	} {
		d, err := parseNumericDate(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.in, err)
			continue
		}
		if err == nil && (d.Unix() != tt.sec || d.Nanosecond() != tt.nsec) {
			t.Errorf("%s = %d.%09d, want %d.%09d", tt.in, d.Unix(), d.Nanosecond(), tt.sec, tt.nsec)
		}
	}
}
