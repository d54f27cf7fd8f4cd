package responses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Stream is one response's events, read with [Stream.Next]. Next must not
// be called concurrently with itself; [Stream.Close] may be called at any
// time from any goroutine, and aborts a blocked Next.
type Stream struct {
	parent context.Context
	ctx    context.Context // parent plus our own cancellation (idle, Close)
	cancel context.CancelCauseFunc
	timer  *time.Timer // idle timer; nil when there is no limit
	idle   time.Duration
	body   io.ReadCloser
	header http.Header
	sse    *sseParser
	once   sync.Once

	err      error                       // sticky; io.EOF after the terminal event
	lastItem string                      // id of the last item added, for deltas without one
	acc      map[string]*strings.Builder // text or arguments per item id, from deltas
	accBytes int                         // total size of acc, at most MaxEventSize
}

// Header returns the provider's response headers (x-request-id, rate
// limits…).
func (s *Stream) Header() http.Header { return s.header }

// Next returns the next event as soon as the provider has sent it, or:
//   - io.EOF after the terminal event ([Completed], [Failed], [Incomplete]);
//   - an error wrapping [ErrStreamDisconnected] when the stream ended,
//     broke, or stayed silent for the idle timeout before a terminal event;
//   - the context's error once the context given to [Client.Stream] ends;
//   - [ErrEventTooLarge] or [ErrMalformedEvent] for a broken provider.
//
// Events of unknown types are skipped. After an error, Next returns the same
// error again; the stream's resources are already released.
func (s *Stream) Next() (Event, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		raw, err := s.sse.next()
		if err != nil {
			return nil, s.fail(s.readError(err))
		}
		ev, err := s.decode(raw)
		if err != nil {
			return nil, s.fail(err)
		}
		switch ev.(type) {
		case nil:
			continue
		case Completed, Failed, Incomplete:
			s.fail(io.EOF)
		}
		return ev, nil
	}
}

// Close releases the stream's connection. It is safe to call more than
// once, after io.EOF, and concurrently with Next (which then returns an
// error).
func (s *Stream) Close() error {
	s.cancel(errClosed)
	s.release()
	return nil
}

func (s *Stream) fail(err error) error {
	s.err = err
	s.release()
	return err
}

func (s *Stream) release() {
	s.once.Do(func() {
		if s.timer != nil {
			s.timer.Stop()
		}
		s.cancel(errDone)
		if s.body != nil {
			s.body.Close()
		}
	})
}

// readError classifies a read error: ours (Close), the caller's (context),
// or the provider's (a disconnect).
func (s *Stream) readError(err error) error {
	if errors.Is(err, ErrEventTooLarge) {
		return err
	}
	switch cause := context.Cause(s.ctx); {
	case cause == errIdle:
		err = fmt.Errorf("%w (%v)", errIdle, s.idle)
	case cause == errClosed:
		return errClosed
	case s.parent.Err() != nil:
		return s.parent.Err()
	case cause != nil:
		return errClosed
	case err == io.EOF:
		err = errors.New("the provider ended the stream without response.completed")
	}
	return fmt.Errorf("%w: %w", ErrStreamDisconnected, err)
}

// idleReader bounds each read of the body by the idle timeout. The timer
// runs only while a read waits, so a caller that is slow to call Next is
// not mistaken for a silent provider.
type idleReader struct{ s *Stream }

func (r idleReader) Read(p []byte) (int, error) {
	if r.s.timer == nil {
		return r.s.body.Read(p)
	}
	r.s.timer.Reset(r.s.idle)
	n, err := r.s.body.Read(p)
	r.s.timer.Stop()
	return n, err
}

// decode turns one server-sent event into an Event, or nil to skip it.
func (s *Stream) decode(ev sseEvent) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(ev.Data, &w); err != nil {
		if !json.Valid(ev.Data) {
			return nil, nil // "[DONE]", keep-alives, garbage: not an event
		}
		var t struct {
			Type string `json:"type"`
		}
		json.Unmarshal(ev.Data, &t)
		if t.Type == "" {
			t.Type = ev.Type
		}
		if knownEvents[t.Type] {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformedEvent, t.Type, err)
		}
		return nil, nil
	}
	typ := w.Type
	if typ == "" {
		typ = ev.Type
	}
	switch typ {
	case "response.created":
		var id string
		if w.Response != nil {
			id = w.Response.ID
		}
		return Created{ResponseID: id}, nil
	case "response.output_item.added":
		it, _, _, err := decodeItem(w.Item)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformedEvent, typ, err)
		}
		s.lastItem = it.ID
		return ItemAdded{Item: it}, nil
	case "response.output_text.delta":
		id := s.itemID(w.ItemID)
		if err := s.accumulate(id, w.Delta); err != nil {
			return nil, err
		}
		return TextDelta{ItemID: id, Delta: w.Delta}, nil
	case "response.function_call_arguments.delta":
		id := s.itemID(w.ItemID)
		if err := s.accumulate(id, w.Delta); err != nil {
			return nil, err
		}
		return ArgumentsDelta{ItemID: id, Delta: w.Delta}, nil
	case "response.reasoning_summary_text.delta":
		return ReasoningSummaryDelta{ItemID: s.itemID(w.ItemID), SummaryIndex: w.SummaryIndex, Delta: w.Delta}, nil
	case "response.reasoning_text.delta":
		return ReasoningTextDelta{ItemID: s.itemID(w.ItemID), ContentIndex: w.ContentIndex, Delta: w.Delta}, nil
	case "response.output_item.done":
		it, hasText, hasArgs, err := decodeItem(w.Item)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformedEvent, typ, err)
		}
		if acc := s.acc[it.ID]; acc != nil {
			switch {
			case it.Type == TypeMessage && !hasText:
				it.Text = acc.String()
			case it.Type == TypeFunctionCall && !hasArgs:
				it.Arguments = acc.String()
			}
			s.accBytes -= acc.Len()
			delete(s.acc, it.ID)
		}
		return ItemDone{Item: it}, nil
	case "response.completed":
		c := Completed{}
		if w.Response != nil {
			c.ResponseID, c.Usage = w.Response.ID, w.Response.Usage.usage()
		}
		return c, nil
	case "response.incomplete":
		in := Incomplete{}
		if r := w.Response; r != nil {
			in.ResponseID, in.Usage = r.ID, r.Usage.usage()
			if r.IncompleteDetails != nil {
				in.Reason = r.IncompleteDetails.Reason
			}
		}
		return in, nil
	case "response.failed", "error":
		return failure(&w), nil
	}
	return nil, nil
}

// knownEvents are the event types decode reports.
var knownEvents = map[string]bool{
	"response.created": true, "response.output_item.added": true, "response.output_text.delta": true,
	"response.function_call_arguments.delta": true, "response.reasoning_summary_text.delta": true,
	"response.reasoning_text.delta": true, "response.output_item.done": true, "response.completed": true,
	"response.incomplete": true, "response.failed": true, "error": true,
}

func (s *Stream) itemID(id string) string {
	if id == "" {
		return s.lastItem
	}
	return id
}

// accumulate appends a delta to its item's text. The text of all items not
// yet done is bounded by MaxEventSize together, so a provider cannot grow
// memory by opening items it never finishes.
func (s *Stream) accumulate(id, delta string) error {
	if s.accBytes+len(delta) > MaxEventSize {
		return fmt.Errorf("%w: the text of unfinished items grew past %d bytes", ErrEventTooLarge, MaxEventSize)
	}
	if s.acc == nil {
		s.acc = make(map[string]*strings.Builder)
	}
	b := s.acc[id]
	if b == nil {
		b = new(strings.Builder)
		s.acc[id] = b
	}
	b.WriteString(delta)
	s.accBytes += len(delta)
	return nil
}
