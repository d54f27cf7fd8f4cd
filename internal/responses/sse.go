package responses

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxEventSize bounds one server-sent event: its longest line and its data
// (the data lines joined by "\n"). A provider that exceeds it gets
// [ErrEventTooLarge] instead of growing our memory without bound; 16 MiB is
// far above any real event (a done item repeats at most one message or one
// tool call's arguments).
const MaxEventSize = 16 << 20

// ErrEventTooLarge is returned when one event (or one line of the stream, or
// the text accumulated for one output item) exceeds [MaxEventSize].
var ErrEventTooLarge = errors.New("responses: server-sent event exceeds size limit")

// sseEvent is one dispatched event. Data aliases the parser's buffer and is
// valid only until the next call to next.
type sseEvent struct {
	Type string // the event field; "message" when absent
	Data []byte
	ID   string // the last event ID
}

// sseParser reads server-sent events as the WHATWG HTML standard's "event
// stream interpretation" describes them: lines end in CRLF, LF or CR; a
// leading BOM is dropped; lines starting with ':' are comments; the fields
// are event, data, id and retry; a blank line dispatches the event, unless its
// data is empty; an incomplete event at end of stream is discarded.
//
// It returns each event as soon as its blank line has been read: it never
// asks the underlying reader for more bytes than it needs to find the end of
// the current line, and it never waits to see whether a CR is followed by an
// LF (that LF, if any, is skipped when the next line is read). The retry
// field is parsed and ignored: a POST stream cannot be resumed, and
// reconnection is the caller's decision.
type sseParser struct {
	r         *bufio.Reader
	max       int
	line      []byte // a line that spans buffer refills
	data      []byte // the data buffer, each line followed by "\n"
	eventType []byte
	lastID    string
	lastType  string // the last event type, reused while it repeats
	skipLF    bool   // the previous line ended in CR
	started   bool   // the first line (and a possible BOM) has been read
}

func newSSEParser(r io.Reader, max int) *sseParser {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 32<<10)
	}
	return &sseParser{r: br, max: max}
}

// next returns the next event. At the end of the stream it returns io.EOF
// (or the reader's error); an event or line larger than the limit yields an
// error wrapping ErrEventTooLarge. Errors are not sticky: the caller stops.
func (p *sseParser) next() (sseEvent, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if !p.started {
			p.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if len(line) == 0 {
			if len(p.data) == 0 {
				p.eventType = p.eventType[:0]
				continue
			}
			ev := sseEvent{Type: "message", Data: p.data[:len(p.data)-1], ID: p.lastID}
			if len(p.eventType) > 0 {
				if string(p.eventType) != p.lastType { // no allocation to compare
					p.lastType = string(p.eventType)
				}
				ev.Type = p.lastType
			}
			p.eventType = p.eventType[:0]
			p.data = p.data[:0]
			return ev, nil
		}
		if err := p.field(line); err != nil {
			return sseEvent{}, err
		}
	}
}

// field processes one non-blank line.
func (p *sseParser) field(line []byte) error {
	if line[0] == ':' {
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(p.data)+len(value) > p.max {
			return fmt.Errorf("%w: data of more than %d bytes", ErrEventTooLarge, p.max)
		}
		if len(p.data) == 0 && cap(p.data) > 1<<20 {
			p.data = nil // let a previous giant event's buffer go
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "event":
		p.eventType = append(p.eventType[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.lastID = string(value)
		}
	}
	return nil
}

// lineSlack lets a line hold a field name besides max bytes of value.
const lineSlack = 16

// readLine returns the next line without its terminator. The result may
// alias the bufio.Reader's buffer and is valid until the next read. A line
// longer than max+lineSlack is an error; an unterminated line at the end of
// the stream is discarded.
func (p *sseParser) readLine() ([]byte, error) {
	if cap(p.line) > 1<<20 {
		p.line = nil // let a previous giant line's buffer go
	}
	p.line = p.line[:0]
	for {
		n := p.r.Buffered()
		if n == 0 {
			// Block for at least one byte, but no more than what has arrived.
			if _, err := p.r.Peek(1); err != nil {
				return nil, err
			}
			n = p.r.Buffered()
		}
		buf, _ := p.r.Peek(n)
		if p.skipLF {
			p.skipLF = false
			if buf[0] == '\n' {
				p.r.Discard(1)
				continue
			}
		}
		end := bytes.IndexByte(buf, '\n')
		search := buf
		if end >= 0 {
			search = buf[:end]
		}
		if i := bytes.IndexByte(search, '\r'); i >= 0 {
			end = i
			p.skipLF = true
		}
		if end < 0 {
			if len(p.line)+len(buf) > p.max+lineSlack {
				return nil, fmt.Errorf("%w: line of more than %d bytes", ErrEventTooLarge, p.max)
			}
			p.line = append(p.line, buf...)
			p.r.Discard(len(buf))
			continue
		}
		if len(p.line)+end > p.max+lineSlack {
			return nil, fmt.Errorf("%w: line of more than %d bytes", ErrEventTooLarge, p.max)
		}
		var line []byte
		if len(p.line) == 0 {
			line = buf[:end] // common case: the whole line is buffered, no copy
		} else {
			p.line = append(p.line, buf[:end]...)
			line = p.line
		}
		p.r.Discard(end + 1)
		return line, nil
	}
}
