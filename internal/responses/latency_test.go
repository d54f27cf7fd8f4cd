package responses_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
)

// deltaServer streams one delta each time a value arrives on send, and
// reports on flushed the time right after flushing it. Closing send ends
// the stream with response.completed.
func deltaServer(t testing.TB, send <-chan struct{}, flushed chan<- time.Time) *responses.Client {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		io.WriteString(w, "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\n")
		rc.Flush()
		for i := 0; ; i++ {
			select {
			case _, ok := <-send:
				if !ok {
					io.WriteString(w, "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\"}}\n\n")
					return
				}
			case <-r.Context().Done():
				return
			}
			start := time.Now()
			fmt.Fprintf(w, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":%d,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"tok \"}\n\n", i)
			rc.Flush()
			flushed <- start
		}
	}))
	t.Cleanup(ts.Close)
	return &responses.Client{BaseURL: ts.URL + "/v1", HTTPClient: ts.Client()}
}

// TestDeltaLatency measures the time from the provider writing a delta to
// Next returning it. The budget for all of appserver is 2 ms; this part
// should take a few tens of microseconds. The deltas are 20 ms apart, so a
// parser that waited for more data than one event would show ≥ 20 ms; the
// test fails only on that (timing targets belong to benchmarks).
func TestDeltaLatency(t *testing.T) {
	send, flushed := make(chan struct{}), make(chan time.Time, 1)
	c := deltaServer(t, send, flushed)
	st, err := c.Stream(t.Context(), simple())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ev, err := st.Next(); err != nil {
		t.Fatal(ev, err)
	}
	const n = 50
	var lat []time.Duration
	for range n {
		time.Sleep(20 * time.Millisecond)
		send <- struct{}{}
		ev, err := st.Next()
		got := time.Now()
		if _, ok := ev.(responses.TextDelta); !ok || err != nil {
			t.Fatal(ev, err)
		}
		lat = append(lat, got.Sub(<-flushed))
	}
	close(send)
	if ev, err := st.Next(); err != nil {
		t.Fatal(ev, err)
	}
	slices.Sort(lat)
	p50, p99 := lat[n/2], lat[n*99/100]
	t.Logf("write → Next: p50 %v, p99 %v, max %v", p50, p99, lat[n-1])
	if p50 > 10*time.Millisecond {
		t.Errorf("median delay %v: Next waits for more than the event", p50)
	}
}

// BenchmarkDeltaLatency measures one delta's trip: the server writes and
// flushes it over loopback TCP, the client parses, decodes and returns it.
// ns/op is the per-delta latency (goroutine hand-offs included).
func BenchmarkDeltaLatency(b *testing.B) {
	send, flushed := make(chan struct{}), make(chan time.Time, 1)
	c := deltaServer(b, send, flushed)
	st, err := c.Stream(b.Context(), simple())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Next(); err != nil {
		b.Fatal(err)
	}
	var afterFlush time.Duration
	for b.Loop() {
		send <- struct{}{}
		if _, err := st.Next(); err != nil {
			b.Fatal(err)
		}
		afterFlush += time.Since(<-flushed)
	}
	close(send)
	b.ReportMetric(float64(afterFlush.Nanoseconds())/float64(b.N), "ns-after-flush/op")
}
