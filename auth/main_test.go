package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/auth"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Fixtures shared by the tests. testSecret is 38 bytes of text, like a
// trimmed secret file.
var (
	testSecret = []byte("test-secret-0123456789abcdef-0123456789")
	t0         = time.Unix(1_700_000_000, 0).UTC() // the verifiers' "now"
	sentinels  = []error{
		auth.ErrMissingToken, auth.ErrInvalidHeader, auth.ErrMultipleHeaders,
		auth.ErrInvalidToken, auth.ErrInvalidJWT, auth.ErrExpiredJWT,
		auth.ErrJWTNotYetValid, auth.ErrIssuerMismatch, auth.ErrAudienceMismatch,
	}
)

const stdHeader = `{"alg":"HS256","typ":"JWT"}`

var b64 = base64.RawURLEncoding

// sign builds a compact JWS from raw header and payload JSON, MACed with key
// under newHash: the tests need tokens golang-jwt would never produce
// (duplicate keys, odd algs, exp as a string).
func sign(header, payload string, key []byte, newHash func() hash.Hash) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return input + "." + b64.EncodeToString(mac(newHash, key, input))
}

func mac(newHash func() hash.Hash, key []byte, input string) []byte {
	m := hmac.New(newHash, key)
	m.Write([]byte(input))
	return m.Sum(nil)
}

// hs256 signs payload under stdHeader with testSecret.
func hs256(payload string) string { return sign(stdHeader, payload, testSecret, sha256.New) }

// withHeader signs payload under header with testSecret.
func withHeader(header, payload string) string {
	return sign(header, payload, testSecret, sha256.New)
}

// checkErr fails t unless err is nil when want is nil, or else wraps want
// and no other sentinel, and PublicText gives want's text.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("err %v wraps %d sentinels, want 1", err, n)
	}
	if got := auth.PublicText(err); got != want.Error() {
		t.Errorf("PublicText = %q, want %q", got, want.Error())
	}
}

// replaceLast returns s with its last byte replaced by b.
func replaceLast(s string, b byte) string { return s[:len(s)-1] + string(b) }

func segments(tok string) []string { return strings.Split(tok, ".") }
