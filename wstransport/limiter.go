package wstransport

import (
	"container/list"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/appserver-go/appserver/internal/connlimit"
)

// FailureLimit configures the limit on failed authentication attempts per
// client address: a token bucket of Burst attempts, refilled by one every
// Interval. Only failures take from the bucket; a successful upgrade never
// does. While the bucket is empty, every attempt from that address, right
// or wrong, gets 429 with Retry-After, without its token being looked at,
// so guessing gains nothing from a 429.
type FailureLimit struct {
	// Burst is how many failures an address may have in a row. Zero
	// disables the limit.
	Burst int
	// Interval is how often one more attempt is allowed.
	Interval time.Duration
	// MaxAddresses bounds the table of addresses; the least recently seen
	// is forgotten first. Zero means DefaultMaxLimitedAddresses.
	MaxAddresses int
	// LogWindow is how often, at most, limiting of one address is logged.
	// Zero means one minute.
	LogWindow time.Duration
}

// Defaults for FailureLimit.
const (
	DefaultFailureBurst        = 10
	DefaultFailureInterval     = 10 * time.Second
	DefaultMaxLimitedAddresses = 10000
)

// failureLimiter is a bounded LRU table of token buckets keyed by client
// address: IPv4 addresses, and IPv6 /64 prefixes (one customer's network,
// so rotating through its addresses does not reset the count).
type failureLimiter struct {
	cfg    FailureLimit
	logger *slog.Logger

	mu      sync.Mutex
	entries map[netip.Prefix]*list.Element
	lru     *list.List // front: most recently seen
}

type limitEntry struct {
	key        netip.Prefix
	lim        *rate.Limiter
	loggedAt   time.Time
	suppressed int // 429s not logged since loggedAt
}

func newFailureLimiter(cfg FailureLimit, logger *slog.Logger) *failureLimiter {
	if cfg.Burst <= 0 {
		return nil
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultFailureInterval
	}
	if cfg.MaxAddresses <= 0 {
		cfg.MaxAddresses = DefaultMaxLimitedAddresses
	}
	if cfg.LogWindow <= 0 {
		cfg.LogWindow = time.Minute
	}
	return &failureLimiter{cfg: cfg, logger: logger, entries: make(map[netip.Prefix]*list.Element), lru: list.New()}
}

func limitKey(addr netip.Addr) netip.Prefix { return connlimit.AddrKey(addr) }

// attempt is an authentication attempt admitted by begin. It holds one
// token of its address's bucket until done says how it went.
type attempt struct {
	l   *failureLimiter
	r   *rate.Reservation
	now time.Time
}

// begin admits an attempt from addr at now, taking a token up front so that
// concurrent guesses cannot all slip past the limit before any of them has
// failed. It returns nil and how long to wait when the address is limited,
// and a nil attempt with zero wait when no limit applies.
func (l *failureLimiter) begin(addr netip.Addr, now time.Time) (*attempt, time.Duration) {
	if l == nil || !addr.IsValid() {
		return nil, 0
	}
	key := limitKey(addr)
	l.mu.Lock()
	e := l.entryLocked(key)
	r := e.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if !r.OK() || wait > 0 {
		r.CancelAt(now)
		logNow := now.Sub(e.loggedAt) >= l.cfg.LogWindow
		suppressed := e.suppressed
		if logNow {
			e.loggedAt, e.suppressed = now, 0
		} else {
			e.suppressed++
		}
		l.mu.Unlock()
		if logNow {
			l.logger.Warn("limiting failed websocket authentication", "address", key.String(), "retryAfter", wait.Round(time.Second), "refusedSinceLastLog", suppressed,
				"burst", l.cfg.Burst, "interval", l.cfg.Interval)
		}
		return nil, wait
	}
	l.mu.Unlock()
	return &attempt{l: l, r: r, now: now}, 0
}

// done records how the attempt went: a success gives its token back, so
// successful upgrades never consume the bucket; a failure keeps it taken.
func (a *attempt) done(ok bool) {
	if a == nil || !ok {
		return
	}
	a.l.mu.Lock()
	a.r.CancelAt(a.now)
	a.l.mu.Unlock()
}

// entryLocked returns the entry for key, creating it (and evicting the
// least recently seen entry past MaxAddresses) if needed. l.mu is held.
func (l *failureLimiter) entryLocked(key netip.Prefix) *limitEntry {
	if el, ok := l.entries[key]; ok {
		l.lru.MoveToFront(el)
		return el.Value.(*limitEntry)
	}
	e := &limitEntry{key: key, lim: rate.NewLimiter(rate.Every(l.cfg.Interval), l.cfg.Burst)}
	l.entries[key] = l.lru.PushFront(e)
	for l.lru.Len() > l.cfg.MaxAddresses {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.entries, old.Value.(*limitEntry).key)
	}
	return e
}

// size returns the number of addresses tracked, for tests.
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
