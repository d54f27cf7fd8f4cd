package fuzzy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// treeStats describes a generated tree.
type treeStats struct {
	Files   int // files written, ignored ones included
	Ignored int // files the .gitignore rules exclude
	Dirs    int
}

var genWords = strings.Fields(`user account service handler config client server auth token session
cache index search query result model view controller router util helper logger metrics store
schema migration api http grpc event queue worker job task scheduler file path watch stream
buffer reader writer parser lexer ast node tree graph edge matrix vector image video audio button
modal dialog form input table list item card layout theme style color icon menu nav header footer
sidebar page app main core common shared mock fake fixture bench payment invoice order cart
product price billing email notification message chat thread channel socket transport codec
encoder decoder compress crypto hash sign verify key secret vault policy role permission group
team org project repo commit branch diff patch merge deploy release version upgrade plugin
extension module loader registry resolver provider adapter bridge proxy gateway balancer health
status report dashboard chart analytics tracker sync backup restore export import upload download
storage bucket blob object record entry audit trace span context runtime memory pool limit rate
retry timeout error panic recover format encode decode render update delete create fetch submit
select filter sort merge split join validate sanitize normalize serialize profile avatar settings
preferences locale translation currency calendar date time zone region country address phone`)

var genDirWords = strings.Fields(`components hooks utils services models views controllers routes
api handlers middleware lib helpers types interfaces internal pkg core common shared features
modules pages layouts store reducers actions selectors assets styles fixtures testdata mocks
config scripts tools db migrations schemas proto gen client server auth billing search index
workers jobs events notifications admin dashboard settings account users orders payments
products cart checkout reports analytics logging metrics tracing cache storage queue plugins
extensions adapters providers v1 v2 legacy experimental`)

var genExts = []string{".go", ".go", ".go", ".ts", ".ts", ".tsx", ".tsx", ".js", ".py", ".py", ".rs",
	".md", ".json", ".yaml", ".css", ".scss", ".html", ".proto", ".sql", ".sh", ".txt", ".c", ".h"}

// genName builds a file or directory base name in one of the naming
// styles real trees mix: camelCase, PascalCase, snake_case, kebab-case.
func genName(r *rand.Rand, words int) string {
	ws := make([]string, words)
	for i := range ws {
		ws[i] = genWords[r.IntN(len(genWords))]
	}
	switch r.IntN(4) {
	case 0:
		for i := 1; i < len(ws); i++ {
			ws[i] = strings.ToUpper(ws[i][:1]) + ws[i][1:]
		}
		return strings.Join(ws, "")
	case 1:
		for i := range ws {
			ws[i] = strings.ToUpper(ws[i][:1]) + ws[i][1:]
		}
		return strings.Join(ws, "")
	case 2:
		return strings.Join(ws, "_")
	default:
		return strings.Join(ws, "-")
	}
}

// generateTree writes a synthetic source tree of about n files under dir:
// a monorepo-like layout of depth up to 9 with realistic names, a root
// .gitignore excluding node_modules/, dist/, *.log and coverage/ (about 15 %
// of the files), a nested .gitignore, and a small .git directory. The same
// seed gives the same tree.
func generateTree(dir string, n int, seed uint64) (treeStats, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var st treeStats
	type gdir struct {
		rel     string
		ignored bool
		depth   int
	}
	var dirs []gdir
	add := func(rel string, depth int, ignored bool) {
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
			panic(err)
		}
		st.Dirs++
		dirs = append(dirs, gdir{rel, ignored, depth})
	}
	for _, top := range []string{"src", "pkg", "internal", "cmd", "web", "docs", "tests", "scripts",
		"third_party", "node_modules", "dist"} {
		add(top, 1, top == "node_modules" || top == "dist")
	}
	// Grow the tree one directory at a time under a parent chosen by a
	// depth profile (most directories 3 to 6 deep), until there is about
	// one directory per 12 files.
	depthWeight := []int{0, 6, 8, 8, 6, 4, 2, 1, 1, 0}
	seen := map[string]bool{}
	for len(dirs) < n/12 {
		p := dirs[r.IntN(len(dirs))]
		if r.IntN(8) >= depthWeight[p.depth] {
			continue
		}
		name := genDirWords[r.IntN(len(genDirWords))]
		if r.IntN(3) == 0 {
			name = genName(r, 1+r.IntN(2))
		}
		rel := p.rel + "/" + name
		if seen[rel] {
			continue
		}
		seen[rel] = true
		add(rel, p.depth+1, p.ignored)
	}
	for _, d := range []string{".git/objects/ab", ".git/refs/heads", ".git/info"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return st, err
		}
	}
	write := func(rel, content string) error {
		return os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644)
	}
	for _, f := range []struct{ rel, content string }{
		{".gitignore", "node_modules/\n/dist/\n*.log\ncoverage/\n!keep.log\n# generated\n*.generated.ts\n"},
		{"web/.gitignore", "*.map\n"},
		{".git/HEAD", "ref: refs/heads/main\n"},
		{".git/config", "[core]\n"},
		{".git/refs/heads/main", "0000000000000000000000000000000000000000\n"},
		{".git/objects/ab/cdef0123456789", ""},
		{".git/info/exclude", "*.swp\n"},
		{"README.md", "# tree\n"},
		{"go.mod", "module example.com/tree\n"},
		{"package.json", "{}\n"},
	} {
		if err := write(f.rel, f.content); err != nil {
			return st, err
		}
		if !strings.HasPrefix(f.rel, ".git/") {
			st.Files++
		}
	}
	// Weight deeper directories higher, as real trees keep most files in
	// leaves; node_modules gets its share through its own fan-out.
	weights := make([]int, len(dirs))
	total := 0
	for i, d := range dirs {
		w := 1 + d.depth
		if d.ignored {
			w = w * 5 / 4
		}
		total += w
		weights[i] = total
	}
	pick := func() gdir {
		x := r.IntN(total)
		lo, hi := 0, len(weights)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if weights[mid] > x {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return dirs[lo]
	}
	used := map[string]bool{}
	nonASCII := []string{"café_menu", "naïve_bayes", "résumé", "日本語", "Ñandú", "straße", "Ünïcödé"}
	for st.Files < n {
		d := pick()
		var name string
		switch x := r.IntN(100); {
		case x < 1:
			name = nonASCII[r.IntN(len(nonASCII))] + genExts[r.IntN(len(genExts))]
		case x < 2:
			name = genName(r, 1+r.IntN(2)) + ".log"
		case x < 3 && strings.HasPrefix(d.rel, "web"):
			name = genName(r, 2) + ".generated.ts"
		case x < 5 && strings.HasPrefix(d.rel, "web"):
			name = genName(r, 2) + ".js.map"
		default:
			ext := genExts[r.IntN(len(genExts))]
			name = genName(r, 1+r.IntN(3))
			if ext == ".go" && r.IntN(3) == 0 {
				name += "_test"
			}
			name += ext
		}
		rel := d.rel + "/" + name
		if used[rel] {
			continue
		}
		used[rel] = true
		if err := write(rel, ""); err != nil {
			return st, err
		}
		st.Files++
		if d.ignored || strings.HasSuffix(name, ".log") || strings.HasSuffix(name, ".generated.ts") ||
			strings.HasSuffix(name, ".map") {
			st.Ignored++
		}
	}
	return st, nil
}

// TestGenerateTree writes the benchmark tree to $FUZZY_GEN_DIR, for
// measuring other servers on the same tree:
//
//	FUZZY_GEN_DIR=/tmp/tree100k go test -run TestGenerateTree ./internal/fuzzy/
func TestGenerateTree(t *testing.T) {
	dir := os.Getenv("FUZZY_GEN_DIR")
	if dir == "" {
		t.Skip("set FUZZY_GEN_DIR to write the 100k-file benchmark tree")
	}
	st, err := generateTree(dir, 100_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s: %d files (%d ignored), %d dirs\n", dir, st.Files, st.Ignored, st.Dirs)
}
