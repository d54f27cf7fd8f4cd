package appserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/testutil"
	"github.com/appserver-go/appserver/jsonrpc"
)

// newServer returns a server with a few test methods:
//
//	echo          returns its params
//	noparams      params optional, returns {}
//	slow          sleeps params.ms milliseconds (or until cancelled), returns {"slept":ms}
//	block         blocks until release is closed or ctx ends
//	exp/method    experimental
//	fields        has experimental field "secret"
//	boom          panics
//	fail          returns a plain Go error
func newServer(t *testing.T, opts *appserver.ServerOptions, release chan struct{}) *appserver.Server {
	t.Helper()
	if opts == nil {
		opts = &appserver.ServerOptions{StateDir: "/state"}
	}
	srv := appserver.NewServer(opts)
	srv.AddMethod(appserver.Method{Name: "echo", Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		return req.Params, nil
	}})
	srv.AddMethod(appserver.Method{Name: "noparams", ParamsOptional: true, Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		return struct{}{}, nil
	}})
	type slowParams struct {
		Ms int `json:"ms"`
	}
	srv.AddMethod(appserver.Method{Name: "slow", Handler: appserver.Typed(func(ctx context.Context, s *appserver.Session, p slowParams) (map[string]int, error) {
		select {
		case <-time.After(time.Duration(p.Ms) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return map[string]int{"slept": p.Ms}, nil
	})})
	srv.AddMethod(appserver.Method{Name: "block", ParamsOptional: true, Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return map[string]bool{"released": true}, nil
	}})
	srv.AddMethod(appserver.Method{Name: "exp/method", Experimental: true, ParamsOptional: true, Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		return map[string]string{"ok": "yes"}, nil
	}})
	srv.AddMethod(appserver.Method{Name: "fields", ExperimentalFields: []string{"secret"}, Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		return map[string]string{"ok": "yes"}, nil
	}})
	srv.AddMethod(appserver.Method{Name: "boom", ParamsOptional: true, Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		panic("kaboom")
	}})
	srv.AddMethod(appserver.Method{Name: "fail", ParamsOptional: true, Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		return nil, errors.New("No such file or directory (os error 2)")
	}})
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func TestHandshake(t *testing.T) {
	srv := newServer(t, nil, nil)
	c := connect(t, srv)

	// Before initialize: known methods are refused, the connection stays.
	wantError(t, c.call(1, "echo", `{}`), -32600, "Not initialized")
	// A failed initialize leaves the session retryable.
	wantError(t, c.call(2, "initialize", ``), -32600, "Invalid request: missing field `params`")
	wantError(t, c.call(3, "initialize", `{}`), -32600, "Invalid request: missing field `clientInfo`")
	wantError(t, c.call(4, "initialize", `{"clientInfo":{"name":"x"}}`), -32600, "Invalid request: missing field `version`")
	wantError(t, c.call(5, "initialize", `{"clientInfo":{"version":"1"}}`), -32600, "Invalid request: missing field `name`")
	wantError(t, c.call(6, "initialize", `{"clientInfo":{"name":5,"version":"1"}}`), -32600, "Invalid request: invalid type: number, expected a string at `clientInfo.name`")
	wantError(t, c.call(7, "echo", `{}`), -32600, "Not initialized")

	r := c.call(8, "initialize", `{"clientInfo":{"name":"codex-tui","title":null,"version":"0.169.0"},"capabilities":null}`)
	var res appserver.InitializeResult
	if r.Error != nil || json.Unmarshal(r.Result, &res) != nil {
		t.Fatalf("initialize: %v %s", r.Error, r.Result)
	}
	wantUA := fmt.Sprintf("appserver/0.0.0 (%s; ", runtime.GOOS)
	if !strings.HasPrefix(res.UserAgent, wantUA) || !strings.HasSuffix(res.UserAgent, ") (codex-tui; 0.169.0)") {
		t.Errorf("userAgent = %q", res.UserAgent)
	}
	if res.CodexHome != "/state" || res.PlatformFamily != "unix" || res.PlatformOs != runtime.GOOS {
		t.Errorf("initialize result = %+v", res)
	}
	wantError(t, c.call(9, "initialize", `{"clientInfo":{"name":"x","version":"1"}}`), -32600, "Already initialized")

	// The initialized notification is accepted (no reply) and not required.
	c.send(`{"method":"initialized"}`)
	wantResult(t, c.call(10, "echo", `{"a":1}`), `{"a":1}`)
	if ci, ok := c.sess.ClientInfo(); !ok || ci.Name != "codex-tui" || ci.Version != "0.169.0" {
		t.Errorf("ClientInfo = %+v, %v", ci, ok)
	}
}

func TestRequestPipelinedAfterInitialize(t *testing.T) {
	// initialize runs on the reader, so a request sent right behind it
	// without waiting sees the session initialized.
	srv := newServer(t, nil, nil)
	c := connect(t, srv)
	c.send(`{"id":0,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}`)
	c.send(`{"id":1,"method":"noparams"}`)
	if r := c.response(jsonrpc.Int64ID(0)); r.Error != nil {
		t.Fatal(r.Error)
	}
	wantResult(t, c.response(jsonrpc.Int64ID(1)), `{}`)
}

func TestDispatchErrors(t *testing.T) {
	srv := newServer(t, nil, nil)
	c := connect(t, srv)
	c.initialize(`{"experimentalApi":false}`)

	wantError(t, c.call(1, "nope", `{}`), -32600, "Invalid request: unknown variant `nope`")
	long := strings.Repeat("x", 5000)
	r := c.call(2, long, `{}`)
	if r.Error == nil || len(r.Error.Message) > 200 || !strings.HasSuffix(r.Error.Message, "…`") {
		t.Errorf("a long unknown method is echoed in full: %d bytes", len(r.Error.Message))
	}
	wantError(t, c.call(3, "echo", ``), -32600, "Invalid request: missing field `params`")
	wantError(t, c.call(4, "echo", `null`), -32600, "Invalid request: missing field `params`")
	wantResult(t, c.call(5, "noparams", ``), `{}`)
	wantResult(t, c.call(6, "noparams", `null`), `{}`)
	wantResult(t, c.call(7, "noparams", `{}`), `{}`)
	wantError(t, c.call(8, "slow", `{"ms":"x"}`), -32600, "Invalid request: invalid type: string, expected an integer at `ms`")
	wantError(t, c.call(9, "exp/method", ``), -32600, "exp/method requires experimentalApi capability")
	wantError(t, c.call(10, "fields", `{"secret":1}`), -32600, "fields.secret requires experimentalApi capability")
	wantResult(t, c.call(11, "fields", `{"secret":null,"other":1}`), `{"ok":"yes"}`)
	wantError(t, c.call(12, "boom", ``), -32603, "internal error")
	wantError(t, c.call(13, "fail", ``), -32603, "No such file or directory (os error 2)")
	// The session survives all of it.
	wantResult(t, c.call(14, "echo", `[1,2]`), `[1,2]`)

	e := connect(t, srv)
	e.initialize(`{"experimentalApi":true}`)
	wantResult(t, e.call(1, "exp/method", ``), `{"ok":"yes"}`)
	wantResult(t, e.call(2, "fields", `{"secret":1}`), `{"ok":"yes"}`)
}

func TestIDsAndJunk(t *testing.T) {
	var logs testutil.SyncBuffer
	srv := newServer(t, &appserver.ServerOptions{StateDir: "/state",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, nil)
	c := connect(t, srv)
	c.initialize("")

	// ids are echoed exactly.
	for _, id := range []string{`-3`, `"x"`, `"startup-thread-start-1"`, `9223372036854775807`, `""`} {
		c.send(`{"id":` + id + `,"method":"echo","params":{}}`)
		raw := string(c.recv())
		if !strings.HasPrefix(raw, `{"id":`+id+`,`) {
			t.Errorf("id %s answered as %s", id, raw)
		}
	}
	// Junk gets no reply and leaves the connection open.
	for _, junk := range []string{
		`not json`, ``, `   `, `[{"id":1,"method":"echo","params":{}}]`,
		`{"id":null,"method":"echo","params":{}}`, `{"id":1.5,"method":"echo","params":{}}`,
		`{"id":1e3,"method":"echo","params":{}}`, `{"id":5}`,
		`{"id":1,"method":"echo","params":{}}{"id":2,"method":"echo","params":{}}`,
		`{"id":1,"method":"echo","params":{}}` + "\n" + `{"id":2,"method":"echo","params":{}}`,
		`{"id":[1],"method":"echo","params":{}}`, `{"id":18446744073709551616,"method":"echo"}`,
		`{"method":"unknown/notification"}`,
		`{"id":77,"result":{}}`, // a response to a request never sent
	} {
		c.send(junk)
	}
	c.expectSilence(100 * time.Millisecond)
	// Each is logged at debug with the reason, never silently lost.
	if n := strings.Count(logs.String(), `msg="dropping unparseable message"`); n < 8 {
		t.Errorf("%d drops logged at debug, want one per unparseable message:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "reason=") {
		t.Errorf("drops logged without a reason:\n%s", logs.String())
	}
	// A jsonrpc member is accepted whatever its value, and never sent.
	c.send(`{"jsonrpc":"1.0","id":42,"method":"echo","params":{"k":true}}`)
	raw := string(c.recv())
	if raw != `{"id":42,"result":{"k":true}}` {
		t.Errorf("got %s", raw)
	}
	// Two in-flight requests with the same id are both answered.
	c.send(`{"id":"dup","method":"slow","params":{"ms":30}}`)
	c.send(`{"id":"dup","method":"slow","params":{"ms":1}}`)
	c.response(jsonrpc.StringID("dup"))
	c.response(jsonrpc.StringID("dup"))
}

func TestConcurrentOutOfOrder(t *testing.T) {
	srv := newServer(t, nil, nil)
	c := connect(t, srv)
	c.initialize("")
	c.send(`{"id":1,"method":"slow","params":{"ms":300}}`)
	c.send(`{"id":2,"method":"slow","params":{"ms":1}}`)
	wantResult(t, c.response(jsonrpc.Int64ID(2)), `{"slept":1}`)
	wantResult(t, c.response(jsonrpc.Int64ID(1)), `{"slept":300}`)
}

func TestNotificationsOptOutAndBroadcast(t *testing.T) {
	srv := newServer(t, nil, nil)
	a := connect(t, srv)
	a.initialize(`{"optOutNotificationMethods":["x/quiet"]}`)
	b := connect(t, srv)
	b.initialize(`{"optOutNotificationMethods":null}`)
	uninit := connect(t, srv)

	before := time.Now().UnixMilli()
	for _, m := range []string{"x/quiet", "x/loud"} {
		if err := srv.Broadcast(m, map[string]int{"n": 1}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(c *testClient, want string) {
		t.Helper()
		var n struct {
			Method      string          `json:"method"`
			Params      json.RawMessage `json:"params"`
			EmittedAtMs int64           `json:"emittedAtMs"`
			ID          *json.RawMessage
		}
		raw := c.recv()
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatal(err)
		}
		if n.Method != want || n.ID != nil || string(n.Params) != `{"n":1}` {
			t.Errorf("got %s, want notification %s", raw, want)
		}
		if n.EmittedAtMs < before || n.EmittedAtMs > time.Now().UnixMilli() {
			t.Errorf("emittedAtMs %d not within the test", n.EmittedAtMs)
		}
	}
	check(a, "x/loud") // x/quiet suppressed for a only
	check(b, "x/quiet")
	check(b, "x/loud")
	uninit.expectSilence(50 * time.Millisecond) // broadcasts reach initialized connections only

	// Session.Notify honours the opt-out exactly (case-sensitive, whole name).
	_ = a.sess.Notify("x/quiet", nil)
	_ = a.sess.Notify("x/Quiet", nil)
	if raw := string(a.recv()); !strings.HasPrefix(raw, `{"method":"x/Quiet","emittedAtMs":`) {
		t.Errorf("got %s", raw)
	}
}

func TestServerToClientCalls(t *testing.T) {
	srv := newServer(t, nil, nil)
	a := connect(t, srv)
	a.initialize("")
	b := connect(t, srv)
	b.initialize("")

	type result struct {
		v   map[string]string
		err error
	}
	ask := func(s *appserver.Session) chan result {
		ch := make(chan result, 1)
		go func() {
			var r result
			r.err = s.Call(context.Background(), "item/commandExecution/requestApproval", map[string]string{"q": "run?"}, &r.v)
			ch <- r
		}()
		return ch
	}
	// Ids come from one counter per server, starting at 0, across sessions.
	ra := ask(a.sess)
	reqA := a.recvMsg().(*jsonrpc.Request)
	rb := ask(b.sess)
	reqB := b.recvMsg().(*jsonrpc.Request)
	if id, _ := reqA.ID.Int64(); id != 0 || reqA.Method != "item/commandExecution/requestApproval" {
		t.Fatalf("first server request %+v", reqA)
	}
	if id, _ := reqB.ID.Int64(); id != 1 {
		t.Fatalf("second server request id %v, want 1", reqB.ID)
	}
	// An answer on the wrong connection is ignored; the right one resolves.
	a.send(`{"id":1,"result":{"decision":"wrong"}}`)
	b.send(`{"id":1,"error":{"code":-32000,"message":"client refused"}}`)
	a.send(`{"id":0,"result":{"decision":"accept"}}`)
	if r := <-ra; r.err != nil || r.v["decision"] != "accept" {
		t.Errorf("a got %+v", r)
	}
	r := <-rb
	var werr *jsonrpc.Error
	if !errors.As(r.err, &werr) || werr.Code != -32000 || werr.Message != "client refused" {
		t.Errorf("b got %+v", r)
	}

	// The caller learns promptly when the connection closes.
	rc := ask(a.sess)
	a.recvMsg()
	start := time.Now()
	_ = a.conn.Close(nil)
	if r := <-rc; !errors.Is(r.err, appserver.ErrConnectionClosed) {
		t.Errorf("after close: %v", r.err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("caller learned of the close after %v", d)
	}
	// And a call on a closed session fails at once.
	a.sess.Wait()
	if err := a.sess.Call(context.Background(), "x", nil, nil); !errors.Is(err, appserver.ErrConnectionClosed) {
		t.Errorf("call on a closed session: %v", err)
	}
	// Context cancellation ends a call too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.sess.Call(ctx, "x", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled call: %v", err)
	}
	b.recvMsg()
}

func TestPerConnectionOverload(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, &appserver.ServerOptions{MaxInFlight: 8}, release)
	flood := connect(t, srv)
	flood.initialize("")
	quiet := connect(t, srv)
	quiet.initialize("")

	// The flooder fills its own in-flight bound with blocked requests...
	for i := 1; i <= 8; i++ {
		flood.send(fmt.Sprintf(`{"id":%d,"method":"block"}`, i))
	}
	// ...so its next requests are refused, answered at once.
	for i := 100; i < 110; i++ {
		wantError(t, flood.call(int64(i), "noparams", ``), -32001, "Server overloaded; retry later.")
	}
	// The quiet connection on the same server is never refused.
	for i := 1; i <= 20; i++ {
		wantResult(t, quiet.call(int64(i), "noparams", ``), `{}`)
	}
	close(release)
	for i := 1; i <= 8; i++ {
		if r := flood.recvMsg().(*jsonrpc.Response); r.Error != nil {
			t.Errorf("blocked request answered %v", r.Error)
		}
	}
	wantResult(t, flood.call(200, "noparams", ``), `{}`)
}

func TestSlowConsumerDisconnected(t *testing.T) {
	srv := newServer(t, &appserver.ServerOptions{MaxOutboundMessages: 200}, nil)
	a := connect(t, srv)
	a.initialize("")
	b := connect(t, srv)
	b.initialize("")

	// The slow client stops reading: its test reader is parked by never
	// draining more than the channel holds.
	slowClient, slowServer := appserver.NewInMemoryTransports()
	sess, err := srv.Connect(context.Background(), slowServer)
	if err != nil {
		t.Fatal(err)
	}
	_ = slowClient.Write([][]byte{[]byte(`{"id":0,"method":"initialize","params":{"clientInfo":{"name":"slow","version":"1"}}}`)})
	if _, err := slowClient.Read(); err != nil { // the initialize answer
		t.Fatal(err)
	}
	// Broadcast in chunks, waiting for the reading clients after each, so
	// only the one that does not read falls behind.
	for i := 0; i < 1000; i++ {
		if err := srv.Broadcast("tick", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			for j := 0; j < 50; j++ {
				a.recv()
				b.recv()
			}
		}
		// Stats (and so the outbound-queue gauge of /metrics) sees the
		// backlog building up before the cut.
		if i == 149 {
			if st := srv.Stats(); st.QueuedMessages < 50 || st.SlowConsumerDisconnects != 0 || st.Sessions != 3 {
				t.Errorf("Stats while the slow client lags: %+v, want at least 50 queued", st)
			}
		}
	}
	// The slow session is cut off with 1008 and a stated reason...
	select {
	case <-sess.Done():
	case <-time.After(waitTimeout):
		t.Fatal("slow consumer not disconnected")
	}
	var ce *appserver.CloseError
	if !errors.As(sess.Err(), &ce) || ce.Code != appserver.ClosePolicyViolation || !strings.Contains(ce.Reason, "slow consumer") {
		t.Fatalf("slow session ended with %v", sess.Err())
	}
	if st := srv.Stats(); st.SlowConsumerDisconnects != 1 {
		t.Errorf("Stats after the cut: %+v, want one slow-consumer disconnect", st)
	}
	// ...and its peer reads that reason.
	for {
		_, err := slowClient.Read()
		if err != nil {
			if !errors.As(err, &ce) || ce.Code != appserver.ClosePolicyViolation {
				t.Fatalf("slow client read %v", err)
			}
			break
		}
	}
	sess.Wait()
	// The other sessions kept reading, got every message and carry on.
	for _, c := range []*testClient{a, b} {
		wantResult(t, c.call(1, "noparams", ``), `{}`)
	}
}

func TestShutdownDrainsAndCloses(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, nil, release)
	c := connect(t, srv)
	c.initialize("")
	c.send(`{"id":1,"method":"slow","params":{"ms":200}}`)
	time.Sleep(20 * time.Millisecond) // let it start

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	// New requests are refused while in-flight ones finish.
	wantError(t, c.call(2, "noparams", ``), -32001, "Server shutting down; retry later.")
	wantResult(t, c.response(jsonrpc.Int64ID(1)), `{"slept":200}`)
	if ce := c.waitClosed(); ce.Code != appserver.CloseGoingAway {
		t.Errorf("closed with %+v, want 1001", ce)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	client, server := appserver.NewInMemoryTransports()
	if _, err := srv.Connect(context.Background(), server); !errors.Is(err, appserver.ErrServerClosed) {
		t.Errorf("Connect after Shutdown: %v", err)
	}
	_ = client.Close(nil)
}

func TestShutdownGraceExpires(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newServer(t, nil, release)
	c := connect(t, srv)
	c.initialize("")
	c.send(`{"id":1,"method":"block"}`)
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the grace period's error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v past a 100ms grace", d)
	}
	c.waitClosed()
}

func TestMethodsTable(t *testing.T) {
	srv := newServer(t, nil, nil)
	var names []string
	for _, m := range srv.Methods() {
		names = append(names, m.Name)
		if m.Name == "exp/method" && !m.Experimental {
			t.Error("exp/method lost its flag")
		}
	}
	if strings.Join(names, ",") != "block,boom,echo,exp/method,fail,fields,initialize,noparams,slow" {
		t.Errorf("Methods() = %v", names)
	}
	defer func() {
		if recover() == nil {
			t.Error("adding a method twice did not panic")
		}
	}()
	srv.AddMethod(appserver.Method{Name: "echo", Handler: func(context.Context, *appserver.Request) (any, error) { return nil, nil }})
}

func TestManyConnectionsConcurrently(t *testing.T) {
	srv := newServer(t, nil, nil)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		c := connect(t, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(`{"id":0,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}`)
			for j := 1; j <= 50; j++ {
				c.send(fmt.Sprintf(`{"id":%d,"method":"echo","params":{"j":%d}}`, j, j))
			}
		}()
		defer func() {
			seen := map[string]bool{}
			for j := 0; j <= 50; j++ {
				m := c.recvMsg().(*jsonrpc.Response)
				if m.Error != nil {
					t.Errorf("error %v", m.Error)
				}
				seen[m.ID.String()] = true
			}
			if len(seen) != 51 {
				t.Errorf("got %d distinct answers", len(seen))
			}
		}()
	}
	wg.Wait()
}

func TestAfterReplyOrdersNotificationsAfterTheAnswer(t *testing.T) {
	srv := newServer(t, nil, nil)
	srv.AddMethod(appserver.Method{Name: "start", ParamsOptional: true, Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
		return appserver.AfterReply(map[string]string{"turn": "t1"}, func() {
			_ = req.Session.Notify("turn/started", map[string]string{"turn": "t1"})
		}), nil
	}})
	c := connect(t, srv)
	c.initialize("")
	wantResult(t, c.call(1, "start", ""), `{"turn":"t1"}`)
	if n, ok := c.recvMsg().(*jsonrpc.Request); !ok || n.Method != "turn/started" {
		t.Fatalf("got %#v after the answer, want turn/started", n)
	}
}

func TestCallWithIDReachesALaterConnection(t *testing.T) {
	srv := newServer(t, nil, nil)
	a := connect(t, srv)
	a.initialize("")
	id := srv.NewCallID()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.sess.CallWithID(ctx, id, "item/commandExecution/requestApproval", nil, nil) }()
	if r := a.recvMsg().(*jsonrpc.Request); r.ID != jsonrpc.Int64ID(id) {
		t.Fatalf("request id %v, want %d", r.ID, id)
	}
	cancel() // the first client never answers
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	// The same request, same id, on another connection; its answer resolves.
	b := connect(t, srv)
	b.initialize("")
	var got struct{ Decision string }
	go func() {
		errc <- b.sess.CallWithID(context.Background(), id, "item/commandExecution/requestApproval", nil, &got)
	}()
	r := b.recvMsg().(*jsonrpc.Request)
	b.send(fmt.Sprintf(`{"id":%s,"result":{"decision":"accept"}}`, r.ID))
	if err := <-errc; err != nil || got.Decision != "accept" {
		t.Fatalf("replayed call: %v %+v", err, got)
	}
}
