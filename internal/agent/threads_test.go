package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/responses/responsestest"
	"github.com/appserver-go/appserver/internal/threadstore"
	"github.com/appserver-go/appserver/jsonrpc"
)

// Tests of the thread/* methods against PROTOCOL.md and the schema. The
// helpers here are prefixed th so they cannot clash with other test files
// of the package.

// thJSON marshals v for a params argument.
func thJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// thIDs returns the ids of a result's data: Thread objects, Turn objects
// or, for thread/loaded/list, strings.
func thIDs(r json.RawMessage) []string {
	ids := []string{}
	data, _ := field(r, "data").([]any)
	for _, d := range data {
		switch d := d.(type) {
		case string:
			ids = append(ids, d)
		case map[string]any:
			ids = append(ids, d["id"].(string))
		}
	}
	return ids
}

// thWantErr calls method and checks that it fails with -32600 (the code
// the reference uses for bad params and unknown threads, PROTOCOL.md §1.4)
// and a message containing want.
func thWantErr(c *client, method, params, want string) {
	c.t.Helper()
	c.next++
	id := c.next
	c.send(fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, params))
	var err *jsonrpc.Error
	for err == nil {
		r, ok := c.recv().(*jsonrpc.Response)
		if !ok || r.ID != jsonrpc.Int64ID(id) {
			continue
		}
		if r.Error == nil {
			res := string(r.Result)
			if len(res) > 200 {
				res = res[:200] + "…"
			}
			c.t.Errorf("%s %s answered %s, want an error containing %q", method, params, res, want)
			return
		}
		err = r.Error
	}
	if err.Code != jsonrpc.CodeInvalidRequest || !strings.Contains(err.Message, want) {
		c.t.Errorf("%s %s: error %d %q, want -32600 containing %q", method, params, err.Code, err.Message, want)
	}
}

// thCallSeen is client.call that also returns the notifications that
// arrived before the response.
func thCallSeen(c *client, method, params string) (json.RawMessage, []*jsonrpc.Request) {
	c.t.Helper()
	c.next++
	id := c.next
	c.send(fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, params))
	var seen []*jsonrpc.Request
	for {
		switch m := c.recv().(type) {
		case *jsonrpc.Response:
			if m.ID == jsonrpc.Int64ID(id) {
				if m.Error != nil {
					c.t.Fatalf("%s: %v", method, m.Error)
				}
				return m.Result, seen
			}
		case *jsonrpc.Request:
			seen = append(seen, m)
		}
	}
}

// thUntil reads notifications up to and including the first method about
// threadID, and returns them all.
func thUntil(c *client, method, threadID string) []*jsonrpc.Request {
	c.t.Helper()
	var seen []*jsonrpc.Request
	for {
		req, ok := c.recv().(*jsonrpc.Request)
		if !ok {
			continue
		}
		seen = append(seen, req)
		if req.Method == method && field(req.Params, "threadId") == threadID {
			return seen
		}
	}
}

// thAbout reports whether notes hold method about threadID (with status
// type status, for thread/status/changed, when status is not "").
func thAbout(notes []*jsonrpc.Request, method, threadID, status string) bool {
	for _, n := range notes {
		if n.Method != method || field(n.Params, "threadId") != threadID {
			continue
		}
		if status == "" || field(n.Params, "status", "type") == status {
			return true
		}
	}
	return false
}

// thTurn runs a turn on thread id that the model answers with answer, and
// returns the turn's id.
func thTurn(e *env, c *client, id, text, answer string) string {
	c.t.Helper()
	e.model.Push(responsestest.Text(answer))
	r := c.call("turn/start", thJSON(map[string]any{"threadId": id, "input": []any{map[string]any{"type": "text", "text": text}}}))
	turnID, _ := field(r, "turn", "id").(string)
	for {
		_, done := c.until("turn/completed")
		if field(done, "threadId") != id {
			continue
		}
		if field(done, "turn", "id") != turnID || field(done, "turn", "status") != "completed" {
			c.t.Fatalf("turn/completed %s, want turn %s completed", done, turnID)
		}
		return turnID
	}
}

// thLabels names items "u:<text>" (user) and "a:<text>" (agent), from a
// list of ThreadItem or of ThreadItemEntry ({"turnId","item"}).
func thLabels(list any) []string {
	labels := []string{}
	items, _ := list.([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if inner, ok := m["item"].(map[string]any); ok {
			m = inner
		}
		switch m["type"] {
		case "userMessage":
			content, _ := m["content"].([]any)
			text := ""
			if len(content) > 0 {
				text, _ = content[0].(map[string]any)["text"].(string)
			}
			labels = append(labels, "u:"+text)
		case "agentMessage":
			labels = append(labels, "a:"+m["text"].(string))
		default:
			labels = append(labels, fmt.Sprint(m["type"]))
		}
	}
	return labels
}

func thReverse(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func thEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// thSeedList stores n threads whose fields vary independently, so that
// each filter and sort order of thread/list selects a different sequence.
// Ids run in another order than creation, and creation times tie in
// threes, so that ties must be broken by id.
func thSeedList(t *testing.T, e *env, n int) []threadstore.Meta {
	t.Helper()
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	metas := make([]threadstore.Meta, n)
	for i := range metas {
		m := threadstore.Meta{
			ID:            fmt.Sprintf("seed-%03d", (i*53)%n),
			CreatedAt:     base.Add(time.Duration(i/3) * time.Second),
			UpdatedAt:     base.Add(time.Duration((i*37)%n) * time.Minute),
			RecencyAt:     base.Add(time.Duration((i*71)%n) * time.Second),
			Cwd:           []string{"/w/a", "/w/b", "/w/c"}[i%3],
			Model:         "mock-model",
			ModelProvider: []string{"mock", "openai"}[i%2],
			Source:        []string{"vscode", "cli", "exec", "vscode", "appServer"}[i%5],
			Preview:       fmt.Sprintf("preview %d", i),
			Archived:      i%8 == 5,
		}
		if i%15 == 0 {
			name := fmt.Sprintf("Needle %d", i)
			m.Name = &name
		}
		if i%8 == 3 {
			m.Preview = fmt.Sprintf("find the HayStack %d", i)
		}
		if err := e.store.Put(m); err != nil {
			t.Fatal(err)
		}
		metas[i] = m
	}
	return metas
}

// thExpect is what thread/list should return over metas: those keep
// selects, sorted on key (ties by id), newest first unless asc.
func thExpect(metas []threadstore.Meta, keep func(m *threadstore.Meta) bool, key string, asc bool) []string {
	var sel []threadstore.Meta
	for i := range metas {
		if keep(&metas[i]) {
			sel = append(sel, metas[i])
		}
	}
	at := func(m *threadstore.Meta) time.Time {
		switch key {
		case "updated_at":
			return m.UpdatedAt
		case "recency_at":
			return m.RecencyAt
		}
		return m.CreatedAt
	}
	sort.Slice(sel, func(a, b int) bool {
		if ta, tb := at(&sel[a]), at(&sel[b]); !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return sel[a].ID < sel[b].ID
	})
	ids := []string{}
	for _, m := range sel {
		ids = append(ids, m.ID)
	}
	if !asc {
		slices.Reverse(ids)
	}
	return ids
}

// thListAll pages through thread/list from the first page, checking that
// every page but the last is full and that only the last has a null
// nextCursor. It returns the ids in order and the number of pages.
func thListAll(c *client, params map[string]any) ([]string, int) {
	c.t.Helper()
	p := maps.Clone(params)
	limit, _ := p["limit"].(int)
	ids := []string{}
	for pages := 1; pages <= 100; pages++ {
		r := c.call("thread/list", thJSON(p))
		page := thIDs(r)
		ids = append(ids, page...)
		next := field(r, "nextCursor")
		if next == nil {
			return ids, pages
		}
		if limit > 0 && len(page) != limit {
			c.t.Fatalf("thread/list %v: a page of %d with a nextCursor, limit %d", p, len(page), limit)
		}
		p["cursor"] = next
	}
	c.t.Fatalf("thread/list %v never ends", params)
	return nil, 0
}

var thAllSources = []string{"cli", "vscode", "exec", "appServer", "subAgent", "unknown"}

func TestThreadListFilters(t *testing.T) {
	e := newEnv(t, "")
	metas := thSeedList(t, e, 120)
	c := e.connect()
	interactive := func(m *threadstore.Meta) bool { return m.Source == "cli" || m.Source == "vscode" }
	contains := func(s, sub string) bool { return strings.Contains(strings.ToLower(s), sub) }
	for _, tc := range []struct {
		name   string
		params map[string]any
		keep   func(m *threadstore.Meta) bool
	}{
		{"default", map[string]any{},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) }},
		{"archived false", map[string]any{"archived": false},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) }},
		{"archived null", map[string]any{"archived": nil, "cwd": nil, "searchTerm": nil, "sortKey": nil, "sortDirection": nil},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) }},
		{"archived true", map[string]any{"archived": true},
			func(m *threadstore.Meta) bool { return m.Archived && interactive(m) }},
		{"one cwd", map[string]any{"cwd": "/w/a"},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) && m.Cwd == "/w/a" }},
		{"cwd list", map[string]any{"cwd": []string{"/w/a", "/w/c"}},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) && m.Cwd != "/w/b" }},
		{"unknown cwd", map[string]any{"cwd": "/nowhere"},
			func(m *threadstore.Meta) bool { return false }},
		{"provider", map[string]any{"modelProviders": []string{"openai"}},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) && m.ModelProvider == "openai" }},
		{"providers empty", map[string]any{"modelProviders": []string{}},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) }},
		{"sourceKinds empty", map[string]any{"sourceKinds": []string{}},
			func(m *threadstore.Meta) bool { return !m.Archived && interactive(m) }},
		{"source exec", map[string]any{"sourceKinds": []string{"exec"}},
			func(m *threadstore.Meta) bool { return !m.Archived && m.Source == "exec" }},
		{"sources", map[string]any{"sourceKinds": []string{"cli", "appServer"}},
			func(m *threadstore.Meta) bool { return !m.Archived && (m.Source == "cli" || m.Source == "appServer") }},
		{"search name", map[string]any{"searchTerm": "NEEDLE", "sourceKinds": thAllSources},
			func(m *threadstore.Meta) bool { return !m.Archived && m.Name != nil && contains(*m.Name, "needle") }},
		{"search preview", map[string]any{"searchTerm": "haystack", "sourceKinds": thAllSources},
			func(m *threadstore.Meta) bool { return !m.Archived && contains(m.Preview, "haystack") }},
		{"search nothing", map[string]any{"searchTerm": "no such words"},
			func(m *threadstore.Meta) bool { return false }},
		{"combined", map[string]any{"archived": true, "cwd": "/w/b", "modelProviders": []string{"mock"}, "sourceKinds": thAllSources},
			func(m *threadstore.Meta) bool { return m.Archived && m.Cwd == "/w/b" && m.ModelProvider == "mock" }},
		{"excluded", map[string]any{"excludedThreadIds": []string{"seed-000", "seed-053"}, "sourceKinds": thAllSources},
			func(m *threadstore.Meta) bool { return !m.Archived && m.ID != "seed-000" && m.ID != "seed-053" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := thExpect(metas, tc.keep, "created_at", false)
			params := maps.Clone(tc.params)
			params["limit"] = 10
			c.t = t
			got, _ := thListAll(c, params)
			thEqual(t, "ids", got, want)
		})
	}
	c.t = t
	// The filtered fields come back on the threads.
	r := c.call("thread/list", `{"cwd":"/w/c","modelProviders":["openai"],"sourceKinds":["exec"],"limit":1}`)
	th, _ := field(r, "data").([]any)
	if len(th) != 1 {
		t.Fatalf("thread/list %s", r)
	}
	got := th[0].(map[string]any)
	if got["cwd"] != "/w/c" || got["modelProvider"] != "openai" || got["source"] != "exec" || field(r, "readStates") == nil {
		t.Errorf("thread/list %s", r)
	}
	if st := got["status"].(map[string]any)["type"]; st != "notLoaded" {
		t.Errorf("a stored thread lists with status %v", st)
	}
}

func TestThreadListSortAndPaging(t *testing.T) {
	e := newEnv(t, "")
	metas := thSeedList(t, e, 120)
	c := e.connect()
	for _, key := range []string{"created_at", "updated_at", "recency_at"} {
		for _, dir := range []string{"", "asc", "desc"} {
			for _, limit := range []int{25, 35} {
				params := map[string]any{"sortKey": key, "limit": limit, "sourceKinds": thAllSources}
				if dir != "" {
					params["sortDirection"] = dir
				}
				// Archived and not archived between them list every thread
				// exactly once, in order.
				var all []string
				for _, archived := range []bool{false, true} {
					params["archived"] = archived
					want := thExpect(metas, func(m *threadstore.Meta) bool { return m.Archived == archived }, key, dir == "asc")
					got, pages := thListAll(c, params)
					thEqual(t, fmt.Sprintf("%v", params), got, want)
					if n := (len(want) + limit - 1) / limit; pages != n {
						t.Errorf("%v: %d pages, want %d", params, pages, n)
					}
					all = append(all, got...)
				}
				slices.Sort(all)
				if len(all) != len(metas) || len(slices.Compact(all)) != len(metas) {
					t.Errorf("sort %s %s limit %d: %d threads listed, %d distinct, want %d", key, dir, limit, len(all), len(slices.Compact(all)), len(metas))
				}
			}
		}
	}

	// backwardsCursor lists from the first thread of its page in the other
	// direction.
	want := thExpect(metas, func(m *threadstore.Meta) bool { return !m.Archived }, "updated_at", false)
	p1 := c.call("thread/list", thJSON(map[string]any{"sortKey": "updated_at", "limit": 25, "sourceKinds": thAllSources}))
	p2 := c.call("thread/list", thJSON(map[string]any{"sortKey": "updated_at", "limit": 25, "sourceKinds": thAllSources, "cursor": field(p1, "nextCursor")}))
	thEqual(t, "second page", thIDs(p2), want[25:50])
	back, ok := field(p2, "backwardsCursor").(string)
	if !ok {
		t.Fatalf("no backwardsCursor: %s", p2)
	}
	r := c.call("thread/list", thJSON(map[string]any{"sortKey": "updated_at", "sortDirection": "asc", "limit": 100, "sourceKinds": thAllSources, "cursor": back}))
	thEqual(t, "backwards from the second page", thIDs(r), thReverse(want[:26]))
	if field(r, "nextCursor") != nil {
		t.Errorf("backwards listing to the start has a nextCursor: %v", field(r, "nextCursor"))
	}

	// An empty page has neither cursor.
	r = c.call("thread/list", `{"cwd":"/nowhere"}`)
	if len(thIDs(r)) != 0 || field(r, "nextCursor") != nil || field(r, "backwardsCursor") != nil {
		t.Errorf("empty thread/list %s", r)
	}

	// Bad input is refused with -32600 (PROTOCOL.md §1.4), never
	// answered as an internal error.
	next := field(p1, "nextCursor").(string)
	thWantErr(c, "thread/list", `{"cursor":"not a cursor!"}`, "cursor")
	thWantErr(c, "thread/list", `{"cursor":"AAAA"}`, "cursor")
	thWantErr(c, "thread/list", thJSON(map[string]any{"cursor": next, "sortKey": "created_at"}), "cursor")
	thWantErr(c, "thread/list", `{"sortKey":"alphabetical"}`, "alphabetical")
	thWantErr(c, "thread/list", `{"sortDirection":"sideways"}`, "sideways")
	thWantErr(c, "thread/list", `{"limit":-1}`, "limit")
	thWantErr(c, "thread/list", `{"limit":"ten"}`, "limit")
	thWantErr(c, "thread/list", `{"archived":"yes"}`, "archived")
	thWantErr(c, "thread/list", `null`, "params")
}

// thLoadedIDs returns thread/loaded/list's data.
func thLoadedIDs(c *client) []string {
	c.t.Helper()
	r := c.call("thread/loaded/list", `{}`)
	if field(r, "nextCursor") != nil {
		c.t.Errorf("thread/loaded/list without a limit has a nextCursor: %s", r)
	}
	return thIDs(r)
}

func TestThreadLoadedListPaging(t *testing.T) {
	e := newEnv(t, "")
	c := e.connect()
	if r := c.call("thread/loaded/list", `null`); string(r) != `{"data":[],"nextCursor":null}` {
		t.Errorf("thread/loaded/list on an empty server: %s", r)
	}
	var ids []string
	for range 5 {
		ids = append(ids, c.startThread())
	}
	slices.Sort(ids)
	thEqual(t, "loaded", thLoadedIDs(c), ids)

	var got []string
	var cursor any
	for pages := 1; ; pages++ {
		r := c.call("thread/loaded/list", thJSON(map[string]any{"limit": 2, "cursor": cursor}))
		page := thIDs(r)
		got = append(got, page...)
		cursor = field(r, "nextCursor")
		if cursor == nil {
			if pages != 3 {
				t.Errorf("%d pages of 2 for 5 threads", pages)
			}
			break
		}
		if len(page) != 2 || pages > 3 {
			t.Fatalf("page %d: %s", pages, r)
		}
	}
	thEqual(t, "paged loaded threads", got, ids)
	thWantErr(c, "thread/loaded/list", `{"limit":"two"}`, "limit")
}

func TestThreadUnsubscribeAndUnload(t *testing.T) {
	e := newEnv(t, "")
	e.eng.opts.UnloadAfter = 20 * time.Millisecond
	c1, c2 := e.connect(), e.connect()
	id := c1.startThread()
	thTurn(e, c1, id, "hello", "hi")
	if r := c2.call("thread/resume", thJSON(map[string]any{"threadId": id, "excludeTurns": true})); field(r, "thread", "id") != id {
		t.Fatalf("thread/resume %s", r)
	}
	if r := c1.call("thread/unsubscribe", thJSON(map[string]any{"threadId": id})); field(r, "status") != "unsubscribed" {
		t.Errorf("thread/unsubscribe %s", r)
	}
	if r := c1.call("thread/unsubscribe", thJSON(map[string]any{"threadId": id})); field(r, "status") != "notSubscribed" {
		t.Errorf("second thread/unsubscribe %s", r)
	}
	// Another subscriber keeps the thread loaded.
	time.Sleep(100 * time.Millisecond)
	if !slices.Contains(thLoadedIDs(c1), id) {
		t.Fatalf("thread unloaded while c2 is subscribed")
	}

	// Turn and item notifications stop going to c1; status changes are
	// for every connection.
	thTurn(e, c2, id, "again", "sure")
	_, seen := thCallSeen(c1, "thread/loaded/list", `{}`)
	for _, n := range seen {
		if strings.HasPrefix(n.Method, "turn/") || strings.HasPrefix(n.Method, "item/") || n.Method == "thread/tokenUsage/updated" {
			t.Errorf("unsubscribed c1 got %s %s", n.Method, n.Params)
		}
	}
	if !thAbout(seen, "thread/status/changed", id, "active") || !thAbout(seen, "thread/status/changed", id, "idle") {
		t.Errorf("c1 did not see the thread's status changes: %v", seen)
	}

	// The last subscriber leaving unloads the thread (after UnloadAfter).
	if r := c2.call("thread/unsubscribe", thJSON(map[string]any{"threadId": id})); field(r, "status") != "unsubscribed" {
		t.Errorf("thread/unsubscribe %s", r)
	}
	notes := thUntil(c1, "thread/closed", id)
	if !thAbout(notes, "thread/status/changed", id, "notLoaded") {
		t.Errorf("no thread/status/changed notLoaded before thread/closed: %v", notes)
	}
	if slices.Contains(thLoadedIDs(c1), id) {
		t.Errorf("thread still loaded after thread/closed")
	}
	if r := c2.call("thread/unsubscribe", thJSON(map[string]any{"threadId": id})); field(r, "status") != "notLoaded" {
		t.Errorf("thread/unsubscribe of an unloaded thread: %s", r)
	}
	// It is still stored.
	r := c1.call("thread/read", thJSON(map[string]any{"threadId": id}))
	if field(r, "thread", "status", "type") != "notLoaded" || field(r, "thread", "preview") != "hello" {
		t.Errorf("thread/read after unload: %s", r)
	}

	// A closed connection's subscriptions go too.
	c3 := e.connect()
	id3 := c3.startThread()
	_ = c3.conn.Close(nil)
	thUntil(c1, "thread/closed", id3)
	thWantErr(c1, "thread/unsubscribe", `{}`, "threadId")
}

// TestShutdownCancelsUnloads checks that an engine shut down holds no
// pending unload timer: each would keep the thread, and through it the
// whole engine, in memory for UnloadAfter after an embedder is done with it.
func TestShutdownCancelsUnloads(t *testing.T) {
	e := newEnv(t, "")
	e.eng.opts.UnloadAfter = time.Hour
	c := e.connect()
	id := c.startThread()
	if r := c.call("thread/unsubscribe", thJSON(map[string]any{"threadId": id})); field(r, "status") != "unsubscribed" {
		t.Fatalf("thread/unsubscribe %s", r)
	}
	e.eng.mu.Lock()
	th := e.eng.loaded[id]
	e.eng.mu.Unlock()
	armed := func() bool {
		th.mu.Lock()
		defer th.mu.Unlock()
		return th.unloadTimer != nil
	}
	if th == nil || !armed() {
		t.Fatalf("no unload pending after the last subscriber left")
	}
	e.eng.Shutdown()
	if armed() {
		t.Errorf("unload timer still pending after Shutdown")
	}
	e.eng.maybeUnload(th)
	if armed() {
		t.Errorf("unload timer armed after Shutdown")
	}
}

func TestThreadStaysLoadedWhileTurnRuns(t *testing.T) {
	e := newEnv(t, "")
	e.eng.opts.UnloadAfter = 20 * time.Millisecond
	c := e.connect()
	id := c.startThread()
	e.model.Push(responsestest.Hang())
	c.call("turn/start", thJSON(map[string]any{"threadId": id, "input": []any{map[string]any{"type": "text", "text": "wait"}}}))
	c.until("turn/started")
	if r := c.call("thread/unsubscribe", thJSON(map[string]any{"threadId": id})); field(r, "status") != "unsubscribed" {
		t.Fatalf("thread/unsubscribe %s", r)
	}
	time.Sleep(100 * time.Millisecond)
	if !slices.Contains(thLoadedIDs(c), id) {
		t.Fatalf("thread unloaded with a turn running")
	}
	c.call("turn/interrupt", thJSON(map[string]any{"threadId": id}))
	notes := thUntil(c, "thread/closed", id)
	if !thAbout(notes, "thread/status/changed", id, "idle") {
		t.Errorf("no idle status before thread/closed: %v", notes)
	}
	for _, n := range notes {
		if n.Method == "turn/completed" {
			t.Errorf("unsubscribed connection got turn/completed")
		}
	}
}

func TestThreadArchive(t *testing.T) {
	home := t.TempDir()
	e := newEnv(t, home)
	c1, c2 := e.connect(), e.connect()
	id := c1.startThread()
	thTurn(e, c1, id, "keep me", "ok")
	other := c1.startThread()
	thTurn(e, c1, other, "other", "ok")
	listed := func(c *client, archived bool) []string {
		c.t.Helper()
		return thIDs(c.call("thread/list", thJSON(map[string]any{"archived": archived})))
	}
	if got := listed(c1, false); !slices.Contains(got, id) {
		t.Fatalf("thread/list %v lacks %s", got, id)
	}

	if r := c1.call("thread/archive", thJSON(map[string]any{"threadId": id})); string(r) != "{}" {
		t.Errorf("thread/archive answered %s", r)
	}
	notes := thUntil(c2, "thread/archived", id)
	if !thAbout(notes, "thread/status/changed", id, "notLoaded") {
		t.Errorf("no thread/status/changed notLoaded before thread/archived: %v", notes)
	}
	thEqual(t, "not archived", listed(c2, false), []string{other})
	thEqual(t, "archived", listed(c2, true), []string{id})
	// Archiving unloads it, as its status said.
	if slices.Contains(thLoadedIDs(c2), id) {
		t.Errorf("archived thread still loaded")
	}
	if r := c2.call("thread/read", thJSON(map[string]any{"threadId": id})); field(r, "thread", "status", "type") != "notLoaded" {
		t.Errorf("thread/read of an archived thread: %s", r)
	}

	// It stays archived across a restart.
	e.close()
	e = newEnv(t, home)
	c1, c2 = e.connect(), e.connect()
	thEqual(t, "archived after restart", listed(c1, true), []string{id})

	r := c1.call("thread/unarchive", thJSON(map[string]any{"threadId": id}))
	if field(r, "thread", "id") != id || field(r, "thread", "preview") != "keep me" {
		t.Errorf("thread/unarchive answered %s", r)
	}
	thUntil(c2, "thread/unarchived", id)
	if got := listed(c2, false); len(got) != 2 || !slices.Contains(got, id) {
		t.Errorf("thread/list after unarchive: %v", got)
	}
	thEqual(t, "archived after unarchive", listed(c2, true), []string{})

	// The thread is usable again, with its history.
	c1.call("thread/resume", thJSON(map[string]any{"threadId": id}))
	thTurn(e, c1, id, "back", "welcome back")
	reqs := e.model.Requests()
	if in := reqs[len(reqs)-1].Input; len(in) != 3 || in[0].Text != "keep me" {
		t.Errorf("history after unarchive: %+v", in)
	}

	thWantErr(c1, "thread/archive", thJSON(map[string]any{"threadId": "01a221ad-c69a-7af3-a728-14498b7a2e51"}), "no rollout found")
	thWantErr(c1, "thread/archive", `{"threadId":"../../etc"}`, "thread id")
	thWantErr(c1, "thread/unarchive", `{"threadId":"not a thread"}`, "thread id")
	thWantErr(c1, "thread/archive", `{}`, "threadId")
}

func TestThreadArchiveRunningTurn(t *testing.T) {
	e := newEnv(t, "")
	e.eng.opts.UnloadAfter = 10 * time.Millisecond
	c := e.connect()
	id := c.startThread()
	e.model.Push(responsestest.Hang())
	c.call("turn/start", thJSON(map[string]any{"threadId": id, "input": []any{map[string]any{"type": "text", "text": "long"}}}))
	c.until("turn/started")
	// The turn ends before the answer, so its turn/completed comes first.
	_, notes := thCallSeen(c, "thread/archive", thJSON(map[string]any{"threadId": id}))
	notes = append(notes, thUntil(c, "thread/archived", id)...)
	var done json.RawMessage
	for _, n := range notes {
		if n.Method == "turn/completed" {
			done = n.Params
		}
	}
	if field(done, "turn", "status") != "interrupted" {
		t.Errorf("the running turn ended with %s", done)
	}
	if slices.Contains(thLoadedIDs(c), id) {
		t.Errorf("archived thread still loaded")
	}
	// The interrupted turn's end does not get the thread announced as
	// closed later: archiving already unloaded it.
	time.Sleep(60 * time.Millisecond)
	_, seen := thCallSeen(c, "thread/loaded/list", `{}`)
	if thAbout(seen, "thread/closed", id, "") {
		t.Errorf("thread/closed after the archived thread was unloaded")
	}
	r := c.call("thread/turns/list", thJSON(map[string]any{"threadId": id}))
	if data := field(r, "data").([]any); len(data) != 1 || data[0].(map[string]any)["status"] != "interrupted" {
		t.Errorf("turns of the archived thread: %s", r)
	}
}

func TestThreadDelete(t *testing.T) {
	home := t.TempDir()
	e := newEnv(t, home)
	c1, c2 := e.connect(), e.connect()
	id := c1.startThread()
	thTurn(e, c1, id, "delete me", "ok")
	keep := c1.startThread()
	thTurn(e, c1, keep, "keep me", "ok")
	fresh := c1.startThread() // loaded, never materialized

	if r := c1.call("thread/delete", thJSON(map[string]any{"threadId": id})); string(r) != "{}" {
		t.Errorf("thread/delete answered %s", r)
	}
	thUntil(c2, "thread/deleted", id)
	thEqual(t, "listed", thIDs(c2.call("thread/list", `{}`)), []string{keep})
	thEqual(t, "loaded", thLoadedIDs(c2), func() []string { s := []string{keep, fresh}; slices.Sort(s); return s }())
	thWantErr(c2, "thread/read", thJSON(map[string]any{"threadId": id}), id)
	thWantErr(c2, "thread/resume", thJSON(map[string]any{"threadId": id}), "no rollout found")
	thWantErr(c2, "thread/turns/list", thJSON(map[string]any{"threadId": id}), "no rollout found")
	thWantErr(c2, "thread/delete", thJSON(map[string]any{"threadId": id}), "no rollout found")
	thWantErr(c2, "thread/delete", `{"threadId":"no/such thread"}`, "thread id")

	c1.call("thread/delete", thJSON(map[string]any{"threadId": fresh}))
	thUntil(c2, "thread/deleted", fresh)
	thEqual(t, "loaded", thLoadedIDs(c2), []string{keep})

	// A running turn is stopped first.
	running := c1.startThread()
	e.model.Push(responsestest.Hang())
	c1.call("turn/start", thJSON(map[string]any{"threadId": running, "input": []any{map[string]any{"type": "text", "text": "long"}}}))
	c1.until("turn/started")
	c1.call("thread/delete", thJSON(map[string]any{"threadId": running}))
	thUntil(c2, "thread/deleted", running)
	thEqual(t, "listed", thIDs(c2.call("thread/list", `{}`)), []string{keep})

	// Deletions survive a restart.
	e.close()
	e = newEnv(t, home)
	c := e.connect()
	thEqual(t, "listed after restart", thIDs(c.call("thread/list", `{}`)), []string{keep})
	thEqual(t, "archived after restart", thIDs(c.call("thread/list", `{"archived":true}`)), []string{})
	thWantErr(c, "thread/read", thJSON(map[string]any{"threadId": id}), id)
	thWantErr(c, "thread/resume", thJSON(map[string]any{"threadId": running}), "no rollout found")
}

func TestThreadNameSet(t *testing.T) {
	home := t.TempDir()
	e := newEnv(t, home)
	c1, c2 := e.connect(), e.connect()
	id := c1.startThread()
	nameOf := func(c *client) any {
		c.t.Helper()
		return field(c.call("thread/read", thJSON(map[string]any{"threadId": id})), "thread", "name")
	}

	// Before the first turn the thread exists only in memory.
	if r := c1.call("thread/name/set", thJSON(map[string]any{"threadId": id, "name": "early"})); string(r) != "{}" {
		t.Errorf("thread/name/set answered %s", r)
	}
	notes := thUntil(c2, "thread/name/updated", id) // c2 never subscribed
	if n := notes[len(notes)-1]; field(n.Params, "threadName") != "early" {
		t.Errorf("thread/name/updated %s", n.Params)
	}
	if got := nameOf(c2); got != "early" {
		t.Errorf("name %v, want early", got)
	}
	thTurn(e, c1, id, "first", "ok")
	if r := c2.call("thread/list", `{}`); field(r, "data").([]any)[0].(map[string]any)["name"] != "early" {
		t.Errorf("thread/list after the first turn: %s", r)
	}

	c1.call("thread/name/set", thJSON(map[string]any{"threadId": id, "name": "  Renamed thread "}))
	notes = thUntil(c2, "thread/name/updated", id)
	if n := notes[len(notes)-1]; field(n.Params, "threadName") != "Renamed thread" {
		t.Errorf("thread/name/updated %s", n.Params)
	}
	if r := c2.call("thread/list", `{"searchTerm":"renamed"}`); !slices.Equal(thIDs(r), []string{id}) ||
		field(r, "data").([]any)[0].(map[string]any)["name"] != "Renamed thread" {
		t.Errorf("thread/list by name: %s", r)
	}

	// The name survives a restart, and a stored thread can be renamed.
	e.close()
	e = newEnv(t, home)
	c1, c2 = e.connect(), e.connect()
	if got := nameOf(c1); got != "Renamed thread" {
		t.Errorf("name after restart %v", got)
	}
	c1.call("thread/name/set", thJSON(map[string]any{"threadId": id, "name": "stored"}))
	thUntil(c2, "thread/name/updated", id)
	if got := nameOf(c2); got != "stored" {
		t.Errorf("name of a stored thread %v", got)
	}
	e.close()
	e = newEnv(t, home)
	c1 = e.connect()
	if r := c1.call("thread/list", `{}`); field(r, "data").([]any)[0].(map[string]any)["name"] != "stored" {
		t.Errorf("thread/list after the second restart: %s", r)
	}

	thWantErr(c1, "thread/name/set", thJSON(map[string]any{"threadId": "01a221ad-c69a-7af3-a728-14498b7a2e51", "name": "x"}), "no rollout found")
	thWantErr(c1, "thread/name/set", `{"threadId":"bad id!","name":"x"}`, "thread id")
	thWantErr(c1, "thread/name/set", thJSON(map[string]any{"threadId": id}), "missing field `name`")
	thWantErr(c1, "thread/name/set", `{"name":"x"}`, "missing field `threadId`")
	thWantErr(c1, "thread/name/set", thJSON(map[string]any{"threadId": id, "name": 5}), "name")
}

func TestThreadFork(t *testing.T) {
	home := t.TempDir()
	e := newEnv(t, home)
	c, watcher := e.connect(), e.connect()
	src := c.startThread()
	t1 := thTurn(e, c, src, "one", "first answer")
	t2 := thTurn(e, c, src, "two", "second answer")

	r := c.call("thread/fork", thJSON(map[string]any{"threadId": src}))
	fork, _ := field(r, "thread", "id").(string)
	if fork == "" || fork == src {
		t.Fatalf("thread/fork answered %s", r)
	}
	if field(r, "thread", "forkedFromId") != src {
		t.Errorf("forkedFromId %v", field(r, "thread", "forkedFromId"))
	}
	turns, _ := field(r, "thread", "turns").([]any)
	if len(turns) != 2 || turns[0].(map[string]any)["id"] != t1 || turns[1].(map[string]any)["id"] != t2 {
		t.Fatalf("forked turns %v", turns)
	}
	thEqual(t, "forked first turn", thLabels(turns[0].(map[string]any)["items"]), []string{"u:one", "a:first answer"})
	for {
		_, started := watcher.until("thread/started")
		if field(started, "thread", "id") == fork {
			if field(started, "thread", "forkedFromId") != src {
				t.Errorf("thread/started %s", started)
			}
			break
		}
	}

	allItems := []string{"u:one", "a:first answer", "u:two", "a:second answer"}
	items := func(id string) []string {
		c.t.Helper()
		return thLabels(field(c.call("thread/items/list", thJSON(map[string]any{"threadId": id, "sortDirection": "asc"})), "data"))
	}
	thEqual(t, "fork's items", items(fork), allItems)
	thEqual(t, "fork's turns", thIDs(c.call("thread/turns/list", thJSON(map[string]any{"threadId": fork, "sortDirection": "asc"}))), []string{t1, t2})

	// A turn on the fork sends the copied history to the model, and leaves
	// the original alone.
	t3 := thTurn(e, c, fork, "three", "third answer")
	reqs := e.model.Requests()
	var texts []string
	for _, in := range reqs[len(reqs)-1].Input {
		texts = append(texts, in.Text)
	}
	thEqual(t, "model input of the fork's turn", texts, []string{"one", "first answer", "two", "second answer", "three"})
	thEqual(t, "fork's items", items(fork), append(slices.Clone(allItems), "u:three", "a:third answer"))
	thEqual(t, "original's items", items(src), allItems)
	thEqual(t, "original's turns", thIDs(c.call("thread/turns/list", thJSON(map[string]any{"threadId": src, "sortDirection": "asc"}))), []string{t1, t2})

	// excludeTurns leaves them out; the fork of a fork works.
	r = c.call("thread/fork", thJSON(map[string]any{"threadId": fork, "excludeTurns": true}))
	fork2, _ := field(r, "thread", "id").(string)
	if turns, _ := field(r, "thread", "turns").([]any); len(turns) != 0 || fork2 == fork || field(r, "thread", "forkedFromId") != fork {
		t.Errorf("thread/fork excludeTurns answered %s", r)
	}

	// Everything is stored.
	e.close()
	e = newEnv(t, home)
	c = e.connect()
	thEqual(t, "fork's turns after restart", thIDs(c.call("thread/turns/list", thJSON(map[string]any{"threadId": fork, "sortDirection": "asc"}))), []string{t1, t2, t3})
	thEqual(t, "original's turns after restart", thIDs(c.call("thread/turns/list", thJSON(map[string]any{"threadId": src, "sortDirection": "asc"}))), []string{t1, t2})
	if r := c.call("thread/read", thJSON(map[string]any{"threadId": fork})); field(r, "thread", "forkedFromId") != src {
		t.Errorf("thread/read of the fork after restart: %s", r)
	}
	listed := thIDs(c.call("thread/list", `{}`))
	slices.Sort(listed)
	want := []string{src, fork, fork2}
	slices.Sort(want)
	thEqual(t, "listed", listed, want)

	// Forking a stored thread does not leave it loaded for good.
	e.close()
	e = newEnv(t, home)
	e.eng.opts.UnloadAfter = 20 * time.Millisecond
	c = e.connect()
	r = c.call("thread/fork", thJSON(map[string]any{"threadId": src, "excludeTurns": true}))
	thUntil(c, "thread/closed", src)
	thEqual(t, "loaded after forking a stored thread", thLoadedIDs(c), []string{field(r, "thread", "id").(string)})

	thWantErr(c, "thread/fork", thJSON(map[string]any{"threadId": "01a221ad-c69a-7af3-a728-14498b7a2e51"}), "no rollout found")
	thWantErr(c, "thread/fork", `{}`, "missing field `threadId`")
}

func TestThreadReadTurnsAndItemsPaging(t *testing.T) {
	e := newEnv(t, "")
	c := e.connect()
	id := c.startThread()
	thWantErr(c, "thread/turns/list", thJSON(map[string]any{"threadId": id}), "not materialized")
	thWantErr(c, "thread/items/list", thJSON(map[string]any{"threadId": id}), "not materialized")
	var turnIDs, all []string
	for i := 1; i <= 7; i++ {
		q, a := fmt.Sprintf("q%d", i), fmt.Sprintf("a%d", i)
		turnIDs = append(turnIDs, thTurn(e, c, id, q, a))
		all = append(all, "u:"+q, "a:"+a)
	}
	other := c.startThread()
	thTurn(e, c, other, "elsewhere", "ok")

	// thread/read: turns only when asked, each with all its items.
	r := c.call("thread/read", thJSON(map[string]any{"threadId": id}))
	if turns, ok := field(r, "thread", "turns").([]any); !ok || len(turns) != 0 || field(r, "thread", "id") != id {
		t.Errorf("thread/read without turns: %s", r)
	}
	r = c.call("thread/read", thJSON(map[string]any{"threadId": id, "includeTurns": true}))
	turns, _ := field(r, "thread", "turns").([]any)
	thEqual(t, "thread/read turns", thIDs(json.RawMessage(thJSON(map[string]any{"data": turns}))), turnIDs)
	if len(turns) == 7 {
		thEqual(t, "thread/read items", thLabels(turns[2].(map[string]any)["items"]), []string{"u:q3", "a:a3"})
	}

	pages := func(method string, params map[string]any, label func(json.RawMessage) []string) [][]string {
		t.Helper()
		p := map[string]any{"threadId": id}
		maps.Copy(p, params)
		var out [][]string
		for range 20 {
			r := c.call(method, thJSON(p))
			out = append(out, label(r))
			next := field(r, "nextCursor")
			if next == nil {
				return out
			}
			p["cursor"] = next
		}
		t.Fatalf("%s %v never ends", method, params)
		return nil
	}
	turnsOf := func(r json.RawMessage) []string { return thIDs(r) }
	itemsOf := func(r json.RawMessage) []string { return thLabels(field(r, "data")) }
	check := func(what string, got [][]string, want ...[]string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %v\nwant %v", what, got, want)
		}
	}
	tid := turnIDs
	// thread/turns/list: newest first by default.
	check("turns default", pages("thread/turns/list", nil, turnsOf), thReverse(tid))
	check("turns desc by 3", pages("thread/turns/list", map[string]any{"limit": 3, "sortDirection": "desc"}, turnsOf),
		[]string{tid[6], tid[5], tid[4]}, []string{tid[3], tid[2], tid[1]}, []string{tid[0]})
	check("turns asc by 3", pages("thread/turns/list", map[string]any{"limit": 3, "sortDirection": "asc"}, turnsOf),
		tid[0:3], tid[3:6], tid[6:7])
	check("turns asc by 7", pages("thread/turns/list", map[string]any{"limit": 7, "sortDirection": "asc"}, turnsOf), tid)

	// backwardsCursor reverses from the first turn of its page, included.
	r = c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "limit": 3, "sortDirection": "desc"}))
	r = c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "limit": 3, "sortDirection": "desc", "cursor": field(r, "nextCursor")}))
	r = c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "sortDirection": "asc", "cursor": field(r, "backwardsCursor")}))
	thEqual(t, "turns backwards from the second desc page", thIDs(r), tid[3:])
	r = c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "limit": 3, "sortDirection": "asc"}))
	r = c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "sortDirection": "desc", "cursor": field(r, "backwardsCursor")}))
	thEqual(t, "turns backwards from the first asc page", thIDs(r), tid[:1])

	// itemsView. The summary is the messages, the user's and the agent's, as
	// the reference lists them (turn/completed carries the agent's only).
	for view, want := range map[string][]string{"notLoaded": {}, "summary": {"u:q7", "a:a7"}, "full": {"u:q7", "a:a7"}} {
		r := c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "limit": 1, "itemsView": view}))
		data, _ := field(r, "data").([]any)
		if len(data) != 1 || data[0].(map[string]any)["itemsView"] != view {
			t.Errorf("itemsView %s: %s", view, r)
			continue
		}
		thEqual(t, "items of view "+view, thLabels(data[0].(map[string]any)["items"]), want)
	}
	if r := c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "limit": 1})); field(r, "data").([]any)[0].(map[string]any)["itemsView"] != "summary" {
		t.Errorf("default itemsView: %s", r)
	}

	// thread/items/list: oldest first by default (schema: "defaults to
	// ascending").
	check("items default", pages("thread/items/list", nil, itemsOf), all)
	check("items asc by 4", pages("thread/items/list", map[string]any{"limit": 4, "sortDirection": "asc"}, itemsOf),
		all[0:4], all[4:8], all[8:12], all[12:14])
	rev := thReverse(all)
	check("items desc by 4", pages("thread/items/list", map[string]any{"limit": 4, "sortDirection": "desc"}, itemsOf),
		rev[0:4], rev[4:8], rev[8:12], rev[12:14])
	check("items of one turn", pages("thread/items/list", map[string]any{"turnId": tid[2]}, itemsOf), []string{"u:q3", "a:a3"})
	check("items of one turn desc", pages("thread/items/list", map[string]any{"turnId": tid[2], "sortDirection": "desc"}, itemsOf), []string{"a:a3", "u:q3"})
	r = c.call("thread/items/list", thJSON(map[string]any{"threadId": id, "limit": 1}))
	if data := field(r, "data").([]any); len(data) != 1 || data[0].(map[string]any)["turnId"] != tid[0] {
		t.Errorf("item entry: %s", r)
	}
	// backwardsCursor of items.
	r = c.call("thread/items/list", thJSON(map[string]any{"threadId": id, "limit": 4, "sortDirection": "desc"}))
	r = c.call("thread/items/list", thJSON(map[string]any{"threadId": id, "limit": 4, "sortDirection": "desc", "cursor": field(r, "nextCursor")}))
	r = c.call("thread/items/list", thJSON(map[string]any{"threadId": id, "sortDirection": "asc", "cursor": field(r, "backwardsCursor")}))
	thEqual(t, "items backwards from the second desc page", thLabels(field(r, "data")), all[9:])
	// The resume cursors start from the end, as the TUI uses them.
	rs := c.call("thread/resume", thJSON(map[string]any{"threadId": id, "excludeTurns": true}))
	r = c.call("thread/items/list", thJSON(map[string]any{"threadId": id, "limit": 100, "sortDirection": "desc", "cursor": field(rs, "itemsBackwardsCursor")}))
	thEqual(t, "items from itemsBackwardsCursor", thLabels(field(r, "data")), rev)
	r = c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "limit": 2, "sortDirection": "desc", "cursor": field(rs, "turnsBackwardsCursor")}))
	thEqual(t, "turns from turnsBackwardsCursor", thIDs(r), []string{tid[6], tid[5]})

	// Errors.
	turnsCursor := field(c.call("thread/turns/list", thJSON(map[string]any{"threadId": id, "limit": 1})), "nextCursor")
	otherCursor := field(c.call("thread/turns/list", thJSON(map[string]any{"threadId": other, "limit": 1})), "backwardsCursor")
	for _, m := range []string{"thread/turns/list", "thread/items/list"} {
		thWantErr(c, m, thJSON(map[string]any{"threadId": "01a221ad-c69a-7af3-a728-14498b7a2e51"}), "no rollout found")
		thWantErr(c, m, `{}`, "missing field `threadId`")
		thWantErr(c, m, `null`, "params")
		thWantErr(c, m, `{"threadId":5}`, "threadId")
		thWantErr(c, m, thJSON(map[string]any{"threadId": id, "limit": "3"}), "limit")
		thWantErr(c, m, thJSON(map[string]any{"threadId": id, "limit": -3}), "limit")
		thWantErr(c, m, thJSON(map[string]any{"threadId": id, "sortDirection": "up"}), "up")
		thWantErr(c, m, thJSON(map[string]any{"threadId": id, "cursor": "garbage"}), "cursor")
		thWantErr(c, m, thJSON(map[string]any{"threadId": id, "cursor": otherCursor}), "cursor")
	}
	thWantErr(c, "thread/items/list", thJSON(map[string]any{"threadId": id, "cursor": turnsCursor}), "cursor")
	thWantErr(c, "thread/turns/list", thJSON(map[string]any{"threadId": id, "itemsView": "everything"}), "everything")
	thWantErr(c, "thread/read", thJSON(map[string]any{"threadId": "01a221ad-c69a-7af3-a728-14498b7a2e51"}), "01a221ad-c69a-7af3-a728-14498b7a2e51")
	thWantErr(c, "thread/read", thJSON(map[string]any{"threadId": "01a221ad-c69a-7af3-a728-14498b7a2e51", "includeTurns": true}), "01a221ad-c69a-7af3-a728-14498b7a2e51")
	thWantErr(c, "thread/read", `{"includeTurns":true}`, "missing field `threadId`")
	thWantErr(c, "thread/read", thJSON(map[string]any{"threadId": id, "includeTurns": "yes"}), "includeTurns")
}

func TestThreadResume(t *testing.T) {
	home := t.TempDir()
	e := newEnv(t, home)
	c := e.connect()
	id := c.startThread()
	turn := thTurn(e, c, id, "before restart", "noted")
	e.close()

	e = newEnv(t, home)
	c, c2 := e.connect(), e.connect()
	thEqual(t, "loaded after restart", thLoadedIDs(c), []string{})
	r := c.call("thread/resume", thJSON(map[string]any{"threadId": id}))
	if field(r, "thread", "id") != id || field(r, "thread", "status", "type") != "idle" || field(r, "model") != "mock-model" {
		t.Errorf("thread/resume answered %s", r)
	}
	turns, _ := field(r, "thread", "turns").([]any)
	if len(turns) != 1 || turns[0].(map[string]any)["id"] != turn || turns[0].(map[string]any)["status"] != "completed" {
		t.Fatalf("resumed turns %v", turns)
	}
	thEqual(t, "resumed items", thLabels(turns[0].(map[string]any)["items"]), []string{"u:before restart", "a:noted"})
	if _, ok := field(r, "turnsBackwardsCursor").(string); !ok {
		t.Errorf("no turnsBackwardsCursor: %s", r)
	}
	thEqual(t, "loaded after resume", thLoadedIDs(c), []string{id})

	// A second connection resumes without turns; both get the next turn's
	// notifications.
	r = c2.call("thread/resume", thJSON(map[string]any{"threadId": id, "excludeTurns": true}))
	if turns, ok := field(r, "thread", "turns").([]any); !ok || len(turns) != 0 {
		t.Errorf("thread/resume excludeTurns answered %s", r)
	}
	next := thTurn(e, c, id, "after restart", "still here")
	_, done := c2.until("turn/completed")
	if field(done, "turn", "id") != next {
		t.Errorf("c2 got turn/completed %s", done)
	}
	if in := e.model.Requests()[0].Input; len(in) != 3 || in[0].Text != "before restart" || in[1].Text != "noted" {
		t.Errorf("history after resume: %+v", in)
	}

	thWantErr(c, "thread/resume", thJSON(map[string]any{"threadId": "01a221ad-c69a-7af3-a728-14498b7a2e51"}), "no rollout found for thread id 01a221ad-c69a-7af3-a728-14498b7a2e51")
	thWantErr(c, "thread/resume", `{"threadId":"../../x"}`, "../../x")
	thWantErr(c, "thread/resume", `{}`, "missing field `threadId`")
	thWantErr(c, "thread/resume", `null`, "params")
	thEqual(t, "loaded after failed resumes", thLoadedIDs(c), []string{id})
}

// TestThreadPolicyConfined: under --workspace-root a thread's sandbox
// policy may not make writable what lies outside the roots, whichever
// method sets it (thread/start, thread/resume, turn/start), as
// command/exec already refused.
func TestThreadPolicyConfined(t *testing.T) {
	e := newEnv(t, "")
	guard, err := pathguard.New([]string{e.home})
	if err != nil {
		t.Fatal(err)
	}
	e.eng.opts.Guard = guard
	outside := t.TempDir()
	pol := `{"type":"workspaceWrite","writableRoots":["` + outside + `"],"networkAccess":true}`
	c := e.connect()
	thWantErr(c, "thread/start", `{"sandboxPolicy":`+pol+`}`, "outside the workspace roots")
	id := c.startThread()
	thWantErr(c, "thread/resume", `{"threadId":"`+id+`","sandboxPolicy":`+pol+`}`, "outside the workspace roots")
	thWantErr(c, "turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"x"}],"sandboxPolicy":`+pol+`}`, "outside the workspace roots")
	inside := `{"type":"workspaceWrite","writableRoots":["` + e.home + `"],"networkAccess":true}`
	c.call("thread/resume", `{"threadId":"`+id+`","sandboxPolicy":`+inside+`}`)
}
