package threadstore

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open as journal.log and index.log: it
// may refuse them, but must not panic or hang, and a store it opens must
// work.
func FuzzOpen(f *testing.F) {
	// Seeds: the files of a real store after a crash.
	dir := f.TempDir()
	s, err := Open(dir, quiet)
	if err != nil {
		f.Fatal(err)
	}
	s.Put(Meta{ID: "a", Preview: "hi"})
	s.Append("a", []byte(`{"n":1}`), []byte(`{"n":2}`))
	s.Put(Meta{ID: "b"})
	s.Delete("b")
	s.Fork("a", Meta{ID: "c"}, 1)
	s.crashOnClose = true
	s.Close()
	journal, _ := os.ReadFile(filepath.Join(dir, "journal.log"))
	index, _ := os.ReadFile(filepath.Join(dir, "index.log"))
	f.Add(journal, index)
	f.Add(journal[:len(journal)/2], index)
	f.Add([]byte{}, index)
	f.Add(journal, []byte{})
	f.Add([]byte("00000000 c 0\n"), []byte("garbage\n"))

	f.Fuzz(func(t *testing.T, journal, index []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "threads"), 0o700)
		os.WriteFile(filepath.Join(dir, "journal.log"), journal, 0o600)
		os.WriteFile(filepath.Join(dir, "index.log"), index, 0o600)
		s, err := Open(dir, quiet)
		if err != nil {
			return
		}
		p, err := s.List(Query{Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Items {
			s.Records(m.ID, 0, func(uint64, []byte) error { return nil })
		}
		if err := s.Put(Meta{ID: "new"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append("new", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
