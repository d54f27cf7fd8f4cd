package fuzzy

import (
	"sort"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestIndex builds an index in memory from paths relative to root;
// a path ending in "/" is a directory. Parent directories are added as
// needed.
func newTestIndex(root string, paths ...string) *Index {
	dirs := map[string]bool{"": true}
	var files []string
	for _, p := range paths {
		isDir := strings.HasSuffix(p, "/")
		p = strings.TrimSuffix(p, "/")
		for i := range len(p) {
			if p[i] == '/' {
				dirs[p[:i]] = true
			}
		}
		if isDir {
			dirs[p] = true
		} else {
			files = append(files, p)
		}
	}
	var dl []string
	for d := range dirs {
		dl = append(dl, d)
	}
	// Parents before children: sort by depth, then name.
	sort.Slice(dl, func(i, j int) bool {
		di, dj := strings.Count(dl[i], "/"), strings.Count(dl[j], "/")
		if dl[i] == "" || dl[j] == "" {
			return dl[i] == ""
		}
		if di != dj {
			return di < dj
		}
		return dl[i] < dl[j]
	})
	x := &Index{root: root}
	id := map[string]uint32{}
	for i, d := range dl {
		id[d] = uint32(i)
		parent := uint32(0)
		if j := strings.LastIndexByte(d, '/'); j >= 0 {
			parent = id[d[:j]]
		}
		x.dirParent = append(x.dirParent, parent)
		x.dirPaths = append(x.dirPaths, d...)
		x.dirEnd = append(x.dirEnd, uint32(len(x.dirPaths)))
		x.dirMtime = append(x.dirMtime, 0)
	}
	for _, f := range files {
		dir, name := "", f
		if j := strings.LastIndexByte(f, '/'); j >= 0 {
			dir, name = f[:j], f[j+1:]
		}
		x.fileDir = append(x.fileDir, id[dir])
		x.fileNames = append(x.fileNames, name...)
		x.fileEnd = append(x.fileEnd, uint32(len(x.fileNames)))
	}
	return x
}
