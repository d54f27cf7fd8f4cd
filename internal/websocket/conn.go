// Package websocket is the server side of RFC 6455, written for appserver's
// needs: exact frame and message limits, the close codes of §7.4 for every
// protocol violation, one pong per ping, a close handshake answered in kind,
// batched writes, and no read buffer held by an idle connection.
//
// It has no client side (appserver's clients use github.com/coder/websocket,
// which also makes it an independent peer in our tests) and no extensions
// (permessage-deflate offers are ignored, as RFC 6455 §9.1 allows).
package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Status codes from RFC 6455 §7.4.1.
const (
	StatusNormalClosure   = 1000
	StatusGoingAway       = 1001
	StatusProtocolError   = 1002
	StatusUnsupportedData = 1003
	StatusNoStatus        = 1005
	StatusInvalidPayload  = 1007
	StatusPolicyViolation = 1008
	StatusMessageTooBig   = 1009
	StatusInternalError   = 1011
)

// Opcodes from RFC 6455 §5.2.
const (
	opContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Defaults for [Options], matching the reference server.
const (
	DefaultMaxFrameBytes   = 16 << 20
	DefaultMaxMessageBytes = 64 << 20
	DefaultCloseTimeout    = time.Second
)

// Options bound a connection. Zero fields take the defaults above.
type Options struct {
	// MaxFrameBytes is the largest frame payload accepted; a larger frame
	// closes the connection with 1009.
	MaxFrameBytes int64
	// MaxMessageBytes is the largest reassembled message; beyond it the
	// connection is closed with 1009.
	MaxMessageBytes int64
	// WriteTimeout bounds each WriteMessages call; zero means none.
	WriteTimeout time.Duration
	// CloseTimeout bounds the close handshake: how long a close frame may
	// take to write and how long the peer has to answer it.
	CloseTimeout time.Duration
	// OnPong, if set, is called by the reader for every pong received.
	OnPong func()
	// PingInterval, if positive, makes the server ping the peer this often.
	// A peer from which no frame at all has arrived for two intervals is
	// closed with 1008 "keepalive timeout": a client that vanished without
	// a FIN (a laptop closed, a NAT that forgot the flow) is noticed.
	PingInterval time.Duration
}

// CloseError describes how a connection ended: the status code and reason
// of the close frame, and whether this side sent it first.
type CloseError struct {
	Code   int
	Reason string
	// Local is true when this side failed the connection (a protocol
	// violation, a limit, or Close) and false when the peer closed it.
	Local bool
}

func (e *CloseError) Error() string {
	who := "peer"
	if e.Local {
		who = "local"
	}
	if e.Reason == "" {
		return fmt.Sprintf("websocket closed by %s: status %d", who, e.Code)
	}
	return fmt.Sprintf("websocket closed by %s: status %d: %s", who, e.Code, e.Reason)
}

// ErrClosed is returned by writes after the close handshake began.
var ErrClosed = errors.New("websocket: connection closed")

// smallBufSize is the read buffer every connection carries inline. Most
// JSON-RPC requests fit, so a busy connection with small messages and every
// idle connection read with it and never touch the pool.
const smallBufSize = 512

// bigBufSize is the pooled read buffer used while a frame does not fit in
// the small one.
const bigBufSize = 16 << 10

var bigBufPool = sync.Pool{New: func() any { b := make([]byte, bigBufSize); return &b }}

// writeCoalesce is the batch size up to which messages are copied into one
// buffer and written with one write; larger batches use writev.
const writeCoalesce = 32 << 10

var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeCoalesce); return &b }}

// Conn is a server-side WebSocket connection.
//
// One goroutine may call ReadMessage at a time; WriteMessages and Close may
// be called from any goroutine, concurrently with each other and with
// ReadMessage. Control frames (pong, close) are answered by the reader.
type Conn struct {
	nc   net.Conn
	opts Options

	// Read state, owned by the reader.
	rbuf       []byte // c.small[:] or a pooled big buffer
	rbig       *[]byte
	rpos, rend int
	small      [smallBufSize]byte
	ctrl       [125]byte

	// Write state.
	wmu       sync.Mutex
	wfailed   bool // a write failed: the stream may end mid-frame
	closeSent bool
	closeRecv bool // the peer's close frame arrived
	hdrs      []byte
	iov       net.Buffers
	wctrl     [2 + 125]byte // control frame scratch, under wmu

	closeOnce sync.Once
	finished  atomic.Bool

	// Keepalive: active is set by the reader on every frame and cleared by
	// the ping timer, which counts the intervals that passed without one.
	active   atomic.Bool
	missed   int // owned by the timer
	pingTime *time.Timer
	// localClose is set when this side started the close handshake; the
	// reader then owns tearing down the TCP connection. localReason is what
	// Close was called with.
	localClose  atomic.Bool
	localReason atomic.Pointer[CloseError]
}

// NewConn wraps nc, an upgraded connection. buffered holds bytes the HTTP
// server had already read past the upgrade request.
func NewConn(nc net.Conn, buffered []byte, opts *Options) *Conn {
	c := &Conn{nc: nc}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.MaxFrameBytes <= 0 {
		c.opts.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.opts.MaxMessageBytes <= 0 {
		c.opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.opts.CloseTimeout <= 0 {
		c.opts.CloseTimeout = DefaultCloseTimeout
	}
	c.rbuf = c.small[:]
	if len(buffered) > len(c.rbuf) {
		c.useBig(len(buffered))
	}
	c.rend = copy(c.rbuf, buffered)
	if c.opts.PingInterval > 0 {
		c.active.Store(true)
		c.pingTime = time.AfterFunc(c.opts.PingInterval, c.keepalive)
	}
	return c
}

// keepalive runs on the ping timer.
func (c *Conn) keepalive() {
	if c.finished.Load() {
		return
	}
	if c.active.Swap(false) {
		c.missed = 0
	} else if c.missed++; c.missed >= 2 {
		c.Close(StatusPolicyViolation, "keepalive timeout")
		return
	}
	// Skip this ping if a write holds the lock: the writer is busy (or
	// stuck, which the write timeout handles) and the next tick retries.
	if c.wmu.TryLock() {
		if !c.closeSent && !c.wfailed {
			_ = c.nc.SetWriteDeadline(time.Now().Add(max(c.opts.WriteTimeout, c.opts.CloseTimeout)))
			_ = c.writeFrameLocked(opPing, nil)
		}
		c.wmu.Unlock()
	}
	c.pingTime.Reset(c.opts.PingInterval)
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// frameHeader is a parsed frame header (RFC 6455 §5.2).
type frameHeader struct {
	fin    bool
	rsv    byte
	op     byte
	masked bool
	length int64
	key    [4]byte
}

// ReadMessage returns the next data message: its opcode (OpText or
// OpBinary) and payload, which the caller owns. Pings are answered, pongs
// noted, and a close frame answered and returned as a *CloseError. Any
// protocol violation closes the connection with the matching status code
// and returns a *CloseError with Local set. Text messages are checked to be
// UTF-8 (1007 otherwise).
func (c *Conn) ReadMessage() (op int, msg []byte, err error) {
	var msgOp byte
	for {
		h, err := c.readHeader()
		if err != nil {
			return 0, nil, c.readFailed(err)
		}
		switch {
		case h.rsv != 0:
			return 0, nil, c.fail(StatusProtocolError, "reserved bits set")
		case !h.masked:
			return 0, nil, c.fail(StatusProtocolError, "client frame not masked")
		}
		switch h.op {
		case opContinuation:
			if msgOp == 0 {
				return 0, nil, c.fail(StatusProtocolError, "continuation frame outside a message")
			}
		case OpText, OpBinary:
			if msgOp != 0 {
				return 0, nil, c.fail(StatusProtocolError, "new message inside a fragmented message")
			}
		case opClose, opPing, opPong:
			if !h.fin {
				return 0, nil, c.fail(StatusProtocolError, "fragmented control frame")
			}
			if h.length > 125 {
				return 0, nil, c.fail(StatusProtocolError, "control frame longer than 125 bytes")
			}
			if err := c.readFull(c.ctrl[:h.length], h.key, 0); err != nil {
				return 0, nil, c.readFailed(err)
			}
			if err := c.control(h.op, c.ctrl[:h.length]); err != nil {
				return 0, nil, err
			}
			continue
		default:
			return 0, nil, c.fail(StatusProtocolError, fmt.Sprintf("reserved opcode %#x", h.op))
		}
		if h.length > c.opts.MaxFrameBytes {
			return 0, nil, c.fail(StatusMessageTooBig, fmt.Sprintf("frame of %d bytes exceeds the %d-byte limit", h.length, c.opts.MaxFrameBytes))
		}
		if int64(len(msg))+h.length > c.opts.MaxMessageBytes {
			return 0, nil, c.fail(StatusMessageTooBig, fmt.Sprintf("message exceeds the %d-byte limit", c.opts.MaxMessageBytes))
		}
		if h.op != opContinuation {
			msgOp = h.op
		}
		msg, err = c.appendPayload(msg, h)
		if err != nil {
			return 0, nil, c.readFailed(err)
		}
		if !h.fin {
			continue
		}
		c.releaseBig()
		if msgOp == OpText && !utf8.Valid(msg) {
			return 0, nil, c.fail(StatusInvalidPayload, "text message is not valid UTF-8")
		}
		if msg == nil {
			msg = []byte{}
		}
		return int(msgOp), msg, nil
	}
}

// control handles one control frame payload.
func (c *Conn) control(op byte, p []byte) error {
	switch op {
	case opPing:
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if c.closeSent || c.wfailed {
			return nil
		}
		// Like WriteMessages: the deadline left by an earlier write may have
		// passed and would fail the pong.
		if c.opts.WriteTimeout > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
		}
		if err := c.writeFrameLocked(opPong, p); err != nil {
			return c.readFailed(err)
		}
		return nil
	case opPong:
		if c.opts.OnPong != nil {
			c.opts.OnPong()
		}
		return nil
	}
	// Close (RFC 6455 §5.5.1, §7.4).
	code, reason := StatusNoStatus, ""
	switch {
	case len(p) == 1:
		return c.fail(StatusProtocolError, "close frame with a 1-byte payload")
	case len(p) >= 2:
		code = int(binary.BigEndian.Uint16(p))
		if !validReceivedCode(code) {
			return c.fail(StatusProtocolError, fmt.Sprintf("invalid close code %d", code))
		}
		if !utf8.Valid(p[2:]) {
			return c.fail(StatusInvalidPayload, "close reason is not valid UTF-8")
		}
		reason = string(p[2:])
	}
	// A write blocked on a peer that does not read holds c.wmu: bound it
	// before waiting for the lock, as Close does.
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.CloseTimeout))
	c.wmu.Lock()
	c.closeRecv = true
	if !c.closeSent && !c.wfailed {
		c.closeSent = true
		// Echo the status code, as §5.5.1 suggests; an empty close gets an
		// empty close.
		var echo []byte
		if code != StatusNoStatus {
			echo = binary.BigEndian.AppendUint16(nil, uint16(code))
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.CloseTimeout))
		_ = c.writeFrameLocked(opClose, echo)
	}
	c.wmu.Unlock()
	return &CloseError{Code: code, Reason: reason}
}

// validReceivedCode reports whether a peer may send code in a close frame
// (RFC 6455 §7.4.1 and the IANA registry).
func validReceivedCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// fail sends a close frame with code and reason and returns the matching
// error; the reader stops after it.
func (c *Conn) fail(code int, reason string) error {
	c.localClose.Store(true)
	// A write blocked on a peer that does not read holds c.wmu: bound it
	// before sendClose waits for the lock, as Close does.
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.CloseTimeout))
	c.sendClose(code, reason)
	return &CloseError{Code: code, Reason: reason, Local: true}
}

// readFailed maps a read error: after this side sent a close frame, a
// timeout or EOF just ends the handshake.
func (c *Conn) readFailed(err error) error {
	if r := c.localReason.Load(); r != nil {
		// We closed first (Close, keepalive): whatever ended the read
		// (the peer's silence, our deadline) the reason is ours.
		return r
	}
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return err
}

// readHeader reads and parses one frame header.
func (c *Conn) readHeader() (frameHeader, error) {
	var h frameHeader
	if err := c.fill(2); err != nil {
		return h, err
	}
	if c.pingTime != nil {
		c.active.Store(true)
	}
	b0, b1 := c.rbuf[c.rpos], c.rbuf[c.rpos+1]
	h.fin = b0&0x80 != 0
	h.rsv = b0 & 0x70
	h.op = b0 & 0x0F
	h.masked = b1&0x80 != 0
	n := 2
	length := int64(b1 & 0x7F)
	switch length {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h.masked {
		n += 4
	}
	if err := c.fill(n); err != nil {
		return h, err
	}
	p := c.rbuf[c.rpos+2 : c.rpos+n]
	switch length {
	case 126:
		length = int64(binary.BigEndian.Uint16(p))
		p = p[2:]
	case 127:
		u := binary.BigEndian.Uint64(p)
		if u>>63 != 0 {
			// §5.2: the most significant bit MUST be 0. Report it as a
			// length no limit allows.
			u = 1<<63 - 1
		}
		length = int64(u)
		p = p[8:]
	}
	h.length = length
	if h.masked {
		copy(h.key[:], p)
	}
	c.rpos += n
	return h, nil
}

// fill makes at least n bytes available in the read buffer.
func (c *Conn) fill(n int) error {
	if c.rend-c.rpos >= n {
		return nil
	}
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
	}
	if n > len(c.rbuf) {
		c.useBig(n)
	}
	if c.rpos > 0 && c.rpos+n > len(c.rbuf) {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for c.rend-c.rpos < n {
		k, err := c.nc.Read(c.rbuf[c.rend:])
		c.rend += k
		if err != nil {
			if c.rend-c.rpos >= n {
				return nil
			}
			if err == io.EOF && c.rend > c.rpos {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// useBig switches the read buffer to a pooled big one holding at least n
// bytes, keeping buffered data.
func (c *Conn) useBig(n int) {
	if c.rbig != nil && n <= len(*c.rbig) {
		return
	}
	var nb []byte
	var bp *[]byte
	if n <= bigBufSize {
		bp = bigBufPool.Get().(*[]byte)
		nb = *bp
	} else {
		nb = make([]byte, n)
	}
	c.rend = copy(nb, c.rbuf[c.rpos:c.rend])
	c.rpos = 0
	if c.rbig != nil {
		bigBufPool.Put(c.rbig)
	}
	c.rbig = bp
	c.rbuf = nb
}

// releaseBig returns a pooled read buffer once its data fits the small one,
// so a connection that goes idle holds only the inline buffer.
func (c *Conn) releaseBig() {
	if c.rbig == nil && len(c.rbuf) == smallBufSize {
		return
	}
	left := c.rend - c.rpos
	if left > smallBufSize {
		return
	}
	copy(c.small[:], c.rbuf[c.rpos:c.rend])
	if c.rbig != nil {
		bigBufPool.Put(c.rbig)
		c.rbig = nil
	}
	c.rbuf = c.small[:]
	c.rpos, c.rend = 0, left
}

// appendPayload appends h's payload, unmasked, to msg. It does not trust the
// declared length for allocation: the buffer at most doubles per read, so a
// peer must send the bytes it announces before memory is committed to them.
func (c *Conn) appendPayload(msg []byte, h frameHeader) ([]byte, error) {
	remaining := int(h.length)
	need := len(msg) + remaining
	var off int64
	for remaining > 0 {
		if cap(msg) == len(msg) {
			target := need
			if !h.fin {
				// More fragments follow: grow geometrically, or a message
				// sent as many tiny fragments is copied once per fragment.
				target = min(max(need, 2*len(msg)), int(c.opts.MaxMessageBytes))
			}
			newCap := min(target, max(2*len(msg), 4096))
			nm := make([]byte, len(msg), newCap)
			copy(nm, msg)
			msg = nm
		}
		chunk := min(remaining, cap(msg)-len(msg))
		start := len(msg)
		msg = msg[:start+chunk]
		if err := c.readFull(msg[start:], h.key, off); err != nil {
			return nil, err
		}
		off += int64(chunk)
		remaining -= chunk
	}
	return msg, nil
}

// readFull fills p from the buffer and the connection, unmasking with key
// starting at payload offset off.
func (c *Conn) readFull(p []byte, key [4]byte, off int64) error {
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	if n < len(p) {
		if len(p)-n < len(c.rbuf) {
			// Short remainder: go through the buffer so that following
			// frames arrive in the same read.
			for n < len(p) {
				if err := c.fill(1); err != nil {
					return err
				}
				k := copy(p[n:], c.rbuf[c.rpos:c.rend])
				c.rpos += k
				n += k
			}
		} else if _, err := io.ReadFull(c.nc, p[n:]); err != nil {
			return err
		}
	}
	maskBytes(p, key, int(off&3))
	return nil
}

// maskBytes XORs p with key, starting at key position pos (RFC 6455 §5.3).
func maskBytes(p []byte, key [4]byte, pos int) {
	// Rotate the key so that it starts at pos, then mask 8 bytes at a time.
	var k [4]byte
	for i := range k {
		k[i] = key[(pos+i)&3]
	}
	k32 := binary.LittleEndian.Uint32(k[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(p) >= 8 {
		v := binary.LittleEndian.Uint64(p)
		binary.LittleEndian.PutUint64(p, v^k64)
		p = p[8:]
	}
	for i := range p {
		p[i] ^= k[i&3]
	}
}

// appendFrameHeader appends an unmasked, final frame header.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n <= 125:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return dst
}

// writeFrameLocked writes one small frame. c.wmu must be held.
func (c *Conn) writeFrameLocked(op byte, p []byte) error {
	// c.wctrl rather than a local array: the slice passed to the net.Conn
	// escapes, which cost a heap allocation per ping.
	b := appendFrameHeader(c.wctrl[:0], op, len(p))
	b = append(b, p...)
	if _, err := c.nc.Write(b); err != nil {
		c.wfailed = true
		return err
	}
	return nil
}

// WriteMessages writes each message as one text frame, in order, with a
// single write (or writev) for the batch.
func (c *Conn) WriteMessages(msgs [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.wfailed {
		return ErrClosed
	}
	if c.opts.WriteTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	}
	total := 0
	for _, m := range msgs {
		total += len(m) + 10
	}
	var err error
	if total <= writeCoalesce {
		bp := writeBufPool.Get().(*[]byte)
		b := (*bp)[:0]
		for _, m := range msgs {
			b = appendFrameHeader(b, OpText, len(m))
			b = append(b, m...)
		}
		_, err = c.nc.Write(b)
		*bp = b[:0]
		writeBufPool.Put(bp)
	} else {
		if cap(c.hdrs) < 10*len(msgs) {
			c.hdrs = make([]byte, 0, 10*len(msgs))
		}
		hdrs := c.hdrs[:0]
		iov := c.iov[:0]
		for _, m := range msgs {
			start := len(hdrs)
			hdrs = appendFrameHeader(hdrs, OpText, len(m))
			iov = append(iov, hdrs[start:len(hdrs):len(hdrs)], m)
		}
		c.iov = iov
		bufs := iov
		_, err = bufs.WriteTo(c.nc)
		clear(c.iov[:cap(c.iov)])
		if cap(c.iov) > 256 {
			c.iov, c.hdrs = nil, nil
		}
	}
	if err != nil {
		c.wfailed = true
		return err
	}
	return nil
}

// Close starts the close handshake: it sends a close frame with code and
// reason (unless one was sent already or the stream is broken) and gives
// the peer CloseTimeout to answer, after which a blocked ReadMessage
// returns. A writer blocked on a peer that does not read is released within
// CloseTimeout too. Close does not wait; call Finish after the reader
// returns.
func (c *Conn) Close(code int, reason string) {
	c.closeOnce.Do(func() {
		c.localReason.Store(&CloseError{Code: code, Reason: reason, Local: true})
		c.localClose.Store(true)
		deadline := time.Now().Add(c.opts.CloseTimeout)
		_ = c.nc.SetWriteDeadline(deadline)
		c.sendClose(code, reason)
		_ = c.nc.SetReadDeadline(deadline.Add(c.opts.CloseTimeout))
		// Backstop: if no reader ever returns, release the socket anyway.
		time.AfterFunc(3*c.opts.CloseTimeout, func() { _ = c.nc.Close() })
	})
}

// sendClose writes a close frame once.
func (c *Conn) sendClose(code int, reason string) {
	if len(reason) > 123 {
		reason = truncateUTF8(reason, 123)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent || c.wfailed {
		return
	}
	c.closeSent = true
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	p = append(p, reason...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.CloseTimeout))
	_ = c.writeFrameLocked(opClose, p)
}

func truncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Finish releases the connection after the reader has returned. If this
// side sent a close frame that the peer may not have read yet, it half-closes
// and drains input for up to CloseTimeout first, so that unread client data
// does not turn the close into a TCP reset that discards our close frame.
func (c *Conn) Finish() {
	if !c.finished.CompareAndSwap(false, true) {
		return
	}
	if c.pingTime != nil {
		c.pingTime.Stop()
	}
	c.wmu.Lock()
	// Drain only when we closed first and the peer has not answered: after
	// a completed handshake the server closes TCP at once (RFC 6455 §7.1.1).
	drain := c.localClose.Load() && c.closeSent && !c.closeRecv && !c.wfailed
	c.wmu.Unlock()
	if drain {
		type closeWriter interface{ CloseWrite() error }
		if cw, ok := c.nc.(closeWriter); ok {
			_ = cw.CloseWrite()
			_ = c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
			var scratch [512]byte
			for {
				if _, err := c.nc.Read(scratch[:]); err != nil {
					break
				}
			}
		}
	}
	_ = c.nc.Close()
	if c.rbig != nil {
		bigBufPool.Put(c.rbig)
		c.rbig = nil
	}
}
