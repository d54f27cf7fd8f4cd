package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

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
func registerWorkspace(srv *appserver.Server, conf *config.Config, guard *pathguard.Guard, helper string, iso *sandbox.Isolation, logger *slog.Logger) error {
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
	if support.Files() && !support.Scopes() {
		logger.Warn("this kernel cannot scope signals and abstract unix sockets (Landlock ABI 6, Linux 6.7 or later with the erratum fix): sandboxed commands can signal processes outside the sandbox, the server included", "support", support.String())
	}
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
		Helper:        helper,
		Isolation:     iso,
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

// findHelper chooses the sandbox helper (see sandbox.FindHelper): the
// standalone appserver-sandbox beside this binary when it is there and
// trustworthy, else this binary. A helper file that is there but refused is
// worth a warning: it may be a stale install, or a file planted by someone
// else.
func findHelper(logger *slog.Logger) *sandbox.Helper {
	exe, err := os.Executable()
	if err != nil {
		logger.Debug("sandbox helper: cannot find this executable", "err", err)
		return &sandbox.Helper{Path: "/proc/self/exe"}
	}
	h := sandbox.FindHelper(exe)
	switch {
	case h.Standalone:
		logger.Debug("sandbox helper", "path", filepath.Join(filepath.Dir(exe), sandbox.HelperName))
	case h.Reason != "":
		logger.Warn("not using the standalone sandbox helper; commands start through this binary, which is slower", "reason", h.Reason)
	default:
		logger.Debug("sandbox helper: this binary (no " + sandbox.HelperName + " beside it)")
	}
	return h
}

// isolation hides the server's private files (state directory, credential
// and key files, unix socket) from sandboxed commands, where the system
// allows it (see sandbox.Isolation). A path that holds the server's
// working directory or a workspace root stays visible: hiding it would
// hide the commands' own work.
func isolation(helper string, private []string, guard *pathguard.Guard, logger *slog.Logger) *sandbox.Isolation {
	cwd, _ := os.Getwd()
	keep := append([]string{cwd}, guard.Roots()...)
	var hide []string
	for _, p := range private {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		covers := false
		for _, k := range keep {
			if k != "" && (k == abs || strings.HasPrefix(k, abs+string(filepath.Separator))) {
				covers = true
			}
		}
		if covers {
			logger.Warn("not hiding a private path from sandboxed commands: it contains the working directory or a workspace root", "path", abs)
			continue
		}
		hide = append(hide, abs)
	}
	iso, err := sandbox.NewIsolation(helper, hide)
	if err != nil {
		logger.Warn("sandboxed commands can read the server's own files (its state directory and credentials): cannot hide them on this system; see README, Running an agent safely", "err", err)
		return nil
	}
	logger.Debug("hidden from sandboxed commands", "paths", iso.Hidden())
	return iso
}
