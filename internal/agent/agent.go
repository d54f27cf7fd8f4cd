// Package agent runs threads and turns: conversations with a model that
// speaks the OpenAI Responses API, whose shell tool runs commands through
// the workspace sandbox, with approvals asked of the client and history
// persisted in a threadstore.
//
// A thread is loaded (in memory, with subscribers and maybe a running turn)
// or stored only. Turn and item notifications go to the connections
// subscribed to the thread (those that started, resumed or forked it);
// thread/status/changed, thread/started, thread/name/updated and
// thread/closed go to every initialized connection, as on the reference.
//
// Durability: an item is appended to the store (fsynced) before its
// item/completed is sent, so anything a client saw completed survives a
// crash.
package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/responses"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/internal/threadstore"
)

// Options configure the engine.
type Options struct {
	// Store persists threads; required.
	Store *threadstore.Store
	// Config is the effective configuration (model, provider, approval
	// policy, sandbox mode).
	Config *config.Config
	// APIKey returns the key to send to provider p ("" for none).
	APIKey func(p config.Provider) string
	// Guard confines thread working directories, when it has roots.
	Guard *pathguard.Guard
	// Helper and Support run shell commands in the sandbox (see
	// internal/sandbox).
	Helper  string
	Support sandbox.Support
	// Isolation, if set, hides the server's private files from sandboxed
	// commands.
	Isolation *sandbox.Isolation
	// Env returns the base environment of commands; nil means os.Environ.
	Env func() []string
	// Cwd is the working directory of threads that name none.
	Cwd string
	// Version is reported as the thread's cliVersion.
	Version string
	// UnloadAfter is how long a loaded thread without subscribers or a
	// running turn stays in memory; zero means 10 minutes.
	UnloadAfter time.Duration
	// CommandTimeout bounds a shell tool call that sets none; zero means
	// 10 s, the reference's default.
	CommandTimeout time.Duration
	Logger         *slog.Logger
	// HTTPClient, if set, is used for the model provider.
	newClient func(baseURL, key string) *responses.Client
}

// Engine owns the loaded threads.
type Engine struct {
	opts   Options
	srv    *appserver.Server
	store  *threadstore.Store
	logger *slog.Logger

	mu     sync.Mutex
	loaded map[string]*thread
	// subs maps a session to the threads it is subscribed to, for cleanup.
	subs map[*appserver.Session]map[string]bool
	// closed is set by Shutdown: no unload timer is armed after it.
	closed bool
}

// Register adds the thread and turn methods to srv.
func Register(srv *appserver.Server, opts Options) *Engine {
	if opts.Env == nil {
		opts.Env = os.Environ
	}
	if opts.Cwd == "" {
		opts.Cwd, _ = os.Getwd()
	}
	if opts.UnloadAfter <= 0 {
		opts.UnloadAfter = 10 * time.Minute
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.APIKey == nil {
		opts.APIKey = func(config.Provider) string { return "" }
	}
	if opts.newClient == nil {
		opts.newClient = func(baseURL, key string) *responses.Client {
			return &responses.Client{BaseURL: baseURL, APIKey: key}
		}
	}
	e := &Engine{
		opts: opts, srv: srv, store: opts.Store, logger: opts.Logger,
		loaded: make(map[string]*thread),
		subs:   make(map[*appserver.Session]map[string]bool),
	}
	e.registerMethods(srv)
	return e
}

// thread is a loaded thread. Its fields are guarded by mu, except those
// set once at load.
type thread struct {
	e  *Engine
	id string

	mu           sync.Mutex
	meta         threadstore.Meta
	materialized bool // persisted: meta in the store, records appended
	settings     settings
	subscribers  map[*appserver.Session]bool
	turns        []*turnRecord
	history      []responses.Item // the model's view of the conversation
	usage        tokenUsage       // totals over the thread
	active       *turnRun
	approvals    map[int64]*approval // pending, by request id
	approved     map[string]bool     // commands accepted for the session
	unloadTimer  *time.Timer
	itemCounter  int
}

// settings are the thread's effective model and policies.
type settings struct {
	Model          string         `json:"model"`
	ModelProvider  string         `json:"modelProvider"`
	ApprovalPolicy string         `json:"approvalPolicy"`
	Sandbox        sandbox.Policy `json:"-"`
	SandboxRaw     json.RawMessage
	Cwd            string `json:"cwd"`
	Instructions   string `json:"instructions,omitempty"`
}

// turnRecord is a turn as the thread remembers it.
type turnRecord struct {
	ID          string
	Status      string
	Error       *turnError
	StartedAt   int64 // seconds
	CompletedAt int64
	DurationMs  int64
	Items       []itemRecord
	Source      string // "agent" turns from turn/start, "userShell" from thread/shellCommand
}

type itemRecord struct {
	Item          json.RawMessage
	StartedAtMs   int64
	CompletedAtMs int64
}

func (tr *turnRecord) json(itemsView string) turnJSON {
	t := turnJSON{ID: tr.ID, RootTurnID: tr.ID, Items: []json.RawMessage{}, ItemsView: itemsView, Status: tr.Status, Error: tr.Error}
	if tr.StartedAt != 0 {
		t.StartedAt = ptr(tr.StartedAt)
	}
	if tr.Status != "inProgress" {
		t.CompletedAt, t.DurationMs = ptr(tr.CompletedAt), ptr(tr.DurationMs)
	}
	switch itemsView {
	case "full":
		for _, it := range tr.Items {
			t.Items = append(t.Items, it.Item)
		}
	case "summary":
		// The reference's summary in thread/turns/list: what was said,
		// the user's messages and the agent's.
		for _, it := range tr.Items {
			if typ := itemType(it.Item); typ == "userMessage" || typ == "agentMessage" {
				t.Items = append(t.Items, it.Item)
			}
		}
	case "completed":
		// turn/completed's summary carries the agent's messages only (the
		// client already has the user's).
		t.ItemsView = "summary"
		for _, it := range tr.Items {
			if itemType(it.Item) == "agentMessage" {
				t.Items = append(t.Items, it.Item)
			}
		}
	}
	return t
}

func itemType(raw json.RawMessage) string {
	var v struct{ Type string }
	_ = json.Unmarshal(raw, &v)
	return v.Type
}

// Persisted records, one JSON object per store record.
type record struct {
	Kind string `json:"kind"` // "settings", "turn", "item", "turnEnd"
	// settings
	Settings *settings `json:"settings,omitempty"`
	// turn, item, turnEnd
	TurnID    string `json:"turnId,omitempty"`
	Source    string `json:"source,omitempty"`
	StartedAt int64  `json:"startedAt,omitempty"`
	// item
	Item          json.RawMessage  `json:"item,omitempty"`
	StartedAtMs   int64            `json:"startedAtMs,omitempty"`
	CompletedAtMs int64            `json:"completedAtMs,omitempty"`
	History       []responses.Item `json:"history,omitempty"`
	// turnEnd
	Status      string      `json:"status,omitempty"`
	Error       *turnError  `json:"error,omitempty"`
	CompletedAt int64       `json:"completedAt,omitempty"`
	DurationMs  int64       `json:"durationMs,omitempty"`
	Usage       *tokenUsage `json:"usage,omitempty"`
}

// ErrThreadNotFound reports a thread id with nothing stored.
var errThreadNotFound = errors.New("thread not found")

// loadThread returns the loaded thread id, loading it from the store first
// if needed.
func (e *Engine) loadThread(id string) (*thread, error) {
	e.mu.Lock()
	if t, ok := e.loaded[id]; ok {
		e.mu.Unlock()
		return t, nil
	}
	e.mu.Unlock()
	meta, ok := e.store.Get(id)
	if !ok {
		return nil, errThreadNotFound
	}
	t := &thread{e: e, id: id, meta: meta, materialized: true, subscribers: map[*appserver.Session]bool{},
		approvals: map[int64]*approval{}, approved: map[string]bool{}}
	t.settings = e.defaultSettings(meta.Cwd)
	t.settings.Model, t.settings.ModelProvider = meta.Model, meta.ModelProvider
	err := e.store.Records(id, 0, func(seq uint64, raw []byte) error {
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("thread %s record %d: %w", id, seq, err)
		}
		t.replay(&r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Nothing runs in a thread that was not loaded: a turn still in
	// progress in the store was cut by a crash.
	t.finishInterrupted()
	e.mu.Lock()
	defer e.mu.Unlock()
	if other, ok := e.loaded[id]; ok {
		return other, nil // loaded concurrently
	}
	e.loaded[id] = t
	return t, nil
}

// replay applies a stored record while loading.
func (t *thread) replay(r *record) {
	switch r.Kind {
	case "settings":
		if r.Settings != nil {
			s := *r.Settings
			if p, err := sandbox.ParsePolicy(s.SandboxRaw); err == nil {
				s.Sandbox = p
			} else {
				s.Sandbox = t.settings.Sandbox
			}
			t.settings = s
		}
	case "turn":
		t.turns = append(t.turns, &turnRecord{ID: r.TurnID, Status: "inProgress", StartedAt: r.StartedAt, Source: r.Source})
	case "item":
		if tr := t.turn(r.TurnID); tr != nil {
			tr.Items = append(tr.Items, itemRecord{Item: r.Item, StartedAtMs: r.StartedAtMs, CompletedAtMs: r.CompletedAtMs})
		}
		t.history = append(t.history, r.History...)
	case "turnEnd":
		if tr := t.turn(r.TurnID); tr != nil {
			tr.Status, tr.Error, tr.CompletedAt, tr.DurationMs = r.Status, r.Error, r.CompletedAt, r.DurationMs
		}
		if r.Usage != nil {
			t.usage.add(*r.Usage)
		}
	}
}

func (t *thread) turn(id string) *turnRecord {
	for i := len(t.turns) - 1; i >= 0; i-- {
		if t.turns[i].ID == id {
			return t.turns[i]
		}
	}
	return nil
}

// finishInterrupted marks turns a crash left in progress as interrupted.
func (t *thread) finishInterrupted() {
	for _, tr := range t.turns {
		if tr.Status == "inProgress" && (t.active == nil || t.active.id != tr.ID) {
			tr.Status = "interrupted"
			tr.CompletedAt = tr.StartedAt
		}
	}
}

// defaultSettings are a new thread's settings from the configuration.
func (e *Engine) defaultSettings(cwd string) settings {
	c := e.opts.Config
	s := settings{Model: c.Model, ModelProvider: c.ModelProvider, ApprovalPolicy: c.ApprovalPolicy, Cwd: cwd}
	s.Sandbox = policyForMode(c, c.SandboxMode, cwd)
	s.SandboxRaw = mustJSON(s.Sandbox)
	return s
}

// policyForMode turns a sandbox mode ("read-only", …) into a policy.
func policyForMode(c *config.Config, mode, cwd string) sandbox.Policy {
	switch mode {
	case "workspace-write":
		roots := append([]string{cwd}, c.SandboxWorkspaceWrite.WritableRoots...)
		return sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: roots, NetworkAccess: c.SandboxWorkspaceWrite.NetworkAccess}
	case "danger-full-access":
		return sandbox.Policy{Kind: sandbox.DangerFullAccess}
	}
	return sandbox.Policy{Kind: sandbox.ReadOnly}
}

// persist appends records for a materialized thread. Errors are logged:
// the turn goes on, but the client is told through the error it gets from
// the next store call.
func (t *thread) persist(recs ...record) error {
	if !t.materialized || t.meta.Ephemeral {
		return nil
	}
	raws := make([][]byte, len(recs))
	for i := range recs {
		raws[i] = mustJSON(recs[i])
	}
	if _, err := t.e.store.Append(t.id, raws...); err != nil {
		t.e.logger.Error("persisting thread history", "thread", t.id, "err", err)
		return err
	}
	return nil
}

// materialize writes the thread's metadata on its first turn; until then
// it exists only in memory, as on the reference.
func (t *thread) materialize() error {
	if t.materialized || t.meta.Ephemeral {
		return nil
	}
	if err := t.e.store.Put(t.meta); err != nil {
		return err
	}
	t.materialized = true
	return t.persist(record{Kind: "settings", Settings: &t.settings})
}

// touch updates the stored times after activity.
func (t *thread) touch(preview string) {
	now := time.Now()
	t.meta.UpdatedAt, t.meta.RecencyAt = now, now
	if preview != "" && t.meta.Preview == "" {
		t.meta.Preview = preview
	}
	if t.materialized && !t.meta.Ephemeral {
		meta := t.meta
		if err := t.e.store.Update(t.id, func(m *threadstore.Meta) error {
			m.UpdatedAt, m.RecencyAt, m.Preview = meta.UpdatedAt, meta.RecencyAt, meta.Preview
			return nil
		}); err != nil {
			t.e.logger.Error("updating thread metadata", "thread", t.id, "err", err)
		}
	}
}

// json builds the protocol's Thread for this loaded thread.
func (t *thread) json(includeTurns bool) threadJSON {
	j := t.e.threadJSON(t.meta, t.status(), true)
	j.Cwd = t.settings.Cwd
	j.Model, j.ModelProvider = t.settings.Model, t.settings.ModelProvider
	if includeTurns {
		for _, tr := range t.turns {
			j.Turns = append(j.Turns, tr.json("full"))
		}
	}
	return j
}

// status is the thread's current ThreadStatus.
func (t *thread) status() threadStatus {
	if t.active == nil {
		return statusIdle()
	}
	return statusActive(len(t.approvals) > 0)
}

// threadJSON builds a Thread from stored metadata.
func (e *Engine) threadJSON(m threadstore.Meta, st threadStatus, loaded bool) threadJSON {
	j := threadJSON{
		ID: m.ID, SessionID: m.ID, CliVersion: e.opts.Version,
		CreatedAt: m.CreatedAt.Unix(), UpdatedAt: m.UpdatedAt.Unix(), RecencyAt: m.RecencyAt.Unix(),
		Cwd: m.Cwd, Ephemeral: m.Ephemeral, Extra: jsonNull, GitInfo: jsonNull, HistoryMode: "paginated",
		Model: m.Model, ModelProvider: m.ModelProvider, Name: m.Name, Originator: "appserver",
		Preview: m.Preview, Section: jsonNull, Source: m.Source, Status: st, Turns: []turnJSON{},
	}
	if m.ForkedFromID != "" {
		j.ForkedFromID = ptr(m.ForkedFromID)
	}
	if loaded {
		j.CanAcceptDirectInput = ptr(true)
		j.Environments = []environment{{Cwd: m.Cwd, EnvironmentID: "local", RuntimeWorkspaceRoots: []string{m.Cwd}}}
	}
	return j
}

// notify sends a notification to the thread's subscribers.
func (t *thread) notify(method string, params any) {
	t.mu.Lock()
	subs := make([]*appserver.Session, 0, len(t.subscribers))
	for s := range t.subscribers {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	msg, err := json.Marshal(params)
	if err != nil {
		return
	}
	for _, s := range subs {
		_ = s.Notify(method, json.RawMessage(msg))
	}
}

// broadcastStatus announces the thread's status to every connection.
func (t *thread) broadcastStatus() {
	t.mu.Lock()
	st := t.status()
	t.mu.Unlock()
	_ = t.e.srv.Broadcast("thread/status/changed", map[string]any{"threadId": t.id, "status": st})
}

// subscribe adds s to the thread's subscribers. It reports false when t
// is no longer the loaded thread (an unload won the race): the caller
// loads it again.
func (e *Engine) subscribe(t *thread, s *appserver.Session) bool {
	e.mu.Lock()
	if e.loaded[t.id] != t {
		e.mu.Unlock()
		return false
	}
	t.mu.Lock()
	t.subscribers[s] = true
	if t.unloadTimer != nil {
		t.unloadTimer.Stop()
		t.unloadTimer = nil
	}
	t.mu.Unlock()
	m, ok := e.subs[s]
	if !ok {
		m = map[string]bool{}
		e.subs[s] = m
	}
	m[t.id] = true
	e.mu.Unlock()
	if !ok {
		s.AfterClose(func() { e.dropSession(s) })
	}
	return true
}

// unsubscribe removes s; the thread may then be unloaded after a while.
func (e *Engine) unsubscribe(t *thread, s *appserver.Session) bool {
	t.mu.Lock()
	was := t.subscribers[s]
	delete(t.subscribers, s)
	t.mu.Unlock()
	e.mu.Lock()
	if m := e.subs[s]; m != nil {
		delete(m, t.id)
	}
	e.mu.Unlock()
	e.maybeUnload(t)
	return was
}

// dropSession forgets a closed connection's subscriptions. Its unanswered
// approvals stay pending, to be replayed to the next subscriber.
func (e *Engine) dropSession(s *appserver.Session) {
	e.mu.Lock()
	ids := e.subs[s]
	delete(e.subs, s)
	var threads []*thread
	for id := range ids {
		if t := e.loaded[id]; t != nil {
			threads = append(threads, t)
		}
	}
	e.mu.Unlock()
	for _, t := range threads {
		t.mu.Lock()
		delete(t.subscribers, s)
		t.mu.Unlock()
		e.maybeUnload(t)
	}
}

// maybeUnload schedules unloading of a thread nobody watches.
func (e *Engine) maybeUnload(t *thread) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if closed || len(t.subscribers) > 0 || t.active != nil || t.unloadTimer != nil {
		return
	}
	t.unloadTimer = time.AfterFunc(e.opts.UnloadAfter, func() { e.unload(t) })
}

func (e *Engine) unload(t *thread) {
	// Both locks, engine first: a subscribe either happens before (and
	// keeps the thread) or finds it gone and loads it afresh.
	e.mu.Lock()
	t.mu.Lock()
	t.unloadTimer = nil
	removed := len(t.subscribers) == 0 && t.active == nil && e.loaded[t.id] == t
	if removed {
		delete(e.loaded, t.id)
	}
	t.mu.Unlock()
	e.mu.Unlock()
	if !removed {
		return // already gone (archived, deleted): nothing to announce
	}
	_ = e.srv.Broadcast("thread/status/changed", map[string]any{"threadId": t.id, "status": statusNotLoaded()})
	_ = e.srv.Broadcast("thread/closed", map[string]any{"threadId": t.id})
}

// loadedIDs returns the loaded thread ids, sorted.
func (e *Engine) loadedIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.loaded))
	for id := range e.loaded {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Shutdown interrupts running turns and cancels pending unloads; the
// server is closing.
func (e *Engine) Shutdown() {
	e.mu.Lock()
	e.closed = true
	var runs []*turnRun
	for _, t := range e.loaded {
		t.mu.Lock()
		if t.active != nil {
			runs = append(runs, t.active)
		}
		// A pending unload timer holds the thread, and through it the
		// engine, until it fires (UnloadAfter, minutes): an embedder that
		// shuts an engine down expects its memory back now.
		if t.unloadTimer != nil {
			t.unloadTimer.Stop()
			t.unloadTimer = nil
		}
		t.mu.Unlock()
	}
	e.mu.Unlock()
	for _, r := range runs {
		r.cancel(errShutdown)
	}
	for _, r := range runs {
		<-r.done
	}
}

var errShutdown = errors.New("server shutting down")

// previewOf is a thread preview: the first user message, trimmed.
func previewOf(text string) string {
	text = strings.TrimSpace(text)
	if len(text) > 200 {
		text = text[:200]
	}
	return text
}

// client returns the model provider's client.
func (e *Engine) client(provider string) (*responses.Client, error) {
	p, ok := e.opts.Config.ModelProviders[provider]
	if !ok {
		return nil, fmt.Errorf("model provider %q is not configured", provider)
	}
	c := e.opts.newClient(p.BaseURL, e.opts.APIKey(p))
	if len(p.HTTPHeaders) > 0 {
		c.Header = make(map[string][]string)
		for k, v := range p.HTTPHeaders {
			c.Header.Set(k, v)
		}
	}
	return c, nil
}
