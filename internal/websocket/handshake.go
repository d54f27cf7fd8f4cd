package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// HandshakeError is a refused upgrade: the HTTP status and the short text
// body to answer with.
type HandshakeError struct {
	Status int
	Text   string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake refused (%d): %s", e.Status, e.Text)
}

// CheckRequest validates an upgrade request (RFC 6455 §4.2.1) in the
// reference server's order and with its texts, so clients see the same
// answers: method, Connection, Upgrade, Sec-WebSocket-Version,
// Sec-WebSocket-Key, then the HTTP version. Unlike the reference, the key
// must be the base64 encoding of 16 bytes, as §4.2.1 requires.
func CheckRequest(r *http.Request) *HandshakeError {
	if r.Method != http.MethodGet {
		return &HandshakeError{http.StatusMethodNotAllowed, "Request method must be `GET`"}
	}
	if !headerHasToken(r.Header["Connection"], "upgrade") {
		return &HandshakeError{http.StatusBadRequest, "Connection header did not include 'upgrade'"}
	}
	if !headerHasToken(r.Header["Upgrade"], "websocket") {
		return &HandshakeError{http.StatusBadRequest, "`Upgrade` header did not include 'websocket'"}
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return &HandshakeError{http.StatusBadRequest, "`Sec-WebSocket-Version` header did not include '13'"}
	}
	keys := r.Header["Sec-Websocket-Key"]
	if len(keys) == 0 {
		return &HandshakeError{http.StatusBadRequest, "`Sec-WebSocket-Key` header missing"}
	}
	if len(keys) > 1 || !validKey(keys[0]) {
		return &HandshakeError{http.StatusBadRequest, "`Sec-WebSocket-Key` header is not 16 bytes of base64"}
	}
	if !r.ProtoAtLeast(1, 1) {
		return &HandshakeError{http.StatusUpgradeRequired, "WebSocket request couldn't be upgraded since no upgrade state was present"}
	}
	return nil
}

func validKey(k string) bool {
	k = strings.TrimSpace(k)
	if len(k) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(k))
	return err == nil && n == 16
}

// headerHasToken reports whether any comma-separated element of the header
// values equals token, ignoring case.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for len(v) > 0 {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(elem), token) {
				return true
			}
		}
	}
	return false
}

// acceptKey computes Sec-WebSocket-Accept (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(strings.TrimSpace(key)))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Upgrade completes a request that passed CheckRequest: it hijacks the
// connection, clears any deadlines the HTTP server set, writes the 101
// response (with extra headers, which must be valid), and returns the
// WebSocket connection. On error the connection is closed.
func Upgrade(w http.ResponseWriter, r *http.Request, extra http.Header, opts *Options) (*Conn, error) {
	rc := http.NewResponseController(w)
	nc, brw, err := rc.Hijack()
	if err != nil {
		http.Error(w, "websocket upgrade is not supported on this connection", http.StatusInternalServerError)
		return nil, fmt.Errorf("websocket: hijack: %w", err)
	}
	// Bytes the client pipelined after the request are already buffered.
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
		buffered = append([]byte(nil), buffered...)
	}
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	b.WriteString(acceptKey(r.Header.Get("Sec-WebSocket-Key")))
	b.WriteString("\r\n")
	for k, vs := range extra {
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n")
	timeout := DefaultCloseTimeout
	if opts != nil && opts.WriteTimeout > 0 {
		timeout = opts.WriteTimeout
	}
	_ = nc.SetDeadline(time.Time{})
	_ = nc.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := nc.Write([]byte(b.String())); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("websocket: writing the 101 response: %w", err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return NewConn(nc, buffered, opts), nil
}
