package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/config"
	"github.com/appserver-go/appserver/internal/execmethods"
	"github.com/appserver-go/appserver/internal/fsmethods"
	"github.com/appserver-go/appserver/internal/fuzzy"
	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/sandbox"
)

// registerWorkspace adds the workspace methods (fs/*, command/exec,
// process/*, fuzzyFileSearch) to srv.
func registerWorkspace(srv *appserver.Server, conf *config.Config, guard *pathguard.Guard, logger *slog.Logger) error {
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	policy, err := defaultPolicy(conf, cwd)
	if err != nil {
		return err
	}
	support := sandbox.Probe()
	logger.Debug("sandbox support", "support", support.String())
	if err := policy.Check(support); err != nil {
		// The default applies to every command that names no policy: if
		// it cannot be enforced, refuse to start rather than run commands
		// unconfined.
		return fmt.Errorf("sandbox_mode %q: %w", conf.SandboxMode, err)
	}
	fsmethods.Register(srv, fsmethods.Options{Guard: guard, Logger: logger})
	fuzzy.Register(srv, fuzzy.Options{Guard: guard, Logger: logger})
	execmethods.Register(srv, execmethods.Options{
		Guard:         guard,
		DefaultPolicy: policy,
		Helper:        "/proc/self/exe",
		Support:       support,
		Cwd:           cwd,
		Logger:        logger,
	})
	return nil
}

// defaultPolicy turns sandbox_mode into the policy of commands that name
// none.
func defaultPolicy(conf *config.Config, cwd string) (sandbox.Policy, error) {
	switch conf.SandboxMode {
	case "read-only":
		return sandbox.Policy{Kind: sandbox.ReadOnly}, nil
	case "workspace-write":
		roots := append([]string{cwd}, conf.SandboxWorkspaceWrite.WritableRoots...)
		return sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: roots, NetworkAccess: conf.SandboxWorkspaceWrite.NetworkAccess}, nil
	case "danger-full-access":
		return sandbox.Policy{Kind: sandbox.DangerFullAccess}, nil
	}
	return sandbox.Policy{}, fmt.Errorf("unknown sandbox_mode %q", conf.SandboxMode)
}
