// Package wstransport serves an [appserver.Server] over WebSocket: an
// http.Handler that refuses browsers and foreign Host names, answers health
// checks, validates the upgrade, authenticates the client, and only then
// upgrades and hands the connection to the server. No JSON-RPC byte is read
// before a client has passed every check.
//
// Checks run in this order, on every route and every listener (TCP or unix):
//
//  1. Host, when [Options.CheckHost] is set (loopback listeners): a Host
//     that is not a loopback name or address, or one of
//     [Options.AllowedHosts], gets 403 before any other work. This defeats
//     DNS rebinding, where a web page's own name is pointed at 127.0.0.1.
//  2. Origin: any request carrying an Origin header gets 403 with an empty
//     body. Browsers always send one on WebSocket upgrades, so this blocks
//     cross-site WebSocket hijacking; appserver's clients never send one.
//  3. Health: GET and HEAD /readyz and /healthz answer 200 with an empty
//     body, without credentials; other methods there get 405. /metrics,
//     when enabled, is served here, behind the same bearer auth.
//  4. The WebSocket handshake (RFC 6455 §4.2.1), with the reference's texts.
//  5. The failed-authentication limit: an address that failed too often
//     gets 429 with Retry-After, and its token is not even looked at.
//  6. Authentication, when configured: 401 with a short text body and
//     WWW-Authenticate: Bearer (RFC 6750).
package wstransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
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
	// earlier checks. The verified auth.Principal is in the session's
	// context (auth.FromContext). Nil admits everyone: use it only on
	// loopback listeners and unix sockets. [Handler.SetVerifier] replaces
	// it while the server runs.
	Verifier auth.Verifier
	// CloseOnRotate makes SetVerifier close the sessions that were
	// authenticated with the previous credential (1008 "credentials
	// rotated"). Otherwise they stay open and only new upgrades use the
	// new credential.
	CloseOnRotate bool
	// ExpirySkew is added to a JWT's exp before its session is closed
	// (1008 "token expired"); use the verifier's clock skew.
	ExpirySkew time.Duration
	// CheckHost enables the Host check (see the package doc). Set it for
	// loopback listeners.
	CheckHost bool
	// AllowedHosts are extra Host names accepted by the Host check, such
	// as a reverse proxy's or Tailscale Serve's name; exact matches only.
	AllowedHosts []string
	// FailureLimit limits failed authentication per client address.
	FailureLimit FailureLimit
	// Metrics, if set, is served at /metrics under the same Host, Origin
	// and authentication rules as an upgrade.
	Metrics http.Handler
	// OnDecision, if set, is called once per request with the outcome
	// ("accepted", "rejected", "limited") and a reason from a fixed set,
	// for metrics.
	OnDecision func(outcome, reason string)
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
	// PingInterval makes the server ping every upgraded client this often
	// and close one that sends nothing for two intervals. Zero disables.
	PingInterval time.Duration
	// now is the clock, for tests.
	now func() time.Time
}

// DefaultWriteTimeout is the default for Options.WriteTimeout.
const DefaultWriteTimeout = 60 * time.Second

// LimitedPenalty is how long a client address that has failed
// authentication too often waits for its 429.
const LimitedPenalty = time.Second

// Handler is the http.Handler for every route of a WebSocket listener.
type Handler struct {
	srv     *appserver.Server
	opts    Options
	logger  *slog.Logger
	ws      websocket.Options
	extra   http.Header
	hosts   *hostPolicy
	limiter *failureLimiter

	verifier atomic.Pointer[credential]

	mu       sync.Mutex
	sessions map[*appserver.Session]uint64 // generation of the credential used
}

// credential is the verifier in force and its generation.
type credential struct {
	v   auth.Verifier
	gen uint64
}

// NewHandler returns a handler serving srv. opts may be nil.
func NewHandler(srv *appserver.Server, opts *Options) *Handler {
	h := &Handler{srv: srv, sessions: make(map[*appserver.Session]uint64)}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.BaseContext == nil {
		h.opts.BaseContext = context.Background()
	}
	if h.opts.now == nil {
		h.opts.now = time.Now
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
		PingInterval:    h.opts.PingInterval,
	}
	maxFrame := h.ws.MaxFrameBytes
	if maxFrame <= 0 {
		maxFrame = websocket.DefaultMaxFrameBytes
	}
	// The reference announces its frame limit; the Codex client may read it.
	h.extra = http.Header{"X-Codex-Websocket-Max-Unfragmented-Message-Bytes": {strconv.FormatInt(maxFrame, 10)}}
	if h.opts.CheckHost {
		h.hosts = newHostPolicy(h.opts.AllowedHosts)
	}
	h.limiter = newFailureLimiter(h.opts.FailureLimit, h.logger)
	h.verifier.Store(&credential{v: h.opts.Verifier})
	return h
}

// SetVerifier replaces the credential new upgrades are checked against, at
// once. With CloseOnRotate, sessions authenticated with the previous one
// are closed with 1008 "credentials rotated". Setting nil is refused: a
// rotation must never turn authentication off.
func (h *Handler) SetVerifier(v auth.Verifier) error {
	if v == nil {
		return errors.New("wstransport: SetVerifier(nil) would disable authentication")
	}
	old := h.verifier.Load()
	h.verifier.Store(&credential{v: v, gen: old.gen + 1})
	if !h.opts.CloseOnRotate {
		return nil
	}
	h.mu.Lock()
	var stale []*appserver.Session
	for s, gen := range h.sessions {
		if gen <= old.gen {
			stale = append(stale, s)
		}
	}
	h.mu.Unlock()
	for _, s := range stale {
		s.CloseWith(websocket.StatusPolicyViolation, "credentials rotated")
	}
	if len(stale) > 0 {
		h.logger.Info("closed sessions authenticated with the rotated credential", "sessions", len(stale))
	}
	return nil
}

// decide logs one upgrade decision and reports it to OnDecision.
// Decisions about /metrics requests are logged but not counted as upgrades.
func (h *Handler) decide(r *http.Request, mode, outcome string, status int, reason string, extra ...any) {
	scrape := r.URL.Path == "/metrics" && h.opts.Metrics != nil
	if h.opts.OnDecision != nil && !scrape {
		h.opts.OnDecision(outcome, reason)
	}
	level := slog.LevelInfo
	if outcome == "limited" {
		// The limiter logs once per window itself.
		level = slog.LevelDebug
	}
	if !h.logger.Enabled(context.Background(), level) {
		return
	}
	msg := "websocket upgrade"
	if scrape {
		msg = "metrics request"
		if outcome == "accepted" {
			level = slog.LevelDebug
		}
	}
	attrs := append([]any{"outcome", outcome, "status", status, "reason", reason, "mode", mode, "remote", r.RemoteAddr, "path", truncate(r.URL.Path, 64)}, extra...)
	h.logger.Log(context.Background(), level, msg, attrs...)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cred := h.verifier.Load()
	mode := "none"
	if cred.v != nil {
		mode = cred.v.Mode()
	}
	if h.hosts != nil && !h.hosts.allows(r.Host) {
		h.decide(r, mode, "rejected", http.StatusForbidden, "host not allowed", "host", truncate(r.Host, 64))
		writeText(w, http.StatusForbidden, "host not allowed")
		return
	}
	if _, ok := r.Header["Origin"]; ok {
		h.decide(r, mode, "rejected", http.StatusForbidden, "origin header present")
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
	case "/metrics":
		if h.opts.Metrics != nil {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			if _, ok := h.authenticate(w, r, cred, mode); ok {
				h.opts.Metrics.ServeHTTP(w, r)
			}
			return
		}
	}
	if herr := websocket.CheckRequest(r); herr != nil {
		h.decide(r, mode, "rejected", herr.Status, "bad handshake: "+herr.Text)
		writeText(w, herr.Status, herr.Text)
		return
	}
	ctx, ok := h.authenticate(w, r, cred, mode)
	if !ok {
		return
	}
	conn, err := websocket.Upgrade(w, r, h.extra, &h.ws)
	if err != nil {
		h.logger.Warn("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	sess, err := h.srv.Connect(ctx, &wsConn{c: conn})
	if err != nil {
		h.logger.Debug("connection refused by the server", "remote", r.RemoteAddr, "err", err)
		return
	}
	if cred.v != nil {
		h.track(sess, ctx, cred.gen)
	}
}

// authenticate applies the failure limit and the bearer check. It answers
// the request itself (429 or 401) when it returns false.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, cred *credential, mode string) (context.Context, bool) {
	ctx := h.opts.BaseContext
	if cred.v == nil {
		h.decide(r, mode, "accepted", http.StatusSwitchingProtocols, "ok")
		return ctx, true
	}
	addr := remoteAddr(r)
	now := h.opts.now()
	try, wait := h.limiter.begin(addr, now)
	if wait > 0 {
		// Hold the answer a while: a client that keeps guessing then
		// waits instead of spinning, so an unpaced flood of bad tokens
		// costs the server next to nothing and stops competing with
		// authenticated clients for the CPU. The connection slots it holds
		// meanwhile are bounded per address by the listener.
		penalty := min(wait, LimitedPenalty)
		select {
		case <-time.After(penalty):
		case <-r.Context().Done():
			return nil, false
		}
		wait -= penalty
		secs := int64((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		h.decide(r, mode, "limited", http.StatusTooManyRequests, "too many failed attempts")
		writeText(w, http.StatusTooManyRequests, "too many failed authentication attempts; retry later")
		return nil, false
	}
	token, err := auth.ParseBearer(r.Header["Authorization"])
	var p auth.Principal
	if err == nil {
		p, err = cred.v.Verify(token)
	}
	try.done(err == nil)
	if err != nil {
		// err carries a fixed internal reason, never the token.
		h.decide(r, mode, "rejected", http.StatusUnauthorized, auth.PublicText(err), "detail", err.Error())
		w.Header().Set("WWW-Authenticate", `Bearer realm="appserver"`)
		writeText(w, http.StatusUnauthorized, auth.PublicText(err))
		return nil, false
	}
	h.decide(r, mode, "accepted", http.StatusSwitchingProtocols, "ok", "principal", p)
	return auth.NewContext(ctx, p), true
}

// track remembers which credential generation a session used, and closes
// it when its JWT expires.
func (h *Handler) track(sess *appserver.Session, ctx context.Context, gen uint64) {
	h.mu.Lock()
	h.sessions[sess] = gen
	h.mu.Unlock()
	// The credential may have rotated between the check and now, after
	// SetVerifier looked for stale sessions: look again.
	if h.opts.CloseOnRotate && h.verifier.Load().gen != gen {
		sess.CloseWith(websocket.StatusPolicyViolation, "credentials rotated")
	}
	var expiry *time.Timer
	if p, ok := auth.FromContext(ctx); ok && !p.ExpiresAt.IsZero() {
		d := p.ExpiresAt.Add(h.opts.ExpirySkew).Sub(h.opts.now())
		expiry = time.AfterFunc(d, func() {
			h.logger.Info("closing a session whose token expired", "session", sess.ID(), "principal", p)
			sess.CloseWith(websocket.StatusPolicyViolation, "token expired")
		})
	}
	sess.AfterClose(func() {
		if expiry != nil {
			expiry.Stop()
		}
		h.mu.Lock()
		delete(h.sessions, sess)
		h.mu.Unlock()
	})
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
