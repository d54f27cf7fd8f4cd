package appserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appserver-go/appserver/jsonrpc"
)

// Defaults for [ServerOptions].
const (
	// DefaultMaxInFlight is how many requests one connection may have
	// running before further ones are answered -32001.
	DefaultMaxInFlight = 128
	// DefaultMaxOutboundMessages and DefaultMaxOutboundBytes bound the
	// messages waiting to be written to one connection; past either, the
	// client is a slow consumer and is disconnected.
	DefaultMaxOutboundMessages = 16384
	DefaultMaxOutboundBytes    = 128 << 20
	// DefaultMaxMessageBytes is the largest message a transport accepts,
	// as in the reference (64 MiB).
	DefaultMaxMessageBytes = 64 << 20
)

// ServerOptions configure a [Server]. The zero value is usable.
type ServerOptions struct {
	// Name and Version identify the server in initialize's userAgent.
	// Defaults: "appserver" and "0.0.0".
	Name    string
	Version string
	// ProtocolVersion is the Codex app-server protocol version the server
	// speaks (such as "0.169.0"); clients compare it with their own, so it
	// goes in userAgent's version slot. Empty means Version.
	ProtocolVersion string
	// StateDir is the server's state directory, answered as codexHome.
	StateDir string
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
	// MaxInFlight bounds the requests running per connection. Zero means
	// DefaultMaxInFlight.
	MaxInFlight int
	// MaxOutboundMessages and MaxOutboundBytes bound each connection's
	// queue of unwritten messages. Zero means the defaults.
	MaxOutboundMessages int
	MaxOutboundBytes    int
	// OnInitialize, if set, runs after a successful initialize has been
	// answered, on the connection's reader goroutine: messages it sends
	// arrive right after the initialize response. It must not block.
	OnInitialize func(ctx context.Context, s *Session)
	// OnRequestDone, if set, is called once per answered request with the
	// method ("" for a method not in the table, so labels stay bounded) and
	// the error code (0 for a result). It runs on the answering goroutine
	// and must be cheap; metrics use it.
	OnRequestDone func(method string, code int64)
}

// Server dispatches JSON-RPC requests from any number of connections to a
// table of methods.
//
// Build it with [NewServer], add methods with [Server.AddMethod], and serve
// each connection with [Server.Connect]. All methods are safe for concurrent
// use.
type Server struct {
	opts   ServerOptions
	logger *slog.Logger

	methods atomic.Pointer[map[string]*Method]
	addMu   sync.Mutex

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closing  bool
	live     sync.WaitGroup // one count per session until it has ended

	handlers tracker // running handlers, across sessions

	nextCallID    atomic.Int64
	nextSessionID atomic.Uint64
	slowConsumers atomic.Uint64
}

// Stats is a snapshot of a server's load, for metrics and diagnostics.
type Stats struct {
	// Sessions is the number of connected sessions.
	Sessions int
	// InFlight is the number of requests running.
	InFlight int
	// QueuedMessages is the number of messages waiting to be written,
	// summed over sessions.
	QueuedMessages int
	// SlowConsumerDisconnects counts sessions closed because their
	// outbound queue overflowed, since the server started.
	SlowConsumerDisconnects uint64
}

// Stats returns a snapshot of the server's load. It takes each session's
// queue lock briefly, so call it at scrape rate, not per request.
func (s *Server) Stats() Stats {
	st := Stats{SlowConsumerDisconnects: s.slowConsumers.Load()}
	for _, ss := range s.Sessions() {
		st.Sessions++
		st.InFlight += int(ss.inflight.Load())
		ss.outMu.Lock()
		st.QueuedMessages += len(ss.out)
		ss.outMu.Unlock()
	}
	return st
}

// ErrServerClosed is returned by Connect after Shutdown or Close.
var ErrServerClosed = errors.New("appserver: server closed")

// NewServer returns a server with only the built-in initialize method.
// opts may be nil; it is copied.
func NewServer(opts *ServerOptions) *Server {
	s := &Server{sessions: make(map[*Session]struct{})}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Name == "" {
		s.opts.Name = "appserver"
	}
	if s.opts.Version == "" {
		s.opts.Version = "0.0.0"
	}
	if s.opts.MaxInFlight <= 0 {
		s.opts.MaxInFlight = DefaultMaxInFlight
	}
	if s.opts.MaxOutboundMessages <= 0 {
		s.opts.MaxOutboundMessages = DefaultMaxOutboundMessages
	}
	if s.opts.MaxOutboundBytes <= 0 {
		s.opts.MaxOutboundBytes = DefaultMaxOutboundBytes
	}
	s.logger = s.opts.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := map[string]*Method{
		// initialize is answered by the session itself; the entry makes it
		// a known method and lists it in Methods.
		"initialize": {Name: "initialize"},
	}
	s.methods.Store(&m)
	return s
}

// AddMethod adds m to the method table. It panics if the name is empty or
// already taken, or if Handler is nil: these are programming errors.
// Methods may be added while the server runs.
func (s *Server) AddMethod(m Method) {
	if m.Name == "" || m.Handler == nil {
		panic("appserver: AddMethod needs a name and a handler")
	}
	s.addMu.Lock()
	defer s.addMu.Unlock()
	old := *s.methods.Load()
	if _, dup := old[m.Name]; dup {
		panic("appserver: method " + m.Name + " added twice")
	}
	next := make(map[string]*Method, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	m.ExperimentalFields = slices.Clone(m.ExperimentalFields)
	next[m.Name] = &m
	s.methods.Store(&next)
}

// Methods returns the method table sorted by name.
func (s *Server) Methods() []Method {
	table := *s.methods.Load()
	out := make([]Method, 0, len(table))
	for _, m := range table {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Method) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *Server) lookup(name string) *Method {
	return (*s.methods.Load())[name]
}

// Connect serves conn until it closes, on goroutines of its own, and
// returns at once. The session's context derives from ctx (values and
// cancellation): a transport puts the authenticated principal there.
func (s *Server) Connect(ctx context.Context, conn Connection) (*Session, error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = conn.Close(&CloseError{Code: CloseGoingAway, Reason: "server shutting down"})
		return nil, ErrServerClosed
	}
	ss := newSession(ctx, s, conn)
	s.sessions[ss] = struct{}{}
	s.live.Add(1)
	s.mu.Unlock()
	go ss.readLoop()
	return ss, nil
}

func (s *Server) removeSession(ss *Session) {
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	s.live.Done()
}

// NewCallID returns the next id for a server-to-client request. Ids come
// from one counter per server, starting at 0.
func (s *Server) NewCallID() int64 { return s.nextCallID.Add(1) - 1 }

// NumSessions returns the number of connected sessions.
func (s *Server) NumSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Sessions returns the connected sessions.
func (s *Server) Sessions() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Session, 0, len(s.sessions))
	for ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

// Broadcast sends a notification to every initialized connection that has
// not opted out of method. The message is encoded once.
func (s *Server) Broadcast(method string, params any) error {
	msg, err := encodeNotification(method, params)
	if err != nil {
		return err
	}
	for _, ss := range s.Sessions() {
		if ss.initialized.Load() && !ss.optedOut(method) {
			ss.enqueue(msg)
		}
	}
	return nil
}

// Shutdown stops the server gracefully: it refuses new connections and new
// requests (answered -32001 "Server shutting down; retry later."), waits
// for running requests to finish, flushes every connection and closes it
// with 1001 "server shutting down". If ctx ends first, the remaining
// connections are closed at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	sessions := s.Sessions()
	for _, ss := range sessions {
		ss.draining.Store(true)
	}
	err := s.handlers.wait(ctx)
	for _, ss := range sessions {
		ss.closeWith(&CloseError{Code: CloseGoingAway, Reason: "server shutting down"})
	}
	ended := make(chan struct{})
	go func() { s.live.Wait(); close(ended) }()
	select {
	case <-ended:
		return err
	case <-ctx.Done():
	}
	for _, ss := range s.Sessions() {
		ss.abort(&CloseError{Code: CloseGoingAway, Reason: "server shutting down"})
	}
	<-ended
	return ctx.Err()
}

// Close closes every connection at once with 1001 and waits for their
// sessions to end.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.Shutdown(ctx)
	return nil
}

// encodeNotification encodes a server notification with its emittedAtMs.
func encodeNotification(method string, params any) ([]byte, error) {
	raw, err := marshalValue(params)
	if err != nil {
		return nil, err
	}
	return jsonrpc.AppendMessage(make([]byte, 0, 64+len(method)+len(raw)), &jsonrpc.Request{
		Method:      method,
		Params:      raw,
		EmittedAtMs: time.Now().UnixMilli(),
	})
}

// marshalValue encodes v; nil stays nil, json.RawMessage is used as is.
func marshalValue(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return v, nil
	}
	return json.Marshal(v)
}

// tracker counts running work and lets a caller wait for zero. Unlike a
// WaitGroup, adding may race with waiting.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.zero != nil {
		close(t.zero)
		t.zero = nil
	}
	t.mu.Unlock()
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.zero == nil {
		t.zero = make(chan struct{})
	}
	ch := t.zero
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
