package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// A flood of WebSocket upgrades with a wrong bearer token. Each attempt is a
// fresh TCP connection carrying a complete upgrade request; the response is
// read in full and the connection closed. This is plain HTTP on purpose: the
// request bytes are built once, so a flooder costs little more than the
// syscalls and the load generator stays off the server's cores.

type flood struct {
	w    *window
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	out  map[string]int64 // outcome -> count, within the window
}

type floodStats struct {
	Seconds  float64
	Rejected int64            // 401 and 429 answers
	Limited  int64            // of which 429
	Other    int64            // anything else
	Outcomes map[string]int64 // non-401 outcomes by kind
}

func (s floodStats) rate() float64 { return float64(s.Rejected) / s.Seconds }

func upgradeRequest(hostport, token string) []byte {
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	return fmt.Appendf(nil, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
		hostport, base64.StdEncoding.EncodeToString(key), token)
}

func startFlood(hostport, wrongToken string, n int, w *window) *flood {
	f := &flood{w: w, stop: make(chan struct{}), out: map[string]int64{}}
	for range n {
		req := upgradeRequest(hostport, wrongToken)
		f.wg.Go(func() { f.run(hostport, req) })
	}
	return f
}

func (f *flood) run(hostport string, req []byte) {
	local := map[string]int64{}
	defer func() {
		f.mu.Lock()
		for k, v := range local {
			f.out[k] += v
		}
		f.mu.Unlock()
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	br := bufio.NewReaderSize(nil, 4096)
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		outcome := f.attempt(&d, hostport, req, br)
		if t := f.w.now(); f.w.in(t) {
			local[outcome]++
		}
		if outcome == "dial error" {
			time.Sleep(time.Millisecond) // do not spin on a dead port
		}
	}
}

func (f *flood) attempt(d *net.Dialer, hostport string, req []byte, br *bufio.Reader) string {
	conn, err := d.Dial("tcp", hostport)
	if err != nil {
		return "dial error"
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		return "write error"
	}
	br.Reset(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "read error"
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return "401"
	case http.StatusTooManyRequests:
		// A server that limits failed attempts per address answers the
		// flood 429: still a refused upgrade.
		return "429"
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// finish stops the flooders and returns the counts within the window.
func (f *flood) finish() floodStats {
	close(f.stop)
	f.wg.Wait()
	st := floodStats{Seconds: float64(f.w.end-f.w.start) / 1e9, Outcomes: map[string]int64{}}
	for k, v := range f.out {
		if k == "401" || k == "429" {
			st.Rejected += v
			if k == "429" {
				st.Limited += v
			}
		} else {
			st.Other += v
			st.Outcomes[k] += v
		}
	}
	return st
}
