package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
)

// configKeys are the keys of the reference's Config type (schema
// ConfigReadResponse); those this server has no setting for are null.
var configKeys = []string{
	"analytics", "approval_policy", "approvals_reviewer", "apps", "browser_use",
	"client_search_provider", "compact_prompt", "computer_use", "desktop",
	"developer_instructions", "forced_chatgpt_workspace_id", "forced_login_method",
	"instructions", "model", "model_auto_compact_token_limit",
	"model_auto_compact_token_limit_scope", "model_context_window", "model_provider",
	"model_reasoning_effort", "model_reasoning_summary", "model_verbosity",
	"review_model", "sandbox_mode", "sandbox_workspace_write", "service_tier",
	"tools", "web_search",
}

type configReadParams struct {
	Cwd           *string `json:"cwd"`
	IncludeLayers bool    `json:"includeLayers"`
}

type configReadResult struct {
	Config  map[string]any           `json:"config"`
	Origins map[string]layerMetadata `json:"origins"`
	Layers  []configLayer            `json:"layers"`
}

type layerMetadata struct {
	Name    map[string]any `json:"name"`
	Version string         `json:"version"`
}

type configLayer struct {
	Name    map[string]any `json:"name"`
	Version string         `json:"version"`
	Config  any            `json:"config"`
}

// configRead answers the effective configuration (snake_case, as the
// reference), where each key set by a layer comes from, and with
// includeLayers the layers themselves, highest precedence first. Secrets
// (http_headers values, tokens) are redacted. cwd is accepted and ignored:
// there are no project layers.
func (c *Catalog) configRead(_ context.Context, _ *appserver.Session, p configReadParams) (configReadResult, error) {
	res := configReadResult{Config: c.effectiveConfig(), Origins: map[string]layerMetadata{}}
	layers := c.opts.Config.Layers
	for _, l := range layers { // lowest precedence first, so higher ones win
		meta := layerMetadata{Name: layerSource(l), Version: layerVersion(l)}
		walkLeaves(l.Values, "", func(path string) { res.Origins[path] = meta })
	}
	if p.IncludeLayers {
		res.Layers = make([]configLayer, 0, len(layers))
		for i := len(layers) - 1; i >= 0; i-- {
			l := layers[i]
			values := l.Values
			if values == nil {
				values = map[string]any{}
			}
			res.Layers = append(res.Layers, configLayer{Name: layerSource(l), Version: layerVersion(l), Config: redact(values, "")})
		}
	}
	return res, nil
}

func (c *Catalog) effectiveConfig() map[string]any {
	cfg := c.cfg
	m := make(map[string]any, len(configKeys)+1)
	for _, k := range configKeys {
		m[k] = nil
	}
	m["model"] = cfg.Model
	m["model_provider"] = cfg.ModelProvider
	m["approval_policy"] = approvalPolicy(cfg.ApprovalPolicy)
	m["sandbox_mode"] = cfg.SandboxMode
	roots := cfg.SandboxWorkspaceWrite.WritableRoots
	if roots == nil {
		roots = []string{}
	}
	m["sandbox_workspace_write"] = map[string]any{
		"writable_roots":         roots,
		"network_access":         cfg.SandboxWorkspaceWrite.NetworkAccess,
		"exclude_tmpdir_env_var": false,
		"exclude_slash_tmp":      false,
	}
	if cfg.DeveloperInstructions != "" {
		m["developer_instructions"] = cfg.DeveloperInstructions
	}
	if cfg.ModelContextWindow > 0 {
		m["model_context_window"] = cfg.ModelContextWindow
	}
	providers := map[string]any{}
	for id := range c.layerProviders() {
		if p, ok := cfg.ModelProviders[id]; ok {
			providers[id] = providerConfig(p)
		}
	}
	m["model_providers"] = providers
	return m
}

// approvalPolicy maps a configured policy to the reference's AskForApproval
// values: on-failure, which it no longer has, reads as on-request (what
// the reference itself answers for it).
func approvalPolicy(p string) string {
	if p == "on-failure" {
		return "on-request"
	}
	return p
}

// layerProviders names the providers some layer defines; the built-in
// ones are not configuration, as in the reference.
func (c *Catalog) layerProviders() map[string]bool {
	out := map[string]bool{}
	for _, l := range c.opts.Config.Layers {
		if t, ok := l.Values["model_providers"].(map[string]any); ok {
			for id := range t {
				out[id] = true
			}
		}
	}
	return out
}

// providerConfig is a provider as the reference's config/read shows it,
// without secrets: http_headers is null (header values often carry
// credentials), and there is no bearer token.
func providerConfig(p config.Provider) map[string]any {
	m := map[string]any{
		"name":                           p.Name,
		"base_url":                       p.BaseURL,
		"env_key":                        nil,
		"wire_api":                       p.WireAPI,
		"requires_openai_auth":           p.RequiresOpenAIAuth,
		"http_headers":                   nil,
		"auth":                           nil,
		"aws":                            nil,
		"capabilities":                   nil,
		"credential_file":                nil,
		"env_http_headers":               nil,
		"env_key_instructions":           nil,
		"experimental_bearer_token":      nil,
		"gateway_oauth":                  nil,
		"location":                       nil,
		"model_catalog_url":              nil,
		"project_id":                     nil,
		"query_params":                   nil,
		"request_max_retries":            nil,
		"stream_idle_timeout_ms":         nil,
		"stream_max_retries":             nil,
		"supports_standalone_web_search": false,
		"supports_websockets":            false,
		"websocket_connect_timeout_ms":   nil,
	}
	if p.EnvKey != "" {
		m["env_key"] = p.EnvKey
	}
	return m
}

// layerSource is a layer's ConfigLayerSource.
func layerSource(l config.Layer) map[string]any {
	switch l.Name {
	case "user":
		return map[string]any{"type": "user", "file": l.File, "profile": nil}
	}
	return map[string]any{"type": l.Name}
}

// layerVersion is the layer's version, or for layers without one (the
// -c flags) the sha256 of their values as JSON.
func layerVersion(l config.Layer) string {
	if l.Version != "" {
		return l.Version
	}
	data, _ := json.Marshal(l.Values)
	if l.Values == nil {
		data = []byte("{}")
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// walkLeaves calls f with the dotted path of every non-table value in m.
func walkLeaves(m map[string]any, prefix string, f func(path string)) {
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			walkLeaves(sub, path, f)
			continue
		}
		f(path)
	}
}

// redact copies a layer's values with secrets replaced: every value under
// an http_headers table, and under any key that names a credential.
func redact(v any, key string) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, sub := range v {
			switch {
			case key == "http_headers" || secretKey(k):
				out[k] = redactLeaves(sub)
			default:
				out[k] = redact(sub, k)
			}
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, sub := range v {
			out[i] = redact(sub, key)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, sub := range v {
			out[i] = redact(sub, key)
		}
		return out
	}
	return v
}

// redactLeaves replaces every scalar in v.
func redactLeaves(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, sub := range v {
			out[k] = redactLeaves(sub)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, sub := range v {
			out[i] = redactLeaves(sub)
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, sub := range v {
			out[i] = redactLeaves(sub)
		}
		return out
	case nil:
		return nil
	}
	return redacted
}

// secretKey reports whether a key names a credential: token, *_token,
// *secret*, *password*, *api_key, *apikey (not token limits and the like).
func secretKey(k string) bool {
	k = strings.ToLower(k)
	return k == "token" || strings.HasSuffix(k, "_token") ||
		strings.Contains(k, "secret") || strings.Contains(k, "password") ||
		strings.HasSuffix(k, "api_key") || strings.HasSuffix(k, "apikey")
}

type configRequirementsResult struct {
	Requirements                  any  `json:"requirements"`
	SupportsIndependentSpeedModes bool `json:"supportsIndependentSpeedModes"`
}

// configRequirements answers no requirements. Params are ignored (the TUI
// sends none).
func (c *Catalog) configRequirements(_ context.Context, _ *appserver.Request) (any, error) {
	return configRequirementsResult{SupportsIndependentSpeedModes: true}, nil
}

type permissionProfileListParams struct {
	Cursor *string `json:"cursor"`
	Cwd    *string `json:"cwd"`
	Limit  *uint32 `json:"limit"`
}

type permissionProfile struct {
	ID          string  `json:"id"`
	Description *string `json:"description"`
	Allowed     bool    `json:"allowed"`
}

type permissionProfileListResult struct {
	Data       []permissionProfile `json:"data"`
	NextCursor *string             `json:"nextCursor"`
}

// builtinProfiles are the reference's three built-in permission profiles.
var builtinProfiles = []string{":read-only", ":workspace", ":danger-full-access"}

func (c *Catalog) permissionProfileList(_ context.Context, _ *appserver.Session, p permissionProfileListParams) (permissionProfileListResult, error) {
	all := make([]permissionProfile, len(builtinProfiles))
	for i, id := range builtinProfiles {
		all[i] = permissionProfile{ID: id, Allowed: true}
	}
	page, next, err := paginate(all, p.Cursor, p.Limit, "permission profiles")
	if err != nil {
		return permissionProfileListResult{}, err
	}
	return permissionProfileListResult{Data: page, NextCursor: next}, nil
}
