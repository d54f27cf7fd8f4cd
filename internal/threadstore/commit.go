package threadstore

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

// Writes go through one goroutine, the committer. Callers queue a request
// and wait; the committer takes everything queued, writes it to the journal
// in one write, fsyncs the journal once, then copies the new lines into
// index.log and the thread logs (without fsync) and answers every caller.
// While it fsyncs, new requests queue up and form the next batch: group
// commit, with no timer and no added latency when the store is idle.
//
// The thread logs and index.log are synced at checkpoints, after which the
// journal is emptied. A crash loses at most the unsynced tails of those
// files, and the journal holds every line written to them since the last
// checkpoint, with its offset; Open rewrites those tails from the journal.

type opKind uint8

const (
	opPut    opKind = iota // create or replace
	opCreate               // create only (Fork)
	opUpdate
	opDelete
	opAppend
)

type request struct {
	kind    opKind
	id      string
	meta    Meta   // opPut, opCreate: normalized
	line    []byte // opPut, opCreate: the index line
	update  func(*Meta) error
	records [][]byte // opAppend: compact JSON objects
	tmpName string   // opCreate from Fork: its log, in tmp/, to rename

	seq  uint64 // opAppend: the last record's sequence number
	err  error
	done chan struct{}
}

// do queues r for the committer and waits for its answer.
func (s *Store) do(r *request) error {
	r.done = make(chan struct{})
	s.qmu.Lock()
	if s.qclosed {
		s.qmu.Unlock()
		return ErrClosed
	}
	if s.failed != nil {
		err := s.failed
		s.qmu.Unlock()
		return err
	}
	s.queue = append(s.queue, r)
	s.qmu.Unlock()
	s.signal()
	<-r.done
	return r.err
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// batch is the committer's scratch space for one group commit, reused.
type batch struct {
	reqs    []*request
	journal []byte
	entries int // journal entries, for the commit marker

	index    []byte
	indexOff int64

	writes  []*threadWrite
	byState map[*threadState]*threadWrite
	removes []string   // thread logs to remove, in order
	renames []*request // Fork logs to move from tmp/ into threads/

	overlay map[string]*entry // pending metadata; nil means deleted
	deleted map[string]struct{}
	scratch []byte
}

type threadWrite struct {
	st      *threadState
	off     int64
	buf     []byte
	removed bool
}

func (b *batch) reset() {
	clear(b.reqs)
	b.reqs = b.reqs[:0]
	b.journal = b.journal[:0]
	b.entries = 0
	b.index = b.index[:0]
	clear(b.writes)
	b.writes = b.writes[:0]
	clear(b.byState)
	b.removes = b.removes[:0]
	clear(b.renames)
	b.renames = b.renames[:0]
	if cap(b.journal) > 16<<20 {
		b.journal, b.index = nil, nil // do not keep a huge batch's buffers
	}
	clear(b.overlay)
	clear(b.deleted)
}

// run is the committer goroutine.
func (s *Store) run() {
	defer close(s.done)
	b := &s.batch
	b.byState = make(map[*threadState]*threadWrite)
	b.overlay = make(map[string]*entry)
	b.deleted = make(map[string]struct{})
	var carry, taken []*request
	last := 0
	for {
		if last > 1 {
			// The writers just answered are runnable but have not queued
			// their next write yet; without this yield they miss the next
			// batch and writers settle into two cohorts taking turns,
			// halving the records per fsync (16 writers: 7.9 without,
			// 14.4 with; see docs/performance.md).
			runtime.Gosched()
		}
		s.qmu.Lock()
		taken = append(append(taken[:0], carry...), s.queue...)
		clear(s.queue)
		s.queue = s.queue[:0]
		closing := s.qclosed
		s.qmu.Unlock()
		if len(taken) == 0 {
			if closing {
				s.exit()
				return
			}
			<-s.wake
			continue
		}
		last = len(taken)
		carry = append(carry[:0], s.commit(taken)...)
		clear(taken)
		if s.failedErr() == nil && s.needCheckpoint() {
			if err := s.checkpoint(); err != nil {
				s.fail(err)
			}
		}
	}
}

func (s *Store) exit() {
	err := s.failedErr()
	if err == nil && !s.crashOnClose {
		err = s.checkpoint()
	}
	s.closeFiles()
	s.exitErr = err
}

func (s *Store) failedErr() error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.failed
}

// fail stops all further writes after an I/O error.
func (s *Store) fail(err error) {
	s.qmu.Lock()
	if s.failed == nil {
		s.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		s.log.Error("threadstore: write failed; the store refuses writes until reopened", "dir", s.dir, "err", err)
	}
	s.qmu.Unlock()
}

// lookup returns a thread's metadata as this batch leaves it.
func (s *Store) lookup(id string) (*entry, bool) {
	if e, ok := s.batch.overlay[id]; ok {
		return e, e != nil
	}
	// Only the committer writes s.entries, so it may read without the lock.
	e, ok := s.entries[id]
	return e, ok
}

// commit writes one batch and returns the requests left for the next one.
func (s *Store) commit(reqs []*request) (carry []*request) {
	b := &s.batch
	b.reset()
	b.indexOff = s.indexSize
	if err := s.failedErr(); err != nil {
		finish(reqs, err)
		return nil
	}
	for i, r := range reqs {
		if _, ok := b.deleted[r.id]; ok {
			// Deleted earlier in this batch: start the next batch here so
			// that a re-created thread gets a fresh log.
			carry = reqs[i:]
			break
		}
		b.reqs = append(b.reqs, r)
		switch r.kind {
		case opPut, opCreate, opUpdate:
			r.err = s.stagePut(r)
		case opDelete:
			r.err = s.stageDelete(r)
		case opAppend:
			r.err = s.stageAppend(r)
		}
	}
	if b.entries == 0 {
		finish(b.reqs, nil)
		return carry
	}
	if err := s.write(); err != nil {
		s.fail(err)
		finish(b.reqs, s.failedErr())
		return carry
	}
	s.publish()
	s.stats.batches.Add(1)
	finish(b.reqs, nil)
	return carry
}

// finish answers requests; those without an error of their own get err.
func finish(reqs []*request, err error) {
	for _, r := range reqs {
		if r.err == nil {
			r.err = err
		}
		close(r.done)
	}
}

func (s *Store) stagePut(r *request) error {
	b := &s.batch
	old, exists := s.lookup(r.id)
	switch r.kind {
	case opCreate:
		if exists {
			return fmt.Errorf("%w: %s", ErrExists, r.id)
		}
	case opPut:
		s.mu.RLock()
		_, forking := s.reserved[r.id]
		s.mu.RUnlock()
		if forking && !exists {
			return fmt.Errorf("%w: %s is being created by Fork", ErrExists, r.id)
		}
	case opUpdate:
		if !exists {
			return fmt.Errorf("%w: %s", ErrNotFound, r.id)
		}
		m := old.m.clone()
		if err := r.update(&m); err != nil {
			return err
		}
		if m.ID != r.id {
			return fmt.Errorf("%w: Update cannot change the id", ErrInvalid)
		}
		var err error
		if r.meta, err = normalize(m); err != nil {
			return err
		}
		if r.line, err = putLine(&r.meta); err != nil {
			return err
		}
	}
	s.stageIndex(r.line)
	if r.tmpName != "" {
		b.scratch = append(append(append(b.scratch[:0], "m "...), r.id...), ' ')
		b.journal = appendJournalLine(b.journal, b.scratch, []byte(r.tmpName))
		b.entries++
		b.renames = append(b.renames, r)
	}
	if exists {
		s.liveSize -= old.lineLen
	}
	s.liveSize += int64(len(r.line))
	b.overlay[r.id] = newEntry(r.meta, int64(len(r.line)))
	return nil
}

// stageIndex adds an index line (with its '\n') to the batch.
func (s *Store) stageIndex(line []byte) {
	b := &s.batch
	b.scratch = append(strconv.AppendInt(append(b.scratch[:0], "i "...), s.indexSize, 10), ' ')
	b.journal = appendJournalLine(b.journal, b.scratch, line[:len(line)-1])
	b.entries++
	b.index = append(b.index, line...)
	s.indexSize += int64(len(line))
}

func (s *Store) stageDelete(r *request) error {
	b := &s.batch
	old, exists := s.lookup(r.id)
	if !exists {
		return fmt.Errorf("%w: %s", ErrNotFound, r.id)
	}
	s.stageIndex(delLine(r.id))
	s.liveSize -= old.lineLen
	b.overlay[r.id] = nil
	b.deleted[r.id] = struct{}{}
	b.scratch = append(b.scratch[:0], "r "...)
	b.journal = appendJournalLine(b.journal, b.scratch, []byte(r.id))
	b.entries++
	s.mu.RLock()
	st := s.threads[r.id]
	s.mu.RUnlock()
	if tw := b.byState[st]; st != nil && tw != nil {
		tw.removed = true
	}
	b.removes = append(b.removes, r.id)
	return nil
}

func (s *Store) stageAppend(r *request) error {
	b := &s.batch
	if _, exists := s.lookup(r.id); !exists {
		return fmt.Errorf("%w: %s", ErrNotFound, r.id)
	}
	st := s.threadState(r.id)
	if err := st.load(s); err != nil {
		return err
	}
	tw := b.byState[st]
	if tw == nil {
		tw = &threadWrite{st: st, off: st.size}
		b.byState[st] = tw
		b.writes = append(b.writes, tw)
	}
	for _, rec := range r.records {
		st.lastSeq++
		start := len(tw.buf)
		tw.buf = appendRecordLine(tw.buf, st.lastSeq, rec)
		line := tw.buf[start:]
		b.scratch = append(b.scratch[:0], "t "...)
		b.scratch = append(b.scratch, r.id...)
		b.scratch = append(strconv.AppendInt(append(b.scratch, ' '), st.size, 10), ' ')
		b.journal = appendJournalLine(b.journal, b.scratch, line[:len(line)-1])
		b.entries++
		st.size += int64(len(line))
	}
	r.seq = st.lastSeq
	s.stats.records.Add(uint64(len(r.records)))
	return nil
}

// write makes the batch durable in the journal, then copies it to the
// index and thread logs.
func (s *Store) write() error {
	b := &s.batch
	b.scratch = strconv.AppendInt(append(b.scratch[:0], "c "...), int64(b.entries), 10)
	b.journal = appendLine(b.journal, b.scratch)
	if _, err := s.journal.WriteAt(b.journal, s.jsize); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	s.jsize += int64(len(b.journal))
	if err := s.fsync(s.journal); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	// Durable from here on: a crash now is repaired from the journal.
	if len(b.index) > 0 {
		if _, err := s.index.WriteAt(b.index, b.indexOff); err != nil {
			return fmt.Errorf("write index: %w", err)
		}
		s.indexDirty = true
	}
	for _, r := range b.renames {
		if err := os.Rename(filepath.Join(s.tmpDir, r.tmpName), filepath.Join(s.threadsDir, fileName(r.id))); err != nil {
			return fmt.Errorf("fork %s: %w", r.id, err)
		}
		s.threadsDirDirty = true
	}
	for _, tw := range b.writes {
		if tw.removed {
			continue
		}
		if err := s.openWriter(tw.st, tw.off); err != nil {
			return err
		}
		if _, err := tw.st.f.WriteAt(tw.buf, tw.off); err != nil {
			return fmt.Errorf("write %s: %w", tw.st.path, err)
		}
		s.dirty[tw.st] = struct{}{}
	}
	for _, id := range b.removes {
		path := filepath.Join(s.threadsDir, fileName(id))
		s.mu.RLock()
		st := s.threads[id]
		s.mu.RUnlock()
		if st != nil {
			s.closeWriter(st)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		s.threadsDirDirty = true
	}
	return nil
}

// openWriter opens the thread log for writing at off, cutting off any torn
// tail found past it.
func (s *Store) openWriter(st *threadState, off int64) error {
	if st.f != nil {
		return nil
	}
	f, err := os.OpenFile(st.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	switch {
	case fi.Size() < off:
		f.Close()
		return &CorruptError{Path: st.path, Offset: fi.Size(), Reason: fmt.Sprintf("file shrank below %d bytes while open", off)}
	case fi.Size() > off:
		s.log.Warn("threadstore: truncating torn tail", "path", st.path, "offset", off, "bytes", fi.Size()-off)
		if err := f.Truncate(off); err != nil {
			f.Close()
			return err
		}
	}
	if !st.exists {
		st.exists = true
		s.threadsDirDirty = true
	}
	st.f = f
	s.writers = append(s.writers, st)
	return nil
}

func (s *Store) closeWriter(st *threadState) {
	if st.f != nil {
		st.f.Close()
		st.f = nil
	}
	delete(s.dirty, st)
}

// publish makes the batch visible to readers.
func (s *Store) publish() {
	b := &s.batch
	s.mu.Lock()
	for id, e := range b.overlay {
		if old, ok := s.entries[id]; ok {
			for k := range s.sorted {
				s.sorted[k] = sortedRemove(s.sorted[k], k, old)
			}
		}
		if e == nil {
			delete(s.entries, id)
			continue
		}
		s.entries[id] = e
		for k := range s.sorted {
			s.sorted[k] = sortedInsert(s.sorted[k], k, e)
		}
	}
	for _, id := range b.removes {
		if st := s.threads[id]; st != nil {
			st.dead.Store(true)
			delete(s.threads, id)
		}
	}
	s.mu.Unlock()
	for _, tw := range b.writes {
		tw.st.committedSize.Store(tw.st.size)
		tw.st.committedSeq.Store(tw.st.lastSeq)
	}
	s.publishSizes()
}

func (s *Store) needCheckpoint() bool {
	return s.jsize >= s.cpBytes || len(s.dirty) >= maxDirty || s.compactDue()
}

func (s *Store) compactDue() bool {
	return s.indexSize > 2*s.liveSize && s.indexSize >= s.compactMin
}

// checkpoint syncs everything written since the last checkpoint, empties
// the journal, and compacts index.log if it has grown past twice its live
// size.
func (s *Store) checkpoint() error {
	if len(s.dirty) > 0 {
		files := make([]*os.File, 0, len(s.dirty))
		for st := range s.dirty {
			files = append(files, st.f)
		}
		if err := s.syncAll(files); err != nil {
			return err
		}
		clear(s.dirty)
	}
	if s.indexDirty {
		if err := s.fsync(s.index); err != nil {
			return fmt.Errorf("sync index: %w", err)
		}
		s.indexDirty = false
	}
	if s.threadsDirDirty {
		for _, d := range []string{s.threadsDir, s.tmpDir} {
			if err := s.syncDir(d); err != nil {
				return fmt.Errorf("sync %s: %w", d, err)
			}
		}
		s.threadsDirDirty = false
	}
	if s.jsize > 0 {
		if err := s.journal.Truncate(0); err != nil {
			return fmt.Errorf("truncate journal: %w", err)
		}
		if err := s.fsync(s.journal); err != nil {
			return fmt.Errorf("sync journal: %w", err)
		}
		s.jsize = 0
	}
	for _, st := range s.writers {
		if st.f != nil {
			st.f.Close()
			st.f = nil
		}
	}
	clear(s.writers)
	s.writers = s.writers[:0]
	s.stats.checkpoints.Add(1)
	if s.compactDue() {
		if err := s.compact(); err != nil {
			return err
		}
	}
	s.publishSizes()
	return nil
}

// syncAll fsyncs files concurrently: file systems with a journal (ext4,
// XFS) fold concurrent fsyncs into one journal commit.
func (s *Store) syncAll(files []*os.File) error {
	const workers = 16
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan *os.File)
	)
	for range min(workers, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				if err := s.fsync(f); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("sync %s: %w", f.Name(), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
	return first
}

// compact rewrites index.log with one snapshot per thread: a new file,
// fsync, rename over the old one, fsync of the directory. The journal is
// empty when it runs, so no journal entry refers to offsets of the old file.
func (s *Store) compact() error {
	tmp := s.indexPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var size int64
	for _, e := range s.sorted[sortCreated] {
		line, err := putLine(&e.m)
		if err != nil {
			f.Close()
			return err
		}
		e.lineLen = int64(len(line))
		size += e.lineLen
		w.Write(line)
	}
	err = w.Flush()
	if err == nil {
		err = s.fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.indexPath)
	}
	if err == nil {
		err = s.syncDir(s.dir)
	}
	if err != nil {
		return fmt.Errorf("compact index: %w", err)
	}
	nf, err := os.OpenFile(s.indexPath, os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	s.index.Close()
	s.index = nf
	s.indexSize, s.liveSize = size, size
	s.stats.compactions.Add(1)
	return nil
}
