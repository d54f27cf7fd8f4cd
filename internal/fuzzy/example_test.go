package fuzzy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/appserver-go/appserver/internal/fuzzy"
)

// Example indexes a small tree and searches it: the file names that
// contain the query come first, build/ is ignored.
func Example() {
	root, err := os.MkdirTemp("", "fuzzy-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	for name, content := range map[string]string{
		".gitignore":          "build/\n",
		"src/main.go":         "",
		"src/mainframe.txt":   "",
		"docs/MAINTAINERS.md": "",
		"build/main.o":        "",
		"domain/model.go":     "",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}

	ctx := context.Background()
	idx, err := fuzzy.Build(ctx, root, fuzzy.BuildOptions{})
	if err != nil {
		panic(err)
	}
	matches, err := fuzzy.Search(ctx, []*fuzzy.Index{idx}, fuzzy.ParsePattern("main"), fuzzy.MatchLimit)
	if err != nil {
		panic(err)
	}
	for _, m := range matches {
		fmt.Println(m.MatchType, m.Path, m.Score, m.Indices)
	}
	// Output:
	// file src/main.go 65645 [4 5 6 7]
	// file src/mainframe.txt 65645 [4 5 6 7]
	// file docs/MAINTAINERS.md 65645 [5 6 7 8]
	// directory domain 76 [2 3 4 5]
	// file domain/model.go 76 [2 3 4 5]
}
