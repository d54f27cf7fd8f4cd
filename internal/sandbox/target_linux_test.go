//go:build linux

package sandbox_test

import (
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// targetMode runs inside the sandbox: it tries one network operation
// against addr and exits 0 if it worked, 1 (with the error on stderr) if
// it did not.
func targetMode(mode, addr string) int {
	var err error
	switch mode {
	case "dial":
		var c net.Conn
		if c, err = net.Dial("tcp", addr); err == nil {
			c.Close()
		}
	case "listen":
		// Since Go 1.24 this tries Multipath TCP first, which Landlock
		// would not stop; the filter makes it fall back to TCP.
		var ln net.Listener
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err == nil {
			ln.Close()
		}
	case "mptcp":
		err = dialMPTCP(addr)
	case "uring":
		var params [120]byte // struct io_uring_params
		r, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params)), 0)
		if e != 0 {
			err = e
		} else {
			unix.Close(int(r))
		}
	case "udp":
		var c net.Conn
		if c, err = net.Dial("udp", addr); err == nil {
			_, err = c.Write([]byte("ping"))
			c.Close()
		}
	case "abstract":
		var c net.Conn
		if c, err = net.Dial("unix", "@"+addr); err == nil {
			c.Close()
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// dialMPTCP connects a Multipath TCP socket, the way around Landlock's
// TCP rules that the helper's seccomp filter closes.
func dialMPTCP(addr string) error {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 262 /* IPPROTO_MPTCP */)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}
