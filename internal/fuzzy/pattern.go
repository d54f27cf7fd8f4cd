package fuzzy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A query is parsed as the reference's matcher parses it: words separated
// by unescaped whitespace, each word an atom that every result must
// satisfy, their scores added up:
//
//	abc     fuzzy: the characters in order, anywhere
//	'abc    substring
//	^abc    prefix of the path
//	abc$    suffix of the path
//	^abc$   the whole path
//	!abc    must not contain abc (also !^abc, !abc$); scores nothing
//	\ \!\^\'\$  a literal space, or a literal leading ! ^ ' or trailing $
//
// Matching ignores case always (the reference does, even when the query
// has capitals). Accented Latin letters match their base letter unless the
// query itself contains one ("cafe" finds "café"; "café" does not find
// "cafe").

type atomKind uint8

const (
	atomFuzzy atomKind = iota
	atomSubstring
	atomPrefix
	atomPostfix
	atomExact
)

type atom struct {
	kind   atomKind
	negate bool
	needle []rune // folded
}

// Pattern is a parsed query.
type Pattern struct {
	atoms     []atom
	normalize bool  // fold accented Latin letters in paths
	plain     *atom // the only atom, when it is a plain fuzzy one: file-name tiers apply
	fuzzy     []int // indexes of the non-negated fuzzy atoms
}

// ParsePattern parses a query. An empty or all-blank query has no atoms
// and matches everything with score 0.
func ParsePattern(query string) *Pattern {
	p := &Pattern{normalize: true}
	words := splitWords(query)
	for _, w := range words {
		for _, r := range w {
			if baseLetter(r) != 0 {
				p.normalize = false
			}
		}
	}
	for _, w := range words {
		a, ok := parseAtom(w, p.normalize)
		if !ok {
			continue
		}
		p.atoms = append(p.atoms, a)
	}
	for i := range p.atoms {
		if p.atoms[i].kind == atomFuzzy && !p.atoms[i].negate {
			p.fuzzy = append(p.fuzzy, i)
		}
	}
	if len(p.atoms) == 1 && p.atoms[0].kind == atomFuzzy && !p.atoms[0].negate {
		p.plain = &p.atoms[0]
	}
	return p
}

// splitWords splits at unescaped whitespace; "\ " (a backslash before any
// whitespace) is a literal blank inside a word. Other backslashes are kept
// for parseAtom.
func splitWords(q string) []string {
	var words []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			words = append(words, b.String())
			b.Reset()
		}
	}
	for i := 0; i < len(q); {
		r, n := utf8.DecodeRuneInString(q[i:])
		if r == '\\' && i+n < len(q) {
			r2, n2 := utf8.DecodeRuneInString(q[i+n:])
			if unicode.IsSpace(r2) {
				b.WriteRune(r2)
				i += n + n2
				continue
			}
		}
		if unicode.IsSpace(r) {
			flush()
		} else {
			b.WriteString(q[i : i+n])
		}
		i += n
	}
	flush()
	return words
}

func parseAtom(w string, normalize bool) (atom, bool) {
	var a atom
	switch {
	case strings.HasPrefix(w, "!"):
		a.negate = true
		a.kind = atomSubstring
		w = w[1:]
		switch {
		case strings.HasPrefix(w, "^"):
			a.kind = atomPrefix
			w = w[1:]
		case strings.HasPrefix(w, "'"):
			w = w[1:]
		}
	case strings.HasPrefix(w, "'"):
		a.kind = atomSubstring
		w = w[1:]
	case strings.HasPrefix(w, "^"):
		a.kind = atomPrefix
		w = w[1:]
	case strings.HasPrefix(w, `\!`), strings.HasPrefix(w, `\^`), strings.HasPrefix(w, `\'`):
		w = w[1:]
	}
	switch {
	case strings.HasSuffix(w, `\$`):
		w = w[:len(w)-2] + "$"
	case strings.HasSuffix(w, "$"):
		w = w[:len(w)-1]
		switch a.kind {
		case atomPrefix:
			a.kind = atomExact
		case atomFuzzy, atomSubstring:
			a.kind = atomPostfix
		}
	}
	if w == "" {
		return a, false
	}
	a.needle = make([]rune, 0, len(w))
	for _, r := range w {
		a.needle = append(a.needle, foldRune(r, normalize))
	}
	return a, true
}

// baseLetter returns the ASCII letter an accented Latin letter decomposes
// to, or 0.
func baseLetter(r rune) byte {
	switch {
	case r >= 0xC0 && r < 0x250:
		return latinBase[r-0xC0]
	case r >= 0x1E00 && r < 0x1F00:
		return latinExtBase[r-0x1E00]
	}
	return 0
}

// foldRune lowercases r and, when normalize is set, strips its accent.
func foldRune(r rune, normalize bool) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	if normalize {
		if b := baseLetter(r); b != 0 {
			r = rune(b)
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			return r
		}
	}
	return unicode.ToLower(r)
}

var asciiLower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i + 'a' - 'A')
		}
	}
	return t
}()

// consume advances k over needle as far as the haystack b (UTF-8) allows,
// greedily: the result is how many needle runes are a subsequence of b
// after the first k. Greedy leftmost matching is exact for "is it a
// subsequence", and composes: consuming a directory path, then "/", then a
// name gives the same as consuming the whole path.
func consume(needle []rune, k int, b []byte, normalize bool) int {
	i := 0
	for i < len(b) && k < len(needle) {
		c := b[i]
		if c >= utf8.RuneSelf {
			break
		}
		// needle[k] may be non-ASCII; then no ASCII byte equals it and
		// the loop runs to the first non-ASCII byte or the end.
		if rune(asciiLower[c]) == needle[k] {
			k++
		}
		i++
	}
	for i < len(b) && k < len(needle) {
		c := b[i]
		if c < utf8.RuneSelf {
			if rune(asciiLower[c]) == needle[k] {
				k++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if foldRune(r, normalize) == needle[k] {
			k++
		}
		i += n
	}
	return k
}
