package websocket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestEchoLengthEncodings sends text messages whose lengths straddle the
// 7-, 16- and 64-bit length encodings, and checks the echoes (which also
// exercises the server's header encoding: readFrame rejects non-minimal
// lengths).
func TestEchoLengthEncodings(t *testing.T) {
	s := newTestServer(t, serverConfig{opts: &Options{MaxFrameBytes: 1 << 20}})
	rc := dialWS(t, s)
	for i, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 125, 126, 127, 128, 4095, 4096, 4097, 65535, 65536, 65537, 200_000} {
		msg := pattern(n, i)
		rc.write(frame(true, OpText, msg))
		rc.expectText(msg)
	}
}

// TestNonMinimalLengthAccepted checks that a length sent in a longer
// encoding than needed is still read correctly.
func TestNonMinimalLengthAccepted(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	rc := dialWS(t, s)
	key := [4]byte{9, 8, 7, 6}
	rc.write(
		frameSpec{fin: true, op: OpText, payload: []byte("sixteen"), lenForm: 16, key: key}.bytes(),
		frameSpec{fin: true, op: OpText, payload: []byte("sixty-four"), lenForm: 64, key: key}.bytes(),
	)
	rc.expectText([]byte("sixteen"))
	rc.expectText([]byte("sixty-four"))
}

// TestMaskingKeys sends fragmented messages with random keys and random
// fragment sizes, so unmasking restarts at every key offset and across the
// reader's buffer growth.
func TestMaskingKeys(t *testing.T) {
	s := newTestServer(t, serverConfig{opts: &Options{MaxFrameBytes: 1 << 20}})
	rc := dialWS(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		msg := pattern(rng.IntN(20000), i)
		var frames [][]byte
		for off, first := 0, true; ; first = false {
			n := min(len(msg)-off, rng.IntN(3000))
			op := byte(opContinuation)
			if first {
				op = OpText
			}
			var key [4]byte
			binary.LittleEndian.PutUint32(key[:], rng.Uint32())
			fin := off+n == len(msg)
			frames = append(frames, frameSpec{fin: fin, op: op, payload: msg[off : off+n], key: key}.bytes())
			off += n
			if fin {
				break
			}
		}
		rc.write(frames...)
		rc.expectText(msg)
	}
}

// TestMaskBytes compares maskBytes with the byte-at-a-time definition for
// every starting key position and many lengths.
func TestMaskBytes(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for pos := range 4 {
		for n := range 70 {
			p := pattern(n, n+pos)
			want := bytes.Clone(p)
			for i := range want {
				want[i] ^= key[(pos+i)&3]
			}
			maskBytes(p, key, pos)
			if !bytes.Equal(p, want) {
				t.Fatalf("maskBytes(len %d, pos %d) = %x, want %x", n, pos, p, want)
			}
		}
	}
}

// TestFragmentedMessages checks reassembly, including control frames
// between fragments and UTF-8 characters split across fragments.
func TestFragmentedMessages(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	rc := dialWS(t, s)
	text := func(fin bool, p string) []byte { return frame(fin, OpText, []byte(p)) }
	cont := func(fin bool, p string) []byte { return frame(fin, opContinuation, []byte(p)) }

	rc.write(text(false, "hel"), frame(true, opPing, []byte("mid")), cont(false, "lo"), cont(true, ""))
	rc.expectFrame(opPong, []byte("mid"))
	rc.expectText([]byte("hello"))

	// "€" = E2 82 AC split 2+1, and "😀" = F0 9F 98 80 split 1+1+2.
	rc.write(text(false, "price: \xe2\x82"), cont(true, "\xac"))
	rc.expectText([]byte("price: €"))
	rc.write(text(false, "\xf0"), cont(false, "\x9f"), frame(true, opPong, nil), cont(true, "\x98\x80!"))
	rc.expectText([]byte("😀!"))

	// Empty first fragment, then many small ones.
	frames := [][]byte{text(false, "")}
	var want strings.Builder
	for i := range 100 {
		s := fmt.Sprintf("%d,", i)
		want.WriteString(s)
		frames = append(frames, cont(false, s))
	}
	frames = append(frames, cont(true, ""))
	rc.write(frames...)
	rc.expectText([]byte(want.String()))

	// A close frame between fragments ends the connection normally.
	rc.write(text(false, "abc"), frame(true, opClose, closePayload(1000, "")))
	rc.expectClose(1000)
	rc.expectEOF(3 * time.Second)
	wantCloseError(t, s.result(5*time.Second), 1000, false)
}

// TestBinaryAndEmptyMessages checks that binary messages are returned with
// OpBinary (and not echoed by our handler), and empty messages as empty
// non-nil slices.
func TestBinaryAndEmptyMessages(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	rc := dialWS(t, s)
	rc.write(
		frame(true, OpBinary, []byte{0, 1, 2, 0xff}),
		frame(false, OpBinary, []byte{0xfe}), frame(true, opContinuation, []byte{0x80}),
		frame(true, OpBinary, nil),
		frame(true, OpText, nil),
		frame(true, OpText, []byte("after")),
	)
	rc.expectText([]byte{})
	rc.expectText([]byte("after"))
	want := []received{
		{OpBinary, []byte{0, 1, 2, 0xff}},
		{OpBinary, []byte{0xfe, 0x80}},
		{OpBinary, []byte{}},
		{OpText, []byte{}},
		{OpText, []byte("after")},
	}
	for i, w := range want {
		got := <-s.msgs
		if got.op != w.op || !bytes.Equal(got.msg, w.msg) || got.msg == nil {
			t.Errorf("message %d = op %d %q (nil %v), want op %d %q", i, got.op, got.msg, got.msg == nil, w.op, w.msg)
		}
	}
}

// TestPingPong checks that every ping gets exactly one pong with the same
// payload, before the reply to the data that follows it.
func TestPingPong(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	rc := dialWS(t, s)
	for _, p := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0xff, 0}, 62), pattern(125, 3)} {
		rc.write(frame(true, opPing, p), frame(true, OpText, []byte("marker")))
		rc.expectFrame(opPong, p)
		rc.expectText([]byte("marker"))
	}
	// Several pings in one write: as many pongs, in order.
	var frames [][]byte
	for i := range 10 {
		frames = append(frames, frame(true, opPing, []byte{byte(i)}))
	}
	rc.write(append(frames, frame(true, OpText, []byte("end")))...)
	for i := range 10 {
		rc.expectFrame(opPong, []byte{byte(i)})
	}
	rc.expectText([]byte("end"))
}

// TestUnsolicitedPong checks that a pong is not answered and calls OnPong.
func TestUnsolicitedPong(t *testing.T) {
	var pongs atomic.Int32
	s := newTestServer(t, serverConfig{opts: &Options{OnPong: func() { pongs.Add(1) }}})
	rc := dialWS(t, s)
	rc.write(frame(true, opPong, []byte("x")), frame(true, opPong, nil), frame(true, OpText, []byte("marker")))
	rc.expectText([]byte("marker"))
	if n := pongs.Load(); n != 2 {
		t.Fatalf("OnPong called %d times, want 2", n)
	}
}

// TestClientClose checks that a client close frame is answered with a
// close frame echoing its status (an empty one with an empty one), that
// ReadMessage returns a peer *CloseError, and that the server then closes
// the TCP connection.
func TestClientClose(t *testing.T) {
	tests := []struct {
		name     string
		payload  []byte
		echoCode int // 0: empty close frame
		code     int
		reason   string
	}{
		{"1000 with a reason", closePayload(1000, "bye"), 1000, 1000, "bye"},
		{"empty", nil, 0, StatusNoStatus, ""},
		{"1001", closePayload(1001, ""), 1001, 1001, ""},
		{"1003", closePayload(1003, ""), 1003, 1003, ""},
		{"1007", closePayload(1007, ""), 1007, 1007, ""},
		{"1011", closePayload(1011, "oops"), 1011, 1011, "oops"},
		{"1014", closePayload(1014, ""), 1014, 1014, ""},
		{"3000", closePayload(3000, ""), 3000, 3000, ""},
		{"4000", closePayload(4000, "custom"), 4000, 4000, "custom"},
		{"4999 with a 123-byte UTF-8 reason", closePayload(4999, strings.Repeat("é", 61)+"!"), 4999, 4999, strings.Repeat("é", 61) + "!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, serverConfig{})
			rc := dialWS(t, s)
			rc.write(frame(true, opClose, tt.payload))
			f := rc.next()
			if f.op != opClose {
				t.Fatalf("got op %#x, want a close frame", f.op)
			}
			want := []byte{}
			if tt.echoCode != 0 {
				want = binary.BigEndian.AppendUint16(nil, uint16(tt.echoCode))
			}
			if !bytes.Equal(f.payload, want) {
				t.Fatalf("close payload %q, want %q", f.payload, want)
			}
			rc.expectEOF(3 * time.Second)
			ce := wantCloseError(t, s.result(5*time.Second), tt.code, false)
			if ce.Reason != tt.reason {
				t.Fatalf("reason %q, want %q", ce.Reason, tt.reason)
			}
		})
	}
}

// TestSmallLimits checks the exact frame and message limits with small
// Options: the limit itself is accepted, one byte more gets 1009.
func TestSmallLimits(t *testing.T) {
	t.Run("frame at the limit", func(t *testing.T) {
		s := newTestServer(t, serverConfig{opts: smallLimits()})
		rc := dialWS(t, s)
		msg := pattern(1024, 1)
		rc.write(frame(true, OpText, msg))
		rc.expectText(msg)
		rc.write(frame(true, OpText, append(msg, 'x')))
		rc.expectClose(StatusMessageTooBig)
		rc.expectEOF(3 * time.Second)
		wantCloseError(t, s.result(5*time.Second), StatusMessageTooBig, true)
	})
	t.Run("message at the limit", func(t *testing.T) {
		s := newTestServer(t, serverConfig{opts: smallLimits()})
		rc := dialWS(t, s)
		msg := pattern(4096, 2)
		frags := [][]byte{frame(false, OpText, msg[:1024])}
		for off := 1024; off < 4096; off += 1024 {
			frags = append(frags, frame(off+1024 == 4096, opContinuation, msg[off:off+1024]))
		}
		rc.write(frags...)
		rc.expectText(msg)
		// Again, with one byte more in the last fragment.
		frags[len(frags)-1] = frame(false, opContinuation, msg[3072:])
		rc.write(append(frags, frame(true, opContinuation, []byte("x")))...)
		rc.expectClose(StatusMessageTooBig)
		rc.expectEOF(3 * time.Second)
		wantCloseError(t, s.result(5*time.Second), StatusMessageTooBig, true)
	})
}

// TestDefaultLimits checks the real defaults: a 16 MiB frame is accepted
// and 16 MiB + 1 gets 1009; a 64 MiB message in fragments is accepted and
// one that would exceed 64 MiB gets 1009. The client streams its frames
// from one reused buffer, and the handler answers with the length only.
func TestDefaultLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("moves about 130 MiB through the loopback")
	}
	// Collect the garbage of buffer growth early: the race detector
	// multiplies the peak.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	s := newTestServer(t, serverConfig{handle: func(c *Conn, op int, msg []byte) {
		_ = c.WriteMessages([][]byte{[]byte(fmt.Sprintf("%d %d %x", op, len(msg), msg[len(msg)-4:]))})
	}})
	rc := dialWS(t, s)
	const mib = 1 << 20
	// masked is 16 MiB of "0123456789abcdef" masked with key.
	key := [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	const digits = "0123456789abcdef"
	masked := make([]byte, 16*mib)
	for i := range masked {
		masked[i] = digits[i&15] ^ key[i&3]
	}
	// send writes a masked frame whose payload is the first n bytes of
	// the pattern, without building a copy of it.
	send := func(fin bool, op byte, n int) {
		h := frameSpec{fin: fin, op: op, declared: uint64(n), lenForm: 64, key: key}.bytes()
		rc.write(h, masked[:n])
	}
	if DefaultMaxFrameBytes != 16*mib || DefaultMaxMessageBytes != 64*mib {
		t.Fatalf("defaults are %d and %d", DefaultMaxFrameBytes, DefaultMaxMessageBytes)
	}

	send(true, OpText, 16*mib)
	rc.expectText([]byte(fmt.Sprintf("1 %d %x", 16*mib, "cdef")))

	for i := range 4 {
		op := byte(opContinuation)
		if i == 0 {
			op = OpText
		}
		send(i == 3, op, 16*mib)
	}
	rc.expectText([]byte(fmt.Sprintf("1 %d %x", 64*mib, "cdef")))

	// 48 MiB + 1 byte, then a 16 MiB frame announced: 64 MiB + 1.
	send(false, OpBinary, 16*mib)
	send(false, opContinuation, 16*mib)
	send(false, opContinuation, 16*mib)
	send(false, opContinuation, 1)
	rc.write(frameSpec{fin: true, op: opContinuation, declared: 16 * mib, lenForm: 64, key: key}.bytes())
	rc.expectClose(StatusMessageTooBig)
	rc.expectEOF(3 * time.Second)
	wantCloseError(t, s.result(5*time.Second), StatusMessageTooBig, true)

	// A new connection: one frame of 16 MiB + 1 is refused on its header.
	rc2 := dialWS(t, s)
	rc2.write(frameSpec{fin: true, op: OpText, declared: 16*mib + 1, lenForm: 64, key: key}.bytes(), masked[:100])
	rc2.expectClose(StatusMessageTooBig)
	rc2.expectEOF(3 * time.Second)
	wantCloseError(t, s.result(5*time.Second), StatusMessageTooBig, true)
}

// TestServerCloseAnswered checks the close handshake started by the server:
// the close frame goes out with the code and reason, the client's answer
// makes ReadMessage return a peer *CloseError, and Finish closes TCP
// right away.
func TestServerCloseAnswered(t *testing.T) {
	s := newTestServer(t, serverConfig{opts: &Options{CloseTimeout: 5 * time.Second}})
	rc := dialWS(t, s)
	c := s.conn()
	start := time.Now()
	c.Close(4001, "shutting down")
	if reason := rc.expectClose(4001); reason != "shutting down" {
		t.Fatalf("reason %q", reason)
	}
	if err := c.WriteMessages([][]byte{[]byte("late")}); err != ErrClosed {
		t.Fatalf("WriteMessages after Close = %v, want ErrClosed", err)
	}
	c.Close(1000, "again") // no second close frame
	rc.write(frame(true, opClose, closePayload(4001, "")))
	rc.expectEOF(3 * time.Second)
	wantCloseError(t, s.result(5*time.Second), 4001, false)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("handshake took %v; Finish should not wait once the peer answered", d)
	}
}

// TestServerCloseLongReason checks that a reason longer than 123 bytes is
// cut at a character boundary so the close frame stays a valid control
// frame.
func TestServerCloseLongReason(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	rc := dialWS(t, s)
	c := s.conn()
	c.Close(1000, strings.Repeat("é", 100))
	reason := rc.expectClose(1000)
	if reason != strings.Repeat("é", 61) {
		t.Fatalf("reason of %d bytes %q", len(reason), reason)
	}
	rc.write(frame(true, opClose, closePayload(1000, "")))
	rc.expectEOF(3 * time.Second)
	wantCloseError(t, s.result(5*time.Second), 1000, false)
}

// TestServerCloseUnanswered checks that a peer that never answers a close
// frame is released after CloseTimeout: ReadMessage returns, and Finish
// closes the TCP connection.
func TestServerCloseUnanswered(t *testing.T) {
	const ct = 300 * time.Millisecond
	s := newTestServer(t, serverConfig{opts: &Options{CloseTimeout: ct}})
	rc := dialWS(t, s)
	c := s.conn()
	start := time.Now()
	c.Close(1001, "")
	rc.expectClose(1001)
	err := s.result(5 * time.Second)
	readDone := time.Since(start)
	if err == nil {
		t.Fatal("ReadMessage returned no error")
	}
	var ce *CloseError
	if errors.As(err, &ce) && !ce.Local {
		t.Fatalf("ReadMessage = %v, but the peer never answered", err)
	}
	// The read deadline is CloseTimeout after the close frame's own write
	// deadline: the peer gets at least CloseTimeout, at most twice that.
	if readDone < ct-50*time.Millisecond || readDone > 2*ct+700*time.Millisecond {
		t.Fatalf("ReadMessage returned after %v, want between CloseTimeout (%v) and twice that", readDone, ct)
	}
	// The client still does not answer; the server closes anyway.
	rc.expectEOF(3 * time.Second)
	select {
	case end := <-s.ended:
		if d := end.Sub(start); d > 3*ct+time.Second {
			t.Fatalf("Finish returned after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Finish did not return")
	}
}

// TestServerCloseReleasesBlockedWriter checks that a WriteMessages blocked
// on a peer that stopped reading is released by Close within about
// CloseTimeout, and that the reader then ends.
func TestServerCloseReleasesBlockedWriter(t *testing.T) {
	const ct = 300 * time.Millisecond
	s := newTestServer(t, serverConfig{opts: &Options{CloseTimeout: ct}})
	rc := dialWS(t, s)
	c := s.conn()
	writeErr := blockWriter(t, c)

	start := time.Now()
	c.Close(1001, "")
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("blocked WriteMessages returned nil")
		}
		if d := time.Since(start); d > ct+time.Second {
			t.Fatalf("blocked writer released after %v, want about %v", d, ct)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked WriteMessages was not released by Close")
	}
	_ = rc.nc.Close()
	if err := s.result(5 * time.Second); err == nil {
		t.Fatal("ReadMessage returned no error")
	}
}

// blockWriter starts a goroutine writing 1 MiB messages to c until a write
// blocks (the raw client never reads), and returns the channel on which
// the blocked write's error will arrive.
func blockWriter(t *testing.T, c *Conn) <-chan error {
	t.Helper()
	progress := make(chan struct{}, 1)
	writeErr := make(chan error, 1)
	go func() {
		msg := [][]byte{bytes.Repeat([]byte("x"), 1<<20)}
		for {
			if err := c.WriteMessages(msg); err != nil {
				writeErr <- err
				return
			}
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	for {
		select {
		case <-progress:
			continue
		case err := <-writeErr:
			t.Fatalf("write failed before blocking: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		break
	}
	return writeErr
}

// TestReaderNotStuckBehindBlockedWriter checks that a protocol violation,
// or a client close frame, is handled even while a write is blocked on a
// peer that does not read (Options.WriteTimeout is zero): ReadMessage must
// return within about CloseTimeout rather than wait forever for the write
// lock. (No close frame can go out then: the stream may end mid-frame.)
func TestReaderNotStuckBehindBlockedWriter(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		code  int
		local bool
	}{
		{"violation", frame(true, 0x3, nil), StatusProtocolError, true},
		{"client close", frame(true, opClose, closePayload(1000, "")), 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const ct = 300 * time.Millisecond
			s := newTestServer(t, serverConfig{opts: &Options{CloseTimeout: ct}})
			rc := dialWS(t, s)
			c := s.conn()
			writeErr := blockWriter(t, c)
			start := time.Now()
			rc.write(tt.frame)
			wantCloseError(t, s.result(5*time.Second), tt.code, tt.local)
			if d := time.Since(start); d > ct+time.Second {
				t.Fatalf("ReadMessage returned after %v", d)
			}
			if err := <-writeErr; err == nil {
				t.Fatal("blocked write returned nil")
			}
		})
	}
}

// TestPongAfterWriteTimeout checks that a ping arriving after WriteTimeout
// has elapsed since the last WriteMessages still gets its pong: the
// deadline of an old write must not fail the pong.
func TestPongAfterWriteTimeout(t *testing.T) {
	s := newTestServer(t, serverConfig{opts: &Options{WriteTimeout: 100 * time.Millisecond}})
	rc := dialWS(t, s)
	rc.write(frame(true, OpText, []byte("hi")))
	rc.expectText([]byte("hi"))
	time.Sleep(250 * time.Millisecond)
	rc.write(frame(true, opPing, []byte("still there?")))
	rc.expectFrame(opPong, []byte("still there?"))
	rc.write(frame(true, OpText, []byte("yes")))
	rc.expectText([]byte("yes"))
}

// TestClientCloseAfterWriteTimeout: the close echo too must not inherit an
// expired write deadline.
func TestClientCloseAfterWriteTimeout(t *testing.T) {
	s := newTestServer(t, serverConfig{opts: &Options{WriteTimeout: 100 * time.Millisecond}})
	rc := dialWS(t, s)
	rc.write(frame(true, OpText, []byte("hi")))
	rc.expectText([]byte("hi"))
	time.Sleep(250 * time.Millisecond)
	rc.write(frame(true, opClose, closePayload(1000, "")))
	rc.expectClose(1000)
	rc.expectEOF(3 * time.Second)
	wantCloseError(t, s.result(5*time.Second), 1000, false)
}

// TestWriteMessages checks batches: each message one unmasked final text
// frame, all intact and in order, for a small batch (one buffered write),
// a batch over 32 KiB (writev), mixed sizes across the length encodings,
// and a single 5 MiB message.
func TestWriteMessages(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	rc := dialWS(t, s)
	c := s.conn()
	batches := map[string][][]byte{}
	for i := range 8 {
		batches["small"] = append(batches["small"], []byte(fmt.Sprintf(`{"id":%d}`, i)))
	}
	for i := range 20 {
		batches["over 32 KiB"] = append(batches["over 32 KiB"], pattern(3000, i))
	}
	for i, n := range []int{0, 125, 126, 65535, 65536, 1, 70000} {
		batches["mixed sizes"] = append(batches["mixed sizes"], pattern(n, i))
	}
	batches["one 5 MiB message"] = [][]byte{pattern(5<<20, 5)}
	batches["exactly at the coalescing threshold"] = [][]byte{pattern(writeCoalesce-10, 6)}
	batches["one byte over the threshold"] = [][]byte{pattern(writeCoalesce-9, 7)}
	for _, name := range []string{"small", "over 32 KiB", "mixed sizes", "one 5 MiB message", "exactly at the coalescing threshold", "one byte over the threshold"} {
		t.Run(name, func(t *testing.T) {
			b := batches[name]
			errc := make(chan error, 1)
			go func() { errc <- c.WriteMessages(b) }()
			for _, m := range b {
				rc.expectText(m)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
	// Several batches from several goroutines: messages of one batch stay
	// together and in order.
	t.Run("concurrent batches", func(t *testing.T) {
		const writers, perBatch = 6, 5
		errc := make(chan error, writers)
		for w := range writers {
			go func() {
				var batch [][]byte
				for i := range perBatch {
					batch = append(batch, []byte(fmt.Sprintf("%d/%d/%s", w, i, pattern(w*5000, i))))
				}
				errc <- c.WriteMessages(batch)
			}()
		}
		seen := map[int]int{}
		for range writers * perBatch {
			f := rc.next()
			var w, i int
			if _, err := fmt.Sscanf(string(f.payload), "%d/%d/", &w, &i); err != nil {
				t.Fatalf("frame %q: %v", trunc(f.payload), err)
			}
			if i != seen[w] {
				t.Fatalf("writer %d: message %d after %d", w, i, seen[w])
			}
			seen[w]++
		}
		for range writers {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestWriteMessagesOneWrite checks that a batch under 32 KiB is one Write
// call on the connection, and decodes it.
func TestWriteMessagesOneWrite(t *testing.T) {
	var out bytes.Buffer
	fc := &fakeConn{w: &out}
	c := NewConn(fc, nil, nil)
	msgs := [][]byte{[]byte("a"), {}, pattern(200, 1), pattern(126, 2), pattern(20000, 3)}
	if err := c.WriteMessages(msgs); err != nil {
		t.Fatal(err)
	}
	if fc.writes != 1 {
		t.Fatalf("%d writes for one batch, want 1", fc.writes)
	}
	frames := parseServerFrames(t, out.Bytes())
	if len(frames) != len(msgs) {
		t.Fatalf("%d frames, want %d", len(frames), len(msgs))
	}
	for i, f := range frames {
		if f.op != OpText || !f.fin || !bytes.Equal(f.payload, msgs[i]) {
			t.Fatalf("frame %d: op %d fin %v %s", i, f.op, f.fin, trunc(f.payload))
		}
	}
	// A batch over the threshold goes through net.Buffers: still intact.
	out.Reset()
	big := [][]byte{pattern(40000, 4), []byte("tail")}
	if err := c.WriteMessages(big); err != nil {
		t.Fatal(err)
	}
	frames = parseServerFrames(t, out.Bytes())
	if len(frames) != 2 || !bytes.Equal(frames[0].payload, big[0]) || !bytes.Equal(frames[1].payload, big[1]) {
		t.Fatalf("writev batch decoded to %d frames", len(frames))
	}
	if out.Len() != 4+40000+2+4 {
		t.Fatalf("wrote %d bytes", out.Len())
	}
}

// TestPipelinedBytesAfterRequest checks that frames sent in the same
// segment as the upgrade request, small or larger than the inline read
// buffer, are not lost.
func TestPipelinedBytesAfterRequest(t *testing.T) {
	for _, n := range []int{5, 400, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := newTestServer(t, serverConfig{})
			msg := pattern(n, n)
			pipelined := append(frame(true, opPing, []byte("early")), frame(true, OpText, msg)...)
			pipelined = append(pipelined, frame(true, OpText, []byte("second"))...)
			rc := dialRaw(t, s.addr(), upgradeRequest(""), pipelined)
			if rc.resp.StatusCode != 101 {
				t.Fatalf("status %d", rc.resp.StatusCode)
			}
			rc.expectFrame(opPong, []byte("early"))
			rc.expectText(msg)
			rc.expectText([]byte("second"))
		})
	}
}
