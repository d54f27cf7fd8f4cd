package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// allocatedBytes returns the bytes allocated while f runs (process-wide, so
// tests using it do not run in parallel).
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDeclaredLengthNotTrusted sends a header announcing a 16 MiB frame
// (the default limit, so it is accepted) followed by 10 bytes, then EOF:
// the reader must not have allocated anything near 16 MiB.
func TestDeclaredLengthNotTrusted(t *testing.T) {
	in := append(frameSpec{fin: true, op: OpText, declared: DefaultMaxFrameBytes, lenForm: 64, key: [4]byte{1, 2, 3, 4}}.bytes(), "0123456789"...)
	var err error
	n := allocatedBytes(func() {
		c := NewConn(&fakeConn{r: bytes.NewReader(in)}, nil, nil)
		_, _, err = c.ReadMessage()
	})
	if err != io.EOF {
		t.Fatalf("ReadMessage = %v, want io.EOF", err)
	}
	if n > 64<<10 {
		t.Fatalf("reading 24 bytes that announce 16 MiB allocated %d bytes", n)
	}
	t.Logf("allocated %d bytes", n)
}

// TestDeclaredLengthNotTrustedSilentPeer: the same, over a connection
// that then goes silent; the reader is blocked, not failed, while we look,
// and a read deadline then ends it.
func TestDeclaredLengthNotTrustedSilentPeer(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := NewConn(server, nil, nil)
	done := make(chan error, 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	go func() {
		_, _, err := c.ReadMessage()
		done <- err
	}()
	hdr := frameSpec{fin: true, op: OpBinary, declared: DefaultMaxFrameBytes, lenForm: 64, key: [4]byte{1, 2, 3, 4}}.bytes()
	if _, err := client.Write(append(hdr, "0123456789"...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	runtime.ReadMemStats(&after)
	select {
	case err := <-done:
		t.Fatalf("ReadMessage returned %v before the peer sent the payload", err)
	default:
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("allocated %d bytes for a frame whose payload has not arrived", n)
	}
	_ = server.SetReadDeadline(time.Now())
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadMessage = %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadMessage did not return after the read deadline")
	}
	c.Finish()
}

// fragments returns a text message of n one-byte fragments, then EOF.
func fragments(n int) []byte {
	key := [4]byte{5, 6, 7, 8}
	var b []byte
	b = append(b, frameSpec{fin: false, op: OpText, payload: []byte("x"), key: key}.bytes()...)
	for i := 1; i < n; i++ {
		b = append(b, frameSpec{fin: i == n-1, op: opContinuation, payload: []byte("x"), key: key}.bytes()...)
	}
	return b
}

// TestManyTinyFragments checks that a message sent as many one-byte
// fragments is reassembled with amortised growth: the bytes allocated stay
// a small multiple of the message, not quadratic in the fragment count.
func TestManyTinyFragments(t *testing.T) {
	const n = 20000
	in := fragments(n)
	var msg []byte
	var err error
	allocs := testing.AllocsPerRun(3, func() {
		c := NewConn(&fakeConn{r: bytes.NewReader(in)}, nil, nil)
		_, msg, err = c.ReadMessage()
	})
	if err != nil || len(msg) != n {
		t.Fatalf("ReadMessage = %d bytes, %v", len(msg), err)
	}
	bytesAlloc := allocatedBytes(func() {
		c := NewConn(&fakeConn{r: bytes.NewReader(in)}, nil, nil)
		_, msg, err = c.ReadMessage()
	})
	t.Logf("%d fragments: %.0f allocations, %d bytes", n, allocs, bytesAlloc)
	if allocs > 50 || bytesAlloc > 16*n+64<<10 {
		t.Fatalf("%d one-byte fragments took %.0f allocations and %d bytes", n, allocs, bytesAlloc)
	}
}

// TestReadMessageAllocs checks the steady state of small messages: one
// allocation (the message the caller owns) per message.
func TestReadMessageAllocs(t *testing.T) {
	in := bytes.Repeat(frame(true, OpText, pattern(200, 1)), 1000)
	c := NewConn(&fakeConn{r: bytes.NewReader(in)}, nil, nil)
	allocs := testing.AllocsPerRun(500, func() {
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per 200-byte message, want 1", allocs)
	}
}

// TestPingAllocs checks that answering pings allocates nothing per ping
// (the pong used to be built in a local array that escaped to the heap: 128
// bytes allocated for every 6-byte ping received).
func TestPingAllocs(t *testing.T) {
	in := bytes.Repeat(frame(true, opPing, []byte("keepalive")), 1000)
	var err error
	allocs := testing.AllocsPerRun(3, func() {
		c := NewConn(&fakeConn{r: bytes.NewReader(in)}, nil, nil)
		_, _, err = c.ReadMessage()
	})
	if err != io.EOF {
		t.Fatalf("ReadMessage = %v", err)
	}
	if allocs > 5 {
		t.Fatalf("1000 pings took %.0f allocations", allocs)
	}
}
