package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/appserver-go/appserver/auth"
	"github.com/appserver-go/appserver/internal/listen"
	"github.com/appserver-go/appserver/internal/oserr"
)

// maxClockSkew bounds --ws-max-clock-skew-seconds. The reference accepts
// any value up to 2^63-1 seconds, which silently turns expiry off; a day
// covers any real clock drift.
const maxClockSkew = 24 * time.Hour

// authFlags are the --ws-* flags, as given.
type authFlags struct {
	mode           string
	tokenFile      *string
	tokenSHA256    *string
	secretFile     *string
	issuer         *string
	audience       *string
	skewSeconds    *uint64
	insecureNoAuth bool
}

func (a *authFlags) register(fs *flagSet) {
	fs.value("ws-auth", "<MODE>", "Authentication mode for incoming WebSocket connections\n[possible values: capability-token, signed-bearer-token]", func(v string) error {
		if v != auth.ModeCapabilityToken && v != auth.ModeSignedBearerToken {
			return errors.New("possible values: capability-token, signed-bearer-token")
		}
		a.mode = v
		return nil
	})
	str := func(p **string) func(string) error {
		return func(v string) error { *p = &v; return nil }
	}
	fs.value("ws-token-file", "<PATH>", "Path to the capability-token file (relative paths are resolved against the\nworking directory; create one with `appserver token create`)", str(&a.tokenFile))
	fs.value("ws-token-sha256", "<HEX>", "Hex-encoded SHA-256 digest of the capability token (of the token itself,\nwithout a trailing newline)", str(&a.tokenSHA256))
	fs.value("ws-shared-secret-file", "<PATH>", "Path to the shared secret file for signed JWT bearer tokens (at least 32 bytes;\ncreate one with `appserver secret create`)", str(&a.secretFile))
	fs.value("ws-issuer", "<ISSUER>", "Expected issuer (iss) of signed JWT bearer tokens; must not be empty", str(&a.issuer))
	fs.value("ws-audience", "<AUDIENCE>", "Expected audience (aud) of signed JWT bearer tokens; must not be empty", str(&a.audience))
	fs.value("ws-max-clock-skew-seconds", "<SECONDS>", "Maximum clock skew when validating signed JWT bearer tokens (default 30, at\nmost 86400)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return errors.New("number too large to fit in target type")
			}
			return errors.New("invalid digit found in string")
		}
		a.skewSeconds = &n
		return nil
	})
	fs.switchFlag("insecure-no-auth", "Start a non-loopback WebSocket listener without authentication. Anyone who\ncan reach the port can then run commands as this user: use only on a\nnetwork you trust completely, and configure --ws-auth before real remote use", func() {
		a.insecureNoAuth = true
	})
}

// wsAuth is the result of validating the auth flags.
type wsAuth struct {
	verifier auth.Verifier
	source   string        // "token file /abs", for the banner
	insecure bool          // non-loopback without auth, explicitly allowed
	skew     time.Duration // JWT clock skew, for live expiry
	// identity changes exactly when the credential does (a digest of the
	// loaded token or secret), so a reload can tell a rotation from a
	// no-op.
	identity string
	// files are the credential files, watched for rotation.
	files []string
}

// bannerLines describes the auth setup for the startup banner.
func (w *wsAuth) bannerLines(loopback bool) []string {
	switch {
	case w.verifier != nil:
		var lines []string
		if !loopback {
			lines = append(lines, "  note: websocket auth is required for non-localhost listeners")
		}
		return append(lines, "  auth: "+w.verifier.Mode()+" ("+w.source+")")
	case w.insecure:
		return []string{"  warning: NO AUTHENTICATION on a non-loopback listener: anyone who can reach it can run commands as this user; configure --ws-auth before real remote use"}
	}
	return nil
}

// build validates the auth flags against the listener, in the order and
// with the first error lines of the reference, and loads the credential.
func (a *authFlags) build(m *Main, cfg *serveConfig, logger *slog.Logger) (*wsAuth, error) {
	jwtFlags := a.secretFile != nil || a.issuer != nil || a.audience != nil || a.skewSeconds != nil
	tokenFlags := a.tokenFile != nil || a.tokenSHA256 != nil
	w := &wsAuth{}
	switch a.mode {
	case "":
		if jwtFlags || tokenFlags || cfg.maxTokenLifetime != 0 {
			return nil, errors.New("websocket auth flags require `--ws-auth capability-token` or `--ws-auth signed-bearer-token`")
		}
	case auth.ModeCapabilityToken:
		switch {
		case cfg.maxTokenLifetime != 0:
			return nil, errors.New("`--ws-max-token-lifetime` requires `--ws-auth signed-bearer-token`")
		case jwtFlags:
			return nil, errors.New("`--ws-shared-secret-file`, `--ws-issuer`, `--ws-audience`, and `--ws-max-clock-skew-seconds` require `--ws-auth signed-bearer-token`")
		case a.tokenFile != nil && a.tokenSHA256 != nil:
			return nil, errors.New("`--ws-token-file` and `--ws-token-sha256` are mutually exclusive")
		case a.tokenFile == nil && a.tokenSHA256 == nil:
			return nil, errors.New("`--ws-token-file` or `--ws-token-sha256` is required when `--ws-auth capability-token` is set")
		case a.tokenSHA256 != nil:
			v, err := auth.NewCapabilityDigest(*a.tokenSHA256)
			if err != nil {
				return nil, errors.New("--ws-token-sha256 must be a 64-character hex SHA-256 digest")
			}
			w.verifier, w.source = v, "sha256 digest "+fingerprintOf(*a.tokenSHA256)
			w.identity = strings.ToLower(*a.tokenSHA256)
		default:
			path, token, err := readSecretFile(*a.tokenFile, logger)
			if err != nil {
				return nil, err
			}
			if len(token) < 22 {
				logger.Warn("the capability token is short; a guessable token is a remote shell for whoever guesses it", "file", path, "bytes", len(token), "fix", "appserver token create --file "+path+" --force")
			}
			v, err := auth.NewCapabilityToken(token)
			if err != nil {
				return nil, err
			}
			p, _ := v.Verify(token)
			w.verifier, w.source = v, "token file "+path+", fingerprint "+p.Fingerprint
			w.identity, w.files = p.Fingerprint, []string{path}
		}
	case auth.ModeSignedBearerToken:
		switch {
		case tokenFlags:
			return nil, errors.New("`--ws-token-file` and `--ws-token-sha256` require `--ws-auth capability-token`, not `signed-bearer-token`")
		case a.secretFile == nil:
			return nil, errors.New("`--ws-shared-secret-file` is required when `--ws-auth signed-bearer-token` is set")
		case a.issuer != nil && *a.issuer == "":
			return nil, errors.New("`--ws-issuer` must not be empty; omit it to accept any issuer")
		case a.audience != nil && *a.audience == "":
			return nil, errors.New("`--ws-audience` must not be empty; omit it to accept any audience")
		}
		skew := 30 * time.Second
		if a.skewSeconds != nil {
			if *a.skewSeconds > uint64(maxClockSkew/time.Second) {
				return nil, fmt.Errorf("websocket auth clock skew of %d seconds is too large; the limit is %d (one day), since a larger skew accepts long-expired tokens", *a.skewSeconds, uint64(maxClockSkew/time.Second))
			}
			skew = time.Duration(*a.skewSeconds) * time.Second
		}
		path, secret, err := readSecretFile(*a.secretFile, logger)
		if err != nil {
			return nil, err
		}
		if len(secret) < 32 {
			return nil, fmt.Errorf("signed websocket bearer secret %s must be at least 32 bytes", path)
		}
		opts := auth.JWTOptions{ClockSkew: skew, MaxLifetime: cfg.maxTokenLifetime}
		if a.issuer != nil {
			opts.Issuer = *a.issuer
		}
		if a.audience != nil {
			opts.Audience = *a.audience
		}
		v, err := auth.NewJWTVerifier([]byte(secret), opts)
		if err != nil {
			return nil, err
		}
		src := "secret file " + path + ", clock skew " + skew.String()
		if opts.Issuer != "" {
			src += ", issuer " + strconv.Quote(opts.Issuer)
		}
		if opts.Audience != "" {
			src += ", audience " + strconv.Quote(opts.Audience)
		}
		if opts.MaxLifetime != 0 {
			src += ", max lifetime " + opts.MaxLifetime.String()
		}
		sum := sha256.Sum256([]byte(secret))
		w.verifier, w.source, w.skew = v, src, skew
		w.identity, w.files = hex.EncodeToString(sum[:]), []string{path}
	}

	// Listener policy: decided by the bound address, never by where a
	// request comes from.
	if cfg.listen.Kind == listen.WebSocket && !cfg.listen.IsLoopback() && w.verifier == nil {
		if !a.insecureNoAuth {
			return nil, fmt.Errorf("refusing to start non-loopback websocket listener %s without auth; configure `--ws-auth capability-token` or `--ws-auth signed-bearer-token`", cfg.listen.Addr)
		}
		w.insecure = true
		logger.Warn("serving a non-loopback listener WITHOUT AUTHENTICATION (--insecure-no-auth): anyone who can reach it can run commands as this user", "listen", cfg.listen.String())
	} else if a.insecureNoAuth {
		logger.Warn("--insecure-no-auth has no effect here", "listen", cfg.listen.String())
	}
	if w.verifier != nil && cfg.listen.Kind != listen.WebSocket && cfg.listen.Kind != listen.Unix {
		logger.Warn("--ws-auth has no effect without a WebSocket listener", "listen", cfg.listen.String())
	}
	return w, nil
}

// readSecretFile reads a token or secret file as the reference does: UTF-8,
// trimmed of surrounding whitespace, not empty. It returns the absolute
// path and warns when the file is readable by group or others.
func readSecretFile(path string, logger *slog.Logger) (string, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return "", "", fmt.Errorf("failed to read websocket auth secret %s: %s", abs, oserr.Text(err))
	}
	if !utf8.Valid(data) {
		return "", "", fmt.Errorf("failed to read websocket auth secret %s: stream did not contain valid UTF-8", abs)
	}
	s := strings.Trim(string(data), " \t\r\n")
	if s == "" {
		return "", "", fmt.Errorf("websocket auth secret %s must not be empty", abs)
	}
	if fi, err := os.Stat(abs); logger != nil && err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("websocket auth secret file is readable by group or others", "file", abs, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()), "fix", "chmod 600 "+abs)
	}
	return abs, s, nil
}

// fingerprintOf names a configured digest the way auth.Principal does.
func fingerprintOf(hexDigest string) string {
	return "sha256:" + strings.ToLower(hexDigest[:12])
}
