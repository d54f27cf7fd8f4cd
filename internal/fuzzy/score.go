package fuzzy

import (
	"unicode"
	"unicode/utf8"
)

// Scoring follows the model of fzf's and nucleo's path matching, with the
// constants the reference uses, so that scores have the same scale as the
// reference's and agree with them on ordinary queries:
//
//   - each matched character scores 16 plus a bonus for where it sits: 9
//     after "/" (and at the start of the path), 8 after any other
//     non-word character (_ - . space) or on one (but 0 on "/" itself), 5
//     at a camelCase hump or the first digit of a number, 0 inside a word;
//   - the first query character's bonus counts twice;
//   - in a run of adjacent matches each character earns at least 4, and
//     at least the bonus of the character that started the run, so a
//     contiguous match at a word start beats the same letters scattered;
//   - a gap between matches costs 3, plus 1 per character after the first.
//
// Unlike fzf and nucleo, whose dynamic program keeps one candidate per
// cell and can miss the best alignment, ours keeps one per cell and
// run-bonus state (at most four), so the score is the maximum over all
// alignments, and the indices returned are that alignment's.
const (
	scoreMatch        = 16
	penaltyGapStart   = 3
	penaltyGapExtend  = 1
	bonusBoundary     = scoreMatch / 2 // 8
	bonusNonWord      = scoreMatch / 2 // 8
	bonusCamel        = bonusBoundary - penaltyGapStart
	bonusConsecutive  = penaltyGapStart + penaltyGapExtend
	bonusFirstCharMul = 2
	bonusBoundaryWS   = bonusBoundary     // after whitespace, in path mode
	bonusBoundaryPath = bonusBoundary + 1 // after "/"
)

// The run-bonus states: a run's bonus floor is one of these values.
var runBonus = [4]int32{0, bonusCamel, bonusBoundary, bonusBoundaryPath}

func runState(b int32) uint8 {
	switch {
	case b >= bonusBoundaryPath:
		return 3
	case b >= bonusBoundary:
		return 2
	case b >= bonusCamel:
		return 1
	}
	return 0
}

type charClass uint8

const (
	classWhite charClass = iota
	classNonWord
	classDelim
	classLower
	classUpper
	classLetter
	classNumber
)

var asciiClass = func() (t [utf8.RuneSelf]charClass) {
	for i := range t {
		c := rune(i)
		switch {
		case 'a' <= c && c <= 'z':
			t[i] = classLower
		case 'A' <= c && c <= 'Z':
			t[i] = classUpper
		case '0' <= c && c <= '9':
			t[i] = classNumber
		case c == '/':
			t[i] = classDelim
		case c == ' ' || ('\t' <= c && c <= '\r'):
			t[i] = classWhite
		default:
			t[i] = classNonWord
		}
	}
	return t
}()

func classOf(r rune) charClass {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLower(r):
		return classLower
	case unicode.IsUpper(r):
		return classUpper
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsSpace(r):
		return classWhite
	}
	return classNonWord
}

func bonusFor(prev, cur charClass) int32 {
	if cur >= classLower {
		switch prev {
		case classWhite:
			return bonusBoundaryWS
		case classDelim:
			return bonusBoundaryPath
		case classNonWord:
			return bonusBoundary
		}
	}
	if (prev == classLower && cur == classUpper) || (prev != classNumber && cur == classNumber) {
		return bonusCamel
	}
	switch cur {
	case classNonWord:
		return bonusNonWord
	case classWhite:
		return bonusBoundaryWS
	}
	return 0 // "/" itself earns nothing; what follows it does
}

const negInf = -1 << 28

// maxCells bounds the dynamic program (query length × path length);
// beyond it the leftmost alignment is scored instead.
const maxCells = 1 << 16

// scorer holds one haystack, decoded, and the scratch space to score
// atoms against it. It is not safe for concurrent use; each search worker
// has its own.
type scorer struct {
	hay   []rune  // folded characters
	bonus []int32 // bonus of each position
	lo    []int   // per needle rune: leftmost feasible position
	hi    []int   // per needle rune: rightmost feasible position
	rows  []int32 // dynamic program, 4 states per cell
	best  []int32 // prefix maxima of a row, plus position
	pos   []int   // an alignment
}

// load decodes the concatenation of parts into the scorer.
func (s *scorer) load(normalize bool, parts ...[]byte) {
	total := 0
	for _, b := range parts {
		total += len(b)
	}
	s.hay = grow(s.hay, total)
	s.bonus = grow(s.bonus, total)
	hay, bonus := s.hay, s.bonus
	n := 0
	prev := classDelim // the start of a path counts as after "/"
	for _, b := range parts {
		for i := 0; i < len(b); {
			c := b[i]
			if c < utf8.RuneSelf {
				cl := asciiClass[c]
				bonus[n] = bonusTable[prev][cl]
				hay[n] = rune(asciiLower[c])
				prev = cl
				n++
				i++
				continue
			}
			r, w := utf8.DecodeRune(b[i:])
			i += w
			cl := classOf(r)
			bonus[n] = bonusTable[prev][cl]
			hay[n] = foldRune(r, normalize)
			prev = cl
			n++
		}
	}
	s.hay, s.bonus = hay[:n], bonus[:n]
}

var bonusTable = func() (t [classNumber + 1][classNumber + 1]int32) {
	for p := range t {
		for c := range t[p] {
			t[p][c] = bonusFor(charClass(p), charClass(c))
		}
	}
	return t
}()

// bounds computes the feasible window of each needle rune: lo by matching
// greedily from the left, hi from the right. It reports false when the
// needle is not a subsequence.
func (s *scorer) bounds(q []rune) bool {
	m, n := len(q), len(s.hay)
	if m == 0 || m > n {
		return false
	}
	s.lo = grow(s.lo, m)
	s.hi = grow(s.hi, m)
	k := 0
	for j := 0; j < n && k < m; j++ {
		if s.hay[j] == q[k] {
			s.lo[k] = j
			k++
		}
	}
	if k < m {
		return false
	}
	k = m - 1
	for j := n - 1; j >= 0 && k >= 0; j-- {
		if s.hay[j] == q[k] {
			s.hi[k] = j
			k--
		}
	}
	return true
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n, n+n/2)
	}
	return b[:n]
}

// fuzzy scores q as a fuzzy atom against the loaded haystack. With
// indices, it also returns the best alignment (in s.pos). ok is false
// when q is not a subsequence.
func (s *scorer) fuzzy(q []rune, indices bool) (score int32, ok bool) {
	if !s.bounds(q) {
		return 0, false
	}
	m, n := len(q), len(s.hay)
	if m*n > maxCells {
		s.pos = append(s.pos[:0], s.lo[:m]...)
		return s.alignmentScore(s.pos), true
	}
	if m == 1 {
		best, at := int32(negInf), 0
		for j := s.lo[0]; j <= s.hi[0]; j++ {
			if s.hay[j] == q[0] {
				// The first of equal positions, as nucleo.
				if v := scoreMatch + bonusFirstCharMul*s.bonus[j]; v > best {
					best, at = v, j
				}
			}
		}
		s.pos = append(s.pos[:0], at)
		return best, true
	}
	// rows[i][j][st]: best score of q[:i+1] with q[i] at j, in a run whose
	// bonus floor is runBonus[st]. Only the window [lo[i], hi[i]] of row i
	// is written; with indices all rows are kept for the backtrack,
	// otherwise two alternate.
	nrows := 2
	if indices {
		nrows = m
	}
	s.rows = grow(s.rows, nrows*n*4)
	s.best = grow(s.best, n)
	row := func(i int) []int32 {
		if !indices {
			i &= 1
		}
		return s.rows[i*n*4 : (i+1)*n*4]
	}
	cur := row(0)
	for j := s.lo[0]; j <= s.hi[0]; j++ {
		c := cur[j*4 : j*4+4]
		c[0], c[1], c[2], c[3] = negInf, negInf, negInf, negInf
		if s.hay[j] == q[0] {
			b := s.bonus[j]
			c[runState(b)] = scoreMatch + bonusFirstCharMul*b
		}
	}
	for i := 1; i < m; i++ {
		prev, cur := row(i-1), row(i)
		plo, phi := s.lo[i-1], s.hi[i-1]
		// best[j] = max over j' in [plo, j] of (prev cell max + j').
		run := int32(negInf)
		for j := plo; j <= phi; j++ {
			p := prev[j*4 : j*4+4]
			v := max(p[0], p[1], p[2], p[3])
			if v > negInf {
				run = max(run, v+int32(j))
			}
			s.best[j] = run
		}
		for j := s.lo[i]; j <= s.hi[i]; j++ {
			c := cur[j*4 : j*4+4]
			c[0], c[1], c[2], c[3] = negInf, negInf, negInf, negInf
			if s.hay[j] != q[i] {
				continue
			}
			b := s.bonus[j]
			// After a gap: from any earlier match at j' <= j-2, paying
			// 3 + (gap-1) = j - j' + 1.
			if g := min(j-2, phi); g >= plo && s.best[g] > negInf {
				c[runState(b)] = s.best[g] - int32(j) - 1 + scoreMatch + b
			}
			// Extending a run from j-1.
			if j-1 >= plo && j-1 <= phi {
				p := prev[(j-1)*4 : j*4]
				for st := range 4 {
					if p[st] <= negInf {
						continue
					}
					fb := runBonus[st]
					eff := max(b, fb, bonusConsecutive)
					nst := uint8(st)
					if b >= bonusBoundary && b > fb {
						nst = runState(b)
					}
					c[nst] = max(c[nst], p[st]+scoreMatch+eff)
				}
			}
		}
	}
	last := row(m - 1)
	best, at, atSt := int32(negInf), -1, 0
	for j := s.lo[m-1]; j <= s.hi[m-1]; j++ {
		for st := range 4 {
			if v := last[j*4+st]; v > negInf && v >= best {
				best, at, atSt = v, j, st
			}
		}
	}
	if at < 0 {
		return 0, false // unreachable: bounds found an alignment
	}
	if indices {
		s.backtrack(q, at, atSt, best)
	}
	return best, true
}

// backtrack recovers the alignment ending with q[m-1] at j in state st
// with score v. Among alignments of equal score it prefers, as nucleo
// does, extending a run, then the earliest earlier match.
func (s *scorer) backtrack(q []rune, j, st int, v int32) {
	m, n := len(q), len(s.hay)
	s.pos = grow(s.pos, m)
	s.pos[m-1] = j
	for i := m - 1; i > 0; i-- {
		prev := s.rows[(i-1)*n*4 : i*n*4]
		plo, phi := s.lo[i-1], s.hi[i-1]
		b := s.bonus[j]
		found := false
		if j-1 >= plo && j-1 <= phi {
			for pst := range 4 {
				pv := prev[(j-1)*4+pst]
				if pv <= negInf {
					continue
				}
				fb := runBonus[pst]
				nst := pst
				if b >= bonusBoundary && b > fb {
					nst = int(runState(b))
				}
				if nst == st && pv+scoreMatch+max(b, fb, bonusConsecutive) == v {
					j, st, v = j-1, pst, pv
					found = true
					break
				}
			}
		}
		if !found && st == int(runState(b)) {
			want := v - scoreMatch - b + int32(j) + 1 // prev cell + j'
			for jj := plo; jj <= min(j-2, phi) && !found; jj++ {
				for pst := range 4 {
					if pv := prev[jj*4+pst]; pv > negInf && pv+int32(jj) == want {
						j, st, v = jj, pst, pv
						found = true
						break
					}
				}
			}
		}
		if !found {
			// Unreachable if the table is consistent; fall back to the
			// leftmost alignment rather than return wrong indices.
			copy(s.pos, s.lo[:m])
			return
		}
		s.pos[i-1] = j
	}
}

// alignmentScore scores the alignment pos directly from the rules above.
// The dynamic program's result must equal it for the alignment it
// returns; the tests hold it to that.
func (s *scorer) alignmentScore(pos []int) int32 {
	var score, fb int32
	for i, p := range pos {
		b := s.bonus[p]
		switch {
		case i == 0:
			score += scoreMatch + bonusFirstCharMul*b
			fb = b
		case p == pos[i-1]+1:
			score += scoreMatch + max(b, fb, bonusConsecutive)
			if b >= bonusBoundary && b > fb {
				fb = b
			}
		default:
			gap := int32(p - pos[i-1] - 1)
			score += scoreMatch + b - penaltyGapStart - (gap-1)*penaltyGapExtend
			fb = b
		}
	}
	return score
}

// contiguous scores q as a substring, prefix, suffix or exact atom: the
// best occurrence allowed by kind, leaving it in s.pos.
func (s *scorer) contiguous(q []rune, kind atomKind) (int32, bool) {
	m, n := len(q), len(s.hay)
	if m > n {
		return 0, false
	}
	from, to := 0, n-m
	switch kind {
	case atomPrefix:
		to = 0
	case atomPostfix:
		from = n - m
	case atomExact:
		if m != n {
			return 0, false
		}
		to = 0
	}
	best, at := int32(negInf), -1
	for st := from; st <= to; st++ {
		if !runesEqual(s.hay[st:st+m], q) {
			continue
		}
		var score, fb int32
		for k := range m {
			b := s.bonus[st+k]
			if k == 0 {
				score, fb = scoreMatch+bonusFirstCharMul*b, b
				continue
			}
			score += scoreMatch + max(b, fb, bonusConsecutive)
			if b >= bonusBoundary && b > fb {
				fb = b
			}
		}
		if score >= best {
			best, at = score, st
		}
	}
	if at < 0 {
		return 0, false
	}
	s.pos = s.pos[:0]
	for k := range m {
		s.pos = append(s.pos, at+k)
	}
	return best, true
}

func runesEqual(a, b []rune) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
