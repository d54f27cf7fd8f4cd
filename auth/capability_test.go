package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver/auth"
)

const capToken = "cap-Token-0123456789abcdefghijklmnopqrstuv"

func capDigest(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// TestCapabilityVerify covers the wrong-token rows of WEBSOCKET-AUTH.md's
// "Capability token" table and cases 15 and 21, for a verifier built from
// the token and one built from its digest.
func TestCapabilityVerify(t *testing.T) {
	fromToken, err := auth.NewCapabilityToken(capToken)
	if err != nil {
		t.Fatal(err)
	}
	fromDigest, err := auth.NewCapabilityDigest(strings.ToUpper(capDigest(capToken)))
	if err != nil {
		t.Fatal(err)
	}
	jwt := hs256(`{"exp":1900000000}`)
	wrongSame := []byte(capToken)
	wrongSame[len(wrongSame)-1] ^= 1
	for _, tt := range []struct {
		name  string
		token string
		err   error
	}{
		{"case15 right token", capToken, nil},
		{"case15 same length", string(wrongSame), auth.ErrInvalidToken},
		{"case15 first byte wrong", "X" + capToken[1:], auth.ErrInvalidToken},
		{"shorter", capToken[:10], auth.ErrInvalidToken},
		{"4 KiB", strings.Repeat("a", 4<<10), auth.ErrInvalidToken},
		{"64 KiB", strings.Repeat("a", 64<<10), auth.ErrInvalidToken},
		{"prefix", capToken[:len(capToken)-1], auth.ErrInvalidToken},
		{"suffix", capToken[1:], auth.ErrInvalidToken},
		{"longer", capToken + "x", auth.ErrInvalidToken},
		{"other case", strings.ToUpper(capToken), auth.ErrInvalidToken},
		{"tok extra", capToken + " extra", auth.ErrInvalidToken},
		{"a JWT", jwt, auth.ErrInvalidToken},
		{"empty", "", auth.ErrInvalidToken},
		{"case21 the digest itself", capDigest(capToken), auth.ErrInvalidToken},
		{"untrimmed", capToken + "\n", auth.ErrInvalidToken},
	} {
		for _, v := range []*auth.CapabilityVerifier{fromToken, fromDigest} {
			t.Run(tt.name, func(t *testing.T) {
				p, err := v.Verify(tt.token)
				checkErr(t, err, tt.err)
				if err != nil {
					if p != (auth.Principal{}) {
						t.Errorf("rejected token gave Principal %+v", p)
					}
					if strings.Contains(err.Error(), tt.token) && tt.token != "" {
						t.Errorf("error %q echoes the token", err)
					}
					return
				}
				want := auth.Principal{Mode: auth.ModeCapabilityToken, Fingerprint: "sha256:" + capDigest(capToken)[:12]}
				if p != want {
					t.Errorf("Principal = %+v, want %+v", p, want)
				}
			})
		}
	}
	if fromToken.Mode() != "capability-token" {
		t.Errorf("Mode = %q", fromToken.Mode())
	}
}

// TestCapabilityHeader runs the reference's accepted header forms through
// ParseBearer and Verify together, as the transport will.
func TestCapabilityHeader(t *testing.T) {
	v, err := auth.NewCapabilityToken(capToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		header string
		err    error
	}{
		{"Bearer " + capToken, nil},
		{"bearer " + capToken, nil},
		{"BEARER " + capToken, nil},
		{"Bearer  " + capToken, nil},
		{" Bearer " + capToken + "  ", nil},
		{"Bearer " + capToken + " extra", auth.ErrInvalidToken},
		{"Bearer\t" + capToken, auth.ErrInvalidHeader},
		{"Basic " + capToken, auth.ErrInvalidHeader},
	} {
		t.Run(tt.header, func(t *testing.T) {
			tok, err := auth.ParseBearer([]string{tt.header})
			if err == nil {
				_, err = v.Verify(tok)
			}
			checkErr(t, err, tt.err)
		})
	}
}

// TestCapabilityConstructors covers case 21 (digest syntax) and the
// fail-closed rules for token files (case 17: empty is refused here too).
func TestCapabilityConstructors(t *testing.T) {
	const digestMsg = "--ws-token-sha256 must be a 64-character hex SHA-256 digest"
	good := capDigest(capToken)
	for _, tt := range []struct {
		name string
		hex  string
		ok   bool
	}{
		{"lower", good, true},
		{"upper", strings.ToUpper(good), true},
		{"mixed", strings.ToUpper(good[:32]) + good[32:], true},
		{"63 chars", good[:63], false},
		{"65 chars", good + "0", false},
		{"non-hex", "g" + good[1:], false},
		{"0x prefix", "0x" + good[:62], false},
		{"surrounding space", " " + good[:62] + " ", false},
		{"trailing newline", good[:63] + "\n", false},
		{"empty", "", false},
		{"non-ASCII", "é" + good[:62], false},
	} {
		t.Run("digest "+tt.name, func(t *testing.T) {
			v, err := auth.NewCapabilityDigest(tt.hex)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(capToken); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != digestMsg {
				t.Fatalf("err = %v, want %q", err, digestMsg)
			}
		})
	}
	for _, tok := range []string{"", " tok", "tok ", "tok\n", "\ttok", "tök", "tok\x00"} {
		if _, err := auth.NewCapabilityToken(tok); err == nil {
			t.Errorf("NewCapabilityToken(%q) succeeded; no client could present it", tok)
		}
	}
	if _, err := auth.NewCapabilityToken("ab cd"); err != nil {
		t.Errorf("inner space refused: %v", err)
	}
}

// TestCapabilitySha256sumTrap pins WEBSOCKET-AUTH.md's surprise 4: a digest
// of the token with a newline (echo TOKEN | sha256sum) never matches,
// because the presented token is trimmed.
func TestCapabilitySha256sumTrap(t *testing.T) {
	v, err := auth.NewCapabilityDigest(capDigest(capToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.ParseBearer([]string{"Bearer " + capToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err == nil {
		t.Fatal("digest of TOKEN\\n matched TOKEN")
	}
}

func TestCapabilityZeroValueRejects(t *testing.T) {
	var v auth.CapabilityVerifier
	for _, tok := range []string{"", "x"} {
		if _, err := v.Verify(tok); err == nil {
			t.Errorf("zero CapabilityVerifier accepted %q", tok)
		}
	}
}

// TestVerifyConcurrent runs both verifiers from many goroutines; with -race
// it checks they share no mutable state.
func TestVerifyConcurrent(t *testing.T) {
	cv, _ := auth.NewCapabilityToken(capToken)
	jv, _ := auth.NewJWTVerifier(testSecret, auth.JWTOptions{ClockSkew: 30e9, Now: func() time.Time { return t0 }})
	good := hs256(`{"exp":1900000000}`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, err := cv.Verify(capToken); err != nil {
					t.Error(err)
				}
				if _, err := jv.Verify(good); err != nil {
					t.Error(err)
				}
				if _, err := jv.Verify(good + "x"); err == nil {
					t.Error("tampered token accepted")
				}
			}
		})
	}
	wg.Wait()
}

// TestCapabilityAllocs pins case 5 for capability tokens: verifying a
// 64 KiB token allocates no more than a short one.
func TestCapabilityAllocs(t *testing.T) {
	v, _ := auth.NewCapabilityToken(capToken)
	short := testing.AllocsPerRun(20, func() { v.Verify("x") })
	for _, tok := range []string{capToken, strings.Repeat("a", 64<<10)} {
		if n := testing.AllocsPerRun(20, func() { v.Verify(tok) }); n > short {
			t.Errorf("Verify of %d bytes allocates %v times, a 1-byte token %v", len(tok), n, short)
		}
	}
}
