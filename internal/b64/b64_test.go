package b64

import (
	"encoding/base64"
	"strings"
	"testing"
)

// Decoding agrees with encoding/base64 on valid input, and every input
// the strict decoder rejects gets a reference-style error.
func TestBase64Parity(t *testing.T) {
	for _, s := range []string{"", "YQ==", "YWI=", "YWJj", "aGVsbG8K", "////", "+/+/", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="} {
		got, msg := Decode(s)
		want, err := base64.StdEncoding.Strict().DecodeString(s)
		if msg != "" || err != nil || string(got) != string(want) {
			t.Errorf("Decode(%q) = %q %q; want %q %v", s, got, msg, want, err)
		}
		if e := base64Error(s); e != "" {
			t.Errorf("base64Error(%q) = %q for valid input", s, e)
		}
	}
	alphabet := "AZaz09+/=!\n"
	// Every string of length ≤ 5 over a small alphabet: both decoders agree
	// on validity.
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		if n == 0 {
			_, err := base64.StdEncoding.Strict().DecodeString(prefix)
			valid := err == nil && !strings.ContainsAny(prefix, "\n")
			if got := base64Error(prefix) == ""; got != valid {
				t.Errorf("%q: base64Error says valid=%v, encoding/base64 says %v", prefix, got, valid)
			}
			return
		}
		gen(prefix, 0)
		for i := 0; i < len(alphabet); i++ {
			gen(prefix+alphabet[i:i+1], n-1)
		}
	}
	gen("", 5)
}
