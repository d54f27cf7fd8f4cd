package fuzzy

import (
	"context"
	"sync"
	"time"
)

// indexCache shares indexes between searches of the same root.
//
// An index is reused as is for ttl after it was built or last checked.
// After that, the next search checks it with [Index.Unchanged] (an lstat
// per directory, several times cheaper than a walk) and walks again only
// if something was added, removed or renamed. So a one-shot search sees a
// file at most ttl after it appears; a client typing a query, which sends
// a search per keystroke, pays for one walk instead of one per keystroke.
// An index nobody used for idle is dropped.
//
// Concurrent searches of a root share one walk. A walk nobody waits for
// any more (every requester was cancelled) is cancelled.
type indexCache struct {
	ttl   time.Duration // < 0: no reuse
	idle  time.Duration
	build func(ctx context.Context, root string) (*Index, error)

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	root   string
	done   chan struct{} // closed when idx/err are set
	idx    *Index
	err    error
	cancel context.CancelFunc

	// Guarded by indexCache.mu.
	waiters   int
	checkedAt time.Time // when idx was last known to be current
	usedAt    time.Time
	timer     *time.Timer
}

func newIndexCache(ttl, idle time.Duration, build func(context.Context, string) (*Index, error)) *indexCache {
	return &indexCache{ttl: ttl, idle: idle, build: build, entries: make(map[string]*cacheEntry)}
}

// acquire returns the entry for root, starting a walk (or a check of the
// previous index) if there is no current one. Every acquire must be
// followed by a release.
func (c *indexCache) acquire(root string) *cacheEntry {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[root]
	var prev *Index
	if e != nil {
		select {
		case <-e.done:
			if e.err == nil && c.ttl >= 0 && now.Sub(e.checkedAt) < c.ttl {
				e.waiters++
				e.usedAt = now
				return e
			}
			if e.err == nil && c.ttl >= 0 {
				prev = e.idx
			}
		default:
			e.waiters++ // a walk is running: share it
			return e
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	e = &cacheEntry{root: root, done: make(chan struct{}), cancel: cancel, waiters: 1, usedAt: now}
	c.entries[root] = e
	go c.run(ctx, e, prev)
	return e
}

// run produces e's index: prev again if it is unchanged, else a new walk.
func (c *indexCache) run(ctx context.Context, e *cacheEntry, prev *Index) {
	checked := time.Now()
	var idx *Index
	var err error
	if prev != nil && prev.Unchanged(ctx) {
		idx = prev
	} else {
		idx, err = c.build(ctx, e.root)
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e.idx, e.err = idx, err
	e.checkedAt = checked
	if idx != nil && idx != prev {
		e.checkedAt = idx.built
	}
	current := c.entries[e.root] == e
	switch {
	case !current:
	case err != nil || c.ttl < 0:
		delete(c.entries, e.root)
	default:
		e.timer = time.AfterFunc(c.idle, func() { c.expire(e) })
	}
	e.cancel()
	close(e.done)
}

// expire drops e once it has been idle for c.idle.
func (c *indexCache) expire(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.root] != e {
		return
	}
	if left := c.idle - time.Since(e.usedAt); left > 0 {
		e.timer.Reset(left)
		return
	}
	delete(c.entries, e.root)
}

// release undoes an acquire. When the last waiter of a running walk
// leaves, the walk is cancelled.
func (c *indexCache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.waiters--
	if e.waiters > 0 {
		return
	}
	select {
	case <-e.done:
	default:
		e.cancel()
		if c.entries[e.root] == e {
			delete(c.entries, e.root)
		}
	}
}

// wait returns the entry's index once it is ready.
func (e *cacheEntry) wait(ctx context.Context) (*Index, error) {
	select {
	case <-e.done:
		return e.idx, e.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// close stops every timer, for tests.
func (c *indexCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for root, e := range c.entries {
		if e.timer != nil {
			e.timer.Stop()
		}
		e.cancel()
		delete(c.entries, root)
	}
}
