package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// errDigest is the reference's start-up message for a bad --ws-token-sha256.
var errDigest = errors.New("--ws-token-sha256 must be a 64-character hex SHA-256 digest")

// CapabilityVerifier checks capability tokens. It holds only the SHA-256
// digest of the expected token, never the token, and compares digests in
// constant time. It is immutable and safe for concurrent use.
//
// The zero value rejects every token.
type CapabilityVerifier struct {
	// matches reports, in constant time, whether got is the expected
	// digest. The expected digest lives only in this closure: fmt prints
	// a func as an address under every verb, so no formatting of a struct
	// holding a CapabilityVerifier, even in an unexported field, shows it.
	matches     func(got *[sha256.Size]byte) bool
	fingerprint string
}

// NewCapabilityToken returns a verifier for token, as read from a token file
// (already trimmed). It refuses an empty token, and a token that ParseBearer
// could never return (a byte outside printable ASCII and HTAB, or a blank at
// either end): such a token would lock every client out with no hint why.
func NewCapabilityToken(token string) (*CapabilityVerifier, error) {
	if token == "" {
		return nil, errors.New("auth: capability token must not be empty")
	}
	if !presentable(token) {
		return nil, errors.New("auth: capability token must be printable ASCII without leading or trailing blanks, or no client could present it")
	}
	return newCapability(digest(token)), nil
}

// NewCapabilityDigest returns a verifier for the token whose SHA-256 digest
// is hexDigest: exactly 64 hex digits in either case. Configuring a digest
// keeps the token itself out of argv and memory. Note that the digest is of
// the token as presented, which is trimmed: `echo TOKEN | sha256sum` hashes
// a trailing newline and will never match.
func NewCapabilityDigest(hexDigest string) (*CapabilityVerifier, error) {
	var d [sha256.Size]byte
	if len(hexDigest) != hex.EncodedLen(sha256.Size) {
		return nil, errDigest
	}
	if _, err := hex.Decode(d[:], []byte(hexDigest)); err != nil {
		return nil, errDigest
	}
	return newCapability(d), nil
}

func newCapability(want [sha256.Size]byte) *CapabilityVerifier {
	return &CapabilityVerifier{
		matches: func(got *[sha256.Size]byte) bool {
			return subtle.ConstantTimeCompare(got[:], want[:]) == 1
		},
		fingerprint: "sha256:" + hex.EncodeToString(want[:6]),
	}
}

// Mode returns ModeCapabilityToken.
func (v *CapabilityVerifier) Mode() string { return ModeCapabilityToken }

// Verify returns a Principal if token is the configured capability token and
// ErrInvalidToken otherwise. The presented token is hashed and the digests
// compared with subtle.ConstantTimeCompare, so wrong tokens of any length
// take the same path and the time taken does not depend on how much of the
// token was right (cases 15 and 16).
func (v *CapabilityVerifier) Verify(token string) (Principal, error) {
	if v == nil || v.matches == nil {
		return Principal{}, ErrInvalidToken
	}
	got := digest(token)
	if !v.matches(&got) {
		return Principal{}, ErrInvalidToken
	}
	return Principal{Mode: ModeCapabilityToken, Fingerprint: v.fingerprint}, nil
}

// digest returns the SHA-256 of token. It feeds the hash through a fixed
// buffer instead of converting token to a []byte, so a presented token of
// any length costs time linear in its length and constant memory (case 5).
func digest(token string) [sha256.Size]byte {
	h := sha256.New()
	var buf [512]byte
	for len(token) > 0 {
		n := copy(buf[:], token)
		h.Write(buf[:n])
		token = token[n:]
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// The formatting methods have value receivers so that both
// CapabilityVerifier and *CapabilityVerifier print only the fingerprint.

// String returns a description naming only the fingerprint.
func (v CapabilityVerifier) String() string {
	return "auth.CapabilityVerifier{" + v.fingerprint + "}"
}

// GoString returns the same as String, so %#v shows no digest.
func (v CapabilityVerifier) GoString() string { return v.String() }

// Format prints String for every verb, so %x or %d cannot dump the digest.
func (v CapabilityVerifier) Format(f fmt.State, _ rune) { io.WriteString(f, v.String()) }

// LogValue implements slog.LogValuer with the mode and fingerprint.
func (v CapabilityVerifier) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", ModeCapabilityToken),
		slog.String("fingerprint", v.fingerprint),
	)
}
