package auth_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps auth transport-free and unable to touch files or the
// network (case 30: kid, jku and x5u can cause no I/O because nothing here
// can do any). Only the standard library minus the packages below, and
// golang-jwt, may be imported by non-test files.
func TestImports(t *testing.T) {
	bad := map[string]string{
		"net":           "auth must not dial or listen",
		"net/http":      "auth is transport-free; take header values as []string",
		"net/url":       "no URL fetching (jku, x5u)",
		"os":            "no file access (kid paths); the CLI reads secret files",
		"os/exec":       "no processes",
		"io/fs":         "no file access",
		"syscall":       "no system calls",
		"unsafe":        "no unsafe",
		"math/rand":     "use crypto/rand",
		"reflect":       "no reflection-based printing of secrets",
		"io/ioutil":     "no file access",
		"path/filepath": "no file access",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if why, ok := bad[path]; ok {
				t.Errorf("%s imports %s: %s", name, path, why)
			}
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && path != "github.com/golang-jwt/jwt/v5" {
				t.Errorf("%s imports %s: only the standard library and golang-jwt are allowed", name, path)
			}
		}
	}
}
