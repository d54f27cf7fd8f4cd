package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/appserver-go/appserver"
)

// Cursors for thread/turns/list and thread/items/list are opaque strings to
// clients; ours hold the thread, the scope and a 1-based ordinal, shaped as
// the reference's so they read the same in logs.
type cursor struct {
	ThreadID      string `json:"requestedThreadId"`
	Ordinal       int    `json:"rolloutOrdinal"`
	IncludeAnchor bool   `json:"includeAnchor"`
	Scope         struct {
		Kind string `json:"kind"`
	} `json:"scope"`
}

func cursorFor(threadID, kind string, ordinal int) string {
	c := cursor{ThreadID: threadID, Ordinal: ordinal, IncludeAnchor: true}
	c.Scope.Kind = kind
	b, _ := json.Marshal(c)
	return string(b)
}

func parseCursor(s, threadID, kind string) (cursor, error) {
	var c cursor
	if err := json.Unmarshal([]byte(s), &c); err != nil || c.ThreadID != threadID || c.Scope.Kind != kind || c.Ordinal < 0 {
		return c, invalid("invalid cursor")
	}
	return c, nil
}

// sortDesc reads a SortDirection, "asc" or "desc"; def applies when it is
// absent or null.
func sortDesc(dir *string, def bool) (bool, error) {
	if dir == nil {
		return def, nil
	}
	switch *dir {
	case "asc":
		return false, nil
	case "desc":
		return true, nil
	}
	return false, appserver.InvalidRequest(fmt.Sprintf("unknown variant `%s`, expected `asc` or `desc` at `sortDirection`", *dir))
}

// pageLimit reads a page size, a u32 in the schema: absent means 0, the
// method's default.
func pageLimit(limit *int) (int, error) {
	if limit == nil {
		return 0, nil
	}
	if *limit < 0 {
		return 0, appserver.InvalidRequest(fmt.Sprintf("invalid value: integer `%d`, expected u32 at `limit`", *limit))
	}
	return *limit, nil
}

// backwardsCursor is a page's backwardsCursor: its first element,
// included, so that listing from it in the other direction shows that
// element again; null for an empty page.
func backwardsCursor(threadID, kind string, ords []int) any {
	if len(ords) == 0 {
		return nil
	}
	return cursorFor(threadID, kind, ords[0])
}

func countItems(turns []*turnRecord) int {
	n := 0
	for _, t := range turns {
		n += len(t.Items)
	}
	return n
}

// page selects up to limit of n elements (ordinals 1..n) from a cursor, in
// the direction asked: it returns the ordinals and the next cursor's
// ordinal (0 when the page reaches the end).
func page(n int, cur *cursor, desc bool, limit int) (ords []int, next int) {
	if limit <= 0 {
		limit = 25
	}
	if desc {
		start := n
		if cur != nil {
			start = cur.Ordinal
			if !cur.IncludeAnchor {
				start--
			}
		}
		for o := min(start, n); o >= 1 && len(ords) < limit; o-- {
			ords = append(ords, o)
		}
		if len(ords) > 0 && ords[len(ords)-1] > 1 {
			next = ords[len(ords)-1] - 1
		}
		return ords, next
	}
	start := 1
	if cur != nil {
		start = cur.Ordinal
		if !cur.IncludeAnchor {
			start++
		}
	}
	for o := max(start, 1); o <= n && len(ords) < limit; o++ {
		ords = append(ords, o)
	}
	if len(ords) > 0 && ords[len(ords)-1] < n {
		next = ords[len(ords)-1] + 1
	}
	return ords, next
}

type listParams struct {
	threadIDParams
	Cursor        *string `json:"cursor"`
	Limit         *int    `json:"limit"`
	SortDirection *string `json:"sortDirection"`
	ItemsView     *string `json:"itemsView"`
	TurnID        *string `json:"turnId"`
}

// pageThread loads the thread for a paging method; a thread that was
// never materialized has nothing to page, as on the reference.
func (e *Engine) pageThread(id, method string) (*thread, error) {
	t, err := e.loadedOrStored(id)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	mat := t.materialized
	t.mu.Unlock()
	if !mat {
		return nil, invalid("thread %s is not materialized yet; %s is unavailable before first user message", id, method)
	}
	return t, nil
}

func (e *Engine) threadTurnsList(ctx context.Context, req *appserver.Request) (any, error) {
	var p listParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	t, err := e.pageThread(*p.ThreadID, "thread/turns/list")
	if err != nil {
		return nil, err
	}
	defer e.maybeUnload(t)
	var cur *cursor
	if p.Cursor != nil && *p.Cursor != "" {
		c, err := parseCursor(*p.Cursor, t.id, "turns")
		if err != nil {
			return nil, err
		}
		cur = &c
	}
	desc, err := sortDesc(p.SortDirection, true) // turns: newest first
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	view := "summary"
	if p.ItemsView != nil {
		switch *p.ItemsView {
		case "notLoaded", "summary", "full":
			view = *p.ItemsView
		default:
			return nil, invalid("unknown itemsView %q", *p.ItemsView)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ords, next := page(len(t.turns), cur, desc, limit)
	data := make([]turnJSON, 0, len(ords))
	for _, o := range ords {
		data = append(data, t.turns[o-1].json(view))
	}
	resp := map[string]any{"data": data, "nextCursor": nil, "backwardsCursor": backwardsCursor(t.id, "turns", ords)}
	if next > 0 {
		resp["nextCursor"] = cursorFor(t.id, "turns", next)
	}
	return resp, nil
}

type itemEntry struct {
	TurnID        string          `json:"turnId"`
	Item          json.RawMessage `json:"item"`
	StartedAtMs   int64           `json:"startedAtMs"`
	CompletedAtMs int64           `json:"completedAtMs"`
}

func (e *Engine) threadItemsList(ctx context.Context, req *appserver.Request) (any, error) {
	var p listParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	t, err := e.pageThread(*p.ThreadID, "thread/items/list")
	if err != nil {
		return nil, err
	}
	defer e.maybeUnload(t)
	var cur *cursor
	if p.Cursor != nil && *p.Cursor != "" {
		c, err := parseCursor(*p.Cursor, t.id, "items")
		if err != nil {
			// The reference's item cursors name another scope.
			if c2, err2 := parseCursor(*p.Cursor, t.id, "itemsByCreatedAtOrdinal"); err2 == nil {
				c = c2
			} else {
				return nil, err
			}
		}
		cur = &c
	}
	// Items come oldest first unless asked otherwise (the schema:
	// "defaults to ascending"), unlike turns.
	desc, err := sortDesc(p.SortDirection, false)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 100
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var all []itemEntry
	for _, tr := range t.turns {
		if p.TurnID != nil && *p.TurnID != "" && tr.ID != *p.TurnID {
			continue
		}
		for _, it := range tr.Items {
			all = append(all, itemEntry{TurnID: tr.ID, Item: it.Item, StartedAtMs: it.StartedAtMs, CompletedAtMs: it.CompletedAtMs})
		}
	}
	ords, next := page(len(all), cur, desc, limit)
	data := make([]itemEntry, 0, len(ords))
	for _, o := range ords {
		data = append(data, all[o-1])
	}
	resp := map[string]any{"data": data, "nextCursor": nil, "backwardsCursor": backwardsCursor(t.id, "items", ords)}
	if next > 0 {
		resp["nextCursor"] = cursorFor(t.id, "items", next)
	}
	return resp, nil
}
