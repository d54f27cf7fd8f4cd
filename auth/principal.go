package auth

import (
	"context"
	"log/slog"
	"time"
)

// The two authentication modes, spelled as the --ws-auth flag spells them.
const (
	ModeCapabilityToken   = "capability-token"
	ModeSignedBearerToken = "signed-bearer-token"
)

// Verifier checks a bearer token taken from a request by ParseBearer.
// Implementations must be safe for concurrent use and return only errors
// that wrap one of this package's sentinels, so that PublicText always has
// an answer.
type Verifier interface {
	// Verify returns who presented token, or an error.
	Verify(token string) (Principal, error)
	// Mode returns ModeCapabilityToken or ModeSignedBearerToken.
	Mode() string
}

var (
	_ Verifier = (*CapabilityVerifier)(nil)
	_ Verifier = (*JWTVerifier)(nil)
)

// Principal is the authenticated identity of a connection, as much as the
// credential tells: for audit logs and, through ExpiresAt, for ending a
// session when its JWT expires. It holds no secret and is safe to log.
type Principal struct {
	// Mode is ModeCapabilityToken or ModeSignedBearerToken.
	Mode string
	// Subject, Issuer and ID are the JWT's sub, iss and jti claims; empty
	// for a capability token or when the claim is absent.
	Subject string
	Issuer  string
	ID      string
	// Fingerprint names the configured capability token without revealing
	// it: "sha256:" and the first 12 hex digits of its SHA-256 digest. It is
	// empty for a JWT, whose identity is in the claims.
	Fingerprint string
	// ExpiresAt is the JWT's exp in UTC; zero for a capability token, which
	// does not expire.
	ExpiresAt time.Time
}

// LogValue implements slog.LogValuer, logging only the non-empty fields.
func (p Principal) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("mode", p.Mode))
	for _, f := range [...]struct{ k, v string }{
		{"subject", p.Subject}, {"issuer", p.Issuer}, {"id", p.ID}, {"fingerprint", p.Fingerprint},
	} {
		if f.v != "" {
			attrs = append(attrs, slog.String(f.k, f.v))
		}
	}
	if !p.ExpiresAt.IsZero() {
		// encoding/json cannot write years past 9999, and a signed token
		// may carry any exp: log those as Unix seconds so the event stays
		// valid JSON.
		if y := p.ExpiresAt.Year(); y >= 0 && y <= 9999 {
			attrs = append(attrs, slog.Time("expires_at", p.ExpiresAt))
		} else {
			attrs = append(attrs, slog.Int64("expires_at_unix", p.ExpiresAt.Unix()))
		}
	}
	return slog.GroupValue(attrs...)
}

// principalKey is the context key for a Principal; a private type so no
// other package can overwrite it.
type principalKey struct{}

// NewContext returns a copy of ctx carrying p, for handlers that need to know
// who is calling.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal stored by NewContext, and reports whether
// there was one. A connection that was not authenticated (stdio, or a
// listener without auth) has none.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
