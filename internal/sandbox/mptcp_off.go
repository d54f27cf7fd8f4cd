//go:build !linux || !(amd64 || arm64)

package sandbox

import (
	"errors"
	"runtime"
)

// haveMPTCPFilter reports whether this build has a seccomp filter that
// refuses Multipath TCP sockets. Without one, networkAccess=false cannot be
// promised: Landlock's TCP rules do not cover Multipath TCP.
const haveMPTCPFilter = false

func installNetFilter() error {
	return errors.New("no Multipath TCP filter on " + runtime.GOARCH)
}

func installLimitFilter() error {
	return errors.New("no seccomp filters on " + runtime.GOARCH)
}
