package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	home := t.TempDir()
	if body != "" {
		if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func TestDefaults(t *testing.T) {
	l, err := Load(write(t, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.Model != DefaultModel || c.ModelProvider != "openai" || c.ApprovalPolicy != "on-request" || c.SandboxMode != "read-only" {
		t.Errorf("defaults %+v", c)
	}
	if p := c.Provider(); p.BaseURL != "https://api.openai.com/v1" || p.EnvKey != "OPENAI_API_KEY" || !p.RequiresOpenAIAuth {
		t.Errorf("openai provider %+v", p)
	}
	if len(l.Warnings) != 0 {
		t.Errorf("warnings %v", l.Warnings)
	}
}

func TestMockProviderAndOverrides(t *testing.T) {
	home := write(t, `
model = "mock-model"
model_provider = "mock"
approval_policy = "on-request"
sandbox_mode = "read-only"
shiny_new_feature = true

[model_providers.mock]
base_url = "http://127.0.0.1:4840/v1"
wire_api = "responses"
requires_openai_auth = false
`)
	l, err := Load(home, []string{`model="other"`, `model_providers.mock.base_url=http://127.0.0.1:9/v1`, `sandbox_mode=workspace-write`})
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.Model != "other" || c.SandboxMode != "workspace-write" || c.Provider().BaseURL != "http://127.0.0.1:9/v1" || c.Provider().RequiresOpenAIAuth {
		t.Errorf("config %+v provider %+v", c, c.Provider())
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "shiny_new_feature") {
		t.Errorf("warnings %v", l.Warnings)
	}
	if len(l.Layers) != 2 || l.Layers[0].Name != "user" || !strings.HasPrefix(l.Layers[0].Version, "sha256:") || l.Layers[1].Name != "sessionFlags" {
		t.Errorf("layers %+v", l.Layers)
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		body      string
		overrides []string
		want      string
	}{
		{"model = \n", nil, "config.toml: line 1"},
		{"model = 5\n", nil, "model"},
		{`approval_policy = "untrusted"`, nil, "no longer supported"},
		{`approval_policy = "sometimes"`, nil, "approval_policy \"sometimes\" is not one of"},
		{`sandbox_mode = "yolo"`, nil, "sandbox_mode \"yolo\" is not one of"},
		{`model_provider = "nowhere"`, nil, "model_provider \"nowhere\" is not defined"},
		{"model_provider = \"m\"\n[model_providers.m]\nbase_url = \"http://x\"\nwire_api = \"chat\"\n", nil, "only \"responses\""},
		{"model_provider = \"m\"\n[model_providers.m]\nwire_api = \"responses\"\n", nil, "base_url is required"},
		{"", []string{"no-equals-sign"}, "expected key=value"},
		{"[sandbox_workspace_write]\nwritable_roots = [\"rel\"]\n", nil, "not an absolute path"},
	} {
		_, err := Load(write(t, tt.body), tt.overrides)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q, %v) = %v, want an error containing %q", tt.body, tt.overrides, err, tt.want)
		}
	}
}
