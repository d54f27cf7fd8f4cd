package threadstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// threadState tracks one thread log. It is created on first use and loaded
// once: load finds the end of the last valid line (and the last sequence
// number) by reading the file backwards from its end, so opening a thread
// costs one small read however long its history is.
type threadState struct {
	id, path string

	loadMu sync.Mutex
	loaded bool

	// Set by load; afterwards owned by the committer.
	size    int64  // bytes of valid lines, including staged ones
	lastSeq uint64 // last sequence number, including staged records
	exists  bool   // the file exists
	f       *os.File

	// What readers may see: only durable, fully written lines.
	committedSize atomic.Int64
	committedSeq  atomic.Uint64
	dead          atomic.Bool // deleted; a reader holding it reports ErrNotFound
}

// threadState returns the state of an existing thread's log, creating it.
func (s *Store) threadState(id string) *threadState {
	s.mu.RLock()
	st := s.threads[id]
	s.mu.RUnlock()
	if st != nil {
		return st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st = s.threads[id]; st == nil {
		st = &threadState{id: id, path: filepath.Join(s.threadsDir, fileName(id))}
		s.threads[id] = st
	}
	return st
}

// readState returns the loaded state of a thread for a reader, or
// ErrNotFound. States are only created while the thread's metadata exists,
// and Delete removes both under the same lock.
func (s *Store) readState(id string) (*threadState, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	s.mu.RLock()
	closed, st := s.closed, s.threads[id]
	_, exists := s.entries[id]
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if st == nil {
		if !exists {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		s.mu.Lock()
		if _, exists = s.entries[id]; !exists {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if st = s.threads[id]; st == nil {
			st = &threadState{id: id, path: filepath.Join(s.threadsDir, fileName(id))}
			s.threads[id] = st
		}
		s.mu.Unlock()
	}
	if err := st.load(s); err != nil {
		return nil, err
	}
	return st, nil
}

// load reads the end of the log once. It never writes: a torn tail past
// the last valid line is left for the committer to cut before it appends.
func (st *threadState) load(s *Store) error {
	st.loadMu.Lock()
	defer st.loadMu.Unlock()
	if st.loaded {
		return nil
	}
	f, err := os.Open(st.path)
	if errors.Is(err, os.ErrNotExist) {
		st.loaded = true
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end, seq, err := findTail(f, fi.Size())
	if err != nil {
		return fmt.Errorf("threadstore: read %s: %w", st.path, err)
	}
	if end < fi.Size() {
		s.log.Warn("threadstore: ignoring torn tail", "path", st.path, "offset", end, "bytes", fi.Size()-end)
	}
	st.size, st.lastSeq, st.exists = end, seq, true
	st.committedSize.Store(end)
	st.committedSeq.Store(seq)
	st.loaded = true
	return nil
}

// findTail returns the end offset and sequence number of the last valid
// line of a log of the given size, reading backwards in growing chunks.
func findTail(f io.ReaderAt, size int64) (end int64, seq uint64, err error) {
	chunk := int64(64 << 10)
	for {
		start := max(0, size-chunk)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return 0, 0, err
		}
		e := bytes.LastIndexByte(buf, '\n')
		for e >= 0 {
			b := bytes.LastIndexByte(buf[:e], '\n') + 1
			if b == 0 && start > 0 {
				break // the line may begin before this chunk
			}
			if body, ok := checkLine(buf[b:e]); ok {
				if n, _, ok := parseRecordBody(body); ok {
					return start + int64(e) + 1, n, nil
				}
			}
			e = b - 1
		}
		if start == 0 {
			return 0, 0, nil
		}
		chunk *= 4
	}
}

// Append adds records to a thread's log and returns the sequence number of
// the last one; sequence numbers start at 1 and have no gaps. Each record
// must be a JSON object; it is stored compacted. The records are durable
// when Append returns nil, and are stored all or none. The thread must
// exist ([Store.Put]); otherwise Append returns ErrNotFound.
//
// Appends from any number of goroutines, to any threads, share the
// journal's fsyncs.
func (s *Store) Append(threadID string, records ...[]byte) (uint64, error) {
	if !ValidID(threadID) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidID, threadID)
	}
	if len(records) == 0 {
		return 0, fmt.Errorf("%w: no records", ErrInvalid)
	}
	recs := make([][]byte, len(records))
	for i, rec := range records {
		c, err := compactObject(rec)
		if err != nil {
			return 0, err
		}
		recs[i] = c
	}
	// Load the log's tail here rather than on the committer, which would
	// otherwise stall every writer on this read.
	if _, err := s.readState(threadID); err != nil {
		return 0, err
	}
	r := &request{kind: opAppend, id: threadID, records: recs}
	if err := s.do(r); err != nil {
		return 0, err
	}
	return r.seq, nil
}

func compactObject(rec []byte) ([]byte, error) {
	if len(rec) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: record of %d bytes exceeds %d", ErrInvalid, len(rec), MaxRecordBytes)
	}
	var buf bytes.Buffer
	buf.Grow(len(rec))
	if err := json.Compact(&buf, rec); err != nil {
		return nil, fmt.Errorf("%w: record is not JSON: %v", ErrInvalid, err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, fmt.Errorf("%w: record is not a JSON object", ErrInvalid)
	}
	return buf.Bytes(), nil
}

// LastSeq returns the sequence number of the thread's last record, 0 for
// none.
func (s *Store) LastSeq(threadID string) (uint64, error) {
	st, err := s.readState(threadID)
	if err != nil {
		return 0, err
	}
	return st.committedSeq.Load(), nil
}

// Records calls fn for each record of the thread with a sequence number
// above after (0 for all), in order, and stops at the first error fn
// returns, which Records returns. rec is valid only until fn returns. The
// records are those acknowledged when Records started. A corrupted line
// yields a *CorruptError naming the file and offset.
func (s *Store) Records(threadID string, after uint64, fn func(seq uint64, rec []byte) error) error {
	st, err := s.readState(threadID)
	if err != nil {
		return err
	}
	err = s.scan(st, func(seq uint64, _, rec []byte) error {
		if seq <= after {
			return nil
		}
		return fn(seq, rec)
	})
	var ce *CorruptError
	if errors.As(err, &ce) && st.dead.Load() {
		return fmt.Errorf("%w: %s", ErrNotFound, threadID)
	}
	return err
}

// scan reads the committed part of a log, checking every line and that
// sequence numbers run 1, 2, 3, …; fn also gets the whole line.
func (s *Store) scan(st *threadState, fn func(seq uint64, line, rec []byte) error) error {
	size := st.committedSize.Load()
	if size == 0 {
		return nil
	}
	f, err := os.Open(st.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && st.dead.Load() {
			return fmt.Errorf("%w: %s", ErrNotFound, st.id)
		}
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 256<<10)
	var (
		off  int64
		prev uint64
		long []byte
	)
	for off < size {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if err == io.EOF {
				return &CorruptError{Path: st.path, Offset: off, Reason: fmt.Sprintf("file ends before %d bytes", size)}
			}
			return err
		}
		body, ok := checkLine(line[:len(line)-1])
		var seq uint64
		var rec []byte
		if ok {
			seq, rec, ok = parseRecordBody(body)
		}
		if !ok {
			return &CorruptError{Path: st.path, Offset: off, Reason: "bad checksum or malformed line"}
		}
		if seq != prev+1 {
			return &CorruptError{Path: st.path, Offset: off, Reason: fmt.Sprintf("sequence %d follows %d", seq, prev)}
		}
		prev = seq
		if err := fn(seq, line, rec); err != nil {
			return err
		}
		off += int64(len(line))
	}
	return nil
}

// Fork creates the thread dst with a copy of the records of src up to and
// including sequence upTo (0 for all of them), keeping their sequence
// numbers. It fails with ErrExists if dst exists. The copy is written and
// synced in tmp/, and moved into threads/ by the commit of dst's metadata
// (the journal records the move), so a crash leaves either no dst or all
// of it, and never a log without metadata.
func (s *Store) Fork(srcID string, dst Meta, upTo uint64) (err error) {
	dst, err = normalize(dst)
	if err != nil {
		return err
	}
	line, err := putLine(&dst)
	if err != nil {
		return err
	}
	src, err := s.readState(srcID)
	if err != nil {
		return err
	}
	if last := src.committedSeq.Load(); upTo > last {
		return fmt.Errorf("%w: thread %s has %d records, fewer than %d", ErrInvalid, srcID, last, upTo)
	}
	s.mu.Lock()
	_, exists := s.entries[dst.ID]
	_, forking := s.reserved[dst.ID]
	if !exists && !forking {
		s.reserved[dst.ID] = struct{}{}
	}
	s.mu.Unlock()
	if exists || forking {
		return fmt.Errorf("%w: %s", ErrExists, dst.ID)
	}
	defer func() {
		s.mu.Lock()
		delete(s.reserved, dst.ID)
		s.mu.Unlock()
	}()

	tmp, err := os.CreateTemp(s.tmpDir, fileName(dst.ID)+".*")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		tmp.Close()
		if !committed && !errors.Is(err, ErrFailed) {
			// (After ErrFailed the commit may have reached the journal,
			// whose replay needs the file; if not, Open removes it.)
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 256<<10)
	errDone := errors.New("done")
	err = s.scan(src, func(seq uint64, line, _ []byte) error {
		if upTo > 0 && seq > upTo {
			return errDone
		}
		_, err := w.Write(line)
		return err
	})
	if err == errDone {
		err = nil
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = s.fsync(tmp)
	}
	if err == nil {
		err = s.syncDir(s.tmpDir)
	}
	if err != nil {
		return err
	}
	err = s.do(&request{kind: opCreate, id: dst.ID, meta: dst, line: line, tmpName: filepath.Base(tmp.Name())})
	committed = err == nil
	return err
}
