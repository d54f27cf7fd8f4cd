package auth

import "strings"

// Reasons for ErrInvalidHeader, built once so that rejecting a header never
// allocates (case 5).
var (
	errHeaderBytes   = detail(ErrInvalidHeader, "byte outside printable ASCII")
	errHeaderNoSpace = detail(ErrInvalidHeader, "no space after the scheme")
	errHeaderScheme  = detail(ErrInvalidHeader, "scheme is not Bearer")
	errHeaderNoToken = detail(ErrInvalidHeader, "empty bearer token")
)

// ParseBearer returns the bearer token from values, all the Authorization
// header values of one request (as http.Header["Authorization"] holds them).
//
// It follows the reference server: the scheme "Bearer" is matched without
// regard to case (RFC 7235 §2.1) and must be followed by a space (0x20); the
// token is everything after that first space, with spaces and tabs trimmed
// from both ends. No values gives ErrMissingToken. More than one value gives
// ErrMultipleHeaders, where the reference lets the first win: refusing the
// ambiguity means no proxy in front of us can have checked a different
// credential (case 4). Any other scheme, no token, or a byte other than
// 0x20-0x7E or HTAB (the bytes RFC 9110 allows in a field value) gives
// ErrInvalidHeader.
//
// ParseBearer runs in time linear in the input and does not allocate: the
// token is a substring of values[0], so a 64 KiB header of junk costs one
// pass (case 5).
func ParseBearer(values []string) (token string, err error) {
	switch len(values) {
	case 0:
		return "", ErrMissingToken
	case 1:
	default:
		return "", ErrMultipleHeaders
	}
	v := values[0]
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 || c > 0x7e) && c != '\t' {
			return "", errHeaderBytes
		}
	}
	// Leading and trailing blanks are not part of a field value
	// (RFC 9110 §5.5); net/http has already removed them, other callers may
	// not have.
	scheme, rest, ok := strings.Cut(trimBlanks(v), " ")
	if !ok {
		return "", errHeaderNoSpace // "Bearer", "BearerTOKEN", "Bearer\ttok", ""
	}
	if len(scheme) != len("Bearer") || !strings.EqualFold(scheme, "Bearer") {
		return "", errHeaderScheme
	}
	token = trimBlanks(rest)
	if token == "" {
		return "", errHeaderNoToken
	}
	return token, nil
}

// trimBlanks removes spaces and tabs from both ends of s.
func trimBlanks(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// presentable reports whether token could come out of ParseBearer: only
// printable ASCII or HTAB, and no blank at either end.
func presentable(token string) bool {
	if token == "" || trimBlanks(token) != token {
		return false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; (c < 0x20 || c > 0x7e) && c != '\t' {
			return false
		}
	}
	return true
}
