package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/auth"
)

// BenchmarkJWTVerify measures a typical token: HS256, six claims, issuer
// and audience checked. The budget is well under 20 µs.
func BenchmarkJWTVerify(b *testing.B) {
	v := newJWTVerifier(b, auth.JWTOptions{ClockSkew: 30 * time.Second, Issuer: "issuer", Audience: "app", MaxLifetime: 24 * time.Hour})
	tok := hs256(`{"sub":"alice","iss":"issuer","aud":"app","jti":"id-1","iat":1699999000,"exp":1700003600}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTVerifyForged is the cost of a token with a bad signature.
func BenchmarkJWTVerifyForged(b *testing.B) {
	v := newJWTVerifier(b, auth.JWTOptions{ClockSkew: 30 * time.Second})
	tok := tamperSig(hs256(goodPL))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkCapabilityVerify(b *testing.B) {
	v, _ := auth.NewCapabilityToken(capToken)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(capToken); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseBearer64KiB(b *testing.B) {
	h := []string{strings.Repeat(".", 64<<10)}
	b.ReportAllocs()
	b.SetBytes(64 << 10)
	for b.Loop() {
		auth.ParseBearer(h)
	}
}
