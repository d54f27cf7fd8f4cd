package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appserver-go/appserver/auth"
)

// token runs `appserver token create|sign`.
func (m *Main) token(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(m.Stdout, tokenHelp)
		return nil
	}
	switch args[0] {
	case "create":
		return m.createCredential(args[1:], credToken)
	case "sign":
		return m.signToken(args[1:])
	}
	return &usageError{msg: fmt.Sprintf("error: unrecognized subcommand '%s'", args[0]), usage: "Usage: appserver token create|sign [OPTIONS]\n\nFor more information, try 'appserver token --help'."}
}

// secret runs `appserver secret create`.
func (m *Main) secret(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(m.Stdout, secretHelp)
		return nil
	}
	if args[0] != "create" {
		return &usageError{msg: fmt.Sprintf("error: unrecognized subcommand '%s'", args[0]), usage: "Usage: appserver secret create [OPTIONS]\n\nFor more information, try 'appserver secret --help'."}
	}
	return m.createCredential(args[1:], credSecret)
}

const tokenHelp = `Create or sign bearer tokens for WebSocket authentication.

Usage: appserver token create [--file PATH] [--force]
       appserver token sign --secret-file PATH [--sub SUB] [--iss ISS] [--aud AUD] [--ttl DURATION]

  create   Write a random 256-bit capability token to a 0600 file and print how to
           start the server with it and how to connect
  sign     Print an HS256 JWT signed with a shared secret file, for --ws-auth
           signed-bearer-token
`

const secretHelp = `Create a shared secret for signed JWT bearer tokens.

Usage: appserver secret create [--file PATH] [--force]

Writes 256 random bits, base64url-encoded, to a 0600 file (default
$APPSERVER_HOME/ws-secret) and prints how to start the server with it and how to
sign a token.
`

type credKind int

const (
	credToken credKind = iota
	credSecret
)

func (m *Main) createCredential(args []string, kind credKind) error {
	name, defName := "token", "ws-token"
	if kind == credSecret {
		name, defName = "secret", "ws-secret"
	}
	var file string
	var force bool
	fs := newFlagSet("appserver "+name+" create", "[--file PATH] [--force]", "")
	fs.stringVar(&file, "file", "<PATH>", "Where to write the "+name+" (default $APPSERVER_HOME/"+defName+")")
	fs.switchFlag("force", "Replace an existing file", func() { force = true })
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.help {
		fmt.Fprint(m.Stdout, fs.helpText())
		return nil
	}
	if len(fs.args) > 0 {
		return fs.errorf("unexpected argument '%s' found", fs.args[0])
	}
	if file == "" {
		home, err := stateDir(m.Getenv)
		if err != nil {
			return err
		}
		file = filepath.Join(home, defName)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	var value string
	if kind == credToken {
		value, err = auth.NewToken()
	} else {
		value, err = auth.NewSecret()
	}
	if err != nil {
		return err
	}
	if err := writePrivateFile(abs, []byte(value+"\n"), force); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(value))
	w := m.Stdout
	if kind == credToken {
		fmt.Fprintf(w, "Wrote a new capability token to %s (mode 0600).\n", abs)
		fmt.Fprintf(w, "SHA-256 of the token: %s\n\n", hex.EncodeToString(sum[:]))
		fmt.Fprintf(w, "Start the server (replace 0.0.0.0 with one address to listen on less):\n")
		fmt.Fprintf(w, "  appserver --listen ws://0.0.0.0:4500 --ws-auth capability-token --ws-token-file %s\n", shellQuote(abs))
		fmt.Fprintf(w, "or, keeping the token itself out of the server's configuration:\n")
		fmt.Fprintf(w, "  appserver --listen ws://0.0.0.0:4500 --ws-auth capability-token --ws-token-sha256 %s\n\n", hex.EncodeToString(sum[:]))
		fmt.Fprintf(w, "Connect (bearer tokens travel only over wss:// or to loopback, so from another\nmachine go through TLS or an SSH tunnel: ssh -N -L 4500:127.0.0.1:4500 SERVER):\n")
		fmt.Fprintf(w, "  appserver rpc --token-file %s ws://127.0.0.1:4500 initialize\n", shellQuote(abs))
		fmt.Fprintf(w, "  export APPSERVER_TOKEN=\"$(cat %s)\"\n", shellQuote(abs))
		fmt.Fprintf(w, "  codex --remote ws://127.0.0.1:4500 --remote-auth-token-env APPSERVER_TOKEN\n")
		return nil
	}
	fmt.Fprintf(w, "Wrote a new shared secret to %s (mode 0600).\n\n", abs)
	fmt.Fprintf(w, "Start the server:\n")
	fmt.Fprintf(w, "  appserver --listen ws://0.0.0.0:4500 --ws-auth signed-bearer-token --ws-shared-secret-file %s --ws-issuer ISSUER --ws-audience AUDIENCE\n\n", shellQuote(abs))
	fmt.Fprintf(w, "Sign a token valid for one hour:\n")
	fmt.Fprintf(w, "  appserver token sign --secret-file %s --iss ISSUER --aud AUDIENCE --sub USER --ttl 1h\n", shellQuote(abs))
	return nil
}

// writePrivateFile writes data to path with mode 0600. Without force it
// refuses to replace anything. With force it writes a temporary file in the
// same directory and renames it over path, so a crash never leaves a
// half-written credential and the old one stays valid until the new one is
// whole.
func writePrivateFile(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; pass --force to replace it (clients using the old value will be refused)", path)
		}
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
		}
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-credential-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (m *Main) signToken(args []string) error {
	var secretFile, sub, iss, aud string
	ttl := time.Hour
	fs := newFlagSet("appserver token sign", "--secret-file PATH [OPTIONS]", "Print an HS256 JWT for --ws-auth signed-bearer-token.")
	fs.stringVar(&secretFile, "secret-file", "<PATH>", "The shared secret file the server uses (--ws-shared-secret-file)")
	fs.stringVar(&sub, "sub", "<SUBJECT>", "The sub claim: who the token is for")
	fs.stringVar(&iss, "iss", "<ISSUER>", "The iss claim (must match the server's --ws-issuer, if set)")
	fs.stringVar(&aud, "aud", "<AUDIENCE>", "The aud claim (must match the server's --ws-audience, if set)")
	fs.value("ttl", "<DURATION>", "How long the token is valid (default 1h)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("expected a positive duration such as 15m")
		}
		ttl = d
		return nil
	})
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.help {
		fmt.Fprint(m.Stdout, fs.helpText())
		return nil
	}
	if secretFile == "" {
		return fs.errorf("the following required arguments were not provided: --secret-file <PATH>")
	}
	_, secret, err := readSecretFile(secretFile, nil)
	if err != nil {
		return err
	}
	if len(secret) < 32 {
		return fmt.Errorf("the secret in %s is shorter than 32 bytes; the server would refuse it", secretFile)
	}
	now := time.Now()
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	claims := map[string]any{
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
		"jti": hex.EncodeToString(jti),
	}
	for k, v := range map[string]string{"sub": sub, "iss": iss, "aud": aud} {
		if v != "" {
			claims[k] = v
		}
	}
	tok, err := auth.SignHS256([]byte(secret), claims)
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, tok)
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
