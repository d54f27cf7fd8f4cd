package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use, with a no-op
// Close so it can be Main.Stdout.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) Close() error { return nil }

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runResult is one in-process run of the command.
type runResult struct {
	code           int
	stdout, stderr string
	ready          []string // URLs passed to the ready hook
}

// runMain runs args in-process with a cancelled context, so a server that
// starts stops again right after it listens. home is $APPSERVER_HOME.
func runMain(home string, args ...string) runResult {
	var stdout, stderr lockedBuffer
	var mu sync.Mutex
	var ready []string
	m := &Main{
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string {
			if k == "APPSERVER_HOME" {
				return home
			}
			return ""
		},
		ready: func(url string) { mu.Lock(); ready = append(ready, url); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code := m.Run(ctx, args)
	mu.Lock()
	defer mu.Unlock()
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String(), ready: ready}
}

// The optional --ws-* flags of the property test, one bit each.
const (
	optTokenFile = 1 << iota
	optTokenSHA256
	optSecretFile
	optIssuer
	optAudience
	optSkew
	numOpts = 6
)

// wsAuthOracle decides, from the rules of WEBSOCKET-AUTH.md ("Startup
// validation") and design.md, whether a combination may start, and if not
// which error comes first. It is written from the documents, not from
// serve_auth.go.
func wsAuthOracle(mode string, opts int, loopback bool) (ok bool, wantErr string) {
	tokenFlags := opts&(optTokenFile|optTokenSHA256) != 0
	jwtFlags := opts&(optSecretFile|optIssuer|optAudience|optSkew) != 0
	switch mode {
	case "":
		if tokenFlags || jwtFlags {
			return false, "websocket auth flags require `--ws-auth capability-token` or `--ws-auth signed-bearer-token`"
		}
		if !loopback {
			return false, "refusing to start non-loopback websocket listener 0.0.0.0:0 without auth; configure `--ws-auth capability-token` or `--ws-auth signed-bearer-token`"
		}
		return true, ""
	case "capability-token":
		switch {
		case jwtFlags:
			return false, "`--ws-shared-secret-file`, `--ws-issuer`, `--ws-audience`, and `--ws-max-clock-skew-seconds` require `--ws-auth signed-bearer-token`"
		case opts&optTokenFile != 0 && opts&optTokenSHA256 != 0:
			return false, "`--ws-token-file` and `--ws-token-sha256` are mutually exclusive"
		case !tokenFlags:
			return false, "`--ws-token-file` or `--ws-token-sha256` is required when `--ws-auth capability-token` is set"
		}
		return true, ""
	case "signed-bearer-token":
		switch {
		case tokenFlags:
			return false, "`--ws-token-file` and `--ws-token-sha256` require `--ws-auth capability-token`, not `signed-bearer-token`"
		case opts&optSecretFile == 0:
			return false, "`--ws-shared-secret-file` is required when `--ws-auth signed-bearer-token` is set"
		}
		return true, ""
	}
	panic("unknown mode " + mode)
}

// TestWSAuthFlagCombinations runs every subset of the --ws-* flags under
// each mode and on a loopback and a wildcard listener (3 × 64 × 2 = 384
// runs), with the flags in a shuffled order, and checks invariants:
//
//	(i)   exit 0 exactly when the oracle says the combination is valid;
//	      otherwise exit 1 with the oracle's first error;
//	(ii)  every failure prints exactly one "Error: " line, first;
//	(iii) a non-loopback listener never starts without a verifier, and
//	      when it starts its banner says auth is required and names it;
//	(iv)  no output contains the token or the secret.
func TestWSAuthFlagCombinations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	const token = "property-test-token-Zq8xN3vK5mW2rT7yB1cD"
	const secret = "property-test-secret-Hj4Lp9Qs2Uv6Xz0Ab3Ce7Gf"
	tokenFile := filepath.Join(dir, "token")
	secretFile := filepath.Join(dir, "secret")
	for p, v := range map[string]string{tokenFile: token + "\n", secretFile: secret + "\n"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte(token))
	digest := hex.EncodeToString(sum[:])
	optArgs := [numOpts][]string{
		{"--ws-token-file", tokenFile},
		{"--ws-token-sha256", digest},
		{"--ws-shared-secret-file", secretFile},
		{"--ws-issuer", "I"},
		{"--ws-audience", "A"},
		{"--ws-max-clock-skew-seconds", "5"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	runs, started := 0, 0
	for _, mode := range []string{"", "capability-token", "signed-bearer-token"} {
		for opts := range 1 << numOpts {
			for _, listen := range []string{"ws://127.0.0.1:0", "ws://0.0.0.0:0"} {
				runs++
				var groups [][]string
				if mode != "" {
					groups = append(groups, []string{"--ws-auth", mode})
				}
				for i := range numOpts {
					if opts&(1<<i) != 0 {
						groups = append(groups, optArgs[i])
					}
				}
				groups = append(groups, []string{"--listen", listen})
				rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
				var args []string
				for _, g := range groups {
					if rng.IntN(2) == 0 {
						args = append(args, g[0]+"="+g[1])
					} else {
						args = append(args, g...)
					}
				}
				loopback := strings.Contains(listen, "127.0.0.1")
				ok, wantErr := wsAuthOracle(mode, opts, loopback)
				r := runMain(home, args...)
				desc := fmt.Sprintf("appserver %q", args)
				started += len(r.ready)

				// (i)
				switch {
				case ok && r.code != 0:
					t.Errorf("%s: exit %d, want 0:\n%s", desc, r.code, r.stderr)
				case !ok && r.code != 1:
					t.Errorf("%s: exit %d, want 1:\n%s", desc, r.code, r.stderr)
				}
				// (ii)
				if r.code != 0 {
					lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
					if n := strings.Count(r.stderr, "Error: "); n != 1 || !strings.HasPrefix(lines[0], "Error: ") {
						t.Errorf("%s: stderr has %d \"Error: \" lines, first line %q", desc, n, lines[0])
					}
					if !ok && lines[0] != "Error: "+wantErr {
						t.Errorf("%s: first error\n  %q\nwant\n  %q", desc, lines[0], "Error: "+wantErr)
					}
					if len(r.ready) != 0 {
						t.Errorf("%s: failed after listening on %v", desc, r.ready)
					}
				} else {
					if len(r.ready) != 1 || !strings.HasPrefix(r.ready[0], "ws://") || strings.HasSuffix(r.ready[0], ":0") {
						t.Errorf("%s: ready hook saw %q", desc, r.ready)
					}
					if !strings.Contains(r.stderr, "appserver (WebSockets)\n") {
						t.Errorf("%s: no banner:\n%s", desc, r.stderr)
					}
				}
				// (iii)
				if !loopback && len(r.ready) > 0 {
					if mode == "" {
						t.Errorf("%s: a wildcard listener started without auth", desc)
					}
					if !strings.Contains(r.stderr, "\n  note: websocket auth is required for non-localhost listeners\n  auth: "+mode+" (") {
						t.Errorf("%s: the wildcard listener's banner does not name its auth:\n%s", desc, r.stderr)
					}
				}
				if loopback && r.code == 0 && (mode == "") != !strings.Contains(r.stderr, "\n  auth: ") {
					t.Errorf("%s: banner and mode disagree:\n%s", desc, r.stderr)
				}
				// (iv)
				for _, out := range []string{r.stdout, r.stderr} {
					if strings.Contains(out, token) || strings.Contains(out, secret) {
						t.Errorf("%s: output holds the token or the secret:\n%s", desc, out)
					}
				}
				if r.stdout != "" {
					t.Errorf("%s: stdout %q", desc, r.stdout)
				}
			}
		}
	}
	// 1 without auth, 2 × 2 capability and 8 × 2 signed combinations start.
	if runs != 384 || started != 21 {
		t.Fatalf("%d runs, %d servers started; want 384 and 21", runs, started)
	}
}

// TestInsecureNoAuth: --insecure-no-auth is the only way a wildcard
// listener starts without a verifier, and it says so.
func TestInsecureNoAuth(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	r := runMain(home, "--listen", "ws://0.0.0.0:0", "--insecure-no-auth")
	if r.code != 0 || len(r.ready) != 1 {
		t.Fatalf("exit %d, ready %v:\n%s", r.code, r.ready, r.stderr)
	}
	if !strings.Contains(r.stderr, "level=WARN") || !strings.Contains(r.stderr, "  warning: NO AUTHENTICATION") {
		t.Errorf("no warning:\n%s", r.stderr)
	}
	// With auth configured the flag changes nothing but a warning.
	tok := filepath.Join(home, "tok")
	if err := os.WriteFile(tok, []byte("a-token-long-enough-for-no-warning\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runMain(home, "--listen", "ws://0.0.0.0:0", "--insecure-no-auth", "--ws-auth", "capability-token", "--ws-token-file", tok)
	if r.code != 0 || strings.Contains(r.stderr, "NO AUTHENTICATION") || !strings.Contains(r.stderr, "--insecure-no-auth has no effect here") {
		t.Errorf("exit %d:\n%s", r.code, r.stderr)
	}
}

// TestServeAuthEdgeCases covers startup rows in-process, including the
// ones the binary tests cannot reach (an unreadable file as root).
func TestServeAuthEdgeCases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	innerBlank := write("inner", "ab cd ef gh ij kl mn op qr st\n")
	ctrl := write("ctrl", "token\x01with-a-control-byte-inside\n")
	secret32 := write("s32", " \t"+strings.Repeat("k", 32)+"\r\n")
	secret31 := write("s31", strings.Repeat("k", 31)+"\n")
	cr := write("crlf", "crlf-token-0123456789abcdef\r\n")
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string // first stderr line for failures, a banner fragment for successes
	}{
		{"inner blanks are kept", []string{"--ws-auth", "capability-token", "--ws-token-file", innerBlank}, 0,
			"fingerprint sha256:" + fingerprintHex("ab cd ef gh ij kl mn op qr st")},
		{"CRLF is trimmed", []string{"--ws-auth", "capability-token", "--ws-token-file", cr}, 0,
			"fingerprint sha256:" + fingerprintHex("crlf-token-0123456789abcdef")},
		{"a token no client could present", []string{"--ws-auth", "capability-token", "--ws-token-file", ctrl}, 1,
			"Error: auth: capability token must be printable ASCII without leading or trailing blanks, or no client could present it"},
		{"32 bytes after trimming blanks, tabs and CRLF", []string{"--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", secret32}, 0,
			"auth: signed-bearer-token (secret file " + secret32 + ", clock skew 30s)"},
		{"31 bytes", []string{"--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", secret31}, 1,
			"Error: signed websocket bearer secret " + secret31 + " must be at least 32 bytes"},
		{"uppercase digest", []string{"--ws-auth", "capability-token", "--ws-token-sha256", strings.Repeat("AB", 32)}, 0,
			"auth: capability-token (sha256 digest sha256:abababababab)"},
		{"skew 86400", []string{"--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", secret32, "--ws-max-clock-skew-seconds", "86400"}, 0,
			", clock skew 24h0m0s)"},
		{"skew 86401", []string{"--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", secret32, "--ws-max-clock-skew-seconds", "86401"}, 1,
			"Error: websocket auth clock skew of 86401 seconds is too large; the limit is 86400 (one day), since a larger skew accepts long-expired tokens"},
		{"issuer and audience are quoted", []string{"--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", secret32, "--ws-issuer", `a "b"`, "--ws-audience", "c"}, 0,
			`, issuer "a \"b\"", audience "c")`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runMain(t.TempDir(), append([]string{"--listen", "ws://127.0.0.1:0"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tt.code, r.stderr)
			}
			if tt.code != 0 {
				if first, _, _ := strings.Cut(r.stderr, "\n"); first != tt.want {
					t.Errorf("first line %q, want %q", first, tt.want)
				}
			} else if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

func fingerprintHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}

// TestReadSecretFile covers the reading rules directly: UTF-8, trimming
// of spaces, tabs, CR and LF only, and the mode warning.
func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		content string
		mode    os.FileMode
		want    string
		errSub  string
	}{
		{" \t tok en \r\n", 0o600, "tok en", ""},
		{"\v tok \f", 0o600, "\v tok \f", ""}, // only space, tab, CR and LF are trimmed
		{"\u00a0tok\u00a0", 0o600, "\u00a0tok\u00a0", ""},
		{"\n\n", 0o600, "", "must not be empty"},
		{"\xc3\x28", 0o600, "", "stream did not contain valid UTF-8"},
	} {
		p := filepath.Join(dir, fmt.Sprintf("f%d", len(tt.content)))
		if err := os.WriteFile(p, []byte(tt.content), tt.mode); err != nil {
			t.Fatal(err)
		}
		abs, got, err := readSecretFile(p, nil)
		switch {
		case tt.errSub != "":
			if err == nil || !strings.Contains(err.Error(), tt.errSub) || !strings.Contains(err.Error(), p) {
				t.Errorf("%q: err %v, want one naming %s and %q", tt.content, err, p, tt.errSub)
			}
		case err != nil || got != tt.want || abs != p:
			t.Errorf("%q: %q %q %v, want %q", tt.content, abs, got, err, tt.want)
		}
	}
}
