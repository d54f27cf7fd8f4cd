// Package cli is the appserver command: flag parsing, configuration from
// files and the environment, and the subcommands. It is the only package
// that reads files and environment variables on the server's behalf; the
// library packages take options. Exit statuses are chosen in one place,
// [Main.Run].
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is appserver's version, reported by `appserver version` and in
// initialize's userAgent.
const Version = "0.1.0"

// ProtocolVersion is the Codex app-server protocol appserver speaks, as
// observed on codex-cli 0.169.0; see ServerOptions.ProtocolVersion.
const ProtocolVersion = "0.169.0"

// Main holds what a command run touches outside the process, so tests can
// run commands in-process.
type Main struct {
	Stdin  io.ReadCloser
	Stdout io.WriteCloser
	Stderr io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// SelfHelper says this binary's main runs sandbox.Main when its first
	// argument is sandbox.HelperArg, so it can be its own sandbox helper.
	// Without it (a test binary, say) the server never starts itself as a
	// helper for anything but a sandboxed command, and hides nothing.
	SelfHelper bool
	// ready, if set, is called with the banner's first listen URL once a
	// server listens (tests use it instead of parsing stderr).
	ready func(url string)
}

// exitError carries an exit status for errors that are not usage errors.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Run runs the command line args (without the program name) and returns
// the exit status: 0 on success, 2 for usage errors, 1 for everything else,
// printed as "Error: <message>".
func (m *Main) Run(ctx context.Context, args []string) int {
	if m.Getenv == nil {
		m.Getenv = os.Getenv
	}
	err := m.dispatch(ctx, args)
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(m.Stderr, "%s\n\n%s\n", ue.msg, ue.usage)
		return 2
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(m.Stderr, "Error: %v\n", err)
	return code
}

func (m *Main) dispatch(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-V":
			fmt.Fprintln(m.Stdout, versionString())
			return nil
		case "help":
			fmt.Fprint(m.Stdout, topHelp)
			return nil
		case "serve", "app-server":
			// "app-server" keeps scripts written for `codex app-server`
			// working with a one-word change.
			return m.serve(ctx, args[1:])
		case "rpc":
			return m.rpc(ctx, args[1:])
		case "token":
			return m.token(ctx, args[1:])
		case "secret":
			return m.secret(ctx, args[1:])
		}
		if !strings.HasPrefix(args[0], "-") {
			return &usageError{
				msg:   fmt.Sprintf("error: unrecognized subcommand '%s'", args[0]),
				usage: "Usage: appserver [OPTIONS] | appserver <COMMAND>\n\nFor more information, try 'appserver help'.",
			}
		}
	}
	return m.serve(ctx, args)
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("appserver %s%s (%s, %s/%s)", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

const topHelp = `appserver: a Codex-compatible app-server that runs a coding agent's commands,
files, threads and turns for JSON-RPC clients over stdio, WebSocket or a unix socket.

Usage: appserver [OPTIONS]            serve (see appserver --help)
       appserver <COMMAND> [ARGS]

Commands:
  serve      Serve JSON-RPC (the default; also spelled app-server)
  rpc        Send one request to a server and print the answer
  token      Create a capability token, or sign a JWT (token create, token sign)
  secret     Create a shared secret for JWTs (secret create)
  version    Print the version
  help       Print this message

Run 'appserver COMMAND --help' for a command's options.
`
