// Command appserver serves the Codex app-server protocol over stdio,
// WebSocket or a unix socket. See README.md, or run `appserver --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/appserver-go/appserver/internal/cli"
	"github.com/appserver-go/appserver/internal/sandbox"
)

func main() {
	// The sandbox helper: the server re-executes itself to confine a
	// command before exec'ing it (see internal/sandbox).
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
		os.Exit(sandbox.Main(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second signal after the first one kills the process at once.
	go func() { <-ctx.Done(); stop() }()
	m := &cli.Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, SelfHelper: true}
	os.Exit(m.Run(ctx, os.Args[1:]))
}
