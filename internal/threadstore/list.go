package threadstore

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Sort keys accepted by [Query].SortKey, as the protocol spells them.
const (
	SortCreatedAt = "created_at"
	SortUpdatedAt = "updated_at"
	SortRecencyAt = "recency_at"
)

const (
	sortCreated = iota
	sortUpdated
	sortRecency
	numSortKeys
)

var sortKeyNames = [numSortKeys]string{SortCreatedAt, SortUpdatedAt, SortRecencyAt}

// Page sizes for [Store.List].
const (
	DefaultLimit = 25
	MaxLimit     = 1000
)

// Query selects and orders threads for [Store.List]. The zero Query is the
// protocol's default listing: non-archived threads, newest created first,
// DefaultLimit per page.
type Query struct {
	// Archived selects archived threads; otherwise only non-archived ones.
	Archived bool
	// Cwds, ModelProviders and Sources each keep threads whose field equals
	// one of the values exactly; empty keeps all.
	Cwds           []string
	ModelProviders []string
	Sources        []string
	// Search keeps threads whose name or preview contains it, ignoring case.
	Search string
	// Filter, if set, keeps threads for which it returns true. It runs
	// under the store's read lock: it must be fast, must not call the
	// Store, and must neither modify nor retain m.
	Filter func(m *Meta) bool

	// SortKey is SortCreatedAt (the default), SortUpdatedAt or SortRecencyAt.
	// Ties are broken by id, so the order is total and stable.
	SortKey string
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
	// Cursor continues from a NextCursor or BackwardsCursor of an earlier
	// Page with the same SortKey.
	Cursor string
	// Limit is the page size: zero means DefaultLimit; above MaxLimit means
	// MaxLimit.
	Limit int
}

// Page is one page of [Store.List].
type Page struct {
	Items []Meta
	// NextCursor continues after the last item in the same direction;
	// empty when there are no more items.
	NextCursor string
	// BackwardsCursor, used with the opposite direction, lists from the
	// first item of this page (included) backwards; empty when the page is
	// empty. This is the protocol's backwardsCursor.
	BackwardsCursor string
}

// cursor is a keyset position: the (sort key value, id) of an item.
// Cursors survive inserts and deletions: a page continues after the
// position, wherever the item itself has gone.
type cursor struct {
	sortKey   int
	key       int64
	id        string
	inclusive bool
}

// The encoding is "<sort key>.<key>.<e|i>.<id>" in unpadded base64url. It
// is opaque to clients; nothing in it is trusted beyond its parse.
func (c cursor) String() string {
	incl := "e"
	if c.inclusive {
		incl = "i"
	}
	raw := sortKeyNames[c.sortKey] + "." + strconv.FormatInt(c.key, 10) + "." + incl + "." + c.id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func parseCursor(s string, sortKey int) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	parts := strings.SplitN(string(raw), ".", 4)
	if len(parts) != 4 {
		return cursor{}, fmt.Errorf("%w: malformed", ErrBadCursor)
	}
	if parts[0] != sortKeyNames[sortKey] {
		return cursor{}, fmt.Errorf("%w: cursor is for sort key %q, not %q", ErrBadCursor, parts[0], sortKeyNames[sortKey])
	}
	key, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: malformed", ErrBadCursor)
	}
	if parts[2] != "e" && parts[2] != "i" {
		return cursor{}, fmt.Errorf("%w: malformed", ErrBadCursor)
	}
	if !ValidID(parts[3]) {
		return cursor{}, fmt.Errorf("%w: malformed", ErrBadCursor)
	}
	return cursor{sortKey: sortKey, key: key, id: parts[3], inclusive: parts[2] == "i"}, nil
}

func sortKeyIndex(name string) (int, error) {
	switch name {
	case "", SortCreatedAt:
		return sortCreated, nil
	case SortUpdatedAt:
		return sortUpdated, nil
	case SortRecencyAt:
		return sortRecency, nil
	}
	return 0, fmt.Errorf("%w: unknown sort key %q", ErrInvalid, name)
}

// compareAt orders an entry against a position (key, id) on sort key k.
func compareAt(e *entry, k int, key int64, id string) int {
	if c := cmp.Compare(e.keys[k], key); c != 0 {
		return c
	}
	return strings.Compare(e.m.ID, id)
}

// sortedInsert and sortedRemove keep s.sorted[k] ordered by (key, id),
// ascending. A slice of pointers costs one memmove per change (about 80 KB
// at 10,000 threads), which is far cheaper than sorting on every List.
func sortedInsert(list []*entry, k int, e *entry) []*entry {
	i, _ := slices.BinarySearchFunc(list, e, func(a, b *entry) int { return compareAt(a, k, b.keys[k], b.m.ID) })
	return slices.Insert(list, i, e)
}

func sortedRemove(list []*entry, k int, e *entry) []*entry {
	i, found := slices.BinarySearchFunc(list, e, func(a, b *entry) int { return compareAt(a, k, b.keys[k], b.m.ID) })
	if !found || list[i] != e {
		panic("threadstore: sorted index out of step with the map")
	}
	list[len(list)-1], list = nil, slices.Delete(list, i, i+1)
	return list
}

func (q *Query) matches(e *entry, search string) bool {
	m := &e.m
	if m.Archived != q.Archived {
		return false
	}
	if len(q.Cwds) > 0 && !slices.Contains(q.Cwds, m.Cwd) {
		return false
	}
	if len(q.ModelProviders) > 0 && !slices.Contains(q.ModelProviders, m.ModelProvider) {
		return false
	}
	if len(q.Sources) > 0 && !slices.Contains(q.Sources, m.Source) {
		return false
	}
	if search != "" && !strings.Contains(e.lowerName, search) && !strings.Contains(e.lowerPreview, search) {
		return false
	}
	if q.Filter != nil && !q.Filter(m) {
		return false
	}
	return true
}

// List returns one page of the threads that match q, in q's order. It walks
// a sorted index from the cursor's position, so the first page and a page
// deep in the list cost the same; a selective filter costs a walk over the
// threads it skips.
func (s *Store) List(q Query) (Page, error) {
	k, err := sortKeyIndex(q.SortKey)
	if err != nil {
		return Page{}, err
	}
	limit := q.Limit
	switch {
	case limit < 0:
		return Page{}, fmt.Errorf("%w: negative limit", ErrInvalid)
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	var cur *cursor
	if q.Cursor != "" {
		c, err := parseCursor(q.Cursor, k)
		if err != nil {
			return Page{}, err
		}
		cur = &c
	}
	search := strings.ToLower(q.Search)

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Page{}, ErrClosed
	}
	list := s.sorted[k]
	step, i := 1, 0
	if !q.Ascending {
		step, i = -1, len(list)-1
	}
	if cur != nil {
		// First index whose position is after the cursor (or at it, when
		// inclusive) in ascending order.
		j, found := slices.BinarySearchFunc(list, *cur, func(e *entry, c cursor) int { return compareAt(e, k, c.key, c.id) })
		if q.Ascending {
			if found && !cur.inclusive {
				j++
			}
			i = j
		} else {
			if found && cur.inclusive {
				j++
			}
			i = j - 1
		}
	}
	var page Page
	var last *entry
	for ; i >= 0 && i < len(list); i += step {
		e := list[i]
		if !q.matches(e, search) {
			continue
		}
		if len(page.Items) == limit {
			page.NextCursor = cursor{sortKey: k, key: last.keys[k], id: last.m.ID}.String()
			break
		}
		if len(page.Items) == 0 {
			page.Items = make([]Meta, 0, min(limit, len(list)))
			page.BackwardsCursor = cursor{sortKey: k, key: e.keys[k], id: e.m.ID, inclusive: true}.String()
		}
		page.Items = append(page.Items, e.m.clone())
		last = e
	}
	return page, nil
}
