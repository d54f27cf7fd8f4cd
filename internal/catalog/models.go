package catalog

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
)

// Model is one entry of model/list, with every field the reference sends
// (the TUI reads most of them), in its wire order.
type Model struct {
	ID                        string                  `json:"id"`
	Model                     string                  `json:"model"`
	Upgrade                   *string                 `json:"upgrade"`
	UpgradeInfo               any                     `json:"upgradeInfo"`
	AvailabilityNux           any                     `json:"availabilityNux"`
	DisplayName               string                  `json:"displayName"`
	Description               string                  `json:"description"`
	ModelSpecialty            *string                 `json:"modelSpecialty"`
	Hidden                    bool                    `json:"hidden"`
	SupportedReasoningEfforts []ReasoningEffortOption `json:"supportedReasoningEfforts"`
	DefaultReasoningEffort    string                  `json:"defaultReasoningEffort"`
	InputModalities           []string                `json:"inputModalities"`
	SupportsPersonality       bool                    `json:"supportsPersonality"`
	MultiAgentVersion         *string                 `json:"multiAgentVersion"`
	AdditionalSpeedTiers      []string                `json:"additionalSpeedTiers"`
	ServiceTiers              []any                   `json:"serviceTiers"`
	DefaultServiceTier        *string                 `json:"defaultServiceTier"`
	AvailableAccessPrograms   any                     `json:"availableAccessPrograms"`
	IsDefault                 bool                    `json:"isDefault"`
}

// ReasoningEffortOption is one reasoning effort a model accepts.
type ReasoningEffortOption struct {
	ReasoningEffort string `json:"reasoningEffort"`
	Description     string `json:"description"`
}

var effortDescriptions = map[string]string{
	"low":    "Fast responses with lighter reasoning",
	"medium": "Balances speed and reasoning depth for everyday tasks",
	"high":   "Greater reasoning depth for complex problems",
	"xhigh":  "Extra high reasoning depth for complex problems",
}

func efforts(names ...string) []ReasoningEffortOption {
	out := make([]ReasoningEffortOption, len(names))
	for i, n := range names {
		out[i] = ReasoningEffortOption{ReasoningEffort: n, Description: effortDescriptions[n]}
	}
	return out
}

// builtinModel describes a model of the openai provider's small built-in
// catalog. Speed tiers are not advertised: the agent does not send them.
type builtinModel struct {
	id, displayName, description string
	efforts                      []string
	defaultEffort                string
}

var openaiModels = []builtinModel{
	{config.DefaultModel, "GPT-6.1-Sol", "Latest workhorse model for coding and everyday work.", []string{"low", "medium", "high", "xhigh"}, "low"},
	{"gpt-6-astra", "GPT-6-Astra", "Frontier intelligence for the most demanding work.", []string{"low", "medium", "high", "xhigh"}, "low"},
	{"gpt-6-sol", "GPT-6-Sol", "Previous generation workhorse model.", []string{"low", "medium", "high", "xhigh"}, "medium"},
	{"gpt-6-luna", "GPT-6-Luna", "Fast and affordable model for easier tasks.", []string{"low", "medium", "high", "xhigh"}, "medium"},
	{"gpt-5.5", "GPT-5.5", "Legacy coding model.", []string{"low", "medium", "high", "xhigh"}, "medium"},
}

func (b builtinModel) model() Model {
	return Model{
		ID: b.id, Model: b.id, DisplayName: b.displayName, Description: b.description,
		SupportedReasoningEfforts: efforts(b.efforts...), DefaultReasoningEffort: b.defaultEffort,
		InputModalities: []string{"text", "image"}, AdditionalSpeedTiers: []string{}, ServiceTiers: []any{},
	}
}

// configuredModel describes a model the catalog knows nothing about.
func configuredModel(id, providerName string) Model {
	return Model{
		ID: id, Model: id, DisplayName: id, Description: "Configured model (provider " + providerName + ").",
		SupportedReasoningEfforts: efforts("low", "medium", "high"), DefaultReasoningEffort: "medium",
		InputModalities: []string{"text", "image"}, AdditionalSpeedTiers: []string{}, ServiceTiers: []any{},
	}
}

// models lists the models of a provider. For the active provider the
// configured model comes first and is the default; the openai provider
// adds its built-in catalog. Never empty for the active provider.
func (c *Catalog) models(providerID string) []Model {
	var out []Model
	active := providerID == c.cfg.ModelProvider
	if active {
		m := configuredModel(c.cfg.Model, c.cfg.Provider().Name)
		if providerID == config.DefaultProvider {
			for _, b := range openaiModels {
				if b.id == c.cfg.Model {
					m = b.model()
				}
			}
		}
		m.IsDefault = true
		out = append(out, m)
	}
	if providerID == config.DefaultProvider {
		for _, b := range openaiModels {
			if active && b.id == c.cfg.Model {
				continue
			}
			m := b.model()
			m.IsDefault = !active && b.id == config.DefaultModel
			out = append(out, m)
		}
	}
	return out
}

type modelListParams struct {
	Cursor        *string `json:"cursor"`
	IncludeHidden *bool   `json:"includeHidden"`
	Limit         *uint32 `json:"limit"`
	ModelProvider *string `json:"modelProvider"`
}

type modelListResult struct {
	Data       []Model `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func (c *Catalog) modelList(_ context.Context, _ *appserver.Session, p modelListParams) (modelListResult, error) {
	provider := c.cfg.ModelProvider
	if p.ModelProvider != nil && *p.ModelProvider != "" {
		provider = *p.ModelProvider
		if _, ok := c.cfg.ModelProviders[provider]; !ok {
			return modelListResult{}, providerNotConfigured(provider)
		}
	}
	all := c.models(provider)
	if p.IncludeHidden == nil || !*p.IncludeHidden {
		all = slices.DeleteFunc(all, func(m Model) bool { return m.Hidden })
	}
	page, next, err := paginate(all, p.Cursor, p.Limit, "models")
	if err != nil {
		return modelListResult{}, err
	}
	return modelListResult{Data: page, NextCursor: next}, nil
}

// providerNotConfigured is the reference's error for an unknown provider,
// with its machine-readable data.
func providerNotConfigured(id string) error {
	e := invalid("model provider “" + clip(id) + "” is not configured")
	e.Data, _ = json.Marshal(map[string]string{"type": "modelProviderNotConfigured", "modelProvider": id})
	return e
}

// paginate pages items as the reference does: the cursor is the decimal
// offset of the page, a limit of 0 means 1, no limit means everything.
func paginate[T any](items []T, cursor *string, limit *uint32, what string) ([]T, *string, error) {
	start := 0
	if cursor != nil {
		n, err := strconv.Atoi(*cursor)
		if err != nil || n < 0 {
			return nil, nil, invalid("invalid cursor: " + clip(*cursor))
		}
		if n > len(items) {
			return nil, nil, invalid("cursor " + strconv.Itoa(n) + " exceeds total " + what + " " + strconv.Itoa(len(items)))
		}
		start = n
	}
	end := len(items)
	if limit != nil {
		size := max(int(*limit), 1)
		end = min(start+size, len(items))
	}
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	if end < len(items) {
		s := strconv.Itoa(end)
		return page, &s, nil
	}
	return page, nil, nil
}

type modelProviderListResult struct {
	Data              []providerSummary `json:"data"`
	DefaultProviderID string            `json:"defaultProviderId"`
	CanChangeDefault  bool              `json:"canChangeDefault"`
}

type providerSummary struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	CanEdit  bool    `json:"canEdit"`
	BaseURL  *string `json:"baseUrl"`
	Settings any     `json:"settings"`
}

type gatewayAuth struct {
	Mode   string `json:"mode"`
	EnvKey string `json:"envKey,omitempty"`
}

type customGatewaySettings struct {
	Type string      `json:"type"`
	Auth gatewayAuth `json:"auth"`
}

// modelProviderList lists the configured providers, sorted by id. Nothing
// is editable: this server has no configuration writes.
func (c *Catalog) modelProviderList(_ context.Context, _ *appserver.Session, _ emptyParams) (modelProviderListResult, error) {
	ids := make([]string, 0, len(c.cfg.ModelProviders))
	for id := range c.cfg.ModelProviders {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	res := modelProviderListResult{Data: make([]providerSummary, 0, len(ids)), DefaultProviderID: c.cfg.ModelProvider}
	for _, id := range ids {
		p := c.cfg.ModelProviders[id]
		s := providerSummary{ID: id, Name: p.Name, BaseURL: displayURL(p.BaseURL)}
		if id == config.DefaultProvider {
			s.Settings = map[string]string{"type": "openai"}
			if p.BaseURL == "https://api.openai.com/v1" {
				s.BaseURL = nil
			}
		} else {
			auth := gatewayAuth{Mode: "none"}
			if p.EnvKey != "" {
				auth = gatewayAuth{Mode: "environmentVariable", EnvKey: p.EnvKey}
			}
			s.Settings = customGatewaySettings{Type: "customGateway", Auth: auth}
		}
		res.Data = append(res.Data, s)
	}
	return res, nil
}

// displayURL returns a base URL safe to show: without user info, query or
// fragment (where credentials hide). Nil when absent or unparseable.
func displayURL(raw string) *string {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	s := strings.TrimSuffix(u.String(), "?")
	return &s
}

type capabilitiesResult struct {
	ImageGeneration bool `json:"imageGeneration"`
	WebSearch       bool `json:"webSearch"`
}

// modelProviderCapabilities reports no image generation and no web
// search: the agent offers neither tool.
func (c *Catalog) modelProviderCapabilities(_ context.Context, _ *appserver.Session, _ emptyParams) (capabilitiesResult, error) {
	return capabilitiesResult{}, nil
}
