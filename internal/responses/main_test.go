package responses_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: stream
// bodies, idle timers, scripted servers, HTTP transports.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
