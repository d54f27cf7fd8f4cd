package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/internal/threadstore"
	"github.com/appserver-go/appserver/jsonrpc"
)

// flushModel is a scripted Responses provider that streams n text deltas,
// gap apart, and records the moment each one was flushed to the socket.
type flushModel struct {
	n   int
	gap time.Duration
	mu  sync.Mutex
	at  map[int]time.Time
}

func (f *flushModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(typ string, v map[string]any) {
		v["type"] = typ
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
	}
	send("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{"type": "message", "id": "msg_1", "role": "assistant", "content": []any{}}})
	fl.Flush()
	for i := 0; i < f.n; i++ {
		time.Sleep(f.gap)
		send("response.output_text.delta", map[string]any{"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": strconv.Itoa(i) + " "})
		f.mu.Lock()
		f.at[i] = time.Now()
		f.mu.Unlock()
		fl.Flush()
	}
	send("response.output_item.done", map[string]any{"output_index": 0, "item": map[string]any{"type": "message", "id": "msg_1", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": "done"}}}})
	send("response.completed", map[string]any{"response": map[string]any{"id": "r1", "usage": map[string]any{"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}})
	fl.Flush()
}

func benchEnv(b *testing.B, model http.Handler) (*appserver.Server, *Engine, func()) {
	b.Helper()
	ts := httptest.NewServer(model)
	home := b.TempDir()
	conf, err := config.Load(home, []string{`model="mock-model"`, `model_provider="mock"`,
		`model_providers.mock.base_url="` + ts.URL + `/v1"`, `model_providers.mock.requires_openai_auth=false`})
	if err != nil {
		b.Fatal(err)
	}
	store, err := threadstore.Open(filepath.Join(home, "threads"), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: home})
	eng := Register(srv, Options{Store: store, Config: &conf.Config, Support: sandbox.Probe(), Cwd: home})
	return srv, eng, func() {
		_ = srv.Close()
		eng.Shutdown()
		_ = store.Close()
		ts.Close()
	}
}

// BenchmarkDeltaLatency measures the time from the provider flushing a
// text delta to the client reading its item/agentMessage/delta, through
// the SSE client, the engine, the session's queue and an in-memory
// connection: an upper bound on what appserver adds. It reports p50 and
// p99 in microseconds.
func BenchmarkDeltaLatency(b *testing.B) {
	const perTurn = 200
	fm := &flushModel{n: perTurn, gap: 2 * time.Millisecond, at: map[int]time.Time{}}
	srv, _, done := benchEnv(b, fm)
	defer done()
	cl, sv := appserver.NewInMemoryTransports()
	if _, err := srv.Connect(context.Background(), sv); err != nil {
		b.Fatal(err)
	}
	defer cl.Close(nil)
	call := func(id int, method, params string) json.RawMessage {
		_ = cl.Write([][]byte{[]byte(fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, params))})
		for {
			raw, err := cl.Read()
			if err != nil {
				b.Fatal(err)
			}
			m, _ := jsonrpc.DecodeMessage(raw)
			if r, ok := m.(*jsonrpc.Response); ok {
				if n, _ := r.ID.Int64(); int(n) == id {
					return r.Result
				}
			}
		}
	}
	call(1, "initialize", `{"clientInfo":{"name":"b","version":"1"}}`)
	tid := field(call(2, "thread/start", `{}`), "thread", "id").(string)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fm.mu.Lock()
		fm.at = map[int]time.Time{}
		fm.mu.Unlock()
		call(10+i, "turn/start", `{"threadId":"`+tid+`","input":[{"type":"text","text":"go"}]}`)
		for {
			raw, err := cl.Read()
			if err != nil {
				b.Fatal(err)
			}
			got := time.Now()
			m, _ := jsonrpc.DecodeMessage(raw)
			req, ok := m.(*jsonrpc.Request)
			if !ok {
				continue
			}
			if req.Method == "turn/completed" {
				break
			}
			if req.Method != "item/agentMessage/delta" {
				continue
			}
			var d struct{ Delta string }
			_ = json.Unmarshal(req.Params, &d)
			n, _ := strconv.Atoi(d.Delta[:len(d.Delta)-1])
			fm.mu.Lock()
			sent := fm.at[n]
			fm.mu.Unlock()
			if !sent.IsZero() {
				lat = append(lat, got.Sub(sent))
			}
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkIdleThreadMemory reports the heap held per loaded, idle thread
// (started, never used), which bounds what an idle client costs.
func BenchmarkIdleThreadMemory(b *testing.B) {
	srv, eng, done := benchEnv(b, http.NotFoundHandler())
	defer done()
	cl, sv := appserver.NewInMemoryTransports()
	if _, err := srv.Connect(context.Background(), sv); err != nil {
		b.Fatal(err)
	}
	defer cl.Close(nil)
	// answers carries one entry per response: nil, or the error the
	// server answered, so a refused thread/start fails the benchmark
	// instead of leaving it waiting for a thread that never loads.
	answers := make(chan *jsonrpc.Error, 64)
	go func() {
		for {
			raw, err := cl.Read()
			if err != nil {
				close(answers)
				return
			}
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Error  *jsonrpc.Error  `json:"error"`
			}
			if json.Unmarshal(raw, &m) == nil && m.Method == "" && len(m.ID) > 0 {
				answers <- m.Error
			}
		}
	}()
	wait := func(n int) {
		for ; n > 0; n-- {
			e, ok := <-answers
			if !ok {
				b.Fatal("connection closed")
			}
			if e != nil {
				b.Fatalf("server answered an error: %d %s", e.Code, e.Message)
			}
		}
	}
	_ = cl.Write([][]byte{[]byte(`{"id":0,"method":"initialize","params":{"clientInfo":{"name":"b","version":"1"}}}`)})
	wait(1)
	const n, batch = 2000, 100
	var before, after runtime.MemStats
	id := 0
	for i := 0; i < b.N; i++ {
		runtime.GC()
		runtime.ReadMemStats(&before)
		// Batches stay under the connection's in-flight limit
		// (appserver.DefaultMaxInFlight), past which requests are
		// refused with -32001.
		for j := 0; j < n; j += batch {
			for k := 0; k < batch; k++ {
				id++
				_ = cl.Write([][]byte{[]byte(fmt.Sprintf(`{"id":%d,"method":"thread/start","params":{}}`, id))})
			}
			wait(batch)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	if got := len(eng.loadedIDs()); got != b.N*n {
		b.Fatalf("%d threads loaded, want %d", got, b.N*n)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/thread")
}
