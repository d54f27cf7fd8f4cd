package fuzzy

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// This file implements the subset of gitignore(5) the index needs: one
// file's patterns compiled into rules, and a stack of such files from the
// root down to a directory, consulted deepest first.
//
// Supported: comments, blank lines, trailing-space trimming (a backslash
// keeps a space), "!" negation, "\" escapes, directory-only patterns
// ("dir/"), anchoring by a leading or inner slash, "*", "?", bracket
// expressions with ranges, negation ("[!...]", "[^...]") and POSIX classes
// ("[[:digit:]]"), and "**" as a whole path segment (leading "**/", inner
// "/**/", trailing "/**"). Matching is case-sensitive, as git on Linux. A
// line whose bracket expression is not closed is dropped, as the
// reference's ignore library does.

// ignoreRule is one compiled pattern line.
type ignoreRule struct {
	negate   bool
	dirOnly  bool
	anchored bool     // match the path relative to the file's directory, segment by segment
	segs     []string // the pattern's segments ("**" only as a whole segment)
	doubled  bool     // segs contains "**"
	// Fast paths for unanchored one-segment patterns.
	kind   ruleKind
	suffix string // for ruleSuffix: the text after the leading "*"
}

type ruleKind uint8

const (
	ruleGlob    ruleKind = iota // general glob on the base name or on segments
	ruleLiteral                 // base name equals segs[0]
	ruleSuffix                  // base name ends with suffix ("*.log")
	ruleAny                     // "*" or "**": every name
)

// ignoreFile is the compiled content of one ignore file.
type ignoreFile struct {
	// dir is the file's directory relative to the root, "" for the root,
	// otherwise with a trailing slash ("src/").
	dir   string
	rules []ignoreRule
}

// parseIgnore compiles the lines of an ignore file found in dir (relative
// to the root, "" or ending in "/"). It returns nil when no line is a rule.
func parseIgnore(dir string, data []byte) *ignoreFile {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	f := &ignoreFile{dir: dir}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if r, ok := compileRule(string(line)); ok {
			f.rules = append(f.rules, r)
		}
	}
	if len(f.rules) == 0 {
		return nil
	}
	return f
}

// compileRule compiles one line; ok is false for blanks, comments and
// invalid patterns.
func compileRule(line string) (r ignoreRule, ok bool) {
	if line == "" || line[0] == '#' {
		return r, false
	}
	line = trimTrailingSpaces(line)
	if line == "" {
		return r, false
	}
	if line[0] == '!' {
		r.negate = true
		line = line[1:]
	} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") && !escapedAt(line, len(line)-1) {
		r.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if strings.HasPrefix(line, "/") {
		r.anchored = true
		line = strings.TrimLeft(line, "/")
	}
	if line == "" {
		return r, false
	}
	if strings.Contains(line, "/") {
		r.anchored = true
	}
	for _, s := range strings.Split(line, "/") {
		if s == "" {
			continue // "a//b" is "a/b"
		}
		if s == "**" {
			if n := len(r.segs); n > 0 && r.segs[n-1] == "**" {
				continue // "**/**" is "**"
			}
			r.doubled = true
		} else if !validGlob(s) {
			return r, false
		}
		r.segs = append(r.segs, s)
	}
	if len(r.segs) == 0 {
		return r, false
	}
	if !r.anchored {
		s := r.segs[0]
		switch {
		case s == "**" || strings.Trim(s, "*") == "":
			r.kind = ruleAny
		case !hasMeta(s):
			r.kind = ruleLiteral
		case s[0] == '*' && !hasMeta(strings.TrimLeft(s, "*")):
			r.kind = ruleSuffix
			r.suffix = strings.TrimLeft(s, "*")
		}
		if r.kind == ruleLiteral {
			r.segs[0] = unescape(s)
		}
	} else if len(r.segs) == 1 && r.segs[0] == "**" {
		// "/**" alone: everything below the file's directory.
		r.anchored = false
		r.kind = ruleAny
	}
	return r, true
}

// trimTrailingSpaces removes unescaped trailing spaces.
func trimTrailingSpaces(s string) string {
	for len(s) > 0 && s[len(s)-1] == ' ' {
		if escapedAt(s, len(s)-1) {
			return s
		}
		s = s[:len(s)-1]
	}
	return s
}

// escapedAt reports whether s[i] is preceded by an odd number of backslashes.
func escapedAt(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// validGlob reports whether every bracket expression in s is closed.
func validGlob(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			end, ok := classEnd(s, i)
			if !ok {
				return false
			}
			i = end
		}
	}
	return true
}

// classEnd returns the index of the "]" closing the bracket expression
// that starts at s[i] == '['.
func classEnd(s string, i int) (int, bool) {
	j := i + 1
	if j < len(s) && (s[j] == '!' || s[j] == '^') {
		j++
	}
	if j < len(s) && s[j] == ']' {
		j++ // a leading "]" is literal
	}
	for j < len(s) {
		switch {
		case s[j] == '\\':
			j += 2
			continue
		case s[j] == '[' && j+1 < len(s) && s[j+1] == ':':
			if k := strings.Index(s[j+2:], ":]"); k >= 0 {
				j += k + 4
				continue
			}
		case s[j] == ']':
			return j, true
		}
		j++
	}
	return 0, false
}

// matches reports whether the rule matches a path: rel is relative to the
// ignore file's directory, name is its last segment.
func (r *ignoreRule) matches(rel, name string, isDir bool) bool {
	if r.dirOnly && !isDir {
		return false
	}
	if !r.anchored {
		switch r.kind {
		case ruleAny:
			return true
		case ruleLiteral:
			return name == r.segs[0]
		case ruleSuffix:
			return strings.HasSuffix(name, r.suffix)
		}
		return globMatch(r.segs[0], name)
	}
	if !r.doubled {
		// Compare segment by segment without splitting.
		for i, p := range r.segs {
			seg := rel
			j := strings.IndexByte(rel, '/')
			if j >= 0 {
				seg, rel = rel[:j], rel[j+1:]
			} else {
				rel = ""
			}
			if j < 0 && i != len(r.segs)-1 {
				return false
			}
			if !globMatch(p, seg) {
				return false
			}
		}
		return rel == ""
	}
	return matchSegments(r.segs, strings.Split(rel, "/"))
}

// matchSegments matches pattern segments, where "**" stands for any number
// of path segments, against path segments. It is a dynamic program over
// (pattern, path) positions, so many "**" cannot make it exponential. A
// trailing "**" needs at least one segment ("foo/**" is what is inside
// foo, not foo itself).
func matchSegments(pat, path []string) bool {
	n := len(path)
	// cur[j]: pat[i:] matches path[j:].
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[n] = true // empty pattern matches the empty rest
	for i := len(pat) - 1; i >= 0; i-- {
		next, cur = cur, next
		if pat[i] == "**" {
			last := i == len(pat)-1
			// cur[j] = next[j] || cur[j+1] (zero segments, or one more).
			cur[n] = next[n] && !last
			for j := n - 1; j >= 0; j-- {
				cur[j] = (next[j] && !last) || cur[j+1] || (last && j < n)
			}
			continue
		}
		cur[n] = false
		for j := n - 1; j >= 0; j-- {
			cur[j] = next[j+1] && globMatch(pat[i], path[j])
		}
	}
	return cur[0]
}

// globMatch matches one segment pattern (no "/") against s: "*" is any run
// of characters, "?" any one character, "[...]" a bracket expression and
// "\x" the character x. It works on bytes, except that "?" and bracket
// expressions consume a whole UTF-8 character.
func globMatch(p, s string) bool {
	var px, sx int
	starP, starS := -1, -1
	for sx < len(s) || px < len(p) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				for px < len(p) && p[px] == '*' {
					px++
				}
				starP, starS = px, sx
				continue
			case '?':
				if sx < len(s) {
					px++
					sx += runeLen(s, sx)
					continue
				}
			case '[':
				if end, ok := classEnd(p, px); !ok {
					if sx < len(s) && s[sx] == '[' { // unclosed: a literal "["
						px++
						sx++
						continue
					}
				} else if sx < len(s) {
					if ok, n := matchClass(p[px+1:end], s[sx:]); ok {
						px = end + 1
						sx += n
						continue
					}
				}
			case '\\':
				if px+1 < len(p) && sx < len(s) && p[px+1] == s[sx] {
					px += 2
					sx++
					continue
				}
				if px+1 == len(p) && sx < len(s) && s[sx] == '\\' {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			starS += runeLen(s, starS)
			px, sx = starP, starS
			continue
		}
		return false
	}
	return true
}

func decodeRune(s string) (rune, int) {
	if s == "" {
		return utf8.RuneError, 0
	}
	return utf8.DecodeRuneInString(s)
}

func runeLen(s string, i int) int {
	c := s[i]
	switch {
	case c < 0xC0:
		return 1
	case c < 0xE0:
		return min(2, len(s)-i)
	case c < 0xF0:
		return min(3, len(s)-i)
	default:
		return min(4, len(s)-i)
	}
}

// matchClass matches the body of a bracket expression (between "[" and
// "]") against the first character of s, returning how many bytes it
// consumed.
func matchClass(body, s string) (bool, int) {
	r, n := decodeRune(s)
	negate := false
	if len(body) > 0 && (body[0] == '!' || body[0] == '^') {
		negate = true
		body = body[1:]
	}
	matched := false
	first := true
	for len(body) > 0 {
		if !first || body[0] != ']' {
			if strings.HasPrefix(body, "[:") {
				if k := strings.Index(body[2:], ":]"); k >= 0 {
					if posixClass(body[2:2+k], r) {
						matched = true
					}
					body = body[k+4:]
					first = false
					continue
				}
			}
		}
		first = false
		lo, w := classChar(body)
		body = body[w:]
		hi := lo
		if len(body) >= 2 && body[0] == '-' && body[1] != ']' {
			var w2 int
			hi, w2 = classChar(body[1:])
			body = body[1+w2:]
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
	if r == '/' {
		return false, n
	}
	return matched != negate, n
}

// classChar decodes one (possibly escaped) character of a bracket body.
func classChar(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, n := decodeRune(s[1:])
		return r, n + 1
	}
	return decodeRune(s)
}

func posixClass(name string, r rune) bool {
	switch name {
	case "alnum":
		return isASCIIAlpha(r) || isASCIIDigit(r)
	case "alpha":
		return isASCIIAlpha(r)
	case "blank":
		return r == ' ' || r == '\t'
	case "cntrl":
		return r < 0x20 || r == 0x7f
	case "digit":
		return isASCIIDigit(r)
	case "graph":
		return r > 0x20 && r < 0x7f
	case "lower":
		return 'a' <= r && r <= 'z'
	case "print":
		return r >= 0x20 && r < 0x7f
	case "punct":
		return r > 0x20 && r < 0x7f && !isASCIIAlpha(r) && !isASCIIDigit(r)
	case "space":
		return r == ' ' || ('\t' <= r && r <= '\r')
	case "upper":
		return 'A' <= r && r <= 'Z'
	case "xdigit":
		return isASCIIDigit(r) || ('a' <= r && r <= 'f') || ('A' <= r && r <= 'F')
	}
	return false
}

func isASCIIAlpha(r rune) bool { return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') }
func isASCIIDigit(r rune) bool { return '0' <= r && r <= '9' }

// ignoreStack is the chain of ignore files that apply inside a directory,
// deepest first. Stacks are immutable and shared by subdirectories.
type ignoreStack struct {
	file   *ignoreFile
	parent *ignoreStack
}

func (s *ignoreStack) push(f *ignoreFile) *ignoreStack {
	if f == nil {
		return s
	}
	return &ignoreStack{file: f, parent: s}
}

// ignored reports whether the path rel (relative to the root, no leading
// or trailing slash) is excluded. The deepest file with a matching rule
// decides, and within a file the last matching rule, as in git.
func (s *ignoreStack) ignored(rel string, isDir bool) bool {
	name := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		name = rel[i+1:]
	}
	for ; s != nil; s = s.parent {
		f := s.file
		sub := strings.TrimPrefix(rel, f.dir)
		for i := len(f.rules) - 1; i >= 0; i-- {
			if f.rules[i].matches(sub, name, isDir) {
				return !f.rules[i].negate
			}
		}
	}
	return false
}
