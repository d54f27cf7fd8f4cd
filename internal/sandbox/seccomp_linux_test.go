//go:build linux && (amd64 || arm64)

package sandbox

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runBPF interprets the subset of classic BPF that netFilter emits, on a
// struct seccomp_data.
func runBPF(t *testing.T, prog []unix.SockFilter, nr, arch uint32, args [6]uint64) uint32 {
	t.Helper()
	var data [64]byte
	binary.LittleEndian.PutUint32(data[offNr:], nr)
	binary.LittleEndian.PutUint32(data[offArch:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[offArg0+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unexpected instruction %+v", in)
		}
	}
	t.Fatal("fell off the end of the program")
	return 0
}

func TestNetFilter(t *testing.T) {
	prog, err := netFilter(filterArch)
	if err != nil {
		t.Fatal(err)
	}
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		eproto = unix.SECCOMP_RET_ERRNO | uint32(unix.EPROTONOSUPPORT)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		eacces = unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
		mptcp  = 262
		sysSoc = 1
		sysCon = 3
	)
	a := filterArch
	type call struct {
		name string
		nr   uint32
		arch uint32
		args [6]uint64
		want uint32
	}
	calls := []call{
		{"TCP socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, allow},
		{"TCP socket, explicit protocol", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET6, unix.SOCK_STREAM, unix.IPPROTO_TCP}, allow},
		{"unix socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}, allow},
		{"MPTCP socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET, unix.SOCK_STREAM | unix.SOCK_CLOEXEC, mptcp}, eproto},
		{"MPTCP socket, junk in the high half", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET6, unix.SOCK_STREAM, 1<<32 | mptcp}, eproto},
		{"TCP socket, nonblocking and close-on-exec", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET, unix.SOCK_STREAM | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC, 0}, allow},
		{"UDP socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET, unix.SOCK_DGRAM, 0}, eacces},
		{"UDP socket, IPv6, flags", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET6, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, unix.IPPROTO_UDP}, eacces},
		{"ICMP ping socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, eacces},
		{"raw socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW}, eacces},
		{"SCTP stream socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP}, eacces},
		{"SCTP seqpacket socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_INET6, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP}, eacces},
		{"unix datagram socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_UNIX, unix.SOCK_DGRAM, 0}, allow},
		{"netlink socket", a.nativeSocket[0], a.native, [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, 0}, allow},
		{"io_uring_setup", a.nativeURing[0], a.native, [6]uint64{}, enosys},
		{"connect", unix.SYS_CONNECT, a.native, [6]uint64{3, 0, 16}, allow},
		{"write", unix.SYS_WRITE, a.native, [6]uint64{1, 0, mptcp}, allow},
		{"unknown arch", a.nativeSocket[0], 0x12345678, [6]uint64{unix.AF_INET, unix.SOCK_STREAM, mptcp}, allow},
	}
	for _, nr := range a.nativeSocket[1:] {
		calls = append(calls, call{"x32 MPTCP socket", nr, a.native, [6]uint64{unix.AF_INET, unix.SOCK_STREAM, mptcp}, eproto})
	}
	if a.compat != 0 {
		calls = append(calls,
			call{"compat MPTCP socket", a.compatSocket[0], a.compat, [6]uint64{unix.AF_INET, unix.SOCK_STREAM, mptcp}, eproto},
			call{"compat TCP socket", a.compatSocket[0], a.compat, [6]uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, allow},
			call{"compat UDP socket", a.compatSocket[0], a.compat, [6]uint64{unix.AF_INET, unix.SOCK_DGRAM, 0}, eacces},
			call{"compat io_uring_setup", a.compatURing[0], a.compat, [6]uint64{}, enosys},
			// The native socket number means something else in the compat ABI.
			call{"compat call numbered like native socket", a.nativeSocket[0], a.compat, [6]uint64{unix.AF_INET, unix.SOCK_STREAM, mptcp}, allow},
		)
		if a.socketcall != 0 {
			calls = append(calls,
				call{"socketcall(SYS_SOCKET)", a.socketcall, a.compat, [6]uint64{sysSoc, 0}, enosys},
				call{"socketcall(SYS_CONNECT)", a.socketcall, a.compat, [6]uint64{sysCon, 0}, allow},
			)
		}
	}
	for _, c := range calls {
		if got := runBPF(t, prog, c.nr, c.arch, c.args); got != c.want {
			t.Errorf("%s: filter returns %#x, want %#x", c.name, got, c.want)
		}
	}
}

func TestLimitFilter(t *testing.T) {
	prog, err := limitFilter(filterArch)
	if err != nil {
		t.Fatal(err)
	}
	const (
		allow = unix.SECCOMP_RET_ALLOW
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		limit = 0x7ffc0000
	)
	a := filterArch
	calls := []struct {
		name string
		nr   uint32
		arch uint32
		args [6]uint64
		want uint32
	}{
		{"own limits", a.prlimit[0], a.native, [6]uint64{0, unix.RLIMIT_NOFILE, limit, 0}, allow},
		{"read another's limits", a.prlimit[0], a.native, [6]uint64{1234, unix.RLIMIT_NOFILE, 0, limit}, allow},
		{"set another's limits", a.prlimit[0], a.native, [6]uint64{1234, unix.RLIMIT_NOFILE, limit, 0}, eperm},
		{"new limit above 4 GiB", a.prlimit[0], a.native, [6]uint64{1234, unix.RLIMIT_CPU, 1 << 40, 0}, eperm},
		{"pid 0 with junk in the high half", a.prlimit[0], a.native, [6]uint64{1 << 32, unix.RLIMIT_NOFILE, limit, 0}, allow},
		{"setrlimit", unix.SYS_SETRLIMIT, a.native, [6]uint64{unix.RLIMIT_NOFILE, limit}, allow},
		{"unknown arch", a.prlimit[0], 0x12345678, [6]uint64{1234, 0, limit}, allow},
	}
	if a.compat != 0 {
		calls = append(calls, struct {
			name string
			nr   uint32
			arch uint32
			args [6]uint64
			want uint32
		}{"compat: set another's limits", a.compatPrlim, a.compat, [6]uint64{1234, unix.RLIMIT_NOFILE, limit}, eperm})
	}
	for _, c := range calls {
		if got := runBPF(t, prog, c.nr, c.arch, c.args); got != c.want {
			t.Errorf("%s: filter returns %#x, want %#x", c.name, got, c.want)
		}
	}
}
