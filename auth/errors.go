package auth

import (
	"errors"
	"fmt"
)

// The sentinel errors below are the only errors ParseBearer and the verifiers
// return, possibly wrapped with an internal detail for logs. Their texts are
// the exact 401 bodies of the reference server, so clients written against it
// see the same answers. Use errors.Is to test for them and PublicText to get
// the body.
var (
	// ErrMissingToken reports a request with no Authorization header at all.
	ErrMissingToken = errors.New("missing websocket bearer token")
	// ErrInvalidHeader reports an Authorization header that is not
	// "Bearer <token>": another scheme, no token, or bytes outside
	// printable ASCII.
	ErrInvalidHeader = errors.New("invalid authorization header")
	// ErrMultipleHeaders reports a request with more than one Authorization
	// header. The reference lets the first win; we refuse, because a proxy
	// and the server could disagree about which credential was checked.
	ErrMultipleHeaders = errors.New("multiple authorization headers")
	// ErrInvalidToken reports a capability token that does not match.
	ErrInvalidToken = errors.New("invalid websocket bearer token")
	// ErrInvalidJWT reports a JWT that is malformed, not HS256, not signed
	// with our key, or whose claims are malformed or exceed the lifetime
	// limit.
	ErrInvalidJWT = errors.New("invalid websocket jwt")
	// ErrExpiredJWT reports a correctly signed JWT whose exp, plus the clock
	// skew, has passed.
	ErrExpiredJWT = errors.New("expired websocket jwt")
	// ErrJWTNotYetValid reports a correctly signed JWT whose nbf, minus the
	// clock skew, is still in the future.
	ErrJWTNotYetValid = errors.New("websocket jwt is not valid yet")
	// ErrIssuerMismatch reports a correctly signed JWT whose iss is missing
	// or differs from the configured issuer.
	ErrIssuerMismatch = errors.New("websocket jwt issuer mismatch")
	// ErrAudienceMismatch reports a correctly signed JWT whose aud is
	// missing, null, or does not contain the configured audience.
	ErrAudienceMismatch = errors.New("websocket jwt audience mismatch")
)

// publicErrors lists the sentinels PublicText recognises.
var publicErrors = [...]error{
	ErrMissingToken, ErrInvalidHeader, ErrMultipleHeaders, ErrInvalidToken,
	ErrInvalidJWT, ErrExpiredJWT, ErrJWTNotYetValid, ErrIssuerMismatch,
	ErrAudienceMismatch,
}

// unknownText is what PublicText answers for an error that wraps no sentinel.
const unknownText = "unauthorized"

// PublicText returns the text to send to the peer for err: the text of the
// sentinel err wraps, without the internal detail err.Error() may carry. For
// an error that wraps none of the sentinels it returns "unauthorized", so a
// bug elsewhere never sends internal error text to an unauthenticated peer.
// PublicText(nil) is "".
func PublicText(err error) string {
	if err == nil {
		return ""
	}
	for _, s := range publicErrors {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return unknownText
}

// detail wraps sentinel with a fixed internal reason for logs. Reasons never
// contain input bytes, so logging err.Error() cannot leak a token or let a
// client inject text into logs.
func detail(sentinel error, reason string) error {
	return fmt.Errorf("%w: %s", sentinel, reason)
}
