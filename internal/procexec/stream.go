package procexec

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// bufPool holds MaxChunk-byte read buffers shared by all streams.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, MaxChunk)
	return &b
}}

// stream is one output of a process and the state of its reader goroutine.
// The reader owns every field but p, name, f and onOutput until it calls
// streamDone; Wait reads out and capReached after that.
type stream struct {
	p        *Process
	name     string   // "stdout" or "stderr"
	f        *os.File // our read end (the pty master on a TTY)
	left     int64    // bytes left before the cap; negative: no cap
	onOutput func(stream string, chunk []byte, capReached bool)

	out        []byte // buffered output when not streaming
	capReached bool
}

// run reads the stream until EOF, the cap, or Wait closing f. The goroutine
// holds no buffer while it waits for data: it borrows one from bufPool only
// when the descriptor is readable, so idle processes cost no buffer memory.
func (s *stream) run() {
	defer s.p.streamDone()
	defer s.f.Close()
	if s.left == 0 {
		// A cap of nothing: report it and let the child meet a closed pipe.
		s.deliver(nil)
		return
	}
	rc, err := s.f.SyscallConn()
	if err != nil {
		return
	}
	for {
		var bp *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			if bp == nil {
				bp = bufPool.Get().(*[]byte)
			}
			b := *bp
			if s.left >= 0 && int64(len(b)) > s.left {
				b = b[:s.left]
			}
			for {
				n, rerr = unix.Read(int(fd), b)
				if rerr != unix.EINTR {
					break
				}
			}
			if rerr == unix.EAGAIN {
				bufPool.Put(bp)
				bp = nil
				return false // park in the netpoller until readable
			}
			return true
		})
		// Closed by Wait, EOF, or an error: EIO on a TTY once the last slave
		// descriptor is closed.
		done := err != nil || rerr != nil || n <= 0
		if !done {
			s.deliver((*bp)[:n])
			done = s.capReached
		}
		if bp != nil {
			bufPool.Put(bp)
		}
		if done {
			return
		}
	}
}

// deliver passes one chunk on, counting it against the cap.
func (s *stream) deliver(b []byte) {
	if s.left >= 0 {
		s.left -= int64(len(b))
		s.capReached = s.left == 0
	}
	if s.onOutput != nil {
		s.onOutput(s.name, b, s.capReached)
		return
	}
	s.out = append(s.out, b...)
}
