package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is used when [Client.BaseURL] is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// DefaultIdleTimeout is how long a stream may go without a byte from the
// provider (before the response headers, or between events) before it is
// treated as disconnected; the reference's stream_idle_timeout_ms default.
const DefaultIdleTimeout = 5 * time.Minute

// Client calls a model provider's Responses API. The zero value talks to
// [DefaultBaseURL] without credentials. A Client is safe for concurrent use;
// do not change its fields after the first call.
type Client struct {
	// BaseURL is the API root, e.g. "http://127.0.0.1:4840/v1"; requests go
	// to BaseURL + "/responses".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <APIKey>", and not at all
	// when empty. It never appears in errors, and the Client formats as
	// "[REDACTED]" under fmt and slog.
	APIKey string
	// HTTPClient sends the requests; nil means http.DefaultClient. Its
	// Timeout, if any, bounds a whole stream, so leave it zero and rely on
	// the context and IdleTimeout.
	HTTPClient *http.Client
	// Header holds extra request headers (e.g. the reference's "originator",
	// "session_id", or a provider's own auth header).
	Header http.Header
	// IdleTimeout bounds how long the provider may stay silent: before the
	// response headers, and within each read of the body while Next waits.
	// Zero means DefaultIdleTimeout, negative means no limit.
	IdleTimeout time.Duration
}

// String describes the client without its API key.
func (c Client) String() string {
	key := ""
	if c.APIKey != "" {
		key = "[REDACTED]"
	}
	return fmt.Sprintf("responses.Client{BaseURL: %q, APIKey: %q}", c.BaseURL, key)
}

// Format makes every fmt verb (%v, %+v, %#v, %s) print [Client.String], so
// the key cannot leak through a log line.
func (c Client) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// LogValue keeps the key out of slog output.
func (c Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

var (
	// ErrConnectionFailed wraps a failure to get a response from the
	// provider at all: DNS, TCP or TLS errors, a connection reset before the
	// headers, no headers within the idle timeout.
	ErrConnectionFailed = errors.New("responses: connection failed")
	// ErrStreamDisconnected wraps the end of a stream (EOF, a reset, the
	// idle timeout) before its terminal event.
	ErrStreamDisconnected = errors.New("responses: stream disconnected before completion")

	errIdle   = errors.New("idle timeout waiting for the provider")
	errClosed = errors.New("responses: stream closed")
	errDone   = errors.New("responses: stream done")
)

// StatusError is a non-2xx answer from the provider.
type StatusError struct {
	StatusCode int
	// Message is the body's error.message, or the status text.
	Message string
	// Code is the body's error.code (or error.type), e.g.
	// "rate_limit_exceeded", "insufficient_quota"; often empty.
	Code string
	// RetryAfter is the wait the provider asked for (Retry-After,
	// retry-after-ms, or the x-ratelimit-reset-* header of the exhausted
	// limit); zero when it did not say.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("responses: unexpected status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" && e.Message != http.StatusText(e.StatusCode) {
		s += ": " + e.Message
	}
	return s
}

// Stream sends req and returns the response's event stream once the
// provider has answered 2xx. The stream lives until its terminal event,
// [Stream.Close], or the end of ctx; always Close it.
//
// Errors: a *[StatusError] for a non-2xx answer; [ErrConnectionFailed]
// (wrapping the cause) when no answer came; ctx's error when ctx ended;
// other errors for a request that cannot be encoded.
func (c *Client) Stream(ctx context.Context, req *Request) (*Stream, error) {
	body, err := req.MarshalJSON()
	if err != nil {
		return nil, err
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	sctx, cancel := context.WithCancelCause(ctx)
	hreq, err := http.NewRequestWithContext(sctx, http.MethodPost, strings.TrimRight(base, "/")+"/responses", bytes.NewReader(body))
	if err != nil {
		cancel(errDone)
		return nil, err
	}
	for k, vs := range c.Header {
		hreq.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	// No compression: a gzip reader may hold back a flushed event until
	// more input arrives, and per-event flushes leave little to compress.
	hreq.Header.Set("Accept-Encoding", "identity")
	if c.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.APIKey)
	}

	s := &Stream{parent: ctx, ctx: sctx, cancel: cancel}
	s.idle = c.IdleTimeout
	if s.idle == 0 {
		s.idle = DefaultIdleTimeout
	}
	if s.idle > 0 {
		s.timer = time.AfterFunc(s.idle, func() { cancel(errIdle) })
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hreq)
	if s.timer != nil {
		s.timer.Stop()
	}
	if err != nil {
		s.release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if context.Cause(sctx) == errIdle {
			err = fmt.Errorf("%w (%v)", errIdle, s.idle)
		}
		return nil, fmt.Errorf("%w: %w", ErrConnectionFailed, err)
	}
	s.body, s.header = resp.Body, resp.Header
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer s.release()
		return nil, statusError(resp, idleReader{s})
	}
	s.sse = newSSEParser(idleReader{s}, MaxEventSize)
	return s, nil
}

// statusError builds the error for a non-2xx response, reading at most
// 64 KiB of its body.
func statusError(resp *http.Response, body io.Reader) *StatusError {
	e := &StatusError{StatusCode: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
	b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	var w struct {
		Error *wireError `json:"error"`
	}
	if json.Unmarshal(b, &w) == nil && w.Error != nil {
		if w.Error.Message != "" {
			e.Message = w.Error.Message
		}
		e.Code = looseString(w.Error.Code)
		if e.Code == "" {
			e.Code = w.Error.Type
		}
	}
	e.RetryAfter = retryAfterHeader(resp.StatusCode, resp.Header, time.Now())
	return e
}

// retryAfterHeader reads the provider's requested wait: retry-after-ms,
// then Retry-After (seconds or an HTTP date), then the larger of the
// x-ratelimit-reset-{requests,tokens} durations ("1s", "6m0s", "20ms")
// whose limit is exhausted (or all of them when remaining is not sent), the
// last only for a 429.
func retryAfterHeader(status int, h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 && s < 1e9 {
				return time.Duration(s * float64(time.Second))
			}
			return 0
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	var d time.Duration
	if status != http.StatusTooManyRequests {
		return 0
	}
	for _, kind := range []string{"requests", "tokens"} {
		rem := h.Get("X-Ratelimit-Remaining-" + kind)
		if rem != "" && rem != "0" {
			continue
		}
		if v, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-" + kind)); err == nil {
			d = max(d, v)
		}
	}
	return d
}
