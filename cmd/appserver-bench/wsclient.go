package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

const (
	readLimit        = 64 << 20
	overloadedCode   = -32001
	initRetryLimit   = 200
	handshakeTimeout = 15 * time.Second
)

var initRequest = []byte(`{"id":0,"method":"initialize","params":{"clientInfo":{"name":"appserver-bench","title":null,"version":"0.1.0"},"capabilities":{"experimentalApi":true}}}`)

// httpClient is shared by all upgrades; see upgradeTransport.
var httpClient = &http.Client{Transport: &upgradeTransport{dialer: net.Dialer{Timeout: 10 * time.Second}}}

// upgradeTransport is a minimal http.RoundTripper for WebSocket upgrades:
// one fresh TCP connection per request, no pool, no proxy and none of
// http.Transport's per-connection goroutines, so that a handshake costs
// the bench little more than its syscalls. A 101 response's Body is the
// connection itself, as coder/websocket requires; any other response's
// Body closes the connection when closed.
type upgradeTransport struct {
	dialer net.Dialer
}

func (u *upgradeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	conn, err := u.dialer.DialContext(ctx, "tcp", req.URL.Host)
	if err != nil {
		return nil, err
	}
	// Unblock the request and response I/O if ctx ends meanwhile.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		cc := &corkConn{Conn: conn}
		if slot, ok := ctx.Value(corkSlot{}).(**corkConn); ok {
			*slot = cc
		}
		resp.Body = upgradedConn{br, cc}
	} else {
		resp.Body = closeBoth{resp.Body, conn}
	}
	return resp, nil
}

// upgradedConn reads through the bufio.Reader that may already hold the
// first frames, and writes and closes the connection directly.
type upgradedConn struct {
	*bufio.Reader
	net.Conn
}

func (c upgradedConn) Read(p []byte) (int, error) { return c.Reader.Read(p) }

// corkConn lets a load writer send a burst of requests in one write: while
// corked, writes are kept in a buffer that uncork sends. Everything else
// (and every write outside a burst) goes straight through.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// corkSlot is the context key through which RoundTrip hands the corkConn
// of an upgraded connection back to connect.
type corkSlot struct{}

// wsConn is an initialized connection and, if the upgrade went through
// upgradeTransport, its corkable socket.
type wsConn struct {
	*websocket.Conn
	cork *corkConn
}

type closeBoth struct {
	io.ReadCloser
	conn net.Conn
}

func (c closeBoth) Close() error {
	c.ReadCloser.Close()
	return c.conn.Close()
}

// client holds what every connection to one target needs.
type client struct {
	url    string
	header http.Header
}

func newClient(t *target) *client {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+t.Token)
	return &client{url: t.URL, header: h}
}

// handshakeResult says how an initialize went.
type handshakeResult struct {
	Retries int // initialize answers that were -32001 before success
}

// connect upgrades and initializes one connection; the returned connection
// is ready for requests. Initialize answers of -32001 are retried.
func (c *client) connect(ctx context.Context, buf *[]byte) (*wsConn, handshakeResult, error) {
	var hr handshakeResult
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var cc *corkConn
	ctx = context.WithValue(ctx, corkSlot{}, &cc)
	ws, resp, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{HTTPClient: httpClient, HTTPHeader: c.header})
	if err != nil {
		if resp != nil {
			return nil, hr, fmt.Errorf("upgrade: HTTP %d", resp.StatusCode)
		}
		return nil, hr, err
	}
	ws.SetReadLimit(readLimit)
	for {
		if err := ws.Write(ctx, websocket.MessageText, initRequest); err != nil {
			ws.CloseNow()
			return nil, hr, fmt.Errorf("send initialize: %w", err)
		}
		code, err := awaitAnswer(ctx, ws, 0, buf)
		if err != nil {
			ws.CloseNow()
			return nil, hr, fmt.Errorf("initialize: %w", err)
		}
		switch code {
		case 0:
			return &wsConn{Conn: ws, cork: cc}, hr, nil
		case overloadedCode:
			hr.Retries++
			if hr.Retries > initRetryLimit {
				ws.CloseNow()
				return nil, hr, errors.New("initialize: still -32001 after retries")
			}
			time.Sleep(time.Duration(min(hr.Retries, 20)) * time.Millisecond)
		default:
			ws.CloseNow()
			return nil, hr, fmt.Errorf("initialize: error code %d", code)
		}
	}
}

// awaitAnswer reads messages until the answer with the given id, skipping
// notifications and server requests, and returns its error code (0 for a
// result).
func awaitAnswer(ctx context.Context, ws *websocket.Conn, id int64, buf *[]byte) (int64, error) {
	for {
		b, err := readMessage(ctx, ws, *buf)
		*buf = b[:0]
		if err != nil {
			return 0, err
		}
		s := scanMessage(b)
		switch s.Kind {
		case kindResult:
			if s.ID == id {
				return 0, nil
			}
		case kindError:
			if s.ID == id {
				return s.Code, nil
			}
		}
	}
}

// readMessage reads the next text message into buf (reusing its storage)
// and returns it. Binary messages are read and dropped.
func readMessage(ctx context.Context, ws *websocket.Conn, buf []byte) ([]byte, error) {
	for {
		typ, r, err := ws.Reader(ctx)
		if err != nil {
			return buf[:0], err
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return buf[:0], err
			}
		}
		if typ == websocket.MessageText {
			return buf, nil
		}
	}
}

// ---- request load: connections x depth ----

// window is the measurement window of a load, in nanoseconds since base.
type window struct {
	base       time.Time
	start, end int64
}

func (w *window) now() int64 { return int64(time.Since(w.base)) }

func (w *window) in(t int64) bool { return t >= w.start && t < w.end }

// loadConn is one connection keeping depth requests outstanding: a writer
// goroutine sends a request whenever a slot is free, one reader goroutine
// matches answers to slots by id. Request ids are seq*depth+slot, so the
// slot of an answer is id%depth and a stale or foreign id is recognised.
type loadConn struct {
	ws     *wsConn
	depth  int
	free   chan int
	want   []atomic.Int64 // id outstanding in each slot, -1 if none
	sentAt []atomic.Int64 // send time of that id
	w      *window
	batch  bool   // send the requests that are due together in one write
	prefix []byte // `{"id":`
	suffix []byte // `,"method":...,"params":...}`

	// Written by the reader only; read after it has finished.
	lat       []time.Duration
	ok        int64
	overload  int64
	other     int64
	codes     map[int64]int64
	unmatched int64
	invalid   int64
	readErr   error
}

func newLoadConn(ws *wsConn, depth int, w *window, suffix []byte) *loadConn {
	lc := &loadConn{
		ws:     ws,
		depth:  depth,
		free:   make(chan int, depth),
		want:   make([]atomic.Int64, depth),
		sentAt: make([]atomic.Int64, depth),
		w:      w,
		prefix: []byte(`{"id":`),
		suffix: suffix,
		codes:  map[int64]int64{},
	}
	for i := range depth {
		lc.want[i].Store(-1)
		lc.free <- i
	}
	return lc
}

// requestSuffix builds the constant tail of every request.
func requestSuffix(methodJSON, paramsJSON []byte) []byte {
	s := []byte(`,"method":`)
	s = append(s, methodJSON...)
	s = append(s, `,"params":`...)
	s = append(s, paramsJSON...)
	return append(s, '}')
}

func (lc *loadConn) writer(stop <-chan struct{}) {
	ctx := context.Background() // no per-call context machinery on the hot path
	seq := make([]int64, lc.depth)
	buf := make([]byte, 0, len(lc.prefix)+20+len(lc.suffix))
	send := func(slot int) error {
		seq[slot]++
		id := seq[slot]*int64(lc.depth) + int64(slot)
		lc.sentAt[slot].Store(lc.w.now())
		lc.want[slot].Store(id) // after sentAt: a reader that sees id sees its send time
		buf = append(buf[:0], lc.prefix...)
		buf = strconv.AppendInt(buf, id, 10)
		buf = append(buf, lc.suffix...)
		return lc.ws.Write(ctx, websocket.MessageText, buf)
	}
	cork := lc.ws.cork
	if !lc.batch {
		cork = nil
	}
	for {
		var slot int
		select {
		case <-stop:
			return
		case slot = <-lc.free:
		}
		if cork == nil {
			if send(slot) != nil {
				return
			}
			continue
		}
		// Send every request that can go now in one write. This goroutine
		// is free's only receiver, so a non-zero len cannot block.
		cork.cork()
		err := send(slot)
		for err == nil && len(lc.free) > 0 {
			err = send(<-lc.free)
		}
		if err2 := cork.uncork(); err != nil || err2 != nil {
			return
		}
	}
}

func (lc *loadConn) reader() {
	ctx := context.Background()
	buf := make([]byte, 0, 8<<10)
	depth := int64(lc.depth)
	for {
		b, err := readMessage(ctx, lc.ws.Conn, buf)
		buf = b[:0]
		if err != nil {
			lc.readErr = err
			return
		}
		s := scanMessage(b)
		if s.Kind == kindServer {
			continue
		}
		if s.Kind == kindInvalid {
			lc.invalid++
			continue
		}
		if s.ID < depth {
			lc.unmatched++
			continue
		}
		slot := int(s.ID % depth)
		if lc.want[slot].Load() != s.ID {
			lc.unmatched++
			continue
		}
		now := lc.w.now()
		sent := lc.sentAt[slot].Load()
		lc.want[slot].Store(-1)
		if lc.w.in(now) {
			lc.lat = append(lc.lat, time.Duration(now-sent))
			switch {
			case s.Kind == kindResult:
				lc.ok++
			case s.Code == overloadedCode:
				lc.overload++
			default:
				lc.other++
				lc.codes[s.Code]++
			}
		}
		lc.free <- slot
	}
}

// rpcStats is the outcome of one request load.
type rpcStats struct {
	Seconds   float64
	Answers   int64
	OK        int64
	Overload  int64
	Other     int64
	Codes     map[int64]int64
	Unmatched int64
	Invalid   int64
	P50, P99  time.Duration
	Lost      int // connections that ended before the window closed
}

func (s rpcStats) rate() float64 { return float64(s.Answers) / s.Seconds }

// rpcLoad runs a request load on already initialized connections: warm-up,
// then the measurement window, then it closes the connections.
type rpcLoad struct {
	conns []*loadConn
	w     *window
	stop  chan struct{}
	wg    sync.WaitGroup
	done  []chan struct{}
}

// openConns opens n initialized connections, par at a time.
func openConns(ctx context.Context, c *client, n, par int) ([]*wsConn, int, error) {
	conns := make([]*wsConn, n)
	var (
		mu       sync.Mutex
		firstErr error
		retries  int
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range min(par, n) {
		wg.Go(func() {
			buf := make([]byte, 0, 8<<10)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				mu.Lock()
				failed := firstErr != nil
				mu.Unlock()
				if failed || ctx.Err() != nil {
					return
				}
				ws, hr, err := c.connect(ctx, &buf)
				mu.Lock()
				retries += hr.Retries
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("connection %d: %w", i, err)
				}
				mu.Unlock()
				conns[i] = ws
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeConns(conns)
		return nil, retries, firstErr
	}
	return conns, retries, nil
}

func closeConns(conns []*wsConn) {
	for _, ws := range conns {
		if ws != nil {
			ws.CloseNow()
		}
	}
}

// startRPCLoad starts a writer and a reader on each of conns; answers are
// counted within w.
func startRPCLoad(conns []*wsConn, depth int, suffix []byte, w *window, batch bool) *rpcLoad {
	l := &rpcLoad{w: w, stop: make(chan struct{})}
	for _, ws := range conns {
		lc := newLoadConn(ws, depth, w, suffix)
		lc.batch = batch
		l.conns = append(l.conns, lc)
		done := make(chan struct{})
		l.done = append(l.done, done)
		l.wg.Go(func() { lc.writer(l.stop) })
		l.wg.Go(func() { defer close(done); lc.reader() })
	}
	return l
}

// finish stops the load, closes the connections and returns the statistics
// of the window. Call it once the window has closed.
func (l *rpcLoad) finish() (rpcStats, error) {
	lost := 0
	for _, d := range l.done {
		select {
		case <-d:
			lost++
		default:
		}
	}
	close(l.stop)
	for _, lc := range l.conns {
		lc.ws.CloseNow()
	}
	l.wg.Wait()
	st := rpcStats{Seconds: float64(l.w.end-l.w.start) / 1e9, Codes: map[int64]int64{}, Lost: lost}
	var lat []time.Duration
	for _, lc := range l.conns {
		lat = append(lat, lc.lat...)
		st.OK += lc.ok
		st.Overload += lc.overload
		st.Other += lc.other
		st.Unmatched += lc.unmatched
		st.Invalid += lc.invalid
		for k, v := range lc.codes {
			st.Codes[k] += v
		}
	}
	st.Answers = st.OK + st.Overload + st.Other
	sortDurations(lat)
	st.P50 = percentile(lat, 50)
	st.P99 = percentile(lat, 99)
	var err error
	if lost > 0 {
		err = fmt.Errorf("%d of %d connections ended during the load", lost, len(l.conns))
	}
	return st, err
}
