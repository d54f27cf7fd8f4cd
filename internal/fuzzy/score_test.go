package fuzzy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// scoreOf scores a plain fuzzy query against a whole path.
func scoreOf(t testing.TB, query, path string) (int32, []int, bool) {
	t.Helper()
	p := ParsePattern(query)
	var sc scorer
	sc.load(p.normalize, []byte(path))
	s, ok := sc.fuzzy(p.atoms[0].needle, true)
	return s, slices.Clone(sc.pos), ok
}

// Scores the reference (codex app-server 0.169.0) gave for whole-path
// matches; ours must agree.
func TestScoreAgreesWithReference(t *testing.T) {
	for _, tt := range []struct {
		query, path string
		score       int32
		indices     []int
	}{
		{"main", "src/main.go", 109, []int{4, 5, 6, 7}},
		{"main", "my_awesome_main.rs", 104, []int{11, 12, 13, 14}},
		{"main", "src/日本語main.txt", 76, []int{7, 8, 9, 10}},
		{"src", "src/sub", 84, []int{0, 1, 2}},
		{"sub", "src/sub/Main_test.go", 84, []int{4, 5, 6}},
		{"gitignore", ".gitignore", 224, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"ndu", "src/ñandú.txt", 66, []int{4, 7, 8}},
		{"nandu", "src/ñandú.txt", 134, []int{4, 5, 6, 7, 8}},
		{"st", "subway/x.txt", 48, []int{0, 9}},
		{"st", "src/ñandú.txt", 47, []int{0, 10}},
		{"st", "src/mainframe.txt", 43, []int{0, 14}},
		{"st", "docs/MAINTAINERS.md", 25, []int{3, 9}},
		{"sbw", "subway", 67, []int{0, 2, 3}},
		{"sbw", "src/sub/my_awesome_main.rs", 56, []int{4, 6, 12}},
		{"x", "subway/x.txt", 34, []int{7}},
		{"mf", "mainframe.txt", 45, []int{0, 4}},
		{"src/main", "src/main.go", 209, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"src/main", "src/sub/Main_test.go", 203, []int{0, 1, 2, 3, 8, 9, 10, 11}},
	} {
		s, pos, ok := scoreOf(t, tt.query, tt.path)
		if !ok || s != tt.score || !slices.Equal(pos, tt.indices) {
			t.Errorf("%q in %q: score %d %v (ok %v), want %d %v", tt.query, tt.path, s, pos, ok, tt.score, tt.indices)
		}
	}
}

func TestRanking(t *testing.T) {
	// Each pair: the query scores the first path above the second.
	for _, tt := range []struct {
		name, query, better, worse string
	}{
		{"contiguous beats scattered", "conf", "app/config.go", "app/cxoxnxf.go"},
		{"word start beats mid-word", "port", "src/port.go", "src/import.go"},
		{"after underscore beats mid-word", "map", "src/name_map.go", "src/namemap.go"},
		{"camel hump beats mid-word", "map", "src/nameMap.go", "src/namemap.go"},
		{"path start beats after dot", "go", "go/x", "x.go/y"},
		{"fewer gaps", "abc", "a/b/c", "a/bxxxxxc"},
		{"short gap beats long gap", "ac", "abc", "abbbbbc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, _, ok1 := scoreOf(t, tt.query, tt.better)
			w, _, ok2 := scoreOf(t, tt.query, tt.worse)
			if !ok1 || !ok2 || b <= w {
				t.Errorf("%q: %q scores %d, %q scores %d", tt.query, tt.better, b, tt.worse, w)
			}
		})
	}
}

func TestSearchRanking(t *testing.T) {
	x := newTestIndex("/r",
		"lib/main",                   // file named exactly as the query
		"src/main.go",                // name contains it contiguously
		"src/mainframe.txt",          // same score, longer path
		"src/sub/my_awesome_main.rs", // after "_": lower bonus
		"main_dir/other.txt",         // only the directory part matches
		"m/a/i/n.txt",                // scattered over directories
		"docs/", "x/main/", "main/",  // directories named main: only the shortest gets the exact tier
		"unrelated.txt",
	)
	ms, err := Search(context.Background(), []*Index{x}, ParsePattern("main"), MatchLimit)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s %s %d", m.MatchType, m.Path, m.Score))
	}
	want := []string{
		"file lib/main 196717",                  // 3<<16 + 109
		"directory main 131181",                 // 2<<16 + 109
		"file src/main.go 65645",                // 1<<16 + 109
		"file src/mainframe.txt 65645",          // same score, longer path
		"file src/sub/my_awesome_main.rs 65640", // 1<<16 + 104
		"directory x/main 109",                  // equal scores: shorter path first
		"directory main_dir 109",
		"file main_dir/other.txt 109",
		"file m/a/i/n.txt 100",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, m := range ms {
		if m.Path == "src/main.go" && !slices.Equal(m.Indices, []uint32{4, 5, 6, 7}) {
			t.Errorf("indices %v", m.Indices)
		}
		if m.Path == "m/a/i/n.txt" && !slices.Equal(m.Indices, []uint32{0, 2, 4, 6}) { // 34 + 3×(16+9-3)
			t.Errorf("indices %v", m.Indices)
		}
	}
}

func TestSearchLimitAndTies(t *testing.T) {
	var paths []string
	for i := range 200 {
		paths = append(paths, fmt.Sprintf("d%d/file-%03d.txt", i%7, i))
	}
	paths = append(paths, "x/file.txt") // shortest: first among equals
	x := newTestIndex("/r", paths...)
	ms, err := Search(context.Background(), []*Index{x}, ParsePattern("file"), MatchLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != MatchLimit {
		t.Fatalf("%d results", len(ms))
	}
	if ms[0].Path != "x/file.txt" {
		t.Errorf("first %q", ms[0].Path)
	}
	// Equal scores and lengths: by path. The 49 others must be the
	// alphabetically first of the 200 (a deterministic choice, unlike
	// the reference's).
	rest := ms[1:]
	if !slices.IsSortedFunc(rest, func(a, b Match) int { return strings.Compare(a.Path, b.Path) }) {
		t.Errorf("not sorted: %v", rest)
	}
	var all []string
	for _, p := range paths[:200] {
		all = append(all, p)
	}
	slices.Sort(all)
	for i, m := range rest {
		if m.Path != all[i] {
			t.Fatalf("result %d is %q, want %q", i+1, m.Path, all[i])
		}
	}
}

func TestSearchMultipleRoots(t *testing.T) {
	a := newTestIndex("/a", "sub/", "one/sub/", "x.txt")
	b := newTestIndex("/b", "sub/", "sub.go")
	ms, err := Search(context.Background(), []*Index{a, b}, ParsePattern("sub"), MatchLimit)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s:%s %d", m.Root, m.Path, m.Score))
	}
	want := []string{
		"/a:sub 131156", // one exact directory over all roots: the first root breaks the tie
		"/b:sub.go 65620",
		"/b:sub 84",
		"/a:one/sub 84",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPatternSyntax(t *testing.T) {
	x := newTestIndex("/r", "src/main.go", "src/mainframe.txt", "lib/main", "docs/readme.md", "a b/c.txt", "cost$.txt", "^caret")
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"'mai", []string{"lib/main", "src/main.go", "src/mainframe.txt"}},
		{"^src", []string{"src", "src/main.go", "src/mainframe.txt"}},
		{"main$", []string{"lib/main"}},
		{"^src$", []string{"src"}},
		{"src main", []string{"src/main.go", "src/mainframe.txt"}},
		{"main !frame", []string{"lib/main", "src/main.go"}},
		{"main !^src", []string{"lib/main"}},
		{"main !.go$", []string{"lib/main", "src/mainframe.txt"}},
		{`a\ b`, []string{"a b", "a b/c.txt"}},
		{`cost\$`, []string{"cost$.txt"}},
		{`\^car`, []string{"^caret"}},
		{"MAIN", []string{"lib/main", "src/main.go", "src/mainframe.txt"}},
		{"nothing-here", nil},
	} {
		ms, err := Search(context.Background(), []*Index{x}, ParsePattern(tt.query), MatchLimit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Path)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.query, got, tt.want)
		}
	}
	// Blank queries match everything with score 0 and no indices.
	ms, _ := Search(context.Background(), []*Index{x}, ParsePattern("  "), MatchLimit)
	if len(ms) != 11 || ms[0].Score != 0 || len(ms[0].Indices) != 0 || ms[0].Indices == nil {
		t.Errorf("blank query: %v", ms)
	}
}

func TestCaseAndAccents(t *testing.T) {
	x := newTestIndex("/r", "Café/Menu.txt", "cafe/menu.txt", "日本語/ファイル.txt", "ÑANDÚ")
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"cafe", []string{"Café", "Café/Menu.txt", "cafe", "cafe/menu.txt"}}, // plain letters match accented ones
		{"CAFE", []string{"Café", "Café/Menu.txt", "cafe", "cafe/menu.txt"}}, // capitals do not make it case-sensitive
		{"café", []string{"Café", "Café/Menu.txt"}},                          // an accent in the query turns folding off
		{"CAFÉ", []string{"Café", "Café/Menu.txt"}},
		{"ñandú", []string{"ÑANDÚ"}},
		{"ファイル", []string{"日本語/ファイル.txt"}},
		{"本フ", []string{"日本語/ファイル.txt"}},
	} {
		ms, err := Search(context.Background(), []*Index{x}, ParsePattern(tt.query), MatchLimit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Path)
			checkIndices(t, tt.query, m)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.query, got, tt.want)
		}
	}
	// Indices count characters, not bytes.
	ms, _ := Search(context.Background(), []*Index{x}, ParsePattern("txt"), MatchLimit)
	for _, m := range ms {
		if m.Path == "日本語/ファイル.txt" && !slices.Equal(m.Indices, []uint32{9, 10, 11}) {
			t.Errorf("indices %v", m.Indices)
		}
	}
}

// checkIndices checks the invariants of a plain query's match: indices
// strictly increasing, inside the path, and spelling the query once
// folded.
func checkIndices(t testing.TB, query string, m Match) {
	t.Helper()
	p := ParsePattern(query)
	runes := []rune(m.Path)
	var spelled []rune
	for i, ix := range m.Indices {
		if int(ix) >= len(runes) || (i > 0 && ix <= m.Indices[i-1]) {
			t.Fatalf("%q in %q: bad indices %v", query, m.Path, m.Indices)
		}
		spelled = append(spelled, foldRune(runes[ix], p.normalize))
	}
	if p.plain != nil && !slices.Equal(spelled, p.plain.needle) {
		t.Fatalf("%q in %q: indices %v spell %q", query, m.Path, m.Indices, string(spelled))
	}
}

// bruteForce returns the best score over every alignment of q in the
// loaded haystack.
func bruteForce(sc *scorer, q []rune) (int32, bool) {
	best, found := int32(negInf), false
	pos := make([]int, len(q))
	var rec func(i, from int)
	rec = func(i, from int) {
		if i == len(q) {
			if s := sc.alignmentScore(pos); s > best {
				best = s
			}
			found = true
			return
		}
		for j := from; j < len(sc.hay); j++ {
			if sc.hay[j] == q[i] {
				pos[i] = j
				rec(i+1, j+1)
			}
		}
	}
	rec(0, 0)
	return best, found
}

// The dynamic program finds the best alignment, and the indices it
// returns score exactly what it reports.
func TestFuzzyIsOptimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aAbB/_.-1 é")
	var sc scorer
	for range 20000 {
		n := 1 + r.IntN(14)
		hay := make([]rune, n)
		for i := range hay {
			hay[i] = alphabet[r.IntN(len(alphabet))]
		}
		m := 1 + r.IntN(4)
		q := make([]rune, m)
		for i := range q {
			q[i] = foldRune(alphabet[r.IntN(len(alphabet))], true)
		}
		sc.load(true, []byte(string(hay)))
		want, wantOK := bruteForce(&sc, q)
		got, ok := sc.fuzzy(q, true)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("%q in %q: got %d %v, brute force %d %v", string(q), string(hay), got, ok, want, wantOK)
		}
		if !ok {
			continue
		}
		if s := sc.alignmentScore(sc.pos); s != got {
			t.Fatalf("%q in %q: indices %v score %d, reported %d", string(q), string(hay), sc.pos, s, got)
		}
		if s, _ := sc.fuzzy(q, false); s != got {
			t.Fatalf("%q in %q: score-only %d, with indices %d", string(q), string(hay), s, got)
		}
	}
}

func TestLongInputs(t *testing.T) {
	// Past maxCells the leftmost alignment is scored: still consistent.
	path := strings.Repeat("abcdefgh/", 800)
	q := strings.Repeat("a", 100)
	s, pos, ok := scoreOf(t, q, path)
	if !ok || len(pos) != 100 {
		t.Fatalf("ok %v, %d indices", ok, len(pos))
	}
	var sc scorer
	sc.load(true, []byte(path))
	if sc.alignmentScore(pos) != s {
		t.Fatal("inconsistent")
	}
	// Scores stay in their tier.
	x := newTestIndex("/r", path+"x")
	ms, _ := Search(context.Background(), []*Index{x}, ParsePattern(strings.Repeat("b", 700)), MatchLimit)
	if len(ms) == 0 {
		t.Fatal("no match")
	}
	for _, m := range ms {
		if m.Score >= tierName {
			t.Fatalf("score %d", m.Score)
		}
	}
}

// FuzzMatch checks that any query against any path neither panics nor
// returns bad indices.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"main", "src/main.go"}, {"ma in", "docs/MAINTAINERS.md"}, {"'x !y ^z w$", "z/w"},
		{"ñandú", "src/Ñandú.txt"}, {"\\ ", "a b"}, {"日本", "日本語/x"}, {"", ""}, {"!", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, query, path string) {
		if !utf8.ValidString(path) || strings.Contains(path, "//") || strings.HasPrefix(path, "/") ||
			strings.HasSuffix(path, "/") || path == "" || len(path) > 512 || len(query) > 64 {
			return
		}
		x := newTestIndex("/r", path)
		ms, err := Search(context.Background(), []*Index{x}, ParsePattern(query), MatchLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			checkIndices(t, query, m)
		}
	})
}
