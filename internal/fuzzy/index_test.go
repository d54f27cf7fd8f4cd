package fuzzy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeTree creates files (and, for names ending in "/", directories)
// under dir, with their parents.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// entries lists an index as sorted paths, directories with a trailing "/".
func entries(x *Index) []string {
	var out []string
	for d := 1; d < len(x.dirParent); d++ {
		out = append(out, string(x.dirPath(uint32(d)))+"/")
	}
	for f := range x.fileDir {
		out = append(out, string(appendPath(nil, x, cand{id: uint32(f)})))
	}
	slices.Sort(out)
	return out
}

func TestBuild(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	writeTree(t, root, map[string]string{
		".gitignore":         "*.log\n!keep.log\nbuild/\n/anchored.txt\ndoc/**/*.tmp\n",
		".ignore":            "fromignore.txt\n",
		".git/HEAD":          "ref: refs/heads/main\n",
		".git/info/exclude":  "excluded.txt\n",
		".git/objects/ab/cd": "",
		"a.log":              "",
		"keep.log":           "",
		"anchored.txt":       "",
		"sub/anchored.txt":   "",
		"build/out.bin":      "",
		"sub/build/x":        "",
		"doc/c.tmp":          "",
		"doc/a/b/c.tmp":      "",
		"doc/a/b/c.txt":      "",
		"fromignore.txt":     "",
		"excluded.txt":       "",
		"sub/.gitignore":     "local.txt\n!*.log\n",
		"sub/local.txt":      "",
		"local.txt":          "",
		"sub/deep/s.log":     "",
		"sub/.git":           "gitdir: ../.git/modules/sub\n", // a submodule's .git file
		".hidden/h.txt":      "",
		"empty/":             "",
		"src/main.go":        "",
		"src/日本語.txt":        "",
		"bad\xff/x.txt":      "", // not UTF-8: left out with what is inside
		"src/bad\xfe.txt":    "",
	})
	writeTree(t, outside, map[string]string{"outfile": ""})
	for _, l := range [][2]string{
		{outside, "linkdir"},
		{filepath.Join(root, "src/main.go"), "linkfile"},
		{filepath.Join(root, "nowhere"), "dangling"},
		{root, "src/loop"},
	} {
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	x, err := Build(context.Background(), root, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		".gitignore", ".hidden/", ".hidden/h.txt", ".ignore",
		"doc/", "doc/a/", "doc/a/b/", "doc/a/b/c.txt",
		"empty/", "keep.log", "linkdir/", "linkfile", "local.txt",
		"src/", "src/loop/", "src/main.go", "src/日本語.txt",
		"sub/", "sub/.gitignore", "sub/anchored.txt", "sub/deep/", "sub/deep/s.log",
	}
	if got := entries(x); !slices.Equal(got, want) {
		t.Errorf("entries\n got %q\nwant %q", got, want)
	}
	if x.Root() != root || x.Files() != 12 || x.Dirs() != 10 || x.Truncated() {
		t.Errorf("root %q files %d dirs %d truncated %v", x.Root(), x.Files(), x.Dirs(), x.Truncated())
	}
}

func TestBuildEdgeCases(t *testing.T) {
	dir := t.TempDir()
	if _, err := Build(context.Background(), filepath.Join(dir, "missing"), BuildOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing root: %v", err)
	}
	writeTree(t, dir, map[string]string{"file": ""})
	x, err := Build(context.Background(), filepath.Join(dir, "file"), BuildOptions{})
	if err != nil || x.Files() != 0 || x.Dirs() != 0 {
		t.Errorf("file root: %v %v", x, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, dir, BuildOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	files := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		files[n+"/x"] = ""
		files[n+"/y"] = ""
	}
	big := t.TempDir()
	writeTree(t, big, files)
	x, err = Build(context.Background(), big, BuildOptions{MaxEntries: 5, Workers: 1})
	if err != nil || !x.Truncated() || x.Files()+x.Dirs() > 5 {
		t.Errorf("limit: truncated %v, %d entries, %v", x.Truncated(), x.Files()+x.Dirs(), err)
	}
}

// ageTree sets every time under dir an hour back, so that an index built
// now is outside the racy window.
func ageTree(t testing.TB, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnchanged(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{".gitignore": "*.log\n", "a/b/c.txt": "", "a/d.txt": ""})
	ctx := context.Background()

	x, _ := Build(ctx, root, BuildOptions{})
	if x.Unchanged(ctx) {
		t.Error("a tree changed just now is racy: not vouched for")
	}
	ageTree(t, root)
	x, _ = Build(ctx, root, BuildOptions{})
	if !x.Unchanged(ctx) {
		t.Fatal("unchanged tree reported changed")
	}
	writeTree(t, root, map[string]string{"a/b/new.txt": ""})
	if x.Unchanged(ctx) {
		t.Error("a file added deep down went unnoticed")
	}

	ageTree(t, root)
	x, _ = Build(ctx, root, BuildOptions{})
	writeTree(t, root, map[string]string{".gitignore": "*.txt\n"})
	old := time.Now().Add(-time.Hour)
	os.Chtimes(root, old, old) // only the ignore file's content changed
	if x.Unchanged(ctx) {
		t.Error("a changed .gitignore went unnoticed")
	}

	ageTree(t, root)
	x, _ = Build(ctx, root, BuildOptions{})
	writeTree(t, root, map[string]string{".git/info/exclude": "a/\n"})
	os.Chtimes(root, old, old)
	if x.Unchanged(ctx) {
		t.Error("a new .git/info/exclude went unnoticed")
	}
}
