package threadstore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
)

// Errors returned by the Store. Errors that carry detail wrap one of these,
// so test them with errors.Is.
var (
	ErrClosed    = errors.New("threadstore: store closed")
	ErrNotFound  = errors.New("threadstore: thread not found")
	ErrExists    = errors.New("threadstore: thread already exists")
	ErrInvalidID = errors.New("threadstore: invalid thread id")
	ErrInvalid   = errors.New("threadstore: invalid argument")
	ErrBadCursor = errors.New("threadstore: invalid cursor")
	ErrLocked    = errors.New("threadstore: store is in use by another process")
	// ErrFailed wraps the I/O error that stopped the store. After a failed
	// write or fsync the store refuses further writes (the state of the
	// files is unknown, and a retried fsync can report success for data the
	// kernel has already dropped); reopening it recovers from the journal.
	ErrFailed = errors.New("threadstore: store failed; reopen it to recover")
)

// CorruptError reports data that was acknowledged once and no longer reads
// back: a bad line followed by good ones, a gap in a thread's sequence, or
// a file shorter than the journal says it was. A torn last line is not
// corruption; it is ignored and truncated.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("threadstore: %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// MaxRecordBytes bounds one record given to [Store.Append].
const MaxRecordBytes = 64 << 20

// Options configures [Open]. A nil *Options means the defaults.
type Options struct {
	// Logger receives warnings about repaired tails and skipped lines.
	// Nil means slog.Default().
	Logger *slog.Logger
	// CheckpointBytes is the journal size that triggers a checkpoint
	// (fsync of the thread logs and index written since the last one, then
	// an empty journal). It bounds the journal replayed after a crash.
	// Zero means 8 MiB.
	CheckpointBytes int64
	// SkipCorrupt makes Open skip a corrupted line in the middle of
	// index.log with a warning, instead of refusing to open. Threads whose
	// metadata is lost that way keep their logs on disk.
	SkipCorrupt bool
}

const (
	defaultCheckpointBytes = 8 << 20
	// maxDirty bounds the thread logs written since the last checkpoint.
	// Each keeps its file open until it is synced (an fsync through a
	// descriptor opened later may miss an earlier write-back error), so
	// this also bounds the descriptors the store holds.
	maxDirty = 256
	// minCompactBytes keeps a small index from being rewritten often.
	minCompactBytes = 1 << 20
)

// Store is a durable store of thread metadata and of each thread's
// append-only record log. It is safe for concurrent use.
type Store struct {
	dir, threadsDir, tmpDir, indexPath, journalPath string

	log         *slog.Logger
	skipCorrupt bool
	cpBytes     int64
	compactMin  int64
	lock        *os.File

	mu       sync.RWMutex
	closed   bool
	entries  map[string]*entry
	sorted   [numSortKeys][]*entry
	threads  map[string]*threadState
	reserved map[string]struct{} // ids a Fork is creating

	qmu     sync.Mutex
	queue   []*request
	qclosed bool
	failed  error
	wake    chan struct{}
	done    chan struct{}
	exitErr error // set by the committer before done is closed

	// Owned by the committer goroutine (and by Open before it starts).
	journal         *os.File
	jsize           int64
	index           *os.File
	indexSize       int64
	liveSize        int64
	dirty           map[*threadState]struct{}
	writers         []*threadState // states holding an open write handle
	indexDirty      bool
	threadsDirDirty bool // also covers tmp/, which Fork renames out of
	batch           batch
	fsyncHook       func(*os.File) error // tests slow down or fail fsyncs
	crashOnClose    bool                 // tests: Close skips the final checkpoint

	stats struct {
		batches, fsyncs, records, checkpoints, compactions atomic.Uint64
		journalBytes, indexBytes, liveBytes                atomic.Int64
	}
}

// Stats are counters for monitoring and benchmarks.
type Stats struct {
	Threads        int    // threads in the index
	Batches        uint64 // group commits
	Fsyncs         uint64 // fsync calls on files and directories
	Records        uint64 // records appended since Open
	Checkpoints    uint64
	Compactions    uint64 // rewrites of index.log
	JournalBytes   int64
	IndexBytes     int64 // size of index.log
	IndexLiveBytes int64 // of which the latest snapshot of each thread
}

// Open opens the store in dir, creating dir (mode 0700) if needed. It takes
// an exclusive lock on the directory, replays the journal of a process that
// crashed, loads the index, and removes files a crash left unreferenced.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = defaultCheckpointBytes
	}
	s := &Store{
		dir:         dir,
		threadsDir:  filepath.Join(dir, "threads"),
		tmpDir:      filepath.Join(dir, "tmp"),
		indexPath:   filepath.Join(dir, "index.log"),
		journalPath: filepath.Join(dir, "journal.log"),
		log:         o.Logger,
		skipCorrupt: o.SkipCorrupt,
		cpBytes:     o.CheckpointBytes,
		compactMin:  minCompactBytes,
		entries:     make(map[string]*entry),
		threads:     make(map[string]*threadState),
		reserved:    make(map[string]struct{}),
		dirty:       make(map[*threadState]struct{}),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	if err := s.open(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.run()
	return s, nil
}

func (s *Store) open() error {
	_, err := os.Stat(s.dir)
	created := errors.Is(err, os.ErrNotExist)
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	for _, sub := range []string{s.threadsDir, s.tmpDir} {
		if err := os.Mkdir(sub, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	lock, err := lockDir(filepath.Join(s.dir, "LOCK"))
	if err != nil {
		return fmt.Errorf("threadstore: lock %s: %w", s.dir, err)
	}
	s.lock = lock
	if err := s.recoverJournal(); err != nil {
		return err
	}
	if err := s.replayIndex(); err != nil {
		return err
	}
	if err := s.sweep(); err != nil {
		return err
	}
	if s.index, err = os.OpenFile(s.indexPath, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return err
	}
	if s.journal, err = os.OpenFile(s.journalPath, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return err
	}
	// Make the entries of the files and directories created above durable
	// before anything relies on them.
	for _, d := range []string{s.tmpDir, s.threadsDir, s.dir} {
		if err := s.syncDir(d); err != nil {
			return err
		}
	}
	if created {
		if err := s.syncDir(filepath.Dir(s.dir)); err != nil {
			return err
		}
	}
	for k := range s.sorted {
		list := make([]*entry, 0, len(s.entries))
		for _, e := range s.entries {
			list = append(list, e)
		}
		slices.SortFunc(list, func(a, b *entry) int { return compareAt(a, k, b.keys[k], b.m.ID) })
		s.sorted[k] = list
	}
	s.publishSizes()
	return nil
}

func (s *Store) closeFiles() {
	for _, st := range s.writers {
		if st.f != nil {
			st.f.Close()
			st.f = nil
		}
	}
	s.writers = nil
	for _, f := range []*os.File{s.journal, s.index, s.lock} {
		if f != nil {
			f.Close()
		}
	}
	s.journal, s.index, s.lock = nil, nil, nil
}

// Close flushes and syncs everything, empties the journal so the next Open
// is fast, and releases the directory. Calls waiting on the store complete
// first; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.qmu.Lock()
	if s.qclosed {
		s.qmu.Unlock()
		return ErrClosed
	}
	s.qclosed = true
	s.qmu.Unlock()
	s.signal()
	<-s.done
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.exitErr
}

// Get returns the thread's metadata. The result is a copy.
func (s *Store) Get(id string) (Meta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Meta{}, false
	}
	e, ok := s.entries[id]
	if !ok {
		return Meta{}, false
	}
	return e.m.clone(), true
}

// Len returns the number of threads.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Put creates or replaces a thread's metadata. It is durable when Put
// returns nil.
func (s *Store) Put(m Meta) error {
	m, err := normalize(m)
	if err != nil {
		return err
	}
	line, err := putLine(&m)
	if err != nil {
		return err
	}
	return s.do(&request{kind: opPut, id: m.ID, meta: m, line: line})
}

// Update changes a thread's metadata atomically: fn gets a copy of the
// current value and edits it in place, and the result is stored unless fn
// returns an error (which Update returns). Update returns ErrNotFound for
// an unknown thread. fn runs on the store's commit goroutine, in order with
// every other write: it must be quick and must not call the Store.
func (s *Store) Update(id string, fn func(m *Meta) error) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return s.do(&request{kind: opUpdate, id: id, update: fn})
}

// Delete removes a thread's metadata and its record log. It is durable when
// Delete returns nil; it returns ErrNotFound for an unknown thread.
func (s *Store) Delete(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return s.do(&request{kind: opDelete, id: id})
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Threads:        s.Len(),
		Batches:        s.stats.batches.Load(),
		Fsyncs:         s.stats.fsyncs.Load(),
		Records:        s.stats.records.Load(),
		Checkpoints:    s.stats.checkpoints.Load(),
		Compactions:    s.stats.compactions.Load(),
		JournalBytes:   s.stats.journalBytes.Load(),
		IndexBytes:     s.stats.indexBytes.Load(),
		IndexLiveBytes: s.stats.liveBytes.Load(),
	}
}

func (s *Store) publishSizes() {
	s.stats.journalBytes.Store(s.jsize)
	s.stats.indexBytes.Store(s.indexSize)
	s.stats.liveBytes.Store(s.liveSize)
}

// fsync syncs f and counts it.
func (s *Store) fsync(f *os.File) error {
	s.stats.fsyncs.Add(1)
	if s.fsyncHook != nil {
		return s.fsyncHook(f)
	}
	return f.Sync()
}

func (s *Store) syncDir(dir string) error {
	s.stats.fsyncs.Add(1)
	return syncDir(dir)
}

// truncateFile cuts path to size and syncs it.
func (s *Store) truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return s.fsync(f)
}

// readAll reads a whole file; a missing file reads as empty.
func readAll(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
