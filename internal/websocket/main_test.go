package websocket

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: handler
// goroutines, reader loops, coder/websocket clients, http transports.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
