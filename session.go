package appserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appserver-go/appserver/jsonrpc"
)

// Session is one client connection: its handshake state, its running
// requests, its queue of outbound messages and its calls to the client.
//
// The reader goroutine decodes messages and starts a goroutine per request;
// answers and notifications go to a bounded outbound queue that a writer
// goroutine drains (it exists only while there is something to write, so an
// idle session holds one goroutine). All methods are safe for concurrent use.
type Session struct {
	server *Server
	conn   Connection
	id     uint64
	logger *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	// Handshake state. clientInfo, caps and optOut are written by the
	// reader before initialized is set, and only read after.
	initialized atomic.Bool
	clientInfo  ClientInfo
	caps        Capabilities
	optOut      map[string]struct{}

	draining atomic.Bool  // shutting down: refuse new requests
	inflight atomic.Int32 // running requests, for admission

	// Outbound queue.
	outMu       sync.Mutex
	out         [][]byte
	spare       [][]byte
	outBytes    int
	writing     bool        // a writer goroutine is running
	closeReason *CloseError // set once a close was asked for
	closed      bool        // no more messages accepted

	// Calls to the client awaiting an answer, by id.
	callMu sync.Mutex
	calls  map[int64]chan *jsonrpc.Response

	afterMu sync.Mutex
	after   []func() // AfterClose callbacks
	stopped bool

	work  sync.WaitGroup // handler and writer goroutines
	done  chan struct{}  // closed when the reader has stopped
	ended chan struct{}  // closed when everything has stopped
	err   error          // why the session ended; set before done closes
}

func newSession(ctx context.Context, srv *Server, conn Connection) *Session {
	id := srv.nextSessionID.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	s := &Session{
		server: srv,
		conn:   conn,
		id:     id,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		ended:  make(chan struct{}),
	}
	attrs := []any{"session", id}
	if ra, ok := conn.(interface{ RemoteAddr() net.Addr }); ok && ra.RemoteAddr() != nil {
		attrs = append(attrs, "remote", ra.RemoteAddr().String())
	}
	s.logger = srv.logger.With(attrs...)
	return s
}

// ID returns the session's number, unique within its server.
func (s *Session) ID() uint64 { return s.id }

// Context returns the session's context, cancelled when it ends.
func (s *Session) Context() context.Context { return s.ctx }

// Initialized reports whether initialize has succeeded.
func (s *Session) Initialized() bool { return s.initialized.Load() }

// ClientInfo returns what the client sent in initialize; ok is false before.
func (s *Session) ClientInfo() (ci ClientInfo, ok bool) {
	if !s.initialized.Load() {
		return ClientInfo{}, false
	}
	return s.clientInfo, true
}

// Capabilities returns the client's declared capabilities (zero before
// initialize).
func (s *Session) Capabilities() Capabilities {
	if !s.initialized.Load() {
		return Capabilities{}
	}
	return s.caps
}

// Done is closed when the connection has stopped reading: the client is
// gone or the session is closing.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, once Done is closed.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Wait blocks until the session has fully ended: reader, handlers and
// writer have all returned.
func (s *Session) Wait() { <-s.ended }

// Close flushes what is queued and closes the connection normally (1000).
func (s *Session) Close() error {
	s.closeWith(&CloseError{Code: CloseNormal})
	return nil
}

// CloseWith flushes what is queued and closes the connection with a
// WebSocket close status and reason (for example 1008 "token expired").
func (s *Session) CloseWith(code int, reason string) {
	s.closeWith(&CloseError{Code: code, Reason: reason})
}

// AfterClose registers f to run once the session has stopped reading, on
// the session's reader goroutine; f must not block. If the session has
// already stopped, f runs at once on the caller's goroutine.
func (s *Session) AfterClose(f func()) {
	s.afterMu.Lock()
	if !s.stopped {
		s.after = append(s.after, f)
		s.afterMu.Unlock()
		return
	}
	s.afterMu.Unlock()
	f()
}

// Notify sends a notification to this client, unless it opted out of
// method. It does not wait for the message to be written.
func (s *Session) Notify(method string, params any) error {
	if s.optedOut(method) {
		return nil
	}
	msg, err := encodeNotification(method, params)
	if err != nil {
		return err
	}
	if !s.enqueue(msg) {
		return ErrConnectionClosed
	}
	return nil
}

func (s *Session) optedOut(method string) bool {
	if !s.initialized.Load() {
		return false
	}
	_, ok := s.optOut[method]
	return ok
}

// Call sends a request to the client and waits for its answer, decoding
// the result into result (which may be nil). An error answer is returned as
// a *jsonrpc.Error. Ids come from one counter per server, starting at 0. If
// the connection closes first, Call returns ErrConnectionClosed promptly.
func (s *Session) Call(ctx context.Context, method string, params any, result any) error {
	return s.CallWithID(ctx, s.server.NewCallID(), method, params, result)
}

// CallWithID is Call with an id the caller chose from [Server.NewCallID].
// It exists for requests that must reach a later connection under the same
// id, such as an approval replayed to a client that resumes its thread:
// the caller sends the same id on each connection and takes the first
// answer.
func (s *Session) CallWithID(ctx context.Context, id int64, method string, params any, result any) error {
	raw, err := marshalValue(params)
	if err != nil {
		return err
	}
	ch := make(chan *jsonrpc.Response, 1)
	s.callMu.Lock()
	select {
	case <-s.done:
		s.callMu.Unlock()
		return ErrConnectionClosed
	default:
	}
	if s.calls == nil {
		s.calls = make(map[int64]chan *jsonrpc.Response)
	}
	s.calls[id] = ch
	s.callMu.Unlock()
	forget := func() {
		s.callMu.Lock()
		delete(s.calls, id)
		s.callMu.Unlock()
	}
	msg, err := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: jsonrpc.Int64ID(id), Method: method, Params: raw})
	if err != nil {
		forget()
		return err
	}
	if !s.enqueue(msg) {
		forget()
		return ErrConnectionClosed
	}
	var resp *jsonrpc.Response
	select {
	case resp = <-ch:
	case <-ctx.Done():
		forget()
		return ctx.Err()
	case <-s.done:
		// An answer that arrived just before the close still counts.
		select {
		case resp = <-ch:
		default:
			forget()
			return ErrConnectionClosed
		}
	}
	if resp.Error != nil {
		return resp.Error
	}
	if result != nil {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("appserver: decoding the answer to %s: %w", method, err)
		}
	}
	return nil
}

// readLoop is the session's reader goroutine.
func (s *Session) readLoop() {
	var err error
	for {
		var data []byte
		data, err = s.conn.Read()
		if err != nil {
			if errors.Is(err, ErrMessageDropped) {
				s.logger.Debug("dropping message", "reason", err)
				continue
			}
			break
		}
		s.dispatch(data)
	}
	if err == io.EOF {
		s.drainInput()
	}
	s.finish(err)
	s.work.Wait()
	close(s.ended)
	s.server.removeSession(s)
}

// drainInput runs when the peer has sent all it will (EOF: a client that
// pipes requests into stdio and closes its end) but may still read: the
// requests already read are answered, and their answers written, before
// the session ends. A close or abort (Shutdown, a slow consumer, a failed
// write) ends the wait at once.
func (s *Session) drainInput() {
	for {
		s.outMu.Lock()
		idle := s.inflight.Load() == 0 && len(s.out) == 0 && !s.writing
		stop := s.closeReason != nil || s.closed
		s.outMu.Unlock()
		if idle || stop {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// finish runs once the reader has stopped.
func (s *Session) finish(err error) {
	s.outMu.Lock()
	s.closed = true
	reason := s.closeReason
	s.out, s.spare, s.outBytes = nil, nil, 0
	s.outMu.Unlock()
	if reason != nil {
		err = reason
	}
	if err == io.EOF {
		err = nil
	}
	s.err = err
	s.cancel()
	close(s.done)
	if reason == nil {
		reason = &CloseError{Code: CloseNormal}
		var ce *CloseError
		if errors.As(err, &ce) {
			reason = ce
		}
	}
	_ = s.conn.Close(reason)
	s.logger.Debug("session ended", "err", err)
	s.afterMu.Lock()
	after := s.after
	s.after, s.stopped = nil, true
	s.afterMu.Unlock()
	for _, f := range after {
		f()
	}
}

func (s *Session) dispatch(data []byte) {
	msg, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		s.logger.Debug("dropping unparseable message", "reason", err, "bytes", len(data))
		return
	}
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if m.IsCall() {
			s.call(m)
		} else {
			s.notification(m)
		}
	case *jsonrpc.Response:
		s.response(m)
	}
}

func (s *Session) notification(m *jsonrpc.Request) {
	// "initialized" is accepted and not required; the reference ignores
	// unknown client notifications, and so do we.
	if m.Method != "initialized" {
		s.logger.Debug("ignoring client notification", "method", m.Method)
	}
}

func (s *Session) response(m *jsonrpc.Response) {
	id, ok := m.ID.Int64()
	if !ok {
		s.logger.Debug("ignoring response to an unknown request", "id", m.ID.String())
		return
	}
	s.callMu.Lock()
	ch := s.calls[id]
	delete(s.calls, id)
	s.callMu.Unlock()
	if ch == nil {
		s.logger.Debug("ignoring response to an unknown request", "id", m.ID.String())
		return
	}
	ch <- m
}

var (
	errNotInitialized     = jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "Not initialized")
	errAlreadyInitialized = jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "Already initialized")
	errOverloaded         = jsonrpc.NewError(jsonrpc.CodeServerOverloaded, "Server overloaded; retry later.")
	errShuttingDown       = jsonrpc.NewError(jsonrpc.CodeServerOverloaded, "Server shutting down; retry later.")
	errMissingParams      = MissingField("params")
)

// call admits a request and starts its handler.
func (s *Session) call(req *jsonrpc.Request) {
	m := s.server.lookup(req.Method)
	switch {
	case m == nil:
		s.replyError("", req.ID, unknownMethod(req.Method))
		return
	case m.Name == "initialize":
		s.initialize(req)
		return
	case !s.initialized.Load():
		s.replyError(m.Name, req.ID, errNotInitialized)
		return
	case m.Experimental && !s.caps.ExperimentalAPI:
		s.replyError(m.Name, req.ID, jsonrpc.NewError(jsonrpc.CodeInvalidRequest, m.Name+" requires experimentalApi capability"))
		return
	case s.draining.Load():
		s.replyError(m.Name, req.ID, errShuttingDown)
		return
	}
	if int(s.inflight.Add(1)) > s.server.opts.MaxInFlight {
		s.inflight.Add(-1)
		s.replyError(m.Name, req.ID, errOverloaded)
		return
	}
	s.work.Add(1)
	s.server.handlers.add()
	go s.run(m, req)
}

// run executes one handler and queues its answer.
func (s *Session) run(m *Method, req *jsonrpc.Request) {
	defer func() {
		s.inflight.Add(-1)
		s.server.handlers.done()
		s.work.Done()
	}()
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("handler panicked", "method", m.Name, "panic", p, "stack", string(debug.Stack()))
			s.replyError(m.Name, req.ID, jsonrpc.NewError(jsonrpc.CodeInternalError, "internal error"))
		}
	}()
	if !m.ParamsOptional && jsonrpc.IsNull(req.Params) {
		s.replyError(m.Name, req.ID, errMissingParams)
		return
	}
	if !s.caps.ExperimentalAPI {
		if err := checkExperimentalFields(m.Name, m.ExperimentalFields, req.Params); err != nil {
			s.replyError(m.Name, req.ID, wireError(err))
			return
		}
	}
	result, err := m.Handler(s.ctx, &Request{Session: s, ID: req.ID, Method: m.Name, Params: req.Params})
	if err != nil {
		s.replyError(m.Name, req.ID, wireError(err))
		return
	}
	var then func()
	if ar, ok := result.(afterReply); ok {
		result, then = ar.result, ar.then
		defer then()
	}
	raw, err := marshalValue(result)
	if err != nil {
		s.logger.Error("encoding a result", "method", m.Name, "err", err)
		s.replyError(m.Name, req.ID, jsonrpc.NewError(jsonrpc.CodeInternalError, "internal error: encoding the result"))
		return
	}
	if raw == nil {
		raw = json.RawMessage("null")
	}
	s.replyResult(m.Name, req.ID, raw)
}

// wireError maps a handler error to the error sent to the client.
func wireError(err error) *jsonrpc.Error {
	var werr *jsonrpc.Error
	if errors.As(err, &werr) {
		return werr
	}
	return jsonrpc.NewError(jsonrpc.CodeInternalError, err.Error())
}

// initialize answers the handshake, on the reader goroutine so that
// requests pipelined behind it see the session initialized.
func (s *Session) initialize(req *jsonrpc.Request) {
	if s.initialized.Load() {
		s.replyError("initialize", req.ID, errAlreadyInitialized)
		return
	}
	if jsonrpc.IsNull(req.Params) {
		s.replyError("initialize", req.ID, errMissingParams)
		return
	}
	ci, caps, err := parseInitialize(req.Params)
	if err != nil {
		// The session stays uninitialized, so the client may retry.
		s.replyError("initialize", req.ID, wireError(err))
		return
	}
	s.clientInfo, s.caps = ci, caps
	if len(caps.OptOutNotificationMethods) > 0 {
		s.optOut = make(map[string]struct{}, len(caps.OptOutNotificationMethods))
		for _, m := range caps.OptOutNotificationMethods {
			s.optOut[m] = struct{}{}
		}
	}
	family, os := platform()
	res := InitializeResult{
		UserAgent:      userAgent(s.server.opts.Name, s.server.opts.ProtocolVersion, s.server.opts.Version, ci),
		CodexHome:      s.server.opts.StateDir,
		PlatformFamily: family,
		PlatformOs:     os,
	}
	raw, _ := json.Marshal(res)
	s.initialized.Store(true)
	s.replyResult("initialize", req.ID, raw)
	s.logger.Debug("initialized", "client", ci.Name, "clientVersion", ci.Version, "experimentalApi", caps.ExperimentalAPI)
	if s.server.opts.OnInitialize != nil {
		s.server.opts.OnInitialize(s.ctx, s)
	}
}

// replyError answers a request with an error; method is "" for a method
// not in the table.
func (s *Session) replyError(method string, id jsonrpc.ID, e *jsonrpc.Error) {
	if f := s.server.opts.OnRequestDone; f != nil {
		f(method, e.Code)
	}
	s.enqueue(jsonrpc.AppendError(make([]byte, 0, 48+len(e.Message)), id, e))
}

// replyResult answers a request with a result.
func (s *Session) replyResult(method string, id jsonrpc.ID, raw json.RawMessage) {
	if f := s.server.opts.OnRequestDone; f != nil {
		f(method, 0)
	}
	s.enqueue(jsonrpc.AppendResult(make([]byte, 0, 32+len(raw)), id, raw))
}

// enqueue queues msg for writing and reports whether it was accepted. A
// queue past its bounds means the client stopped reading: the session is
// aborted with 1008 instead of buffering without limit.
func (s *Session) enqueue(msg []byte) bool {
	s.outMu.Lock()
	if s.closed || s.closeReason != nil {
		s.outMu.Unlock()
		return false
	}
	// A single message larger than the byte bound still goes out alone.
	if len(s.out) >= s.server.opts.MaxOutboundMessages || (len(s.out) > 0 && s.outBytes+len(msg) > s.server.opts.MaxOutboundBytes) {
		queued, bytes := len(s.out), s.outBytes
		s.outMu.Unlock()
		s.logger.Warn("disconnecting a slow consumer", "queuedMessages", queued, "queuedBytes", bytes)
		s.server.slowConsumers.Add(1)
		s.abort(&CloseError{Code: ClosePolicyViolation, Reason: "slow consumer: outbound queue full"})
		return false
	}
	s.out = append(s.out, msg)
	s.outBytes += len(msg)
	if !s.writing {
		s.writing = true
		s.work.Add(1)
		go s.writeLoop()
	}
	s.outMu.Unlock()
	return true
}

// writeLoop drains the outbound queue in batches and exits when it is
// empty. If a close was asked for, it closes the connection once the queue
// has been flushed.
func (s *Session) writeLoop() {
	defer s.work.Done()
	for {
		s.outMu.Lock()
		if len(s.out) == 0 || s.closed {
			s.writing = false
			reason := s.closeReason
			closed := s.closed
			// Do not keep a large backing array on an idle session.
			if cap(s.spare) > 64 {
				s.spare = nil
			}
			s.outMu.Unlock()
			if reason != nil && !closed {
				_ = s.conn.Close(reason)
			}
			return
		}
		batch := s.out
		s.out, s.spare = s.spare[:0], nil
		s.outBytes = 0
		s.outMu.Unlock()

		err := s.conn.Write(batch)
		clear(batch)
		s.outMu.Lock()
		if s.spare == nil {
			s.spare = batch[:0]
		}
		s.outMu.Unlock()
		if err != nil {
			s.logger.Debug("write failed", "err", err)
			s.abort(&CloseError{Code: CloseInternalError, Reason: "write failed"})
			return
		}
	}
}

// closeWith asks for a graceful close: what is queued is written first.
func (s *Session) closeWith(reason *CloseError) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.closed || s.closeReason != nil {
		return
	}
	s.closeReason = reason
	if !s.writing {
		// Otherwise the writer closes the connection after flushing.
		s.closeConnLocked(reason)
	}
}

// abort closes the connection now, dropping what is queued.
func (s *Session) abort(reason *CloseError) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.closed {
		return
	}
	if s.closeReason == nil {
		s.closeReason = reason
	}
	s.out, s.outBytes = nil, 0
	s.closeConnLocked(s.closeReason)
}

// closeConnLocked closes the connection on a goroutine of its own: closing
// may wait for a writer stuck on a peer that does not read, and the caller
// (a handler, a broadcast, Shutdown) must not block on that. s.outMu is
// held, so the goroutine is counted before the reader can stop waiting.
func (s *Session) closeConnLocked(reason *CloseError) {
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		_ = s.conn.Close(reason)
	}()
}

// String identifies the session in logs.
func (s *Session) String() string { return "session " + strconv.FormatUint(s.id, 10) }
