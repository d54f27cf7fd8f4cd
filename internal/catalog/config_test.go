package catalog_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// config/read without includeLayers: the effective values, origins of the
// keys the file sets, layers null.
func TestConfigRead(t *testing.T) {
	toml := mockConfig + `
[model_providers.mock.http_headers]
Authorization = "Bearer hdr-secret"

[sandbox_workspace_write]
writable_roots = ["/tmp/w"]
`
	e := newEnv(t, envOptions{toml: toml})
	c := e.connect(true)
	res := decode(t, c.ok("config/read", `{"cwd":null}`))
	if res["layers"] != nil {
		t.Errorf("layers without includeLayers: %v", res["layers"])
	}
	cfg := res["config"].(map[string]any)
	for k, want := range map[string]any{
		"model": "mock-model", "model_provider": "mock", "approval_policy": "on-request",
		"sandbox_mode": "read-only", "model_context_window": 258400.0, "developer_instructions": nil,
		"model_reasoning_effort": nil, "service_tier": nil,
	} {
		if got, ok := cfg[k]; !ok || got != want {
			t.Errorf("config.%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	ww, _ := json.Marshal(cfg["sandbox_workspace_write"])
	jsonEq(t, ww, `{"writable_roots":["/tmp/w"],"network_access":false,"exclude_tmpdir_env_var":false,"exclude_slash_tmp":false}`)
	providers := cfg["model_providers"].(map[string]any)
	if _, ok := providers["openai"]; ok || len(providers) != 1 {
		t.Errorf("model_providers lists the built-in provider or misses mock: %v", providers)
	}
	mock := providers["mock"].(map[string]any)
	if mock["base_url"] != "http://127.0.0.1:4840/v1" || mock["env_key"] != "MOCK_KEY" || mock["wire_api"] != "responses" ||
		mock["requires_openai_auth"] != false || mock["name"] != "Mock" || mock["http_headers"] != nil {
		t.Errorf("mock provider: %v", mock)
	}
	raw, _ := json.Marshal(res)
	if strings.Contains(string(raw), "hdr-secret") {
		t.Errorf("a header value leaks: %s", raw)
	}

	data, _ := os.ReadFile(filepath.Join(e.home, "config.toml"))
	sum := sha256.Sum256(data)
	user := `{"name":{"type":"user","file":"` + filepath.Join(e.home, "config.toml") + `","profile":null},"version":"sha256:` + hex.EncodeToString(sum[:]) + `"}`
	origins, _ := json.Marshal(res["origins"])
	jsonEq(t, origins, `{
		"model":`+user+`, "model_provider":`+user+`, "approval_policy":`+user+`, "sandbox_mode":`+user+`,
		"model_providers.mock.name":`+user+`, "model_providers.mock.base_url":`+user+`, "model_providers.mock.wire_api":`+user+`,
		"model_providers.mock.requires_openai_auth":`+user+`, "model_providers.mock.env_key":`+user+`,
		"model_providers.mock.http_headers.Authorization":`+user+`, "sandbox_workspace_write.writable_roots":`+user+`}`)

	c.fails("config/read", ``, invalid, "Invalid request: missing field `params`")
	c.ok("config/read", `{}`)
}

// With includeLayers: the -c flags first (highest precedence), then the
// user file; secrets redacted in the layers too.
func TestConfigReadLayers(t *testing.T) {
	toml := `approval_policy = "on-failure"
[model_providers.gw]
base_url = "https://gw.example/v1"
experimental_bearer_token = "tok-secret"
http_headers = { "X-Key" = "hdr-secret" }
`
	e := newEnv(t, envOptions{toml: toml, overrides: []string{`model="flag-model"`, "sandbox_workspace_write.network_access=true"}})
	c := e.connect(false)
	raw := c.ok("config/read", `{"cwd":".","includeLayers":true}`)
	if strings.Contains(string(raw), "secret") {
		t.Errorf("a secret leaks: %s", raw)
	}
	res := decode(t, raw)
	cfg := res["config"].(map[string]any)
	if cfg["model"] != "flag-model" || cfg["approval_policy"] != "on-request" {
		t.Errorf("model %v, approval_policy %v (on-failure reads as on-request)", cfg["model"], cfg["approval_policy"])
	}
	if ww := cfg["sandbox_workspace_write"].(map[string]any); ww["network_access"] != true {
		t.Errorf("network_access from the flag: %v", ww)
	}
	layers := res["layers"].([]any)
	if len(layers) != 2 {
		t.Fatalf("layers: %v", layers)
	}
	flags, user := layers[0].(map[string]any), layers[1].(map[string]any)
	flagValues := `{"model":"flag-model","sandbox_workspace_write":{"network_access":true}}`
	sum := sha256.Sum256([]byte(flagValues))
	flagMeta := `{"name":{"type":"sessionFlags"},"version":"sha256:` + hex.EncodeToString(sum[:]) + `"}`
	fl, _ := json.Marshal(flags)
	jsonEq(t, fl, `{"name":{"type":"sessionFlags"},"version":"sha256:`+hex.EncodeToString(sum[:])+`","config":`+flagValues+`}`)
	us, _ := json.Marshal(user)
	data, _ := os.ReadFile(filepath.Join(e.home, "config.toml"))
	fsum := sha256.Sum256(data)
	userMeta := `{"name":{"type":"user","file":"` + filepath.Join(e.home, "config.toml") + `","profile":null},"version":"sha256:` + hex.EncodeToString(fsum[:]) + `"}`
	jsonEq(t, us, `{"name":{"type":"user","file":"`+filepath.Join(e.home, "config.toml")+`","profile":null},"version":"sha256:`+hex.EncodeToString(fsum[:])+`",
		"config":{"approval_policy":"on-failure","model_providers":{"gw":{"base_url":"https://gw.example/v1","experimental_bearer_token":"[REDACTED]","http_headers":{"X-Key":"[REDACTED]"}}}}}`)
	origins, _ := json.Marshal(res["origins"])
	jsonEq(t, origins, `{"model":`+flagMeta+`,"sandbox_workspace_write.network_access":`+flagMeta+`,
		"approval_policy":`+userMeta+`,"model_providers.gw.base_url":`+userMeta+`,
		"model_providers.gw.experimental_bearer_token":`+userMeta+`,"model_providers.gw.http_headers.X-Key":`+userMeta+`}`)

	// A flag overriding a file key takes its origin.
	e = newEnv(t, envOptions{toml: `model = "file-model"`, overrides: []string{"model=flag"}})
	res = decode(t, e.connect(false).ok("config/read", `{}`))
	if o := res["origins"].(map[string]any)["model"].(map[string]any)["name"].(map[string]any)["type"]; o != "sessionFlags" {
		t.Errorf("origin of an overridden key: %v", o)
	}

	// No file, no flags: one empty user layer, no origins.
	e = newEnv(t, envOptions{})
	jsonEq(t, e.connect(false).ok("config/read", `{"includeLayers":true}`), mustJSON(t, map[string]any{
		"config":  decode(t, e.connect(false).ok("config/read", `{}`))["config"],
		"origins": map[string]any{},
		"layers": []any{map[string]any{
			"name":    map[string]any{"type": "user", "file": filepath.Join(e.home, "config.toml"), "profile": nil},
			"version": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"config":  map[string]any{},
		}},
	}))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configRequirements/read takes no params (the TUI sends none) and
// permissionProfile/list lists the three built-in profiles.
func TestRequirementsAndProfiles(t *testing.T) {
	c := newEnv(t, envOptions{}).connect(false)
	for _, p := range []string{"", "null", "{}"} {
		jsonEq(t, c.ok("configRequirements/read", p), `{"requirements":null,"supportsIndependentSpeedModes":true}`)
	}
	all := `{"data":[{"id":":read-only","description":null,"allowed":true},{"id":":workspace","description":null,"allowed":true},{"id":":danger-full-access","description":null,"allowed":true}],"nextCursor":null}`
	jsonEq(t, c.ok("permissionProfile/list", `{}`), all)
	jsonEq(t, c.ok("permissionProfile/list", `{"cwd":"/x","cursor":null,"limit":null}`), all)
	jsonEq(t, c.ok("permissionProfile/list", `{"limit":1}`), `{"data":[{"id":":read-only","description":null,"allowed":true}],"nextCursor":"1"}`)
	jsonEq(t, c.ok("permissionProfile/list", `{"limit":5,"cursor":"1"}`), `{"data":[{"id":":workspace","description":null,"allowed":true},{"id":":danger-full-access","description":null,"allowed":true}],"nextCursor":null}`)
	c.fails("permissionProfile/list", `{"cursor":"x"}`, invalid, "invalid cursor: x")
	c.fails("permissionProfile/list", ``, invalid, "Invalid request: missing field `params`")
}

// Credentials are redacted wherever they sit in a layer: under keys that
// name one, in header tables, in arrays of tables; token limits are not
// credentials.
func TestConfigRedaction(t *testing.T) {
	toml := `model_auto_compact_token_limit = 1000
[mcp_servers.s]
command = "srv"
env = { API_KEY = "k1", PLAIN = "p" }
bearer_token = "k2"
headers_list = [["a", "b"]]

[[profiles_list]]
client_secret = "k3"
name = "n"

[[profiles_list]]
password = ["k4", "k5"]
`
	e := newEnv(t, envOptions{toml: toml})
	res := decode(t, e.connect(false).ok("config/read", `{"includeLayers":true}`))
	layer, _ := json.Marshal(res["layers"].([]any)[0].(map[string]any)["config"])
	jsonEq(t, layer, `{"model_auto_compact_token_limit":1000,
		"mcp_servers":{"s":{"command":"srv","env":{"API_KEY":"[REDACTED]","PLAIN":"p"},"bearer_token":"[REDACTED]","headers_list":[["a","b"]]}},
		"profiles_list":[{"client_secret":"[REDACTED]","name":"n"},{"password":["[REDACTED]","[REDACTED]"]}]}`)
}
