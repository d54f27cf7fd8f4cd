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
	// outputSchema, from turn/start, constrains the final answer.
	outputSchema json.RawMessage
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
	turn := r.rec.json("completed")
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
		r.fail(&turnError{Message: "persisting the turn: " + err.Error()})
		return
	}
	// The user's message.
	started := nowMs()
	user := userMessageItem{Type: "userMessage", ID: newID(), ClientID: clientID, Content: input, StartedAtMs: started}
	r.itemStarted(user, started)
	user.CompletedAtMs = ptr(started)
	prompt := strings.Join(texts, "\n")
	if err := r.addItem(user, started, started, responses.UserText(prompt)); err != nil {
		r.fail(&turnError{Message: "persisting the user message: " + err.Error()})
		return
	}
	t.touch(previewOf(prompt))

	for step := 0; ; step++ {
		if step >= maxSteps {
			r.fail(&turnError{Message: fmt.Sprintf("the model called tools %d times in one turn; stopping", maxSteps)})
			return
		}
		calls, usage, err := r.respond()
		if err != nil {
			if r.interrupted() {
				r.end("interrupted", nil)
				return
			}
			terr := &turnError{Message: err.Error()}
			var pe *providerError
			if errors.As(err, &pe) {
				terr = pe.terr
			}
			r.fail(terr)
			return
		}
		for _, c := range calls {
			r.toolCall(c)
			if r.interrupted() {
				break
			}
		}
		// As on the reference, a response's token usage is announced after
		// the tool calls it asked for have run.
		if usage != nil {
			r.announceUsage(*usage)
		}
		if r.interrupted() {
			r.end("interrupted", nil)
			return
		}
		if len(calls) == 0 {
			r.end("completed", nil)
			return
		}
	}
}

// fail ends the turn as failed. The client first hears why in an error
// notification with willRetry false, as from the reference; turn.error
// carries the same error.
func (r *turnRun) fail(terr *turnError) {
	r.t.notify("error", map[string]any{"threadId": r.t.id, "turnId": r.id, "willRetry": false, "error": terr})
	r.end("failed", terr)
}

// providerError is a model provider failure the turn gives up on.
type providerError struct{ terr *turnError }

func (e *providerError) Error() string { return e.terr.Message }

// giveUp describes a provider failure for turn.error; exhausted reports
// that it was retryable but the retries ran out.
func giveUp(err error, exhausted bool) *providerError {
	var info any = "other"
	var se *responses.StatusError
	switch {
	case exhausted:
		info = map[string]any{"responseTooManyFailedAttempts": map[string]any{"httpStatusCode": statusCode(err)}}
	case !errors.As(err, &se):
	case se.StatusCode == 401:
		info = "unauthorized"
	case se.StatusCode >= 500:
		info = "internalServerError"
	case se.StatusCode >= 400:
		info = "badRequest"
	}
	return &providerError{&turnError{Message: providerMessage(err), CodexErrorInfo: mustJSON(info)}}
}

// maxSteps bounds model round trips in one turn.
const maxSteps = 64

// respond runs one model request with retries and returns the tool calls
// of its answer and its token usage, if it reported any: already counted,
// not yet announced. A failure the turn gives up on is a *providerError.
func (r *turnRun) respond() ([]responses.OutputItem, *tokenUsage, error) {
	t := r.t
	t.mu.Lock()
	s := t.settings
	req := &responses.Request{
		Model:        s.Model,
		Instructions: instructions(t.e.opts.Config.DeveloperInstructions),
		Input:        append([]responses.Item(nil), t.history...),
		Tools:        []responses.Tool{shellTool()},
		OutputSchema: r.outputSchema,
	}
	t.mu.Unlock()
	client, err := t.e.client(s.ModelProvider)
	if err != nil {
		return nil, nil, err
	}
	for retry := 0; ; retry++ {
		calls, usage, err := r.stream(client, req)
		if err == nil {
			return calls, usage, nil
		}
		if r.interrupted() {
			return nil, nil, context.Cause(r.ctx)
		}
		if !responses.Retryable(err) || retry >= responses.MaxRetries {
			return nil, nil, giveUp(err, responses.Retryable(err))
		}
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
			return nil, nil, context.Cause(r.ctx)
		}
	}
}

// stream runs one attempt and returns the answer's tool calls and its
// token usage (counted, not announced). A message cut short by a failure
// is completed with what arrived, so the client never sees an item that
// never ends.
func (r *turnRun) stream(client *responses.Client, req *responses.Request) (calls []responses.OutputItem, usage *tokenUsage, err error) {
	t := r.t
	st, err := client.Stream(r.ctx, req)
	if err != nil {
		return nil, nil, err
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
		return m
	}
	for {
		ev, err := st.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			finishPartial()
			return nil, nil, err
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
					return nil, nil, err
				}
			case responses.TypeFunctionCall:
				calls = append(calls, ev.Item)
			default:
				// Reasoning and other items go back to the model as they
				// came, with the next message or tool output.
				pendingHistory = append(pendingHistory, ev.Item.Input())
			}
		case responses.Completed:
			usage = ptr(r.account(ev.Usage))
		case responses.Incomplete:
			usage = ptr(r.account(ev.Usage))
		case responses.Failed:
			finishPartial()
			return nil, nil, ev
		}
	}
	finishPartial()
	if len(pendingHistory) > 0 {
		t.mu.Lock()
		t.history = append(t.history, pendingHistory...)
		t.mu.Unlock()
	}
	return calls, usage, nil
}

// account adds a response's tokens to the turn's and the thread's totals
// and returns them as the protocol's breakdown.
func (r *turnRun) account(u responses.Usage) tokenUsage {
	t := r.t
	last := tokenUsage{InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, OutputTokens: u.OutputTokens,
		ReasoningOutputTokens: u.ReasoningOutputTokens, TotalTokens: u.TotalTokens}
	t.mu.Lock()
	r.usage.add(last)
	t.usage.add(last)
	t.mu.Unlock()
	return last
}

// announceUsage sends thread/tokenUsage/updated for the last response.
func (r *turnRun) announceUsage(last tokenUsage) {
	t := r.t
	t.mu.Lock()
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
