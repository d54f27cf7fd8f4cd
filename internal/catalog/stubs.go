package catalog

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"

	"github.com/appserver-go/appserver"
)

// The methods below answer what a client asks at startup about things this
// server has none of, with the reference's shapes, so that the TUI shows
// no warning (PROTOCOL.md §2.5).

type empty = []struct{}

// page is the common empty page {data: [], nextCursor: null}.
type page struct {
	Data       empty   `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func emptyPage() page { return page{Data: empty{}} }

type skillsListParams struct {
	Cwds        []string `json:"cwds"`
	ForceReload bool     `json:"forceReload"`
}

type skillsEntry struct {
	Cwd    string `json:"cwd"`
	Skills empty  `json:"skills"`
	Errors empty  `json:"errors"`
}

type skillsListResult struct {
	Data []skillsEntry `json:"data"`
}

// skillsList answers one empty entry per cwd (the server's when none).
func (c *Catalog) skillsList(_ context.Context, _ *appserver.Session, p skillsListParams) (skillsListResult, error) {
	cwds := p.Cwds
	if len(cwds) == 0 {
		cwds = []string{c.opts.Cwd}
	}
	res := skillsListResult{Data: make([]skillsEntry, len(cwds))}
	for i, cwd := range cwds {
		res.Data[i] = skillsEntry{Cwd: cwd, Skills: empty{}, Errors: empty{}}
	}
	return res, nil
}

type hooksListParams struct {
	Cwds     []string `json:"cwds"`
	ThreadID *string  `json:"threadId"`
}

type hooksEntry struct {
	Cwd      string   `json:"cwd"`
	Hooks    empty    `json:"hooks"`
	Warnings []string `json:"warnings"`
	Errors   empty    `json:"errors"`
}

type hooksListResult struct {
	Data []hooksEntry `json:"data"`
}

// hooksList answers one empty entry per cwd, or for the thread's cwd.
func (c *Catalog) hooksList(_ context.Context, _ *appserver.Session, p hooksListParams) (hooksListResult, error) {
	cwds := p.Cwds
	if p.ThreadID != nil {
		cwd, err := c.checkThread(*p.ThreadID, "thread not found")
		if err != nil {
			return hooksListResult{}, err
		}
		if cwd == "" {
			cwd = c.opts.Cwd
		}
		cwds = []string{cwd}
	}
	if len(cwds) == 0 {
		cwds = []string{c.opts.Cwd}
	}
	res := hooksListResult{Data: make([]hooksEntry, len(cwds))}
	for i, cwd := range cwds {
		res.Data[i] = hooksEntry{Cwd: cwd, Hooks: empty{}, Warnings: []string{}, Errors: empty{}}
	}
	return res, nil
}

// absolutePaths refuses relative paths as the reference's AbsolutePathBuf.
type absolutePaths []string

func (a absolutePaths) Validate() error {
	for _, p := range a {
		if !filepath.IsAbs(p) {
			return appserver.InvalidRequest("AbsolutePathBuf deserialized without a base path")
		}
	}
	return nil
}

type pluginInstalledParams struct {
	Cwds                         absolutePaths `json:"cwds"`
	InstallSuggestionPluginNames []string      `json:"installSuggestionPluginNames"`
}

func (p *pluginInstalledParams) Validate() error { return p.Cwds.Validate() }

type pluginInstalledResult struct {
	Marketplaces          empty `json:"marketplaces"`
	MarketplaceLoadErrors empty `json:"marketplaceLoadErrors"`
}

func (c *Catalog) pluginInstalled(_ context.Context, _ *appserver.Session, _ pluginInstalledParams) (pluginInstalledResult, error) {
	return pluginInstalledResult{Marketplaces: empty{}, MarketplaceLoadErrors: empty{}}, nil
}

type pluginListParams struct {
	Cwds             absolutePaths `json:"cwds"`
	ForceRefetch     bool          `json:"forceRefetch"`
	MarketplaceKinds []string      `json:"marketplaceKinds"`
}

func (p *pluginListParams) Validate() error { return p.Cwds.Validate() }

type pluginListResult struct {
	Marketplaces          empty    `json:"marketplaces"`
	MarketplaceLoadErrors empty    `json:"marketplaceLoadErrors"`
	FeaturedPluginIDs     []string `json:"featuredPluginIds"`
}

func (c *Catalog) pluginList(_ context.Context, _ *appserver.Session, _ pluginListParams) (pluginListResult, error) {
	return pluginListResult{Marketplaces: empty{}, MarketplaceLoadErrors: empty{}, FeaturedPluginIDs: []string{}}, nil
}

// pageParams are the paging fields of the list methods; the other fields
// of each method's params are accepted and ignored.
type pageParams struct {
	Cursor *string `json:"cursor"`
	Limit  *uint32 `json:"limit"`
}

func (c *Catalog) appList(_ context.Context, _ *appserver.Session, _ pageParams) (page, error) {
	return emptyPage(), nil
}

func (c *Catalog) mcpServerStatusList(_ context.Context, _ *appserver.Session, _ pageParams) (page, error) {
	return emptyPage(), nil
}

// experimentalFeatureList answers no features: there are none to toggle.
func (c *Catalog) experimentalFeatureList(_ context.Context, _ *appserver.Session, _ pageParams) (page, error) {
	return emptyPage(), nil
}

type collaborationMode struct {
	Mode            string  `json:"mode"`
	Model           *string `json:"model"`
	Name            string  `json:"name"`
	ReasoningEffort *string `json:"reasoning_effort"`
}

type collaborationModeListResult struct {
	Data []collaborationMode `json:"data"`
}

// collaborationModeList offers the default mode only: the reference also
// has "plan", which the agent does not implement, and the TUI would
// otherwise offer to switch to it.
func (c *Catalog) collaborationModeList(_ context.Context, _ *appserver.Session, _ emptyParams) (collaborationModeListResult, error) {
	return collaborationModeListResult{Data: []collaborationMode{{Mode: "default", Name: "Default"}}}, nil
}

// threadParams are params whose one required field is threadId.
type threadParams struct {
	ThreadID *string `json:"threadId"`
	Cursor   *string `json:"cursor"`
	Limit    *uint32 `json:"limit"`
}

func (p *threadParams) Validate() error {
	if p.ThreadID == nil {
		return appserver.MissingField("threadId")
	}
	return nil
}

type goalResult struct {
	Goal any `json:"goal"`
}

// threadGoalGet answers no goal: this server does not keep goals.
func (c *Catalog) threadGoalGet(_ context.Context, _ *appserver.Session, p threadParams) (goalResult, error) {
	if _, err := c.checkThread(*p.ThreadID, "thread not found"); err != nil {
		return goalResult{}, err
	}
	return goalResult{}, nil
}

func (c *Catalog) backgroundTerminalsList(_ context.Context, _ *appserver.Session, p threadParams) (page, error) {
	if _, err := c.checkThread(*p.ThreadID, "thread not found"); err != nil {
		return page{}, err
	}
	return emptyPage(), nil
}

type threadSearchParams struct {
	SearchTerm *string `json:"searchTerm"`
	Cursor     *string `json:"cursor"`
	Limit      *uint32 `json:"limit"`
}

func (p *threadSearchParams) Validate() error {
	if p.SearchTerm == nil {
		return appserver.MissingField("searchTerm")
	}
	return nil
}

type threadSearchResult struct {
	Data            empty   `json:"data"`
	NextCursor      *string `json:"nextCursor"`
	BackwardsCursor *string `json:"backwardsCursor"`
}

// threadSearch finds nothing: full-text search over threads is not
// implemented (the TUI's @ popup then shows its local files only).
func (c *Catalog) threadSearch(_ context.Context, _ *appserver.Session, _ threadSearchParams) (threadSearchResult, error) {
	return threadSearchResult{Data: empty{}}, nil
}

type readStateOperation struct {
	Type *string `json:"type"`
}

type readStateUpdateParams struct {
	ThreadID         *string             `json:"threadId"`
	ExpectedRevision *string             `json:"expectedRevision"`
	Operation        *readStateOperation `json:"operation"`
}

func (p *readStateUpdateParams) Validate() error {
	switch {
	case p.ThreadID == nil:
		return appserver.MissingField("threadId")
	case p.ExpectedRevision == nil:
		return appserver.MissingField("expectedRevision")
	case p.Operation == nil:
		return appserver.MissingField("operation")
	case p.Operation.Type == nil:
		return appserver.MissingField("type")
	case *p.Operation.Type != "read" && *p.Operation.Type != "unread":
		return appserver.InvalidRequest("unknown variant `" + clip(*p.Operation.Type) + "`, expected `read` or `unread`")
	}
	return nil
}

type unreadPosition struct {
	Type string `json:"type"`
}

type readState struct {
	FirstUnread *unreadPosition `json:"firstUnread"`
	Revision    string          `json:"revision"`
}

type readStateChanged struct {
	ReadState readState `json:"readState"`
	ThreadID  string    `json:"threadId"`
}

type readStateUpdateResult struct {
	ReadState readState `json:"readState"`
}

// threadReadStateUpdate marks a thread read (firstUnread null) or unread
// from its start, under a fresh revision, and announces the new state with
// thread/readState/changed (a stable notification) to every connection
// before answering, as the reference does. No read state is kept, so
// expectedRevision is not checked: there is never a conflict.
func (c *Catalog) threadReadStateUpdate(_ context.Context, _ *appserver.Session, p readStateUpdateParams) (readStateUpdateResult, error) {
	if _, err := c.checkThread(*p.ThreadID, "thread not loaded"); err != nil {
		return readStateUpdateResult{}, err
	}
	st := readState{Revision: newUUID()}
	if *p.Operation.Type == "unread" {
		st.FirstUnread = &unreadPosition{Type: "threadStart"}
	}
	_ = c.srv.Broadcast("thread/readState/changed", readStateChanged{ReadState: st, ThreadID: *p.ThreadID})
	return readStateUpdateResult{ReadState: st}, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
