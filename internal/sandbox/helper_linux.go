package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Helper is the binary that confines sandboxed commands, chosen once at
// start-up by FindHelper.
type Helper struct {
	// Path is what to pass to Command.
	Path string
	// Standalone reports whether Path is the small standalone helper
	// rather than the server binary itself.
	Standalone bool
	// Reason says why the standalone helper is not used, when it is not.
	Reason string

	file *os.File
}

// Close releases the standalone helper's file. Commands started later
// fail to start.
func (h *Helper) Close() error {
	if h.file == nil {
		return nil
	}
	return h.file.Close()
}

// FindHelper chooses the sandbox helper for a server whose executable is
// exe. The standalone helper starts in about 1.5 ms where the whole server
// binary takes about 3.5 ms (its package initialisation alone is 2 ms), and
// every sandboxed command pays that once. It is used when the file
// HelperName beside exe
//
//   - is a regular file owned by exe's owner or by root, and writable by
//     nobody else: a helper planted by another user, in a shared directory
//     such as /tmp, would run every command of this server;
//   - answers HelperProtocol.
//
// The checked file is copied into a sealed memory file, run as
// /proc/self/fd/N, so the helper that was checked is the one every command
// runs, even if the file is replaced, rewritten or removed later (an
// upgrade, or a sandboxed command that can write where it is installed). Otherwise FindHelper returns the server itself,
// "/proc/self/exe", with the reason in Reason ("" when there is no file).
func FindHelper(exe string) *Helper {
	self := &Helper{Path: "/proc/self/exe"}
	path := filepath.Join(filepath.Dir(exe), HelperName)
	// O_PATH: enough to fstat and execute through /proc/self/fd, and it
	// neither blocks on a FIFO nor needs read permission.
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if err != unix.ENOENT {
			self.Reason = path + ": " + err.Error()
		}
		return self
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := checkHelperFile(f, exe); err != nil {
		self.Reason = path + ": " + err.Error()
		return self
	}
	sealed, err := sealedCopy(f)
	if err != nil {
		self.Reason = path + ": " + err.Error()
		return self
	}
	h := &Helper{Path: fmt.Sprintf("/proc/self/fd/%d", sealed.Fd()), Standalone: true, file: sealed}
	if err := h.checkProtocol(); err != nil {
		sealed.Close()
		self.Reason = path + ": " + err.Error()
		return self
	}
	return h
}

// sealedCopy copies the checked helper file f into a memory file sealed
// against every change, and returns it. Holding the file's descriptor
// keeps a rename from swapping it, but not a write in place: a sandboxed
// command with write access to the directory the binaries are installed
// in (say ~/go/bin under a writable home) could otherwise rewrite the
// helper that confines the next command.
func sealedCopy(f *os.File) (*os.File, error) {
	src, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return nil, err
	}
	defer src.Close()
	mfd, err := unix.MemfdCreate(HelperName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	m := os.NewFile(uintptr(mfd), "memfd:"+HelperName)
	const maxHelper = 256 << 20
	n, err := io.Copy(m, io.LimitReader(src, maxHelper+1))
	if err == nil && n > maxHelper {
		err = fmt.Errorf("larger than %d bytes", maxHelper)
	}
	if err == nil {
		_, err = unix.FcntlInt(m.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("copying into a sealed memory file: %w", err)
	}
	return m, nil
}

func checkHelperFile(f *os.File, exe string) error {
	var st, ex unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if err := unix.Stat(exe, &ex); err != nil {
		return fmt.Errorf("cannot check the server binary %s: %w", exe, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("not a regular file")
	case st.Uid != ex.Uid && st.Uid != 0:
		return fmt.Errorf("owned by uid %d, not by the owner of %s (uid %d) or root", st.Uid, exe, ex.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("writable by group or others (mode %#o)", st.Mode&0o7777)
	case st.Mode&0o111 == 0:
		return fmt.Errorf("not executable")
	}
	return nil
}

// checkProtocol runs the helper once to ask which protocol it speaks.
func (h *Helper) checkProtocol() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Path, HelperArg, "--protocol")
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout = &limitedWriter{w: &out, n: 256}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("asking its protocol: %w", err)
	}
	if got := strings.TrimSpace(out.String()); got != HelperProtocol {
		return fmt.Errorf("speaks protocol %q, this server %q (a helper from another build?)", clip(got), HelperProtocol)
	}
	return nil
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
