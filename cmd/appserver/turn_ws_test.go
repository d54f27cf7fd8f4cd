package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/appserver-go/appserver/internal/responses"
	"github.com/appserver-go/appserver/internal/responses/responsestest"
)

// wsClient is a JSON-RPC client over a real WebSocket connection that
// keeps every frame the server sent, in order.
type wsClient struct {
	t      *testing.T
	ctx    context.Context
	c      *websocket.Conn
	next   int
	frames []frame
}

// read returns the next frame from the server.
func (w *wsClient) read() frame {
	w.t.Helper()
	_, data, err := w.c.Read(w.ctx)
	if err != nil {
		w.t.Fatalf("reading: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		w.t.Fatalf("frame %s: %v", data, err)
	}
	w.frames = append(w.frames, f)
	return f
}

func (w *wsClient) send(v string) {
	w.t.Helper()
	if err := w.c.Write(w.ctx, websocket.MessageText, []byte(v)); err != nil {
		w.t.Fatalf("writing: %v", err)
	}
}

// call sends a request and returns its result, keeping the frames that
// arrive before it.
func (w *wsClient) call(method, params string) json.RawMessage {
	w.t.Helper()
	w.next++
	id := w.next
	w.send(`{"id":` + itoa(id) + `,"method":"` + method + `","params":` + params + `}`)
	for {
		f := w.read()
		if f.Method == "" && string(f.ID) == itoa(id) {
			if f.Error != nil {
				w.t.Fatalf("%s: error %s", method, f.Error)
			}
			return f.Result
		}
	}
}

// until reads frames up to and including the first for which ok is true.
func (w *wsClient) until(ok func(frame) bool) frame {
	w.t.Helper()
	for {
		if f := w.read(); ok(f) {
			return f
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func isMethod(m string) func(frame) bool { return func(f frame) bool { return f.Method == m } }

// methodsSince lists the methods of the frames from index i on, with the
// item type after a slash for item/started and item/completed.
func (w *wsClient) methodsSince(i int) []string {
	var out []string
	for _, f := range w.frames[i:] {
		m := f.Method
		if m == "item/started" || m == "item/completed" {
			var p struct{ Item struct{ Type string } }
			json.Unmarshal(f.Params, &p)
			m += "/" + p.Item.Type
		}
		if m != "" {
			out = append(out, m)
		}
	}
	return out
}

// inOrder reports whether want appears in got as a subsequence.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestTurnOverWebSocket drives turns as a remote client does, over an
// authenticated WebSocket to the real binary, against the scripted model
// on loopback: a stream that disconnects and an overloaded provider are
// retried with `error` notifications; a command the model asks to run
// outside the sandbox waits for the client's approval and then runs; an
// interrupt stops a slow answer.
func TestTurnOverWebSocket(t *testing.T) {
	model := responsestest.New(t)
	home, work := t.TempDir(), t.TempDir()
	writeMockConfig(t, home, model.URL(), "on-request")
	tokenFile := filepath.Join(home, "tok")
	env := []string{"APPSERVER_HOME=" + home}
	if r := run(t, env, "token", "create", "--file", tokenFile); r.code != 0 {
		t.Fatal(r)
	}
	tok, _ := os.ReadFile(tokenFile)
	s := startIn(t, work, env, "--listen", "ws://127.0.0.1:0", "--ws-auth", "capability-token", "--ws-token-file", tokenFile)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(tok))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	w := &wsClient{t: t, ctx: ctx, c: c}
	w.call("initialize", `{"clientInfo":{"name":"ws-turns","version":"1"}}`)
	var started struct{ Thread struct{ ID string } }
	json.Unmarshal(w.call("thread/start", `{}`), &started)
	thread := started.Thread.ID
	turnStart := func(text string) string {
		var r struct{ Turn struct{ ID string } }
		json.Unmarshal(w.call("turn/start", `{"threadId":"`+thread+`","input":[{"type":"text","text":"`+text+`"}]}`), &r)
		return r.Turn.ID
	}

	// 1. The stream drops after its first event, then the provider
	// answers 503: both are retried, then the answer streams.
	model.Push(
		responsestest.Disconnect(1, responsestest.Text("lost")),
		responsestest.Error(503, "the provider is overloaded"),
		responsestest.Text("Hello ", "over ", "WebSocket"),
	)
	mark := len(w.frames)
	turnStart("hello")
	done := w.until(isMethod("turn/completed"))
	if !strings.Contains(string(done.Params), `"status":"completed"`) {
		t.Errorf("turn/completed %s", done.Params)
	}
	got := w.methodsSince(mark)
	want := []string{"thread/status/changed", "turn/started", "item/started/userMessage", "item/completed/userMessage",
		"error", "error", "item/started/agentMessage", "item/agentMessage/delta", "item/completed/agentMessage",
		"thread/tokenUsage/updated", "thread/status/changed", "turn/completed"}
	if !inOrder(got, want) {
		t.Errorf("notifications\n got %v\nwant in this order %v", got, want)
	}
	var retries []string
	var text strings.Builder
	for _, f := range w.frames[mark:] {
		switch f.Method {
		case "error":
			var p struct {
				WillRetry bool
				Error     struct {
					Message        string
					CodexErrorInfo json.RawMessage
				}
			}
			json.Unmarshal(f.Params, &p)
			if !p.WillRetry {
				t.Errorf("error notification without willRetry: %s", f.Params)
			}
			retries = append(retries, p.Error.Message+" "+string(p.Error.CodexErrorInfo))
		case "item/agentMessage/delta":
			var p struct{ Delta string }
			json.Unmarshal(f.Params, &p)
			text.WriteString(p.Delta)
		}
	}
	if len(retries) != 2 || !strings.HasPrefix(retries[0], "Reconnecting... 1/") || !strings.HasPrefix(retries[1], "Reconnecting... 2/") ||
		!strings.Contains(retries[1], `"httpStatusCode":503`) {
		t.Errorf("retry notifications: %q", retries)
	}
	if text.String() != "Hello over WebSocket" {
		t.Errorf("streamed text %q", text.String())
	}

	// 2. The model asks to run a command outside the sandbox: the client
	// is asked, accepts, and the command runs and its output goes back
	// to the model.
	model.Push(
		responsestest.ToolCall("call_ws_1", "shell", `{"command":"echo approved-$((6*7)) > out.txt && cat out.txt","sandbox_permissions":"require_escalated","justification":"write a file"}`),
		responsestest.Text("done"),
	)
	mark = len(w.frames)
	turnStart("please write the file")
	ask := w.until(func(f frame) bool { return f.Method == "item/commandExecution/requestApproval" })
	if len(ask.ID) == 0 || !strings.Contains(string(ask.Params), "approved-$((6*7))") {
		t.Fatalf("approval request %s %s", ask.ID, ask.Params)
	}
	if _, err := os.Stat(filepath.Join(work, "out.txt")); err == nil {
		t.Fatal("the command ran before it was approved")
	}
	w.send(`{"id":` + string(ask.ID) + `,"result":{"decision":"accept"}}`)
	done = w.until(isMethod("turn/completed"))
	if !strings.Contains(string(done.Params), `"status":"completed"`) {
		t.Errorf("turn/completed %s", done.Params)
	}
	got = w.methodsSince(mark)
	// As the reference: the item starts, then the client is asked.
	want = []string{"item/started/commandExecution", "item/commandExecution/requestApproval", "serverRequest/resolved",
		"item/commandExecution/outputDelta", "item/completed/commandExecution", "item/completed/agentMessage", "turn/completed"}
	if !inOrder(got, want) {
		t.Errorf("notifications\n got %v\nwant in this order %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(work, "out.txt")); err != nil || string(b) != "approved-42\n" {
		t.Errorf("out.txt: %q %v", b, err)
	}
	reqs := model.Requests()
	if last := reqs[len(reqs)-1].LastInput(); last.Type != responses.TypeFunctionCallOutput || !strings.Contains(last.Output, "approved-42") {
		t.Errorf("the model did not get the command's output: %+v", last)
	}

	// 3. A slow answer is interrupted after its first delta.
	words := make([]string, 100)
	for i := range words {
		words[i] = "w "
	}
	model.Push(responsestest.Slow(100*time.Millisecond, responsestest.Text(words...)))
	turn := turnStart("slow")
	w.until(isMethod("item/agentMessage/delta"))
	begin := time.Now()
	w.call("turn/interrupt", `{"threadId":"`+thread+`","turnId":"`+turn+`"}`)
	done = w.until(isMethod("turn/completed"))
	if !strings.Contains(string(done.Params), `"status":"interrupted"`) {
		t.Errorf("turn/completed after turn/interrupt: %s", done.Params)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("the interrupt took %v", d)
	}
}
