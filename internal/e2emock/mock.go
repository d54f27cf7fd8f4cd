// Package e2emock is the scripted model provider of the end-to-end tests
// with the real Codex terminal client: it answers by what the user typed.
//
//   - "run:CMD" asks for the shell tool with escalated permissions;
//   - a tool result is answered "done: <last line of its output>";
//   - "slow" streams a long answer slowly (to be interrupted);
//   - the client's own title requests ("Generate a concise…") get a title;
//   - anything else gets "Hello from mock".
package e2emock

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
	"github.com/appserver-go/appserver/internal/responses/responsestest"
)

var calls atomic.Int64

// Handler answers one request of the scripted conversation.
func Handler(req responsestest.ReceivedRequest) responsestest.Reply {
	last := req.LastInput()
	if last.Type == responses.TypeFunctionCallOutput {
		out := strings.TrimSpace(last.Output)
		line := out[strings.LastIndex(out, "\n")+1:]
		return responsestest.Text("done: ", line)
	}
	text := req.LastUserText()
	switch {
	case strings.HasPrefix(text, "Generate a concise"):
		return responsestest.Text("Mock task")
	case strings.Contains(text, "run:"):
		cmd := strings.TrimSpace(text[strings.Index(text, "run:")+4:])
		args, _ := json.Marshal(map[string]string{
			"command": cmd, "sandbox_permissions": "require_escalated",
			"justification": "Mock model asks to run: " + cmd,
		})
		return responsestest.ToolCall("call_"+strconv.FormatInt(calls.Add(1), 10), "shell", string(args))
	case strings.Contains(text, "slow"):
		parts := make([]string, 200)
		for i := range parts {
			parts[i] = "word" + strconv.Itoa(i) + " "
		}
		return responsestest.Slow(100*time.Millisecond, responsestest.Text(parts...))
	}
	return responsestest.Text("Hello ", "from ", "mock")
}

// Start runs the provider on loopback; base is its base_url.
func Start() (base string, stop func()) {
	s := responsestest.NewServer()
	s.SetHandler(Handler)
	return s.URL(), s.Close
}
