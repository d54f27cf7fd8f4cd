// Command appserver-sandbox is the standalone sandbox helper: appserver
// starts every sandboxed command through it when it is installed beside the
// appserver binary (go install ./cmd/...), because it starts in about half
// the time the whole server binary takes. Without it, appserver re-executes
// itself for the same job. It is not meant to be run by hand; see
// internal/sandbox.
package main

import (
	"fmt"
	"os"

	"github.com/appserver-go/appserver/internal/sandbox"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
		os.Exit(sandbox.Main(os.Args[2:]))
	}
	fmt.Fprintf(os.Stderr, "appserver-sandbox: the sandbox helper of appserver; it is started by the server, not by hand\n")
	os.Exit(2)
}
