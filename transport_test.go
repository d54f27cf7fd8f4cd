package appserver_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/appserver-go/appserver"
)

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func readAll(t testing.TB, input string, max int) (msgs []string, dropped int, err error) {
	c := appserver.NewLineConnection(io.NopCloser(strings.NewReader(input)), nopWriteCloser{io.Discard}, &appserver.LineOptions{MaxMessageBytes: max})
	for {
		m, err := c.Read()
		if errors.Is(err, appserver.ErrMessageDropped) {
			dropped++
			continue
		}
		if err != nil {
			return msgs, dropped, err
		}
		msgs = append(msgs, string(m))
	}
}

func TestLineFraming(t *testing.T) {
	long := strings.Repeat("x", 300)
	msgs, dropped, err := readAll(t, "a\r\n  b  \n\n"+long+"\nc\n"+long+"\nlast-without-newline", 100)
	if err != io.EOF {
		t.Fatalf("ended with %v", err)
	}
	if got := strings.Join(msgs, "|"); got != "a|b||c|last-without-newline" || dropped != 2 {
		t.Errorf("messages %q, dropped %d", got, dropped)
	}
	// Writes put one message per line, in one write per batch.
	var buf bytes.Buffer
	w := appserver.NewLineConnection(io.NopCloser(strings.NewReader("")), nopWriteCloser{&buf}, nil)
	if err := w.Write([][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "{\"a\":1}\n{\"b\":2}\n" {
		t.Errorf("wrote %q", buf.String())
	}
}

// FuzzLineConnection feeds arbitrary bytes to the stdio framing: it must
// never panic, return a message longer than the limit, or one holding a
// newline or surrounding blanks.
func FuzzLineConnection(f *testing.F) {
	for _, s := range []string{"{\"id\":1}\n", "a\r\nb\n", "\n\n\n", strings.Repeat("y", 70) + "\nz", "\r", " \t{}\t \r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 64
		msgs, _, err := readAll(t, string(data), max)
		if err != io.EOF {
			t.Fatalf("ended with %v", err)
		}
		total := 0
		for _, m := range msgs {
			if len(m) > max+2 || strings.ContainsRune(m, '\n') || strings.TrimSpace(m) != m {
				t.Fatalf("bad message %q", m)
			}
			total += len(m)
		}
		if total > len(data) {
			t.Fatalf("returned %d bytes from %d", total, len(data))
		}
	})
}

// TestLineConnectionAfterEOF: every line before EOF is read, including a
// last one without a newline, and every Read after the end returns the
// same error rather than blocking.
func TestLineConnectionAfterEOF(t *testing.T) {
	for range 200 {
		c := appserver.NewLineConnection(io.NopCloser(strings.NewReader("{\"a\":1}\n{\"b\":2}")), nopWriteCloser{io.Discard}, nil)
		var got []string
		for {
			b, err := c.Read()
			if err != nil {
				if err != io.EOF {
					t.Fatalf("Read error %v", err)
				}
				break
			}
			got = append(got, string(b))
		}
		if strings.Join(got, " ") != `{"a":1} {"b":2}` {
			t.Fatalf("lines %q", got)
		}
		for range 2 {
			if _, err := c.Read(); err != io.EOF {
				t.Fatalf("Read after EOF: %v", err)
			}
		}
		c.Close(nil)
	}
}
