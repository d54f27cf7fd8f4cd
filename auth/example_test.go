package auth_test

import (
	"fmt"
	"time"

	"github.com/appserver-go/appserver/auth"
)

func ExampleJWTVerifier() {
	secret := []byte("example-secret-at-least-32-bytes-long")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v, err := auth.NewJWTVerifier(secret, auth.JWTOptions{
		Issuer:    "launcher",
		Audience:  "appserver",
		ClockSkew: 30 * time.Second,
		Now:       func() time.Time { return now }, // a fixed clock for the example
	})
	if err != nil {
		panic(err)
	}

	token, _ := auth.SignHS256(secret, map[string]any{
		"sub": "alice", "iss": "launcher", "aud": "appserver", "exp": now.Add(time.Hour).Unix(),
	})
	header := []string{"Bearer " + token} // r.Header["Authorization"]
	raw, err := auth.ParseBearer(header)
	if err != nil {
		panic(err)
	}
	p, err := v.Verify(raw)
	fmt.Println(p.Mode, p.Subject, p.ExpiresAt, err)

	// A failure: send PublicText(err) as the 401 body, log err.
	expired, _ := auth.SignHS256(secret, map[string]any{"iss": "launcher", "exp": now.Add(-time.Minute).Unix()})
	_, err = v.Verify(expired)
	fmt.Println(auth.PublicText(err))

	_, err = auth.ParseBearer([]string{"Basic YWxpY2U6cHc="})
	fmt.Println(auth.PublicText(err))
	// Output:
	// signed-bearer-token alice 2026-01-02 04:04:05 +0000 UTC <nil>
	// expired websocket jwt
	// invalid authorization header
}

func ExampleCapabilityVerifier() {
	v, err := auth.NewCapabilityDigest("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08") // sha256("test")
	if err != nil {
		panic(err)
	}
	p, err := v.Verify("test")
	fmt.Println(p.Mode, p.Fingerprint, err)
	_, err = v.Verify("TEST")
	fmt.Println(err)
	// Output:
	// capability-token sha256:9f86d081884c <nil>
	// invalid websocket bearer token
}
