package responses

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection failed", fmt.Errorf("%w: dial tcp: connection refused", ErrConnectionFailed), true},
		{"disconnected", fmt.Errorf("%w: unexpected EOF", ErrStreamDisconnected), true},
		{"disconnected, wrapped again", fmt.Errorf("turn: %w", fmt.Errorf("%w: x", ErrStreamDisconnected)), true},
		{"429", &StatusError{StatusCode: 429}, true},
		{"429 insufficient_quota", &StatusError{StatusCode: 429, Code: "insufficient_quota"}, false},
		{"408", &StatusError{StatusCode: 408}, true},
		{"500", &StatusError{StatusCode: 500}, true},
		{"502", &StatusError{StatusCode: 502}, true},
		{"503", &StatusError{StatusCode: 503}, true},
		{"400", &StatusError{StatusCode: 400}, false},
		{"401", &StatusError{StatusCode: 401}, false},
		{"403", &StatusError{StatusCode: 403}, false},
		{"404", &StatusError{StatusCode: 404}, false},
		{"413", &StatusError{StatusCode: 413}, false},
		{"failed server_error", Failed{Code: "server_error"}, true},
		{"failed rate limited", Failed{Code: "rate_limit_exceeded"}, true},
		{"failed context window", Failed{Code: "context_length_exceeded"}, false},
		{"failed quota", Failed{Code: "insufficient_quota"}, false},
		{"failed without code", Failed{Message: "boom"}, false},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"closed", errClosed, false},
		{"too large", fmt.Errorf("%w: x", ErrEventTooLarge), false},
		{"malformed", fmt.Errorf("%w: x", ErrMalformedEvent), false},
		{"EOF", io.EOF, false},
		{"other", errors.New("x"), false},
	} {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		retry      int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{0, 0, 180 * time.Millisecond, 220 * time.Millisecond}, // treated as 1
		{1, 0, 180 * time.Millisecond, 220 * time.Millisecond},
		{2, 0, 360 * time.Millisecond, 440 * time.Millisecond},
		{3, 0, 720 * time.Millisecond, 880 * time.Millisecond},
		{4, 0, 1440 * time.Millisecond, 1760 * time.Millisecond},
		{5, 0, 2880 * time.Millisecond, 3520 * time.Millisecond},
		{8, 0, 9 * time.Second, 10 * time.Second},
		{1000, 0, 9 * time.Second, 10 * time.Second},
		{-3, 0, 180 * time.Millisecond, 220 * time.Millisecond},
		{1, 3 * time.Second, 3 * time.Second, 3 * time.Second},
		{5, 1500 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond},
		{1, time.Hour, MaxRetryDelay, MaxRetryDelay},
	} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := Backoff(tt.retry, tt.retryAfter)
			if d < tt.lo || d > tt.hi {
				t.Fatalf("Backoff(%d, %v) = %v, want in [%v, %v]", tt.retry, tt.retryAfter, d, tt.lo, tt.hi)
			}
			seen[d] = true
		}
		if tt.lo != tt.hi && tt.retry < 8 && len(seen) < 2 {
			t.Errorf("Backoff(%d, 0) has no jitter", tt.retry)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want time.Duration
	}{
		{&StatusError{StatusCode: 429, RetryAfter: 2 * time.Second}, 2 * time.Second},
		{fmt.Errorf("wrapped: %w", &StatusError{StatusCode: 503, RetryAfter: time.Second}), time.Second},
		{Failed{Code: "rate_limit_exceeded", Message: "Rate limit reached for gpt-x. Please try again in 1.5s. Visit …"}, 1500 * time.Millisecond},
		{Failed{Code: "rate_limit_exceeded", Message: "Please try again in 250ms."}, 250 * time.Millisecond},
		{Failed{Code: "rate_limit_exceeded", Message: "slow down"}, 0},
		{errors.New("x"), 0},
		{nil, 0},
	} {
		if got := RetryAfter(tt.err); got != tt.want {
			t.Errorf("RetryAfter(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tt := range []struct {
		name   string
		status int
		h      http.Header
		want   time.Duration
	}{
		{"none", 429, h(), 0},
		{"seconds", 429, h("Retry-After", "2"), 2 * time.Second},
		{"fractional seconds", 503, h("Retry-After", "0.5"), 500 * time.Millisecond},
		{"http date", 503, h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second},
		{"date in the past", 503, h("Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), 0},
		{"negative", 429, h("Retry-After", "-1"), 0},
		{"garbage", 429, h("Retry-After", "soon"), 0},
		{"ms wins", 429, h("Retry-After-Ms", "1200", "Retry-After", "2"), 1200 * time.Millisecond},
		{"rate limit reset, exhausted tokens", 429, h("X-Ratelimit-Remaining-Requests", "5", "X-Ratelimit-Reset-Requests", "1s",
			"X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "6m0s"), 6 * time.Minute},
		{"rate limit reset, exhausted requests", 429, h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "20ms",
			"X-Ratelimit-Remaining-Tokens", "100", "X-Ratelimit-Reset-Tokens", "6m0s"), 20 * time.Millisecond},
		{"rate limit reset without remaining", 429, h("X-Ratelimit-Reset-Requests", "1.5s"), 1500 * time.Millisecond},
		{"rate limit headers ignored on 500", 500, h("X-Ratelimit-Reset-Requests", "1s"), 0},
	} {
		if got := retryAfterHeader(tt.status, tt.h, now); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
