package websocket

// Tests with github.com/coder/websocket as the client: an independent
// implementation of RFC 6455 talking to ours.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	cws "github.com/coder/websocket"
)

func dialCoder(t *testing.T, s *testServer, opts *cws.DialOptions) *cws.Conn {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	if opts == nil {
		opts = &cws.DialOptions{}
	}
	opts.HTTPClient = &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := cws.Dial(ctx, "ws://"+s.addr()+"/", opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCoderEcho echoes text messages of many sizes, and checks that binary
// messages reach the server as OpBinary. The client offers
// permessage-deflate, which the server must ignore.
func TestCoderEcho(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	c := dialCoder(t, s, &cws.DialOptions{CompressionMode: cws.CompressionContextTakeover})
	c.SetReadLimit(16 << 20)
	ctx := testCtx(t)
	for i, n := range []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 65537, 1 << 20, 5 << 20} {
		msg := pattern(n, i)
		if err := c.Write(ctx, cws.MessageText, msg); err != nil {
			t.Fatalf("write %d bytes: %v", n, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d bytes: %v", n, err)
		}
		if typ != cws.MessageText || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: type %v, %d bytes %s", n, typ, len(got), trunc(got))
		}
	}
	bin := []byte{0, 1, 2, 0xff, 0xfe}
	if err := c.Write(ctx, cws.MessageBinary, bin); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, cws.MessageText, []byte(`{"after":"binary"}`)); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != `{"after":"binary"}` {
		t.Fatalf("read %q, %v", got, err)
	}
	var sawBinary bool
	for len(s.msgs) > 0 {
		m := <-s.msgs
		if m.op == OpBinary {
			sawBinary = bytes.Equal(m.msg, bin)
		}
	}
	if !sawBinary {
		t.Fatal("the server did not read the binary message as OpBinary")
	}
}

// TestCoderFragmentedWrites sends messages through c.Writer, one frame per
// Write call, including a UTF-8 character split across frames.
func TestCoderFragmentedWrites(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	c := dialCoder(t, s, nil)
	c.SetReadLimit(1 << 20)
	ctx := testCtx(t)
	pieces := [][]byte{[]byte(`{"text":"hel`), []byte("lo "), []byte("\xe2\x82"), []byte("\xac"), {}, []byte(" \xf0\x9f"), []byte("\x98\x80"), pattern(100_000, 1), []byte(`"}`)}
	for range 3 {
		w, err := c.Writer(ctx, cws.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for _, p := range pieces {
			if _, err := w.Write(p); err != nil {
				t.Fatal(err)
			}
			want = append(want, p...)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("echo %s, want %s", trunc(got), trunc(want))
		}
	}
}

// TestCoderConcurrentPings sends pings from several goroutines while a
// reader goroutine runs (coder's Ping needs one) and text messages flow.
func TestCoderConcurrentPings(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	c := dialCoder(t, s, nil)
	ctx := testCtx(t)

	echoes := make(chan []byte, 100)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			echoes <- msg
		}
	}()
	const pingers, pings, writes = 8, 25, 50
	var wg sync.WaitGroup
	errs := make(chan error, pingers+1)
	for range pingers {
		wg.Go(func() {
			for range pings {
				if err := c.Ping(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range writes {
			if err := c.Write(ctx, cws.MessageText, []byte(fmt.Sprint(i))); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range writes {
		select {
		case msg := <-echoes:
			if string(msg) != fmt.Sprint(i) {
				t.Fatalf("echo %q, want %d", msg, i)
			}
		case err := <-readErr:
			t.Fatal(err)
		}
	}
	if err := c.Close(cws.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close after %d pings: %v", pingers*pings, err)
	}
	<-readErr
	wantCloseError(t, s.result(5*time.Second), 1000, false)
}

// TestCoderClientClose checks that coder's Close, which waits for the
// server's close frame, completes, and that the server sees the code and
// reason.
func TestCoderClientClose(t *testing.T) {
	for _, code := range []cws.StatusCode{cws.StatusNormalClosure, cws.StatusGoingAway, 4000} {
		t.Run(fmt.Sprint(int(code)), func(t *testing.T) {
			s := newTestServer(t, serverConfig{})
			c := dialCoder(t, s, nil)
			start := time.Now()
			if err := c.Close(code, "bye"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Close took %v", d)
			}
			ce := wantCloseError(t, s.result(5*time.Second), int(code), false)
			if ce.Reason != "bye" {
				t.Fatalf("reason %q", ce.Reason)
			}
		})
	}
}

// TestCoderServerClose checks Close from the server side: the client reads
// the status and reason, answers, and both ends finish.
func TestCoderServerClose(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	c := dialCoder(t, s, nil)
	sc := s.conn()
	sc.Close(4001, "maintenance")
	_, _, err := c.Read(testCtx(t))
	var ce cws.CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "maintenance" {
		t.Fatalf("client read = %v", err)
	}
	wantCloseError(t, s.result(5*time.Second), 4001, false)
}

// TestCoderSeesCloseCodes checks that an independent client receives the
// server's close codes for errors it can provoke: invalid UTF-8 (1007) and
// a message over the limit (1009).
func TestCoderSeesCloseCodes(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		code cws.StatusCode
	}{
		{"invalid UTF-8", []byte("bad \xff"), cws.StatusInvalidFramePayloadData},
		{"too big", pattern(1025, 1), cws.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, serverConfig{opts: smallLimits()})
			c := dialCoder(t, s, nil)
			ctx := testCtx(t)
			if err := c.Write(ctx, cws.MessageText, tt.msg); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.Read(ctx)
			if got := cws.CloseStatus(err); got != tt.code {
				t.Fatalf("client read = %v (status %d), want %d", err, got, tt.code)
			}
			wantCloseError(t, s.result(5*time.Second), int(tt.code), true)
		})
	}
}

// TestCoderBatches checks that a batch written with WriteMessages arrives as
// separate messages, in order, for a small batch and one over 32 KiB.
func TestCoderBatches(t *testing.T) {
	s := newTestServer(t, serverConfig{})
	c := dialCoder(t, s, nil)
	c.SetReadLimit(1 << 20)
	sc := s.conn()
	ctx := testCtx(t)
	for _, batch := range [][][]byte{
		{[]byte(`{"a":1}`), []byte(`{"b":2}`), []byte(`{"c":3}`)},
		{pattern(20000, 1), pattern(20000, 2), []byte("{}"), pattern(70000, 3)},
	} {
		if err := sc.WriteMessages(batch); err != nil {
			t.Fatal(err)
		}
		for i, want := range batch {
			typ, got, err := c.Read(ctx)
			if err != nil || typ != cws.MessageText || !bytes.Equal(got, want) {
				t.Fatalf("message %d: %v %s %v", i, typ, trunc(got), err)
			}
		}
	}
}
