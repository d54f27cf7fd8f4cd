package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
	"github.com/appserver-go/appserver/internal/responses/responsestest"
	"github.com/appserver-go/appserver/internal/testutil"
)

// stdioServer is the binary serving JSON-RPC on its stdin and stdout.
type stdioServer struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *testutil.SyncBuffer
	nextID int
}

func startStdio(t *testing.T, home string) *stdioServer {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "APPSERVER_HOME="+home)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	s := &stdioServer{t: t, cmd: cmd, in: in, lines: make(chan string, 1024), stderr: &testutil.SyncBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s.call("initialize", `{"clientInfo":{"name":"durability","version":"1"}}`)
	return s
}

// frame is any JSON-RPC message the server sends.
type frame struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

func (s *stdioServer) next() frame {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			s.t.Fatalf("the server's stdout ended:\n%s", s.stderr)
		}
		var f frame
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			s.t.Fatalf("bad frame %q: %v", l, err)
		}
		return f
	case <-time.After(20 * time.Second):
		s.t.Fatalf("no frame from the server in 20s:\n%s", s.stderr)
	}
	return frame{}
}

// call sends a request and returns its result, skipping notifications.
func (s *stdioServer) call(method, params string) json.RawMessage {
	s.t.Helper()
	s.nextID++
	id := fmt.Sprint(s.nextID)
	if _, err := fmt.Fprintf(s.in, `{"id":%s,"method":%q,"params":%s}`+"\n", id, method, params); err != nil {
		s.t.Fatal(err)
	}
	for {
		f := s.next()
		if string(f.ID) == id && f.Method == "" {
			if f.Error != nil {
				s.t.Fatalf("%s: %s", method, f.Error)
			}
			return f.Result
		}
	}
}

// TestSIGKILLKeepsAcknowledgedItems kills the server with SIGKILL at
// several points of a turn — right after an item/completed notification,
// and in the middle of a streamed answer — restarts it on the same state
// directory, and checks that every item a client was told about is
// there, completed, and that the cut turn is no longer in progress.
func TestSIGKILLKeepsAcknowledgedItems(t *testing.T) {
	model := responsestest.New(t)
	model.SetHandler(func(req responsestest.ReceivedRequest) responsestest.Reply {
		outputs := 0
		for _, it := range req.Input {
			if it.Type == responses.TypeFunctionCallOutput {
				outputs++
			}
		}
		if outputs < 2 {
			cmd := fmt.Sprintf(`{"command":"echo step-%d"}`, outputs+1)
			return responsestest.ToolCall(fmt.Sprintf("call_%d_%d", req.N, outputs), "shell", cmd)
		}
		words := make([]string, 100)
		for i := range words {
			words[i] = fmt.Sprintf("w%d ", i)
		}
		return responsestest.Slow(20*time.Millisecond, responsestest.Text(words...))
	})
	// Kill after the n-th item/completed (user message, first command,
	// second command), or after the 5th delta of the final answer.
	for _, killAt := range []string{"completed:1", "completed:2", "completed:3", "delta:5"} {
		t.Run(killAt, func(t *testing.T) {
			home := t.TempDir()
			writeMockConfig(t, home, model.URL(), "never")
			s := startStdio(t, home)
			var thread struct {
				Thread struct{ ID string }
			}
			json.Unmarshal(s.call("thread/start", `{}`), &thread)
			var turn struct {
				Turn struct{ ID string }
			}
			json.Unmarshal(s.call("turn/start", `{"threadId":"`+thread.Thread.ID+`","input":[{"type":"text","text":"go"}]}`), &turn)

			kind, nStr, _ := strings.Cut(killAt, ":")
			var n int
			fmt.Sscan(nStr, &n)
			acked := map[string]string{} // item id -> type
			completed, deltas := 0, 0
			for done := false; !done; {
				f := s.next()
				switch f.Method {
				case "item/completed":
					var p struct {
						Item struct{ ID, Type string }
					}
					json.Unmarshal(f.Params, &p)
					acked[p.Item.ID] = p.Item.Type
					completed++
					done = kind == "completed" && completed == n
				case "item/agentMessage/delta":
					deltas++
					done = kind == "delta" && deltas == n
				case "turn/completed":
					t.Fatalf("the turn ended before the kill point %s", killAt)
				}
			}
			s.cmd.Process.Kill()
			s.cmd.Wait()

			s = startStdio(t, home)
			var items struct {
				Data []struct {
					Item struct{ ID, Type, Status string }
				}
			}
			raw := s.call("thread/items/list", `{"threadId":"`+thread.Thread.ID+`","limit":100}`)
			if err := json.Unmarshal(raw, &items); err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, it := range items.Data {
				found[it.Item.ID] = true
				if it.Item.Status == "inProgress" {
					t.Errorf("item %s is still in progress after the restart", it.Item.ID)
				}
			}
			for id, typ := range acked {
				if !found[id] {
					t.Errorf("acknowledged %s item %s is missing after SIGKILL: %s", typ, id, raw)
				}
			}
			if len(acked) != n && kind == "completed" {
				t.Errorf("acknowledged %d items, want %d", len(acked), n)
			}
			var read struct {
				Thread struct {
					Turns []struct{ ID, Status string }
				}
			}
			json.Unmarshal(s.call("thread/read", `{"threadId":"`+thread.Thread.ID+`","includeTurns":true}`), &read)
			if len(read.Thread.Turns) != 1 || read.Thread.Turns[0].ID != turn.Turn.ID || read.Thread.Turns[0].Status != "interrupted" {
				t.Errorf("after the restart the turn reads %+v, want %s interrupted", read.Thread.Turns, turn.Turn.ID)
			}
			// The thread goes on: a new turn on it completes.
			model.Push(responsestest.Text("after the crash"))
			s.call("thread/resume", `{"threadId":"`+thread.Thread.ID+`"}`)
			s.call("turn/start", `{"threadId":"`+thread.Thread.ID+`","input":[{"type":"text","text":"again"}]}`)
			for {
				f := s.next()
				if f.Method == "turn/completed" {
					if !strings.Contains(string(f.Params), `"status":"completed"`) {
						t.Errorf("the turn after the restart: %s", f.Params)
					}
					break
				}
			}
		})
	}
}
