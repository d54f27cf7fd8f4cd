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
