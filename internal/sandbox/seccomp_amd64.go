//go:build linux

package sandbox

import "golang.org/x/sys/unix"

// x32 system calls are x86-64 ones with this bit set in the number.
const x32Bit = 0x40000000

// filterArch lists the system calls the network filter inspects, for the
// native ABI (x86-64 and x32 share an audit arch) and the i386 compat ABI,
// which a 64-bit kernel runs for 32-bit programs.
var filterArch = archCalls{
	native:       unix.AUDIT_ARCH_X86_64,
	nativeSocket: []uint32{unix.SYS_SOCKET, x32Bit | unix.SYS_SOCKET},
	nativeURing:  []uint32{unix.SYS_IO_URING_SETUP, x32Bit | unix.SYS_IO_URING_SETUP},
	compat:       unix.AUDIT_ARCH_I386,
	compatSocket: []uint32{359}, // socket on i386
	socketcall:   102,           // socketcall on i386
	compatURing:  []uint32{425}, // io_uring_setup on i386
	prlimit:      []uint32{unix.SYS_PRLIMIT64, x32Bit | unix.SYS_PRLIMIT64},
	compatPrlim:  340, // prlimit64 on i386
}
