package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// This file holds the protocol's thread, turn and item shapes, as the
// reference sends them (field sets from the traces in shared/docs).

// threadStatus is ThreadStatus: {"type":"idle"}, {"type":"notLoaded"},
// {"type":"active","activeFlags":[…]}.
type threadStatus struct {
	Type        string    `json:"type"`
	ActiveFlags *[]string `json:"activeFlags,omitempty"`
}

func statusIdle() threadStatus      { return threadStatus{Type: "idle"} }
func statusNotLoaded() threadStatus { return threadStatus{Type: "notLoaded"} }
func statusActive(waiting bool) threadStatus {
	flags := []string{}
	if waiting {
		flags = []string{"waitingOnApproval"}
	}
	return threadStatus{Type: "active", ActiveFlags: &flags}
}

type environment struct {
	Cwd                   string   `json:"cwd"`
	EnvironmentID         string   `json:"environmentId"`
	RuntimeWorkspaceRoots []string `json:"runtimeWorkspaceRoots"`
}

// threadJSON is the protocol's Thread.
type threadJSON struct {
	ID                   string          `json:"id"`
	SessionID            string          `json:"sessionId"`
	AgentNickname        *string         `json:"agentNickname"`
	AgentRole            *string         `json:"agentRole"`
	AttachedToThreadID   *string         `json:"attachedToThreadId"`
	CanAcceptDirectInput *bool           `json:"canAcceptDirectInput"`
	CliVersion           string          `json:"cliVersion"`
	CreatedAt            int64           `json:"createdAt"`
	UpdatedAt            int64           `json:"updatedAt"`
	RecencyAt            int64           `json:"recencyAt"`
	Cwd                  string          `json:"cwd"`
	DaybreakEnabled      *bool           `json:"daybreakEnabled"`
	Environments         []environment   `json:"environments"`
	Ephemeral            bool            `json:"ephemeral"`
	Extra                json.RawMessage `json:"extra"`
	ForkedFromID         *string         `json:"forkedFromId"`
	GitInfo              json.RawMessage `json:"gitInfo"`
	HistoryMode          string          `json:"historyMode"`
	Model                string          `json:"model"`
	ModelProvider        string          `json:"modelProvider"`
	Name                 *string         `json:"name"`
	Originator           string          `json:"originator"`
	ParentThreadID       *string         `json:"parentThreadId"`
	Path                 *string         `json:"path"`
	Preview              string          `json:"preview"`
	ProjectID            *string         `json:"projectId"`
	ReasoningEffort      *string         `json:"reasoningEffort"`
	Section              json.RawMessage `json:"section"`
	SectionEnteredAt     *int64          `json:"sectionEnteredAt"`
	Source               string          `json:"source"`
	Status               threadStatus    `json:"status"`
	ThreadSource         *string         `json:"threadSource"`
	Turns                []turnJSON      `json:"turns"`
}

var jsonNull = json.RawMessage("null")

// turnJSON is the protocol's Turn.
type turnJSON struct {
	ID          string            `json:"id"`
	RootTurnID  string            `json:"rootTurnId"`
	Items       []json.RawMessage `json:"items"`
	ItemsView   string            `json:"itemsView"`
	Status      string            `json:"status"`
	Error       *turnError        `json:"error"`
	StartedAt   *int64            `json:"startedAt"`
	CompletedAt *int64            `json:"completedAt"`
	DurationMs  *int64            `json:"durationMs"`
}

type turnError struct {
	Message           string          `json:"message"`
	AdditionalDetails *string         `json:"additionalDetails"`
	CodexErrorInfo    json.RawMessage `json:"codexErrorInfo"`
}

// userInput is one element of turn/start's input (UserInput). Only text is
// sent to the model; other kinds are kept in the item as given.
type userInput struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	TextElements json.RawMessage `json:"text_elements,omitempty"`
	Raw          json.RawMessage `json:"-"`
}

// Items. Each is marshalled flat, as the protocol's ThreadItem.

type userMessageItem struct {
	Type          string            `json:"type"`
	ID            string            `json:"id"`
	ClientID      *string           `json:"clientId"`
	Content       []json.RawMessage `json:"content"`
	StartedAtMs   int64             `json:"startedAtMs"`
	CompletedAtMs *int64            `json:"completedAtMs"`
}

type agentMessageItem struct {
	Type           string          `json:"type"`
	ID             string          `json:"id"`
	Text           string          `json:"text"`
	Phase          json.RawMessage `json:"phase"`
	Delivery       json.RawMessage `json:"delivery"`
	MemoryCitation json.RawMessage `json:"memoryCitation"`
	Moderation     json.RawMessage `json:"moderation"`
	Questions      json.RawMessage `json:"questions"`
	StartedAtMs    int64           `json:"startedAtMs"`
	CompletedAtMs  *int64          `json:"completedAtMs"`
}

func newAgentMessage(id string, started int64) *agentMessageItem {
	return &agentMessageItem{Type: "agentMessage", ID: id, Phase: jsonNull, Delivery: jsonNull, MemoryCitation: jsonNull, Moderation: jsonNull, Questions: jsonNull, StartedAtMs: started}
}

type commandAction struct {
	Type    string `json:"type"`
	Command string `json:"command"`
}

type commandItem struct {
	Type             string          `json:"type"`
	ID               string          `json:"id"`
	Command          string          `json:"command"`
	Cwd              string          `json:"cwd"`
	ProcessID        *string         `json:"processId"`
	Source           string          `json:"source"`
	Status           string          `json:"status"`
	CommandActions   []commandAction `json:"commandActions"`
	AggregatedOutput *string         `json:"aggregatedOutput"`
	ExitCode         *int            `json:"exitCode"`
	DurationMs       *int64          `json:"durationMs"`
	StartedAtMs      int64           `json:"startedAtMs"`
	CompletedAtMs    *int64          `json:"completedAtMs"`
	PluginID         *string         `json:"pluginId"`
	ScriptPath       *string         `json:"scriptPath"`
}

// tokenUsage is the protocol's TokenUsageBreakdown.
type tokenUsage struct {
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens"`
	CachedInputTokens     int64 `json:"cachedInputTokens"`
	InputTokens           int64 `json:"inputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
	ReasoningOutputTokens int64 `json:"reasoningOutputTokens"`
	TotalTokens           int64 `json:"totalTokens"`
}

func (u *tokenUsage) add(o tokenUsage) {
	u.CachedInputTokens += o.CachedInputTokens
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.ReasoningOutputTokens += o.ReasoningOutputTokens
	u.TotalTokens += o.TotalTokens
}

func nowMs() int64 { return time.Now().UnixMilli() }

func ptr[T any](v T) *T { return &v }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("agent: marshalling " + err.Error())
	}
	return b
}

// newID returns a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then
// random bits, so ids sort by creation time as the reference's do.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
