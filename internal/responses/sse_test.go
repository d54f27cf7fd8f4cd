package responses

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// ev is a dispatched event with its data copied.
type ev struct{ Type, Data, ID string }

func parseAll(r io.Reader, max int) ([]ev, error) {
	p := newSSEParser(r, max)
	var out []ev
	for {
		e, err := p.next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Type, string(e.Data), e.ID})
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func TestSSEParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want []ev
	}{
		{"one event", "event: a\ndata: x\n\n", []ev{{"a", "x", ""}}},
		{"default type", "data: x\n\n", []ev{{"message", "x", ""}}},
		{"no space after colon", "data:x\n\n", []ev{{"message", "x", ""}}},
		{"only one space stripped", "data:  x \n\n", []ev{{"message", " x ", ""}}},
		{"multi-line data", "data: a\ndata: b\ndata\n\n", []ev{{"message", "a\nb\n", ""}}},
		{"CRLF", "event: a\r\ndata: x\r\n\r\ndata: y\r\n\r\n", []ev{{"a", "x", ""}, {"message", "y", ""}}},
		{"CR", "event: a\rdata: x\r\rdata: y\r\r", []ev{{"a", "x", ""}, {"message", "y", ""}}},
		{"mixed", "data: a\r\ndata: b\rdata: c\n\r\n", []ev{{"message", "a\nb\nc", ""}}},
		{"BOM", "\xEF\xBB\xBFdata: x\n\n", []ev{{"message", "x", ""}}},
		{"BOM only once", "\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n", []ev{{"message", "x", ""}}},
		{"comments", ": hi\ndata: x\n: there\n\n:\n\n", []ev{{"message", "x", ""}}},
		{"empty data dispatches nothing", "event: a\n\ndata: x\n\n", []ev{{"message", "x", ""}}},
		{"data: with empty value dispatches", "data\n\n", []ev{{"message", "", ""}}},
		{"id persists", "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []ev{{"message", "a", "1"}, {"message", "b", "1"}, {"message", "c", ""}}},
		{"id with NUL ignored", "id: 7\ndata: a\n\nid: x\x00y\ndata: b\n\n", []ev{{"message", "a", "7"}, {"message", "b", "7"}}},
		{"retry and unknown fields ignored", "retry: 10\nfoo: bar\ndata: x\n\n", []ev{{"message", "x", ""}}},
		{"field without colon", "data\ndata\n\n", []ev{{"message", "\n", ""}}},
		{"incomplete event discarded", "data: x\n\ndata: y\n", []ev{{"message", "x", ""}}},
		{"unterminated line discarded", "data: x\n\ndata: y", []ev{{"message", "x", ""}}},
		{"event type resets", "event: a\ndata: 1\n\ndata: 2\n\n", []ev{{"a", "1", ""}, {"message", "2", ""}}},
		{"colon in value", `data: {"a":"b:c"}` + "\n\n", []ev{{"message", `{"a":"b:c"}`, ""}}},
	} {
		for _, chunk := range []int{1, 2, 3, 7, 1 << 20} {
			t.Run(fmt.Sprintf("%s/chunk%d", tt.name, chunk), func(t *testing.T) {
				got, err := parseAll(&chunkReader{strings.NewReader(tt.in), chunk}, 1<<10)
				if err != io.EOF {
					t.Fatalf("err = %v, want EOF", err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("got %q\nwant %q", got, tt.want)
				}
			})
		}
	}
}

func TestSSELimits(t *testing.T) {
	const max = 16
	for _, tt := range []struct {
		name string
		in   string
		n    int // events before the error
		err  error
	}{
		{"data at the limit", "data: " + strings.Repeat("x", 16) + "\n\n", 1, io.EOF},
		{"data over the limit", "data: " + strings.Repeat("x", 17) + "\n\n", 0, ErrEventTooLarge},
		{"joined data over the limit", "data: 12345678\ndata: 1234567\n\ndata: 12345678\ndata: 12345678\n\n", 1, ErrEventTooLarge},
		{"long comment line", ":" + strings.Repeat("x", 100) + "\n", 0, ErrEventTooLarge},
		{"long unterminated line", "data: ok\n\n" + strings.Repeat("x", 100), 1, ErrEventTooLarge},
		{"many small events are fine", strings.Repeat("data: 0123456789\n\n", 100), 100, io.EOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAll(&chunkReader{strings.NewReader(tt.in), 5}, max)
			if len(got) != tt.n || !errors.Is(err, tt.err) {
				t.Errorf("got %d events, %v; want %d, %v", len(got), err, tt.n, tt.err)
			}
		})
	}
}

// TestSSEReturnsWithoutWaiting checks that an event is returned as soon as
// its blank line is readable: the writer then stalls, and next must not
// block on it (in particular not to see whether a CR is followed by LF).
func TestSSEReturnsWithoutWaiting(t *testing.T) {
	for _, end := range []string{"\n\n", "\r\r", "\r\n\r\n", "\n\r"} {
		t.Run(fmt.Sprintf("%q", end), func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pr.Close()
			p := newSSEParser(pr, 1<<10)
			got := make(chan string, 1)
			go func() {
				e, err := p.next()
				if err != nil {
					got <- err.Error()
					return
				}
				got <- string(e.Data)
			}()
			pw.Write([]byte("data: one" + end))
			select {
			case s := <-got:
				if s != "one" {
					t.Fatalf("got %q", s)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("next blocked after a complete event")
			}
			// The stream goes on; a CR's LF arriving late is skipped.
			go func() { pw.Write([]byte("\ndata: two\n\n")); pw.Close() }()
			e, err := p.next()
			if err != nil || string(e.Data) != "two" {
				t.Fatalf("second event: %q, %v", e.Data, err)
			}
		})
	}
}

// refParse is a deliberately naive reading of the WHATWG algorithm over the
// whole input, for differential fuzzing.
func refParse(in []byte, max int) ([]ev, error) {
	var out []ev
	first := true
	var data, typ []byte
	id := ""
	for {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			if len(in) > max+lineSlack {
				return out, ErrEventTooLarge
			}
			return out, io.EOF
		}
		line := in[:i]
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			in = in[i+2:]
		} else {
			in = in[i+1:]
		}
		if len(line) > max+lineSlack {
			return out, ErrEventTooLarge
		}
		if first {
			first = false
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if len(line) == 0 {
			if len(data) > 0 {
				t := "message"
				if len(typ) > 0 {
					t = string(typ)
				}
				out = append(out, ev{t, string(data[:len(data)-1]), id})
			}
			data, typ = nil, nil
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if found {
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(name) {
		case "data":
			if len(data)+len(value) > max {
				return out, ErrEventTooLarge
			}
			data = append(append(data, value...), '\n')
		case "event":
			typ = append([]byte(nil), value...)
		case "id":
			if !bytes.Contains(value, []byte{0}) {
				id = string(value)
			}
		}
	}
}

func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
		"data: a\r\ndata: b\r\n\r\n",
		"data: a\rdata: b\r\r",
		"\xEF\xBB\xBFdata: x\n\n",
		": comment\nid: 1\nretry: 5\ndata\n\n",
		"data: " + strings.Repeat("y", 80) + "\n\n",
		"data: x\n\ndata: unterminated",
		"\r\n\r\r\n\n",
	} {
		f.Add(byte(1), []byte(s))
		f.Add(byte(6), []byte(s))
	}
	f.Fuzz(func(t *testing.T, chunk byte, in []byte) {
		const max = 64
		want, wantErr := refParse(in, max)
		p := newSSEParser(&chunkReader{bytes.NewReader(in), 1 + int(chunk%16)}, max)
		var got []ev
		var err error
		for {
			var e sseEvent
			e, err = p.next()
			if err != nil {
				break
			}
			if len(e.Data) > max {
				t.Fatalf("event data of %d bytes passed a limit of %d", len(e.Data), max)
			}
			got = append(got, ev{e.Type, string(e.Data), e.ID})
			if cap(p.data) > 4*max || cap(p.line) > 4*max {
				t.Fatalf("buffers grew to %d/%d bytes for a limit of %d", cap(p.data), cap(p.line), max)
			}
		}
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("input %q\ngot  %q\nwant %q", in, got, want)
		}
	})
}

// FuzzNext feeds arbitrary bytes through the whole event path (SSE parse,
// JSON decode, accumulation): it must never panic, and must end with io.EOF
// only after a terminal event, or with an error.
func FuzzNext(f *testing.F) {
	f.Add(deltaStream(3))
	for _, s := range []string{
		"data: {\"type\":\"response.output_item.added\",\"item\":{\"type\":\"message\",\"id\":\"m\"}}\n\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"x\"}\n\ndata: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"message\",\"id\":\"m\"}}\n\n",
		"data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"function_call\",\"arguments\":{\"a\":1}}}\n\n",
		"data: {\"type\":\"error\",\"code\":5,\"error\":{\"code\":null}}\n\n",
		"data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\"}}}\n\n",
		"data: {\"type\":\"response.incomplete\",\"response\":{\"incomplete_details\":null}}\n\n",
		"event: response.completed\ndata: {}\n\n",
		"data: [DONE]\n\ndata: 42\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Stream{sse: newSSEParser(bytes.NewReader(in), 1<<10), parent: context.Background(), ctx: context.Background(), cancel: func(error) {}}
		terminal := false
		for range len(in) + 2 {
			ev, err := s.Next()
			switch ev.(type) {
			case Completed, Failed, Incomplete:
				terminal = true
			}
			if err == io.EOF && !terminal {
				t.Fatal("io.EOF without a terminal event")
			}
			if err != nil {
				return
			}
		}
		t.Fatal("more events than input bytes")
	})
}

// deltaStream returns n typical delta events and a completed event.
func deltaStream(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":%d,\"item_id\":\"msg_0123456789abcdef\",\"output_index\":0,\"content_index\":0,\"delta\":\" token\",\"logprobs\":[]}\n\n", i)
	}
	b.WriteString("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1,\"total_tokens\":2}}}\n\n")
	return b.Bytes()
}

// BenchmarkParse measures the SSE parser alone on typical delta events.
func BenchmarkParse(b *testing.B) {
	const n = 10000
	in := deltaStream(n)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	r := bytes.NewReader(in)
	events := 0
	for b.Loop() {
		r.Reset(in)
		p := newSSEParser(r, MaxEventSize)
		for {
			if _, err := p.next(); err != nil {
				break
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkNext measures parsing plus decoding into typed events, which is
// what Stream.Next costs per event.
func BenchmarkNext(b *testing.B) {
	const n = 10000
	in := deltaStream(n)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	r := bytes.NewReader(in)
	events := 0
	for b.Loop() {
		r.Reset(in)
		s := &Stream{sse: newSSEParser(r, MaxEventSize)}
		for {
			raw, err := s.sse.next()
			if err != nil {
				break
			}
			if _, err := s.decode(raw); err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
