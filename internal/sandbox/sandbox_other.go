//go:build !linux

package sandbox

import "runtime"

// Probe reports what the running kernel can enforce: on this platform,
// nothing, so only DangerFullAccess passes Check.
func Probe() Support {
	return Support{Reason: "Landlock is only available on Linux, and this is " + runtime.GOOS}
}

// Main is the sandbox helper (see the Linux version). On this platform it
// cannot confine anything, so it always fails with ExitCannotRun.
func Main(args []string) int {
	return fail(ExitCannotRun, "cannot sandbox commands on %s", runtime.GOOS)
}

// Helper is the binary that confines sandboxed commands (see the Linux
// version).
type Helper struct {
	Path       string
	Standalone bool
	Reason     string
}

// Close does nothing on this platform.
func (h *Helper) Close() error { return nil }

// FindHelper returns the server binary itself: no helper can confine
// anything on this platform.
func FindHelper(exe string) *Helper { return &Helper{Path: exe} }
