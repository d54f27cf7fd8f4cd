package metrics

// Tests of the Prometheus exposition: every instrument the issue names, with
// its labels, fed through the callbacks the server and the transport call,
// scraped through Handler. Unknown methods share one label value so a client
// cannot grow the series (SECURITY.md §1.5 case 42 class: resource
// exhaustion through labels).

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
)

// mtSeries parses the text exposition format into "name{k="v",...}" (labels
// sorted) → value, and records each metric's TYPE.
func mtSeries(t *testing.T, body string) (map[string]float64, map[string]string) {
	t.Helper()
	series, types := map[string]float64{}, map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) == 2 {
				types[f[0]] = f[1]
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		series[mtKey(t, line[:i])] = v
	}
	return series, types
}

// mtKey normalises name{labels} with the labels sorted.
func mtKey(t *testing.T, s string) string {
	name, labels, ok := strings.Cut(s, "{")
	if !ok {
		return s
	}
	labels = strings.TrimSuffix(labels, "}")
	var parts []string
	for labels != "" {
		k, rest, ok := strings.Cut(labels, `="`)
		if !ok {
			t.Fatalf("bad labels in %q", s)
		}
		var v strings.Builder
		j := 0
		for ; j < len(rest); j++ {
			if rest[j] == '\\' && j+1 < len(rest) {
				v.WriteByte(rest[j+1])
				j++
				continue
			}
			if rest[j] == '"' {
				break
			}
			v.WriteByte(rest[j])
		}
		parts = append(parts, k+`="`+v.String()+`"`)
		labels = strings.TrimPrefix(rest[min(j+1, len(rest)):], ",")
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func mtScrape(t *testing.T, m *Metrics) (map[string]float64, map[string]string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	s, ty := mtSeries(t, body)
	return s, ty, body
}

// mtPipeConn is an appserver.Connection the test drives by hand.
type mtPipeConn struct {
	in     chan []byte
	out    chan []byte
	closed chan struct{}
	once   sync.Once
}

func newMTPipe() *mtPipeConn {
	return &mtPipeConn{in: make(chan []byte, 16), out: make(chan []byte, 16), closed: make(chan struct{})}
}

func (p *mtPipeConn) Read() ([]byte, error) {
	select {
	case m := <-p.in:
		return m, nil
	case <-p.closed:
		return nil, io.EOF
	}
}

func (p *mtPipeConn) Write(msgs [][]byte) error {
	for _, m := range msgs {
		select {
		case p.out <- append([]byte(nil), m...):
		case <-p.closed:
			return io.ErrClosedPipe
		}
	}
	return nil
}

func (p *mtPipeConn) Close(*appserver.CloseError) error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// TestInstrumentsAndLabels registers a server's metrics, feeds each
// callback and checks the scrape: the seven appserver_* families with
// their types and labels, values following the callbacks and the server's
// Stats, and the Go and process collectors.
func TestInstrumentsAndLabels(t *testing.T) {
	t.Parallel()
	var m *Metrics
	srv := appserver.NewServer(&appserver.ServerOptions{OnRequestDone: func(method string, code int64) { m.RequestDone(method, code) }})
	defer srv.Close()
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	srv.AddMethod(appserver.Method{Name: "test/block", ParamsOptional: true, Handler: func(ctx context.Context, _ *appserver.Request) (any, error) {
		started <- struct{}{}
		<-block
		return map[string]any{}, nil
	}})
	m = New(srv)

	// Before anything happens: gauges at zero, counter vectors absent.
	s, types, body := mtScrape(t, m)
	for name, typ := range map[string]string{
		"appserver_connections":                     "gauge",
		"appserver_requests_in_flight":              "gauge",
		"appserver_outbound_queue_messages":         "gauge",
		"appserver_slow_consumer_disconnects_total": "counter",
	} {
		if types[name] != typ {
			t.Errorf("%s: TYPE %q, want %s", name, types[name], typ)
		}
		if v, ok := s[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", name, v, ok)
		}
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Error("the Go and process collectors are missing")
	}

	// Callbacks from the transport and the connection limiter.
	m.Upgrade("accepted", "ok")
	m.Upgrade("accepted", "ok")
	m.Upgrade("rejected", "invalid websocket bearer token")
	m.Upgrade("limited", "too many failed attempts")
	m.Upgrade("rejected", "bad handshake: `Sec-WebSocket-Version` header did not include '13'")
	m.Refused("too many connections")
	m.Refused("too many pending connections")
	m.Refused("too many pending connections")

	// A live session: initialize, an unknown method, and a request held
	// running.
	conn := newMTPipe()
	if _, err := srv.Connect(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	recv := func() string {
		select {
		case msg := <-conn.out:
			return string(msg)
		case <-time.After(5 * time.Second):
			t.Fatal("no answer")
			return ""
		}
	}
	conn.in <- []byte(`{"id":1,"method":"initialize","params":{"clientInfo":{"name":"m","version":"1"}}}`)
	recv()
	conn.in <- []byte(`{"id":2,"method":"no/such-method","params":{}}`)
	recv()
	conn.in <- []byte(`{"id":3,"method":"` + strings.Repeat("z", 300) + `"}`)
	recv()
	conn.in <- []byte(`{"id":4,"method":"test/block"}`)
	<-started

	s, types, _ = mtScrape(t, m)
	want := map[string]float64{
		`appserver_websocket_upgrades_total{outcome="accepted",reason="ok"}`:                                                                     2,
		`appserver_websocket_upgrades_total{outcome="rejected",reason="invalid websocket bearer token"}`:                                         1,
		`appserver_websocket_upgrades_total{outcome="limited",reason="too many failed attempts"}`:                                                1,
		"appserver_websocket_upgrades_total{outcome=\"rejected\",reason=\"bad handshake: `Sec-WebSocket-Version` header did not include '13'\"}": 1,
		`appserver_connections_refused_total{reason="too many connections"}`:                                                                     1,
		`appserver_connections_refused_total{reason="too many pending connections"}`:                                                             2,
		`appserver_requests_total{code="0",method="initialize"}`:                                                                                 1,
		`appserver_requests_total{code="-32600",method="unknown"}`:                                                                               2,
		"appserver_connections":                     1,
		"appserver_requests_in_flight":              1,
		"appserver_slow_consumer_disconnects_total": 0,
		"appserver_outbound_queue_messages":         0,
	}
	for k, v := range want {
		if got, ok := s[mtKey(t, k)]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for _, name := range []string{"appserver_websocket_upgrades_total", "appserver_requests_total", "appserver_connections_refused_total"} {
		if types[name] != "counter" {
			t.Errorf("%s: TYPE %q", name, types[name])
		}
	}
	for k := range s {
		if strings.HasPrefix(k, "appserver_requests_total{") && !strings.Contains(k, `method="initialize"`) && !strings.Contains(k, `method="unknown"`) && !strings.Contains(k, `method="test/block"`) {
			t.Errorf("unexpected method label: %s", k)
		}
	}

	close(block)
	for msg := recv(); !strings.HasPrefix(msg, `{"id":4,`); msg = recv() {
	}
	conn.Close(nil)
	var deadline = time.Now().Add(2 * time.Second)
	for {
		s, _, _ = mtScrape(t, m)
		if s["appserver_connections"] == 0 && s["appserver_requests_in_flight"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the session ended: connections %v, in flight %v", s["appserver_connections"], s["appserver_requests_in_flight"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := s[mtKey(t, `appserver_requests_total{code="0",method="test/block"}`)]; got != 1 {
		t.Errorf("test/block answered: %v, want 1", got)
	}
}

// TestUnknownMethodLabelIsBounded: a thousand different unknown method
// names are one series, method="unknown"; the empty name the server passes
// for a method not in its table is "unknown" too; a method added after New
// is counted as "unknown" (the table is read when New runs, as documented).
func TestUnknownMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	srv := appserver.NewServer(nil)
	defer srv.Close()
	srv.AddMethod(appserver.Method{Name: "known/one", Handler: func(context.Context, *appserver.Request) (any, error) { return nil, nil }})
	m := New(srv)
	srv.AddMethod(appserver.Method{Name: "later/added", Handler: func(context.Context, *appserver.Request) (any, error) { return nil, nil }})
	for i := range 1000 {
		m.RequestDone("random/"+strconv.Itoa(i), -32600)
	}
	m.RequestDone("", -32600)
	m.RequestDone("known/one", 0)
	m.RequestDone("known/one", -32602)
	m.RequestDone("later/added", 0)
	s, _, _ := mtScrape(t, m)
	n := 0
	for k := range s {
		if strings.HasPrefix(k, "appserver_requests_total{") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d appserver_requests_total series, want 4", n)
	}
	for k, v := range map[string]float64{
		`appserver_requests_total{code="-32600",method="unknown"}`:   1001,
		`appserver_requests_total{code="0",method="known/one"}`:      1,
		`appserver_requests_total{code="-32602",method="known/one"}`: 1,
		`appserver_requests_total{code="0",method="unknown"}`:        1,
	} {
		if got := s[mtKey(t, k)]; got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}

// TestEachNewHasItsOwnRegistry: two servers' metrics do not collide (no
// global registry, so New never panics on a second call) and count
// separately.
func TestEachNewHasItsOwnRegistry(t *testing.T) {
	t.Parallel()
	a, b := New(appserver.NewServer(nil)), New(appserver.NewServer(nil))
	a.Upgrade("accepted", "ok")
	sa, _, _ := mtScrape(t, a)
	sb, _, _ := mtScrape(t, b)
	k := mtKey(t, `appserver_websocket_upgrades_total{outcome="accepted",reason="ok"}`)
	if sa[k] != 1 {
		t.Errorf("a: %v", sa[k])
	}
	if _, ok := sb[k]; ok {
		t.Errorf("b counted a's upgrade")
	}
}

// TestConcurrentCallbacks: the callbacks are safe for concurrent use (run
// with -race) and lose no counts.
func TestConcurrentCallbacks(t *testing.T) {
	t.Parallel()
	srv := appserver.NewServer(nil)
	defer srv.Close()
	m := New(srv)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m.Upgrade("accepted", "ok")
				m.RequestDone("initialize", 0)
				m.RequestDone("x"+strconv.Itoa(g*1000+i), -32600)
				m.Refused("too many connections")
				if i%100 == 0 {
					rec := httptest.NewRecorder()
					m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
				}
			}
		}()
	}
	wg.Wait()
	s, _, _ := mtScrape(t, m)
	for k, v := range map[string]float64{
		`appserver_websocket_upgrades_total{outcome="accepted",reason="ok"}`: 4000,
		`appserver_requests_total{code="0",method="initialize"}`:             4000,
		`appserver_requests_total{code="-32600",method="unknown"}`:           4000,
		`appserver_connections_refused_total{reason="too many connections"}`: 4000,
	} {
		if got := s[mtKey(t, k)]; got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}
