package catalog_test

import (
	"encoding/json"
	"testing"
)

type modelPage struct {
	Data []struct {
		ID                        string
		Model                     string
		DisplayName               string
		IsDefault                 bool
		Hidden                    bool
		DefaultReasoningEffort    string
		SupportedReasoningEfforts []struct{ ReasoningEffort, Description string }
		InputModalities           []string
	}
	NextCursor *string
}

func models(t *testing.T, raw json.RawMessage) modelPage {
	t.Helper()
	var p modelPage
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The TUI's model/list: the configured model first and default, never
// empty; every field the reference sends is present.
func TestModelList(t *testing.T) {
	c := newEnv(t, envOptions{}).connect(true)
	tui := `{"cursor":null,"includeHidden":true,"limit":null,"modelProvider":null}`
	raw := c.ok("model/list", tui)
	p := models(t, raw)
	if len(p.Data) < 2 || p.Data[0].ID != "gpt-6.1-sol" || !p.Data[0].IsDefault || p.NextCursor != nil {
		t.Fatalf("openai models: %s", raw)
	}
	for i, m := range p.Data {
		if m.ID != m.Model || m.DisplayName == "" || m.Hidden || (i > 0 && m.IsDefault) || len(m.SupportedReasoningEfforts) == 0 {
			t.Errorf("model %d: %+v", i, m)
		}
		found := false
		for _, e := range m.SupportedReasoningEfforts {
			found = found || e.ReasoningEffort == m.DefaultReasoningEffort
			if e.Description == "" {
				t.Errorf("model %s: effort %s without a description", m.ID, e.ReasoningEffort)
			}
		}
		if !found {
			t.Errorf("model %s: default effort %q not supported", m.ID, m.DefaultReasoningEffort)
		}
	}
	// Every key of the reference's Model (traces), none missing.
	var full struct{ Data []map[string]json.RawMessage }
	_ = json.Unmarshal(raw, &full)
	for _, k := range []string{"id", "model", "upgrade", "upgradeInfo", "availabilityNux", "displayName", "description",
		"modelSpecialty", "hidden", "supportedReasoningEfforts", "defaultReasoningEffort", "inputModalities",
		"supportsPersonality", "multiAgentVersion", "additionalSpeedTiers", "serviceTiers", "defaultServiceTier",
		"availableAccessPrograms", "isDefault"} {
		if _, ok := full.Data[0][k]; !ok {
			t.Errorf("model lacks %q", k)
		}
	}
	if len(full.Data[0]) != 19 {
		t.Errorf("model has %d keys, want 19", len(full.Data[0]))
	}
	total := len(p.Data)

	// Paging: the cursor is an offset; limit 0 means 1.
	p = models(t, c.ok("model/list", `{"limit":2}`))
	if len(p.Data) != 2 || p.NextCursor == nil || *p.NextCursor != "2" {
		t.Errorf("limit 2: %+v", p)
	}
	p = models(t, c.ok("model/list", `{"limit":2,"cursor":"2"}`))
	if len(p.Data) != min(2, total-2) || p.Data[0].IsDefault {
		t.Errorf("second page: %+v", p)
	}
	p = models(t, c.ok("model/list", `{"limit":0}`))
	if len(p.Data) != 1 || *p.NextCursor != "1" {
		t.Errorf("limit 0: %+v", p)
	}
	jsonEq(t, c.ok("model/list", `{"cursor":"`+itoa(total)+`"}`), `{"data":[],"nextCursor":null}`)
	c.fails("model/list", `{"cursor":"zz"}`, invalid, "invalid cursor: zz")
	c.fails("model/list", `{"cursor":"-1"}`, invalid, "invalid cursor: -1")
	c.fails("model/list", `{"cursor":"99"}`, invalid, "cursor 99 exceeds total models "+itoa(total))
	c.fails("model/list", `{"limit":-1}`, invalid, "")
	c.fails("model/list", ``, invalid, "Invalid request: missing field `params`")
	c.ok("model/list", `{}`)

	// An unknown provider: the reference's machine-readable error.
	e := c.fails("model/list", `{"modelProvider":"nope"}`, invalid, "model provider “nope” is not configured")
	jsonEq(t, e.Data, `{"type":"modelProviderNotConfigured","modelProvider":"nope"}`)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A custom provider lists its configured model only; asking for the openai
// provider still gives the built-in catalog.
func TestModelListCustomProvider(t *testing.T) {
	c := newEnv(t, envOptions{toml: mockConfig}).connect(true)
	p := models(t, c.ok("model/list", `{"cursor":null,"includeHidden":true,"limit":null,"modelProvider":null}`))
	if len(p.Data) != 1 || p.Data[0].ID != "mock-model" || !p.Data[0].IsDefault || p.Data[0].DisplayName != "mock-model" || p.Data[0].DefaultReasoningEffort != "medium" {
		t.Fatalf("mock models: %+v", p)
	}
	p = models(t, c.ok("model/list", `{"modelProvider":"openai"}`))
	if len(p.Data) < 2 || p.Data[0].ID != "gpt-6.1-sol" || !p.Data[0].IsDefault {
		t.Errorf("openai models while mock is active: %+v", p)
	}
	p = models(t, c.ok("model/list", `{"modelProvider":"mock"}`))
	if len(p.Data) != 1 {
		t.Errorf("mock by name: %+v", p)
	}

	// A built-in model configured for openai keeps its metadata, first.
	c = newEnv(t, envOptions{overrides: []string{"model=gpt-6-luna"}}).connect(true)
	p = models(t, c.ok("model/list", `{}`))
	if p.Data[0].ID != "gpt-6-luna" || p.Data[0].DisplayName != "GPT-6-Luna" || !p.Data[0].IsDefault {
		t.Errorf("configured built-in: %+v", p.Data[0])
	}
	for _, m := range p.Data[1:] {
		if m.ID == "gpt-6-luna" || m.IsDefault {
			t.Errorf("listed twice or two defaults: %+v", p.Data)
		}
	}
	// An unknown model for openai is listed too, first.
	c = newEnv(t, envOptions{overrides: []string{"model=my-finetune"}}).connect(true)
	if p = models(t, c.ok("model/list", `{}`)); p.Data[0].ID != "my-finetune" || !p.Data[0].IsDefault || len(p.Data) < 2 {
		t.Errorf("custom openai model: %+v", p.Data)
	}
}

// modelProvider/list and capabilities (PROTOCOL.md §3.5).
func TestModelProviders(t *testing.T) {
	c := newEnv(t, envOptions{}).connect(false)
	jsonEq(t, c.ok("modelProvider/list", `{}`), `{"data":[{"id":"openai","name":"OpenAI","canEdit":false,"baseUrl":null,"settings":{"type":"openai"}}],"defaultProviderId":"openai","canChangeDefault":false}`)
	c.fails("modelProvider/list", ``, invalid, "Invalid request: missing field `params`")
	jsonEq(t, c.ok("modelProvider/capabilities/read", `{}`), `{"imageGeneration":false,"webSearch":false}`)

	toml := mockConfig + `
[model_providers.gw]
base_url = "https://user:pw@gw.example/v1?key=secret#frag"
`
	c = newEnv(t, envOptions{toml: toml}).connect(false)
	jsonEq(t, c.ok("modelProvider/list", `{}`), `{"data":[
		{"id":"gw","name":"gw","canEdit":false,"baseUrl":"https://gw.example/v1","settings":{"type":"customGateway","auth":{"mode":"none"}}},
		{"id":"mock","name":"Mock","canEdit":false,"baseUrl":"http://127.0.0.1:4840/v1","settings":{"type":"customGateway","auth":{"mode":"environmentVariable","envKey":"MOCK_KEY"}}},
		{"id":"openai","name":"OpenAI","canEdit":false,"baseUrl":null,"settings":{"type":"openai"}}],
		"defaultProviderId":"mock","canChangeDefault":false}`)
}
