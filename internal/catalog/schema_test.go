package catalog_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The generated JSON schemas of the reference (PROTOCOL.md artifacts),
// outside this repository; tests that need them skip when absent.
// APPSERVER_SCHEMA_DIR overrides the location of the experimental ones.
func schemaDir(t *testing.T, experimental bool) string {
	t.Helper()
	dir := "../../../shared/docs/schema"
	if experimental {
		dir += "-experimental"
		if d := os.Getenv("APPSERVER_SCHEMA_DIR"); d != "" {
			dir = d
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ClientRequest.json")); err != nil {
		t.Skipf("reference schema not available: %v", err)
	}
	return dir
}

// schema is a loaded JSON schema file: the root holds the definitions.
type schema struct {
	root map[string]any
}

func loadSchema(t *testing.T, path string) *schema {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &schema{root: root}
}

// validate checks v (decoded with UseNumber) against the schema subset
// the generated files use: $ref, type, enum, properties, required,
// additionalProperties, items, anyOf, oneOf, allOf, minLength. It returns
// the problems found, each with its JSON path.
func (s *schema) validate(v any) []string {
	var errs []string
	s.check(v, s.root, "$", &errs)
	return errs
}

func (s *schema) resolve(node any) map[string]any {
	for {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		name := strings.TrimPrefix(ref, "#/definitions/")
		node = s.root["definitions"].(map[string]any)[name]
	}
}

func (s *schema) matches(v any, node any) bool {
	var errs []string
	s.check(v, node, "", &errs)
	return len(errs) == 0
}

func (s *schema) check(v any, node any, path string, errs *[]string) {
	if b, ok := node.(bool); ok {
		if !b {
			*errs = append(*errs, path+": schema false")
		}
		return
	}
	m := s.resolve(node)
	if m == nil {
		return
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, path+": "+fmt.Sprintf(format, args...))
	}
	if t, ok := m["type"]; ok && !typeMatches(v, t) {
		fail("type %s, want %v (value %v)", jsonType(v), t, v)
		return
	}
	if enum, ok := m["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			fail("%v not in %v", v, enum)
		}
	}
	if ml, ok := m["minLength"].(float64); ok {
		if str, isStr := v.(string); isStr && len(str) < int(ml) {
			fail("string shorter than %v", ml)
		}
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := m[key].([]any); ok {
			n := 0
			for _, a := range alts {
				if s.matches(v, a) {
					n++
				}
			}
			if n == 0 {
				fail("matches none of %s", key)
			}
		}
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, a := range all {
			s.check(v, a, path, errs)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := m["properties"].(map[string]any)
		if req, ok := m["required"].([]any); ok {
			for _, r := range req {
				if _, present := v[r.(string)]; !present {
					fail("missing required %q", r)
				}
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := props[k]; ok {
				s.check(v[k], p, path+"."+k, errs)
			} else if ap, ok := m["additionalProperties"]; ok {
				s.check(v[k], ap, path+"."+k, errs)
			}
		}
	case []any:
		if items, ok := m["items"]; ok {
			for i, e := range v {
				s.check(e, items, fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	}
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func typeMatches(v any, t any) bool {
	got := jsonType(v)
	okType := func(want string) bool {
		return want == got || (want == "number" && got == "integer")
	}
	switch t := t.(type) {
	case string:
		return okType(t)
	case []any:
		for _, x := range t {
			if okType(x.(string)) {
				return true
			}
		}
	}
	return false
}

func decodeNumbers(t *testing.T, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("bad JSON %s: %v", raw, err)
	}
	return v
}

// conforms checks raw against v2/<name>.json.
func conforms(t *testing.T, dir, name string, raw []byte) {
	t.Helper()
	s := loadSchema(t, filepath.Join(dir, "v2", name+".json"))
	if errs := s.validate(decodeNumbers(t, raw)); len(errs) > 0 {
		t.Errorf("%s does not conform to %s:\n  %s", raw, name, strings.Join(errs, "\n  "))
	}
}

// The checker itself catches what it should.
func TestSchemaChecker(t *testing.T) {
	dir := schemaDir(t, true)
	s := loadSchema(t, filepath.Join(dir, "v2", "ModelListResponse.json"))
	for _, bad := range []string{
		`{}`,                         // data missing
		`{"data":{}}`,                // wrong type
		`{"data":[{"id":"m"}]}`,      // model fields missing
		`{"data":[],"nextCursor":5}`, // wrong cursor type
		`{"data":[{"id":"m","model":"m","displayName":"M","description":"","hidden":false,"isDefault":true,"defaultReasoningEffort":"","supportedReasoningEfforts":[]}]}`, // empty effort
	} {
		if errs := s.validate(decodeNumbers(t, []byte(bad))); len(errs) == 0 {
			t.Errorf("%s passed the ModelListResponse schema", bad)
		}
	}
}

// responseSchemas names the response type of each method, and params the
// TUI sends (PROTOCOL.md §2.2, traces) or the smallest valid ones.
var responseSchemas = []struct {
	method, params, schema string
}{
	{"account/read", `{}`, "GetAccountResponse"},
	{"account/login/start", `{"type":"apiKey","apiKey":"sk-test-not-a-real-key-1234"}`, "LoginAccountResponse"},
	{"account/logout", ``, "LogoutAccountResponse"},
	{"account/rateLimits/read", ``, "GetAccountRateLimitsResponse"},
	{"account/bedrock/checkGovCloudRequirements", `{}`, "BedrockCheckGovCloudRequirementsResponse"},
	{"model/list", `{"cursor":null,"includeHidden":true,"limit":null,"modelProvider":null}`, "ModelListResponse"},
	{"modelProvider/list", `{}`, "ModelProviderListResponse"},
	{"modelProvider/capabilities/read", `{}`, "ModelProviderCapabilitiesReadResponse"},
	{"config/read", `{"cwd":".","includeLayers":true}`, "ConfigReadResponse"},
	{"config/read", `{"cwd":null}`, "ConfigReadResponse"},
	{"configRequirements/read", ``, "ConfigRequirementsReadResponse"},
	{"permissionProfile/list", `{}`, "PermissionProfileListResponse"},
	{"skills/list", `{"cwds":["/home/u/proj"],"forceReload":true}`, "SkillsListResponse"},
	{"hooks/list", `{"cwds":["/home/u/proj"],"threadId":null}`, "HooksListResponse"},
	{"plugin/installed", `{"cwds":["/home/u/proj"],"installSuggestionPluginNames":null}`, "PluginInstalledResponse"},
	{"plugin/list", `{}`, "PluginListResponse"},
	{"app/list", `{}`, "AppsListResponse"},
	{"mcpServerStatus/list", `{}`, "ListMcpServerStatusResponse"},
	{"experimentalFeature/list", `{"cursor":null,"limit":100,"threadId":"01a221ad-c69a-7af3-a728-14498b7a2e51"}`, "ExperimentalFeatureListResponse"},
	{"collaborationMode/list", `{}`, "CollaborationModeListResponse"},
	{"thread/goal/get", `{"threadId":"01a221ad-c69a-7af3-a728-14498b7a2e51"}`, "ThreadGoalGetResponse"},
	{"thread/search", `{"archived":false,"currentAccountOnly":true,"cursor":null,"limit":50,"searchTerm":"READ","sortDirection":"desc","sortKey":"recency_at","sourceKinds":[]}`, "ThreadSearchResponse"},
	{"thread/readState/update", `{"expectedRevision":"29797ba0-dd1a-4e0a-bbf1-47ad4d54958a","operation":{"type":"read"},"threadId":"01a221b6-22d2-7561-8157-8c82d0a7be81"}`, "ThreadReadStateUpdateResponse"},
	{"thread/backgroundTerminals/list", `{"cursor":null,"limit":null,"threadId":"01a221ad-c69a-7af3-a728-14498b7a2e51"}`, "ThreadBackgroundTerminalsListResponse"},
}

// Every method's result, and the notifications sent, conform to the
// reference's schema, for the default and the mock configuration.
func TestResponsesConformToSchema(t *testing.T) {
	dir := schemaDir(t, true)
	for _, conf := range []envOptions{
		{},
		{toml: strings.Replace(mockConfig, `"on-request"`, `"on-failure"`, 1) + "[model_providers.mock.http_headers]\nX-Secret = \"h\"\n",
			overrides: []string{"model=other", "sandbox_workspace_write.network_access=true"}, vars: map[string]string{"MOCK_KEY": "k"}},
	} {
		e := newEnv(t, conf)
		c := e.connect(true)
		for _, tt := range responseSchemas {
			r := c.call(tt.method, tt.params)
			if r.Error != nil {
				t.Errorf("%s %s: error %d %q", tt.method, tt.params, r.Error.Code, r.Error.Message)
				continue
			}
			conforms(t, dir, tt.schema, r.Result)
		}
		notes := map[string]string{
			"account/login/completed":  "AccountLoginCompletedNotification",
			"account/updated":          "AccountUpdatedNotification",
			"thread/readState/changed": "ThreadReadStateChangedNotification",
		}
		for _, n := range c.pending {
			name, ok := notes[n.Method]
			if !ok {
				t.Errorf("unexpected notification %s", n.Method)
				continue
			}
			conforms(t, dir, name, n.Params)
		}
		if len(c.pending) != 4 { // login: 2, logout: 1, readState: 1
			t.Errorf("got %d notifications, want 4", len(c.pending))
		}
	}
}

// Every method is in the reference's schema (getAuthStatus, legacy, is
// only in its TS bindings), experimental exactly when it is only in the
// experimental schema, and takes optional params exactly when the schema
// allows none.
func TestMethodTableMatchesSchema(t *testing.T) {
	expDir, stableDir := schemaDir(t, true), schemaDir(t, false)
	type entry struct{ paramsRequired bool }
	load := func(dir string) map[string]entry {
		s := loadSchema(t, filepath.Join(dir, "ClientRequest.json"))
		out := map[string]entry{}
		for _, v := range s.root["oneOf"].([]any) {
			m := v.(map[string]any)
			name := m["properties"].(map[string]any)["method"].(map[string]any)["enum"].([]any)[0].(string)
			req, _ := m["required"].([]any)
			out[name] = entry{paramsRequired: slices.Contains(req, any("params"))}
		}
		return out
	}
	exp, stable := load(expDir), load(stableDir)
	e := newEnv(t, envOptions{})
	n := 0
	for _, m := range e.srv.Methods() {
		if m.Name == "initialize" {
			continue
		}
		n++
		if m.Name == "getAuthStatus" {
			if m.Experimental || m.ParamsOptional {
				t.Errorf("getAuthStatus: experimental %v, params optional %v; want false, false (as the reference)", m.Experimental, m.ParamsOptional)
			}
			continue
		}
		se, inExp := exp[m.Name]
		_, inStable := stable[m.Name]
		if !inExp {
			t.Errorf("%s is not in the reference's schema", m.Name)
			continue
		}
		if wantExp := !inStable; m.Experimental != wantExp {
			t.Errorf("%s: Experimental %v, want %v", m.Name, m.Experimental, wantExp)
		}
		if m.ParamsOptional == se.paramsRequired {
			t.Errorf("%s: ParamsOptional %v, but the schema's params required is %v", m.Name, m.ParamsOptional, se.paramsRequired)
		}
	}
	if n != 24 {
		t.Errorf("%d methods registered, want 24", n)
	}
}
