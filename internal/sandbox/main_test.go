package sandbox_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/appserver-go/appserver/internal/sandbox"
)

// TestMain lets the test binary play two more parts: the sandbox helper
// (argv[1] is HelperArg, as in the server binary), and a target program
// probing the network from inside a sandbox (SANDBOX_TEST_MODE is set).
// As itself, it checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
		os.Exit(sandbox.Main(os.Args[2:]))
	}
	if mode := os.Getenv("SANDBOX_TEST_MODE"); mode != "" {
		os.Exit(targetMode(mode, os.Getenv("SANDBOX_TEST_ADDR")))
	}
	goleak.VerifyTestMain(m)
}
