package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/jsonrpc"
)

// Secret is a credential. It prints, formats, logs and encodes to JSON as
// "[REDACTED]" whatever the verb, so that passing one to a logger or an
// error by mistake leaks nothing; [Secret.Reveal] is the one way out.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[REDACTED]".
func (Secret) String() string { return redacted }

// GoString returns a redacted Go form, for %#v.
func (Secret) GoString() string { return "catalog.Secret(" + redacted + ")" }

// Format writes "[REDACTED]" for every verb, %x and %q included.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "[REDACTED]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes "[REDACTED]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// UnmarshalJSON accepts a JSON string; its errors never quote the input.
func (s *Secret) UnmarshalJSON(data []byte) error {
	var v string
	if err := json.Unmarshal(data, &v); err != nil {
		return errors.New("invalid type: expected a string")
	}
	*s = Secret(v)
	return nil
}

// authFileName is the stored credential, in the reference's format:
// {"auth_mode":"apikey","OPENAI_API_KEY":"sk-…"}.
const authFileName = "auth.json"

type authFile struct {
	AuthMode     string  `json:"auth_mode"`
	OpenAIAPIKey *string `json:"OPENAI_API_KEY"`
}

// maxKeyBytes bounds an API key; real ones are a few hundred bytes.
const maxKeyBytes = 8 << 10

func (c *Catalog) authPath() string { return filepath.Join(c.opts.Home, authFileName) }

// loadStoredKey reads auth.json. A missing file is no key; a file that
// cannot be used is logged (without its content) and ignored.
func (c *Catalog) loadStoredKey() Secret {
	path := c.authPath()
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.logger.Warn("cannot read the stored API key; ignoring it", "path", path, "err", err)
		}
		return ""
	}
	var f authFile
	if err := json.Unmarshal(data, &f); err != nil {
		c.logger.Warn("the stored credential file is not valid JSON; ignoring it", "path", path)
		return ""
	}
	if f.OpenAIAPIKey == nil || *f.OpenAIAPIKey == "" {
		if f.AuthMode != "" && f.AuthMode != "apikey" {
			c.logger.Warn("the stored credential is not an API key; only API keys are supported, ignoring it", "path", path, "authMode", f.AuthMode)
		}
		return ""
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		c.logger.Warn("the stored API key is readable by other users; run chmod 600 on it", "path", path, "mode", fi.Mode().Perm().String())
	}
	return Secret(*f.OpenAIAPIKey)
}

// APIKey returns the key for the active model provider (see KeyFor).
func (c *Catalog) APIKey() string { return c.KeyFor(c.ActiveProvider()) }

// KeyFor returns the key to send to provider p. The key stored by
// account/login/start is an OpenAI credential: it goes only to a provider
// that requires OpenAI auth, never to another base_url a configuration or
// a thread names. Otherwise, and when no key is stored, the key is p's
// env_key variable, or "" for none.
func (c *Catalog) KeyFor(p config.Provider) string {
	if p.RequiresOpenAIAuth {
		c.mu.Lock()
		k := c.key
		c.mu.Unlock()
		if k != "" {
			return k.Reveal()
		}
	}
	if p.EnvKey != "" {
		return c.opts.Getenv(p.EnvKey)
	}
	return ""
}

// hasKey reports whether there is an account to show: a stored key (an
// OpenAI login, whichever provider is active) or the active provider's key
// from its env_key variable.
func (c *Catalog) hasKey() bool {
	c.mu.Lock()
	stored := c.key != ""
	c.mu.Unlock()
	return stored || c.APIKey() != ""
}

// authMode is what account/updated and getAuthStatus report: "apikey"
// when a key is available, else null.
func (c *Catalog) authMode() *string {
	if !c.hasKey() {
		return nil
	}
	m := "apikey"
	return &m
}

type accountReadParams struct {
	RefreshToken *bool `json:"refreshToken"`
}

type apiKeyAccount struct {
	Type string `json:"type"`
}

type accountReadResult struct {
	Account            *apiKeyAccount `json:"account"`
	UserID             *string        `json:"userId"`
	RequiresOpenaiAuth bool           `json:"requiresOpenaiAuth"`
	WorkspaceRouting   any            `json:"workspaceRouting"`
}

func (c *Catalog) accountRead(_ context.Context, _ *appserver.Session, _ accountReadParams) (accountReadResult, error) {
	res := accountReadResult{RequiresOpenaiAuth: c.ActiveProvider().RequiresOpenAIAuth}
	if c.hasKey() {
		res.Account = &apiKeyAccount{Type: "apiKey"}
	}
	return res, nil
}

// loginTypes are the reference's login variants, in its order.
var loginTypes = []string{"apiKey", "chatgpt", "chatgptDeviceCode", "chatgptAuthTokens", "amazonBedrock", "amazonBedrockAccessKeys"}

type loginCompleted struct {
	LoginID              *string `json:"loginId"`
	Success              bool    `json:"success"`
	Error                *string `json:"error"`
	OnboardingEntrypoint *string `json:"onboardingEntrypoint"`
}

type accountUpdated struct {
	AuthMode *string `json:"authMode"`
	PlanType *string `json:"planType"`
}

// loginStart stores an API key. Params are decoded by hand so that no
// error can quote the key.
func (c *Catalog) loginStart(_ context.Context, req *appserver.Request) (any, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(req.Params, &fields); err != nil {
		return nil, appserver.InvalidRequest("invalid type: expected an object")
	}
	rawType, ok := fields["type"]
	if !ok {
		return nil, appserver.MissingField("type")
	}
	var typ string
	if err := json.Unmarshal(rawType, &typ); err != nil {
		return nil, appserver.InvalidRequest("invalid type: expected a string at `type`")
	}
	switch typ {
	case "apiKey":
	case "chatgpt", "chatgptDeviceCode", "chatgptAuthTokens", "amazonBedrock", "amazonBedrockAccessKeys":
		return nil, invalid("login type `" + typ + "` is not supported by this server: only API keys are (account/login/start with type \"apiKey\")")
	default:
		return nil, appserver.InvalidRequest("unknown variant `" + clip(typ) + "`, expected one of `" + strings.Join(loginTypes, "`, `") + "`")
	}
	rawKey, ok := fields["apiKey"]
	if !ok {
		return nil, appserver.MissingField("apiKey")
	}
	var key Secret
	if err := json.Unmarshal(rawKey, &key); err != nil {
		return nil, appserver.InvalidRequest("invalid type: expected a string at `apiKey`")
	}
	key = Secret(strings.TrimSpace(key.Reveal()))
	if err := checkKey(key); err != nil {
		return nil, err
	}

	c.mu.Lock()
	err := c.storeKey(key)
	if err == nil {
		c.key = key
	}
	c.mu.Unlock()
	if err != nil {
		c.logger.Error("storing the API key", "path", c.authPath(), "err", err)
		return nil, jsonrpc.NewError(jsonrpc.CodeInternalError, "storing the API key: "+err.Error())
	}
	c.logger.Info("API key stored", "path", c.authPath(), "session", req.Session.ID())
	sess := req.Session
	return appserver.AfterReply(apiKeyAccount{Type: "apiKey"}, func() {
		_ = sess.Notify("account/login/completed", loginCompleted{Success: true})
		_ = c.srv.Broadcast("account/updated", accountUpdated{AuthMode: c.authMode()})
	}), nil
}

// checkKey refuses keys that could not be sent in an HTTP header.
func checkKey(key Secret) error {
	k := key.Reveal()
	switch {
	case k == "":
		return invalid("apiKey must not be empty")
	case len(k) > maxKeyBytes:
		return invalid(fmt.Sprintf("apiKey is too long (more than %d bytes)", maxKeyBytes))
	}
	for _, r := range k {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII {
			return invalid("apiKey must be printable ASCII without spaces")
		}
	}
	return nil
}

// storeKey writes auth.json atomically with mode 0600. c.mu is held.
func (c *Catalog) storeKey(key Secret) error {
	k := key.Reveal()
	data, err := json.MarshalIndent(authFile{AuthMode: "apikey", OpenAIAPIKey: &k}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.authPath(), append(data, '\n'), 0o600)
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, created with perm, is written, fsynced and renamed over
// path, and the directory fsynced, so a reader or a crash sees the old
// file or the new one, never a mix. The directory is created (0700) if
// missing. A symlink at path is replaced, not followed.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(name, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func (c *Catalog) logout(_ context.Context, req *appserver.Request) (any, error) {
	c.mu.Lock()
	err := os.Remove(c.authPath())
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		err = nil
		c.key = ""
	}
	c.mu.Unlock()
	if err != nil {
		c.logger.Error("removing the stored API key", "path", c.authPath(), "err", err)
		return nil, jsonrpc.NewError(jsonrpc.CodeInternalError, "removing the stored API key: "+err.Error())
	}
	c.logger.Info("stored API key removed", "path", c.authPath(), "session", req.Session.ID())
	return appserver.AfterReply(struct{}{}, func() {
		_ = c.srv.Broadcast("account/updated", accountUpdated{AuthMode: c.authMode()})
	}), nil
}

type getAuthStatusParams struct {
	IncludeToken *bool `json:"includeToken"`
	RefreshToken *bool `json:"refreshToken"`
}

type getAuthStatusResult struct {
	AuthMethod         *string `json:"authMethod"`
	AuthToken          *string `json:"authToken"`
	RequiresOpenaiAuth bool    `json:"requiresOpenaiAuth"`
}

// getAuthStatus is the legacy (v1) status read. Unlike the reference it
// never returns the key itself, even with includeToken: a credential does
// not travel back over the wire.
func (c *Catalog) getAuthStatus(_ context.Context, _ *appserver.Session, _ getAuthStatusParams) (getAuthStatusResult, error) {
	return getAuthStatusResult{AuthMethod: c.authMode(), RequiresOpenaiAuth: c.ActiveProvider().RequiresOpenAIAuth}, nil
}

type rateLimitsParams struct {
	ExcludeResetCreditDetails *bool `json:"excludeResetCreditDetails"`
	SupportsLunaReserve       *bool `json:"supportsLunaReserve"`
}

// rateLimitSnapshot is the reference's snapshot with nothing known, as it
// sends in account/rateLimits/updated for an API-key account.
type rateLimitSnapshot struct {
	Credits              any     `json:"credits"`
	IndividualLimit      any     `json:"individualLimit"`
	LimitID              string  `json:"limitId"`
	LimitName            *string `json:"limitName"`
	NormalModelSlug      *string `json:"normalModelSlug"`
	PlanType             *string `json:"planType"`
	Primary              any     `json:"primary"`
	RateLimitReachedType *string `json:"rateLimitReachedType"`
	Secondary            any     `json:"secondary"`
	SpendControlReached  *bool   `json:"spendControlReached"`
}

type rateLimitsResult struct {
	RateLimits          rateLimitSnapshot `json:"rateLimits"`
	RateLimitsByLimitID any               `json:"rateLimitsByLimitId"`
}

// rateLimitsRead answers an empty snapshot: an API key has no Codex
// allowance to report, and an error here shows as a TUI warning (the
// reference answers -32600 "codex account authentication required to
// read rate limits").
func (c *Catalog) rateLimitsRead(_ context.Context, _ *appserver.Session, _ rateLimitsParams) (rateLimitsResult, error) {
	return rateLimitsResult{RateLimits: rateLimitSnapshot{LimitID: "codex"}}, nil
}

type emptyParams struct{}

type govCloudResult struct {
	IsGovCloud bool `json:"isGovCloud"`
	ShouldWarn bool `json:"shouldWarn"`
}

func (c *Catalog) govCloud(_ context.Context, _ *appserver.Session, _ emptyParams) (govCloudResult, error) {
	return govCloudResult{}, nil
}
