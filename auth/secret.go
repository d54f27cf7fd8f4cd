package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"slices"
)

// redacted is what every formatting of a Secret prints.
const redacted = "REDACTED"

// Secret holds key material, such as the contents of a token or shared
// secret file, in a type that prints, logs and marshals as "REDACTED" with
// every fmt verb and through slog and encoding/json, so a config struct that
// holds one can be logged safely (case 34).
//
// Secret is a struct holding a func rather than a []byte: fmt cannot call
// Format on a value in an unexported struct field, and under a verb it does
// not expect (%d on a string, say) it dereferences pointers, but it prints
// every func as a bare address. So the bytes stay hidden even there.
//
// The zero Secret is empty.
type Secret struct {
	bytes func() []byte
}

// MakeSecret returns a Secret holding a copy of b.
func MakeSecret(b []byte) Secret {
	c := slices.Clone(b)
	return Secret{bytes: func() []byte { return c }}
}

// Bytes returns a copy of the secret's bytes, for the one place that needs
// them (a verifier's constructor).
func (s Secret) Bytes() []byte {
	if s.bytes == nil {
		return nil
	}
	return slices.Clone(s.bytes())
}

// String returns "REDACTED".
func (Secret) String() string { return redacted }

// GoString returns "REDACTED", for %#v.
func (Secret) GoString() string { return redacted }

// Format writes "REDACTED" for every verb, including %x and %q.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "REDACTED", so encoding/json and friends write that
// for a Secret in a config dump.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// randomBytes is the entropy of NewToken and NewSecret: 256 bits, the HS256
// key size RFC 7518 §3.2 asks for and well above case 20's 128-bit floor.
const randomBytes = 32

// NewToken returns a new capability token: 32 bytes from crypto/rand in
// unpadded base64url, 43 characters that need no quoting in a header, a URL
// or a file.
func NewToken() (string, error) { return randomText() }

// NewSecret returns a new HS256 shared secret: 32 bytes from crypto/rand in
// unpadded base64url. It is text, not raw bytes, because the secret file is
// read as trimmed UTF-8 (the reference refuses raw random bytes); its 43
// bytes clear MinSecretSize and carry the full 256 bits.
func NewSecret() (string, error) { return randomText() }

func randomText() (string, error) {
	b := make([]byte, randomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
