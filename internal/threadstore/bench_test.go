package threadstore

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Run with: go test -run '^$' -bench . -benchtime 2s ./internal/threadstore/
// Numbers from this machine are in docs/performance.md.

var quiet = &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}

// realisticMeta is a thread as the engine would store it: a UUID, a
// preview of a typical first message, a name for a third of them, and the
// opaque fields (gitInfo, settings) in Extra.
func realisticMeta(r *rand.Rand, i int) Meta {
	words := []string{"fix", "the", "flaky", "test", "in", "parser", "add", "retry", "to", "upload", "refactor", "config", "loader"}
	var sb strings.Builder
	for range 12 {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteByte(' ')
	}
	if i%100 == 0 {
		sb.WriteString("needle")
	}
	var name *string
	if i%3 == 0 {
		n := "Task " + words[r.IntN(len(words))] + " " + fmt.Sprint(i)
		name = &n
	}
	created := t0.Add(time.Duration(i) * time.Second)
	return Meta{
		ID:            fmt.Sprintf("01a221b6-%04x-7561-8157-%012x", i%0xffff, r.Uint64()&0xffffffffffff),
		CreatedAt:     created,
		UpdatedAt:     created.Add(time.Duration(r.IntN(86400)) * time.Second),
		RecencyAt:     created.Add(time.Duration(r.IntN(86400)) * time.Second),
		Name:          name,
		Preview:       sb.String(),
		Cwd:           fmt.Sprintf("/home/user/src/project%d", i%20),
		Model:         "gpt-6.1-sol",
		ModelProvider: "openai",
		Source:        []string{"cli", "vscode", "exec", "appServer"}[i%4],
		Archived:      i%10 == 0,
		Extra:         json.RawMessage(`{"gitInfo":{"sha":"3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39","branch":"main","originUrl":"https://github.com/example/project.git"},"cliVersion":"0.169.0","approvalPolicy":"on-request","sandbox":{"type":"readOnly","networkAccess":false}}`),
	}
}

func build10k(b *testing.B, dir string) {
	b.Helper()
	s, err := Open(dir, quiet)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	metas := make([]Meta, 10000)
	for i := range metas {
		metas[i] = realisticMeta(r, i)
	}
	putMany(b, s, metas)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkList10k(b *testing.B) {
	dir := b.TempDir()
	build10k(b, dir)
	s, err := Open(dir, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, key := range []string{SortCreatedAt, SortUpdatedAt, SortRecencyAt} {
		// A cursor about 8,000 threads deep (of the 9,000 not archived).
		deep := ""
		for range 8 {
			p, err := s.List(Query{SortKey: key, Limit: 1000, Cursor: deep})
			if err != nil {
				b.Fatal(err)
			}
			deep = p.NextCursor
		}
		for _, c := range []struct {
			name string
			q    Query
		}{
			{"first", Query{SortKey: key}},
			{"deep", Query{SortKey: key, Cursor: deep}},
			{"search", Query{SortKey: key, Search: "NEEDLE"}},
			{"search-deep", Query{SortKey: key, Search: "needle", Cursor: deep}},
			{"search-none", Query{SortKey: key, Search: "no such text"}},
			{"cwd", Query{SortKey: key, Cwds: []string{"/home/user/src/project7"}}},
			{"first-100", Query{SortKey: key, Limit: 100}},
		} {
			b.Run(key+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := s.List(c.q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen10k measures Open (replaying index.log) with 10,000
// threads, and the heap the index takes per thread.
func BenchmarkOpen10k(b *testing.B) {
	dir := b.TempDir()
	build10k(b, dir)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := Open(dir, quiet)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perThread := float64(after.HeapAlloc-before.HeapAlloc) / 10000
	s.Close()
	for b.Loop() {
		s, err := Open(dir, quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(perThread, "heap-B/thread")
	b.ReportMetric(float64(s.Stats().IndexBytes)/10000, "index-B/thread")
}

// turnRecord is the size of a typical completed item.
var turnRecord = []byte(`{"type":"item","turnId":"019a7c3e-5b1d-7f20-9c44-0a1b2c3d4e5f","item":{"type":"agentMessage","id":"msg_2","text":"Hello from mock. I looked at the parser and the flaky test comes from a race between the reader and the timer; here is the fix.","phase":null},"startedAtMs":1795861895655,"completedAtMs":1795861895901}`)

// BenchmarkAppend measures durable appends, one record per call, from
// concurrent writers each streaming its own thread (a turn each).
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 16, 100} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(b.TempDir(), quiet)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for w := range writers {
				if err := s.Put(Meta{ID: fmt.Sprintf("w%d", w)}); err != nil {
					b.Fatal(err)
				}
			}
			before := s.Stats()
			b.SetBytes(int64(len(turnRecord)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				n := b.N / writers
				if w < b.N%writers {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("w%d", w)
					for range n {
						if _, err := s.Append(id, turnRecord); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			b.StopTimer()
			st := s.Stats()
			fsyncs := float64(st.Fsyncs - before.Fsyncs)
			b.ReportMetric(float64(b.N)/el, "records/s")
			b.ReportMetric(fsyncs/el, "fsyncs/s")
			b.ReportMetric(float64(b.N)/max(fsyncs, 1), "records/fsync")
		})
	}
}

// BenchmarkPut measures durable metadata updates (as every turn does).
func BenchmarkPut(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(b.TempDir(), quiet)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := rand.New(rand.NewPCG(1, 1))
			metas := make([]Meta, writers)
			for w := range metas {
				metas[w] = realisticMeta(r, w)
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				n := b.N / writers
				if w < b.N%writers {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					m := metas[w]
					for i := range n {
						m.UpdatedAt = t0.Add(time.Duration(i))
						if err := s.Put(m); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkRecords10k replays a thread of 10,000 records.
func BenchmarkRecords10k(b *testing.B) {
	s, err := Open(b.TempDir(), quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(Meta{ID: "t"}); err != nil {
		b.Fatal(err)
	}
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = turnRecord
	}
	for range 100 {
		if _, err := s.Append("t", batch...); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := s.readState("t")
	b.SetBytes(st.committedSize.Load())
	for b.Loop() {
		n := 0
		if err := s.Records("t", 0, func(uint64, []byte) error { n++; return nil }); err != nil || n != 10000 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFork10k copies a thread of 10,000 records.
func BenchmarkFork10k(b *testing.B) {
	s, err := Open(b.TempDir(), quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(Meta{ID: "t"}); err != nil {
		b.Fatal(err)
	}
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = turnRecord
	}
	for range 100 {
		if _, err := s.Append("t", batch...); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i++
		if err := s.Fork("t", Meta{ID: fmt.Sprintf("f%d", i)}, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendPerFileFsync is the rejected design, for comparison:
// each writer writes its own thread's file and fsyncs it, no journal.
func BenchmarkAppendPerFileFsync(b *testing.B) {
	for _, writers := range []int{1, 16, 100} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dir := b.TempDir()
			line := appendRecordLine(nil, 1, turnRecord)
			b.SetBytes(int64(len(turnRecord)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				n := b.N / writers
				if w < b.N%writers {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := os.Create(filepath.Join(dir, fmt.Sprintf("w%d.log", w)))
					if err != nil {
						b.Error(err)
						return
					}
					defer f.Close()
					for range n {
						if _, err := f.Write(line); err != nil {
							b.Error(err)
							return
						}
						if err := f.Sync(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/el, "records/s")
			b.ReportMetric(float64(b.N)/el, "fsyncs/s")
			b.ReportMetric(1, "records/fsync")
		})
	}
}
