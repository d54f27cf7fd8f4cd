package websocket

import (
	"bytes"
	"testing"
)

// loopReader returns buf over and over, never EOF.
type loopReader struct {
	buf []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.buf[l.off:])
	l.off = (l.off + n) % len(l.buf)
	return n, nil
}

// BenchmarkReadMessage reads 200-byte masked text frames from a pre-built
// buffer.
func BenchmarkReadMessage(b *testing.B) {
	one := frame(true, OpText, pattern(200, 1))
	buf := bytes.Repeat(one, 256) // a whole number of frames
	c := NewConn(&fakeConn{r: &loopReader{buf: buf}}, nil, nil)
	b.SetBytes(200)
	b.ReportAllocs()
	for b.Loop() {
		if _, msg, err := c.ReadMessage(); err != nil || len(msg) != 200 {
			b.Fatalf("%d bytes, %v", len(msg), err)
		}
	}
}

// BenchmarkWriteMessages writes batches of 8 × 200-byte messages to a
// connection that discards them.
func BenchmarkWriteMessages(b *testing.B) {
	c := NewConn(&fakeConn{}, nil, nil)
	batch := make([][]byte, 8)
	for i := range batch {
		batch[i] = pattern(200, i)
	}
	b.SetBytes(8 * 200)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteMessages(batch); err != nil {
			b.Fatal(err)
		}
	}
}
