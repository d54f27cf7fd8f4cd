package catalog_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver/internal/catalog"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/testutil"
)

const (
	invalid  = -32600
	internal = -32603
)

const testKey = "sk-test-not-a-real-key-1234"

// The TUI's login (PROTOCOL.md §2.2, 3a): account/read shows no account,
// account/login/start stores the key, answers, then announces
// login/completed and account/updated in that order; account/logout undoes
// it.
func TestLoginFlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.connect(true)
	other := e.connect(false)

	jsonEq(t, c.ok("account/read", `{}`), `{"account":null,"requiresOpenaiAuth":true,"userId":null,"workspaceRouting":null}`)
	if k := e.cat.APIKey(); k != "" {
		t.Fatalf("APIKey before login = %q", k)
	}

	jsonEq(t, c.ok("account/login/start", `{"type":"apiKey","apiKey":"`+testKey+`"}`), `{"type":"apiKey"}`)
	if len(c.pending) != 0 {
		t.Fatalf("notification %s before the response", c.pending[0].Method)
	}
	jsonEq(t, c.notification("account/login/completed"), `{"error":null,"loginId":null,"onboardingEntrypoint":null,"success":true}`)
	jsonEq(t, c.notification("account/updated"), `{"authMode":"apikey","planType":null}`)
	c.silence(50 * time.Millisecond)
	// Other connections learn of the account change, not of the login.
	jsonEq(t, other.notification("account/updated"), `{"authMode":"apikey","planType":null}`)
	other.silence(50 * time.Millisecond)

	path := filepath.Join(e.home, "auth.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("auth.json mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	jsonEq(t, data, `{"auth_mode":"apikey","OPENAI_API_KEY":"`+testKey+`"}`)
	entries, _ := os.ReadDir(e.home)
	for _, de := range entries {
		if strings.Contains(de.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", de.Name())
		}
	}
	if k := e.cat.APIKey(); k != testKey {
		t.Errorf("APIKey after login = %q", k)
	}
	jsonEq(t, c.ok("account/read", `{}`), `{"account":{"type":"apiKey"},"requiresOpenaiAuth":true,"userId":null,"workspaceRouting":null}`)
	jsonEq(t, c.ok("getAuthStatus", `{"includeToken":true,"refreshToken":false}`), `{"authMethod":"apikey","authToken":null,"requiresOpenaiAuth":true}`)

	// A restarted server finds the stored key.
	e2 := newEnv(t, envOptions{home: e.home})
	if k := e2.cat.APIKey(); k != testKey {
		t.Errorf("APIKey after restart = %q", k)
	}

	// Logout: no params (the TUI sends none), {} then account/updated.
	jsonEq(t, c.ok("account/logout", ""), `{}`)
	jsonEq(t, c.notification("account/updated"), `{"authMode":null,"planType":null}`)
	jsonEq(t, other.notification("account/updated"), `{"authMode":null,"planType":null}`)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("auth.json after logout: %v", err)
	}
	if k := e.cat.APIKey(); k != "" {
		t.Errorf("APIKey after logout = %q", k)
	}
	jsonEq(t, c.ok("account/read", `{}`), `{"account":null,"requiresOpenaiAuth":true,"userId":null,"workspaceRouting":null}`)
	jsonEq(t, c.ok("getAuthStatus", `{}`), `{"authMethod":null,"authToken":null,"requiresOpenaiAuth":true}`)
	// Logging out twice is fine.
	jsonEq(t, c.ok("account/logout", "null"), `{}`)
	c.notification("account/updated")

	// A second login replaces the first key.
	c.ok("account/login/start", `{"type":"apiKey","apiKey":"sk-first"}`)
	c.ok("account/login/start", `{"type":"apiKey","apiKey":"  sk-second\n"}`)
	if k := e.cat.APIKey(); k != "sk-second" {
		t.Errorf("APIKey after a second login = %q (surrounding blanks are trimmed)", k)
	}
}

// Login params are checked, and refused types say why.
func TestLoginErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.connect(true)
	c.fails("account/login/start", ``, invalid, "Invalid request: missing field `params`")
	c.fails("account/login/start", `{}`, invalid, "Invalid request: missing field `type`")
	c.fails("account/login/start", `{"type":5}`, invalid, "Invalid request: invalid type: expected a string at `type`")
	c.fails("account/login/start", `{"type":"apiKey"}`, invalid, "Invalid request: missing field `apiKey`")
	c.fails("account/login/start", `{"type":"bogus"}`, invalid,
		"Invalid request: unknown variant `bogus`, expected one of `apiKey`, `chatgpt`, `chatgptDeviceCode`, `chatgptAuthTokens`, `amazonBedrock`, `amazonBedrockAccessKeys`")
	for _, typ := range []string{"chatgpt", "chatgptDeviceCode", "chatgptAuthTokens", "amazonBedrock", "amazonBedrockAccessKeys"} {
		err := c.fails("account/login/start", `{"type":"`+typ+`"}`, invalid, "")
		if !strings.Contains(err.Message, "only API keys") || !strings.Contains(err.Message, typ) {
			t.Errorf("%s: %q does not say that only API keys are supported", typ, err.Message)
		}
	}
	c.fails("account/login/start", `{"type":"apiKey","apiKey":""}`, invalid, "apiKey must not be empty")
	c.fails("account/login/start", `{"type":"apiKey","apiKey":"  "}`, invalid, "apiKey must not be empty")
	c.fails("account/login/start", `{"type":"apiKey","apiKey":"sk-a b"}`, invalid, "apiKey must be printable ASCII without spaces")
	c.fails("account/login/start", `{"type":"apiKey","apiKey":"sk-a\u0000b"}`, invalid, "apiKey must be printable ASCII without spaces")
	c.fails("account/login/start", `{"type":"apiKey","apiKey":"`+strings.Repeat("k", 9000)+`"}`, invalid, "apiKey is too long (more than 8192 bytes)")
	c.fails("account/login/start", `{"type":"apiKey","apiKey":12345}`, invalid, "Invalid request: invalid type: expected a string at `apiKey`")
	c.fails("account/login/start", `[1]`, invalid, "Invalid request: invalid type: expected an object")
	if len(c.pending) != 0 {
		t.Errorf("failed logins sent %s", c.pending[0].Method)
	}
	if _, err := os.Stat(filepath.Join(e.home, "auth.json")); !os.IsNotExist(err) {
		t.Errorf("a failed login wrote auth.json: %v", err)
	}
	if k := e.cat.APIKey(); k != "" {
		t.Errorf("APIKey = %q", k)
	}
}

// A key that cannot be stored is not used, and the failure is -32603.
func TestLoginStoreFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.connect(true)
	// A directory in the way: the rename fails, even for root.
	if err := os.Mkdir(filepath.Join(e.home, "auth.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.home, "auth.json", "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.fails("account/login/start", `{"type":"apiKey","apiKey":"`+testKey+`"}`, internal, "")
	if !strings.HasPrefix(err.Message, "storing the API key: ") || strings.Contains(err.Message, testKey) {
		t.Errorf("error %q", err.Message)
	}
	if k := e.cat.APIKey(); k != "" {
		t.Errorf("APIKey = %q after a failed store", k)
	}
	entries, _ := os.ReadDir(e.home)
	for _, de := range entries {
		if strings.Contains(de.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", de.Name())
		}
	}
	// Logout cannot remove it either, and says so.
	c.fails("account/logout", "", internal, "")
}

// The home directory is created when missing, private.
func TestLoginCreatesHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "state")
	e := newEnv(t, envOptions{home: home})
	e.connect(true).ok("account/login/start", `{"type":"apiKey","apiKey":"`+testKey+`"}`)
	fi, err := os.Stat(home)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("home: %v %v", fi, err)
	}
}

// The key never appears in logs, errors or answers, and a Secret prints
// as [REDACTED] however it is formatted.
func TestKeyNeverLeaks(t *testing.T) {
	const key = "sk-very-secret-value-0123456789"
	e := newEnv(t, envOptions{})
	c := e.connect(true)
	c.ok("account/login/start", `{"type":"apiKey","apiKey":"`+key+`"}`)
	for _, p := range []string{`{"type":"apiKey","apiKey":"` + key + ` x"}`, `{"type":"apiKey","apiKey":["` + key + `"]}`, `{"type":"` + key + `"}`} {
		r := c.call("account/login/start", p)
		if r.Error == nil || (strings.Contains(r.Error.Message, key) && !strings.Contains(p, `"type":"`+key)) {
			t.Errorf("%s: %v", p, r.Error)
		}
	}
	for _, m := range []string{"account/read", "getAuthStatus", "config/read"} {
		if res := c.ok(m, `{"includeToken":true,"includeLayers":true}`); strings.Contains(string(res), key) {
			t.Errorf("%s answers the key: %s", m, res)
		}
	}
	c.ok("account/logout", "")
	if strings.Contains(e.logs.String(), key) {
		t.Errorf("the key is in the logs:\n%s", e.logs.String())
	}
	if !strings.Contains(e.logs.String(), "API key stored") {
		t.Errorf("the login was not logged:\n%s", e.logs.String())
	}

	s := catalog.Secret(key)
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%d"} {
		if out := fmt.Sprintf(f, s); strings.Contains(out, key) || strings.Contains(out, fmt.Sprintf("%x", key)) {
			t.Errorf("Sprintf(%q) = %q", f, out)
		}
	}
	if out := fmt.Sprintf("%v %+v", struct{ K catalog.Secret }{s}, &struct{ K catalog.Secret }{s}); strings.Contains(out, key) {
		t.Errorf("in a struct: %q", out)
	}
	if b, _ := json.Marshal(map[string]any{"k": s}); strings.Contains(string(b), key) {
		t.Errorf("JSON: %s", b)
	}
	var sb testutil.SyncBuffer
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "key", s)
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "key", s)
	if strings.Contains(sb.String(), key) {
		t.Errorf("slog: %s", sb.String())
	}
	if s.Reveal() != key {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	var back catalog.Secret
	if err := json.Unmarshal([]byte(`12345`), &back); err == nil || strings.Contains(err.Error(), "12345") {
		t.Errorf("Unmarshal(12345) = %v", err)
	}
}

// APIKey: the stored key, else the active provider's env_key variable.
func TestAPIKeyPrecedence(t *testing.T) {
	// openai provider, OPENAI_API_KEY set: an account without a login.
	e := newEnv(t, envOptions{vars: map[string]string{"OPENAI_API_KEY": "sk-env", "MOCK_KEY": "mk-env"}})
	if k := e.cat.APIKey(); k != "sk-env" {
		t.Errorf("env key: %q", k)
	}
	c := e.connect(true)
	jsonEq(t, c.ok("account/read", `{}`), `{"account":{"type":"apiKey"},"requiresOpenaiAuth":true,"userId":null,"workspaceRouting":null}`)
	c.ok("account/login/start", `{"type":"apiKey","apiKey":"sk-stored"}`)
	if k := e.cat.APIKey(); k != "sk-stored" {
		t.Errorf("stored key should win: %q", k)
	}
	c.ok("account/logout", "")
	c.notification("account/login/completed")
	c.notification("account/updated")
	// The environment still provides a key, so the account stays.
	jsonEq(t, c.notification("account/updated"), `{"authMode":"apikey","planType":null}`)
	if k := e.cat.APIKey(); k != "sk-env" {
		t.Errorf("after logout: %q", k)
	}

	// A custom provider reads its own env_key, and does not require an
	// OpenAI login.
	m := newEnv(t, envOptions{toml: mockConfig, vars: map[string]string{"OPENAI_API_KEY": "sk-env", "MOCK_KEY": "mk-env"}})
	if k := m.cat.APIKey(); k != "mk-env" {
		t.Errorf("mock env key: %q", k)
	}
	if p := m.cat.ActiveProvider(); p.Name != "Mock" || p.BaseURL != "http://127.0.0.1:4840/v1" || p.EnvKey != "MOCK_KEY" {
		t.Errorf("ActiveProvider = %+v", p)
	}
	n := newEnv(t, envOptions{toml: strings.Replace(mockConfig, `env_key = "MOCK_KEY"`, "", 1), vars: map[string]string{"OPENAI_API_KEY": "sk-env"}})
	if k := n.cat.APIKey(); k != "" {
		t.Errorf("provider without env_key: %q", k)
	}
	jsonEq(t, n.connect(false).ok("account/read", `{}`), `{"account":null,"requiresOpenaiAuth":false,"userId":null,"workspaceRouting":null}`)
}

// TestStoredKeyStaysWithOpenAI: the key account/login/start stores is an
// OpenAI credential; a provider that does not require OpenAI auth (any
// other base_url) gets its own env_key variable or nothing, never it.
func TestStoredKeyStaysWithOpenAI(t *testing.T) {
	m := newEnv(t, envOptions{toml: mockConfig, vars: map[string]string{"MOCK_KEY": "mk-env"}})
	c := m.connect(true)
	c.ok("account/login/start", `{"type":"apiKey","apiKey":"sk-stored"}`)
	if k := m.cat.APIKey(); k != "mk-env" {
		t.Errorf("custom provider after a login: %q, want its env_key", k)
	}
	openai := config.Provider{Name: "OpenAI", BaseURL: "https://api.openai.com/v1", EnvKey: "OPENAI_API_KEY", RequiresOpenAIAuth: true}
	if k := m.cat.KeyFor(openai); k != "sk-stored" {
		t.Errorf("OpenAI provider: %q, want the stored key", k)
	}
	n := newEnv(t, envOptions{toml: strings.Replace(mockConfig, `env_key = "MOCK_KEY"`, "", 1)})
	c = n.connect(true)
	c.ok("account/login/start", `{"type":"apiKey","apiKey":"sk-stored"}`)
	if k := n.cat.APIKey(); k != "" {
		t.Errorf("custom provider without env_key after a login: %q, want none", k)
	}
	// The login is still an account to show.
	jsonEq(t, n.connect(true).ok("account/read", `{}`), `{"account":{"type":"apiKey"},"requiresOpenaiAuth":false,"userId":null,"workspaceRouting":null}`)
}

// A stored file in another format, or unreadable, is ignored with a
// warning; a world-readable one is used with a warning.
func TestStoredKeyFile(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "auth.json")
	write := func(body string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(`not json`, 0o600)
	if e := newEnv(t, envOptions{home: home}); e.cat.APIKey() != "" || !strings.Contains(e.logs.String(), "not valid JSON") {
		t.Errorf("bad JSON: key %q, logs %s", e.cat.APIKey(), e.logs.String())
	}
	write(`{"auth_mode":"chatgpt","tokens":{}}`, 0o600)
	if e := newEnv(t, envOptions{home: home}); e.cat.APIKey() != "" || !strings.Contains(e.logs.String(), "only API keys") {
		t.Errorf("chatgpt: key %q, logs %s", e.cat.APIKey(), e.logs.String())
	}
	write(`{"OPENAI_API_KEY":"sk-file"}`, 0o644)
	if e := newEnv(t, envOptions{home: home}); e.cat.APIKey() != "sk-file" || !strings.Contains(e.logs.String(), "readable by other users") || strings.Contains(e.logs.String(), "sk-file") {
		t.Errorf("0644: key %q, logs %s", e.cat.APIKey(), e.logs.String())
	}
}

// account/rateLimits/read answers an empty snapshot (no TUI warning), and
// the GovCloud check says no.
func TestAccountReads(t *testing.T) {
	c := newEnv(t, envOptions{}).connect(true)
	want := `{"rateLimits":{"credits":null,"individualLimit":null,"limitId":"codex","limitName":null,"normalModelSlug":null,"planType":null,"primary":null,"rateLimitReachedType":null,"secondary":null,"spendControlReached":null},"rateLimitsByLimitId":null}`
	jsonEq(t, c.ok("account/rateLimits/read", ""), want)
	jsonEq(t, c.ok("account/rateLimits/read", "null"), want)
	jsonEq(t, c.ok("account/rateLimits/read", `{"excludeResetCreditDetails":true}`), want)
	jsonEq(t, c.ok("account/bedrock/checkGovCloudRequirements", `{}`), `{"isGovCloud":false,"shouldWarn":false}`)
	c.fails("account/read", "", invalid, "Invalid request: missing field `params`")
	c.fails("getAuthStatus", "", invalid, "Invalid request: missing field `params`")
}

func TestSecretMethods(t *testing.T) {
	s := catalog.Secret("sk-x")
	if s.String() != "[REDACTED]" || s.GoString() != "catalog.Secret([REDACTED])" {
		t.Errorf("String %q GoString %q", s.String(), s.GoString())
	}
}
