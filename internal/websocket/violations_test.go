package websocket

import (
	"bytes"
	"testing"
	"time"
)

// smallLimits keeps limit tests cheap.
func smallLimits() *Options {
	return &Options{MaxFrameBytes: 1024, MaxMessageBytes: 4096, CloseTimeout: 2 * time.Second}
}

// TestProtocolViolations sends each violation from a raw client and checks
// that the server answers with a close frame carrying the right status,
// returns a local *CloseError from ReadMessage, and then closes the TCP
// connection.
func TestProtocolViolations(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	text := func(fin bool, p string) []byte { return frame(fin, OpText, []byte(p)) }
	cont := func(fin bool, p string) []byte { return frame(fin, opContinuation, []byte(p)) }
	closeFrame := func(p []byte) []byte { return frame(true, opClose, p) }
	big := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }

	tests := []struct {
		name   string
		frames [][]byte
		code   int
	}{
		// 1002: framing.
		{"unmasked text frame", [][]byte{frameSpec{fin: true, op: OpText, unmasked: true, payload: []byte("hi")}.bytes()}, StatusProtocolError},
		{"unmasked ping", [][]byte{frameSpec{fin: true, op: opPing, unmasked: true}.bytes()}, StatusProtocolError},
		{"unmasked close", [][]byte{frameSpec{fin: true, op: opClose, unmasked: true, payload: closePayload(1000, "")}.bytes()}, StatusProtocolError},
		{"reserved opcode 0x3", [][]byte{frame(true, 0x3, []byte("x"))}, StatusProtocolError},
		{"reserved opcode 0x7", [][]byte{frame(true, 0x7, nil)}, StatusProtocolError},
		{"reserved opcode 0xB", [][]byte{frame(true, 0xB, []byte("x"))}, StatusProtocolError},
		{"reserved opcode 0xF", [][]byte{frame(true, 0xF, nil)}, StatusProtocolError},
		{"RSV1 set", [][]byte{frameSpec{fin: true, rsv: 0x40, op: OpText, payload: []byte("hi"), key: key}.bytes()}, StatusProtocolError},
		{"RSV2 set", [][]byte{frameSpec{fin: true, rsv: 0x20, op: OpText, payload: []byte("hi"), key: key}.bytes()}, StatusProtocolError},
		{"RSV3 set", [][]byte{frameSpec{fin: true, rsv: 0x10, op: OpText, payload: []byte("hi"), key: key}.bytes()}, StatusProtocolError},
		{"RSV1 on a ping", [][]byte{frameSpec{fin: true, rsv: 0x40, op: opPing, key: key}.bytes()}, StatusProtocolError},
		{"RSV1 on a continuation", [][]byte{text(false, "a"), frameSpec{fin: true, rsv: 0x40, op: opContinuation, payload: []byte("b"), key: key}.bytes()}, StatusProtocolError},
		{"ping of 126 bytes", [][]byte{frame(true, opPing, big(126))}, StatusProtocolError},
		{"pong of 126 bytes", [][]byte{frame(true, opPong, big(126))}, StatusProtocolError},
		{"close of 126 bytes", [][]byte{frame(true, opClose, append(closePayload(1000, ""), big(124)...))}, StatusProtocolError},
		{"ping declaring 2^63-1 bytes", [][]byte{frameSpec{fin: true, op: opPing, lenForm: 64, declared: 1<<63 - 1, key: key}.bytes()}, StatusProtocolError},
		{"fragmented ping", [][]byte{frame(false, opPing, []byte("p"))}, StatusProtocolError},
		{"fragmented pong", [][]byte{frame(false, opPong, nil)}, StatusProtocolError},
		{"fragmented close", [][]byte{frame(false, opClose, closePayload(1000, ""))}, StatusProtocolError},
		{"fragmented ping inside a fragmented message", [][]byte{text(false, "a"), frame(false, opPing, nil)}, StatusProtocolError},
		{"stray continuation", [][]byte{cont(true, "x")}, StatusProtocolError},
		{"stray non-final continuation", [][]byte{cont(false, "x")}, StatusProtocolError},
		{"continuation after a complete message", [][]byte{frame(true, OpBinary, []byte("a")), cont(true, "b")}, StatusProtocolError},
		{"text inside a fragmented message", [][]byte{text(false, "a"), text(true, "b")}, StatusProtocolError},
		{"binary inside a fragmented text message", [][]byte{text(false, "a"), frame(true, OpBinary, []byte("b"))}, StatusProtocolError},
		{"text inside a fragmented binary message", [][]byte{frame(false, OpBinary, []byte("a")), cont(false, "b"), text(true, "c")}, StatusProtocolError},
		{"close with a 1-byte payload", [][]byte{closeFrame([]byte{0x03})}, StatusProtocolError},
		{"close code 0", [][]byte{closeFrame(closePayload(0, ""))}, StatusProtocolError},
		{"close code 999", [][]byte{closeFrame(closePayload(999, ""))}, StatusProtocolError},
		{"close code 1004", [][]byte{closeFrame(closePayload(1004, ""))}, StatusProtocolError},
		{"close code 1005", [][]byte{closeFrame(closePayload(1005, ""))}, StatusProtocolError},
		{"close code 1006", [][]byte{closeFrame(closePayload(1006, ""))}, StatusProtocolError},
		{"close code 1015", [][]byte{closeFrame(closePayload(1015, ""))}, StatusProtocolError},
		{"close code 1016", [][]byte{closeFrame(closePayload(1016, ""))}, StatusProtocolError},
		{"close code 2000", [][]byte{closeFrame(closePayload(2000, "x"))}, StatusProtocolError},
		{"close code 2999", [][]byte{closeFrame(closePayload(2999, ""))}, StatusProtocolError},
		{"close code 5000", [][]byte{closeFrame(closePayload(5000, ""))}, StatusProtocolError},
		{"close code 65535", [][]byte{closeFrame(closePayload(65535, ""))}, StatusProtocolError},

		// 1007: invalid UTF-8.
		{"invalid UTF-8 text", [][]byte{frame(true, OpText, []byte("ok \xff"))}, StatusInvalidPayload},
		{"overlong encoding", [][]byte{frame(true, OpText, []byte("\xc0\xaf"))}, StatusInvalidPayload},
		{"UTF-16 surrogate", [][]byte{frame(true, OpText, []byte("\xed\xa0\x80"))}, StatusInvalidPayload},
		{"code point above U+10FFFF", [][]byte{frame(true, OpText, []byte("\xf4\x90\x80\x80"))}, StatusInvalidPayload},
		{"truncated character at the end", [][]byte{frame(true, OpText, []byte("abc\xe2\x82"))}, StatusInvalidPayload},
		{"invalid only when reassembled", [][]byte{text(false, "abc\xe2\x82"), cont(true, "x")}, StatusInvalidPayload},
		{"invalid in the last fragment", [][]byte{text(false, "abc"), cont(false, "def"), cont(true, "\x80")}, StatusInvalidPayload},
		{"message ends mid-character", [][]byte{text(false, "abc"), cont(true, "\xf0\x9f\x98")}, StatusInvalidPayload},
		{"invalid UTF-8 close reason", [][]byte{closeFrame(closePayload(1000, "bye\xff"))}, StatusInvalidPayload},
		{"close reason ending mid-character", [][]byte{closeFrame(closePayload(4000, "\xe2\x82"))}, StatusInvalidPayload},

		// 1009: limits (1024-byte frames, 4096-byte messages).
		{"frame over the limit", [][]byte{frame(true, OpText, big(1025))}, StatusMessageTooBig},
		{"binary frame over the limit", [][]byte{frame(true, OpBinary, big(1025))}, StatusMessageTooBig},
		{"frame over the limit, header only", [][]byte{frameSpec{fin: true, op: OpText, declared: 1025, key: key}.bytes()}, StatusMessageTooBig},
		{"frame declaring 2^63-1 bytes", [][]byte{frameSpec{fin: true, op: OpText, lenForm: 64, declared: 1<<63 - 1, key: key}.bytes()}, StatusMessageTooBig},
		{"frame declaring 2^64-1 bytes (MSB set)", [][]byte{frameSpec{fin: true, op: OpBinary, lenForm: 64, declared: 1<<64 - 1, key: key}.bytes()}, StatusMessageTooBig},
		{"continuation over the frame limit", [][]byte{text(false, "a"), cont(true, string(big(1025)))}, StatusMessageTooBig},
		{"message over the limit", [][]byte{
			text(false, string(big(1024))), cont(false, string(big(1024))), cont(false, string(big(1024))),
			cont(false, string(big(1024))), cont(true, "x"),
		}, StatusMessageTooBig},
		{"message over the limit with an empty final frame first", [][]byte{
			text(false, string(big(1024))), cont(false, string(big(1024))), cont(false, ""),
			cont(false, string(big(1024))), cont(false, string(big(1023))), cont(true, "xy"),
		}, StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, serverConfig{opts: smallLimits()})
			rc := dialWS(t, s)
			rc.write(tt.frames...)
			rc.expectClose(tt.code)
			rc.expectEOF(3 * time.Second)
			wantCloseError(t, s.result(5*time.Second), tt.code, true)
		})
	}
}

// TestViolationAfterValidTraffic checks that a violation is detected in the
// middle of a stream: earlier messages are answered first, and the frame
// buffered after the bad one is not processed. The client then keeps its
// side open and silent: the server must still close TCP after CloseTimeout.
func TestViolationAfterValidTraffic(t *testing.T) {
	const ct = 300 * time.Millisecond
	s := newTestServer(t, serverConfig{opts: &Options{CloseTimeout: ct}})
	rc := dialWS(t, s)
	rc.write(
		frame(true, OpText, []byte("one")),
		frame(true, opPing, []byte("p")),
		frame(true, OpText, []byte("two")),
		frame(true, 0x3, nil),
		frame(true, OpText, []byte("never")),
	)
	rc.expectText([]byte("one"))
	rc.expectFrame(opPong, []byte("p"))
	rc.expectText([]byte("two"))
	rc.expectClose(StatusProtocolError)
	start := time.Now()
	rc.expectEOF(3 * time.Second)
	wantCloseError(t, s.result(5*time.Second), StatusProtocolError, true)
	select {
	case <-s.ended:
		if d := time.Since(start); d > ct+time.Second {
			t.Fatalf("Finish returned after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Finish did not return while the client stayed open")
	}
	// The server has closed: the client now reads EOF or a reset.
	if _, err := rc.readFrame(2 * time.Second); err == nil {
		t.Fatal("read a frame after the close")
	}
}
