// Package config loads appserver's configuration: $APPSERVER_HOME/config.toml
// with the reference's keys where they overlap, plus `-c key=value`
// overrides from the command line. Unknown keys are warnings, not errors,
// so a file written for `codex` still loads; a malformed file is an error
// that names the line.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Provider is a model provider: where the Responses API lives and which
// credential it takes.
type Provider struct {
	Name    string `toml:"name" json:"name"`
	BaseURL string `toml:"base_url" json:"base_url"`
	// EnvKey names the environment variable holding the API key.
	EnvKey string `toml:"env_key" json:"env_key"`
	// WireAPI must be "responses", the only protocol we speak.
	WireAPI string `toml:"wire_api" json:"wire_api"`
	// RequiresOpenAIAuth makes account/read report that a login is needed
	// when no API key is stored (the TUI then shows its login screen).
	RequiresOpenAIAuth bool              `toml:"requires_openai_auth" json:"requires_openai_auth"`
	HTTPHeaders        map[string]string `toml:"http_headers" json:"http_headers,omitempty"`
}

// WorkspaceWrite configures the workspace-write sandbox mode.
type WorkspaceWrite struct {
	WritableRoots []string `toml:"writable_roots" json:"writable_roots"`
	NetworkAccess bool     `toml:"network_access" json:"network_access"`
}

// Config is the effective configuration.
type Config struct {
	Model          string              `toml:"model" json:"model"`
	ModelProvider  string              `toml:"model_provider" json:"model_provider"`
	ApprovalPolicy string              `toml:"approval_policy" json:"approval_policy"`
	SandboxMode    string              `toml:"sandbox_mode" json:"sandbox_mode"`
	ModelProviders map[string]Provider `toml:"model_providers" json:"model_providers"`
	// SandboxWorkspaceWrite tunes sandbox_mode = "workspace-write".
	SandboxWorkspaceWrite WorkspaceWrite `toml:"sandbox_workspace_write" json:"sandbox_workspace_write"`
	// DeveloperInstructions are sent to the model with every turn.
	DeveloperInstructions string `toml:"developer_instructions" json:"developer_instructions"`
	// ModelContextWindow is reported in token usage.
	ModelContextWindow int64 `toml:"model_context_window" json:"model_context_window"`
}

// Defaults.
const (
	DefaultModel          = "gpt-6.1-sol"
	DefaultProvider       = "openai"
	DefaultApprovalPolicy = "on-request"
	DefaultSandboxMode    = "read-only"
	DefaultContextWindow  = 258400
)

// builtinProviders are always available; a [model_providers.NAME] table
// with the same name replaces them.
func builtinProviders() map[string]Provider {
	return map[string]Provider{
		"openai": {
			Name:               "OpenAI",
			BaseURL:            "https://api.openai.com/v1",
			EnvKey:             "OPENAI_API_KEY",
			WireAPI:            "responses",
			RequiresOpenAIAuth: true,
		},
	}
}

// Layer is one source of configuration, for config/read's includeLayers.
type Layer struct {
	Name    string         // "user" or "sessionFlags"
	File    string         // the file, for the user layer
	Version string         // "sha256:<hex>" of the file's bytes
	Values  map[string]any // the keys it sets, as read
}

// Loaded is the result of Load.
type Loaded struct {
	Config   Config
	Layers   []Layer
	Warnings []string
}

// ApprovalPolicies are the accepted approval_policy values.
var ApprovalPolicies = []string{"on-request", "on-failure", "never"}

// SandboxModes are the accepted sandbox_mode values.
var SandboxModes = []string{"read-only", "workspace-write", "danger-full-access"}

// Load reads home/config.toml (absent is fine) and applies overrides, each
// "dotted.key=value" where value is parsed as TOML and, failing that, taken
// as a string, as `codex -c` does.
func Load(home string, overrides []string) (*Loaded, error) {
	path := filepath.Join(home, "config.toml")
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	fileValues := map[string]any{}
	if len(data) > 0 {
		if _, err := toml.Decode(string(data), &fileValues); err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s: line %d: %s", path, pe.Position.Line, pe.Message)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	sum := sha256.Sum256(data)
	out := &Loaded{}
	out.Layers = append(out.Layers, Layer{Name: "user", File: path, Version: "sha256:" + hex.EncodeToString(sum[:]), Values: fileValues})

	merged := deepCopy(fileValues)
	flagValues := map[string]any{}
	for _, o := range overrides {
		key, raw, ok := strings.Cut(o, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("invalid -c override %q: expected key=value", o)
		}
		v := parseValue(raw)
		setPath(merged, strings.Split(key, "."), v)
		setPath(flagValues, strings.Split(key, "."), v)
	}
	if len(overrides) > 0 {
		out.Layers = append(out.Layers, Layer{Name: "sessionFlags", Values: flagValues})
	}

	// Decode the merged values into the typed config through TOML, so the
	// types are checked exactly as for the file.
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(merged); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var cfg Config
	md, err := toml.Decode(buf.String(), &cfg)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		unknown = append(unknown, k.String())
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		out.Warnings = append(out.Warnings, fmt.Sprintf("ignoring unknown configuration key %q", k))
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	out.Config = cfg
	return out, nil
}

// finish applies defaults and validates.
func (c *Config) finish() error {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.ModelProvider == "" {
		c.ModelProvider = DefaultProvider
	}
	if c.ApprovalPolicy == "" {
		c.ApprovalPolicy = DefaultApprovalPolicy
	}
	if c.SandboxMode == "" {
		c.SandboxMode = DefaultSandboxMode
	}
	if c.ModelContextWindow == 0 {
		c.ModelContextWindow = DefaultContextWindow
	}
	providers := builtinProviders()
	for name, p := range c.ModelProviders {
		if p.WireAPI == "" {
			p.WireAPI = "responses"
		}
		if p.Name == "" {
			p.Name = name
		}
		providers[name] = p
	}
	c.ModelProviders = providers
	switch {
	case c.ApprovalPolicy == "untrusted":
		return errors.New("approval_policy = \"untrusted\" is no longer supported; use on-request, on-failure or never")
	case !contains(ApprovalPolicies, c.ApprovalPolicy):
		return fmt.Errorf("approval_policy %q is not one of %s", c.ApprovalPolicy, strings.Join(ApprovalPolicies, ", "))
	case !contains(SandboxModes, c.SandboxMode):
		return fmt.Errorf("sandbox_mode %q is not one of %s", c.SandboxMode, strings.Join(SandboxModes, ", "))
	}
	p, ok := c.ModelProviders[c.ModelProvider]
	if !ok {
		return fmt.Errorf("model_provider %q is not defined; add a [model_providers.%s] table", c.ModelProvider, c.ModelProvider)
	}
	if p.WireAPI != "responses" {
		return fmt.Errorf("model_providers.%s.wire_api = %q is not supported; only \"responses\" is", c.ModelProvider, p.WireAPI)
	}
	if p.BaseURL == "" {
		return fmt.Errorf("model_providers.%s.base_url is required", c.ModelProvider)
	}
	for _, r := range c.SandboxWorkspaceWrite.WritableRoots {
		if !filepath.IsAbs(r) {
			return fmt.Errorf("sandbox_workspace_write.writable_roots: %q is not an absolute path", r)
		}
	}
	return nil
}

// Provider returns the active model provider.
func (c *Config) Provider() Provider { return c.ModelProviders[c.ModelProvider] }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseValue parses a -c value as TOML, or returns it as a string.
func parseValue(raw string) any {
	var v struct{ V any }
	if _, err := toml.Decode("V = "+raw, &v); err == nil {
		return v.V
	}
	return raw
}

func setPath(m map[string]any, path []string, v any) {
	for i, k := range path {
		if i == len(path)-1 {
			m[k] = v
			return
		}
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = deepCopy(sub)
		} else {
			out[k] = v
		}
	}
	return out
}
