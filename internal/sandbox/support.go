package sandbox

import (
	"fmt"
	"runtime"
	"strings"
)

// Support is what the running kernel can enforce, as Probe found it.
type Support struct {
	// ABI is the Landlock ABI version, 0 if Landlock is unavailable.
	// Versions newer than go-landlock knows count as the newest it knows.
	ABI int
	// Seccomp reports whether seccomp filters are available. Denying the
	// network needs one, to refuse Multipath TCP sockets, which Landlock's
	// TCP rules do not cover.
	Seccomp bool
	// Reason says why ABI is 0.
	Reason string
}

// Minimum Landlock ABI versions for each promise, and the Linux release
// that introduced them.
const (
	// abiFiles: ABI 3 is the first that denies truncate(2); before it a
	// "read-only" command could still empty any file it may open.
	abiFiles = 3
	// abiTCP: ABI 4 adds TCP bind and connect.
	abiTCP = 4
	// abiIoctlDev: ABI 5 restricts ioctl on devices (which we grant on /dev).
	abiIoctlDev = 5
	// abiScopes: ABI 6 scopes signals and abstract unix sockets.
	abiScopes = 6
)

var abiLinux = map[int]string{abiFiles: "6.2", abiTCP: "6.7"}

// Files reports whether file writes (including truncation) can be confined.
func (s Support) Files() bool { return s.ABI >= abiFiles }

// TCP reports whether TCP connect and bind can be denied.
func (s Support) TCP() bool { return s.ABI >= abiTCP && s.Seccomp && haveMPTCPFilter }

// UDP reports whether UDP (and every other non-TCP inet socket) can be
// denied too when TCP is: the network filter refuses to create them, on
// any ABI that denies TCP; Landlock ABI 10 also denies UDP itself.
func (s Support) UDP() bool { return s.TCP() }

// Scopes reports whether signals and abstract unix sockets can be scoped
// to the sandbox (Landlock ABI 6).
func (s Support) Scopes() bool { return s.ABI >= abiScopes }

// String summarises s, as a server might log it at startup.
func (s Support) String() string {
	if s.ABI == 0 {
		return "no sandbox: " + s.Reason
	}
	var can, cannot []string
	for _, f := range []struct {
		ok   bool
		name string
	}{
		{s.Files(), "files"},
		{s.TCP(), "TCP"},
		{s.UDP(), "UDP"},
		{s.Scopes(), "signals and abstract unix sockets"},
	} {
		if f.ok {
			can = append(can, f.name)
		} else {
			cannot = append(cannot, f.name)
		}
	}
	out := fmt.Sprintf("Landlock ABI %d", s.ABI)
	if len(can) > 0 {
		out += ", enforces " + strings.Join(can, ", ")
	}
	if len(cannot) > 0 {
		out += "; cannot confine " + strings.Join(cannot, ", ")
	}
	return out
}

// unenforceableError is Check's error: a text for people that unwraps
// to ErrUnenforceable for programs.
type unenforceableError struct{ msg string }

func (e *unenforceableError) Error() string { return e.msg }
func (e *unenforceableError) Unwrap() error { return ErrUnenforceable }

// Check returns an error if p is invalid or cannot be enforced with s, so
// that a request for a sandbox this kernel cannot provide fails before
// anything runs instead of running unconfined. Errors for a valid policy
// wrap ErrUnenforceable and say what is missing:
//
//	sandbox policy readOnly cannot be enforced: Landlock is not available on this kernel
//	(requires Linux 5.13 with CONFIG_SECURITY_LANDLOCK); use dangerFullAccess to run without a sandbox
//
// DangerFullAccess is always enforceable.
func (p Policy) Check(s Support) error {
	if err := p.validate(); err != nil {
		return err
	}
	if p.Kind == DangerFullAccess {
		return nil
	}
	prefix := "sandbox policy " + p.Kind.String() + " cannot be enforced: "
	const hatch = "; use dangerFullAccess to run without a sandbox"
	switch {
	case s.ABI <= 0:
		reason := s.Reason
		if reason == "" {
			reason = "Landlock is not available"
		}
		return &unenforceableError{prefix + reason + hatch}
	case !s.Files():
		return &unenforceableError{fmt.Sprintf("%sconfining file writes needs Landlock ABI %d (Linux %s); this kernel has ABI %d%s",
			prefix, abiFiles, abiLinux[abiFiles], s.ABI, hatch)}
	case !p.NetworkAccess && s.ABI < abiTCP:
		return &unenforceableError{fmt.Sprintf("%snetworkAccess=false needs Landlock ABI %d (Linux %s); this kernel has ABI %d; allow network access or use dangerFullAccess",
			prefix, abiTCP, abiLinux[abiTCP], s.ABI)}
	case !p.NetworkAccess && !s.Seccomp:
		return &unenforceableError{prefix + "networkAccess=false needs seccomp filters, to refuse Multipath TCP and UDP, which Landlock does not confine; this kernel has none; allow network access or use dangerFullAccess"}
	case !p.NetworkAccess && !haveMPTCPFilter:
		return &unenforceableError{prefix + "networkAccess=false is not implemented on " + runtime.GOARCH + " (no seccomp filter for Multipath TCP); allow network access or use dangerFullAccess"}
	}
	return nil
}
