package threadstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// logBuf collects what the store logs, for tests that expect a warning.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func openT(t testing.TB, dir string, opts *Options) (*Store, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(dir, &o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, lb
}

func closeT(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// crashClose stops the store as a crash would leave it: no checkpoint, so
// the journal keeps everything since the last one.
func crashClose(t testing.TB, s *Store) {
	t.Helper()
	s.crashOnClose = true
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func testMeta(id string, i int) Meta {
	name := fmt.Sprintf("Thread %d", i)
	return Meta{
		ID:            id,
		CreatedAt:     t0.Add(time.Duration(i) * time.Second),
		UpdatedAt:     t0.Add(time.Duration(i) * time.Minute),
		RecencyAt:     t0.Add(time.Duration(i) * time.Hour),
		Name:          &name,
		Preview:       fmt.Sprintf("say hi %d", i),
		Cwd:           "/work",
		Model:         "mock-model",
		ModelProvider: "mock",
		Source:        "vscode",
		Extra:         json.RawMessage(`{"gitInfo": {"branch": "main"}}`),
	}
}

func testRec(seq int) []byte {
	return fmt.Appendf(nil, `{"type":"agentMessage","n":%d,"text":"hello %d"}`, seq, seq)
}

func records(t testing.TB, s *Store, id string) []string {
	t.Helper()
	var out []string
	var want uint64 = 1
	err := s.Records(id, 0, func(seq uint64, rec []byte) error {
		if seq != want {
			t.Fatalf("Records(%s): seq %d, want %d", id, seq, want)
		}
		want++
		out = append(out, string(rec))
		return nil
	})
	if err != nil {
		t.Fatalf("Records(%s): %v", id, err)
	}
	return out
}

func mustPut(t testing.TB, s *Store, m Meta) {
	t.Helper()
	if err := s.Put(m); err != nil {
		t.Fatalf("Put(%s): %v", m.ID, err)
	}
}

func mustAppend(t testing.TB, s *Store, id string, recs ...[]byte) uint64 {
	t.Helper()
	seq, err := s.Append(id, recs...)
	if err != nil {
		t.Fatalf("Append(%s): %v", id, err)
	}
	return seq
}

func TestPutGetSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	local := time.FixedZone("x", 3600)
	m := testMeta("01a221b6-22d2-7561-8157-8c82d0a7be81", 1)
	m.CreatedAt = time.Date(2026, 11, 28, 11, 31, 54, 123456789, local)
	m.ForkedFromID = "src"
	m.Archived = true
	mustPut(t, s, m)
	noName := testMeta("no-name", 2)
	noName.Name = nil
	noName.Extra = json.RawMessage("null")
	noName.UpdatedAt = time.Time{}
	mustPut(t, s, noName)

	got, ok := s.Get(m.ID)
	if !ok {
		t.Fatal("Get: missing")
	}
	if !got.CreatedAt.Equal(m.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, m.CreatedAt)
	}
	if string(got.Extra) != `{"gitInfo":{"branch":"main"}}` {
		t.Errorf("Extra = %s, want it compacted", got.Extra)
	}
	// Results are copies.
	*got.Name = "changed"
	got.Extra[0] = 'X'
	again, _ := s.Get(m.ID)
	if *again.Name != "Thread 1" || again.Extra[0] != '{' {
		t.Error("Get returned memory shared with the store")
	}
	nn, _ := s.Get("no-name")
	if nn.Name != nil || nn.Extra != nil || !nn.UpdatedAt.IsZero() {
		t.Errorf("no-name = %+v", nn)
	}
	closeT(t, s)

	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	for _, id := range []string{m.ID, "no-name"} {
		before := again
		if id == "no-name" {
			before = nn
		}
		after, ok := s.Get(id)
		if !ok || !reflect.DeepEqual(after, before) {
			t.Errorf("after reopen %s = %+v, want %+v", id, after, before)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d", s.Len())
	}
}

func TestValidation(t *testing.T) {
	s, _ := openT(t, t.TempDir(), nil)
	defer closeT(t, s)
	for _, id := range []string{"", "..", "../x", "a/b", "a.b", "a b", "é", strings.Repeat("a", 81), "x\x00"} {
		if err := s.Put(Meta{ID: id}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Put(%q) = %v, want ErrInvalidID", id, err)
		}
		if _, err := s.Append(id, []byte(`{}`)); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Append(%q) = %v, want ErrInvalidID", id, err)
		}
		if err := s.Records(id, 0, nil); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Records(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	if err := s.Put(Meta{ID: "a", Extra: json.RawMessage("{")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad Extra: %v", err)
	}
	if err := s.Put(Meta{ID: "a", CreatedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("year 3000: %v", err)
	}
	mustPut(t, s, Meta{ID: "a"})
	for _, rec := range []string{``, `[]`, `"x"`, `{`, `{} {}`, `1`} {
		if _, err := s.Append("a", []byte(rec)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Append(%q) = %v, want ErrInvalid", rec, err)
		}
	}
	if _, err := s.Append("a"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append with no records: %v", err)
	}
	if _, err := s.Append("missing", []byte(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Append to unknown thread: %v", err)
	}
	if seq := mustAppend(t, s, "a", []byte("{\n  \"multi\": \"line\"\n}")); seq != 1 {
		t.Errorf("seq = %d", seq)
	}
	if got := records(t, s, "a"); got[0] != `{"multi":"line"}` {
		t.Errorf("record = %q, want it compacted", got[0])
	}
}

func TestFileNames(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"abc", "ABC", "aBc", "a_b", "a_5fb", "_", "-", "01a221b6-22d2-7561-8157-8c82d0a7be81", strings.Repeat("Z", 80)} {
		name := fileName(id)
		if strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") || len(name) > 255 {
			t.Errorf("fileName(%q) = %q", id, name)
		}
		if strings.ToLower(name) != name {
			t.Errorf("fileName(%q) = %q is not lower case", id, name)
		}
		if other, dup := seen[strings.ToLower(name)]; dup {
			t.Errorf("fileName(%q) collides with %q", id, other)
		}
		seen[name] = id
		if !validTmpName([]byte(name + ".12345")) {
			t.Errorf("Fork's temporary name for %q is refused", id)
		}
	}
}

func TestUpdate(t *testing.T) {
	s, _ := openT(t, t.TempDir(), nil)
	defer closeT(t, s)
	if err := s.Update("nope", func(*Meta) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update unknown: %v", err)
	}
	mustPut(t, s, Meta{ID: "t", Preview: "0"})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				err := s.Update("t", func(m *Meta) error {
					var n int
					fmt.Sscan(m.Preview, &n)
					m.Preview = fmt.Sprint(n + 1)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if m, _ := s.Get("t"); m.Preview != "100" {
		t.Errorf("after 100 concurrent increments: %q", m.Preview)
	}
	boom := errors.New("boom")
	if err := s.Update("t", func(m *Meta) error { m.Preview = "lost"; return boom }); err != boom {
		t.Errorf("Update error = %v", err)
	}
	if err := s.Update("t", func(m *Meta) error { m.ID = "other"; return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("Update changing id = %v", err)
	}
	if m, _ := s.Get("t"); m.Preview != "100" {
		t.Errorf("failed updates changed the thread: %q", m.Preview)
	}
}

func TestAppendAndRecords(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	mustPut(t, s, Meta{ID: "t"})
	if seq, err := s.LastSeq("t"); err != nil || seq != 0 {
		t.Errorf("LastSeq of empty thread = %d, %v", seq, err)
	}
	if got := records(t, s, "t"); len(got) != 0 {
		t.Errorf("records of empty thread: %q", got)
	}
	for i := 1; i <= 5; i++ {
		if seq := mustAppend(t, s, "t", testRec(i)); seq != uint64(i) {
			t.Fatalf("Append #%d returned seq %d", i, seq)
		}
	}
	if seq := mustAppend(t, s, "t", testRec(6), testRec(7), testRec(8)); seq != 8 {
		t.Errorf("three records: last seq %d, want 8", seq)
	}
	var after []uint64
	s.Records("t", 6, func(seq uint64, rec []byte) error {
		after = append(after, seq)
		return nil
	})
	if !reflect.DeepEqual(after, []uint64{7, 8}) {
		t.Errorf("Records after 6: %v", after)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Records("t", 0, func(uint64, []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Records stop: %v after %d", err, n)
	}
	closeT(t, s)

	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	got := records(t, s, "t")
	if len(got) != 8 || got[7] != string(testRec(8)) {
		t.Fatalf("after reopen: %q", got)
	}
	if seq, _ := s.LastSeq("t"); seq != 8 {
		t.Errorf("LastSeq = %d", seq)
	}
	if seq := mustAppend(t, s, "t", testRec(9)); seq != 9 {
		t.Errorf("append after reopen: seq %d", seq)
	}
	// A long record (longer than the reader's buffer).
	big := fmt.Appendf(nil, `{"text":%q}`, strings.Repeat("x", 600<<10))
	mustAppend(t, s, "t", big)
	if got := records(t, s, "t"); len(got) != 10 || got[9] != string(big) {
		t.Errorf("long record lost: %d records", len(got))
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	mustPut(t, s, Meta{ID: "gone"})
	mustPut(t, s, Meta{ID: "kept"})
	mustAppend(t, s, "gone", testRec(1), testRec(2))
	mustAppend(t, s, "kept", testRec(1))
	if err := s.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v", err)
	}
	if _, ok := s.Get("gone"); ok {
		t.Error("Get after Delete")
	}
	if err := s.Records("gone", 0, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Records after Delete = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "threads", "gone.log")); !os.IsNotExist(err) {
		t.Errorf("log still there: %v", err)
	}
	// Re-created, the thread starts from scratch.
	mustPut(t, s, Meta{ID: "gone"})
	if seq := mustAppend(t, s, "gone", testRec(1)); seq != 1 {
		t.Errorf("re-created thread starts at seq %d", seq)
	}
	closeT(t, s)
	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	if got := records(t, s, "gone"); len(got) != 1 {
		t.Errorf("re-created thread after reopen: %q", got)
	}
	if got := records(t, s, "kept"); len(got) != 1 {
		t.Errorf("kept: %q", got)
	}
}

// blockFsync makes the committer wait in its next journal fsync until the
// returned func is called, so that requests pile up into one batch.
func blockFsync(s *Store) (entered <-chan struct{}, release func()) {
	in := make(chan struct{})
	gate := make(chan struct{})
	var once sync.Once
	s.fsyncHook = func(f *os.File) error {
		once.Do(func() {
			close(in)
			<-gate
		})
		return f.Sync()
	}
	return in, func() { close(gate) }
}

func queued(s *Store) int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}

func TestBatchWithDeleteAndRecreate(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	mustPut(t, s, Meta{ID: "x"})
	mustAppend(t, s, "x", testRec(1))
	entered, release := blockFsync(s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); mustPut(t, s, Meta{ID: "other"}) }()
	<-entered
	// Queue, in this order, while the committer is stuck in an fsync:
	// append to x, delete x, re-create x, append to x.
	steps := []func() error{
		func() error { _, err := s.Append("x", testRec(2)); return err },
		func() error { return s.Delete("x") },
		func() error { return s.Put(Meta{ID: "x", Preview: "second"}) },
		func() error {
			seq, err := s.Append("x", testRec(100))
			if err == nil && seq != 1 {
				err = fmt.Errorf("append to re-created x got seq %d", seq)
			}
			return err
		},
	}
	for i, step := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := step(); err != nil {
				t.Errorf("step %d: %v", i, err)
			}
		}()
		for queued(s) != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	release()
	wg.Wait()
	check := func() {
		if m, _ := s.Get("x"); m.Preview != "second" {
			t.Errorf("x = %+v", m)
		}
		if got := records(t, s, "x"); len(got) != 1 || got[0] != string(testRec(100)) {
			t.Errorf("x records = %q", got)
		}
	}
	check()
	if b := s.Stats().Batches; b > 5 {
		t.Errorf("%d batches; the queued requests should have shared them", b)
	}
	crashClose(t, s)
	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	check()
}

func TestGroupCommit(t *testing.T) {
	s, _ := openT(t, t.TempDir(), nil)
	defer closeT(t, s)
	const writers, each = 16, 20
	for w := range writers {
		mustPut(t, s, Meta{ID: fmt.Sprintf("w%d", w)})
	}
	// A slow disk: every fsync takes 2 ms.
	s.fsyncHook = func(f *os.File) error {
		time.Sleep(2 * time.Millisecond)
		return f.Sync()
	}
	before := s.Stats()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= each; i++ {
				if seq := mustAppend(t, s, fmt.Sprintf("w%d", w), testRec(i)); seq != uint64(i) {
					t.Errorf("w%d: seq %d, want %d", w, seq, i)
				}
			}
		}()
	}
	wg.Wait()
	after := s.Stats()
	appends := uint64(writers * each)
	fsyncs := after.Fsyncs - before.Fsyncs
	t.Logf("%d appends from %d writers: %d batches, %d fsyncs", appends, writers, after.Batches-before.Batches, fsyncs)
	if fsyncs > appends/4 {
		t.Errorf("%d fsyncs for %d concurrent appends: no group commit", fsyncs, appends)
	}
	for w := range writers {
		if got := records(t, s, fmt.Sprintf("w%d", w)); len(got) != each {
			t.Errorf("w%d has %d records", w, len(got))
		}
	}
}

func TestCloseFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	mustPut(t, s, Meta{ID: "t"})
	// Writers racing with Close either finish durably or get ErrClosed.
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]uint64{}
	for w := range 8 {
		id := fmt.Sprintf("w%d", w)
		mustPut(t, s, Meta{ID: id})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; ; i++ {
				seq, err := s.Append(id, testRec(i))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[id] = seq
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	closeT(t, s)
	wg.Wait()

	if err := s.Put(Meta{ID: "t"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v", err)
	}
	if _, err := s.Append("t", []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if err := s.Delete("t"); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close = %v", err)
	}
	if err := s.Update("t", func(*Meta) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close = %v", err)
	}
	if _, ok := s.Get("t"); ok {
		t.Error("Get after Close found the thread")
	}
	if _, err := s.List(Query{}); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close = %v", err)
	}
	if err := s.Records("t", 0, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Records after Close = %v", err)
	}
	if err := s.Fork("t", Meta{ID: "f"}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Fork after Close = %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "journal.log")); err != nil {
		t.Fatal(err)
	} else if fi, _ := os.Stat(filepath.Join(dir, "journal.log")); fi.Size() != 0 {
		t.Errorf("journal not emptied by Close: %d bytes", fi.Size())
	}
	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	for id, seq := range acked {
		if got := records(t, s, id); uint64(len(got)) != seq {
			t.Errorf("%s: %d records, %d acknowledged", id, len(got), seq)
		}
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	closeT(t, s)
	s, _ = openT(t, dir, nil)
	closeT(t, s)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "new")
	s, _ = openT(t, sub, nil)
	closeT(t, s)
	if fi, err = os.Stat(sub); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created dir mode %v, %v", fi.Mode(), err)
	}
}

func TestFailStop(t *testing.T) {
	dir := t.TempDir()
	s, lb := openT(t, dir, nil)
	mustPut(t, s, Meta{ID: "t"})
	mustAppend(t, s, "t", testRec(1))
	eio := errors.New("input/output error")
	s.fsyncHook = func(*os.File) error { return eio }
	if _, err := s.Append("t", testRec(2)); !errors.Is(err, ErrFailed) || !errors.Is(err, eio) {
		t.Errorf("Append with failing fsync = %v", err)
	}
	if err := s.Put(Meta{ID: "u"}); !errors.Is(err, ErrFailed) {
		t.Errorf("Put after failure = %v", err)
	}
	if got := records(t, s, "t"); len(got) != 1 {
		t.Errorf("readers saw an unacknowledged record: %q", got)
	}
	if err := s.Close(); !errors.Is(err, ErrFailed) {
		t.Errorf("Close = %v", err)
	}
	if !strings.Contains(lb.String(), "write failed") {
		t.Errorf("failure not logged: %s", lb)
	}
	// Reopening recovers: the record whose fsync "failed" did reach the
	// journal here, so it may come back; the acknowledged one must.
	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	if got := records(t, s, "t"); len(got) < 1 || got[0] != string(testRec(1)) {
		t.Errorf("after reopen: %q", got)
	}
}

func TestConcurrentMixed(t *testing.T) {
	s, _ := openT(t, t.TempDir(), &Options{CheckpointBytes: 16 << 10})
	defer closeT(t, s)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				id := fmt.Sprintf("w%d-%d", w, i%3)
				m := testMeta(id, w*100+i)
				if err := s.Put(m); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Append(id, testRec(i)); err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					if err := s.Delete(id); err != nil {
						t.Error(err)
					}
				}
				if _, err := s.List(Query{SortKey: SortUpdatedAt, Search: "thread"}); err != nil {
					t.Error(err)
				}
				s.Get(id)
				err := s.Records(id, 0, func(uint64, []byte) error { return nil })
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if s.Stats().Checkpoints == 0 {
		t.Error("no checkpoint with a 16 KiB journal limit")
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	s.compactMin = 8 << 10
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				mustPut(t, s, testMeta(fmt.Sprintf("t%d", w), i))
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.Compactions == 0 {
		t.Fatalf("no compaction: %+v", st)
	}
	if st.IndexBytes > 2*st.IndexLiveBytes+s.compactMin {
		t.Errorf("index not bounded: %+v", st)
	}
	want, _ := s.List(Query{Limit: 100})
	closeT(t, s)
	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	got, _ := s.List(Query{Limit: 100})
	if !reflect.DeepEqual(got, want) || len(got.Items) != 10 {
		t.Errorf("after compaction and reopen: %d items", len(got.Items))
	}
	if _, err := os.Stat(filepath.Join(dir, "index.log.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary index left behind: %v", err)
	}
}

func TestFork(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	mustPut(t, s, testMeta("src", 1))
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, "src", testRec(i))
	}
	dst := testMeta("half", 2)
	dst.ForkedFromID = "src"
	if err := s.Fork("src", dst, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Fork("src", testMeta("all", 3), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Fork("src", testMeta("half", 4), 0); !errors.Is(err, ErrExists) {
		t.Errorf("Fork onto an existing thread = %v", err)
	}
	if err := s.Fork("nope", testMeta("x", 4), 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Fork of unknown thread = %v", err)
	}
	if err := s.Fork("src", testMeta("x", 4), 6); !errors.Is(err, ErrInvalid) {
		t.Errorf("Fork past the end = %v", err)
	}
	if seq := mustAppend(t, s, "half", testRec(99)); seq != 4 {
		t.Errorf("append to fork: seq %d, want 4", seq)
	}
	mustAppend(t, s, "src", testRec(6))
	check := func() {
		t.Helper()
		if got := records(t, s, "half"); len(got) != 4 || got[2] != string(testRec(3)) || got[3] != string(testRec(99)) {
			t.Errorf("half = %q", got)
		}
		if got := records(t, s, "all"); len(got) != 5 {
			t.Errorf("all = %q", got)
		}
		if got := records(t, s, "src"); len(got) != 6 {
			t.Errorf("src = %q", got)
		}
		if m, _ := s.Get("half"); m.ForkedFromID != "src" {
			t.Errorf("half = %+v", m)
		}
	}
	check()
	crashClose(t, s)
	// A Fork that crashed before its commit leaves a file in tmp/: Open
	// removes it. A log without metadata is never removed.
	tmp := filepath.Join(dir, "tmp", "x.log.123")
	os.WriteFile(tmp, []byte("partial"), 0o600)
	stray := filepath.Join(dir, "threads", "stray.log")
	os.WriteFile(stray, appendRecordLine(nil, 1, []byte(`{}`)), 0o600)
	s, _ = openT(t, dir, nil)
	check()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("%s not swept: %v", tmp, err)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Errorf("%s removed: %v", stray, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(entries) != 0 {
		t.Errorf("tmp/ not empty: %v", entries)
	}
	closeT(t, s)
}

// A Fork committed to the journal but not yet moved out of tmp/ when the
// power went: recovery finishes the move.
func TestForkRecovery(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, nil)
	mustPut(t, s, Meta{ID: "src"})
	mustAppend(t, s, "src", testRec(1), testRec(2))
	closeT(t, s)
	s, _ = openT(t, dir, nil)
	if err := s.Fork("src", Meta{ID: "dst"}, 0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "dst", testRec(3))
	crashClose(t, s)
	// Undo the rename and drop the appended line, as a power cut could.
	final := filepath.Join(dir, "threads", "dst.log")
	data, _ := os.ReadFile(final)
	forked := appendRecordLine(appendRecordLine(nil, 1, testRec(1)), 2, testRec(2))
	if !bytes.HasPrefix(data, forked) {
		t.Fatalf("dst.log = %q", data)
	}
	os.Remove(final)
	journal, _ := os.ReadFile(filepath.Join(dir, "journal.log"))
	i := bytes.Index(journal, []byte(" m dst "))
	if i < 0 {
		t.Fatalf("no rename in the journal: %q", journal)
	}
	name := string(journal[i+7 : i+7+bytes.IndexByte(journal[i+7:], '\n')])
	os.WriteFile(filepath.Join(dir, "tmp", name), forked, 0o600)

	s, _ = openT(t, dir, nil)
	defer closeT(t, s)
	if got := records(t, s, "dst"); len(got) != 3 || got[2] != string(testRec(3)) {
		t.Errorf("dst = %q", got)
	}
}
