//go:build linux && (amd64 || arm64)

package sandbox

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// haveMPTCPFilter reports whether this build has the seccomp filter below.
const haveMPTCPFilter = true

// archCalls are the system call numbers the network filter inspects.
type archCalls struct {
	native       uint32   // audit arch of the native ABI
	nativeSocket []uint32 // socket(2)
	nativeURing  []uint32 // io_uring_setup(2)
	compat       uint32   // audit arch of the 32-bit compat ABI, 0 if none
	compatSocket []uint32
	socketcall   uint32 // socketcall(2) in the compat ABI, 0 if none
	compatURing  []uint32
	prlimit      []uint32 // prlimit64(2), native (and x32)
	compatPrlim  uint32   // prlimit64(2) in the compat ABI, 0 if none
}

// Offsets into struct seccomp_data (little-endian: the low half of an
// argument comes first).
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
	offArg1 = 16 + 8
	offArg2 = 16 + 2*8
)

// offArg2High is the upper half of the third argument.
const offArg2High = offArg2 + 4

const (
	ipprotoMPTCP  = 262 // IPPROTO_MPTCP
	socketcallSoc = 1   // SYS_SOCKET, socketcall's first argument
	sockTypeMask  = 0xf // SOCK_TYPE_MASK
)

// netFilter returns the seccomp program that closes the holes Landlock
// leaves in "no network":
//
//   - socket(AF_*, *, IPPROTO_MPTCP) fails with EPROTONOSUPPORT: Landlock's
//     TCP rules do not apply to Multipath TCP sockets, which connect to
//     plain TCP servers. Programs that try MPTCP first fall back to TCP.
//
//   - io_uring_setup fails with ENOSYS: an IORING_OP_SOCKET request would
//     create a socket without the socket system call this filter sees.
//
//   - a 32-bit program's socketcall(SYS_SOCKET) fails with ENOSYS, since
//     its arguments are in memory a filter cannot read; glibc has used
//     the direct socket call (checked above) since 2.23.
//
//   - an AF_INET or AF_INET6 socket that is not TCP (UDP, ICMP "ping"
//     sockets, SCTP, raw) fails with EACCES: Landlock confines UDP only
//     from ABI 10 and the others not at all, so "no network" would
//     otherwise let datagrams out. Only TCP sockets are created, and
//     Landlock stops their connect and bind.
//
// Everything else is allowed: Landlock does the confining.
func netFilter(a archCalls) ([]unix.SockFilter, error) {
	var b bpf
	b.load(offArch)
	b.jeq(a.native, "", "compat")
	b.load(offNr)
	for _, nr := range a.nativeSocket {
		b.jeq(nr, "socket", "")
	}
	for _, nr := range a.nativeURing {
		b.jeq(nr, "enosys", "")
	}
	b.ret(unix.SECCOMP_RET_ALLOW)

	b.label("compat")
	if a.compat != 0 {
		b.jeq(a.compat, "", "allow")
		b.load(offNr)
		for _, nr := range a.compatSocket {
			b.jeq(nr, "socket", "")
		}
		if a.socketcall != 0 {
			b.jeq(a.socketcall, "socketcall", "")
		}
		for _, nr := range a.compatURing {
			b.jeq(nr, "enosys", "")
		}
	}
	b.ret(unix.SECCOMP_RET_ALLOW)

	b.label("socketcall")
	b.load(offArg0)
	b.jeq(socketcallSoc, "enosys", "allow")

	// MPTCP first, so that a program that tries it falls back to TCP.
	b.label("socket")
	b.load(offArg2)
	b.jeq(ipprotoMPTCP, "eprotonosupport", "")
	b.load(offArg0)
	b.jeq(unix.AF_INET, "inet", "")
	b.jeq(unix.AF_INET6, "inet", "allow")

	// The type's low four bits are the type; the rest are SOCK_NONBLOCK
	// and SOCK_CLOEXEC. Protocol 0 means TCP for a stream socket.
	b.label("inet")
	b.load(offArg1)
	b.and(sockTypeMask)
	b.jeq(unix.SOCK_STREAM, "", "eacces")
	b.load(offArg2)
	b.jeq(0, "allow", "")
	b.jeq(unix.IPPROTO_TCP, "allow", "eacces")

	b.label("eacces")
	b.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES))

	b.label("eprotonosupport")
	b.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EPROTONOSUPPORT))

	b.label("enosys")
	b.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))

	b.label("allow")
	b.ret(unix.SECCOMP_RET_ALLOW)
	return b.assemble()
}

// installNetFilter installs netFilter on the calling thread.
func installNetFilter() error {
	prog, err := netFilter(filterArch)
	return installFilter("network", prog, err)
}

// limitFilter returns the seccomp program that keeps a confined command
// from changing another process's resource limits: prlimit64 with a pid
// other than 0 (itself) and a new limit fails with EPERM. Landlock has no
// hook for prlimit, and a process may lower the limits of any process of
// its user: a command could otherwise set the server's RLIMIT_NOFILE or
// RLIMIT_CPU to nothing. Reading another process's limits stays allowed,
// and so does setrlimit, which acts on the caller only.
func limitFilter(a archCalls) ([]unix.SockFilter, error) {
	var b bpf
	b.load(offArch)
	b.jeq(a.native, "", "compat")
	b.load(offNr)
	for _, nr := range a.prlimit {
		b.jeq(nr, "prlimit", "")
	}
	b.ret(unix.SECCOMP_RET_ALLOW)

	b.label("compat")
	if a.compat != 0 && a.compatPrlim != 0 {
		b.jeq(a.compat, "", "allow")
		b.load(offNr)
		b.jeq(a.compatPrlim, "prlimit", "allow")
	}
	b.ret(unix.SECCOMP_RET_ALLOW)

	// pid_t is 32 bits: the kernel ignores the upper half of the argument.
	b.label("prlimit")
	b.load(offArg0)
	b.jeq(0, "allow", "")
	b.load(offArg2)
	b.jeq(0, "", "eperm")
	b.load(offArg2High)
	b.jeq(0, "allow", "eperm")

	b.label("eperm")
	b.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))

	b.label("allow")
	b.ret(unix.SECCOMP_RET_ALLOW)
	return b.assemble()
}

// installFilter installs prog on the calling thread, which must have
// no_new_privs set and must be the thread that executes the target.
func installFilter(what string, prog []unix.SockFilter, err error) error {
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("installing the seccomp %s filter: %w", what, err)
	}
	return nil
}

// installLimitFilter installs limitFilter on the calling thread.
func installLimitFilter() error {
	prog, err := limitFilter(filterArch)
	return installFilter("resource limit", prog, err)
}

// bpf assembles a classic BPF program with forward jumps to labels.
type bpf struct {
	prog   []unix.SockFilter
	jumps  []jump
	labels map[string]int
}

type jump struct {
	at     int
	jt, jf string // "" is the next instruction
}

func (b *bpf) load(off uint32) {
	b.prog = append(b.prog, unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off})
}

func (b *bpf) jeq(k uint32, jt, jf string) {
	b.jumps = append(b.jumps, jump{at: len(b.prog), jt: jt, jf: jf})
	b.prog = append(b.prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k})
}

func (b *bpf) and(k uint32) {
	b.prog = append(b.prog, unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: k})
}

func (b *bpf) ret(k uint32) {
	b.prog = append(b.prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k})
}

func (b *bpf) label(name string) {
	if b.labels == nil {
		b.labels = make(map[string]int)
	}
	b.labels[name] = len(b.prog)
}

func (b *bpf) assemble() ([]unix.SockFilter, error) {
	off := func(from int, to string) (uint8, error) {
		if to == "" {
			return 0, nil
		}
		at, ok := b.labels[to]
		d := at - from - 1
		if !ok || d < 0 || d > 255 {
			return 0, fmt.Errorf("seccomp filter: bad jump to %q", to)
		}
		return uint8(d), nil
	}
	for _, j := range b.jumps {
		var err error
		if b.prog[j.at].Jt, err = off(j.at, j.jt); err != nil {
			return nil, err
		}
		if b.prog[j.at].Jf, err = off(j.at, j.jf); err != nil {
			return nil, err
		}
	}
	return b.prog, nil
}
