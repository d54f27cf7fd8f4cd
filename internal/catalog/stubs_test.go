package catalog_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

const threadID = "01a221b6-22d2-7561-8157-8c82d0a7be81"

// Experimental methods need the experimentalApi capability; the stable
// ones do not.
func TestExperimentalGating(t *testing.T) {
	e := newEnv(t, envOptions{})
	plain, exp := e.connect(false), e.connect(true)
	for _, tt := range []struct{ method, params string }{
		{"collaborationMode/list", `{}`},
		{"account/bedrock/checkGovCloudRequirements", `{}`},
		{"thread/search", `{"searchTerm":"x"}`},
		{"thread/readState/update", `{"threadId":"` + threadID + `","expectedRevision":"r","operation":{"type":"read"}}`},
		{"thread/backgroundTerminals/list", `{"threadId":"` + threadID + `"}`},
	} {
		plain.fails(tt.method, tt.params, invalid, tt.method+" requires experimentalApi capability")
		exp.ok(tt.method, tt.params)
	}
	for _, tt := range []struct{ method, params string }{
		{"account/read", `{}`}, {"model/list", `{}`}, {"config/read", `{}`}, {"configRequirements/read", ``},
		{"skills/list", `{}`}, {"hooks/list", `{}`}, {"plugin/installed", `{}`}, {"plugin/list", `{}`},
		{"experimentalFeature/list", `{}`}, {"thread/goal/get", `{"threadId":"` + threadID + `"}`},
		{"mcpServerStatus/list", `{}`}, {"app/list", `{}`}, {"getAuthStatus", `{}`},
		{"modelProvider/list", `{}`}, {"modelProvider/capabilities/read", `{}`}, {"permissionProfile/list", `{}`},
		{"account/rateLimits/read", ``},
	} {
		plain.ok(tt.method, tt.params)
	}
}

// The startup stubs answer exactly the reference's empty shapes.
func TestStubs(t *testing.T) {
	c := newEnv(t, envOptions{}).connect(true)
	jsonEq(t, c.ok("skills/list", `{"cwds":["/home/u/proj"],"forceReload":true}`), `{"data":[{"cwd":"/home/u/proj","errors":[],"skills":[]}]}`)
	jsonEq(t, c.ok("skills/list", `{"cwds":["/a","rel"]}`), `{"data":[{"cwd":"/a","errors":[],"skills":[]},{"cwd":"rel","errors":[],"skills":[]}]}`)
	jsonEq(t, c.ok("skills/list", `{}`), `{"data":[{"cwd":"/srv/work","errors":[],"skills":[]}]}`)
	jsonEq(t, c.ok("hooks/list", `{"cwds":["/home/u/proj"],"threadId":null}`), `{"data":[{"cwd":"/home/u/proj","errors":[],"hooks":[],"warnings":[]}]}`)
	jsonEq(t, c.ok("hooks/list", `{}`), `{"data":[{"cwd":"/srv/work","errors":[],"hooks":[],"warnings":[]}]}`)
	jsonEq(t, c.ok("hooks/list", `{"threadId":"`+threadID+`"}`), `{"data":[{"cwd":"/srv/work","errors":[],"hooks":[],"warnings":[]}]}`)
	jsonEq(t, c.ok("plugin/installed", `{"cwds":["/home/u/proj"],"installSuggestionPluginNames":null}`), `{"marketplaceLoadErrors":[],"marketplaces":[]}`)
	jsonEq(t, c.ok("plugin/installed", `{"cwds":null}`), `{"marketplaceLoadErrors":[],"marketplaces":[]}`)
	c.fails("plugin/installed", `{"cwds":["rel"]}`, invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
	jsonEq(t, c.ok("plugin/list", `{}`), `{"marketplaces":[],"marketplaceLoadErrors":[],"featuredPluginIds":[]}`)
	c.fails("plugin/list", `{"cwds":["~/x"]}`, invalid, "Invalid request: AbsolutePathBuf deserialized without a base path")
	jsonEq(t, c.ok("app/list", `{}`), `{"data":[],"nextCursor":null}`)
	jsonEq(t, c.ok("mcpServerStatus/list", `{"detail":null}`), `{"data":[],"nextCursor":null}`)
	jsonEq(t, c.ok("experimentalFeature/list", `{"cursor":null,"limit":100,"threadId":"`+threadID+`"}`), `{"data":[],"nextCursor":null}`)
	jsonEq(t, c.ok("collaborationMode/list", `{}`), `{"data":[{"mode":"default","model":null,"name":"Default","reasoning_effort":null}]}`)
	jsonEq(t, c.ok("thread/goal/get", `{"threadId":"`+threadID+`"}`), `{"goal":null}`)
	jsonEq(t, c.ok("thread/search", `{"searchTerm":"READ","limit":50,"sortKey":"recency_at","sortDirection":"desc","archived":false,"currentAccountOnly":true,"sourceKinds":[]}`),
		`{"data":[],"nextCursor":null,"backwardsCursor":null}`)
	jsonEq(t, c.ok("thread/backgroundTerminals/list", `{"threadId":"`+threadID+`","cursor":null,"limit":null}`), `{"data":[],"nextCursor":null}`)

	// Params: required when the schema says so, required fields named.
	for _, m := range []string{"skills/list", "hooks/list", "plugin/installed", "plugin/list", "app/list", "mcpServerStatus/list",
		"experimentalFeature/list", "collaborationMode/list", "thread/goal/get", "thread/search", "thread/readState/update",
		"thread/backgroundTerminals/list", "account/bedrock/checkGovCloudRequirements"} {
		c.fails(m, ``, invalid, "Invalid request: missing field `params`")
	}
	c.fails("thread/search", `{}`, invalid, "Invalid request: missing field `searchTerm`")
	c.fails("thread/goal/get", `{}`, invalid, "Invalid request: missing field `threadId`")
	c.fails("thread/backgroundTerminals/list", `{}`, invalid, "Invalid request: missing field `threadId`")
	c.fails("thread/goal/get", `{"threadId":"bogus"}`, invalid, "invalid thread id: bogus")
	c.fails("hooks/list", `{"threadId":"bogus"}`, invalid, "invalid thread id: bogus")
	c.fails("skills/list", `{"cwds":"x"}`, invalid, "")
}

// thread/readState/update announces the new state to every connection,
// then answers it, under a fresh revision each time.
func TestReadStateUpdate(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, watcher, plain := e.connect(true), e.connect(true), e.connect(false)
	raw := c.ok("thread/readState/update", `{"expectedRevision":"29797ba0-dd1a-4e0a-bbf1-47ad4d54958a","operation":{"type":"read"},"threadId":"`+threadID+`"}`)
	var res struct {
		ReadState struct {
			FirstUnread any    `json:"firstUnread"`
			Revision    string `json:"revision"`
		} `json:"readState"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if res.ReadState.FirstUnread != nil || !uuid.MatchString(res.ReadState.Revision) {
		t.Fatalf("result %s", raw)
	}
	if len(c.pending) != 1 {
		t.Fatalf("want thread/readState/changed before the answer, got %d notifications", len(c.pending))
	}
	want := `{"readState":{"firstUnread":null,"revision":"` + res.ReadState.Revision + `"},"threadId":"` + threadID + `"}`
	jsonEq(t, c.notification("thread/readState/changed"), want)
	jsonEq(t, watcher.notification("thread/readState/changed"), want)
	jsonEq(t, plain.notification("thread/readState/changed"), want)

	raw = c.ok("thread/readState/update", `{"expectedRevision":"`+res.ReadState.Revision+`","operation":{"type":"unread"},"threadId":"`+threadID+`"}`)
	var res2 struct {
		ReadState struct {
			FirstUnread map[string]any `json:"firstUnread"`
			Revision    string         `json:"revision"`
		} `json:"readState"`
	}
	_ = json.Unmarshal(raw, &res2)
	if res2.ReadState.FirstUnread["type"] != "threadStart" || res2.ReadState.Revision == res.ReadState.Revision {
		t.Errorf("unread: %s", raw)
	}
	c.notification("thread/readState/changed")

	for _, tt := range []struct{ params, msg string }{
		{`{}`, "Invalid request: missing field `threadId`"},
		{`{"threadId":"` + threadID + `"}`, "Invalid request: missing field `expectedRevision`"},
		{`{"threadId":"` + threadID + `","expectedRevision":"r"}`, "Invalid request: missing field `operation`"},
		{`{"threadId":"` + threadID + `","expectedRevision":"r","operation":{}}`, "Invalid request: missing field `type`"},
		{`{"threadId":"` + threadID + `","expectedRevision":"r","operation":{"type":"skim"}}`, "Invalid request: unknown variant `skim`, expected `read` or `unread`"},
		{`{"threadId":"x","expectedRevision":"r","operation":{"type":"read"}}`, "invalid thread id: x"},
	} {
		c.fails("thread/readState/update", tt.params, invalid, tt.msg)
	}
	c.silence(50 * time.Millisecond)
}

// With a thread lookup, unknown threads are refused with the reference's
// wording, and a known thread's cwd is used by hooks/list.
func TestThreadLookup(t *testing.T) {
	const known = "01a221ad-c69a-7af3-a728-14498b7a2e51"
	lookup := func(id string) (string, bool) {
		if id == known {
			return "/work/thread-cwd", true
		}
		return "", false
	}
	c := newEnv(t, envOptions{lookup: lookup}).connect(true)
	c.fails("thread/goal/get", `{"threadId":"`+threadID+`"}`, invalid, "thread not found: "+threadID)
	c.fails("thread/backgroundTerminals/list", `{"threadId":"`+threadID+`"}`, invalid, "thread not found: "+threadID)
	c.fails("hooks/list", `{"threadId":"`+threadID+`"}`, invalid, "thread not found: "+threadID)
	c.fails("thread/readState/update", `{"threadId":"`+threadID+`","expectedRevision":"r","operation":{"type":"read"}}`, invalid, "thread not loaded: "+threadID)
	jsonEq(t, c.ok("thread/goal/get", `{"threadId":"`+known+`"}`), `{"goal":null}`)
	jsonEq(t, c.ok("thread/backgroundTerminals/list", `{"threadId":"`+known+`"}`), `{"data":[],"nextCursor":null}`)
	jsonEq(t, c.ok("hooks/list", `{"threadId":"`+known+`"}`), `{"data":[{"cwd":"/work/thread-cwd","errors":[],"hooks":[],"warnings":[]}]}`)
	c.ok("thread/readState/update", `{"threadId":"`+known+`","expectedRevision":"r","operation":{"type":"read"}}`)
}

// The TUI's whole startup sequence (PROTOCOL.md §2.2), as sent, against
// the mock configuration: every request answered, none with an error.
func TestTUIStartup(t *testing.T) {
	c := newEnv(t, envOptions{toml: mockConfig}).connect(true)
	for _, tt := range []struct{ method, params string }{
		{"account/read", `{}`},
		{"model/list", `{"cursor":null,"includeHidden":true,"limit":null,"modelProvider":null}`},
		{"hooks/list", `{"cwds":["/home/u/proj"],"threadId":null}`},
		{"account/bedrock/checkGovCloudRequirements", `{}`},
		{"config/read", `{"cwd":".","includeLayers":true}`},
		{"account/read", `{}`},
		{"configRequirements/read", ``},
		{"collaborationMode/list", `{}`},
		{"config/read", `{"cwd":null}`},
		{"skills/list", `{"cwds":["/home/u/proj"],"forceReload":true}`},
		{"plugin/installed", `{"cwds":["/home/u/proj"],"installSuggestionPluginNames":null}`},
		{"experimentalFeature/list", `{"cursor":null,"limit":100,"threadId":"` + threadID + `"}`},
		{"thread/search", `{"archived":false,"currentAccountOnly":true,"cursor":null,"limit":50,"searchTerm":"READ","sortDirection":"desc","sortKey":"recency_at","sourceKinds":[]}`},
		{"thread/goal/get", `{"threadId":"` + threadID + `"}`},
		{"thread/backgroundTerminals/list", `{"cursor":null,"limit":null,"threadId":"` + threadID + `"}`},
		{"thread/readState/update", `{"expectedRevision":"r","operation":{"type":"read"},"threadId":"` + threadID + `"}`},
	} {
		c.ok(tt.method, tt.params)
	}
	jsonEq(t, c.ok("account/read", `{}`), `{"account":null,"requiresOpenaiAuth":false,"userId":null,"workspaceRouting":null}`)
}

// Thread ids are UUIDs in any of their usual spellings; anything else is
// refused, and a long one is clipped in the error.
func TestThreadIDForms(t *testing.T) {
	c := newEnv(t, envOptions{}).connect(true)
	for _, id := range []string{"urn:uuid:" + threadID, "01A221B6-22D2-7561-8157-8C82D0A7BE81", "01a221b622d2756181578c82d0a7be81"} {
		c.ok("thread/goal/get", `{"threadId":"`+id+`"}`)
	}
	for _, id := range []string{"01a221b6x22d2-7561-8157-8c82d0a7be81", "01a221b6-22d2-7561-8157-8c82d0a7be8g", "01a221b622d2756181578c82d0a7be8z", ""} {
		c.fails("thread/goal/get", `{"threadId":"`+id+`"}`, invalid, "invalid thread id: "+id)
	}
	long := strings.Repeat("é", 100)
	c.fails("thread/goal/get", `{"threadId":"`+long+`"}`, invalid, "invalid thread id: "+strings.Repeat("é", 40)+"…")
}
