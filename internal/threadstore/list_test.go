package threadstore

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// putMany creates threads concurrently, so that they share fsyncs.
func putMany(t testing.TB, s *Store, metas []Meta) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan Meta)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range next {
				if err := s.Put(m); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for _, m := range metas {
		next <- m
	}
	close(next)
	wg.Wait()
}

// randomMetas makes threads with colliding timestamps (whole seconds over a
// short span), so that ties broken by id matter.
func randomMetas(r *rand.Rand, n int) []Meta {
	cwds := []string{"/a", "/b", "/c"}
	providers := []string{"openai", "mock"}
	sources := []string{"cli", "vscode", "exec", "appServer"}
	words := []string{"Fix", "the", "BUG", "in", "parser", "Ünïcode", "say", "hi"}
	out := make([]Meta, n)
	for i := range out {
		at := func() time.Time { return t0.Add(time.Duration(r.IntN(n/4+1)) * time.Second) }
		var name *string
		if r.IntN(3) == 0 {
			s := words[r.IntN(len(words))] + " " + words[r.IntN(len(words))]
			name = &s
		}
		out[i] = Meta{
			ID:            fmt.Sprintf("%08x-%d", r.Uint32(), i),
			CreatedAt:     at(),
			UpdatedAt:     at(),
			RecencyAt:     at(),
			Name:          name,
			Preview:       words[r.IntN(len(words))] + " " + words[r.IntN(len(words))],
			Cwd:           cwds[r.IntN(len(cwds))],
			ModelProvider: providers[r.IntN(len(providers))],
			Source:        sources[r.IntN(len(sources))],
			Archived:      r.IntN(5) == 0,
		}
	}
	return out
}

// reference answers a query by filtering and sorting everything.
func reference(all []Meta, q Query) []Meta {
	k, _ := sortKeyIndex(q.SortKey)
	search := strings.ToLower(q.Search)
	var out []Meta
	for _, m := range all {
		e := newEntry(m, 0)
		if q.matches(e, search) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Meta) int {
		ea, eb := newEntry(a, 0), newEntry(b, 0)
		c := cmp.Or(cmp.Compare(ea.keys[k], eb.keys[k]), strings.Compare(a.ID, b.ID))
		if !q.Ascending {
			c = -c
		}
		return c
	})
	return out
}

func ids(ms []Meta) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// listAll pages through q and returns every item.
func listAll(t *testing.T, s *Store, q Query) []Meta {
	t.Helper()
	var out []Meta
	for pages := 0; ; pages++ {
		p, err := s.List(q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		if len(p.Items) > 0 && p.BackwardsCursor == "" || len(p.Items) == 0 && p.BackwardsCursor != "" {
			t.Fatalf("BackwardsCursor %q with %d items", p.BackwardsCursor, len(p.Items))
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out
		}
		if len(p.Items) != cmp.Or(q.Limit, DefaultLimit) {
			t.Fatalf("short page (%d) with a NextCursor", len(p.Items))
		}
		q.Cursor = p.NextCursor
	}
}

func TestListMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	all := randomMetas(r, 300)
	s, _ := openT(t, t.TempDir(), nil)
	defer closeT(t, s)
	putMany(t, s, all)
	for i := range all {
		all[i], _ = normalize(all[i])
	}
	queries := []Query{
		{},
		{Archived: true},
		{Cwds: []string{"/a", "/c"}},
		{ModelProviders: []string{"mock"}, Sources: []string{"cli", "exec"}},
		{Search: "bug"},
		{Search: "ÜNÏ"},
		{Search: "the b"},
		{Filter: func(m *Meta) bool { return m.ID[0] < '8' }},
	}
	for _, base := range queries {
		for _, key := range []string{"", SortCreatedAt, SortUpdatedAt, SortRecencyAt} {
			for _, asc := range []bool{false, true} {
				for _, limit := range []int{0, 1, 7, 1000} {
					q := base
					q.SortKey, q.Ascending, q.Limit = key, asc, limit
					want := ids(reference(all, q))
					got := ids(listAll(t, s, q))
					if !slices.Equal(got, want) {
						t.Fatalf("List(%+v):\n got %v\nwant %v", q, got, want)
					}
				}
			}
		}
	}
}

func TestListCursors(t *testing.T) {
	s, _ := openT(t, t.TempDir(), nil)
	defer closeT(t, s)
	// Ten threads, all created in the same second: order is by id alone.
	var all []Meta
	for i := range 10 {
		m := Meta{ID: fmt.Sprintf("t%d", i), CreatedAt: t0}
		mustPut(t, s, m)
		all = append(all, m)
	}
	p1, err := s.List(Query{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p1.Items); !slices.Equal(got, []string{"t9", "t8", "t7", "t6"}) {
		t.Fatalf("page 1 = %v", got)
	}
	// Inserts before and after the cursor's position do not disturb the
	// next page: it continues strictly after t6.
	mustPut(t, s, Meta{ID: "t95", CreatedAt: t0})
	mustPut(t, s, Meta{ID: "t55", CreatedAt: t0})
	if err := s.Delete("t6"); err != nil { // even the anchor itself
		t.Fatal(err)
	}
	p2, _ := s.List(Query{Limit: 4, Cursor: p1.NextCursor})
	if got := ids(p2.Items); !slices.Equal(got, []string{"t55", "t5", "t4", "t3"}) {
		t.Fatalf("page 2 = %v", got)
	}
	// The backwards cursor of page 2, used ascending, starts at its first
	// item (included) and goes back up.
	back, _ := s.List(Query{Limit: 3, Ascending: true, Cursor: p2.BackwardsCursor})
	if got := ids(back.Items); !slices.Equal(got, []string{"t55", "t7", "t8"}) {
		t.Fatalf("backwards = %v", got)
	}
	// A cursor is bound to its sort key.
	if _, err := s.List(Query{SortKey: SortUpdatedAt, Cursor: p1.NextCursor}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("cursor of another sort key: %v", err)
	}
	for _, bad := range []string{"!", "e30", cursor{id: "x"}.String() + "x", b64("created_at.1.e.."), b64("created_at.x.e.a"), b64("created_at.1.z.a")} {
		if _, err := s.List(Query{Cursor: bad}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
	if _, err := s.List(Query{SortKey: "section_position"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown sort key: %v", err)
	}
	if _, err := s.List(Query{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative limit: %v", err)
	}
	empty, _ := s.List(Query{Archived: true})
	if len(empty.Items) != 0 || empty.NextCursor != "" || empty.BackwardsCursor != "" {
		t.Errorf("empty page = %+v", empty)
	}
}

func TestListLimits(t *testing.T) {
	s, _ := openT(t, t.TempDir(), nil)
	defer closeT(t, s)
	var metas []Meta
	for i := range MaxLimit + 5 {
		metas = append(metas, Meta{ID: fmt.Sprintf("t%05d", i), CreatedAt: t0.Add(time.Duration(i))})
	}
	putMany(t, s, metas)
	p, _ := s.List(Query{})
	if len(p.Items) != DefaultLimit || p.NextCursor == "" {
		t.Errorf("default page: %d items", len(p.Items))
	}
	p, _ = s.List(Query{Limit: 1 << 30})
	if len(p.Items) != MaxLimit || p.NextCursor == "" {
		t.Errorf("huge limit: %d items", len(p.Items))
	}
	p, _ = s.List(Query{Limit: MaxLimit, Cursor: p.NextCursor})
	if len(p.Items) != 5 || p.NextCursor != "" {
		t.Errorf("last page: %d items, next %q", len(p.Items), p.NextCursor)
	}
}

// Updating a sort key moves the thread in the index.
func TestListFollowsUpdates(t *testing.T) {
	s, _ := openT(t, t.TempDir(), nil)
	defer closeT(t, s)
	for i := range 5 {
		mustPut(t, s, testMeta(fmt.Sprintf("t%d", i), i))
	}
	if err := s.Update("t1", func(m *Meta) error { m.UpdatedAt = t0.Add(time.Hour * 24); return nil }); err != nil {
		t.Fatal(err)
	}
	p, _ := s.List(Query{SortKey: SortUpdatedAt})
	if got := ids(p.Items); !slices.Equal(got, []string{"t1", "t4", "t3", "t2", "t0"}) {
		t.Errorf("by updated_at = %v", got)
	}
	p, _ = s.List(Query{SortKey: SortCreatedAt, Ascending: true})
	if got := ids(p.Items); !slices.Equal(got, []string{"t0", "t1", "t2", "t3", "t4"}) {
		t.Errorf("by created_at = %v", got)
	}
	if err := s.Update("t3", func(m *Meta) error { m.Archived = true; return nil }); err != nil {
		t.Fatal(err)
	}
	p, _ = s.List(Query{Archived: true})
	if got := ids(p.Items); !slices.Equal(got, []string{"t3"}) {
		t.Errorf("archived = %v", got)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
