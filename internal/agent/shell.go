package agent

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/appserver-go/appserver/internal/procexec"
	"github.com/appserver-go/appserver/internal/responses"
	"github.com/appserver-go/appserver/internal/sandbox"
)

// shellTool is the one tool offered to the model.
func shellTool() responses.Tool {
	return responses.Tool{
		Name: "shell",
		Description: "Run a shell command (bash -lc) in the thread's working directory and return its exit code and output. " +
			"Commands run in a sandbox; set sandbox_permissions to \"require_escalated\" with a justification when a command needs " +
			"to write outside the workspace or reach the network, and the user will be asked to approve it.",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"command":{"type":"string","description":"The command line, run with bash -lc."},` +
			`"workdir":{"type":"string","description":"Working directory; defaults to the thread's."},` +
			`"timeout_ms":{"type":"integer","description":"Timeout in milliseconds; defaults to 10000."},` +
			`"sandbox_permissions":{"type":"string","enum":["use_default","require_escalated"]},` +
			`"justification":{"type":"string","description":"Why escalated permissions are needed."}},` +
			`"required":["command"],"additionalProperties":false}`),
	}
}

type shellArgs struct {
	Command            json.RawMessage `json:"command"`
	Workdir            string          `json:"workdir"`
	TimeoutMs          int64           `json:"timeout_ms"`
	SandboxPermissions string          `json:"sandbox_permissions"`
	Justification      string          `json:"justification"`
}

// commandLine reads command as a string, or as an argv array (which older
// models send), joined with shell quoting.
func (a shellArgs) commandLine() (string, error) {
	var s string
	if err := json.Unmarshal(a.Command, &s); err == nil {
		return s, nil
	}
	var argv []string
	if err := json.Unmarshal(a.Command, &argv); err == nil && len(argv) > 0 {
		if len(argv) == 3 && (argv[0] == "bash" || argv[0] == "/bin/bash" || argv[0] == "sh") && (argv[1] == "-lc" || argv[1] == "-c") {
			return argv[2], nil
		}
		q := make([]string, len(argv))
		for i, x := range argv {
			q[i] = shellQuote(x)
		}
		return strings.Join(q, " "), nil
	}
	return "", fmt.Errorf("command must be a string")
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// toolCall executes one function call of the model and records its output
// in the history.
func (r *turnRun) toolCall(c responses.OutputItem) string {
	call := responses.FunctionCall(c.CallID, c.Name, c.Arguments)
	reply := func(out string) string {
		r.t.mu.Lock()
		r.t.history = append(r.t.history, call, responses.FunctionCallOutput(c.CallID, out))
		r.t.mu.Unlock()
		return out
	}
	if c.Name != "shell" {
		return reply("unsupported tool: " + c.Name)
	}
	var args shellArgs
	if err := json.Unmarshal([]byte(c.Arguments), &args); err != nil {
		return reply("invalid arguments: " + err.Error())
	}
	cmd, err := args.commandLine()
	if err != nil {
		return reply("invalid arguments: " + err.Error())
	}
	out, _ := r.runShell(c.CallID, cmd, args, "agent", call)
	return out
}

// runShell runs one command as a commandExecution item: item/started,
// the approval if the policy asks for one, output deltas, item/completed.
// It returns the text given back to the model.
func (r *turnRun) runShell(itemID, cmd string, args shellArgs, source string, call responses.Item) (string, int) {
	t := r.t
	t.mu.Lock()
	s := t.settings
	approved := t.approved[cmd]
	t.mu.Unlock()
	cwd := s.Cwd
	if args.Workdir != "" {
		if filepath.IsAbs(args.Workdir) {
			cwd = filepath.Clean(args.Workdir)
		} else {
			cwd = filepath.Join(s.Cwd, args.Workdir)
		}
	}
	display := "/bin/bash -lc " + shellQuote(cmd)
	started := nowMs()
	item := &commandItem{
		Type: "commandExecution", ID: itemID, Command: display, Cwd: cwd, Source: source, Status: "inProgress",
		CommandActions: []commandAction{{Type: "unknown", Command: cmd}}, StartedAtMs: started,
	}
	r.itemStarted(item, started)
	finish := func(status, output string, exit *int, hist ...responses.Item) {
		done := nowMs()
		item.Status, item.CompletedAtMs = status, ptr(done)
		item.DurationMs = ptr(done - started)
		if exit != nil {
			item.ExitCode = exit
			item.AggregatedOutput = ptr(output)
		}
		_ = r.addItem(item, started, done, hist...)
	}
	toModel := func(out string) []responses.Item {
		if call.Type == "" {
			return nil
		}
		return []responses.Item{call, responses.FunctionCallOutput(call.CallID, out)}
	}

	policy := s.Sandbox
	if source == "userShell" {
		// A command the user typed runs as the user, as on the reference,
		// unless the server is confined to workspace roots.
		policy = sandbox.Policy{Kind: sandbox.DangerFullAccess}
		if t.e.opts.Guard.Confined() {
			policy = s.Sandbox
		}
	}
	if source == "agent" {
		escalate := args.SandboxPermissions == "require_escalated"
		needApproval := escalate && s.ApprovalPolicy != "never"
		if escalate && !approved && needApproval {
			decision := r.approve(item, args.Justification)
			switch decision {
			case "accept", "acceptForSession":
				if decision == "acceptForSession" {
					t.mu.Lock()
					t.approved[cmd] = true
					t.mu.Unlock()
				}
				policy = sandbox.Policy{Kind: sandbox.DangerFullAccess}
			case "decline":
				out := "Rejected(\"rejected by user\")"
				finish("declined", "", nil, toModel(out)...)
				return out, -1
			case "cancel":
				out := "Rejected(\"rejected by user\")"
				finish("declined", "", nil, toModel(out)...)
				r.cancel(errInterrupted)
				return out, -1
			default: // the request failed or the turn was interrupted
				out := "Rejected(\"approval request failed\")"
				finish("failed", "", nil, toModel(out)...)
				return out, -1
			}
		} else if escalate && (approved || s.ApprovalPolicy == "never") {
			if approved {
				policy = sandbox.Policy{Kind: sandbox.DangerFullAccess}
			}
		}
	}
	if t.e.opts.Guard.Confined() && policy.Kind == sandbox.DangerFullAccess {
		policy = s.Sandbox
	}
	// The model chooses the workdir: under --workspace-root it must stay
	// inside the roots, as a client's command cwd must.
	if _, err := t.e.opts.Guard.Check(cwd); err != nil {
		out := "workdir: " + err.Error()
		finish("failed", out, ptr(-1), toModel(out)...)
		return out, -1
	}
	if err := policy.Check(t.e.opts.Support); err != nil {
		out := err.Error()
		finish("failed", out, ptr(-1), toModel(out)...)
		return out, -1
	}

	timeout := t.e.opts.CommandTimeout
	if args.TimeoutMs > 0 {
		timeout = time.Duration(args.TimeoutMs) * time.Millisecond
	}
	argv, isolated, err := t.e.opts.Isolation.Command(t.e.opts.Helper, policy, []string{"/bin/bash", "-lc", cmd})
	if err != nil {
		out := err.Error()
		finish("failed", out, ptr(-1), toModel(out)...)
		return out, -1
	}
	var mu sync.Mutex
	var agg strings.Builder
	const keep = 64 << 10
	var isolate func(*syscall.SysProcAttr)
	if isolated {
		isolate = t.e.opts.Isolation.SysProcAttr
	}
	env := t.e.opts.Env()
	if source == "agent" {
		env = withoutSecrets(env)
	}
	p, err := procexec.Start(r.ctx, procexec.Spec{
		Argv: argv, Dir: cwd, Env: sandbox.HelperEnv(policy, env), Isolate: isolate,
		Stream: true, Timeout: timeout, OutputCap: 1 << 20,
		OnOutput: func(stream string, chunk []byte, capReached bool) {
			text := strings.ToValidUTF8(string(chunk), "\uFFFD")
			mu.Lock()
			if agg.Len() < keep {
				agg.WriteString(text)
			}
			mu.Unlock()
			t.notify("item/commandExecution/outputDelta", map[string]any{"threadId": t.id, "turnId": r.id, "itemId": itemID, "delta": text})
		},
	})
	if err != nil {
		out := "failed to spawn command: " + err.Error()
		finish("failed", out, ptr(-1), toModel(out)...)
		return out, -1
	}
	item.ProcessID = ptr(strconv.Itoa(p.Pid()))
	res := p.Wait()
	mu.Lock()
	output := agg.String()
	mu.Unlock()
	status := "completed"
	if res.ExitCode != 0 {
		status = "failed"
	}
	modelOut := fmt.Sprintf("Exit code: %d\nWall time: %.1f seconds\nOutput:\n%s", res.ExitCode, res.Duration.Seconds(), truncateOutput(output, 16<<10))
	if res.TimedOut {
		modelOut = fmt.Sprintf("command timed out after %v\n", timeout) + modelOut
	}
	finish(status, output, ptr(res.ExitCode), toModel(modelOut)...)
	return modelOut, res.ExitCode
}

// truncateOutput keeps the head and tail of long output.
func truncateOutput(s string, max int) string {
	if len(s) <= max {
		return s
	}
	head := s[:max/2]
	tail := s[len(s)-max/2:]
	return strings.ToValidUTF8(head, "") + fmt.Sprintf("\n[… %d bytes omitted …]\n", len(s)-max) + strings.ToValidUTF8(tail, "")
}

// runUserShell runs thread/shellCommand as a turn of its own.
func (r *turnRun) runUserShell(cmd string, timeoutMs int64) {
	if err := r.begin(); err != nil {
		r.fail(&turnError{Message: "persisting the turn: " + err.Error()})
		return
	}
	r.runShell("call_"+newID(), cmd, shellArgs{TimeoutMs: timeoutMs}, "userShell", responses.Item{})
	r.t.touch(previewOf(cmd))
	if r.interrupted() {
		r.end("interrupted", nil)
		return
	}
	r.end("completed", nil)
}

// withoutSecrets drops the variables whose names say they hold a
// credential (containing KEY, SECRET or TOKEN, in any case) from the
// environment of the model's commands, as the reference's default shell
// environment policy does: the server's own OPENAI_API_KEY, say, is not
// the model's to read. Commands the user types (thread/shellCommand) and
// those a client starts with command/exec keep the full environment.
func withoutSecrets(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		up := strings.ToUpper(name)
		if strings.Contains(up, "KEY") || strings.Contains(up, "SECRET") || strings.Contains(up, "TOKEN") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
