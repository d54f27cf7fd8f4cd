//go:build !linux

package sandbox

import (
	"errors"
	"runtime"
	"syscall"
)

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

// Isolation hides server-private paths from sandboxed commands (see the
// Linux version); there is none on this platform.
type Isolation struct{}

// NewIsolation fails on this platform.
func NewIsolation(helper string, paths []string) (*Isolation, error) {
	return nil, errors.New("isolation needs Linux namespaces")
}

// Hidden returns nothing.
func (iso *Isolation) Hidden() []string { return nil }

// Command is the package's Command; nothing is isolated.
func (iso *Isolation) Command(helper string, p Policy, argv []string) ([]string, bool, error) {
	full, err := Command(helper, p, argv)
	return full, false, err
}

// SysProcAttr does nothing on this platform.
func (iso *Isolation) SysProcAttr(*syscall.SysProcAttr) {}
