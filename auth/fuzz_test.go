package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/auth"
)

// FuzzParseBearer checks that ParseBearer never panics, returns one of its
// three sentinels, and that any token it returns is a trimmed, non-empty
// piece of the header after a case-insensitive "Bearer ".
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer    ", "Bearer\ttok", "BearerTOKEN", "Basic dXNlcjpwYXNz",
		"Token x", "Bearer TOKEN", "bearer TOKEN", "BEARER TOKEN", "Bearer  TOKEN", "  Bearer TOKEN \t",
		"Bearer tok extra", "Bearer tök", "Bearer t\xe9k", "Bearer tok\r\n", "Bearer\u212a tok",
		"Bearer " + strings.Repeat(".", 1024), hs256(goodPL),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := auth.ParseBearer([]string{v})
		if err != nil {
			if tok != "" {
				t.Fatalf("error %v with token %q", err, tok)
			}
			if !errors.Is(err, auth.ErrInvalidHeader) {
				t.Fatalf("one header gave %v", err)
			}
		} else {
			if tok == "" || strings.Trim(tok, " \t") != tok || !strings.Contains(v, tok) {
				t.Fatalf("ParseBearer(%q) = %q", v, tok)
			}
			rest := strings.TrimLeft(v, " \t")
			if len(rest) < 7 || !strings.EqualFold(rest[:7], "bearer ") {
				t.Fatalf("ParseBearer(%q) accepted a non-Bearer scheme", v)
			}
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < 0x20 || c > 0x7e) && c != '\t' {
					t.Fatalf("ParseBearer(%q) accepted byte %#x", v, c)
				}
			}
		}
		if _, err := auth.ParseBearer([]string{v, v}); !errors.Is(err, auth.ErrMultipleHeaders) {
			t.Fatalf("two headers gave %v", err)
		}
	})
}

// FuzzJWTVerify checks that Verify never panics and returns exactly one
// sentinel, on raw tokens and on fuzzed header and payload JSON that is
// correctly signed (so the claim parser and duplicate-key walk see hostile
// input behind a good signature). A raw token that verifies must carry a
// genuine HS256 MAC under the key.
func FuzzJWTVerify(f *testing.F) {
	for _, c := range jwtCases() {
		h, p := stdHeader, goodPL
		if s := segments(c.token); len(s) == 3 {
			if b, err := b64.DecodeString(s[0]); err == nil {
				h = string(b)
			}
			if b, err := b64.DecodeString(s[1]); err == nil {
				p = string(b)
			}
		}
		if len(c.token) > 4096 || len(p) > 4096 {
			continue // keep the corpus small; the 100 KB and 64 KiB rows add nothing here
		}
		f.Add(c.token, []byte(h), []byte(p))
	}
	v := newJWTVerifier(f, auth.JWTOptions{ClockSkew: 30 * time.Second, Issuer: "issuer", Audience: "app", MaxLifetime: 1000 * time.Hour})
	f.Fuzz(func(t *testing.T, token string, header, payload []byte) {
		_, err := v.Verify(token)
		oneSentinel(t, err)
		if err == nil {
			s := segments(token)
			sig, derr := b64.DecodeString(s[2])
			if derr != nil || !hmac.Equal(sig, mac(sha256.New, testSecret, s[0]+"."+s[1])) {
				t.Fatalf("Verify accepted %q without a genuine MAC", token)
			}
			hb, _ := b64.DecodeString(s[0])
			checkAccepted(t, hb, nil)
		}

		signed := sign(string(header), string(payload), testSecret, sha256.New)
		p, err := v.Verify(signed)
		oneSentinel(t, err)
		if err == nil {
			checkAccepted(t, header, payload)
			if !p.ExpiresAt.Add(30 * time.Second).After(t0) {
				t.Fatalf("accepted an expired token: exp %v", p.ExpiresAt)
			}
		}
	})
}

func oneSentinel(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d sentinels", err, n)
	}
}

// checkAccepted checks what any accepted token's JSON must satisfy.
func checkAccepted(t *testing.T, header, payload []byte) {
	t.Helper()
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil || h["alg"] != "HS256" {
		t.Fatalf("accepted header %q", header)
	}
	if _, ok := h["crit"]; ok {
		t.Fatalf("accepted crit in %q", header)
	}
	if payload == nil {
		return
	}
	var p map[string]any
	d := json.NewDecoder(strings.NewReader(string(payload)))
	d.UseNumber()
	if err := d.Decode(&p); err != nil {
		t.Fatalf("accepted payload %q: %v", payload, err)
	}
	if _, ok := p["exp"].(json.Number); !ok {
		t.Fatalf("accepted payload without numeric exp: %q", payload)
	}
	if p["iss"] != "issuer" {
		t.Fatalf("accepted wrong issuer: %q", payload)
	}
}
