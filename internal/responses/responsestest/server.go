// Package responsestest is a scripted model provider: an HTTP server on
// 127.0.0.1 that answers POST /v1/responses with the replies a test
// scripts, as the OpenAI Responses API would (server-sent events), and
// records every request for assertions.
//
//	srv := responsestest.New(t,
//		responsestest.ToolCall("call_1", "exec_command", `{"cmd":"ls"}`),
//		responsestest.Text("Here ", "you are."),
//	)
//	client := srv.Client() // a *responses.Client pointed at srv
//	… run the agent …
//	reqs := srv.Requests() // reqs[1].Input ends with the function_call_output
//
// Replies are consumed in order, one per request; after the script runs
// out, the [Handler] set with [Server.SetHandler] answers (for dynamic
// scripts, e.g. an end-to-end test driving the real Codex client). The
// server also runs outside tests: [NewServer] needs no testing.TB.
package responsestest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
)

// Handler answers a request once the script is used up.
type Handler func(req ReceivedRequest) Reply

// ReceivedRequest is one request the server got, with its body decoded.
type ReceivedRequest struct {
	N      int // 1 for the first request
	Method string
	Path   string
	Header http.Header // includes Authorization
	Body   []byte

	Model             string
	Instructions      string
	Input             []responses.Item
	Tools             []responses.Tool
	ToolChoice        string // a string choice, or an object choice as JSON
	ParallelToolCalls bool
	Stream            bool
	Store             bool
	// DecodeError is why the body could not be decoded (the server then
	// answered 400); nil for a well-formed request.
	DecodeError error
}

// LastInput returns the last input item, or the zero Item.
func (r ReceivedRequest) LastInput() responses.Item {
	if len(r.Input) == 0 {
		return responses.Item{}
	}
	return r.Input[len(r.Input)-1]
}

// LastUserText returns the text of the last user message, or "".
func (r ReceivedRequest) LastUserText() string {
	for _, it := range slices.Backward(r.Input) {
		if it.Type == responses.TypeMessage && it.Role == responses.RoleUser {
			return it.Text
		}
	}
	return ""
}

// Server is the scripted provider. Its methods are safe for concurrent use.
type Server struct {
	ts      *httptest.Server
	t       testing.TB // nil outside tests
	closing chan struct{}
	once    sync.Once

	mu      sync.Mutex
	script  []Reply
	handler Handler
	reqs    []ReceivedRequest
}

// New starts a server answering with script, closed when the test ends. A
// request the script and handler do not cover fails the test.
func New(t testing.TB, script ...Reply) *Server {
	t.Helper()
	s := NewServer(script...)
	s.t = t
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a server answering with script; the caller must Close
// it. A request the script and handler do not cover gets a 500.
func NewServer(script ...Reply) *Server {
	s := &Server{closing: make(chan struct{}), script: slices.Clone(script)}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL returns the provider's base URL, "http://127.0.0.1:PORT/v1": a
// client posts to URL()+"/responses".
func (s *Server) URL() string { return s.ts.URL + "/v1" }

// Client returns a client for the server. Its connections are closed with
// the server.
func (s *Server) Client() *responses.Client {
	return &responses.Client{BaseURL: s.URL(), HTTPClient: s.ts.Client()}
}

// Push appends replies to the script.
func (s *Server) Push(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, replies...)
}

// SetHandler sets the handler that answers once the script is used up.
func (s *Server) SetHandler(h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// Requests returns a copy of every request received so far, in order of
// arrival.
func (s *Server) Requests() []ReceivedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Close stops the server: hanging and slow replies end, open connections
// are cut, and Close returns once every handler has. It is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

const apiPath = "/v1/responses"

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	req := ReceivedRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if err == nil {
		err = req.decode()
	}
	req.DecodeError = err

	s.mu.Lock()
	req.N = len(s.reqs) + 1
	s.reqs = append(s.reqs, req)
	var reply Reply
	ok := false
	if r.Method == http.MethodPost && r.URL.Path == apiPath && err == nil {
		if len(s.script) > 0 {
			reply, s.script, ok = s.script[0], s.script[1:], true
		} else if h := s.handler; h != nil {
			s.mu.Unlock()
			reply, ok = h(req), true
			s.mu.Lock()
		}
	}
	s.mu.Unlock()

	switch {
	case r.Method != http.MethodPost || r.URL.Path != apiPath:
		s.write(w, r, Error(http.StatusNotFound, fmt.Sprintf("responsestest: no route for %s %s", r.Method, r.URL.Path)))
	case err != nil:
		s.write(w, r, Error(http.StatusBadRequest, "responsestest: cannot decode the request body: "+err.Error()))
	case !ok:
		if s.t != nil {
			s.t.Errorf("responsestest: request #%d has no scripted reply", req.N)
		}
		s.write(w, r, Error(http.StatusInternalServerError, fmt.Sprintf("responsestest: request #%d has no scripted reply", req.N)))
	default:
		s.write(w, r, reply)
	}
}

// decode fills the typed fields from the body.
func (req *ReceivedRequest) decode() error {
	var b struct {
		Model             string           `json:"model"`
		Instructions      string           `json:"instructions"`
		Input             json.RawMessage  `json:"input"`
		Tools             []responses.Tool `json:"tools"`
		ToolChoice        json.RawMessage  `json:"tool_choice"`
		ParallelToolCalls bool             `json:"parallel_tool_calls"`
		Stream            bool             `json:"stream"`
		Store             bool             `json:"store"`
	}
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return err
	}
	req.Model, req.Instructions, req.Tools = b.Model, b.Instructions, b.Tools
	req.ParallelToolCalls, req.Stream, req.Store = b.ParallelToolCalls, b.Stream, b.Store
	var text string
	switch {
	case len(b.Input) == 0 || string(b.Input) == "null":
	case json.Unmarshal(b.Input, &text) == nil:
		req.Input = []responses.Item{responses.UserText(text)}
	default:
		if err := json.Unmarshal(b.Input, &req.Input); err != nil {
			return fmt.Errorf("input: %w", err)
		}
	}
	if len(b.ToolChoice) > 0 && json.Unmarshal(b.ToolChoice, &req.ToolChoice) != nil {
		req.ToolChoice = string(b.ToolChoice)
	}
	return nil
}

// write sends one reply.
func (s *Server) write(w http.ResponseWriter, r *http.Request, rep Reply) {
	if rep.Hang {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			panic(http.ErrAbortHandler) // drop the connection, send nothing
		}
	}
	for k, vs := range rep.Header {
		w.Header()[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	if len(rep.Events) == 0 && (rep.Body != "" || status != http.StatusOK) {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, rep.Body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	for i, ev := range rep.Events {
		if rep.Disconnect && i >= rep.DisconnectAfter {
			break
		}
		if ev.Delay > 0 {
			t := time.NewTimer(ev.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.closing:
				t.Stop()
				panic(http.ErrAbortHandler)
			}
		}
		if _, err := w.Write(ev.bytes()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
	if rep.Disconnect {
		// Abort: the server closes the connection without ending the
		// chunked body, as a provider crashing mid-stream would.
		panic(http.ErrAbortHandler)
	}
}
