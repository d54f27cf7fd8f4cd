package fuzzy

import (
	"strings"
	"testing"
)

func TestIgnoreRules(t *testing.T) {
	// Each case: the content of a root ignore file, then paths with
	// whether they are ignored. A trailing "/" marks a directory.
	for _, tt := range []struct {
		name  string
		rules string
		paths map[string]bool
	}{
		{"literal matches at any level", "foo", map[string]bool{
			"foo": true, "a/foo": true, "a/b/foo/": true, "foox": false, "xfoo": false, "a/foo.txt": false,
		}},
		{"star does not cross slashes", "*.log", map[string]bool{
			"a.log": true, "dir/b.log": true, "a.log.txt": false, "log": false, ".log": true,
		}},
		{"negation re-includes", "*.log\n!keep.log", map[string]bool{
			"a.log": true, "keep.log": false, "sub/keep.log": false, "sub/x.log": true,
		}},
		{"last matching rule wins", "!keep.log\n*.log", map[string]bool{
			"keep.log": true,
		}},
		{"directory only", "build/", map[string]bool{
			"build/": true, "build": false, "src/build/": true, "src/build": false,
		}},
		{"leading slash anchors", "/root.txt", map[string]bool{
			"root.txt": true, "sub/root.txt": false,
		}},
		{"inner slash anchors", "doc/frotz", map[string]bool{
			"doc/frotz": true, "a/doc/frotz": false, "doc/frotz/": true,
		}},
		{"anchored directory", "/out/", map[string]bool{
			"out/": true, "out": false, "a/out/": false,
		}},
		{"leading double star", "**/foo", map[string]bool{
			"foo": true, "a/foo": true, "a/b/foo/": true, "foox": false,
		}},
		{"leading double star with path", "**/foo/bar", map[string]bool{
			"foo/bar": true, "x/foo/bar": true, "x/y/foo/bar": true, "foo/x/bar": false,
		}},
		{"trailing double star", "abc/**", map[string]bool{
			"abc": false, "abc/": false, "abc/x": true, "abc/x/y": true, "x/abc/y": false,
		}},
		{"inner double star", "a/**/b", map[string]bool{
			"a/b": true, "a/x/b": true, "a/x/y/b": true, "a/x/y/c": false, "b": false,
		}},
		{"double star then glob", "doc/**/*.tmp", map[string]bool{
			"doc/c.tmp": true, "doc/a/b/c.tmp": true, "c.tmp": false, "doc/c.tmpx": false,
		}},
		{"non-segment double star is a star", "a**b", map[string]bool{
			"ab": true, "axxb": true, "a/b": false,
		}},
		{"question mark", "?.c", map[string]bool{
			"a.c": true, "ab.c": false, ".c": false, "é.c": true,
		}},
		{"character class", "[ab]x.c", map[string]bool{
			"ax.c": true, "bx.c": true, "cx.c": false,
		}},
		{"class range and negation", "file[0-9]\nlog[!0-9]", map[string]bool{
			"file5": true, "filex": false, "logx": true, "log5": false,
		}},
		{"caret negation", "v[^a]", map[string]bool{
			"vb": true, "va": false,
		}},
		{"posix class", "x[[:digit:]][[:alpha:]]", map[string]bool{
			"x1a": true, "xa1": false, "x11": false,
		}},
		{"bracket first is literal", "[]a]z", map[string]bool{
			"]z": true, "az": true, "bz": false,
		}},
		{"unclosed class drops the line", "[abc\nx", map[string]bool{
			"[abc": false, "a": false, "x": true,
		}},
		{"comments and blanks", "# comment\n\n  \n\\#hash", map[string]bool{
			"# comment": false, "#hash": true,
		}},
		{"trailing spaces trimmed unless escaped", "trail   \nkeep\\ ", map[string]bool{
			"trail": true, "trail ": false, "keep ": true, "keep": false,
		}},
		{"escaped bang and star", "\\!important\nlit\\*", map[string]bool{
			"!important": true, "important": false, "lit*": true, "litx": false,
		}},
		{"crlf and bom", "\xef\xbb\xbfone\r\ntwo\r\n", map[string]bool{
			"one": true, "two": true,
		}},
		{"everything", "*\n!*.go\n!*/", map[string]bool{
			"a.txt": true, "a.go": false, "dir/": false,
		}},
		{"slash alone is nothing", "/\n!", map[string]bool{
			"x": false,
		}},
		{"case sensitive", "README", map[string]bool{
			"README": true, "readme": false,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var st *ignoreStack
			st = st.push(parseIgnore("", []byte(tt.rules)))
			for p, want := range tt.paths {
				isDir := strings.HasSuffix(p, "/")
				rel := strings.TrimSuffix(p, "/")
				if got := st.ignored(rel, isDir); got != want {
					t.Errorf("rules %q: ignored(%q, dir=%v) = %v, want %v", tt.rules, rel, isDir, got, want)
				}
			}
		})
	}
}

func TestIgnoreStack(t *testing.T) {
	var st *ignoreStack
	st = st.push(parseIgnore("", []byte("*.swp")))                   // .git/info/exclude
	st = st.push(parseIgnore("", []byte("*.log\n/top.txt\nlocal/"))) // root .gitignore
	sub := st.push(parseIgnore("sub/", []byte("!*.log\nonly.txt\n/anch.txt")))
	for _, tt := range []struct {
		st    *ignoreStack
		rel   string
		isDir bool
		want  bool
	}{
		{st, "a.log", false, true},
		{st, "x.swp", false, true},
		{st, "top.txt", false, true},
		{sub, "sub/top.txt", false, false}, // anchored to the root file's directory
		{sub, "sub/a.log", false, false},   // the deeper file re-includes
		{sub, "sub/deep/a.log", false, false},
		{sub, "sub/only.txt", false, true},
		{st, "only.txt", false, false},
		{sub, "sub/anch.txt", false, true},
		{sub, "sub/x/anch.txt", false, false},
		{sub, "sub/x.swp", false, true}, // the exclude file still applies
		{sub, "sub/local", true, true},
	} {
		if got := tt.st.ignored(tt.rel, tt.isDir); got != tt.want {
			t.Errorf("ignored(%q) = %v, want %v", tt.rel, got, tt.want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbb", false},
		{"*a*b*c*", "xaybzc", true},
		{"*a*b*c*", "xaycz", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[a-c]*", "b", true},
		{"[a-c]*", "d", false},
		{"[!a-c]", "d", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\`, `a\`, true},
		{"[", "[", true},   // unclosed: literal
		{"[é]", "é", true}, // classes take whole characters
		{"?", "é", true},
		{"[[:upper:]]", "Q", true},
		{"[[:upper:]]", "q", false},
		{"[a-]", "-", true},
		{`[\]]`, "]", true},
	} {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func TestMatchSegmentsManyStars(t *testing.T) {
	// Many "**" must not be exponential.
	pat := strings.Split(strings.Repeat("**/a/", 30)+"b", "/")
	path := strings.Split(strings.Repeat("a/", 60)+"c", "/")
	if matchSegments(pat, path) {
		t.Fatal("matched")
	}
}

// FuzzIgnore checks that parsing and matching any ignore file and path
// neither panics nor loops, and that a negated copy of a file ignores the
// opposite set of paths.
func FuzzIgnore(f *testing.F) {
	for _, s := range []string{"*.log\n!keep.log", "a/**/b", "[a-", "**", "/x/", `\`, "[[:alpha:]", "!", "a\\ "} {
		f.Add(s, "a/b.log", false)
	}
	f.Fuzz(func(t *testing.T, rules, path string, isDir bool) {
		file := parseIgnore("", []byte(rules))
		var st *ignoreStack
		st = st.push(file)
		path = strings.Trim(path, "/")
		if path == "" || strings.Contains(path, "//") {
			return
		}
		got := st.ignored(path, isDir)
		if file == nil && got {
			t.Fatalf("no rules but %q ignored", path)
		}
		if file == nil {
			return
		}
		// Flip every rule: a path matched by some rule flips, one matched
		// by none stays not ignored.
		flipped := &ignoreFile{dir: file.dir}
		matched := false
		for _, r := range file.rules {
			r.negate = !r.negate
			flipped.rules = append(flipped.rules, r)
			name := path[strings.LastIndexByte(path, '/')+1:]
			matched = matched || r.matches(path, name, isDir)
		}
		var fst *ignoreStack
		fst = fst.push(flipped)
		if want := matched && !got; fst.ignored(path, isDir) != want {
			t.Fatalf("rules %q path %q: ignored %v, flipped %v", rules, path, got, !want)
		}
	})
}
