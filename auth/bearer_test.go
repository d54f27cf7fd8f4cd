package auth_test

import (
	"strings"
	"testing"

	"github.com/appserver-go/appserver/auth"
)

// TestParseBearer covers the header forms of WEBSOCKET-AUTH.md's
// "Capability token" table and SECURITY.md cases 1-5.
func TestParseBearer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		values []string
		want   string
		err    error
	}{
		// Case 1: no Authorization at all (token only in the query,
		// Sec-WebSocket-Protocol or Proxy-Authorization is the transport's
		// business; here it means no values).
		{"case1 nil", nil, "", auth.ErrMissingToken},
		{"case1 empty slice", []string{}, "", auth.ErrMissingToken},
		// Case 2 and the reference's "invalid authorization header" row.
		{"case2 Basic", []string{"Basic dXNlcjpwYXNz"}, "", auth.ErrInvalidHeader},
		{"case2 Token scheme", []string{"Token x"}, "", auth.ErrInvalidHeader},
		{"case2 Bearer alone", []string{"Bearer"}, "", auth.ErrInvalidHeader},
		{"case2 Bearer blank", []string{"Bearer "}, "", auth.ErrInvalidHeader},
		{"case2 Bearer four blanks", []string{"Bearer    "}, "", auth.ErrInvalidHeader},
		{"case2 Bearer blanks and tabs", []string{"Bearer \t \t"}, "", auth.ErrInvalidHeader},
		{"Bearer TAB tok", []string{"Bearer\ttok"}, "", auth.ErrInvalidHeader},
		{"Bearer TAB SP tok", []string{"Bearer\t tok"}, "", auth.ErrInvalidHeader},
		{"BearerTOKEN", []string{"BearerTOKEN"}, "", auth.ErrInvalidHeader},
		{"Bearer colon", []string{"Bearer: tok"}, "", auth.ErrInvalidHeader},
		{"Bearers", []string{"Bearers tok"}, "", auth.ErrInvalidHeader},
		{"empty header", []string{""}, "", auth.ErrInvalidHeader},
		{"blank header", []string{"   "}, "", auth.ErrInvalidHeader},
		{"non-ASCII UTF-8 token", []string{"Bearer tök"}, "", auth.ErrInvalidHeader},
		{"Latin-1 byte", []string{"Bearer t\xe9k"}, "", auth.ErrInvalidHeader},
		{"Kelvin sign in scheme", []string{"Bearer\u212a tok"}, "", auth.ErrInvalidHeader},
		{"NUL", []string{"Bearer tok\x00"}, "", auth.ErrInvalidHeader},
		{"DEL", []string{"Bearer tok\x7f"}, "", auth.ErrInvalidHeader},
		{"CR LF", []string{"Bearer tok\r\n"}, "", auth.ErrInvalidHeader},
		{"LF injection", []string{"Bearer tok\nX-Evil: 1"}, "", auth.ErrInvalidHeader},
		// Case 3: the scheme is case-insensitive.
		{"case3 Bearer", []string{"Bearer TOKEN"}, "TOKEN", nil},
		{"case3 bearer", []string{"bearer TOKEN"}, "TOKEN", nil},
		{"case3 BEARER", []string{"BEARER TOKEN"}, "TOKEN", nil},
		{"case3 bEaReR", []string{"bEaReR TOKEN"}, "TOKEN", nil},
		{"two spaces", []string{"Bearer  TOKEN"}, "TOKEN", nil},
		{"surrounding blanks", []string{"  Bearer \t TOKEN \t "}, "TOKEN", nil},
		{"trailing tab", []string{"Bearer TOKEN\t"}, "TOKEN", nil},
		{"inner space kept", []string{"Bearer tok extra"}, "tok extra", nil},
		{"JWT", []string{"Bearer a.b.c"}, "a.b.c", nil},
		// Case 4: two Authorization headers are refused, whatever they hold.
		{"case4 valid then invalid", []string{"Bearer TOKEN", "Basic x"}, "", auth.ErrMultipleHeaders},
		{"case4 invalid then valid", []string{"Basic x", "Bearer TOKEN"}, "", auth.ErrMultipleHeaders},
		{"case4 same twice", []string{"Bearer TOKEN", "Bearer TOKEN"}, "", auth.ErrMultipleHeaders},
		{"case4 empty twice", []string{"", ""}, "", auth.ErrMultipleHeaders},
		// Case 5: 64 KiB of junk.
		{"case5 64KiB dots", []string{strings.Repeat(".", 64<<10)}, "", auth.ErrInvalidHeader},
		{"case5 Bearer 64KiB dots", []string{"Bearer " + strings.Repeat(".", 64<<10)}, strings.Repeat(".", 64<<10), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.ParseBearer(tt.values)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("token = %.40q, want %.40q", got, tt.want)
			}
		})
	}
}

// TestParseBearerAllocs pins case 5: rejecting or accepting a 64 KiB header
// allocates nothing, so junk headers cost one linear pass.
func TestParseBearerAllocs(t *testing.T) {
	junk := []string{strings.Repeat(".", 64<<10)}
	long := []string{"Bearer " + strings.Repeat("x", 64<<10) + " "}
	two := []string{"Bearer a", "Bearer b"}
	for _, v := range [][]string{junk, long, two, nil} {
		if n := testing.AllocsPerRun(20, func() { auth.ParseBearer(v) }); n != 0 {
			t.Errorf("ParseBearer(%.20q...) allocates %v times, want 0", v, n)
		}
	}
}
