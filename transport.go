package appserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Connection is one client's stream of messages, framed by a transport: a
// WebSocket text frame or a line of stdio per message.
//
// A Session reads from one goroutine and writes from another; Close may be
// called from any goroutine, concurrently with Read and Write.
type Connection interface {
	// Read returns the next message, which the caller then owns. An error
	// wrapping [ErrMessageDropped] reports input that was discarded (a
	// binary frame, an over-long line); the session logs it and reads on.
	// Any other error ends the session.
	Read() ([]byte, error)
	// Write writes msgs in order, as one write where the transport can.
	Write(msgs [][]byte) error
	// Close ends the connection, telling the peer why where the transport
	// can (a WebSocket close frame). It must make a blocked Read or Write
	// return promptly. A session calls Close once more after Read has
	// returned its final error; that call releases everything.
	Close(reason *CloseError) error
}

// CloseError is why a connection ended, as a WebSocket close status (RFC
// 6455 §7.4.1) and reason. Transports without close frames just close.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("connection closed (%d)", e.Code)
	}
	return fmt.Sprintf("connection closed (%d): %s", e.Code, e.Reason)
}

// Close statuses the server uses.
const (
	// CloseNormal ends a connection that is done.
	CloseNormal = 1000
	// CloseGoingAway is sent to every connection when the server shuts down.
	CloseGoingAway = 1001
	// ClosePolicyViolation is sent to a client whose outbound queue
	// overflowed because it stopped reading (a slow consumer).
	ClosePolicyViolation = 1008
	// CloseInternalError is sent when the server fails a connection.
	CloseInternalError = 1011
)

// ErrMessageDropped marks input a transport discarded without ending the
// connection, such as a binary WebSocket frame or an over-long stdio line.
var ErrMessageDropped = errors.New("message dropped")

// ErrConnectionClosed is returned when the connection is gone: by
// [Session.Call] waiting for an answer, and by in-memory connections.
var ErrConnectionClosed = errors.New("connection closed")

// NewInMemoryTransports returns the two ends of an in-memory connection:
// serve one with [Server.Connect] and drive the other as a client. Writes
// block until the other end reads them, as a socket whose buffers are full
// would, so tests see real backpressure. After one end closes, the other's
// Read returns the *CloseError it was closed with.
func NewInMemoryTransports() (client, server Connection) {
	p := &memPipe{done: make(chan struct{})}
	a2b := make(chan []byte)
	b2a := make(chan []byte)
	return &memConn{pipe: p, in: b2a, out: a2b}, &memConn{pipe: p, in: a2b, out: b2a}
}

type memPipe struct {
	once   sync.Once
	done   chan struct{}
	reason *CloseError
}

type memConn struct {
	pipe *memPipe
	in   <-chan []byte
	out  chan<- []byte
}

func (c *memConn) Read() ([]byte, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.pipe.done:
		return nil, c.pipe.reason
	}
}

func (c *memConn) Write(msgs [][]byte) error {
	for _, m := range msgs {
		m = bytes.Clone(m)
		select {
		case c.out <- m:
		case <-c.pipe.done:
			return ErrConnectionClosed
		}
	}
	return nil
}

func (c *memConn) Close(reason *CloseError) error {
	if reason == nil {
		reason = &CloseError{Code: CloseNormal}
	}
	c.pipe.once.Do(func() {
		c.pipe.reason = reason
		close(c.pipe.done)
	})
	return nil
}

// LineOptions configure [NewLineConnection].
type LineOptions struct {
	// MaxMessageBytes bounds one line; a longer line is discarded (and
	// reported as dropped) without ending the connection. Zero means
	// [DefaultMaxMessageBytes].
	MaxMessageBytes int
}

// NewLineConnection returns a Connection that carries one JSON message per
// line over r and w: the stdio transport. Lines may end in CRLF and carry
// surrounding blanks. Close closes r and w.
func NewLineConnection(r io.ReadCloser, w io.WriteCloser, opts *LineOptions) Connection {
	max := DefaultMaxMessageBytes
	if opts != nil && opts.MaxMessageBytes > 0 {
		max = opts.MaxMessageBytes
	}
	return &lineConn{r: r, w: w, br: bufio.NewReaderSize(r, 64<<10), max: max,
		lines: make(chan lineResult, 1), closed: make(chan struct{}), ended: make(chan struct{})}
}

// lineConn reads in a goroutine of its own (pump) so that Close can end
// a Read at once, as Connection requires: closing a blocking file such
// as a pipe on stdin does not wake a read already waiting on it, and a
// signal would otherwise leave the server waiting for its client to send
// another line. The pump reads at most one line ahead.
type lineConn struct {
	r   io.ReadCloser
	w   io.WriteCloser
	br  *bufio.Reader
	max int

	pumpOnce sync.Once
	lines    chan lineResult
	closed   chan struct{}
	// ended is closed once the pump has handed over its final error,
	// which every later Read returns too.
	ended    chan struct{}
	finalErr error

	wmu  sync.Mutex
	wbuf []byte

	closeOnce sync.Once
}

type lineResult struct {
	line []byte
	err  error
}

func (c *lineConn) Read() ([]byte, error) {
	c.pumpOnce.Do(func() { go c.pump() })
	select {
	case r := <-c.lines:
		return r.line, r.err
	case <-c.ended:
		// The pump's last line may still be buffered: it goes first.
		select {
		case r := <-c.lines:
			return r.line, r.err
		default:
		}
		return nil, c.finalErr
	case <-c.closed:
		return nil, ErrConnectionClosed
	}
}

// pump hands Read one line at a time until the input ends or the
// connection is closed.
func (c *lineConn) pump() {
	for {
		line, err := c.readLine()
		final := err != nil && !errors.Is(err, ErrMessageDropped)
		if final {
			c.finalErr = err
			close(c.ended)
			return
		}
		select {
		case c.lines <- lineResult{line, err}:
		case <-c.closed:
			return
		}
	}
}

func (c *lineConn) readLine() ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := c.br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > c.max+2 { // +2 for CRLF
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(line) > 0 || tooLong):
			// A last line without a newline still counts.
		case err != nil:
			return nil, err
		}
		if tooLong {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMessageDropped, c.max)
		}
		return bytes.TrimSpace(line), nil
	}
}

func (c *lineConn) Write(msgs [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	for _, m := range msgs {
		b = append(b, m...)
		b = append(b, '\n')
	}
	_, err := c.w.Write(b)
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0]
	} else {
		c.wbuf = nil
	}
	return err
}

func (c *lineConn) Close(*CloseError) error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = errors.Join(c.r.Close(), c.w.Close())
	})
	return err
}
