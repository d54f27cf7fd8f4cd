package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// HelperArg is the argv[1] that turns the server binary into the sandbox
// helper: main must check for it before doing anything else and call
//
//	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
//		os.Exit(sandbox.Main(os.Args[2:]))
//	}
const HelperArg = "__appserver-sandbox"

// HelperName is the file name of the standalone sandbox helper
// (cmd/appserver-sandbox), which FindHelper looks for beside the server's
// executable.
const HelperName = "appserver-sandbox"

// HelperProtocol names the contract between a server and its helper: the
// argv Command builds, the policy JSON and HelperEnv's renaming. A helper
// answers "HelperArg --protocol" with it; change it whenever any of that
// changes, so that a server never hands work to a helper of another build
// that would read it differently, and whenever the helper's guarantees
// grow (2: only descriptors 0-2 reach the command; 3: isolation flags).
const HelperProtocol = "appserver-sandbox/3"

// Exit statuses of the helper when it does not reach the target, chosen
// as POSIX shells choose them.
const (
	// ExitCannotRun: the sandbox could not be set up, or the target could
	// not be executed (permission denied, bad format).
	ExitCannotRun = 126
	// ExitNotFound: the target command was not found.
	ExitNotFound = 127
)

// Command returns the argv that runs argv under p: argv itself for
// DangerFullAccess, otherwise
//
//	helper HelperArg <p as JSON> -- argv...
//
// helper is the path of a binary whose main calls Main (see HelperArg);
// "/proc/self/exe" is a good choice on Linux, since it keeps naming the
// running server even if its file is replaced during an upgrade. Start the
// result with the environment from HelperEnv.
//
// Command does not check that p can be enforced here: call Check first.
// The helper checks again and refuses to run the target if it cannot
// enforce p.
func Command(helper string, p Policy, argv []string) ([]string, error) {
	if len(argv) == 0 {
		return nil, errors.New("command must not be empty")
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if p.Kind == DangerFullAccess {
		return argv, nil
	}
	if helper == "" {
		return nil, errors.New("sandbox: no helper binary")
	}
	enc, err := p.MarshalJSON()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(argv)+4)
	out = append(out, helper, HelperArg, string(enc), "--")
	return append(out, argv...), nil
}

// stashPrefix marks loader variables that HelperEnv hid from the helper.
const stashPrefix = "APPSERVER_SANDBOX_ENV_"

// loaderVar reports whether the variable named name changes what runs
// in a dynamically linked process before main: the helper must start
// without it, or code it names would run outside the sandbox.
func loaderVar(name string) bool {
	return strings.HasPrefix(name, "LD_") || name == "GCONV_PATH" || name == "GLIBC_TUNABLES"
}

// HelperEnv returns the environment to start Command's argv with, given
// the environment env the command should get. For DangerFullAccess that is
// env itself. Otherwise the dynamic loader's variables (LD_PRELOAD,
// LD_LIBRARY_PATH, LD_AUDIT, every LD_*, GCONV_PATH, GLIBC_TUNABLES) are
// renamed so they do not act on the helper, which runs unconfined until it
// has applied the sandbox: a library they name would run outside it. Main
// renames them back just before it executes the target, so the command
// sees env unchanged. Main refuses to start if it finds an un-renamed
// loader variable.
func HelperEnv(p Policy, env []string) []string {
	if p.Kind == DangerFullAccess {
		return env
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, stashPrefix):
			// A stash the client wrote itself would be restored
			// over the real value; drop it.
		case loaderVar(name):
			out = append(out, stashPrefix+kv)
		default:
			out = append(out, kv)
		}
	}
	return out
}

// targetEnv undoes HelperEnv on the helper's environment. It fails if a
// loader variable reached the helper un-renamed: the caller did not use
// HelperEnv, and whatever that variable loaded already ran unconfined.
func targetEnv(env []string) ([]string, error) {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if loaderVar(name) {
			return nil, fmt.Errorf("%s is set in the helper's environment (start the helper with sandbox.HelperEnv)", name)
		}
		if rest, ok := strings.CutPrefix(kv, stashPrefix); ok {
			kv = rest
		}
		out = append(out, kv)
	}
	return out, nil
}

// getenv looks name up in env; the first entry wins, as in the C
// library's getenv, so the value is the one the command will see.
func getenv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// fail prints the helper's error in its one format and returns code.
func fail(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "appserver sandbox: "+format+"\n", args...)
	return code
}
