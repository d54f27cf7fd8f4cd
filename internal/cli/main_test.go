package cli

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: these tests run
// whole servers in-process (flags through Run, credential reloads).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
