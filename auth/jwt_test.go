package auth_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/auth"
)

// Option sets for the JWT table; Now is always t0.
var (
	optDefault = auth.JWTOptions{ClockSkew: 30 * time.Second}
	optIssAud  = auth.JWTOptions{ClockSkew: 30 * time.Second, Issuer: "issuer", Audience: "app"}
	optSkew0   = auth.JWTOptions{}
	optLife    = auth.JWTOptions{ClockSkew: 30 * time.Second, MaxLifetime: time.Hour}
)

// Unix times around t0 (1_700_000_000).
const (
	expOK  = `1700003600`
	now    = 1_700_000_000
	goodPL = `{"sub":"alice","iss":"issuer","aud":"app","jti":"id-1","exp":1700003600}`
)

func exp(d int64) string { return fmt.Sprintf(`{"exp":%d}`, now+d) }

func newJWTVerifier(t testing.TB, opts auth.JWTOptions) *auth.JWTVerifier {
	t.Helper()
	opts.Now = func() time.Time { return t0 }
	v, err := auth.NewJWTVerifier(testSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type jwtCase struct {
	name  string
	token string
	opts  auth.JWTOptions
	err   error
}

// jwtCases covers every token row of WEBSOCKET-AUTH.md's "Signed bearer
// token" section and SECURITY.md cases 24-31 and 33. It is also the fuzz
// seed corpus.
func jwtCases() []jwtCase {
	good := hs256(goodPL)
	other := hs256(`{"sub":"mallory","exp":1700003600}`)
	seg := segments(good)
	sig := seg[2]

	// A signature whose last character differs only in the two bits that
	// unpadded base64 drops: same bytes, different text.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	sigAlias := replaceLast(good, alphabet[last^1])

	// The standard alphabet: a payload whose encoding needs '+' or '/'.
	stdPL := `{"exp":1700003600,"x":"???>>>~~~"}`
	stdInput := base64.RawStdEncoding.EncodeToString([]byte(stdHeader)) + "." + base64.RawStdEncoding.EncodeToString([]byte(stdPL))
	stdTok := stdInput + "." + base64.RawStdEncoding.EncodeToString(mac(sha256.New, testSecret, stdInput))

	// '=' padding on every segment, signed over the padded text.
	padInput := base64.URLEncoding.EncodeToString([]byte(stdHeader)) + "." + base64.URLEncoding.EncodeToString([]byte(goodPL))
	padTok := padInput + "." + base64.URLEncoding.EncodeToString(mac(sha256.New, testSecret, padInput))

	if !strings.ContainsAny(stdTok, "+/") || !strings.Contains(padTok, "=") || sigAlias == good {
		panic("fixture does not exercise what it claims")
	}

	deep := func(n int) string {
		return `{"exp":1700003600,"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	}
	big := `{"exp":1700003600,"blob":"` + strings.Repeat("x", 100_000) + `"}`

	return []jwtCase{
		{"valid", good, optIssAud, nil},
		{"valid no iss aud configured", good, optDefault, nil},

		// Case 24, 25: only HS256.
		{"case24 alg none empty signature", stripSig(withHeader(`{"alg":"none","typ":"JWT"}`, goodPL)), optDefault, auth.ErrInvalidJWT},
		{"case24 alg none with MAC", withHeader(`{"alg":"none"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case24 alg None", withHeader(`{"alg":"None"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case25 HS384", sign(`{"alg":"HS384","typ":"JWT"}`, goodPL, testSecret, sha512.New384), optDefault, auth.ErrInvalidJWT},
		{"case25 HS512", sign(`{"alg":"HS512","typ":"JWT"}`, goodPL, testSecret, sha512.New), optDefault, auth.ErrInvalidJWT},
		{"case25 RS256 key confusion", withHeader(`{"alg":"RS256","typ":"JWT"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case25 ES256", withHeader(`{"alg":"ES256"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case25 PS256", withHeader(`{"alg":"PS256"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case25 EdDSA", withHeader(`{"alg":"EdDSA"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case25 lower-case hs256", withHeader(`{"alg":"hs256"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case25 missing alg", withHeader(`{"typ":"JWT"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"alg null", withHeader(`{"alg":null}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"alg number", withHeader(`{"alg":256}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"alg array", withHeader(`{"alg":["HS256"]}`, goodPL), optDefault, auth.ErrInvalidJWT},

		// Case 26: tampering and shape.
		{"case26 tampered payload", seg[0] + "." + segments(other)[1] + "." + sig, optDefault, auth.ErrInvalidJWT},
		{"case26 tampered signature", tamperSig(good), optDefault, auth.ErrInvalidJWT},
		{"case26 signature alias in padding bits", sigAlias, optDefault, auth.ErrInvalidJWT},
		{"case26 wrong secret", sign(stdHeader, goodPL, []byte("another-secret-0123456789abcdef-012345"), sha256.New), optDefault, auth.ErrInvalidJWT},
		{"case32 untrimmed secret", sign(stdHeader, goodPL, append(append([]byte{}, testSecret...), '\n'), sha256.New), optDefault, auth.ErrInvalidJWT},
		{"case26 stripped signature", seg[0] + "." + seg[1] + ".", optDefault, auth.ErrInvalidJWT},
		{"case26 two segments", seg[0] + "." + seg[1], optDefault, auth.ErrInvalidJWT},
		{"case26 four segments", good + "." + sig, optDefault, auth.ErrInvalidJWT},
		{"case26 trailing dot", good + ".", optDefault, auth.ErrInvalidJWT},
		{"case26 JWE five segments", seg[0] + ".." + seg[1] + "." + sig + "." + sig, optDefault, auth.ErrInvalidJWT},
		{"case26 padding", padTok, optDefault, auth.ErrInvalidJWT},
		{"case26 standard alphabet", stdTok, optDefault, auth.ErrInvalidJWT},
		{"non-base64", "!" + good, optDefault, auth.ErrInvalidJWT},
		{"embedded newline", seg[0] + "\n." + seg[1] + "." + sig, optDefault, auth.ErrInvalidJWT},
		{"empty", "", optDefault, auth.ErrInvalidJWT},
		{"dots only", "..", optDefault, auth.ErrInvalidJWT},
		{"64 KiB of dots", strings.Repeat(".", 64<<10), optDefault, auth.ErrInvalidJWT},
		{"header not JSON", withHeader(`not json`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"header array", withHeader(`["HS256"]`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"header trailing data", withHeader(stdHeader+` {}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"header empty", withHeader(``, goodPL), optDefault, auth.ErrInvalidJWT},
		{"payload array", hs256(`[1700003600]`), optDefault, auth.ErrInvalidJWT},
		{"payload string", hs256(`"exp"`), optDefault, auth.ErrInvalidJWT},
		{"payload null", hs256(`null`), optDefault, auth.ErrInvalidJWT},
		{"payload empty", hs256(``), optDefault, auth.ErrInvalidJWT},
		{"payload not JSON", hs256(`{exp:1700003600}`), optDefault, auth.ErrInvalidJWT},
		{"payload trailing data", hs256(`{"exp":1700003600}{}`), optDefault, auth.ErrInvalidJWT},
		{"about 100 KB accepted", hs256(big), optDefault, nil},
		{"nesting 40 deep accepted", hs256(deep(40)), optDefault, nil},
		{"nesting 100 deep refused", hs256(deep(100)), optDefault, auth.ErrInvalidJWT},

		// Case 33: duplicate keys anywhere.
		{"case33 alg twice", withHeader(`{"alg":"HS256","alg":"HS256"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case33 alg none then HS256", withHeader(`{"alg":"none","alg":"HS256"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case33 typ twice", withHeader(`{"alg":"HS256","typ":"JWT","typ":"JWT"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case33 nested in header", withHeader(`{"alg":"HS256","jwk":{"k":"a","k":"b"}}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case33 exp twice", hs256(`{"exp":1700003600,"exp":1}`), optDefault, auth.ErrInvalidJWT},
		{"case33 exp escaped twice", hs256(`{"exp":1,"\u0065xp":1700003600}`), optDefault, auth.ErrInvalidJWT},
		{"case33 iss twice", hs256(`{"exp":1700003600,"iss":"a","iss":"b"}`), optDefault, auth.ErrInvalidJWT},
		{"case33 custom claim twice", hs256(`{"exp":1700003600,"role":"user","role":"admin"}`), optDefault, auth.ErrInvalidJWT},
		{"case33 nested object", hs256(`{"exp":1700003600,"ctx":{"a":1,"a":2}}`), optDefault, auth.ErrInvalidJWT},
		{"case33 object in array", hs256(`{"exp":1700003600,"l":[{"a":1},{"a":1,"a":2}]}`), optDefault, auth.ErrInvalidJWT},
		{"same key in sibling objects", hs256(`{"exp":1700003600,"a":{"a":1},"b":{"a":1}}`), optDefault, nil},
		{"EXP is not exp", hs256(`{"exp":1700003600,"EXP":"x","Exp":null}`), optDefault, nil},

		// Case 30: crit, kid, jku, x5u, jwk.
		{"case30 crit unknown", withHeader(`{"alg":"HS256","crit":["x-ext"],"x-ext":1}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case30 crit exp", withHeader(`{"alg":"HS256","crit":["exp"]}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case30 crit empty", withHeader(`{"alg":"HS256","crit":[]}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case30 crit not array", withHeader(`{"alg":"HS256","crit":"b64"}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case30 b64 false with crit", withHeader(`{"alg":"HS256","b64":false,"crit":["b64"]}`, goodPL), optDefault, auth.ErrInvalidJWT},
		{"case30 kid path traversal", withHeader(`{"alg":"HS256","kid":"../../etc/passwd"}`, goodPL), optDefault, nil},
		{"case30 kid SQL", withHeader(`{"alg":"HS256","kid":"' OR 1=1 --"}`, goodPL), optDefault, nil},
		{"case30 jku", withHeader(`{"alg":"HS256","jku":"http://127.0.0.1:1/jwks.json"}`, goodPL), optDefault, nil},
		{"case30 x5u", withHeader(`{"alg":"HS256","x5u":"https://evil.example/cert.pem"}`, goodPL), optDefault, nil},
		{"case30 jwk", withHeader(`{"alg":"HS256","jwk":{"kty":"oct","k":"QUFBQQ"}}`, goodPL), optDefault, nil},
		{"case31 typ ignored", withHeader(`{"alg":"HS256","typ":"at+jwt"}`, goodPL), optDefault, nil},
		{"typ absent", withHeader(`{"alg":"HS256"}`, goodPL), optDefault, nil},

		// Case 27: exp.
		{"case27 exp missing", hs256(`{"sub":"alice"}`), optDefault, auth.ErrInvalidJWT},
		{"case27 exp string", hs256(`{"exp":"1700003600"}`), optDefault, auth.ErrInvalidJWT},
		{"exp null", hs256(`{"exp":null}`), optDefault, auth.ErrInvalidJWT},
		{"exp true", hs256(`{"exp":true}`), optDefault, auth.ErrInvalidJWT},
		{"exp object", hs256(`{"exp":{"n":1700003600}}`), optDefault, auth.ErrInvalidJWT},
		{"exp array", hs256(`{"exp":[1700003600]}`), optDefault, auth.ErrInvalidJWT},
		{"exp fractional accepted", hs256(`{"exp":1700003600.5}`), optDefault, nil},
		{"exp exponent accepted", hs256(`{"exp":1.7000036e9}`), optDefault, nil},
		{"exp -1 expired", hs256(`{"exp":-1}`), optDefault, auth.ErrExpiredJWT},
		{"exp 0 expired", hs256(`{"exp":0}`), optDefault, auth.ErrExpiredJWT},
		{"exp 2^62 accepted", hs256(`{"exp":4611686018427387904}`), optDefault, nil},
		{"exp max int64 accepted", hs256(`{"exp":9223372036854775807}`), optDefault, nil},
		{"exp min int64 expired", hs256(`{"exp":-9223372036854775808}`), optDefault, auth.ErrExpiredJWT},
		{"exp 2^63 out of range", hs256(`{"exp":9223372036854775808}`), optDefault, auth.ErrInvalidJWT},
		{"exp 1e19 out of range", hs256(`{"exp":1e19}`), optDefault, auth.ErrInvalidJWT},
		{"exp 1e400 not finite", hs256(`{"exp":1e400}`), optDefault, auth.ErrInvalidJWT},
		{"exp -1e400 not finite", hs256(`{"exp":-1e400}`), optDefault, auth.ErrInvalidJWT},
		{"exp huge integer", hs256(`{"exp":` + strings.Repeat("9", 400) + `}`), optDefault, auth.ErrInvalidJWT},
		{"skew30 exp 29s ago", hs256(exp(-29)), optDefault, nil},
		{"skew30 exp 30s ago", hs256(exp(-30)), optDefault, auth.ErrExpiredJWT},
		{"skew30 exp 31s ago", hs256(exp(-31)), optDefault, auth.ErrExpiredJWT},
		{"skew0 exp now", hs256(exp(0)), optSkew0, auth.ErrExpiredJWT},
		{"skew0 exp in 1s", hs256(exp(1)), optSkew0, nil},
		{"skew0 exp in 0.5s", hs256(`{"exp":1700000000.5}`), optSkew0, nil},
		{"skew0 exp 1s ago", hs256(exp(-1)), optSkew0, auth.ErrExpiredJWT},

		// nbf and iat.
		{"skew30 nbf in 29s", hs256(`{"exp":1700003600,"nbf":1700000029}`), optDefault, nil},
		{"skew30 nbf in 30s", hs256(`{"exp":1700003600,"nbf":1700000030}`), optDefault, nil},
		{"skew30 nbf in 31s", hs256(`{"exp":1700003600,"nbf":1700000031}`), optDefault, auth.ErrJWTNotYetValid},
		{"skew0 nbf now", hs256(`{"exp":1700003600,"nbf":1700000000}`), optSkew0, nil},
		{"skew0 nbf in 1s", hs256(`{"exp":1700003600,"nbf":1700000001}`), optSkew0, auth.ErrJWTNotYetValid},
		{"skew0 nbf in 0.5s", hs256(`{"exp":1700003600,"nbf":1700000000.5}`), optSkew0, auth.ErrJWTNotYetValid},
		{"nbf string", hs256(`{"exp":1700003600,"nbf":"1"}`), optDefault, auth.ErrInvalidJWT},
		{"nbf null is absent", hs256(`{"exp":1700003600,"nbf":null}`), optDefault, nil},
		{"iat a day ahead ignored", hs256(`{"exp":1700003600,"iat":1700086400}`), optDefault, nil},
		{"iat string", hs256(`{"exp":1700003600,"iat":"now"}`), optDefault, auth.ErrInvalidJWT},

		// Case 29: iss and aud.
		{"case29 iss mismatch", hs256(`{"exp":1700003600,"iss":"other","aud":"app"}`), optIssAud, auth.ErrIssuerMismatch},
		{"case29 iss missing", hs256(`{"exp":1700003600,"aud":"app"}`), optIssAud, auth.ErrIssuerMismatch},
		{"iss null", hs256(`{"exp":1700003600,"iss":null,"aud":"app"}`), optIssAud, auth.ErrIssuerMismatch},
		{"iss empty", hs256(`{"exp":1700003600,"iss":"","aud":"app"}`), optIssAud, auth.ErrIssuerMismatch},
		{"iss other case", hs256(`{"exp":1700003600,"iss":"ISSUER","aud":"app"}`), optIssAud, auth.ErrIssuerMismatch},
		{"iss number", hs256(`{"exp":1700003600,"iss":5,"aud":"app"}`), optIssAud, auth.ErrInvalidJWT},
		{"iss array", hs256(`{"exp":1700003600,"iss":["issuer"],"aud":"app"}`), optIssAud, auth.ErrInvalidJWT},
		{"iss unconfigured any", hs256(`{"exp":1700003600,"iss":"whoever","aud":"whatever"}`), optDefault, nil},
		{"case29 aud array match", hs256(`{"exp":1700003600,"iss":"issuer","aud":["x","app"]}`), optIssAud, nil},
		{"case29 aud array no match", hs256(`{"exp":1700003600,"iss":"issuer","aud":["x","y"]}`), optIssAud, auth.ErrAudienceMismatch},
		{"case29 aud string mismatch", hs256(`{"exp":1700003600,"iss":"issuer","aud":"other"}`), optIssAud, auth.ErrAudienceMismatch},
		{"case29 aud missing", hs256(`{"exp":1700003600,"iss":"issuer"}`), optIssAud, auth.ErrAudienceMismatch},
		{"aud null", hs256(`{"exp":1700003600,"iss":"issuer","aud":null}`), optIssAud, auth.ErrAudienceMismatch},
		{"aud empty array", hs256(`{"exp":1700003600,"iss":"issuer","aud":[]}`), optIssAud, auth.ErrAudienceMismatch},
		{"aud array of number", hs256(`{"exp":1700003600,"iss":"issuer","aud":[1]}`), optIssAud, auth.ErrInvalidJWT},
		{"aud object", hs256(`{"exp":1700003600,"iss":"issuer","aud":{"app":true}}`), optIssAud, auth.ErrInvalidJWT},
		{"aud nested array", hs256(`{"exp":1700003600,"iss":"issuer","aud":[["app"]]}`), optIssAud, auth.ErrInvalidJWT},
		{"aud unconfigured any", hs256(`{"exp":1700003600,"aud":["x"]}`), optDefault, nil},
		{"sub number", hs256(`{"exp":1700003600,"sub":1}`), optDefault, auth.ErrInvalidJWT},
		{"jti object", hs256(`{"exp":1700003600,"jti":{}}`), optDefault, auth.ErrInvalidJWT},

		// Precedence: signature before claims, then exp, nbf, lifetime, iss, aud.
		{"precedence bad sig expired", tamperSig(hs256(exp(-3600))), optIssAud, auth.ErrInvalidJWT},
		{"precedence wrong key expired", sign(stdHeader, exp(-3600), []byte("another-secret-0123456789abcdef-012345"), sha256.New), optIssAud, auth.ErrInvalidJWT},
		{"precedence wrong key bad iss", sign(stdHeader, `{"exp":1700003600,"iss":"x","aud":"app"}`, []byte("another-secret-0123456789abcdef-012345"), sha256.New), optIssAud, auth.ErrInvalidJWT},
		{"precedence wrong key bad aud", sign(stdHeader, `{"exp":1700003600,"iss":"issuer","aud":"x"}`, []byte("another-secret-0123456789abcdef-012345"), sha256.New), optIssAud, auth.ErrInvalidJWT},
		{"precedence wrong key nbf", sign(stdHeader, `{"exp":1700003600,"nbf":1800000000,"iss":"issuer","aud":"app"}`, []byte("another-secret-0123456789abcdef-012345"), sha256.New), optIssAud, auth.ErrInvalidJWT},
		{"precedence exp over nbf iss aud", hs256(`{"exp":1,"nbf":1800000000,"iss":"x","aud":"y"}`), optIssAud, auth.ErrExpiredJWT},
		{"precedence nbf over iss aud", hs256(`{"exp":1900000000,"nbf":1800000000,"iss":"x","aud":"y"}`), optIssAud, auth.ErrJWTNotYetValid},
		{"precedence iss over aud", hs256(`{"exp":1900000000,"iss":"x","aud":"y"}`), optIssAud, auth.ErrIssuerMismatch},
		{"precedence missing exp over nbf", hs256(`{"nbf":1800000000}`), optIssAud, auth.ErrInvalidJWT},
		{"precedence malformed claim over expired", hs256(`{"exp":1,"iss":7}`), optIssAud, auth.ErrInvalidJWT},
		{"precedence expired over lifetime", hs256(`{"exp":1,"iat":-99999999}`), optLife, auth.ErrExpiredJWT},
		{"precedence lifetime over iss", hs256(`{"exp":1900000000,"iss":"x"}`), auth.JWTOptions{MaxLifetime: time.Hour, Issuer: "issuer"}, auth.ErrInvalidJWT},

		// Case 28: MaxLifetime.
		{"case28 lifetime exactly max", hs256(`{"exp":1700003600,"iat":1700000000}`), optLife, nil},
		{"case28 lifetime 1s over", hs256(`{"exp":1700003601,"iat":1700000000}`), optLife, auth.ErrInvalidJWT},
		{"case28 no iat exactly max", hs256(exp(3600)), optLife, nil},
		{"case28 no iat 1s over", hs256(exp(3601)), optLife, auth.ErrInvalidJWT},
		{"case28 exp years ahead", hs256(exp(5 * 365 * 86400)), optLife, auth.ErrInvalidJWT},
		{"case28 exp 2^62 with iat", hs256(`{"exp":4611686018427387904,"iat":1700000000}`), optLife, auth.ErrInvalidJWT},
		{"case28 iat in the future stretches lifetime", hs256(`{"exp":1700010000,"iat":1700007200}`), optLife, auth.ErrInvalidJWT},
		{"case28 iat ahead within skew", hs256(`{"exp":1700003620,"iat":1700000020}`), optLife, nil},
		{"case28 iat far past", hs256(`{"exp":1700003600,"iat":-9223372036854775808}`), optLife, auth.ErrInvalidJWT},
		{"case28 no limit", hs256(`{"exp":4611686018427387904,"iat":1}`), optDefault, nil},
	}
}

// stripSig removes the signature, keeping the last dot.
func stripSig(tok string) string { return tok[:strings.LastIndexByte(tok, '.')+1] }

// tamperSig changes one character in the middle of the signature.
func tamperSig(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func TestJWTVerify(t *testing.T) {
	for _, tt := range jwtCases() {
		t.Run(tt.name, func(t *testing.T) {
			v := newJWTVerifier(t, tt.opts)
			p, err := v.Verify(tt.token)
			checkErr(t, err, tt.err)
			if err != nil {
				t.Logf("%v", err)
				if p != (auth.Principal{}) {
					t.Errorf("rejected token gave Principal %+v", p)
				}
				if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error echoes the token: %v", err)
				}
				return
			}
			if p.Mode != auth.ModeSignedBearerToken || p.Fingerprint != "" || p.ExpiresAt.IsZero() {
				t.Errorf("Principal = %+v", p)
			}
		})
	}
}

func TestJWTPrincipal(t *testing.T) {
	v := newJWTVerifier(t, optIssAud)
	p, err := v.Verify(hs256(goodPL))
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Principal{
		Mode:      "signed-bearer-token",
		Subject:   "alice",
		Issuer:    "issuer",
		ID:        "id-1",
		ExpiresAt: time.Unix(1700003600, 0).UTC(),
	}
	if p != want {
		t.Errorf("Principal = %+v, want %+v", p, want)
	}
	if v.Mode() != "signed-bearer-token" {
		t.Errorf("Mode = %q", v.Mode())
	}

	p, err = v.Verify(hs256(`{"exp":1700003600.25,"iss":"issuer","aud":["app"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1700003600, 250_000_000).UTC(); !p.ExpiresAt.Equal(want) {
		t.Errorf("fractional ExpiresAt = %v, want %v", p.ExpiresAt, want)
	}
}

// TestJWTSecretHandling covers case 32 at the verifier (the 32-byte floor)
// and that the verifier keeps its own copy of the key.
func TestJWTSecretHandling(t *testing.T) {
	if _, err := auth.NewJWTVerifier(testSecret[:31], auth.JWTOptions{}); err == nil {
		t.Error("31-byte secret accepted")
	}
	if _, err := auth.NewJWTVerifier(nil, auth.JWTOptions{}); err == nil {
		t.Error("nil secret accepted")
	}
	if _, err := auth.NewJWTVerifier(testSecret[:32], auth.JWTOptions{}); err != nil {
		t.Errorf("32-byte secret refused: %v", err)
	}
	key := append([]byte{}, testSecret...)
	v, err := auth.NewJWTVerifier(key, auth.JWTOptions{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	clear(key)
	if _, err := v.Verify(hs256(goodPL)); err != nil {
		t.Errorf("wiping the caller's slice broke the verifier: %v", err)
	}
	var zero auth.JWTVerifier
	if _, err := zero.Verify(hs256(goodPL)); err == nil {
		t.Error("zero JWTVerifier accepted a token")
	}
}

func TestJWTOptionsValidation(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts auth.JWTOptions
		ok   bool
	}{
		{"zero", auth.JWTOptions{}, true},
		{"reference default skew", auth.JWTOptions{ClockSkew: 30 * time.Second}, true},
		{"case27 skew one day", auth.JWTOptions{ClockSkew: 24 * time.Hour}, true},
		{"case27 absurd skew", auth.JWTOptions{ClockSkew: 24*time.Hour + time.Second}, false},
		{"case27 max skew", auth.JWTOptions{ClockSkew: 1<<63 - 1}, false},
		{"negative skew", auth.JWTOptions{ClockSkew: -time.Second}, false},
		{"negative lifetime", auth.JWTOptions{MaxLifetime: -1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewJWTVerifier(testSecret, tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestJWTRealClock checks that a nil Now means time.Now.
func TestJWTRealClock(t *testing.T) {
	v, err := auth.NewJWTVerifier(testSecret, auth.JWTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(hs256(fmt.Sprintf(`{"exp":%d}`, time.Now().Add(time.Minute).Unix()))); err != nil {
		t.Error(err)
	}
	if _, err := v.Verify(hs256(goodPL)); err == nil { // expired in 2023
		t.Error("token that expired in 2023 accepted with the real clock")
	}
}

func TestSignHS256(t *testing.T) {
	v := newJWTVerifier(t, optIssAud)
	tok, err := auth.SignHS256(testSecret, map[string]any{
		"sub": "alice", "iss": "issuer", "aud": []string{"app"}, "exp": now + 60, "role": "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(tok); err != nil || p.Subject != "alice" {
		t.Fatalf("Verify(SignHS256(...)) = %+v, %v", p, err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(segments(tok)[0])
	if string(hdr) != stdHeader {
		t.Errorf("header = %s", hdr)
	}
	for _, tt := range []struct {
		name   string
		secret []byte
		claims map[string]any
	}{
		{"short secret", testSecret[:31], map[string]any{"exp": now + 60}},
		{"no exp", testSecret, map[string]any{"sub": "alice"}},
		{"nil claims", testSecret, nil},
		{"exp as time", testSecret, map[string]any{"exp": t0}},
		{"exp as string", testSecret, map[string]any{"exp": "1700000060"}},
		{"iss not string", testSecret, map[string]any{"exp": now + 60, "iss": 1}},
		{"unmarshalable", testSecret, map[string]any{"exp": now + 60, "f": func() {}}},
	} {
		if _, err := auth.SignHS256(tt.secret, tt.claims); err == nil {
			t.Errorf("%s: SignHS256 succeeded", tt.name)
		}
	}
}

func TestNewTokenAndSecret(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range []func() (string, error){auth.NewToken, auth.NewSecret} {
		for range 4 {
			s, err := f()
			if err != nil {
				t.Fatal(err)
			}
			b, err := base64.RawURLEncoding.Strict().DecodeString(s)
			if len(s) != 43 || err != nil || len(b) != 32 {
				t.Errorf("%q: len %d, decoded %d bytes, err %v", s, len(s), len(b), err)
			}
			if seen[s] {
				t.Errorf("repeated value %q", s)
			}
			seen[s] = true
		}
	}
	s, _ := auth.NewSecret()
	if _, err := auth.NewJWTVerifier([]byte(s), auth.JWTOptions{}); err != nil {
		t.Errorf("NewSecret output refused: %v", err)
	}
	tok, _ := auth.NewToken()
	if _, err := auth.NewCapabilityToken(tok); err != nil {
		t.Errorf("NewToken output refused: %v", err)
	}
}

// TestJWTJunkAllocs pins case 5 at the verifier: junk that is not three
// base64url segments is refused without allocating.
func TestJWTJunkAllocs(t *testing.T) {
	v := newJWTVerifier(t, optDefault)
	for _, tok := range []string{strings.Repeat(".", 64<<10), strings.Repeat("a", 64<<10) + "!", "a.b.c.d"} {
		if n := testing.AllocsPerRun(20, func() { v.Verify(tok) }); n != 0 {
			t.Errorf("Verify(%.10q...) allocates %v times, want 0", tok, n)
		}
	}
}
