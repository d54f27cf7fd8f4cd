package fuzzy

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/oserr"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/jsonrpc"
)

// Method names.
const (
	MethodSearch           = "fuzzyFileSearch"
	MethodSessionStart     = "fuzzyFileSearch/sessionStart"
	MethodSessionUpdate    = "fuzzyFileSearch/sessionUpdate"
	MethodSessionStop      = "fuzzyFileSearch/sessionStop"
	NotifySessionUpdated   = "fuzzyFileSearch/sessionUpdated"
	NotifySessionCompleted = "fuzzyFileSearch/sessionCompleted"
)

// Defaults for [Options].
const (
	DefaultCacheTTL    = time.Second
	DefaultCacheIdle   = 30 * time.Second
	DefaultMaxSessions = 64
)

// Options configure the methods [Register] adds.
type Options struct {
	// Guard checks every root a client sends: it must be absolute and,
	// when the guard is confined, inside a workspace root. Nil accepts any
	// absolute path.
	Guard *pathguard.Guard
	// Logger receives warnings (an index cut at MaxEntries, say). Nil
	// discards them.
	Logger *slog.Logger
	// CacheTTL is how long a one-shot search reuses an index without
	// checking it; after that the index is checked (one lstat per
	// directory) and walked again only if entries changed. Zero means
	// DefaultCacheTTL; negative walks for every search, as the reference
	// does.
	CacheTTL time.Duration
	// CacheIdle drops an index no search used for this long. Zero means
	// DefaultCacheIdle.
	CacheIdle time.Duration
	// MaxEntries bounds one root's index. Zero means DefaultMaxEntries.
	MaxEntries int
	// MaxSessions bounds the search sessions open on one connection. Zero
	// means DefaultMaxSessions.
	MaxSessions int
}

// Service holds the state of the methods: the index cache and each
// connection's sessions and cancellation tokens. It is safe for
// concurrent use.
type Service struct {
	opts   Options
	logger *slog.Logger
	cache  *indexCache

	mu    sync.Mutex
	conns map[*appserver.Session]*connState
}

// Register adds fuzzyFileSearch and the experimental session methods to
// srv and returns their state.
func Register(srv *appserver.Server, opts Options) *Service {
	s := newService(opts)
	srv.AddMethod(appserver.Method{Name: MethodSearch, Handler: appserver.Typed(s.search)})
	srv.AddMethod(appserver.Method{Name: MethodSessionStart, Experimental: true, Handler: appserver.Typed(s.sessionStart)})
	srv.AddMethod(appserver.Method{Name: MethodSessionUpdate, Experimental: true, Handler: appserver.Typed(s.sessionUpdate)})
	srv.AddMethod(appserver.Method{Name: MethodSessionStop, Experimental: true, Handler: appserver.Typed(s.sessionStop)})
	return s
}

func newService(opts Options) *Service {
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.CacheIdle <= 0 {
		opts.CacheIdle = DefaultCacheIdle
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{opts: opts, logger: logger, conns: make(map[*appserver.Session]*connState)}
	s.cache = newIndexCache(opts.CacheTTL, opts.CacheIdle, s.build)
	return s
}

// Close drops the cached indexes and their timers. Sessions end with
// their connections.
func (s *Service) Close() { s.cache.close() }

func (s *Service) build(ctx context.Context, root string) (*Index, error) {
	x, err := Build(ctx, root, BuildOptions{MaxEntries: s.opts.MaxEntries})
	if err == nil && x.Truncated() {
		s.logger.Warn("fuzzy file search index truncated", "root", root, "entries", x.Files()+x.Dirs())
	}
	return x, err
}

// connState is one connection's sessions and pending token searches.
type connState struct {
	mu       sync.Mutex
	closed   bool
	tokens   map[string]*tokenSearch
	sessions map[string]*searchSession
}

type tokenSearch struct {
	cancel context.CancelCauseFunc
}

// errSuperseded cancels a search whose cancellationToken a newer search
// took over.
var errSuperseded = errors.New("superseded by a newer search with the same cancellation token")

// conn returns the connection's state, creating it on first use.
func (s *Service) conn(sess *appserver.Session) *connState {
	s.mu.Lock()
	st := s.conns[sess]
	created := st == nil
	if created {
		st = &connState{tokens: make(map[string]*tokenSearch), sessions: make(map[string]*searchSession)}
		s.conns[sess] = st
	}
	s.mu.Unlock()
	if created {
		// Registered outside s.mu: AfterClose runs f at once on a closed
		// session, and f takes s.mu.
		sess.AfterClose(func() { s.dropConn(sess, st) })
	}
	return st
}

// dropConn ends a connection's sessions and searches.
func (s *Service) dropConn(sess *appserver.Session, st *connState) {
	s.mu.Lock()
	if s.conns[sess] == st {
		delete(s.conns, sess)
	}
	s.mu.Unlock()
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed = true
	sessions := st.sessions
	st.sessions = nil
	for _, t := range st.tokens {
		t.cancel(appserver.ErrConnectionClosed)
	}
	st.tokens = nil
	st.mu.Unlock()
	for _, ss := range sessions {
		ss.stop()
	}
}

// root is a client's root: as sent (results echo it, as the reference
// does) and cleaned (the index key).
type root struct {
	sent, clean string
}

// checkRoots validates roots with the guard and drops duplicates.
func (s *Service) checkRoots(roots []string) ([]root, error) {
	out := make([]root, 0, len(roots))
	seen := make(map[string]bool, len(roots))
	for _, r := range roots {
		clean, err := s.opts.Guard.Check(r)
		if err != nil {
			var outside *pathguard.OutsideError
			switch {
			case errors.Is(err, pathguard.ErrNotAbsolute):
				return nil, appserver.InvalidRequest(err.Error())
			case errors.As(err, &outside):
				return nil, jsonrpc.NewError(jsonrpc.CodeInvalidRequest, err.Error())
			}
			return nil, errors.New(oserr.Text(err))
		}
		if !seen[clean] {
			seen[clean] = true
			out = append(out, root{sent: r, clean: clean})
		}
	}
	return out, nil
}

// indexes returns the index of every root, walking or checking them as
// the cache requires. Roots that do not exist or cannot be read are left
// out, as the reference returns nothing for them.
func (s *Service) indexes(ctx context.Context, roots []root) ([]*Index, error) {
	entries := make([]*cacheEntry, len(roots))
	for i, r := range roots {
		entries[i] = s.cache.acquire(r.clean)
	}
	defer func() {
		for _, e := range entries {
			s.cache.release(e)
		}
	}()
	idxs := make([]*Index, 0, len(roots))
	for i, e := range entries {
		x, err := e.wait(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			s.logger.Debug("fuzzy file search root skipped", "root", roots[i].clean, "err", err)
			continue
		}
		idxs = append(idxs, x)
	}
	return idxs, nil
}

// searchRoots runs the query over the indexes and puts the client's
// spelling of each root in the results.
func searchRoots(ctx context.Context, idxs []*Index, roots []root, query string) ([]Match, error) {
	if query == "" || len(idxs) == 0 {
		return []Match{}, nil
	}
	ms, err := Search(ctx, idxs, ParsePattern(query), MatchLimit)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		for _, r := range roots {
			if r.clean == ms[i].Root {
				ms[i].Root = r.sent
				break
			}
		}
	}
	return ms, nil
}

type searchParams struct {
	Query             *string   `json:"query"`
	Roots             *[]string `json:"roots"`
	CancellationToken *string   `json:"cancellationToken"`
}

func (p *searchParams) Validate() error {
	switch {
	case p.Query == nil:
		return appserver.MissingField("query")
	case p.Roots == nil:
		return appserver.MissingField("roots")
	}
	return nil
}

// SearchResult is the answer to fuzzyFileSearch.
type SearchResult struct {
	Files []Match `json:"files"`
}

// search answers fuzzyFileSearch. A newer search on the same connection
// with the same cancellationToken cancels this one, which then answers
// with no files (the reference answers with what it had found so far,
// usually nothing).
func (s *Service) search(ctx context.Context, sess *appserver.Session, p searchParams) (SearchResult, error) {
	roots, err := s.checkRoots(*p.Roots)
	if err != nil {
		return SearchResult{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The token is taken even by an empty query: clearing the input
	// cancels the search for the previous text, as on the reference.
	if p.CancellationToken != nil {
		st := s.conn(sess)
		token := *p.CancellationToken
		me := &tokenSearch{cancel: cancel}
		st.mu.Lock()
		if st.closed {
			st.mu.Unlock()
			return SearchResult{}, appserver.ErrConnectionClosed
		}
		if prev := st.tokens[token]; prev != nil {
			prev.cancel(errSuperseded)
		}
		st.tokens[token] = me
		st.mu.Unlock()
		defer func() {
			st.mu.Lock()
			if st.tokens[token] == me {
				delete(st.tokens, token)
			}
			st.mu.Unlock()
		}()
	}
	if *p.Query == "" || len(roots) == 0 {
		return SearchResult{Files: []Match{}}, nil
	}
	idxs, err := s.indexes(ctx, roots)
	var files []Match
	if err == nil {
		files, err = searchRoots(ctx, idxs, roots, *p.Query)
	}
	if err != nil {
		if errors.Is(context.Cause(ctx), errSuperseded) {
			return SearchResult{Files: []Match{}}, nil
		}
		return SearchResult{}, err
	}
	return SearchResult{Files: files}, nil
}

// searchSession is one fuzzyFileSearch/sessionStart: its roots' indexes,
// built once when it starts (as the reference walks once per session),
// and the latest query.
type searchSession struct {
	id     string
	sess   *appserver.Session
	roots  []root
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan struct{} // closed when idxs is set (or the session ended)
	idxs   []*Index

	mu      sync.Mutex
	stopped bool
	gen     uint64             // bumped by every update
	current context.CancelFunc // the running update's
}

func (ss *searchSession) stop() {
	ss.mu.Lock()
	ss.stopped = true
	ss.mu.Unlock()
	ss.cancel()
}

type sessionStartParams struct {
	SessionID *string   `json:"sessionId"`
	Roots     *[]string `json:"roots"`
}

func (p *sessionStartParams) Validate() error {
	switch {
	case p.SessionID == nil:
		return appserver.MissingField("sessionId")
	case p.Roots == nil:
		return appserver.MissingField("roots")
	}
	return nil
}

type sessionUpdateParams struct {
	SessionID *string `json:"sessionId"`
	Query     *string `json:"query"`
}

func (p *sessionUpdateParams) Validate() error {
	switch {
	case p.SessionID == nil:
		return appserver.MissingField("sessionId")
	case p.Query == nil:
		return appserver.MissingField("query")
	}
	return nil
}

type sessionStopParams struct {
	SessionID *string `json:"sessionId"`
}

func (p *sessionStopParams) Validate() error {
	if p.SessionID == nil {
		return appserver.MissingField("sessionId")
	}
	return nil
}

type empty struct{}

// SessionUpdated is the params of fuzzyFileSearch/sessionUpdated: the
// results for the session's latest query.
type SessionUpdated struct {
	SessionID string  `json:"sessionId"`
	Query     string  `json:"query"`
	Files     []Match `json:"files"`
}

// SessionCompleted is the params of fuzzyFileSearch/sessionCompleted,
// sent after the SessionUpdated it completes.
type SessionCompleted struct {
	SessionID string `json:"sessionId"`
}

func sessionNotFound(id string) error {
	return jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "fuzzy file search session not found: "+id)
}

// sessionStart answers at once; the walk runs in the background and
// updates wait for it. Starting a session with the id of an open one
// replaces it.
func (s *Service) sessionStart(ctx context.Context, sess *appserver.Session, p sessionStartParams) (empty, error) {
	if len(*p.Roots) == 0 {
		return empty{}, jsonrpc.NewError(jsonrpc.CodeInternalError, "failed to start fuzzy file search session: at least one search directory is required")
	}
	roots, err := s.checkRoots(*p.Roots)
	if err != nil {
		return empty{}, err
	}
	st := s.conn(sess)
	sctx, cancel := context.WithCancel(sess.Context())
	ss := &searchSession{id: *p.SessionID, sess: sess, roots: roots, ctx: sctx, cancel: cancel, ready: make(chan struct{})}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		cancel()
		return empty{}, appserver.ErrConnectionClosed
	}
	prev := st.sessions[ss.id]
	if prev == nil && len(st.sessions) >= s.opts.MaxSessions {
		st.mu.Unlock()
		cancel()
		return empty{}, jsonrpc.NewError(jsonrpc.CodeInvalidRequest,
			"too many fuzzy file search sessions on this connection (limit "+strconv.Itoa(s.opts.MaxSessions)+")")
	}
	st.sessions[ss.id] = ss
	st.mu.Unlock()
	if prev != nil {
		prev.stop()
	}
	go func() {
		defer close(ss.ready)
		idxs, err := s.indexes(sctx, roots)
		if err == nil {
			ss.idxs = idxs
		}
	}()
	return empty{}, nil
}

// sessionUpdate answers at once, then searches the session's indexes and
// sends sessionUpdated with the files and sessionCompleted. A newer update
// cancels an older one that has not been sent yet, so the notifications
// always carry the latest query, updated before completed.
func (s *Service) sessionUpdate(ctx context.Context, sess *appserver.Session, p sessionUpdateParams) (empty, error) {
	ss := s.lookup(sess, *p.SessionID)
	if ss == nil {
		return empty{}, sessionNotFound(*p.SessionID)
	}
	ss.mu.Lock()
	if ss.stopped {
		ss.mu.Unlock()
		return empty{}, sessionNotFound(*p.SessionID)
	}
	if ss.current != nil {
		ss.current()
	}
	ss.gen++
	gen := ss.gen
	uctx, cancel := context.WithCancel(ss.ctx)
	ss.current = cancel
	ss.mu.Unlock()

	answered := make(chan time.Time, 1)
	defer func() { answered <- time.Now() }()
	query := *p.Query
	go func() {
		defer cancel()
		files := []Match{}
		if query != "" {
			select {
			case <-ss.ready:
			case <-uctx.Done():
				return
			}
			var err error
			if files, err = searchRoots(uctx, ss.idxs, ss.roots, query); err != nil {
				return
			}
		}
		// The response to sessionUpdate is queued when the handler
		// returns; give it a moment so that it goes out before the
		// notifications, as the reference's (slower) search does.
		var at time.Time
		select {
		case at = <-answered:
		case <-uctx.Done():
			return
		}
		if d := time.Until(at.Add(answerLead)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-uctx.Done():
				t.Stop()
				return
			}
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if ss.stopped || ss.gen != gen || uctx.Err() != nil {
			return
		}
		if err := ss.sess.Notify(NotifySessionUpdated, SessionUpdated{SessionID: ss.id, Query: query, Files: files}); err != nil {
			return
		}
		_ = ss.sess.Notify(NotifySessionCompleted, SessionCompleted{SessionID: ss.id})
	}()
	return empty{}, nil
}

// answerLead is how long after a sessionUpdate handler returns its
// notifications may go out.
const answerLead = time.Millisecond

func (s *Service) lookup(sess *appserver.Session, id string) *searchSession {
	st := s.conn(sess)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sessions[id]
}

// sessionStop ends a session; an unknown id is not an error, as on the
// reference.
func (s *Service) sessionStop(ctx context.Context, sess *appserver.Session, p sessionStopParams) (empty, error) {
	st := s.conn(sess)
	st.mu.Lock()
	ss := st.sessions[*p.SessionID]
	delete(st.sessions, *p.SessionID)
	st.mu.Unlock()
	if ss != nil {
		ss.stop()
	}
	return empty{}, nil
}

// serviceStats are counts for tests.
type serviceStats struct {
	CachedRoots int
	Connections int
}

func (s *Service) stats() serviceStats {
	s.cache.mu.Lock()
	n := len(s.cache.entries)
	s.cache.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return serviceStats{CachedRoots: n, Connections: len(s.conns)}
}
