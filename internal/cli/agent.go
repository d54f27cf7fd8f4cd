package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/agent"
	"github.com/appserver-go/appserver/internal/catalog"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/sandbox"
	"github.com/appserver-go/appserver/internal/threadstore"
)

// registerAgent opens the thread store and adds the account, catalog,
// thread and turn methods.
func registerAgent(srv *appserver.Server, conf *config.Loaded, guard *pathguard.Guard, home, helper string, iso *sandbox.Isolation, getenv func(string) string, logger *slog.Logger) (*agent.Engine, *threadstore.Store, error) {
	store, err := threadstore.Open(filepath.Join(home, "threads"), &threadstore.Options{Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("opening the thread store: %w", err)
	}
	cat := catalog.Register(srv, catalog.Options{Home: home, Config: conf, Getenv: getenv, Logger: logger, Version: Version})
	cwd, _ := os.Getwd()
	engine := agent.Register(srv, agent.Options{
		Store:     store,
		Config:    &conf.Config,
		APIKey:    cat.KeyFor,
		Guard:     guard,
		Helper:    helper,
		Isolation: iso,
		Support:   sandbox.Probe(),
		Cwd:       cwd,
		Version:   Version,
		Logger:    logger,
	})
	return engine, store, nil
}
