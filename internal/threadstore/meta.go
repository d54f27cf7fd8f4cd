package threadstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Meta is the stored description of one thread: what thread/list filters,
// sorts and shows without reading the thread's records. The store does not
// interpret Extra.
//
// Times are kept to the nanosecond, in UTC: [Store.Get] returns exactly what
// the store would return after a restart. The zero Time is stored as absent
// (and so is 1970-01-01T00:00:00Z, which comes back as the zero Time). Times
// must lie between the years 1678 and 2262.
type Meta struct {
	ID string // see [ValidID]

	CreatedAt time.Time
	UpdatedAt time.Time
	RecencyAt time.Time

	Name          *string // nil: no name (the protocol's null)
	Preview       string  // what search matches besides Name
	Cwd           string
	Model         string
	ModelProvider string
	Source        string

	Archived  bool
	Ephemeral bool

	ForkedFromID string

	// Extra holds fields the engine persists without the store needing them
	// (gitInfo, settings, …). It must be valid JSON or empty; it is stored
	// compacted, and "null" is stored as empty.
	Extra json.RawMessage
}

// maxIDLen bounds a thread id so that its file name (escaped, 3 bytes per
// byte at worst, plus ".log") stays under the common 255-byte limit.
const maxIDLen = 80

// ValidID reports whether id can name a thread: 1 to 80 bytes of ASCII
// letters, digits, '-' and '_'. Thread ids are UUIDs in practice.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// fileName maps a valid id to the name of its log. Lowercase letters,
// digits and '-' stand for themselves; uppercase letters and '_' become '_'
// and two hex digits. The mapping is injective even on case-insensitive
// file systems (macOS), where "ABC" and "abc" would otherwise collide, and
// since ids cannot contain '/' or '.', a name can never leave the directory.
func fileName(id string) string {
	var b strings.Builder
	b.Grow(len(id) + 4)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	b.WriteString(".log")
	return b.String()
}

// metaJSON is how a Meta is written in index.log. Times are Unix
// nanoseconds, which decode faster than RFC 3339 strings.
type metaJSON struct {
	ID            string          `json:"id"`
	CreatedAt     int64           `json:"createdAt,omitempty"`
	UpdatedAt     int64           `json:"updatedAt,omitempty"`
	RecencyAt     int64           `json:"recencyAt,omitempty"`
	Name          *string         `json:"name,omitempty"`
	Preview       string          `json:"preview,omitempty"`
	Cwd           string          `json:"cwd,omitempty"`
	Model         string          `json:"model,omitempty"`
	ModelProvider string          `json:"modelProvider,omitempty"`
	Source        string          `json:"source,omitempty"`
	Archived      bool            `json:"archived,omitempty"`
	Ephemeral     bool            `json:"ephemeral,omitempty"`
	ForkedFromID  string          `json:"forkedFromId,omitempty"`
	Extra         json.RawMessage `json:"extra,omitempty"`
}

// indexRecord is the body of an index.log line: a snapshot or a deletion.
type indexRecord struct {
	Put *metaJSON `json:"put,omitempty"`
	Del string    `json:"del,omitempty"`
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func timeKey(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func keyTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func normTime(field string, t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("%w: %s %v out of range", ErrInvalid, field, t)
	}
	return keyTime(t.UnixNano()), nil
}

// normalize returns a copy of m that shares no memory with it, in the form
// the store keeps and returns.
func normalize(m Meta) (Meta, error) {
	if !ValidID(m.ID) {
		return Meta{}, fmt.Errorf("%w: %q", ErrInvalidID, m.ID)
	}
	if m.ForkedFromID != "" && !ValidID(m.ForkedFromID) {
		return Meta{}, fmt.Errorf("%w: forkedFromId %q", ErrInvalidID, m.ForkedFromID)
	}
	var err error
	if m.CreatedAt, err = normTime("createdAt", m.CreatedAt); err != nil {
		return Meta{}, err
	}
	if m.UpdatedAt, err = normTime("updatedAt", m.UpdatedAt); err != nil {
		return Meta{}, err
	}
	if m.RecencyAt, err = normTime("recencyAt", m.RecencyAt); err != nil {
		return Meta{}, err
	}
	if m.Name != nil {
		n := *m.Name
		m.Name = &n
	}
	if len(m.Extra) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, m.Extra); err != nil {
			return Meta{}, fmt.Errorf("%w: extra is not JSON: %v", ErrInvalid, err)
		}
		if bytes.Equal(buf.Bytes(), []byte("null")) {
			m.Extra = nil
		} else {
			m.Extra = buf.Bytes()
		}
	} else {
		m.Extra = nil
	}
	return m, nil
}

// clone returns a copy of a stored Meta that the caller may modify.
func (m *Meta) clone() Meta {
	c := *m
	if m.Name != nil {
		n := *m.Name
		c.Name = &n
	}
	if m.Extra != nil {
		c.Extra = append(json.RawMessage(nil), m.Extra...)
	}
	return c
}

func toJSON(m *Meta) *metaJSON {
	return &metaJSON{
		ID:            m.ID,
		CreatedAt:     timeKey(m.CreatedAt),
		UpdatedAt:     timeKey(m.UpdatedAt),
		RecencyAt:     timeKey(m.RecencyAt),
		Name:          m.Name,
		Preview:       m.Preview,
		Cwd:           m.Cwd,
		Model:         m.Model,
		ModelProvider: m.ModelProvider,
		Source:        m.Source,
		Archived:      m.Archived,
		Ephemeral:     m.Ephemeral,
		ForkedFromID:  m.ForkedFromID,
		Extra:         m.Extra,
	}
}

func fromJSON(j *metaJSON) Meta {
	m := Meta{
		ID:            j.ID,
		CreatedAt:     keyTime(j.CreatedAt),
		UpdatedAt:     keyTime(j.UpdatedAt),
		RecencyAt:     keyTime(j.RecencyAt),
		Name:          j.Name,
		Preview:       j.Preview,
		Cwd:           j.Cwd,
		Model:         j.Model,
		ModelProvider: j.ModelProvider,
		Source:        j.Source,
		Archived:      j.Archived,
		Ephemeral:     j.Ephemeral,
		ForkedFromID:  j.ForkedFromID,
	}
	if len(j.Extra) > 0 && !bytes.Equal(j.Extra, []byte("null")) {
		m.Extra = j.Extra
	}
	return m
}

// putLine returns the index.log line (with its '\n') recording m.
func putLine(m *Meta) ([]byte, error) {
	body, err := json.Marshal(indexRecord{Put: toJSON(m)})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return appendLine(make([]byte, 0, len(body)+crcLen+2), body), nil
}

// delLine returns the index.log line (with its '\n') recording a deletion.
func delLine(id string) []byte {
	body, _ := json.Marshal(indexRecord{Del: id}) // cannot fail: a string field
	return appendLine(nil, body)
}

// entry is a stored Meta with what List needs precomputed.
type entry struct {
	m            Meta
	keys         [numSortKeys]int64
	lowerName    string // strings.ToLower(*m.Name), or "" without a name
	lowerPreview string
	lineLen      int64 // bytes of its snapshot in index.log
}

func newEntry(m Meta, lineLen int64) *entry {
	e := &entry{m: m, lineLen: lineLen}
	e.keys[sortCreated] = timeKey(m.CreatedAt)
	e.keys[sortUpdated] = timeKey(m.UpdatedAt)
	e.keys[sortRecency] = timeKey(m.RecencyAt)
	if m.Name != nil {
		e.lowerName = strings.ToLower(*m.Name) // no copy when already lower-case ASCII
	}
	e.lowerPreview = strings.ToLower(m.Preview)
	return e
}
