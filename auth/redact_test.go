package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/auth"
)

// TestNoSecretInOutput is case 34: every exported type, and structs that
// hold them in exported and unexported fields, formatted with every verb,
// logged through slog's text and JSON handlers and marshalled to JSON, must
// not contain the secret, the capability token or the digest beyond the
// fingerprint, in any common encoding.
func TestNoSecretInOutput(t *testing.T) {
	secret := string(testSecret)
	jv, err := auth.NewJWTVerifier(testSecret, auth.JWTOptions{Issuer: "issuer", Audience: "app", ClockSkew: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := auth.NewCapabilityToken(capToken)
	if err != nil {
		t.Fatal(err)
	}
	dv, err := auth.NewCapabilityDigest(capDigest(capToken))
	if err != nil {
		t.Fatal(err)
	}
	p, err := jv.Verify(hs256(`{"exp":4000000000,"iss":"issuer","aud":"app","sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := cv.Verify(capToken)
	s := auth.MakeSecret(testSecret)
	type config struct {
		Secret  auth.Secret
		JWT     *auth.JWTVerifier
		Cap     *auth.CapabilityVerifier
		secret  auth.Secret // unexported: fmt cannot call its methods
		jwt     auth.JWTVerifier
		capV    auth.CapabilityVerifier
		digestV *auth.CapabilityVerifier
	}
	cfg := config{s, jv, cv, s, *jv, *cv, dv}
	_ = cfg.secret // fields are read by fmt via reflection

	digest := sha256.Sum256([]byte(capToken))
	var forbidden []string
	for _, b := range [][]byte{testSecret, []byte(capToken), digest[:]} {
		forbidden = append(forbidden,
			hex.EncodeToString(b[6:]), strings.ToUpper(hex.EncodeToString(b[6:])),
			base64.StdEncoding.EncodeToString(b)[8:], base64.RawURLEncoding.EncodeToString(b)[8:],
			strings.Trim(fmt.Sprint(b[6:]), "[]"),
		)
	}
	forbidden = append(forbidden, secret, capToken, fmt.Sprintf("%q", secret))

	values := map[string]any{
		"Secret": s, "*Secret": &s, "JWTVerifier": *jv, "*JWTVerifier": jv,
		"CapabilityVerifier": *cv, "*CapabilityVerifier": cv, "digest verifier": dv,
		"Principal": p, "capability Principal": cp, "config": cfg, "*config": &cfg,
	}
	check := func(what, out string) {
		t.Helper()
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("%s leaks %q in %q", what, f, out)
			}
		}
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%c", "%U", "%e", "%t", "%p", "%T", "%10.3v", "%-#v", "% x"} {
			check(name+" "+verb, fmt.Sprintf(verb, v))
		}
		check(name+" Sprint", fmt.Sprint(v))
		check(name+" Sprintln", fmt.Sprintln(v))
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		check(name+" slog", buf.String())
		if j, err := json.Marshal(v); err == nil {
			check(name+" json", string(j))
		}
	}
	// And the expected renderings.
	for _, tt := range []struct{ got, want string }{
		{fmt.Sprintf("%x", s), "REDACTED"},
		{fmt.Sprintf("%#v", s), "REDACTED"},
		{mustJSON(t, s), `"REDACTED"`},
		{fmt.Sprint(cv), "auth.CapabilityVerifier{" + cp.Fingerprint + "}"},
		{fmt.Sprintf("%d", jv), `auth.JWTVerifier{alg: HS256, issuer: "issuer", audience: "app", clock skew: 30s, max lifetime: 0s}`},
	} {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrincipalLogValue(t *testing.T) {
	p := auth.Principal{Mode: auth.ModeSignedBearerToken, Subject: "alice", ID: "j1", ExpiresAt: time.Unix(1700003600, 0).UTC()}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})).Info("upgrade", "principal", p)
	want := "level=INFO msg=upgrade principal.mode=signed-bearer-token principal.subject=alice principal.id=j1 principal.expires_at=2023-11-14T23:13:20.000Z\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

func TestContext(t *testing.T) {
	ctx := t.Context()
	if _, ok := auth.FromContext(ctx); ok {
		t.Error("empty context has a Principal")
	}
	p := auth.Principal{Mode: auth.ModeCapabilityToken, Fingerprint: "sha256:0123456789ab"}
	got, ok := auth.FromContext(auth.NewContext(ctx, p))
	if !ok || got != p {
		t.Errorf("FromContext = %+v, %v", got, ok)
	}
}

func TestPublicText(t *testing.T) {
	for _, s := range sentinels {
		if got := auth.PublicText(fmt.Errorf("ctx: %w", s)); got != s.Error() {
			t.Errorf("PublicText(wrapped %v) = %q", s, got)
		}
	}
	if got := auth.PublicText(nil); got != "" {
		t.Errorf("PublicText(nil) = %q", got)
	}
	if got := auth.PublicText(fmt.Errorf("open /etc/secret: permission denied")); got != "unauthorized" {
		t.Errorf("PublicText(foreign) = %q", got)
	}
	// The exact reference texts.
	for _, tt := range []struct {
		err  error
		want string
	}{
		{auth.ErrMissingToken, "missing websocket bearer token"},
		{auth.ErrInvalidHeader, "invalid authorization header"},
		{auth.ErrMultipleHeaders, "multiple authorization headers"},
		{auth.ErrInvalidToken, "invalid websocket bearer token"},
		{auth.ErrInvalidJWT, "invalid websocket jwt"},
		{auth.ErrExpiredJWT, "expired websocket jwt"},
		{auth.ErrJWTNotYetValid, "websocket jwt is not valid yet"},
		{auth.ErrIssuerMismatch, "websocket jwt issuer mismatch"},
		{auth.ErrAudienceMismatch, "websocket jwt audience mismatch"},
	} {
		if tt.err.Error() != tt.want {
			t.Errorf("%q, want %q", tt.err, tt.want)
		}
	}
}

func TestSecretBytes(t *testing.T) {
	b := append([]byte{}, testSecret...)
	s := auth.MakeSecret(b)
	clear(b)
	got := s.Bytes()
	if !bytes.Equal(got, testSecret) {
		t.Fatalf("Bytes = %q", got)
	}
	clear(got)
	if !bytes.Equal(s.Bytes(), testSecret) {
		t.Fatal("Bytes returned the Secret's own storage")
	}
	if (auth.Secret{}).Bytes() != nil {
		t.Error("zero Secret is not empty")
	}
}
