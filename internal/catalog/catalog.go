// Package catalog answers the app-server's account, model and
// configuration reads, and the methods a client calls at startup that this
// server has nothing behind (skills, hooks, plugins, apps, MCP servers,
// experimental features, …) with valid empty results, so that the Codex
// terminal client starts without a warning banner (PROTOCOL.md §2.2–2.5).
//
// Account state is one API key: stored by account/login/start in
// $HOME/auth.json (mode 0600, replaced atomically, in the reference's
// format), or taken from the active provider's env_key variable. The key
// never reaches a log, an error or a response; [Catalog.APIKey] hands it
// to the model client.
//
// Methods, with (exp) for those that need the experimentalApi capability:
//
//	account/read, account/login/start, account/logout, getAuthStatus,
//	account/rateLimits/read, account/bedrock/checkGovCloudRequirements (exp)
//	model/list, modelProvider/list, modelProvider/capabilities/read
//	config/read, configRequirements/read, permissionProfile/list
//	skills/list, hooks/list, plugin/installed, plugin/list, app/list,
//	mcpServerStatus/list, experimentalFeature/list, collaborationMode/list (exp)
//	thread/goal/get, thread/search (exp), thread/readState/update (exp),
//	thread/backgroundTerminals/list (exp)
package catalog

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/jsonrpc"
)

// Options configure [Register].
type Options struct {
	// Home is the state directory; the stored API key lives in
	// Home/auth.json.
	Home string
	// Config is the effective configuration and its layers. Required.
	Config *config.Loaded
	// Getenv reads the environment (the provider's env_key). Nil means
	// os.Getenv.
	Getenv func(string) string
	// Logger receives the package's logs. Nil discards them.
	Logger *slog.Logger
	// Version is the server's version.
	Version string
	// Cwd is the working directory reported by skills/list and hooks/list
	// when the client names none. Empty means the process's.
	Cwd string
	// LookupThread, if set, tells whether a thread exists and its working
	// directory; thread/goal/get, thread/readState/update,
	// thread/backgroundTerminals/list and hooks/list {threadId} then refuse
	// unknown threads as the reference does. Nil accepts any thread id.
	LookupThread func(threadID string) (cwd string, ok bool)
}

// Catalog is the registered set of methods and the account state behind
// them. Its methods are safe for concurrent use.
type Catalog struct {
	srv    *appserver.Server
	opts   Options
	cfg    *config.Config
	logger *slog.Logger

	mu  sync.Mutex
	key Secret // the stored API key, "" for none
}

// Register adds the catalog's methods to srv and loads the stored API key.
// It panics if opts.Config is nil (a programming error).
func Register(srv *appserver.Server, opts Options) *Catalog {
	if opts.Config == nil {
		panic("catalog: Register needs Options.Config")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Cwd == "" {
		opts.Cwd, _ = os.Getwd()
	}
	c := &Catalog{srv: srv, opts: opts, cfg: &opts.Config.Config, logger: opts.Logger}
	c.key = c.loadStoredKey()

	add := func(name string, h appserver.Handler) {
		srv.AddMethod(appserver.Method{Name: name, Handler: h})
	}
	optional := func(name string, h appserver.Handler) {
		srv.AddMethod(appserver.Method{Name: name, Handler: h, ParamsOptional: true})
	}
	experimental := func(name string, h appserver.Handler) {
		srv.AddMethod(appserver.Method{Name: name, Handler: h, Experimental: true})
	}

	// Account.
	add("account/read", appserver.Typed(c.accountRead))
	add("account/login/start", c.loginStart)
	optional("account/logout", c.logout)
	add("getAuthStatus", appserver.Typed(c.getAuthStatus))
	optional("account/rateLimits/read", appserver.Typed(c.rateLimitsRead))
	experimental("account/bedrock/checkGovCloudRequirements", appserver.Typed(c.govCloud))

	// Models and providers.
	add("model/list", appserver.Typed(c.modelList))
	add("modelProvider/list", appserver.Typed(c.modelProviderList))
	add("modelProvider/capabilities/read", appserver.Typed(c.modelProviderCapabilities))

	// Configuration.
	add("config/read", appserver.Typed(c.configRead))
	optional("configRequirements/read", c.configRequirements)
	add("permissionProfile/list", appserver.Typed(c.permissionProfileList))

	// What this server has nothing behind: valid empty answers.
	add("skills/list", appserver.Typed(c.skillsList))
	add("hooks/list", appserver.Typed(c.hooksList))
	add("plugin/installed", appserver.Typed(c.pluginInstalled))
	add("plugin/list", appserver.Typed(c.pluginList))
	add("app/list", appserver.Typed(c.appList))
	add("mcpServerStatus/list", appserver.Typed(c.mcpServerStatusList))
	add("experimentalFeature/list", appserver.Typed(c.experimentalFeatureList))
	experimental("collaborationMode/list", appserver.Typed(c.collaborationModeList))
	add("thread/goal/get", appserver.Typed(c.threadGoalGet))
	experimental("thread/search", appserver.Typed(c.threadSearch))
	experimental("thread/readState/update", appserver.Typed(c.threadReadStateUpdate))
	experimental("thread/backgroundTerminals/list", appserver.Typed(c.backgroundTerminalsList))
	return c
}

// ActiveProvider returns the configured model provider.
func (c *Catalog) ActiveProvider() config.Provider { return c.cfg.Provider() }

// invalid returns a -32600 error with exactly msg, for domain errors that
// the reference words without the "Invalid request: " prefix.
func invalid(msg string) *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeInvalidRequest, msg)
}

// clip bounds a client-supplied string echoed in an error.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// checkThread validates a thread id as the reference does (a UUID) and,
// when a lookup is configured, that the thread exists. It returns the
// thread's cwd when known.
func (c *Catalog) checkThread(id string, notFound string) (string, error) {
	if !isUUID(id) {
		return "", invalid("invalid thread id: " + clip(id))
	}
	if c.opts.LookupThread == nil {
		return "", nil
	}
	cwd, ok := c.opts.LookupThread(id)
	if !ok {
		return "", invalid(notFound + ": " + id)
	}
	return cwd, nil
}

// isUUID reports whether s is a UUID in its hyphenated form, optionally
// with the urn:uuid: prefix, or as 32 hex digits.
func isUUID(s string) bool {
	s = strings.TrimPrefix(s, "urn:uuid:")
	switch len(s) {
	case 32:
		return isHex(s)
	case 36:
		for _, i := range []int{8, 13, 18, 23} {
			if s[i] != '-' {
				return false
			}
		}
		return isHex(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F') {
			return false
		}
	}
	return true
}
