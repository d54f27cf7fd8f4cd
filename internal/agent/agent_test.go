package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/responses/responsestest"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/internal/threadstore"
	"github.com/appserver-go/appserver/jsonrpc"
)

func TestMain(m *testing.M) {
	// The test binary is the sandbox helper for shell commands.
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
		os.Exit(sandbox.Main(os.Args[2:]))
	}
	goleak.VerifyTestMain(m)
}

// env is one engine on an in-memory server with a scripted model.
type env struct {
	t     *testing.T
	home  string
	model *responsestest.Server
	srv   *appserver.Server
	eng   *Engine
	store *threadstore.Store
}

func newEnv(t *testing.T, home string, overrides ...string) *env {
	t.Helper()
	if home == "" {
		home = t.TempDir()
	}
	model := responsestest.New(t)
	conf, err := config.Load(home, append([]string{
		`model="mock-model"`, `model_provider="mock"`,
		`model_providers.mock.base_url="` + model.URL() + `"`,
		`model_providers.mock.requires_openai_auth=false`,
	}, overrides...))
	if err != nil {
		t.Fatal(err)
	}
	store, err := threadstore.Open(filepath.Join(home, "threads"), nil)
	if err != nil {
		t.Fatal(err)
	}
	helper, _ := filepath.Abs(os.Args[0])
	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: home})
	eng := Register(srv, Options{Store: store, Config: &conf.Config, Helper: helper, Support: sandbox.Probe(), Cwd: home, Version: "test"})
	e := &env{t: t, home: home, model: model, srv: srv, eng: eng, store: store}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	_ = e.srv.Close()
	e.eng.Shutdown()
	_ = e.store.Close()
}

// client is an in-memory connection that records everything it receives.
type client struct {
	t    *testing.T
	conn appserver.Connection
	in   chan jsonrpc.Message
	next int64
}

func (e *env) connect() *client {
	e.t.Helper()
	cl, sv := appserver.NewInMemoryTransports()
	if _, err := e.srv.Connect(context.Background(), sv); err != nil {
		e.t.Fatal(err)
	}
	c := &client{t: e.t, conn: cl, in: make(chan jsonrpc.Message, 4096), next: 100}
	go func() {
		defer close(c.in)
		for {
			raw, err := cl.Read()
			if err != nil {
				return
			}
			m, err := jsonrpc.DecodeMessage(raw)
			if err == nil {
				c.in <- m
			}
		}
	}()
	e.t.Cleanup(func() { _ = cl.Close(nil) })
	c.call("initialize", `{"clientInfo":{"name":"t","version":"1"},"capabilities":{"experimentalApi":true}}`)
	return c
}

func (c *client) send(v string) {
	c.t.Helper()
	if err := c.conn.Write([][]byte{[]byte(v)}); err != nil {
		c.t.Fatal(err)
	}
}

// call sends a request and returns its result, collecting (and returning
// through notes) the notifications that arrive before it.
func (c *client) call(method, params string) json.RawMessage {
	c.t.Helper()
	c.next++
	id := c.next
	c.send(fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, params))
	for {
		m := c.recv()
		if r, ok := m.(*jsonrpc.Response); ok && r.ID == jsonrpc.Int64ID(id) {
			if r.Error != nil {
				c.t.Fatalf("%s: %v", method, r.Error)
			}
			return r.Result
		}
	}
}

func (c *client) callErr(method, params string) *jsonrpc.Error {
	c.t.Helper()
	c.next++
	id := c.next
	c.send(fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, params))
	for {
		if r, ok := c.recv().(*jsonrpc.Response); ok && r.ID == jsonrpc.Int64ID(id) {
			if r.Error == nil {
				c.t.Fatalf("%s answered %s, want an error", method, r.Result)
			}
			return r.Error
		}
	}
}

func (c *client) recv() jsonrpc.Message {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return m
	case <-time.After(10 * time.Second):
		c.t.Fatal("nothing from the server within 10s")
	}
	return nil
}

// until reads messages up to and including the notification method,
// returning the methods seen on the way and the final params.
func (c *client) until(method string) ([]string, json.RawMessage) {
	c.t.Helper()
	var seen []string
	for {
		m := c.recv()
		req, ok := m.(*jsonrpc.Request)
		if !ok {
			continue
		}
		seen = append(seen, req.Method)
		if req.Method == method {
			return seen, req.Params
		}
	}
}

func field(raw json.RawMessage, path ...string) any {
	var v any
	_ = json.Unmarshal(raw, &v)
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

func (c *client) startThread() string {
	r := c.call("thread/start", `{}`)
	return field(r, "thread", "id").(string)
}

func TestTextTurn(t *testing.T) {
	e := newEnv(t, "")
	e.model.Push(responsestest.Text("Hello ", "from ", "mock"))
	c := e.connect()
	id := c.startThread()
	r := c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"say hi","text_elements":[]}],"clientUserMessageId":"u1"}`)
	if field(r, "turn", "status") != "inProgress" {
		t.Fatalf("turn/start answered %s", r)
	}
	seen, done := c.until("turn/completed")
	want := []string{"thread/status/changed", "turn/started", "item/started", "item/completed", "item/started",
		"item/agentMessage/delta", "item/agentMessage/delta", "item/agentMessage/delta", "item/completed",
		"thread/tokenUsage/updated", "thread/status/changed", "turn/completed"}
	var got []string
	for _, m := range seen {
		if m != "thread/started" {
			got = append(got, m)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("notifications:\n got %v\nwant %v", got, want)
	}
	if field(done, "turn", "status") != "completed" {
		t.Errorf("turn/completed %s", done)
	}
	if d, ok := field(done, "turn", "durationMs").(float64); !ok || d < 0 || d > 10000 {
		t.Errorf("turn/completed durationMs = %v", field(done, "turn", "durationMs"))
	}
	items := field(done, "turn", "items").([]any)
	if len(items) != 1 || items[0].(map[string]any)["text"] != "Hello from mock" {
		t.Errorf("turn items %v", items)
	}
	if reqs := e.model.Requests(); len(reqs) != 1 || reqs[0].LastUserText() != "say hi" || reqs[0].Model != "mock-model" {
		t.Errorf("model requests %+v", reqs)
	}
	// The thread is stored and lists.
	list := c.call("thread/list", `{}`)
	if data := field(list, "data").([]any); len(data) != 1 || data[0].(map[string]any)["preview"] != "say hi" {
		t.Errorf("thread/list %s", list)
	}
}

func TestShellToolWithApproval(t *testing.T) {
	e := newEnv(t, "")
	e.model.Push(responsestest.ToolCall("call_1", "shell", `{"command":"echo hello","sandbox_permissions":"require_escalated","justification":"test"}`))
	e.model.SetHandler(func(req responsestest.ReceivedRequest) responsestest.Reply {
		last := req.LastInput()
		return responsestest.Text("done: " + strings.TrimSpace(last.Output[strings.LastIndex(last.Output, "\n")+1:]))
	})
	c := e.connect()
	id := c.startThread()
	c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"run it"}]}`)
	// The approval request arrives as a server request.
	var approvalID jsonrpc.ID
	for {
		m := c.recv()
		if r, ok := m.(*jsonrpc.Request); ok && r.IsCall() {
			if r.Method != "item/commandExecution/requestApproval" {
				t.Fatalf("server request %s", r.Method)
			}
			if !strings.Contains(string(r.Params), "echo hello") {
				t.Errorf("approval params %s", r.Params)
			}
			approvalID = r.ID
			break
		}
	}
	n, _ := approvalID.Int64()
	c.send(fmt.Sprintf(`{"id":%d,"result":{"decision":"accept"}}`, n))
	seen, done := c.until("turn/completed")
	joined := strings.Join(seen, ",")
	for _, m := range []string{"serverRequest/resolved", "item/commandExecution/outputDelta", "item/completed"} {
		if !strings.Contains(joined, m) {
			t.Errorf("no %s in %v", m, seen)
		}
	}
	if field(done, "turn", "status") != "completed" {
		t.Fatalf("turn/completed %s", done)
	}
	reqs := e.model.Requests()
	if len(reqs) != 2 || !strings.Contains(reqs[1].LastInput().Output, "hello") {
		t.Fatalf("the model did not get the command output: %+v", reqs)
	}
	items := c.call("thread/items/list", `{"threadId":"`+id+`"}`)
	if !strings.Contains(string(items), `"aggregatedOutput":"hello\n"`) || !strings.Contains(string(items), `"status":"completed"`) {
		t.Errorf("items %s", items)
	}
}

func TestPersistedAcrossRestart(t *testing.T) {
	home := t.TempDir()
	e := newEnv(t, home)
	e.model.Push(responsestest.Text("first answer"))
	c := e.connect()
	id := c.startThread()
	c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"remember me"}]}`)
	c.until("turn/completed")
	e.close()

	e2 := newEnv(t, home)
	c2 := e2.connect()
	list := c2.call("thread/list", `{"sourceKinds":["cli","vscode"],"sortKey":"updated_at"}`)
	if !strings.Contains(string(list), id) {
		t.Fatalf("thread/list after restart: %s", list)
	}
	r := c2.call("thread/resume", `{"threadId":"`+id+`","excludeTurns":true}`)
	turns := c2.call("thread/turns/list", `{"threadId":"`+id+`","cursor":`+jsonString(field(r, "turnsBackwardsCursor").(string))+`,"limit":5,"sortDirection":"desc","itemsView":"notLoaded"}`)
	if data := field(turns, "data").([]any); len(data) != 1 || data[0].(map[string]any)["status"] != "completed" {
		t.Errorf("turns %s", turns)
	}
	items := c2.call("thread/items/list", `{"threadId":"`+id+`","cursor":`+jsonString(field(r, "itemsBackwardsCursor").(string))+`,"limit":100,"sortDirection":"desc"}`)
	if !strings.Contains(string(items), "first answer") || !strings.Contains(string(items), "remember me") {
		t.Errorf("items %s", items)
	}
	// The model gets the earlier conversation with the next turn.
	e2.model.Push(responsestest.Text("second"))
	c2.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"again"}]}`)
	c2.until("turn/completed")
	in := e2.model.Requests()[0].Input
	if len(in) != 3 || in[0].Text != "remember me" || in[1].Text != "first answer" || in[2].Text != "again" {
		t.Errorf("history sent to the model: %+v", in)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestProviderKey: each request carries the key for the thread's provider
// (Options.APIKey is asked with that provider), and none when it has none.
func TestProviderKey(t *testing.T) {
	e := newEnv(t, "")
	var asked []config.Provider
	key := "mock-key"
	e.eng.opts.APIKey = func(p config.Provider) string {
		asked = append(asked, p)
		return key
	}
	c := e.connect()
	id := c.startThread()
	for range 2 {
		e.model.Push(responsestest.Text("ok"))
		c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"hi"}]}`)
		c.until("turn/completed")
		key = ""
	}
	reqs := e.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer mock-key" {
		t.Errorf("Authorization = %q, want the provider's key", got)
	}
	if got, ok := reqs[1].Header["Authorization"]; ok {
		t.Errorf("Authorization = %q sent for a provider without a key", got)
	}
	if len(asked) != 2 || asked[0].BaseURL != e.model.URL() {
		t.Errorf("APIKey asked for %+v, want the mock provider", asked)
	}
}

// TestOutputSchema: a turn's outputSchema reaches the model as the
// Responses API's json_schema text format, for that turn only; a schema
// that is not an object is refused.
func TestOutputSchema(t *testing.T) {
	e := newEnv(t, "")
	c := e.connect()
	id := c.startThread()
	schema := `{"type":"object","properties":{"title":{"type":"string"}},"required":["title"],"additionalProperties":false}`
	e.model.Push(responsestest.Text(`{"title":"Mock task"}`), responsestest.Text("plain"))
	c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"name it"}],"outputSchema":`+schema+`}`)
	c.until("turn/completed")
	c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"again"}],"outputSchema":null}`)
	c.until("turn/completed")
	reqs := e.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	var body struct {
		Text *struct {
			Format struct {
				Type   string          `json:"type"`
				Strict bool            `json:"strict"`
				Schema json.RawMessage `json:"schema"`
			} `json:"format"`
		} `json:"text"`
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil || body.Text == nil || body.Text.Format.Type != "json_schema" ||
		!body.Text.Format.Strict || !strings.Contains(string(body.Text.Format.Schema), `"required":["title"]`) {
		t.Errorf("first request's text format: %+v (%v)", body.Text, err)
	}
	body.Text = nil
	if err := json.Unmarshal(reqs[1].Body, &body); err != nil || body.Text != nil {
		t.Errorf("second request carries a text format: %+v (%v)", body.Text, err)
	}
	if r := c.callErr("turn/start", `{"threadId":"`+id+`","input":[],"outputSchema":"a string"}`); r == nil || !strings.Contains(r.Message, "outputSchema: expected a JSON object") {
		t.Errorf("a string schema: %v", r)
	}
}
