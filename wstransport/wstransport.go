// Package wstransport serves an [appserver.Server] over WebSocket: an
// http.Handler that refuses browsers, answers health checks, validates the
// upgrade, authenticates the client, and only then upgrades and hands the
// connection to the server. No JSON-RPC byte is read before a client has
// passed every check.
//
// Checks run in this order, on every route and every listener (TCP or unix):
//
//  1. Origin: any request carrying an Origin header gets 403 with an empty
//     body. Browsers always send one on WebSocket upgrades, so this blocks
//     cross-site WebSocket hijacking; appserver's clients never send one.
//  2. Health: GET and HEAD /readyz and /healthz answer 200 with an empty
//     body, without credentials; other methods there get 405.
//  3. The WebSocket handshake (RFC 6455 §4.2.1), with the reference's texts.
//  4. Authentication, when configured: 401 with a short text body and
//     WWW-Authenticate: Bearer (RFC 6750).
package wstransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/auth"
	"github.com/appserver-go/appserver/internal/websocket"
)

// Options configure a [Handler]. The zero value serves without
// authentication.
type Options struct {
	// Verifier checks the bearer token of a request that passed the
	// Origin and handshake checks. The verified auth.Principal is in the
	// session's context (auth.FromContext). Nil admits everyone: use it
	// only on loopback listeners and unix sockets.
	Verifier auth.Verifier
	// BaseContext is the parent of every session's context. Nil means
	// context.Background().
	BaseContext context.Context
	// Logger receives one event per upgrade decision. Nil discards.
	Logger *slog.Logger
	// MaxFrameBytes and MaxMessageBytes bound what a client may send
	// (1009 beyond). Zero means 16 MiB and 64 MiB, as the reference.
	MaxFrameBytes   int64
	MaxMessageBytes int64
	// WriteTimeout bounds each batch of writes to a client; a client that
	// accepts nothing for this long is disconnected. Zero means 60 s.
	WriteTimeout time.Duration
}

// DefaultWriteTimeout is the default for Options.WriteTimeout.
const DefaultWriteTimeout = 60 * time.Second

// Handler is the http.Handler for every route of a WebSocket listener.
type Handler struct {
	srv    *appserver.Server
	opts   Options
	logger *slog.Logger
	ws     websocket.Options
	extra  http.Header
}

// NewHandler returns a handler serving srv. opts may be nil.
func NewHandler(srv *appserver.Server, opts *Options) *Handler {
	h := &Handler{srv: srv}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.BaseContext == nil {
		h.opts.BaseContext = context.Background()
	}
	h.logger = h.opts.Logger
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.opts.WriteTimeout <= 0 {
		h.opts.WriteTimeout = DefaultWriteTimeout
	}
	h.ws = websocket.Options{
		MaxFrameBytes:   h.opts.MaxFrameBytes,
		MaxMessageBytes: h.opts.MaxMessageBytes,
		WriteTimeout:    h.opts.WriteTimeout,
	}
	maxFrame := h.ws.MaxFrameBytes
	if maxFrame <= 0 {
		maxFrame = websocket.DefaultMaxFrameBytes
	}
	// The reference announces its frame limit; the Codex client may read it.
	h.extra = http.Header{"X-Codex-Websocket-Max-Unfragmented-Message-Bytes": {strconv.FormatInt(maxFrame, 10)}}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.Header["Origin"]; ok {
		h.logger.Info("websocket upgrade", "outcome", "rejected", "status", http.StatusForbidden, "reason", "origin header present", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	switch r.URL.Path {
	case "/readyz", "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if herr := websocket.CheckRequest(r); herr != nil {
		h.logger.Info("websocket upgrade", "outcome", "rejected", "status", herr.Status, "reason", herr.Text, "remote", r.RemoteAddr)
		writeText(w, herr.Status, herr.Text)
		return
	}
	ctx := h.opts.BaseContext
	if v := h.opts.Verifier; v != nil {
		token, err := auth.ParseBearer(r.Header["Authorization"])
		var p auth.Principal
		if err == nil {
			p, err = v.Verify(token)
		}
		if err != nil {
			// err carries a fixed internal reason, never the token.
			h.logger.Info("websocket upgrade", "outcome", "rejected", "status", http.StatusUnauthorized, "reason", err.Error(), "mode", v.Mode(), "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="appserver"`)
			writeText(w, http.StatusUnauthorized, auth.PublicText(err))
			return
		}
		h.logger.Info("websocket upgrade", "outcome", "accepted", "mode", v.Mode(), "principal", p, "remote", r.RemoteAddr)
		ctx = auth.NewContext(ctx, p)
	} else {
		h.logger.Debug("websocket upgrade", "outcome", "accepted", "mode", "none", "remote", r.RemoteAddr)
	}
	conn, err := websocket.Upgrade(w, r, h.extra, &h.ws)
	if err != nil {
		h.logger.Warn("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	if _, err := h.srv.Connect(ctx, &wsConn{c: conn}); err != nil {
		h.logger.Debug("connection refused by the server", "remote", r.RemoteAddr, "err", err)
	}
}

// writeText answers with a short text/plain body, without the trailing
// newline http.Error adds, so bodies match the reference's exactly.
func writeText(w http.ResponseWriter, status int, text string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// wsConn adapts a websocket.Conn to appserver.Connection.
type wsConn struct {
	c        *websocket.Conn
	readDone atomic.Bool
}

func (a *wsConn) Read() ([]byte, error) {
	op, msg, err := a.c.ReadMessage()
	if err != nil {
		a.readDone.Store(true)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return nil, &appserver.CloseError{Code: ce.Code, Reason: ce.Reason}
		}
		return nil, err
	}
	if op == websocket.OpBinary {
		return nil, fmt.Errorf("%w: unsupported binary frame of %d bytes", appserver.ErrMessageDropped, len(msg))
	}
	return msg, nil
}

func (a *wsConn) Write(msgs [][]byte) error { return a.c.WriteMessages(msgs) }

func (a *wsConn) Close(reason *appserver.CloseError) error {
	code, text := websocket.StatusNormalClosure, ""
	if reason != nil {
		code, text = reason.Code, reason.Reason
	}
	if code == websocket.StatusNoStatus || code < 1000 || code > 4999 {
		// Reserved codes never go on the wire (RFC 6455 §7.4.1).
		code = websocket.StatusNormalClosure
	}
	a.c.Close(code, text)
	if a.readDone.Load() {
		a.c.Finish()
	}
	return nil
}

func (a *wsConn) RemoteAddr() net.Addr { return a.c.NetConn().RemoteAddr() }
