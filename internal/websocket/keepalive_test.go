package websocket

import (
	"testing"
	"time"
)

// TestKeepalivePingsAndClosesSilentPeer: the server pings every interval,
// and a peer that sends nothing for two intervals is closed with 1008.
func TestKeepalivePingsAndClosesSilentPeer(t *testing.T) {
	s := newTestServer(t, serverConfig{opts: &Options{PingInterval: 100 * time.Millisecond}})
	rc := dialWS(t, s)
	start := time.Now()
	rc.expectFrame(opPing, nil)
	rc.expectFrame(opPing, nil)
	if reason := rc.expectClose(StatusPolicyViolation); reason != "keepalive timeout" {
		t.Errorf("close reason %q", reason)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("silent peer closed after %v, want about three intervals", d)
	}
	wantCloseError(t, s.result(5*time.Second), StatusPolicyViolation, true)
}

// TestKeepaliveAnsweringPeerStays: a peer that answers pings (or sends
// anything) is never closed.
func TestKeepaliveAnsweringPeerStays(t *testing.T) {
	s := newTestServer(t, serverConfig{opts: &Options{PingInterval: 50 * time.Millisecond}})
	rc := dialWS(t, s)
	deadline := time.Now().Add(600 * time.Millisecond)
	pings := 0
	for time.Now().Before(deadline) {
		f := rc.next()
		if f.op != opPing {
			t.Fatalf("got op %#x, want pings only", f.op)
		}
		pings++
		rc.write(frameSpec{fin: true, op: opPong, payload: f.payload}.bytes())
	}
	if pings < 5 {
		t.Errorf("only %d pings in 600ms at a 50ms interval", pings)
	}
	rc.write(frameSpec{fin: true, op: OpText, payload: []byte("still here")}.bytes())
	for {
		if f := rc.next(); f.op == OpText {
			break
		}
	}
}
