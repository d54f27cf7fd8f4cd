package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/responses"
	"github.com/appserver-go/appserver/internal/responses/responsestest"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/jsonrpc"
)

// Tests of the turn loop: approvals, interrupts, provider failures, the
// user's shell commands, and the order of a turn's notifications
// (shared/docs/PROTOCOL.md sections 2.3, 2.4 and 4).

const approvalMethod = "item/commandExecution/requestApproval"

var pidLine = regexp.MustCompile(`(?m)^pid=([0-9]+)$`)

// gather reads c's messages up to and including the first request or
// notification named method. It returns the requests and notifications on
// the way, in order, and the responses to c's own calls among them.
func (c *client) gather(method string) ([]*jsonrpc.Request, []*jsonrpc.Response) {
	c.t.Helper()
	var notes []*jsonrpc.Request
	var resps []*jsonrpc.Response
	for {
		switch m := c.recv().(type) {
		case *jsonrpc.Request:
			notes = append(notes, m)
			if m.Method == method {
				return notes, resps
			}
		case *jsonrpc.Response:
			resps = append(resps, m)
		}
	}
}

// await reads up to the first method and returns it.
func (c *client) await(method string) *jsonrpc.Request {
	c.t.Helper()
	notes, _ := c.gather(method)
	return notes[len(notes)-1]
}

// answer replies to the server request id; body is `"result":…` or
// `"error":…`.
func (c *client) answer(id jsonrpc.ID, body string) {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"id":%s,%s}`, id.AppendJSON(nil), body))
}

// sendInterrupt sends turn/interrupt without waiting for its answer, so
// that no notification is skipped while waiting.
func (c *client) sendInterrupt(threadID, turnID string) {
	c.t.Helper()
	c.next++
	c.send(fmt.Sprintf(`{"id":%d,"method":"turn/interrupt","params":{"threadId":%q,"turnId":%q}}`, c.next, threadID, turnID))
}

// beginTurn sends turn/start with one text input and returns the turn id.
func (c *client) beginTurn(threadID, text string) string {
	c.t.Helper()
	r := c.call("turn/start", fmt.Sprintf(`{"threadId":%q,"input":[{"type":"text","text":%q,"text_elements":[]}]}`, threadID, text))
	id, _ := field(r, "turn", "id").(string)
	if id == "" {
		c.t.Fatalf("turn/start answered %s", r)
	}
	return id
}

// shellCall returns the shell tool's arguments for command.
func shellCall(command string, escalate bool) string {
	args := map[string]any{"command": command, "timeout_ms": 60000}
	if escalate {
		args["sandbox_permissions"] = "require_escalated"
		args["justification"] = "the test asks for it"
	}
	b, _ := json.Marshal(args)
	return string(b)
}

func methods(notes []*jsonrpc.Request) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.Method)
	}
	return out
}

// itemsCompleted returns the items of the item/completed notifications
// among notes.
func itemsCompleted(notes []*jsonrpc.Request) []json.RawMessage {
	var out []json.RawMessage
	for _, n := range notes {
		if n.Method == "item/completed" {
			var p struct{ Item json.RawMessage }
			_ = json.Unmarshal(n.Params, &p)
			out = append(out, p.Item)
		}
	}
	return out
}

// checkItemsEnd fails unless every item/started among notes has an
// item/completed after it: a client never sees an item that never ends.
func checkItemsEnd(t *testing.T, notes []*jsonrpc.Request) {
	t.Helper()
	open := map[string]bool{}
	for _, n := range notes {
		id, _ := field(n.Params, "item", "id").(string)
		switch n.Method {
		case "item/started":
			open[id] = true
		case "item/completed":
			if !open[id] {
				t.Errorf("item/completed for %q, which never started", id)
			}
			delete(open, id)
		}
	}
	for id := range open {
		t.Errorf("item %q started but never completed", id)
	}
}

// modelOutput returns the tool output the model got for callID in req.
func modelOutput(req responsestest.ReceivedRequest, callID string) (string, bool) {
	for _, it := range req.Input {
		if it.Type == responses.TypeFunctionCallOutput && it.CallID == callID {
			return it.Output, true
		}
	}
	return "", false
}

func TestApprovalDecisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string // the JSON-RPC answer's result or error member
		ran    bool   // whether the command ran
		item   string // the command item's final status
		// toModel is the start of the tool output the model gets in a
		// second request, or "" when there is no second request.
		toModel string
		turn    string // the turn's final status
	}{
		{"accept", `"result":{"decision":"accept"}`, true, "completed", "Exit code: 0", "completed"},
		{"acceptWithAmendment", `"result":{"decision":{"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["touch"]}}}`, true, "completed", "Exit code: 0", "completed"},
		{"decline", `"result":{"decision":"decline"}`, false, "declined", `Rejected("rejected by user")`, "completed"},
		{"cancel", `"result":{"decision":"cancel"}`, false, "declined", "", "interrupted"},
		{"error", `"error":{"code":-32603,"message":"the client could not ask"}`, false, "failed", `Rejected("approval request failed")`, "completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			marker := filepath.Join(t.TempDir(), "ran")
			e.model.Push(responsestest.ToolCall("call_1", "shell", shellCall("touch "+marker+" && echo ran", true)))
			if tc.toModel != "" {
				e.model.Push(responsestest.Text("noted"))
			}
			c1 := e.connect()
			id := c1.startThread()
			c2 := e.connect()
			c2.call("thread/resume", `{"threadId":"`+id+`"}`)
			turnID := c1.beginTurn(id, "touch it")

			// Both subscribers get the request, under one id, after the
			// command's item/started and a status saying the thread waits.
			notes1, _ := c1.gather(approvalMethod)
			req2 := c2.await(approvalMethod)
			req1 := notes1[len(notes1)-1]
			if req1.ID != req2.ID || !req1.IsCall() {
				t.Fatalf("request ids %v and %v", req1.ID, req2.ID)
			}
			p := req1.Params
			if field(p, "threadId") != id || field(p, "turnId") != turnID || field(p, "itemId") != "call_1" ||
				field(p, "kind") != "command" || !strings.Contains(fmt.Sprint(field(p, "command")), marker) ||
				field(p, "reason") != "the test asks for it" {
				t.Errorf("approval params %s", p)
			}
			var startedCmd, waiting bool
			for _, n := range notes1 {
				if n.Method == "item/started" && field(n.Params, "item", "id") == "call_1" {
					startedCmd = true
				}
				if n.Method == "thread/status/changed" && strings.Contains(string(n.Params), "waitingOnApproval") {
					waiting = true
				}
			}
			if !startedCmd || !waiting {
				t.Errorf("before the approval request (item/started %v, waitingOnApproval %v): %v", startedCmd, waiting, methods(notes1))
			}

			// The second client answers; both hear it is resolved.
			c2.answer(req2.ID, tc.answer)
			for _, c := range []*client{c1, c2} {
				res := c.await("serverRequest/resolved")
				if n, _ := req1.ID.Int64(); field(res.Params, "requestId") != float64(n) || field(res.Params, "threadId") != id {
					t.Errorf("serverRequest/resolved %s, want request %d", res.Params, n)
				}
			}
			notes, _ := c1.gather("turn/completed")
			done := notes[len(notes)-1]
			if got := field(done.Params, "turn", "status"); got != tc.turn {
				t.Errorf("turn status %v, want %s: %s", got, tc.turn, done.Params)
			}
			var cmd json.RawMessage
			for _, it := range itemsCompleted(notes) {
				if field(it, "id") == "call_1" {
					cmd = it
				}
			}
			if cmd == nil {
				t.Fatalf("no item/completed for the command in %v", methods(notes))
			}
			if field(cmd, "status") != tc.item {
				t.Errorf("command item %s, want status %s", cmd, tc.item)
			}
			if out, _ := field(cmd, "aggregatedOutput").(string); tc.ran && !strings.HasSuffix(out, "ran\n") {
				t.Errorf("command item %s, want output", cmd)
			}
			if !tc.ran && (field(cmd, "exitCode") != nil || field(cmd, "aggregatedOutput") != nil) {
				t.Errorf("command item %s: a command that did not run has no exit code or output", cmd)
			}
			if st := field(c2.await("turn/completed").Params, "turn", "status"); st != tc.turn {
				t.Errorf("second client: turn status %v", st)
			}
			if _, err := os.Stat(marker); (err == nil) != tc.ran {
				t.Errorf("command ran: %v, want %v", err == nil, tc.ran)
			}

			reqs := e.model.Requests()
			if tc.toModel == "" {
				if len(reqs) != 1 {
					t.Errorf("%d model requests, want 1", len(reqs))
				}
				return
			}
			if len(reqs) != 2 {
				t.Fatalf("%d model requests, want 2", len(reqs))
			}
			if out, ok := modelOutput(reqs[1], "call_1"); !ok || !strings.HasPrefix(out, tc.toModel) {
				t.Errorf("the model got %q for the call, want %q…", out, tc.toModel)
			}
		})
	}
}

func TestApprovalReplayedOnResume(t *testing.T) {
	e := newEnv(t, "")
	marker := filepath.Join(t.TempDir(), "ran")
	e.model.Push(
		responsestest.ToolCall("call_1", "shell", shellCall("touch "+marker, true)),
		responsestest.Text("done"),
	)
	c1 := e.connect()
	id := c1.startThread()
	turnID := c1.beginTurn(id, "touch it")
	first := c1.await(approvalMethod)
	// The first client leaves without answering.
	if err := c1.conn.Close(nil); err != nil {
		t.Fatal(err)
	}

	c2 := e.connect()
	r := c2.call("thread/resume", `{"threadId":"`+id+`"}`)
	if flags := fmt.Sprint(field(r, "thread", "status", "activeFlags")); flags != "[waitingOnApproval]" {
		t.Errorf("resumed thread's status %v", field(r, "thread", "status"))
	}
	again := c2.await(approvalMethod)
	if again.ID != first.ID {
		t.Fatalf("replayed request id %v, want %v", again.ID, first.ID)
	}
	if field(again.Params, "turnId") != turnID || field(again.Params, "itemId") != "call_1" {
		t.Errorf("replayed params %s", again.Params)
	}
	c2.answer(again.ID, `"result":{"decision":"accept"}`)
	notes, _ := c2.gather("turn/completed")
	if !slices.Contains(methods(notes), "serverRequest/resolved") {
		t.Errorf("no serverRequest/resolved in %v", methods(notes))
	}
	if st := field(notes[len(notes)-1].Params, "turn", "status"); st != "completed" {
		t.Errorf("turn status %v", st)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the approved command did not run: %v", err)
	}
}

func TestApprovalForSession(t *testing.T) {
	e := newEnv(t, "")
	marker := filepath.Join(t.TempDir(), "count")
	cmd := "echo x >> " + marker
	e.model.Push(
		responsestest.ToolCall("call_1", "shell", shellCall(cmd, true)),
		responsestest.ToolCall("call_2", "shell", shellCall(cmd, true)),
		responsestest.Text("twice"),
	)
	c := e.connect()
	id := c.startThread()
	c.beginTurn(id, "append twice")
	c.answer(c.await(approvalMethod).ID, `"result":{"decision":"acceptForSession"}`)
	notes, _ := c.gather("turn/completed")
	if slices.Contains(methods(notes), approvalMethod) {
		t.Errorf("asked again for a command accepted for the session: %v", methods(notes))
	}
	if st := field(notes[len(notes)-1].Params, "turn", "status"); st != "completed" {
		t.Errorf("turn status %v", st)
	}
	if b, _ := os.ReadFile(marker); string(b) != "x\nx\n" {
		t.Errorf("the command ran with output %q, want twice", b)
	}
}

func TestInterruptWhileWaitingForApproval(t *testing.T) {
	e := newEnv(t, "")
	marker := filepath.Join(t.TempDir(), "ran")
	e.model.Push(responsestest.ToolCall("call_1", "shell", shellCall("touch "+marker, true)))
	c := e.connect()
	id := c.startThread()
	turnID := c.beginTurn(id, "touch it")
	before, _ := c.gather(approvalMethod)
	req := before[len(before)-1]
	c.sendInterrupt(id, turnID)
	notes, _ := c.gather("turn/completed")
	if st := field(notes[len(notes)-1].Params, "turn", "status"); st != "interrupted" {
		t.Errorf("turn status %v", st)
	}
	var resolved bool
	for _, n := range notes {
		if n.Method == "serverRequest/resolved" {
			want, _ := req.ID.Int64()
			resolved = field(n.Params, "requestId") == float64(want)
		}
	}
	if !resolved {
		t.Errorf("the request was not resolved: %v", methods(notes))
	}
	checkItemsEnd(t, append(before, notes...))
	// The question is withdrawn: a late answer changes nothing, and a
	// client resuming the thread finds it idle.
	c.answer(req.ID, `"result":{"decision":"accept"}`)
	c2 := e.connect()
	r := c2.call("thread/resume", `{"threadId":"`+id+`"}`)
	if st := field(r, "thread", "status", "type"); st != "idle" {
		t.Errorf("resumed thread's status %v", field(r, "thread", "status"))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}
	if n := len(e.model.Requests()); n != 1 {
		t.Errorf("%d model requests, want 1", n)
	}
}

func TestInterruptStopsModel(t *testing.T) {
	words := make([]string, 20)
	for i := range words {
		words[i] = "word "
	}
	for _, tc := range []struct {
		name  string
		reply responsestest.Reply
		after string // interrupt once this notification arrives
	}{
		// 26 events 200 ms apart: the stream would last over 5 s.
		{"streaming", responsestest.Slow(200*time.Millisecond, responsestest.Text(words...)), "item/agentMessage/delta"},
		// A provider that asks for a minute's wait.
		{"backing off", responsestest.WithHeader("Retry-After", "60", responsestest.Error(503, "overloaded")), "error"},
		{"waiting for headers", responsestest.Hang(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			// Should the interrupt not reach the stream, closing the
			// provider first still lets the engine shut down.
			t.Cleanup(e.model.Close)
			e.model.Push(tc.reply)
			c := e.connect()
			id := c.startThread()
			begun := time.Now()
			turnID := c.beginTurn(id, "talk")
			notes, _ := c.gather("turn/started")
			if tc.after != "" {
				more, _ := c.gather(tc.after)
				notes = append(notes, more...)
			} else {
				for len(e.model.Requests()) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			interrupted := time.Now()
			c.sendInterrupt(id, turnID)
			more, resps := c.gather("turn/completed")
			notes = append(notes, more...)
			if d := time.Since(interrupted); d > 2*time.Second {
				t.Errorf("turn/completed %v after turn/interrupt", d)
			}
			if d := time.Since(begun); d > 4*time.Second {
				t.Errorf("the turn lasted %v", d)
			}
			if len(resps) != 1 || resps[0].Error != nil {
				t.Errorf("turn/interrupt answered %+v", resps)
			}
			done := notes[len(notes)-1]
			if st := field(done.Params, "turn", "status"); st != "interrupted" {
				t.Errorf("turn status %v: %s", st, done.Params)
			}
			checkItemsEnd(t, notes)
			if n := len(e.model.Requests()); n != 1 {
				t.Errorf("%d model requests, want 1", n)
			}
		})
	}
}

func TestInterruptStopsRunningCommand(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides []string
		escalate  bool
	}{
		{"sandboxed", []string{`approval_policy="never"`}, false},
		{"approved", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "", tc.overrides...)
			e.model.Push(responsestest.ToolCall("call_1", "shell", shellCall("echo pid=$$; exec sleep 30", tc.escalate)))
			c := e.connect()
			id := c.startThread()
			turnID := c.beginTurn(id, "sleep")
			if tc.escalate {
				c.answer(c.await(approvalMethod).ID, `"result":{"decision":"accept"}`)
			}
			// The output may start with what the login shell's profile
			// prints.
			var output string
			var m []string
			for m == nil {
				delta := c.await("item/commandExecution/outputDelta")
				text, _ := field(delta.Params, "delta").(string)
				output += text
				m = pidLine.FindStringSubmatch(output)
			}
			pid, _ := strconv.Atoi(m[1])
			interrupted := time.Now()
			c.sendInterrupt(id, turnID)
			notes, _ := c.gather("turn/completed")
			if d := time.Since(interrupted); d > 2*time.Second {
				t.Errorf("turn/completed %v after turn/interrupt", d)
			}
			if st := field(notes[len(notes)-1].Params, "turn", "status"); st != "interrupted" {
				t.Errorf("turn status %v", st)
			}
			var cmd json.RawMessage
			for _, it := range itemsCompleted(notes) {
				if field(it, "id") == "call_1" {
					cmd = it
				}
			}
			if cmd == nil || field(cmd, "status") == "inProgress" {
				t.Errorf("command item %s", cmd)
			}
			// The sleep is gone (or a zombie about to be reaped).
			deadline := time.Now().Add(2 * time.Second)
			for {
				stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				if err != nil || strings.Contains(string(stat), ") Z ") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("process %d still runs after the interrupt: %s", pid, stat)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n := len(e.model.Requests()); n != 1 {
				t.Errorf("%d model requests, want 1", n)
			}
		})
	}
}

// quick asks the client to retry after 1 ms, so tests need not wait for
// the backoff.
func quick(r responsestest.Reply) responsestest.Reply {
	return responsestest.WithHeader("Retry-After-Ms", "1", r)
}

// errorNotes returns the params of the error notifications among notes.
func errorNotes(notes []*jsonrpc.Request) []json.RawMessage {
	var out []json.RawMessage
	for _, n := range notes {
		if n.Method == "error" {
			out = append(out, n.Params)
		}
	}
	return out
}

func TestTransientFailuresRetried(t *testing.T) {
	e := newEnv(t, "")
	e.model.Push(
		// Cut after response.created and response.in_progress (the
		// backoff is the default, 200 ms, for this one).
		responsestest.Disconnect(2, responsestest.Text("lost")),
		quick(responsestest.Error(429, "Rate limit reached")),
		quick(responsestest.Error(500, "internal error")),
		quick(responsestest.Error(503, "overloaded")),
		responsestest.Failed("server_error", "The server had an error. Please try again in 1ms."),
		responsestest.Text("recovered"),
	)
	c := e.connect()
	id := c.startThread()
	turnID := c.beginTurn(id, "hi")
	notes, _ := c.gather("turn/completed")
	errs := errorNotes(notes)
	if len(errs) != responses.MaxRetries {
		t.Fatalf("%d error notifications, want %d: %v", len(errs), responses.MaxRetries, methods(notes))
	}
	for i, p := range errs {
		want := fmt.Sprintf("Reconnecting... %d/%d", i+1, responses.MaxRetries)
		if field(p, "willRetry") != true || field(p, "error", "message") != want || field(p, "threadId") != id || field(p, "turnId") != turnID {
			t.Errorf("error notification %d: %s", i, p)
		}
	}
	for i, want := range []string{"stream disconnected", "Rate limit reached", "internal error", "overloaded", "The server had an error"} {
		if d, _ := field(errs[i], "error", "additionalDetails").(string); !strings.Contains(d, want) {
			t.Errorf("error notification %d: details %q, want %q", i, d, want)
		}
	}
	done := notes[len(notes)-1]
	if field(done.Params, "turn", "status") != "completed" || field(done.Params, "turn", "error") != nil {
		t.Errorf("turn/completed %s", done.Params)
	}
	var texts []any
	for _, it := range itemsCompleted(notes) {
		if field(it, "type") == "agentMessage" {
			texts = append(texts, field(it, "text"))
		}
	}
	if fmt.Sprint(texts) != "[recovered]" {
		t.Errorf("agent messages %v", texts)
	}
	if n := len(e.model.Requests()); n != 1+responses.MaxRetries {
		t.Errorf("%d model requests, want %d", n, 1+responses.MaxRetries)
	}
}

func TestProviderFailureFailsTurn(t *testing.T) {
	const permanent = "Invalid value for 'model': no such model"
	exhausted := make([]responsestest.Reply, 1+responses.MaxRetries)
	for i := range exhausted {
		exhausted[i] = quick(responsestest.Error(503, "overloaded"))
	}
	for _, tc := range []struct {
		name    string
		replies []responsestest.Reply
		message string // in turn.error and the last error notification
		retries int
	}{
		{"permanent", []responsestest.Reply{responsestest.Error(400, permanent)}, permanent, 0},
		{"failed response", []responsestest.Reply{responsestest.Failed("invalid_prompt", "Your prompt was flagged")}, "Your prompt was flagged", 0},
		{"retries exhausted", exhausted, "overloaded", responses.MaxRetries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.model.Push(tc.replies...)
			c := e.connect()
			id := c.startThread()
			turnID := c.beginTurn(id, "hi")
			notes, _ := c.gather("turn/completed")
			done := notes[len(notes)-1]
			if field(done.Params, "turn", "status") != "failed" {
				t.Errorf("turn/completed %s", done.Params)
			}
			if msg, _ := field(done.Params, "turn", "error", "message").(string); !strings.Contains(msg, tc.message) {
				t.Errorf("turn.error %v, want %q", field(done.Params, "turn", "error"), tc.message)
			}
			errs := errorNotes(notes)
			if len(errs) != tc.retries+1 {
				t.Fatalf("%d error notifications, want %d: %v", len(errs), tc.retries+1, methods(notes))
			}
			for i, p := range errs[:tc.retries] {
				if field(p, "willRetry") != true {
					t.Errorf("error notification %d: %s", i, p)
				}
			}
			last := errs[tc.retries]
			if msg, _ := field(last, "error", "message").(string); field(last, "willRetry") != false ||
				!strings.Contains(msg, tc.message) || field(last, "threadId") != id || field(last, "turnId") != turnID {
				t.Errorf("final error notification %s", last)
			}
			if n := len(e.model.Requests()); n != 1+tc.retries {
				t.Errorf("%d model requests, want %d", n, 1+tc.retries)
			}
			// The turn is over: the thread takes another.
			e.model.Push(responsestest.Text("fine"))
			c.beginTurn(id, "again")
			if st := field(c.await("turn/completed").Params, "turn", "status"); st != "completed" {
				t.Errorf("next turn %v", st)
			}
		})
	}
}

func TestShellCommand(t *testing.T) {
	e := newEnv(t, "")
	dir := t.TempDir()
	c := e.connect()
	r := c.call("thread/start", `{"cwd":`+jsonString(dir)+`}`)
	id := field(r, "thread", "id").(string)
	c.call("thread/shellCommand", `{"threadId":"`+id+`","command":"pwd; echo hi from bang","timeoutMs":null}`)
	notes, _ := c.gather("turn/completed")
	var got []string
	for _, m := range methods(notes) {
		if m != "thread/started" && (len(got) == 0 || got[len(got)-1] != m) {
			got = append(got, m) // output deltas counted once
		}
	}
	want := []string{"thread/status/changed", "turn/started", "item/started", "item/commandExecution/outputDelta",
		"item/completed", "thread/status/changed", "turn/completed"}
	if !slices.Equal(got, want) {
		t.Errorf("notifications\n got %v\nwant %v", got, want)
	}
	var started json.RawMessage
	var output strings.Builder
	for _, n := range notes {
		switch n.Method {
		case "item/started":
			started = n.Params
		case "item/commandExecution/outputDelta":
			output.WriteString(field(n.Params, "delta").(string))
		}
	}
	if field(started, "item", "type") != "commandExecution" || field(started, "item", "source") != "userShell" ||
		field(started, "item", "status") != "inProgress" || field(started, "item", "cwd") != dir ||
		field(started, "item", "command") != "/bin/bash -lc 'pwd; echo hi from bang'" {
		t.Errorf("item/started %s", started)
	}
	wantOut := dir + "\nhi from bang\n"
	if !strings.HasSuffix(output.String(), wantOut) {
		t.Errorf("output deltas %q, want …%q", output.String(), wantOut)
	}
	items := itemsCompleted(notes)
	if len(items) != 1 {
		t.Fatalf("completed items %s", items)
	}
	it := items[0]
	if field(it, "status") != "completed" || field(it, "exitCode") != float64(0) || field(it, "aggregatedOutput") != output.String() {
		t.Errorf("item/completed %s", it)
	}
	if st := field(notes[len(notes)-1].Params, "turn", "status"); st != "completed" {
		t.Errorf("turn status %v", st)
	}
	if n := len(e.model.Requests()); n != 0 {
		t.Errorf("%d model requests for a shell command", n)
	}
}

func TestToolCallTurnOrder(t *testing.T) {
	e := newEnv(t, "", `approval_policy="never"`)
	e.model.Push(
		responsestest.ToolCall("call_1", "shell", shellCall("echo hi", false)),
		responsestest.Text("It ", "said hi"),
	)
	c := e.connect()
	id := c.startThread()
	c.beginTurn(id, "run echo")
	notes, _ := c.gather("turn/completed")
	type step struct{ method, item string }
	var got []step
	for _, n := range notes {
		if n.Method == "thread/started" {
			continue
		}
		s := step{method: n.Method}
		if typ, ok := field(n.Params, "item", "type").(string); ok {
			s.item = typ
		}
		if n.Method == "thread/status/changed" {
			s.item = fmt.Sprint(field(n.Params, "status", "type"))
		}
		if s.method == "item/commandExecution/outputDelta" && got[len(got)-1] == s {
			continue // the output may come in any number of pieces
		}
		got = append(got, s)
	}
	// PROTOCOL 2.3, with the command between the user's message and the
	// answer; as on the reference (traces/tui-remote-mockmodel.jsonl), a
	// response's token usage follows the tool calls it asked for.
	want := []step{
		{"thread/status/changed", "active"},
		{"turn/started", ""},
		{"item/started", "userMessage"},
		{"item/completed", "userMessage"},
		{"item/started", "commandExecution"},
		{"item/commandExecution/outputDelta", ""},
		{"item/completed", "commandExecution"},
		{"thread/tokenUsage/updated", ""},
		{"item/started", "agentMessage"},
		{"item/agentMessage/delta", ""},
		{"item/agentMessage/delta", ""},
		{"item/completed", "agentMessage"},
		{"thread/tokenUsage/updated", ""},
		{"thread/status/changed", "idle"},
		{"turn/completed", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("notifications\n got %v\nwant %v", got, want)
	}
	done := notes[len(notes)-1]
	if field(done.Params, "turn", "status") != "completed" {
		t.Errorf("turn/completed %s", done.Params)
	}
	// The model saw the command's output.
	reqs := e.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model requests", len(reqs))
	}
	if out, _ := modelOutput(reqs[1], "call_1"); !strings.Contains(out, "Exit code: 0") || !strings.HasSuffix(out, "hi\n") {
		t.Errorf("the model got %q", out)
	}
}

// TestShellToolWorkdirConfined: under --workspace-root the model cannot
// run a command in a directory outside the roots by naming it as workdir.
func TestShellToolWorkdirConfined(t *testing.T) {
	e := newEnv(t, "", `approval_policy="never"`)
	guard, err := pathguard.New([]string{e.home})
	if err != nil {
		t.Fatal(err)
	}
	e.eng.opts.Guard = guard
	os.Mkdir(filepath.Join(e.home, "sub"), 0o755)
	e.model.Push(
		responsestest.ToolCall("call_out", "shell", `{"command":"pwd","workdir":"/etc"}`),
		responsestest.ToolCall("call_in", "shell", `{"command":"pwd","workdir":"sub"}`),
		responsestest.Text("ok"),
	)
	c := e.connect()
	id := c.startThread()
	c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"go"}]}`)
	c.until("turn/completed")
	reqs := e.model.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model requests", len(reqs))
	}
	if out := reqs[1].LastInput().Output; !strings.Contains(out, "outside the workspace roots") {
		t.Errorf("workdir /etc: the model got %q", out)
	}
	if out := reqs[2].LastInput().Output; !strings.Contains(out, filepath.Join(e.home, "sub")) {
		t.Errorf("workdir sub: the model got %q", out)
	}
}

// TestShellToolConfined: the model's commands run in the thread's sandbox
// (read-only here): without escalation under any policy, and with an
// escalation request under approval_policy "never", which asks no one
// and so grants nothing.
func TestShellToolConfined(t *testing.T) {
	if err := (sandbox.Policy{}).Check(sandbox.Probe()); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name     string
		policy   string
		escalate bool
	}{
		{"on-request, no escalation", "on-request", false},
		{"never, escalation asked", "never", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "", `approval_policy="`+tc.policy+`"`, `sandbox_mode="read-only"`)
			marker := filepath.Join(t.TempDir(), "written")
			e.model.Push(
				responsestest.ToolCall("call_1", "shell", shellCall("touch "+marker+"; echo rc=$?", tc.escalate)),
				responsestest.Text("noted"),
			)
			c := e.connect()
			id := c.startThread()
			c.beginTurn(id, "write it")
			notes, _ := c.gather("turn/completed")
			for _, n := range notes {
				if n.Method == approvalMethod {
					t.Errorf("asked for approval: %s", n.Params)
				}
			}
			var cmd json.RawMessage
			for _, it := range itemsCompleted(notes) {
				if field(it, "id") == "call_1" {
					cmd = it
				}
			}
			if out, _ := field(cmd, "aggregatedOutput").(string); !strings.Contains(out, "rc=1") {
				t.Errorf("command item %s: want the write refused (rc=1)", cmd)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the model's command wrote %s outside any writable root", marker)
			}
			reqs := e.model.Requests()
			if last := reqs[len(reqs)-1].LastInput(); !strings.Contains(last.Output, "rc=1") {
				t.Errorf("the model got %+v, want the refused write's output", last)
			}
		})
	}
}

// TestShellToolEnvironment: the model's commands do not see the server's
// credentials in their environment (variables naming a KEY, SECRET or
// TOKEN), and do see the rest.
func TestShellToolEnvironment(t *testing.T) {
	e := newEnv(t, "", `approval_policy="never"`)
	e.eng.opts.Env = func() []string {
		return append(os.Environ(), "OPENAI_API_KEY=sk-server", "My_Secret_Thing=s", "GITHUB_TOKEN=t", "PLAIN_VAR=visible")
	}
	e.model.Push(
		responsestest.ToolCall("call_env", "shell", shellCall("env | sort", false)),
		responsestest.Text("ok"),
	)
	c := e.connect()
	id := c.startThread()
	c.call("turn/start", `{"threadId":"`+id+`","input":[{"type":"text","text":"env"}]}`)
	c.until("turn/completed")
	reqs := e.model.Requests()
	out := reqs[len(reqs)-1].LastInput().Output
	for _, leak := range []string{"sk-server", "My_Secret_Thing", "GITHUB_TOKEN"} {
		if strings.Contains(out, leak) {
			t.Errorf("the model's command saw %s:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "PLAIN_VAR=visible") {
		t.Errorf("the model's command lost an ordinary variable:\n%s", out)
	}
}
