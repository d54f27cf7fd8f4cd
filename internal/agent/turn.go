package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
)

// turnRun is a running turn.
type turnRun struct {
	id      string
	t       *thread
	ctx     context.Context
	cancel  context.CancelCauseFunc
	done    chan struct{}
	started time.Time
	rec     *turnRecord
	usage   tokenUsage // this turn's
}

// interrupted reports whether the turn was stopped by turn/interrupt (or
// the server shutting down), rather than failing.
func (r *turnRun) interrupted() bool { return r.ctx.Err() != nil }

// startTurn registers a new turn on t (which must be idle) and returns it;
// the caller runs it.
func (t *thread) startTurn(source string) (*turnRun, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active != nil {
		return nil, fmt.Errorf("thread %s already has a turn in progress (%s)", t.id, t.active.id)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &turnRun{id: newID(), t: t, ctx: ctx, cancel: cancel, done: make(chan struct{}), started: time.Now()}
	r.rec = &turnRecord{ID: r.id, Status: "inProgress", StartedAt: r.started.Unix(), Source: source}
	t.active = r
	t.turns = append(t.turns, r.rec)
	if t.unloadTimer != nil {
		t.unloadTimer.Stop()
		t.unloadTimer = nil
	}
	return r, nil
}

// begin announces the turn: status active, turn/started. It persists the
// turn's start (materializing the thread).
func (r *turnRun) begin() error {
	t := r.t
	t.mu.Lock()
	err := t.materialize()
	if err == nil {
		err = t.persist(record{Kind: "turn", TurnID: r.id, StartedAt: r.rec.StartedAt, Source: r.rec.Source})
	}
	t.mu.Unlock()
	t.broadcastStatus()
	t.notify("turn/started", map[string]any{"threadId": t.id, "turn": r.rec.json("notLoaded")})
	return err
}

// end finishes the turn: persists its end, announces idle and
// turn/completed, and releases the thread.
func (r *turnRun) end(status string, terr *turnError) {
	t := r.t
	now := time.Now()
	t.mu.Lock()
	r.rec.Status, r.rec.Error = status, terr
	r.rec.CompletedAt, r.rec.DurationMs = now.Unix(), now.Sub(r.started).Milliseconds()
	usage := r.usage
	_ = t.persist(record{Kind: "turnEnd", TurnID: r.id, Status: status, Error: terr, CompletedAt: r.rec.CompletedAt, DurationMs: r.rec.DurationMs, Usage: &usage})
	t.active = nil
	for id, a := range t.approvals {
		if a.turnID == r.id {
			a.cancel()
			delete(t.approvals, id)
		}
	}
	turn := r.rec.json("summary")
	t.mu.Unlock()
	t.touch("")
	t.broadcastStatus()
	t.notify("turn/completed", map[string]any{"threadId": t.id, "turn": turn})
	close(r.done)
	t.e.maybeUnload(t)
}

// addItem records a completed item: appended to the store before the
// client hears of it (acknowledged items survive a crash), then announced.
func (r *turnRun) addItem(item any, startedAt, completedAt int64, history ...responses.Item) error {
	raw := mustJSON(item)
	t := r.t
	t.mu.Lock()
	err := t.persist(record{Kind: "item", TurnID: r.id, Item: raw, StartedAtMs: startedAt, CompletedAtMs: completedAt, History: history})
	if err == nil {
		r.rec.Items = append(r.rec.Items, itemRecord{Item: raw, StartedAtMs: startedAt, CompletedAtMs: completedAt})
		t.history = append(t.history, history...)
	}
	t.mu.Unlock()
	if err != nil {
		return err
	}
	t.notify("item/completed", map[string]any{
		"threadId": t.id, "turnId": r.id, "item": raw, "completedAtMs": completedAt, "contentTokenCount": nil,
	})
	return nil
}

func (r *turnRun) itemStarted(item any, startedAt int64) {
	r.t.notify("item/started", map[string]any{"threadId": r.t.id, "turnId": r.id, "item": item, "startedAtMs": startedAt})
}

// runAgent is the agent loop of a turn started by turn/start: the user's
// message, then model responses and tool calls until the model answers
// without calling a tool.
func (r *turnRun) runAgent(input []json.RawMessage, texts []string, clientID *string) {
	t := r.t
	if err := r.begin(); err != nil {
		r.end("failed", &turnError{Message: "persisting the turn: " + err.Error()})
		return
	}
	// The user's message.
	started := nowMs()
	user := userMessageItem{Type: "userMessage", ID: newID(), ClientID: clientID, Content: input, StartedAtMs: started}
	r.itemStarted(user, started)
	user.CompletedAtMs = ptr(started)
	prompt := strings.Join(texts, "\n")
	if err := r.addItem(user, started, started, responses.UserText(prompt)); err != nil {
		r.end("failed", &turnError{Message: "persisting the user message: " + err.Error()})
		return
	}
	t.touch(previewOf(prompt))

	for step := 0; ; step++ {
		if step >= maxSteps {
			r.end("failed", &turnError{Message: fmt.Sprintf("the model called tools %d times in one turn; stopping", maxSteps)})
			return
		}
		calls, err := r.respond()
		if err != nil {
			if r.interrupted() {
				r.end("interrupted", nil)
				return
			}
			r.end("failed", &turnError{Message: err.Error()})
			return
		}
		if len(calls) == 0 {
			r.end("completed", nil)
			return
		}
		for _, c := range calls {
			out := r.toolCall(c)
			if r.interrupted() {
				r.end("interrupted", nil)
				return
			}
			_ = out
		}
	}
}

// maxSteps bounds model round trips in one turn.
const maxSteps = 64

// respond runs one model request with retries and returns the tool calls
// of its answer.
func (r *turnRun) respond() ([]responses.OutputItem, error) {
	t := r.t
	t.mu.Lock()
	s := t.settings
	req := &responses.Request{
		Model:        s.Model,
		Instructions: instructions(t.e.opts.Config.DeveloperInstructions),
		Input:        append([]responses.Item(nil), t.history...),
		Tools:        []responses.Tool{shellTool()},
	}
	t.mu.Unlock()
	client, err := t.e.client(s.ModelProvider)
	if err != nil {
		return nil, err
	}
	for retry := 0; ; retry++ {
		calls, emitted, err := r.stream(client, req)
		if err == nil {
			return calls, nil
		}
		if r.interrupted() {
			return nil, context.Cause(r.ctx)
		}
		if !responses.Retryable(err) || retry >= responses.MaxRetries {
			return nil, errors.New(providerMessage(err))
		}
		_ = emitted
		t.notify("error", map[string]any{
			"threadId": t.id, "turnId": r.id, "willRetry": true,
			"error": map[string]any{
				"message":           fmt.Sprintf("Reconnecting... %d/%d", retry+1, responses.MaxRetries),
				"additionalDetails": providerMessage(err),
				"codexErrorInfo":    map[string]any{"responseStreamDisconnected": map[string]any{"httpStatusCode": statusCode(err)}},
				"misalignment":      nil,
			},
		})
		select {
		case <-time.After(responses.Backoff(retry+1, responses.RetryAfter(err))):
		case <-r.ctx.Done():
			return nil, context.Cause(r.ctx)
		}
	}
}

// stream runs one attempt. emitted reports whether it showed the client
// any output; a message cut short by a failure is completed with what
// arrived, so the client never sees an item that never ends.
func (r *turnRun) stream(client *responses.Client, req *responses.Request) (calls []responses.OutputItem, emitted bool, err error) {
	t := r.t
	st, err := client.Stream(r.ctx, req)
	if err != nil {
		return nil, false, err
	}
	defer st.Close()
	messages := map[string]*agentMessageItem{}
	var order []string
	var pendingHistory []responses.Item
	finishPartial := func() {
		for _, id := range order {
			if m := messages[id]; m != nil && m.CompletedAtMs == nil {
				m.CompletedAtMs = ptr(nowMs())
				_ = r.addItem(m, m.StartedAtMs, *m.CompletedAtMs)
			}
		}
	}
	start := func(id string) *agentMessageItem {
		if m := messages[id]; m != nil {
			return m
		}
		if id == "" {
			t.mu.Lock()
			t.itemCounter++
			id = "msg_" + strconv.Itoa(t.itemCounter)
			t.mu.Unlock()
		}
		m := newAgentMessage(id, nowMs())
		messages[id] = m
		order = append(order, id)
		r.itemStarted(m, m.StartedAtMs)
		emitted = true
		return m
	}
	for {
		ev, err := st.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			finishPartial()
			return nil, emitted, err
		}
		switch ev := ev.(type) {
		case responses.TextDelta:
			m := start(ev.ItemID)
			m.Text += ev.Delta
			t.notify("item/agentMessage/delta", map[string]any{"threadId": t.id, "turnId": r.id, "itemId": m.ID, "delta": ev.Delta})
		case responses.ItemDone:
			switch ev.Item.Type {
			case responses.TypeMessage:
				m := start(ev.Item.ID)
				m.Text = ev.Item.Text
				m.CompletedAtMs = ptr(nowMs())
				hist := append(pendingHistory, ev.Item.Input())
				pendingHistory = nil
				if err := r.addItem(m, m.StartedAtMs, *m.CompletedAtMs, hist...); err != nil {
					return nil, emitted, err
				}
			case responses.TypeFunctionCall:
				calls = append(calls, ev.Item)
			default:
				// Reasoning and other items go back to the model as they
				// came, with the next message or tool output.
				pendingHistory = append(pendingHistory, ev.Item.Input())
			}
		case responses.Completed:
			r.addUsage(ev.Usage)
		case responses.Incomplete:
			r.addUsage(ev.Usage)
		case responses.Failed:
			finishPartial()
			return nil, emitted, ev
		}
	}
	finishPartial()
	if len(pendingHistory) > 0 {
		t.mu.Lock()
		t.history = append(t.history, pendingHistory...)
		t.mu.Unlock()
	}
	return calls, emitted, nil
}

// addUsage accounts a response's tokens and announces them.
func (r *turnRun) addUsage(u responses.Usage) {
	t := r.t
	last := tokenUsage{InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, OutputTokens: u.OutputTokens,
		ReasoningOutputTokens: u.ReasoningOutputTokens, TotalTokens: u.TotalTokens}
	t.mu.Lock()
	r.usage.add(last)
	t.usage.add(last)
	total := t.usage
	t.mu.Unlock()
	t.notify("thread/tokenUsage/updated", map[string]any{
		"threadId": t.id, "turnId": r.id,
		"tokenUsage": map[string]any{"last": last, "total": total, "modelContextWindow": t.e.opts.Config.ModelContextWindow},
	})
}

func providerMessage(err error) string {
	var se *responses.StatusError
	if errors.As(err, &se) {
		if se.Message != "" {
			return se.Message
		}
		return fmt.Sprintf("model provider answered HTTP %d", se.StatusCode)
	}
	var f responses.Failed
	if errors.As(err, &f) && f.Message != "" {
		return f.Message
	}
	return err.Error()
}

func statusCode(err error) any {
	var se *responses.StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return nil
}

// instructions are the model's base instructions.
func instructions(developer string) string {
	base := "You are a coding agent running on the user's machine through appserver. " +
		"Use the shell tool to inspect files and run commands; commands run in a sandbox, " +
		"and you may ask for escalated permissions when a command needs them, which the user approves. " +
		"Be concise."
	if developer != "" {
		return base + "\n\n" + developer
	}
	return base
}
