package agent

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/appserver-go/appserver"
)

var errInterrupted = errors.New("turn interrupted")

// approval is a pending item/commandExecution/requestApproval. It is sent
// to every subscriber under one id; the first answer wins. When a
// connection closes without answering, the request stays pending and is
// replayed, same id, to the next client that resumes the thread.
type approval struct {
	id     int64
	turnID string
	params map[string]any
	ch     chan string // the decision; "" when the request failed
	ctx    context.Context
	cancel context.CancelFunc
}

// approve asks the client whether item may run with escalated permissions
// and returns the decision: "accept", "acceptForSession", "decline",
// "cancel", or "" if the request failed or the turn was interrupted.
func (r *turnRun) approve(item *commandItem, reason string) string {
	t := r.t
	id := t.e.srv.NewCallID()
	if reason == "" {
		reason = "The command needs to run outside the sandbox."
	}
	a := &approval{id: id, turnID: r.id, ch: make(chan string, 1)}
	a.params = map[string]any{
		"kind": "command", "threadId": t.id, "turnId": r.id, "itemId": item.ID, "startedAtMs": item.StartedAtMs,
		"environmentId": "local", "reason": reason, "command": item.Command, "cwd": item.Cwd,
		"commandActions":     item.CommandActions,
		"availableDecisions": []any{"accept", "acceptForSession", "decline", "cancel"},
	}
	a.ctx, a.cancel = context.WithCancel(r.ctx)
	t.mu.Lock()
	t.approvals[id] = a
	subs := make([]*appserver.Session, 0, len(t.subscribers))
	for s := range t.subscribers {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	t.broadcastStatus()
	for _, s := range subs {
		go a.ask(s)
	}
	var decision string
	select {
	case decision = <-a.ch:
	case <-r.ctx.Done():
	}
	a.cancel()
	t.mu.Lock()
	delete(t.approvals, id)
	t.mu.Unlock()
	_ = t.e.srv.Broadcast("serverRequest/resolved", map[string]any{"threadId": t.id, "requestId": id})
	t.broadcastStatus()
	return decision
}

// ask sends the request to one client and reports its answer.
func (a *approval) ask(s *appserver.Session) {
	var res struct {
		Decision json.RawMessage `json:"decision"`
	}
	err := s.CallWithID(a.ctx, a.id, "item/commandExecution/requestApproval", a.params, &res)
	if a.ctx.Err() != nil || errors.Is(err, appserver.ErrConnectionClosed) {
		// Resolved elsewhere, interrupted, or this client left: a client
		// that resumes the thread gets the request again.
		return
	}
	decision := ""
	if err == nil {
		decision = parseDecision(res.Decision)
	}
	select {
	case a.ch <- decision:
	default:
	}
}

// parseDecision reads CommandExecutionApprovalDecision: a string, or an
// object such as {"acceptWithExecpolicyAmendment":{…}} (an accept).
func parseDecision(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "accept", "acceptForSession", "decline", "cancel":
			return s
		}
		return ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if _, ok := obj["acceptWithExecpolicyAmendment"]; ok {
			return "accept"
		}
		if _, ok := obj["applyNetworkPolicyAmendment"]; ok {
			return "accept"
		}
	}
	return ""
}

// replayApprovals sends t's pending approvals to a client that resumed it.
func (t *thread) replayApprovals(s *appserver.Session) {
	t.mu.Lock()
	pending := make([]*approval, 0, len(t.approvals))
	for _, a := range t.approvals {
		pending = append(pending, a)
	}
	t.mu.Unlock()
	for _, a := range pending {
		go a.ask(s)
	}
}
