package threadstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Journal lines. Each batch is a run of entries closed by a commit marker;
// Open applies only batches whose marker is present, so a batch is applied
// whole or not at all.
//
//	i <offset> <line>        index.log holds <line>\n at <offset>
//	t <id> <offset> <line>   threads/<file of id> holds <line>\n at <offset>
//	r <id>                   the thread's log was removed
//	m <id> <name>            tmp/<name> was renamed to the thread's log (Fork)
//	c <entries>              commit marker: the batch had <entries> entries
type journalOp struct {
	kind byte
	id   string
	off  int64
	line []byte
	at   int64 // where the entry is in the journal, for errors
}

func parseJournalOp(body []byte) (journalOp, bool) {
	if len(body) < 3 || body[1] != ' ' {
		return journalOp{}, false
	}
	op := journalOp{kind: body[0]}
	rest := body[2:]
	var field []byte
	var ok bool
	num := func() bool {
		field, rest, ok = cutField(rest)
		n, good := parseUint(field)
		op.off = int64(n)
		return ok && good && n <= 1<<62
	}
	switch op.kind {
	case 'i':
		if !num() {
			return op, false
		}
		op.line = rest
	case 't':
		field, rest, ok = cutField(rest)
		if !ok || !ValidID(string(field)) {
			return op, false
		}
		op.id = string(field)
		if !num() {
			return op, false
		}
		op.line = rest
	case 'r':
		if !ValidID(string(rest)) {
			return op, false
		}
		op.id = string(rest)
	case 'm':
		field, rest, ok = cutField(rest)
		if !ok || !ValidID(string(field)) || !validTmpName(rest) {
			return op, false
		}
		op.id, op.line = string(field), rest
	case 'c':
		n, good := parseUint(rest)
		if !good {
			return op, false
		}
		op.off = int64(n)
	default:
		return op, false
	}
	if op.line != nil && op.kind != 'm' {
		if _, good := checkLine(op.line); !good {
			return op, false
		}
	}
	return op, true
}

// parseJournal returns the entries of the committed batches and the end of
// the last one. Everything after it is a batch whose fsync never returned:
// nobody was told it was durable, so it is dropped.
func parseJournal(data []byte) (ops []journalOp, end int) {
	var pending []journalOp
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			break
		}
		body, ok := checkLine(data[off : off+nl])
		if !ok {
			break
		}
		op, ok := parseJournalOp(body)
		if !ok {
			break
		}
		op.at = int64(off)
		off += nl + 1
		if op.kind != 'c' {
			pending = append(pending, op)
			continue
		}
		if op.off != int64(len(pending)) {
			break
		}
		ops = append(ops, pending...)
		pending = pending[:0]
		end = off
	}
	return ops, end
}

// recoverJournal rewrites, from the journal, every line written since the
// last checkpoint, at its recorded offset: each touched file is cut back
// to the first offset the journal knows for it (everything before was
// synced at the checkpoint) and its lines are written again. It is
// idempotent, so a crash during recovery is repaired by the next Open.
func (s *Store) recoverJournal() error {
	data, err := readAll(s.journalPath)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	ops, end := parseJournal(data)
	if end < len(data) {
		s.log.Warn("threadstore: dropping uncommitted journal tail", "path", s.journalPath, "offset", end, "bytes", len(data)-end)
	}
	type target struct {
		path string
		f    *os.File
		size int64 // including pending
		buf  []byte
	}
	targets := make(map[string]*target) // "" is index.log
	var order []*target
	get := func(key, path string, off int64) (*target, error) {
		if t := targets[key]; t != nil {
			return t, nil
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err == nil && fi.Size() < off {
			err = &CorruptError{Path: path, Offset: fi.Size(), Reason: fmt.Sprintf("shorter than the %d bytes synced at the last checkpoint", off)}
		}
		if err == nil && fi.Size() > off {
			err = f.Truncate(off)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		t := &target{path: path, f: f, size: off}
		targets[key] = t
		order = append(order, t)
		return t, nil
	}
	closeAll := func() {
		for _, t := range order {
			if t.f != nil {
				t.f.Close()
			}
		}
	}
	defer closeAll()
	var removed bool
	for _, op := range ops {
		var t *target
		switch op.kind {
		case 'i':
			t, err = get("", s.indexPath, op.off)
		case 't':
			t, err = get(op.id, filepath.Join(s.threadsDir, fileName(op.id)), op.off)
		case 'r':
			if t := targets[op.id]; t != nil {
				t.f.Close()
				t.f, t.buf = nil, nil
				delete(targets, op.id)
			}
			path := filepath.Join(s.threadsDir, fileName(op.id))
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			removed = true
			continue
		case 'm':
			// Finish a Fork's rename; if the file is no longer in tmp/,
			// the rename was done (and the thread maybe deleted since).
			err := os.Rename(filepath.Join(s.tmpDir, string(op.line)), filepath.Join(s.threadsDir, fileName(op.id)))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			removed = true
			continue
		}
		if err != nil {
			return err
		}
		if op.off != t.size {
			return &CorruptError{Path: s.journalPath, Offset: op.at, Reason: fmt.Sprintf("entry for %s at offset %d, expected %d", t.path, op.off, t.size)}
		}
		t.buf = append(append(t.buf, op.line...), '\n')
		t.size += int64(len(op.line)) + 1
	}
	for _, t := range order {
		if t.f == nil {
			continue
		}
		if _, err := t.f.WriteAt(t.buf, t.size-int64(len(t.buf))); err != nil {
			return err
		}
		if err := s.fsync(t.f); err != nil {
			return err
		}
	}
	if len(order) > 0 || removed {
		if err := s.syncDir(s.threadsDir); err != nil {
			return err
		}
		if err := s.syncDir(s.tmpDir); err != nil {
			return err
		}
		if err := s.syncDir(s.dir); err != nil {
			return err
		}
	}
	if len(ops) > 0 {
		s.log.Info("threadstore: recovered from journal", "dir", s.dir, "entries", len(ops), "files", len(order))
	}
	// Everything is synced: the journal may go.
	return s.truncateFile(s.journalPath, 0)
}

// replayIndex loads index.log into memory. A torn tail (bad lines with no
// good line after them) is cut off. A bad line followed by good ones is
// corruption: Open refuses, or with SkipCorrupt skips it.
//
// Decoding JSON is most of the cost of Open (about 5 µs a line), so lines
// are split and checksummed first, decoded on every CPU, then applied in
// order.
func (s *Store) replayIndex() error {
	data, err := readAll(s.indexPath)
	if err != nil {
		return err
	}
	type line struct {
		off, len int
		body     []byte // nil when the checksum fails
		rec      indexRecord
		ok       bool
	}
	var lines []line
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			break // a torn last line
		}
		body, _ := checkLine(data[off : off+nl])
		lines = append(lines, line{off: off, len: nl + 1, body: body})
		off += nl + 1
	}
	workers := min(runtime.GOMAXPROCS(0), len(lines)/256+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(lines); i += workers {
				l := &lines[i]
				l.ok = l.body != nil && json.Unmarshal(l.body, &l.rec) == nil && validIndexRecord(&l.rec)
			}
		}()
	}
	wg.Wait()

	validEnd, badAt := 0, -1
	for i := range lines {
		l := &lines[i]
		if !l.ok {
			if badAt < 0 {
				badAt = l.off
			}
			continue
		}
		if badAt >= 0 {
			if !s.skipCorrupt {
				return &CorruptError{Path: s.indexPath, Offset: int64(badAt), Reason: "bad line followed by good ones (Options.SkipCorrupt skips it)"}
			}
			s.log.Warn("threadstore: skipping corrupted index lines", "path", s.indexPath, "offset", badAt, "bytes", l.off-badAt)
			badAt = -1
		}
		rec := &l.rec
		if old, ok := s.entries[rec.Put.idOr(rec.Del)]; ok {
			s.liveSize -= old.lineLen
		}
		if rec.Put != nil {
			s.entries[rec.Put.ID] = newEntry(fromJSON(rec.Put), int64(l.len))
			s.liveSize += int64(l.len)
		} else {
			delete(s.entries, rec.Del)
		}
		validEnd = l.off + l.len
	}
	s.indexSize = int64(validEnd)
	if validEnd < len(data) {
		s.log.Warn("threadstore: truncating torn tail", "path", s.indexPath, "offset", validEnd, "bytes", len(data)-validEnd)
		if err := s.truncateFile(s.indexPath, int64(validEnd)); err != nil {
			return err
		}
	}
	return nil
}

func (j *metaJSON) idOr(id string) string {
	if j != nil {
		return j.ID
	}
	return id
}

func validIndexRecord(r *indexRecord) bool {
	if r.Put != nil {
		return r.Del == "" && ValidID(r.Put.ID) && (r.Put.ForkedFromID == "" || ValidID(r.Put.ForkedFromID))
	}
	return ValidID(r.Del)
}

// sweep removes what crashed Forks and compactions left behind: files in
// tmp/ (a Fork whose commit was journaled had its file renamed out of tmp/
// by recoverJournal) and index.log.tmp. It never removes a thread log:
// every log without metadata would have to come from outside the store,
// and after a damaged index it may be all that is left of a thread.
func (s *Store) sweep() error {
	d, err := os.Open(s.tmpDir)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := os.Remove(filepath.Join(s.tmpDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Remove(s.indexPath + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// validTmpName accepts the names Fork gives its files in tmp/.
func validTmpName(name []byte) bool {
	if len(name) == 0 || len(name) > 255 || name[0] == '.' {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
