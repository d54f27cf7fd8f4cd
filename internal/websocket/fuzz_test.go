package websocket

import (
	"bytes"
	"errors"
	"io"
	"runtime/metrics"
	"testing"
	"time"
	"unicode/utf8"
)

// chunkReader returns at most n bytes per Read, to exercise buffer refills.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// fuzzSeeds are valid and invalid client streams.
func fuzzSeeds() [][]byte {
	k := [4]byte{0x11, 0x22, 0x33, 0x44}
	f := func(fin bool, op byte, p string) []byte {
		return frameSpec{fin: fin, op: op, payload: []byte(p), key: k}.bytes()
	}
	cat := func(b ...[]byte) []byte { return bytes.Join(b, nil) }
	return [][]byte{
		f(true, OpText, `{"id":1,"method":"initialize"}`),
		f(true, OpBinary, "\x00\x01\x02"),
		f(true, OpText, ""),
		cat(f(false, OpText, "hel"), f(true, opPing, "p"), f(false, opContinuation, "lo"), f(true, opContinuation, "")),
		cat(f(false, OpText, "\xe2\x82"), f(true, opContinuation, "\xac")),
		cat(f(true, opPing, ""), f(true, opPong, "x"), f(true, OpText, "a")),
		f(true, opClose, "\x03\xe8bye"),
		f(true, opClose, ""),
		f(true, opClose, "\x03"),
		f(true, opClose, "\x03\xed"),
		f(true, OpText, string(pattern(300, 1))),
		f(true, OpText, string(pattern(5000, 2))),
		frameSpec{fin: true, op: OpBinary, declared: 70000, key: k}.bytes(),
		frameSpec{fin: true, op: OpText, payload: []byte("x"), lenForm: 64, key: k}.bytes(),
		frameSpec{fin: true, op: OpText, declared: 1 << 20, lenForm: 64, key: k}.bytes(),
		frameSpec{fin: true, op: OpText, declared: 64 << 10, key: k}.bytes(),
		frameSpec{fin: true, op: OpText, unmasked: true, payload: []byte("x")}.bytes(),
		frameSpec{fin: true, rsv: 0x40, op: OpText, payload: []byte("x"), key: k}.bytes(),
		cat(f(false, OpText, string(pattern(1000, 3))), f(false, opContinuation, string(pattern(1000, 4))), f(true, opContinuation, "!")),
		cat(f(true, 0x3, ""), f(true, OpText, "after")),
		f(true, OpText, "bad \xff"),
		fragments(3000),
	}
}

// heapAllocated is a cheap, approximate allocatedBytes for the fuzzer
// (runtime.ReadMemStats stops the world and took 95% of each execution).
// Small objects are counted when a per-P cache is flushed, so a count can
// include allocations made before f ran; an excess is re-measured exactly.
func heapAllocated(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// FuzzReadMessage feeds arbitrary bytes to ReadMessage over a fake
// connection, part of them as bytes buffered by the HTTP server and the rest
// read chunk+1 bytes at a time. ReadMessage must not panic or loop, must end
// with io.EOF or a *CloseError, must return only valid messages, and must
// not allocate more than a small multiple of the input.
func FuzzReadMessage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint16(0), uint8(255))
		f.Add(s, uint16(7), uint8(0))
	}
	// Limits small enough for fast executions, large enough that trusting
	// a declared length would break the allocation bound below.
	opts := &Options{MaxFrameBytes: 64 << 10, MaxMessageBytes: 256 << 10, CloseTimeout: time.Second}
	f.Fuzz(func(t *testing.T, data []byte, buffered uint16, chunk uint8) {
		nb := min(int(buffered), len(data))
		var msgs int
		var lastErr error
		run := func() {
			msgs = 0
			r := &chunkReader{r: bytes.NewReader(data[nb:]), n: int(chunk) + 1}
			c := NewConn(&fakeConn{r: r}, data[:nb], opts)
			for calls := 1; ; calls++ {
				if calls > len(data)+1 {
					t.Fatalf("%d ReadMessage calls for %d bytes", calls, len(data))
				}
				op, msg, err := c.ReadMessage()
				if err != nil {
					lastErr = err
					break
				}
				msgs++
				switch {
				case msg == nil:
					t.Fatalf("nil message")
				case op != OpText && op != OpBinary:
					t.Fatalf("op %d", op)
				case op == OpText && !utf8.Valid(msg):
					t.Fatalf("invalid UTF-8 text returned: %q", msg)
				case int64(len(msg)) > opts.MaxMessageBytes:
					t.Fatalf("message of %d bytes", len(msg))
				}
			}
			c.Finish()
		}
		// The constant covers the Conn itself and a pooled 16 KiB read
		// buffer when more than 512 bytes arrive buffered.
		limit := uint64(4*len(data) + 32<<10)
		if n := heapAllocated(run); n > limit {
			if n := allocatedBytes(run); n > limit {
				t.Fatalf("%d input bytes (%d messages): allocated %d bytes, limit %d", len(data), msgs, n, limit)
			}
		}
		var ce *CloseError
		if lastErr != io.EOF && !errors.As(lastErr, &ce) {
			t.Fatalf("ReadMessage ended with %v (%T)", lastErr, lastErr)
		}
		if ce != nil && ce.Local {
			switch ce.Code {
			case StatusProtocolError, StatusInvalidPayload, StatusMessageTooBig:
			default:
				t.Fatalf("local close with %d", ce.Code)
			}
		}
	})
}
