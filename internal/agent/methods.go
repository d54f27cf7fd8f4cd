package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/internal/threadstore"
	"github.com/appserver-go/appserver/jsonrpc"
)

func (e *Engine) registerMethods(srv *appserver.Server) {
	add := func(name string, h appserver.Handler) {
		srv.AddMethod(appserver.Method{Name: name, Handler: h})
	}
	add("thread/start", e.threadStart)
	add("thread/resume", e.threadResume)
	add("thread/read", e.threadRead)
	add("thread/list", e.threadList)
	srv.AddMethod(appserver.Method{Name: "thread/loaded/list", ParamsOptional: true, Handler: e.threadLoadedList})
	add("thread/turns/list", e.threadTurnsList)
	add("thread/items/list", e.threadItemsList)
	add("thread/unsubscribe", e.threadUnsubscribe)
	add("thread/archive", e.threadArchive)
	add("thread/unarchive", e.threadUnarchive)
	add("thread/delete", e.threadDelete)
	add("thread/name/set", e.threadNameSet)
	add("thread/fork", e.threadFork)
	add("thread/shellCommand", e.threadShellCommand)
	add("turn/start", e.turnStart)
	add("turn/interrupt", e.turnInterrupt)
}

func invalid(format string, args ...any) *jsonrpc.Error {
	return jsonrpc.Errorf(jsonrpc.CodeInvalidRequest, format, args...)
}

type threadIDParams struct {
	ThreadID *string `json:"threadId"`
}

func (p *threadIDParams) Validate() error {
	if p.ThreadID == nil {
		return appserver.MissingField("threadId")
	}
	return nil
}

// settingsParams are the optional overrides thread/start, thread/resume
// and turn/start accept.
type settingsParams struct {
	Cwd            *string         `json:"cwd"`
	Model          *string         `json:"model"`
	ModelProvider  *string         `json:"modelProvider"`
	ApprovalPolicy *string         `json:"approvalPolicy"`
	Sandbox        *string         `json:"sandbox"`       // thread/start: "read-only", …
	SandboxPolicy  json.RawMessage `json:"sandboxPolicy"` // turn/start: a SandboxPolicy
}

// apply updates s with the given overrides.
func (e *Engine) apply(s *settings, p settingsParams, newThread bool) error {
	if p.Cwd != nil && *p.Cwd != "" {
		cwd := *p.Cwd
		if !filepath.IsAbs(cwd) {
			cwd = filepath.Join(e.opts.Cwd, cwd)
		}
		checked, err := e.opts.Guard.Check(cwd)
		if err != nil {
			return appserver.InvalidRequest(err.Error())
		}
		s.Cwd = checked
	}
	if p.Model != nil && *p.Model != "" {
		s.Model = *p.Model
	}
	if p.ModelProvider != nil && *p.ModelProvider != "" {
		if _, ok := e.opts.Config.ModelProviders[*p.ModelProvider]; !ok {
			return invalid("model provider %q is not configured", *p.ModelProvider)
		}
		s.ModelProvider = *p.ModelProvider
	}
	if p.ApprovalPolicy != nil {
		switch *p.ApprovalPolicy {
		case "on-request", "on-failure", "never":
			s.ApprovalPolicy = *p.ApprovalPolicy
		case "untrusted":
			s.ApprovalPolicy = "on-request"
		default:
			return invalid("unknown approval policy %q", *p.ApprovalPolicy)
		}
	}
	switch {
	case p.Sandbox != nil:
		switch *p.Sandbox {
		case "read-only", "workspace-write", "danger-full-access":
			s.Sandbox = policyForMode(e.opts.Config, *p.Sandbox, s.Cwd)
		default:
			return invalid("unknown sandbox mode %q", *p.Sandbox)
		}
	case !jsonrpc.IsNull(p.SandboxPolicy):
		pol, err := sandbox.ParsePolicy(p.SandboxPolicy)
		if err != nil {
			return appserver.InvalidRequest(err.Error())
		}
		s.Sandbox = pol
	case newThread || p.Cwd != nil:
		// Keep the policy's writable root on the thread's directory.
		if s.Sandbox.Kind == sandbox.WorkspaceWrite && len(s.Sandbox.WritableRoots) > 0 {
			s.Sandbox.WritableRoots[0] = s.Cwd
		}
	}
	if e.opts.Guard.Confined() {
		if s.Sandbox.Kind == sandbox.DangerFullAccess {
			return invalid("dangerFullAccess is not allowed: this server is confined to its workspace roots")
		}
		// As command/exec: a policy may not make writable what lies
		// outside the roots.
		for _, r := range s.Sandbox.WritableRoots {
			if _, err := e.opts.Guard.Check(r); err != nil {
				return invalid("writable root %s: %v", r, err)
			}
		}
	}
	if err := s.Sandbox.Check(e.opts.Support); err != nil {
		return invalid("%v", err)
	}
	s.SandboxRaw = mustJSON(s.Sandbox)
	return nil
}

// sessionResponse is what thread/start, thread/resume and thread/fork
// answer: the thread and its effective settings.
func (e *Engine) sessionResponse(t *thread, includeTurns bool) map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.settings
	resp := map[string]any{
		"thread": t.json(includeTurns), "model": s.Model, "modelProvider": s.ModelProvider, "serviceTier": nil,
		"disabledPluginIds": []string{}, "cwd": s.Cwd, "runtimeWorkspaceRoots": []string{s.Cwd}, "instructionSources": []string{},
		"approvalPolicy": s.ApprovalPolicy, "approvalsReviewer": "user", "sandbox": json.RawMessage(s.SandboxRaw),
		"activePermissionProfile": nil, "reasoningEffort": nil, "multiAgentMode": "explicitRequestOnly",
	}
	if t.materialized {
		resp["turnsBackwardsCursor"] = cursorFor(t.id, "turns", len(t.turns))
		resp["itemsBackwardsCursor"] = cursorFor(t.id, "items", countItems(t.turns))
	}
	return resp
}

type threadStartParams struct {
	settingsParams
	Ephemeral *bool `json:"ephemeral"`
}

func (e *Engine) threadStart(ctx context.Context, req *appserver.Request) (any, error) {
	var p threadStartParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	s := e.defaultSettings(e.opts.Cwd)
	if err := e.apply(&s, p.settingsParams, true); err != nil {
		return nil, err
	}
	now := time.Now()
	id := newID()
	t := &thread{e: e, id: id, settings: s, subscribers: map[*appserver.Session]bool{},
		approvals: map[int64]*approval{}, approved: map[string]bool{}}
	t.meta = threadstore.Meta{ID: id, CreatedAt: now, UpdatedAt: now, RecencyAt: now, Cwd: s.Cwd,
		Model: s.Model, ModelProvider: s.ModelProvider, Source: "vscode", Ephemeral: p.Ephemeral != nil && *p.Ephemeral}
	e.mu.Lock()
	e.loaded[id] = t
	e.mu.Unlock()
	e.subscribe(t, req.Session)
	resp := e.sessionResponse(t, false)
	return appserver.AfterReply(resp, func() {
		_ = e.srv.Broadcast("thread/started", map[string]any{"thread": resp["thread"]})
	}), nil
}

// loadedOrStored loads a thread for a method that needs it, with the
// reference's error texts.
func (e *Engine) loadedOrStored(id string) (*thread, error) {
	t, err := e.loadThread(id)
	if errors.Is(err, errThreadNotFound) {
		return nil, invalid("no rollout found for thread id %s", id)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

type threadResumeParams struct {
	threadIDParams
	settingsParams
	ExcludeTurns bool `json:"excludeTurns"`
}

func (e *Engine) threadResume(ctx context.Context, req *appserver.Request) (any, error) {
	var p threadResumeParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	t, err := e.subscribeWith(req.Session, p.settingsParams, func() (*thread, error) { return e.loadedOrStored(*p.ThreadID) })
	if err != nil {
		return nil, err
	}
	resp := e.sessionResponse(t, !p.ExcludeTurns)
	sess := req.Session
	return appserver.AfterReply(resp, func() { t.replayApprovals(sess) }), nil
}

// subscribeWith loads a thread, applies a request's settings overrides to
// it (persisting a change) and subscribes s. If an unload removes the
// thread between loading and subscribing, it loads it again, so the
// caller never works on a thread object that is no longer loaded.
func (e *Engine) subscribeWith(s *appserver.Session, p settingsParams, load func() (*thread, error)) (*thread, error) {
	for {
		t, err := load()
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.finishInterrupted()
		st := t.settings
		t.mu.Unlock()
		if err := e.apply(&st, p, false); err != nil {
			return nil, err
		}
		if !e.subscribe(t, s) {
			continue
		}
		t.mu.Lock()
		changed := !jsonEqual(mustJSON(st), mustJSON(t.settings)) || string(st.SandboxRaw) != string(t.settings.SandboxRaw)
		t.settings = st
		if changed {
			_ = t.persist(record{Kind: "settings", Settings: &st})
		}
		t.mu.Unlock()
		return t, nil
	}
}

func jsonEqual(a, b json.RawMessage) bool { return string(a) == string(b) }

type threadReadParams struct {
	threadIDParams
	IncludeTurns bool `json:"includeTurns"`
}

func (e *Engine) threadRead(ctx context.Context, req *appserver.Request) (any, error) {
	var p threadReadParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	e.mu.Lock()
	t := e.loaded[*p.ThreadID]
	e.mu.Unlock()
	if t == nil && p.IncludeTurns {
		var err error
		if t, err = e.loadedOrStored(*p.ThreadID); err != nil {
			return nil, err
		}
		defer e.maybeUnload(t)
	}
	readState := map[string]any{"firstUnread": nil, "revision": "initial:" + *p.ThreadID}
	if t != nil {
		t.mu.Lock()
		j := t.json(p.IncludeTurns)
		t.mu.Unlock()
		return map[string]any{"thread": j, "readState": readState}, nil
	}
	m, ok := e.store.Get(*p.ThreadID)
	if !ok {
		return nil, invalid("thread not loaded: %s", *p.ThreadID)
	}
	return map[string]any{"thread": e.threadJSON(m, statusNotLoaded(), false), "readState": readState}, nil
}

// interactiveSources are the source kinds thread/list selects when the
// client names none.
var interactiveSources = []string{"cli", "vscode"}

type threadListParams struct {
	Archived       *bool           `json:"archived"`
	Cwd            json.RawMessage `json:"cwd"`
	ModelProviders []string        `json:"modelProviders"`
	SourceKinds    []string        `json:"sourceKinds"`
	SearchTerm     *string         `json:"searchTerm"`
	SortKey        *string         `json:"sortKey"`
	SortDirection  *string         `json:"sortDirection"`
	Cursor         *string         `json:"cursor"`
	Limit          *int            `json:"limit"`
	SectionID      *string         `json:"sectionId"`
	Excluded       []string        `json:"excludedThreadIds"`
}

func (e *Engine) threadList(ctx context.Context, req *appserver.Request) (any, error) {
	var p threadListParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	empty := map[string]any{"data": []threadJSON{}, "nextCursor": nil, "backwardsCursor": nil, "readStates": map[string]any{}}
	if p.SectionID != nil && *p.SectionID != "" {
		return empty, nil // no sections (pins) here
	}
	q := threadstore.Query{ModelProviders: p.ModelProviders, Sources: p.SourceKinds, SortKey: "created_at"}
	if len(q.Sources) == 0 {
		// The schema: "When omitted or empty, defaults to interactive
		// sources."
		q.Sources = interactiveSources
	}
	if p.Archived != nil {
		q.Archived = *p.Archived
	}
	if !jsonrpc.IsNull(p.Cwd) {
		var one string
		var many []string
		if json.Unmarshal(p.Cwd, &one) == nil {
			q.Cwds = []string{one}
		} else if json.Unmarshal(p.Cwd, &many) == nil {
			q.Cwds = many
		}
	}
	if p.SearchTerm != nil {
		q.Search = *p.SearchTerm
	}
	if p.SortKey != nil {
		switch *p.SortKey {
		case "created_at", "updated_at", "recency_at":
			q.SortKey = *p.SortKey
		case "section_position":
			q.SortKey = "recency_at"
		default:
			return nil, invalid("unknown sort key %q", *p.SortKey)
		}
	}
	desc, err := sortDesc(p.SortDirection, true)
	if err != nil {
		return nil, err
	}
	q.Ascending = !desc
	if p.Cursor != nil {
		q.Cursor = *p.Cursor
	}
	if q.Limit, err = pageLimit(p.Limit); err != nil {
		return nil, err
	}
	if len(p.Excluded) > 0 {
		ex := map[string]bool{}
		for _, id := range p.Excluded {
			ex[id] = true
		}
		q.Filter = func(m *threadstore.Meta) bool { return !ex[m.ID] }
	}
	page, err := e.store.List(q)
	if errors.Is(err, threadstore.ErrBadCursor) {
		return nil, invalid("invalid cursor")
	}
	if err != nil {
		return nil, err
	}
	data := make([]threadJSON, 0, len(page.Items))
	for _, m := range page.Items {
		e.mu.Lock()
		t := e.loaded[m.ID]
		e.mu.Unlock()
		if t != nil {
			t.mu.Lock()
			j := t.json(false)
			t.mu.Unlock()
			data = append(data, j)
		} else {
			data = append(data, e.threadJSON(m, statusNotLoaded(), false))
		}
	}
	var next, back any
	if page.NextCursor != "" {
		next = page.NextCursor
	}
	if page.BackwardsCursor != "" {
		back = page.BackwardsCursor
	}
	return map[string]any{"data": data, "nextCursor": next, "backwardsCursor": back, "readStates": map[string]any{}}, nil
}

type loadedListParams struct {
	Cursor *string `json:"cursor"`
	Limit  *int    `json:"limit"`
}

// threadLoadedList pages through the loaded thread ids in sorted order.
// The cursor is the last id of the previous page, so a page continues
// after it even if that thread has been unloaded since. Without a limit
// (or with 0) the rest comes in one page, as the schema's "defaults to no
// limit" says.
func (e *Engine) threadLoadedList(ctx context.Context, req *appserver.Request) (any, error) {
	var p loadedListParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	ids := e.loadedIDs()
	start := 0
	if p.Cursor != nil && *p.Cursor != "" {
		i, found := slices.BinarySearch(ids, *p.Cursor)
		if found {
			i++
		}
		start = i
	}
	end := len(ids)
	if limit > 0 && start+limit < end {
		end = start + limit
	}
	page := ids[start:end]
	var next any
	if end < len(ids) {
		next = page[len(page)-1]
	}
	return map[string]any{"data": page, "nextCursor": next}, nil
}

func (e *Engine) threadUnsubscribe(ctx context.Context, req *appserver.Request) (any, error) {
	var p threadIDParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	e.mu.Lock()
	t := e.loaded[*p.ThreadID]
	e.mu.Unlock()
	if t == nil {
		return map[string]string{"status": "notLoaded"}, nil
	}
	if !e.unsubscribe(t, req.Session) {
		return map[string]string{"status": "notSubscribed"}, nil
	}
	return map[string]string{"status": "unsubscribed"}, nil
}

func (e *Engine) threadArchive(ctx context.Context, req *appserver.Request) (any, error) {
	return e.setArchived(req, true)
}

func (e *Engine) threadUnarchive(ctx context.Context, req *appserver.Request) (any, error) {
	return e.setArchived(req, false)
}

func (e *Engine) setArchived(req *appserver.Request, archived bool) (any, error) {
	var p threadIDParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	id := *p.ThreadID
	err := e.store.Update(id, func(m *threadstore.Meta) error {
		m.Archived = archived
		return nil
	})
	if err != nil {
		return nil, storeError(err, id)
	}
	if archived {
		// The reference shuts an archived thread down: it is no longer
		// loaded, as the thread/status/changed below says.
		e.unloadNow(id)
		return appserver.AfterReply(struct{}{}, func() {
			_ = e.srv.Broadcast("thread/status/changed", map[string]any{"threadId": id, "status": statusNotLoaded()})
			_ = e.srv.Broadcast("thread/archived", map[string]any{"threadId": id})
		}), nil
	}
	var j threadJSON
	e.mu.Lock()
	t := e.loaded[id]
	e.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		t.meta.Archived = false
		j = t.json(false)
		t.mu.Unlock()
	} else {
		m, _ := e.store.Get(id)
		j = e.threadJSON(m, statusNotLoaded(), false)
	}
	return appserver.AfterReply(map[string]any{"thread": j}, func() {
		_ = e.srv.Broadcast("thread/unarchived", map[string]any{"threadId": id})
	}), nil
}

func (e *Engine) threadDelete(ctx context.Context, req *appserver.Request) (any, error) {
	var p threadIDParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	id := *p.ThreadID
	t := e.unloadNow(id)
	err := e.store.Delete(id)
	if errors.Is(err, threadstore.ErrNotFound) && t != nil {
		err = nil // loaded but never materialized
	}
	if err != nil {
		return nil, storeError(err, id)
	}
	return appserver.AfterReply(struct{}{}, func() {
		_ = e.srv.Broadcast("thread/deleted", map[string]any{"threadId": id})
	}), nil
}

type nameSetParams struct {
	threadIDParams
	Name *string `json:"name"`
}

func (e *Engine) threadNameSet(ctx context.Context, req *appserver.Request) (any, error) {
	var p nameSetParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	if p.Name == nil {
		return nil, appserver.MissingField("name")
	}
	id := *p.ThreadID
	name := strings.TrimSpace(*p.Name)
	var stored *string
	if name != "" {
		stored = &name
	}
	e.mu.Lock()
	t := e.loaded[id]
	e.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		t.meta.Name = stored
		mat := t.materialized
		t.mu.Unlock()
		if !mat {
			goto done
		}
	}
	if err := e.store.Update(id, func(m *threadstore.Meta) error { m.Name = stored; return nil }); err != nil {
		return nil, storeError(err, id)
	}
done:
	return appserver.AfterReply(struct{}{}, func() {
		_ = e.srv.Broadcast("thread/name/updated", map[string]any{"threadId": id, "threadName": stored})
	}), nil
}

type forkParams struct {
	threadIDParams
	settingsParams
	ExcludeTurns bool `json:"excludeTurns"`
}

func (e *Engine) threadFork(ctx context.Context, req *appserver.Request) (any, error) {
	var p forkParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	src, err := e.loadedOrStored(*p.ThreadID)
	if err != nil {
		return nil, err
	}
	// A source loaded from the store only for this is unloaded later, as
	// after thread/read.
	defer e.maybeUnload(src)
	src.mu.Lock()
	if src.active != nil {
		src.mu.Unlock()
		return nil, invalid("thread %s has a turn in progress; fork it when the turn ends", src.id)
	}
	s := src.settings
	meta := src.meta
	materialized := src.materialized
	var turns []*turnRecord
	for _, tr := range src.turns {
		c := *tr
		turns = append(turns, &c)
	}
	hist := append(src.history[:0:0], src.history...)
	usage := src.usage
	src.mu.Unlock()
	if err := e.apply(&s, p.settingsParams, false); err != nil {
		return nil, err
	}
	now := time.Now()
	id := newID()
	meta.ID, meta.CreatedAt, meta.UpdatedAt, meta.RecencyAt = id, now, now, now
	meta.ForkedFromID, meta.Archived, meta.Name = src.id, false, nil
	meta.Cwd, meta.Model, meta.ModelProvider = s.Cwd, s.Model, s.ModelProvider
	t := &thread{e: e, id: id, meta: meta, settings: s, subscribers: map[*appserver.Session]bool{},
		approvals: map[int64]*approval{}, approved: map[string]bool{}, turns: turns, history: hist, usage: usage}
	if materialized && !meta.Ephemeral {
		if err := e.store.Fork(src.id, meta, 0); err != nil {
			return nil, err
		}
		t.materialized = true
		t.mu.Lock()
		_ = t.persist(record{Kind: "settings", Settings: &s})
		t.mu.Unlock()
	}
	e.mu.Lock()
	e.loaded[id] = t
	e.mu.Unlock()
	e.subscribe(t, req.Session)
	resp := e.sessionResponse(t, !p.ExcludeTurns)
	return appserver.AfterReply(resp, func() {
		_ = e.srv.Broadcast("thread/started", map[string]any{"thread": resp["thread"]})
	}), nil
}

// storeError turns a store error about thread id into the reference's
// -32600 errors; other errors (I/O) stay internal ones.
func storeError(err error, id string) error {
	switch {
	case errors.Is(err, threadstore.ErrNotFound):
		return invalid("no rollout found for thread id %s", id)
	case errors.Is(err, threadstore.ErrInvalidID):
		return invalid("invalid thread id: %s", id)
	}
	return err
}

// unloadNow removes the loaded thread id at once, for thread/archive and
// thread/delete: its running turn is interrupted and awaited, and its
// subscribers are forgotten. It returns the thread, or nil if it was not
// loaded.
func (e *Engine) unloadNow(id string) *thread {
	e.mu.Lock()
	t := e.loaded[id]
	e.mu.Unlock()
	if t == nil {
		return nil
	}
	t.mu.Lock()
	run := t.active
	t.mu.Unlock()
	if run != nil {
		run.cancel(errInterrupted)
		<-run.done
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.loaded[id] == t {
		delete(e.loaded, id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range t.subscribers {
		if m := e.subs[s]; m != nil {
			delete(m, id)
		}
	}
	clear(t.subscribers)
	if t.unloadTimer != nil {
		t.unloadTimer.Stop()
		t.unloadTimer = nil
	}
	return t
}

// loadedThread returns a loaded thread or the reference's error.
func (e *Engine) loadedThread(id string) (*thread, error) {
	e.mu.Lock()
	t := e.loaded[id]
	e.mu.Unlock()
	if t == nil {
		// A stored thread is loaded on demand: clients may send turn/start
		// right after a restart.
		if _, ok := e.store.Get(id); ok {
			return e.loadThread(id)
		}
		return nil, invalid("thread not loaded: %s", id)
	}
	return t, nil
}

type turnStartParams struct {
	threadIDParams
	settingsParams
	Input               []json.RawMessage `json:"input"`
	ClientUserMessageID *string           `json:"clientUserMessageId"`
	// OutputSchema constrains this turn's final answer to a JSON schema
	// (the client's task-title side thread uses it).
	OutputSchema json.RawMessage `json:"outputSchema"`
}

func (e *Engine) turnStart(ctx context.Context, req *appserver.Request) (any, error) {
	var p turnStartParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	if p.Input == nil {
		return nil, appserver.MissingField("input")
	}
	schema := bytes.TrimSpace(p.OutputSchema)
	if string(schema) == "null" {
		schema = nil
	}
	if len(schema) > 0 && schema[0] != '{' {
		return nil, appserver.InvalidRequest("outputSchema: expected a JSON object")
	}
	var texts []string
	for _, raw := range p.Input {
		var in userInput
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, appserver.InvalidRequest("input: " + err.Error())
		}
		switch in.Type {
		case "text":
			texts = append(texts, in.Text)
		case "mention", "skill":
			var m struct{ Name, Path string }
			_ = json.Unmarshal(raw, &m)
			texts = append(texts, fmt.Sprintf("[%s: %s]", m.Name, m.Path))
		default:
			// Images and audio are kept in the item but not sent.
		}
	}
	t, err := e.subscribeWith(req.Session, p.settingsParams, func() (*thread, error) { return e.loadedThread(*p.ThreadID) })
	if err != nil {
		return nil, err
	}
	run, err := t.startTurn("agent")
	if err != nil {
		return nil, invalid("%v", err)
	}
	run.outputSchema = schema
	turn := turnJSON{ID: run.id, RootTurnID: run.id, Items: []json.RawMessage{}, ItemsView: "notLoaded", Status: "inProgress"}
	input, clientID := p.Input, p.ClientUserMessageID
	return appserver.AfterReply(map[string]any{"turn": turn}, func() {
		go run.runAgent(input, texts, clientID)
	}), nil
}

type interruptParams struct {
	threadIDParams
	TurnID *string `json:"turnId"`
}

func (e *Engine) turnInterrupt(ctx context.Context, req *appserver.Request) (any, error) {
	var p interruptParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	t, err := e.loadedThread(*p.ThreadID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	run := t.active
	t.mu.Unlock()
	if run == nil {
		return nil, invalid("thread %s has no turn in progress", t.id)
	}
	if p.TurnID != nil && *p.TurnID != run.id {
		return nil, invalid("expected active turn id %s but found %s", *p.TurnID, run.id)
	}
	run.cancel(errInterrupted)
	return struct{}{}, nil
}

type shellCommandParams struct {
	threadIDParams
	Command   *string `json:"command"`
	TimeoutMs *int64  `json:"timeoutMs"`
}

func (e *Engine) threadShellCommand(ctx context.Context, req *appserver.Request) (any, error) {
	var p shellCommandParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	if p.Command == nil || strings.TrimSpace(*p.Command) == "" {
		return nil, invalid("command must not be empty")
	}
	t, err := e.subscribeWith(req.Session, settingsParams{}, func() (*thread, error) { return e.loadedThread(*p.ThreadID) })
	if err != nil {
		return nil, err
	}
	run, err := t.startTurn("userShell")
	if err != nil {
		return nil, invalid("%v", err)
	}
	var timeout int64
	if p.TimeoutMs != nil {
		timeout = *p.TimeoutMs
	}
	cmd := *p.Command
	return appserver.AfterReply(struct{}{}, func() { go run.runUserShell(cmd, timeout) }), nil
}
