//go:build linux

package sandbox

import "golang.org/x/sys/unix"

// filterArch lists the system calls the network filter inspects, for the
// native ABI and the 32-bit ARM compat ABI (which has no socketcall).
var filterArch = archCalls{
	native:       unix.AUDIT_ARCH_AARCH64,
	nativeSocket: []uint32{unix.SYS_SOCKET},
	nativeURing:  []uint32{unix.SYS_IO_URING_SETUP},
	compat:       unix.AUDIT_ARCH_ARM,
	compatSocket: []uint32{281}, // socket on arm
	compatURing:  []uint32{425}, // io_uring_setup on arm
	prlimit:      []uint32{unix.SYS_PRLIMIT64},
	compatPrlim:  369, // prlimit64 on arm
}
