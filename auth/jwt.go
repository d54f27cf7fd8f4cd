package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretSize is the shortest HS256 shared secret accepted, in bytes:
// RFC 7518 §3.2 requires a key at least as long as the hash output.
const MinSecretSize = 32

// maxClockSkew bounds JWTOptions.ClockSkew. The reference accepts any skew
// up to 2^63-1 seconds, which silently turns off exp and nbf; a clock more
// than a day wrong is a broken clock, not skew (case 27).
const maxClockSkew = 24 * time.Hour

// hs256Only is the one algorithm we accept (RFC 8725 §3.1). The parser only
// reads it.
var hs256Only = []string{jwt.SigningMethodHS256.Alg()}

// Reasons for ErrInvalidJWT that need no input detail, built once.
var (
	errJWTShape    = detail(ErrInvalidJWT, "not three base64url segments")
	errJWTCrit     = detail(ErrInvalidJWT, "crit header names an extension we do not understand")
	errJWTNoExp    = detail(ErrInvalidJWT, "exp claim missing")
	errJWTLifetime = detail(ErrInvalidJWT, "lifetime exceeds the maximum")
	errJWTIatAhead = detail(ErrInvalidJWT, "iat in the future with a lifetime limit")
	errJWTUnset    = detail(ErrInvalidJWT, "verifier not constructed with NewJWTVerifier")
	errJWTClaims   = detail(ErrInvalidJWT, "claims not decoded")
)

// JWTOptions configures a JWTVerifier. The zero value checks the signature,
// exp and nbf with no clock skew and nothing else.
type JWTOptions struct {
	// Issuer, if not empty, must equal the token's iss claim.
	Issuer string
	// Audience, if not empty, must be the token's aud claim or one element
	// of it.
	Audience string
	// ClockSkew is the leeway allowed for exp and nbf, between 0 and 24
	// hours. The reference's default is 30 seconds; zero means exact.
	ClockSkew time.Duration
	// MaxLifetime, if not zero, rejects tokens valid for longer: exp - iat,
	// or exp - now when there is no iat. With a limit set, an iat more than
	// ClockSkew in the future is rejected too, since it would let a token
	// stretch its lifetime (case 28).
	MaxLifetime time.Duration
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// JWTVerifier checks HS256 JWTs signed with a shared secret. It keeps a
// private copy of the secret, is immutable and is safe for concurrent use.
//
// The zero value rejects every token.
type JWTVerifier struct {
	// keyFunc returns the private copy of the secret. A closure rather than
	// a []byte field: fmt prints a func as an address under every verb, so
	// no formatting of a struct holding a JWTVerifier, even in an
	// unexported field, can print the key.
	keyFunc     jwt.Keyfunc
	issuer      string
	audience    string
	skew        time.Duration
	maxLifetime time.Duration
	now         func() time.Time
}

// NewJWTVerifier returns a verifier for tokens signed with secret. secret
// must be at least MinSecretSize bytes; it is copied, so the caller may wipe
// its slice.
func NewJWTVerifier(secret []byte, opts JWTOptions) (*JWTVerifier, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("auth: HS256 secret must be at least %d bytes", MinSecretSize)
	}
	if opts.ClockSkew < 0 || opts.ClockSkew > maxClockSkew {
		return nil, fmt.Errorf("auth: clock skew must be between 0 and %v", maxClockSkew)
	}
	if opts.MaxLifetime < 0 {
		return nil, errors.New("auth: maximum token lifetime must not be negative")
	}
	key := slices.Clone(secret)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &JWTVerifier{
		keyFunc: func(t *jwt.Token) (any, error) {
			// WithValidMethods already pins HS256; checking again here
			// means a future parser change cannot hand our HMAC key to
			// another algorithm.
			if t.Method != jwt.SigningMethodHS256 {
				return nil, errors.New("unexpected signing method")
			}
			return key, nil
		},
		issuer:      opts.Issuer,
		audience:    opts.Audience,
		skew:        opts.ClockSkew,
		maxLifetime: opts.MaxLifetime,
		now:         now,
	}, nil
}

// Mode returns ModeSignedBearerToken.
func (v *JWTVerifier) Mode() string { return ModeSignedBearerToken }

// Verify checks token and returns the Principal it names. The error wraps
// exactly one sentinel:
//
//   - ErrInvalidJWT: not three unpadded base64url segments, a header or
//     payload that is not a JSON object or repeats a key, alg other than
//     exactly "HS256", any crit header, a bad signature, a registered claim
//     of the wrong type (exp, nbf, iat must be numbers within int64
//     seconds; iss, sub, jti strings; aud a string or array of strings),
//     a missing exp, or a lifetime over MaxLifetime.
//   - ErrExpiredJWT: exp + ClockSkew is not after now.
//   - ErrJWTNotYetValid: now + ClockSkew is before nbf.
//   - ErrIssuerMismatch, ErrAudienceMismatch: as configured; a missing or
//     null claim is a mismatch.
//
// Everything about the token's structure and signature is checked before
// any claim is judged, so without the key every forgery gets the same
// answer. With a good signature the first failing check wins, in the order
// exp, nbf, lifetime, iss, aud. Fractional NumericDates are accepted
// (RFC 7519 §2), unlike the reference; iat is otherwise not checked, as in
// the reference.
func (v *JWTVerifier) Verify(token string) (Principal, error) {
	if v == nil || v.keyFunc == nil {
		return Principal{}, errJWTUnset
	}
	header, ok := splitJWT(token)
	if !ok {
		return Principal{}, errJWTShape
	}
	if err := checkHeader(header); err != nil {
		return Principal{}, err
	}
	now := v.now()
	var c tokenClaims
	p := jwt.NewParser(
		jwt.WithValidMethods(hs256Only),
		jwt.WithStrictDecoding(), // no second spelling of the same signature
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.skew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if _, err := p.ParseWithClaims(token, &c, v.keyFunc); err != nil {
		return Principal{}, claimsError(err)
	}
	if !c.decoded || c.exp == nil {
		return Principal{}, errJWTClaims // unreachable unless the library changes
	}
	if err := v.checkLifetime(&c, now); err != nil {
		return Principal{}, err
	}
	if v.issuer != "" && (!c.hasIss || c.iss != v.issuer) {
		return Principal{}, ErrIssuerMismatch
	}
	if v.audience != "" && !slices.Contains(c.aud, v.audience) {
		return Principal{}, ErrAudienceMismatch
	}
	return Principal{
		Mode:      ModeSignedBearerToken,
		Subject:   c.sub,
		Issuer:    c.iss,
		ID:        c.jti,
		ExpiresAt: c.exp.Time,
	}, nil
}

// claimsError maps a golang-jwt error onto our sentinels. Anything before
// claim validation (shape, base64, JSON, alg, signature) is ErrInvalidJWT;
// the library reports exp and nbf failures together, and exp wins.
func claimsError(err error) error {
	switch {
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		// The library's texts hold no token bytes beyond a quoted
		// character, so they are safe to log.
		return fmt.Errorf("%w: %v", ErrInvalidJWT, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errJWTNoExp
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpiredJWT
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrJWTNotYetValid
	default:
		return fmt.Errorf("%w: %v", ErrInvalidJWT, err)
	}
}

// checkLifetime enforces MaxLifetime.
func (v *JWTVerifier) checkLifetime(c *tokenClaims, now time.Time) error {
	if v.maxLifetime == 0 {
		return nil
	}
	exp := c.exp.Time
	if c.iat == nil {
		if exp.Sub(now) > v.maxLifetime {
			return errJWTLifetime
		}
		return nil
	}
	if c.iat.After(now.Add(v.skew)) {
		return errJWTIatAhead
	}
	if exp.Sub(c.iat.Time) > v.maxLifetime { // Sub saturates, no overflow
		return errJWTLifetime
	}
	return nil
}

// splitJWT reports whether token has the JWS compact shape: exactly three
// segments of the unpadded base64url alphabet. It returns the first segment.
// This rejects padding, the standard alphabet, whitespace, JWE's five
// segments and a header of 64 KiB of dots in one pass with no allocation,
// before the library splits or decodes anything.
func splitJWT(token string) (header string, ok bool) {
	dots, first := 0, -1
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			if dots == 0 {
				first = i
			}
			dots++
			if dots > 2 {
				return "", false
			}
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", false
		}
	}
	if dots != 2 {
		return "", false
	}
	return token[:first], true
}

// checkHeader rejects a JOSE header with duplicate keys or a crit member.
// golang-jwt reads the header into a map, where a repeated "alg" would
// silently take the last value, so we look at the raw JSON first. crit
// lists extensions the recipient MUST understand (RFC 7515 §4.1.11); we
// understand none, so any crit is refused, where the reference accepts it
// (case 30).
func checkHeader(seg string) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return detail(ErrInvalidJWT, "header is not base64url")
	}
	err = walkObject(b, func(key string, _ []byte) error {
		if key == "crit" {
			return errJWTCrit
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrInvalidJWT):
		return err
	default:
		return detail(ErrInvalidJWT, "header: "+err.Error())
	}
}

var (
	errClaimType = errors.New("registered claim of the wrong type")
	errDateRange = errors.New("NumericDate out of range")
)

// maxDateSeconds clamps NumericDates for time arithmetic: time.Unix and
// Time.Add overflow silently near ±2^63 seconds, which would turn a far
// future exp into a past one. 2^62 seconds is about 146 billion years, so
// clamping changes no comparison with any real clock or skew.
const maxDateSeconds = 1 << 62

// tokenClaims holds the registered claims of a JWT payload. It decodes
// itself with walkObject rather than struct tags, because encoding/json
// matches struct fields case-insensitively ("EXP" would fill exp) and lets a
// repeated key win silently.
type tokenClaims struct {
	decoded       bool
	exp, nbf, iat *jwt.NumericDate
	iss, sub, jti string
	hasIss        bool
	aud           []string
}

// UnmarshalJSON decodes a JWT payload, which must be a JSON object without
// duplicate keys. A null registered claim counts as absent. Errors carry no
// input bytes.
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	err := walkObject(b, func(key string, raw []byte) error {
		var err error
		switch key {
		case "exp":
			c.exp, err = numericDateClaim(raw)
		case "nbf":
			c.nbf, err = numericDateClaim(raw)
		case "iat":
			c.iat, err = numericDateClaim(raw)
		case "iss":
			c.iss, c.hasIss, err = stringClaim(raw)
		case "sub":
			c.sub, _, err = stringClaim(raw)
		case "jti":
			c.jti, _, err = stringClaim(raw)
		case "aud":
			c.aud, err = audienceClaim(raw)
		}
		return err
	})
	if err != nil {
		return errors.New("payload: " + err.Error())
	}
	c.decoded = true
	return nil
}

// numericDateClaim decodes the raw JSON value of exp, nbf or iat.
func numericDateClaim(raw []byte) (*jwt.NumericDate, error) {
	switch raw[0] {
	case 'n':
		return nil, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return parseNumericDate(string(raw))
	default:
		return nil, errClaimType
	}
}

// parseNumericDate parses a JSON number of seconds since the epoch
// (RFC 7519 §2), which may have a fraction. Integers must fit in an int64
// and other numbers must be finite and inside the int64 range.
func parseNumericDate(s string) (*jwt.NumericDate, error) {
	var sec, nsec int64
	if !strings.ContainsAny(s, ".eE") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errDateRange
		}
		sec = n
	} else {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || f < -0x1p63 || f >= 0x1p63 {
			return nil, errDateRange
		}
		whole, frac := math.Modf(f)
		sec, nsec = int64(whole), int64(frac*1e9)
	}
	if sec > maxDateSeconds || sec < -maxDateSeconds {
		sec, nsec = min(max(sec, -maxDateSeconds), maxDateSeconds), 0
	}
	return &jwt.NumericDate{Time: time.Unix(sec, nsec).UTC()}, nil
}

// stringClaim decodes the raw JSON value of iss, sub or jti.
func stringClaim(raw []byte) (s string, present bool, err error) {
	switch raw[0] {
	case 'n':
		return "", false, nil
	case '"':
		s, err = jsonString(raw)
		return s, err == nil, err
	default:
		return "", false, errClaimType
	}
}

// audienceClaim decodes the raw JSON value of aud: a string or an array of
// strings.
func audienceClaim(raw []byte) ([]string, error) {
	switch raw[0] {
	case 'n':
		return nil, nil
	case '"':
		s, err := jsonString(raw)
		return []string{s}, err
	case '[':
	default:
		return nil, errClaimType
	}
	aud := []string{}
	w := jsonWalker{b: raw, i: 1}
	w.skipSpace()
	if w.peek() == ']' {
		return aud, nil
	}
	for {
		w.skipSpace()
		if w.peek() != '"' {
			return nil, errClaimType
		}
		start := w.i
		w.skipString()
		s, err := jsonString(raw[start:w.i])
		if err != nil {
			return nil, err
		}
		aud = append(aud, s)
		w.skipSpace()
		switch w.peek() {
		case ',':
			w.i++
		case ']':
			return aud, nil
		default:
			return nil, errJSONSyntax
		}
	}
}

// tokenClaims implements jwt.Claims so the library's validator checks exp
// and nbf with our leeway and clock. iss and aud are checked by Verify, to
// get the reference's precedence and to tell a missing iss from a missing
// exp.
var _ jwt.Claims = (*tokenClaims)(nil)

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.nbf, nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.iat, nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.iss, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.sub, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.aud, nil }

// SignHS256 returns an HS256 JWT over claims, for the token sign command and
// for tests. It refuses a secret shorter than MinSecretSize and claims that
// Verify would reject as malformed (no numeric exp, an iss that is not a
// string, and so on), so a minted token can fail only on its times, issuer
// or audience.
func SignHS256(secret []byte, claims map[string]any) (string, error) {
	if len(secret) < MinSecretSize {
		return "", fmt.Errorf("auth: HS256 secret must be at least %d bytes", MinSecretSize)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("auth: encoding claims: %w", err)
	}
	var c tokenClaims
	if err := c.UnmarshalJSON(payload); err != nil {
		return "", fmt.Errorf("auth: claims would not verify: %w", err)
	}
	if c.exp == nil {
		return "", errors.New("auth: claims must include a numeric exp")
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
}

// String describes the verifier's configuration, never its key.
func (v JWTVerifier) String() string {
	return fmt.Sprintf("auth.JWTVerifier{alg: HS256, issuer: %q, audience: %q, clock skew: %v, max lifetime: %v}",
		v.issuer, v.audience, v.skew, v.maxLifetime)
}

// GoString returns the same as String, so %#v shows no key.
func (v JWTVerifier) GoString() string { return v.String() }

// Format prints String for every verb.
func (v JWTVerifier) Format(f fmt.State, _ rune) { io.WriteString(f, v.String()) }

// LogValue implements slog.LogValuer with the configuration, never the key.
func (v JWTVerifier) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", ModeSignedBearerToken),
		slog.String("alg", "HS256"),
		slog.String("issuer", v.issuer),
		slog.String("audience", v.audience),
		slog.Duration("clock_skew", v.skew),
		slog.Duration("max_lifetime", v.maxLifetime),
	)
}
