package responses

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// MaxRetries is how many times the reference retries a failed request after
// the first attempt, announcing each as "Reconnecting... N/5" (its
// stream_max_retries default): a turn sends at most 1+MaxRetries requests.
const MaxRetries = 5

// Backoff bounds.
const (
	initialBackoff = 200 * time.Millisecond
	maxBackoff     = 10 * time.Second
	// MaxRetryDelay caps a provider-requested wait: an interactive turn
	// should not sit silent longer; the caller may give up instead.
	MaxRetryDelay = time.Minute
)

// Retryable reports whether another attempt may succeed after err:
// connection failures, disconnects before the terminal event, 408, 429
// (except insufficient_quota) and 5xx answers, and [Failed] responses with
// code server_error or rate_limit_exceeded. Other 4xx answers, other
// failures, context errors, Close, malformed or oversized events are final.
// Whether a retry would duplicate output the user already saw is the
// caller's decision.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrConnectionFailed) || errors.Is(err, ErrStreamDisconnected) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.StatusCode == http.StatusTooManyRequests:
			return se.Code != "insufficient_quota"
		case se.StatusCode == http.StatusRequestTimeout, se.StatusCode >= 500:
			return true
		}
		return false
	}
	var f Failed
	if errors.As(err, &f) {
		return f.Code == "server_error" || f.Code == "rate_limit_exceeded"
	}
	return false
}

// RetryAfter returns the wait the provider asked for before retrying after
// err: a [StatusError]'s RetryAfter, or the "try again in 1.5s" of a
// rate-limited [Failed]. Zero when it did not say; pass it to [Backoff].
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	var f Failed
	if errors.As(err, &f) {
		m := tryAgainIn.FindStringSubmatch(f.Message)
		if m == nil {
			return 0
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v < 0 || v > 1e9 {
			return 0
		}
		unit := time.Second
		if m[2] == "ms" {
			unit = time.Millisecond
		}
		return time.Duration(v * float64(unit))
	}
	return 0
}

var tryAgainIn = regexp.MustCompile(`(?i)try again in ([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b`)

// Backoff returns how long to wait before retry number retry (1 for the
// first retry). A positive retryAfter (see [RetryAfter]) is honoured, up to
// [MaxRetryDelay]; otherwise the wait grows exponentially from 200 ms
// (200, 400, 800 ms, …, at most 10 s) with ±10% jitter, as the reference's.
func Backoff(retry int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, MaxRetryDelay)
	}
	retry = max(retry, 1)
	d := maxBackoff
	if retry <= 16 {
		d = min(initialBackoff<<(retry-1), maxBackoff)
	}
	jitter := 0.9 + 0.2*rand.Float64()
	return min(time.Duration(float64(d)*jitter), maxBackoff)
}
