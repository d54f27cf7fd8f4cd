package fuzzy

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// MatchLimit is how many matches a search returns, over all roots: the
// reference's limit.
const MatchLimit = 50

// Match is one search result, in the wire shape of the reference's
// FuzzyFileSearchResult (snake_case, as that legacy type is).
type Match struct {
	Root      string `json:"root"`
	Path      string `json:"path"` // relative to Root, "/"-separated
	MatchType string `json:"match_type"`
	FileName  string `json:"file_name"`
	Score     uint32 `json:"score"`
	// Indices are the positions in Path, in characters (Unicode code
	// points, as the reference counts), of the characters the score
	// counted: sorted, without duplicates.
	Indices []uint32 `json:"indices"`
}

// Match types.
const (
	TypeFile      = "file"
	TypeDirectory = "directory"
)

// Ranking tiers, added above the matcher's score (which stays below
// 1<<16), as the reference does:
//
//   - a file whose name alone contains the query (one plain fuzzy word) is
//     scored on its name, plus tierName;
//   - a file whose name equals the query gets tierExact on top;
//   - of the directories whose name equals the query, the one with the
//     shortest path gets tierExact (only one: it is the directory the user
//     most likely means).
const (
	tierName  = 1 << 16
	tierExact = 2 << 16
)

// cand is a candidate in a top-N heap.
type cand struct {
	score uint32
	plen  uint32 // path length in bytes
	id    uint32 // file or directory id
	root  uint16 // index in the searched roots
	dir   bool
	name  bool // scored on the file name alone
}

// Search finds the best matches of pat in the indexes, at most limit of
// them, best first: by score, then shorter path, then path, then root
// order. Each index is searched in parallel chunks; each worker keeps a
// bounded heap, so the cost is linear in the index size. It returns
// ctx.Err() if ctx is cancelled.
func Search(ctx context.Context, idxs []*Index, pat *Pattern, limit int) ([]Match, error) {
	if limit <= 0 || len(idxs) == 0 {
		return []Match{}, nil
	}
	var all []cand
	var exact []cand
	for ri, x := range idxs {
		c, e, err := searchIndex(ctx, uint16(ri), x, pat, limit, idxs)
		if err != nil {
			return nil, err
		}
		all = append(all, c...)
		exact = append(exact, e...)
	}
	r := newRanker(idxs)
	if len(exact) > 0 {
		best := 0
		for i := 1; i < len(exact); i++ {
			if r.better(exact[i], exact[best]) {
				best = i
			}
		}
		exact[best].score += tierExact
		all = append(all, exact...)
	}
	slices.SortFunc(all, func(a, b cand) int {
		switch {
		case r.better(a, b):
			return -1
		case r.better(b, a):
			return 1
		}
		return 0
	})
	if len(all) > limit {
		all = all[:limit]
	}
	out := make([]Match, 0, len(all))
	var sc scorer
	for _, c := range all {
		out = append(out, materialize(&sc, idxs[c.root], pat, c))
	}
	return out, nil
}

// searchIndex returns x's best candidates (up to limit per worker) and,
// for a plain query, the best directory named exactly as the query.
func searchIndex(ctx context.Context, ri uint16, x *Index, pat *Pattern, limit int, idxs []*Index) ([]cand, []cand, error) {
	ndirs := len(x.dirParent)
	// consumed[a*ndirs+d]: how much of fuzzy atom a's needle directory d's
	// path consumes, greedily. Parents come before children, so one pass
	// builds it.
	consumed := make([]int32, len(pat.fuzzy)*ndirs)
	for ai, a := range pat.fuzzy {
		q := pat.atoms[a].needle
		k := consumed[ai*ndirs : (ai+1)*ndirs]
		for d := 1; d < ndirs; d++ {
			p := x.dirParent[d]
			n := int(k[p])
			if p != 0 && n < len(q) && q[n] == '/' {
				n++
			}
			k[d] = int32(consume(q, n, x.dirName(uint32(d)), pat.normalize))
		}
	}
	const chunk = 4096
	nf := len(x.fileDir)
	fileChunks := (nf + chunk - 1) / chunk
	dirChunks := (ndirs - 1 + chunk - 1) / chunk
	total := fileChunks + dirChunks
	workers := min(runtime.GOMAXPROCS(0), max(total, 1))
	var next atomic.Int64
	results := make([]*worker, workers)
	var wg sync.WaitGroup
	for i := range results {
		w := &worker{x: x, ri: ri, pat: pat, limit: limit, consumed: consumed, ndirs: ndirs, r: newRanker(idxs)}
		results[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c := int(next.Add(1)) - 1
				if c >= total {
					return
				}
				if c < fileChunks {
					for f := c * chunk; f < min((c+1)*chunk, nf); f++ {
						w.file(uint32(f))
					}
				} else {
					c -= fileChunks
					for d := 1 + c*chunk; d < min(1+(c+1)*chunk, ndirs); d++ {
						w.dir(uint32(d))
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var all, exact []cand
	for _, w := range results {
		all = append(all, w.heap...)
		if w.hasExact {
			exact = append(exact, w.exact)
		}
	}
	return all, exact, nil
}

// ranker orders candidates; it holds scratch buffers for comparing paths.
type ranker struct {
	idxs   []*Index
	pa, pb []byte
}

func newRanker(idxs []*Index) *ranker { return &ranker{idxs: idxs} }

// better reports whether a ranks above b.
func (r *ranker) better(a, b cand) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.plen != b.plen {
		return a.plen < b.plen
	}
	r.pa = appendPath(r.pa[:0], r.idxs[a.root], a)
	r.pb = appendPath(r.pb[:0], r.idxs[b.root], b)
	if c := bytes.Compare(r.pa, r.pb); c != 0 {
		return c < 0
	}
	return a.root < b.root
}

func appendPath(b []byte, x *Index, c cand) []byte {
	if c.dir {
		return append(b, x.dirPath(c.id)...)
	}
	d := x.fileDir[c.id]
	if d != 0 {
		b = append(b, x.dirPath(d)...)
		b = append(b, '/')
	}
	return append(b, x.fileName(c.id)...)
}

// worker scans chunks of one index.
type worker struct {
	x        *Index
	ri       uint16
	pat      *Pattern
	limit    int
	consumed []int32
	ndirs    int
	r        *ranker
	sc       scorer

	heap     []cand // min-heap: the worst kept candidate on top
	exact    cand   // best directory named exactly as the query
	hasExact bool
}

// upperBound is the most m matched characters can score: every one at the
// highest bonus, the first one's counted twice.
func upperBound(m int) uint32 {
	return uint32(m*(scoreMatch+bonusBoundaryPath) + (bonusFirstCharMul-1)*bonusBoundaryPath)
}

// hopeless reports whether a candidate that can score at most bound, with
// a path of plen bytes, cannot enter the full heap.
func (w *worker) hopeless(bound, plen uint32) bool {
	if len(w.heap) < w.limit {
		return false
	}
	top := w.heap[0]
	return bound < top.score || (bound == top.score && plen > top.plen)
}

func (w *worker) file(f uint32) {
	x, pat := w.x, w.pat
	d := x.fileDir[f]
	name := x.fileName(f)
	plen := uint32(len(name))
	if d != 0 {
		plen += uint32(len(x.dirPath(d))) + 1
	}
	c := cand{plen: plen, id: f, root: w.ri}
	for ai, a := range pat.fuzzy {
		q := pat.atoms[a].needle
		k := int(w.consumed[ai*w.ndirs+int(d)])
		if d != 0 && k < len(q) && q[k] == '/' {
			k++
		}
		if consume(q, k, name, pat.normalize) < len(q) {
			return
		}
	}
	if q := pat.plain; q != nil && consume(q.needle, 0, name, pat.normalize) == len(q.needle) {
		// The file name alone matches: score it on the name.
		tier := uint32(tierName)
		if len(name) >= len(q.needle) && len(name) <= utf8.UTFMax*len(q.needle) {
			tier += tierExact
		}
		if w.hopeless(tier+upperBound(len(q.needle)), plen) {
			return
		}
		w.sc.load(pat.normalize, name)
		s, _ := w.sc.fuzzy(q.needle, false)
		c.score = uint32(tierName) + clampScore(s)
		if runesEqual(w.sc.hay, q.needle) {
			c.score += tierExact
		}
		c.name = true
		w.push(c)
		return
	}
	if w.hopeless(w.pathBound(), plen) {
		return
	}
	if d != 0 {
		w.sc.load(pat.normalize, x.dirPath(d), slash, name)
	} else {
		w.sc.load(pat.normalize, name)
	}
	s, ok := scoreAtoms(&w.sc, pat, nil)
	if !ok {
		return
	}
	c.score = s
	w.push(c)
}

var slash = []byte{'/'}

func (w *worker) dir(d uint32) {
	x, pat := w.x, w.pat
	for ai := range pat.fuzzy {
		if int(w.consumed[ai*w.ndirs+int(d)]) < len(pat.atoms[pat.fuzzy[ai]].needle) {
			return
		}
	}
	path := x.dirPath(d)
	c := cand{plen: uint32(len(path)), id: d, root: w.ri, dir: true}
	exactName := false
	if q := pat.plain; q != nil {
		name := x.dirName(d)
		exactName = len(name) >= len(q.needle) && len(name) <= utf8.UTFMax*len(q.needle)
	}
	if !exactName && w.hopeless(w.pathBound(), c.plen) {
		return
	}
	w.sc.load(pat.normalize, path)
	s, ok := scoreAtoms(&w.sc, pat, nil)
	if !ok {
		return
	}
	c.score = s
	if exactName {
		// Compare the folded name (after the last "/") with the query.
		h := w.sc.hay
		i := len(h)
		for i > 0 && h[i-1] != '/' {
			i--
		}
		if runesEqual(h[i:], pat.plain.needle) {
			if !w.hasExact {
				w.exact, w.hasExact = c, true
				return
			}
			if w.r.better(c, w.exact) {
				c, w.exact = w.exact, c
			}
		}
	}
	w.push(c)
}

// pathBound is the most any path can score for the pattern.
func (w *worker) pathBound() uint32 {
	var ub uint32
	for _, a := range w.pat.atoms {
		if !a.negate {
			ub += upperBound(len(a.needle))
		}
	}
	return ub
}

// push adds c to the heap if it ranks among the best limit.
func (w *worker) push(c cand) {
	h := w.heap
	if len(h) < w.limit {
		h = append(h, c)
		// Sift up: the worst on top.
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !w.r.better(h[p], h[i]) {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		w.heap = h
		return
	}
	if !w.r.better(c, h[0]) {
		return
	}
	h[0] = c
	for i := 0; ; {
		l, worst := 2*i+1, i
		if l < len(h) && w.r.better(h[worst], h[l]) {
			worst = l
		}
		if r := l + 1; r < len(h) && w.r.better(h[worst], h[r]) {
			worst = r
		}
		if worst == i {
			break
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

func clampScore(s int32) uint32 {
	switch {
	case s < 0:
		return 0
	case s >= tierName:
		return tierName - 1
	}
	return uint32(s)
}

// scoreAtoms scores every atom against the loaded path and adds up the
// scores; ok is false if an atom rejects it. With pos non-nil, the
// matched positions are appended to *pos.
func scoreAtoms(sc *scorer, pat *Pattern, pos *[]int) (uint32, bool) {
	var total int32
	for i := range pat.atoms {
		a := &pat.atoms[i]
		var s int32
		var ok bool
		if a.kind == atomFuzzy {
			s, ok = sc.fuzzy(a.needle, pos != nil)
		} else {
			s, ok = sc.contiguous(a.needle, a.kind)
		}
		if a.negate {
			if ok {
				return 0, false
			}
			continue
		}
		if !ok {
			return 0, false
		}
		total += s
		if pos != nil {
			*pos = append(*pos, sc.pos...)
		}
	}
	return clampScore(total), true
}

// materialize turns a candidate into a Match, computing its indices with
// the same scoring that ranked it.
func materialize(sc *scorer, x *Index, pat *Pattern, c cand) Match {
	var path, name []byte
	if c.dir {
		path = x.dirPath(c.id)
		name = x.dirName(c.id)
	} else {
		name = x.fileName(c.id)
		path = appendPath(nil, x, c)
	}
	var pos []int
	if c.name {
		sc.load(pat.normalize, name)
		sc.fuzzy(pat.plain.needle, true)
		off := utf8.RuneCount(path) - utf8.RuneCount(name)
		for _, p := range sc.pos {
			pos = append(pos, p+off)
		}
	} else {
		sc.load(pat.normalize, path)
		scoreAtoms(sc, pat, &pos)
		slices.Sort(pos)
		pos = slices.Compact(pos)
	}
	m := Match{
		Root:      x.root,
		Path:      string(path),
		MatchType: TypeFile,
		FileName:  string(name),
		Score:     c.score,
		Indices:   make([]uint32, len(pos)),
	}
	if c.dir {
		m.MatchType = TypeDirectory
	}
	for i, p := range pos {
		m.Indices[i] = uint32(p)
	}
	return m
}
