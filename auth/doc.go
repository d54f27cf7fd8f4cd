// Package auth decides who a WebSocket client is before the HTTP upgrade
// completes. It is transport-free: callers hand it the Authorization header
// values and get back a Principal or one of a fixed set of errors whose texts
// are the 401 bodies.
//
//	token, err := auth.ParseBearer(r.Header["Authorization"])
//	if err == nil {
//		p, err = verifier.Verify(token)
//	}
//	if err != nil {
//		log.Info("upgrade refused", "reason", err) // detail for the operator
//		http.Error(w, auth.PublicText(err), http.StatusUnauthorized)
//		return
//	}
//	ctx = auth.NewContext(ctx, p)
//
// # Modes
//
// A capability token (ModeCapabilityToken) is one shared random string. The
// CapabilityVerifier keeps only its SHA-256 digest, so the token itself never
// sits in memory after start-up and can be configured as a digest on the
// command line. A presented token is hashed and the two 32-byte digests are
// compared with crypto/subtle: hashing first makes every wrong token, of any
// length, take the same path, which a plain constant-time compare of unequal
// lengths would not.
//
// A signed bearer token (ModeSignedBearerToken) is an HS256 JWT minted by
// someone who holds a shared secret of at least MinSecretSize bytes
// (RFC 7518 §3.2). The JWTVerifier pins the algorithm to HS256 (which rules
// out "none" and RS/HS key confusion, RFC 8725 §2.1), checks the signature
// before any claim so that answers reveal nothing without the key, requires
// exp, and rejects what could be read two ways: duplicate JSON keys, crit
// extensions, non-canonical base64. It uses one fixed key, so kid, jku, x5u
// and jwk headers never cause file or network access.
//
// # Errors and logging
//
// Every error from ParseBearer and the verifiers wraps exactly one of the
// Err* sentinels. err.Error() may carry an internal detail for logs;
// PublicText(err) is the only text that should reach the peer. Secret, the
// verifiers and Principal format and log without secret material.
//
// Verifiers are immutable after construction and safe for concurrent use.
package auth
