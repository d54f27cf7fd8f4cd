package execmethods

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/procexec"
	"github.com/appserver-go/appserver/internal/sandbox"
)

type commandExecParams struct {
	Command            []string           `json:"command"`
	Cwd                *string            `json:"cwd"`
	Env                map[string]*string `json:"env"`
	ProcessID          *string            `json:"processId"`
	TTY                bool               `json:"tty"`
	Size               *termSize          `json:"size"`
	StreamStdin        bool               `json:"streamStdin"`
	StreamStdoutStderr bool               `json:"streamStdoutStderr"`
	OutputBytesCap     *int64             `json:"outputBytesCap"`
	DisableOutputCap   bool               `json:"disableOutputCap"`
	TimeoutMs          *int64             `json:"timeoutMs"`
	DisableTimeout     bool               `json:"disableTimeout"`
	SandboxPolicy      json.RawMessage    `json:"sandboxPolicy"`
	PermissionProfile  *string            `json:"permissionProfile"`
}

// Validate checks the params in the reference's order and with its texts.
func (p *commandExecParams) Validate() error {
	switch {
	case p.Command == nil:
		return appserver.MissingField("command")
	case len(p.Command) == 0:
		return invalidRequest("command must not be empty")
	case p.Size != nil && !p.TTY:
		return invalidParams("command/exec size requires tty: true")
	case (p.TTY || p.StreamStdin || p.StreamStdoutStderr) && (p.ProcessID == nil || *p.ProcessID == ""):
		return invalidRequest("command/exec tty or streaming requires a client-supplied processId")
	case p.OutputBytesCap != nil && p.DisableOutputCap:
		return invalidParams("command/exec cannot set both outputBytesCap and disableOutputCap")
	case p.TimeoutMs != nil && p.DisableTimeout:
		return invalidParams("command/exec cannot set both timeoutMs and disableTimeout")
	case p.TimeoutMs != nil && *p.TimeoutMs < 0:
		return invalidParams("command/exec timeoutMs must be non-negative, got %d", *p.TimeoutMs)
	case p.OutputBytesCap != nil && *p.OutputBytesCap < 0:
		return invalidParams("command/exec outputBytesCap must be non-negative, got %d", *p.OutputBytesCap)
	case rawIsSet(p.SandboxPolicy) && p.PermissionProfile != nil:
		return invalidRequest("`permissionProfile` cannot be combined with `sandboxPolicy`")
	}
	if p.Size != nil {
		return p.Size.validate()
	}
	return nil
}

type commandExecResult struct {
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

type outputDelta struct {
	ProcessID   string `json:"processId,omitempty"`
	Handle      string `json:"processHandle,omitempty"`
	Stream      string `json:"stream"`
	DeltaBase64 string `json:"deltaBase64"`
	CapReached  bool   `json:"capReached"`
}

// policyFor picks the sandbox policy of a command/exec request.
func (m *Methods) policyFor(raw json.RawMessage, profile *string, cwd string) (sandbox.Policy, error) {
	switch {
	case rawIsSet(raw):
		p, err := sandbox.ParsePolicy(raw)
		if err != nil {
			return p, appserver.InvalidRequest(err.Error())
		}
		return p, nil
	case profile != nil:
		p, err := sandbox.FromProfile(*profile, cwd)
		if err != nil {
			return p, invalidRequest("invalid permission profile: default_permissions refers to unknown built-in profile `%s`", *profile)
		}
		return p, nil
	}
	return m.opts.DefaultPolicy, nil
}

func (m *Methods) commandExec(ctx context.Context, req *appserver.Request) (any, error) {
	var p commandExecParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	cwd := ""
	if p.Cwd != nil {
		cwd = *p.Cwd
	}
	dir, err := m.workdir(cwd)
	if err != nil {
		return nil, appserver.InvalidRequest(err.Error())
	}
	policy, err := m.policyFor(p.SandboxPolicy, p.PermissionProfile, dir)
	if err != nil {
		return nil, err
	}
	if err := m.confine(policy); err != nil {
		return nil, err
	}
	spec := procexec.Spec{
		Dir:     dir,
		Env:     m.environment(p.Env),
		TTY:     p.TTY,
		Stdin:   p.StreamStdin || p.TTY,
		Stream:  p.StreamStdoutStderr || p.TTY,
		Timeout: m.opts.DefaultTimeout,
	}
	if p.Size != nil {
		spec.Rows, spec.Cols = *p.Size.Rows, *p.Size.Cols
	}
	switch {
	case p.DisableOutputCap:
		spec.OutputCap = -1
	case p.OutputBytesCap != nil:
		spec.OutputCap = *p.OutputBytesCap
		if spec.OutputCap == 0 {
			spec.OutputCap = procexec.NoOutput
		}
	}
	switch {
	case p.DisableTimeout:
		spec.Timeout = 0
	case p.TimeoutMs != nil:
		// timeoutMs 0 runs without a timeout, as on the reference.
		spec.Timeout = millis(*p.TimeoutMs)
	}
	name := ""
	if p.ProcessID != nil {
		name = *p.ProcessID
	}
	c := m.connFor(req.Session)
	r, err := m.reserve(c, c.exec, name, func() error {
		return invalidRequest("duplicate active command/exec process id: %s", strconv.Quote(name))
	})
	if err != nil {
		return nil, err
	}
	defer m.release(c, c.exec, name, r)
	// Output waits until the process is in the table, so that a client
	// that has seen some can write to, resize or terminate the process.
	ready := make(chan struct{})
	if spec.Stream {
		sess := req.Session
		spec.OnOutput = func(stream string, chunk []byte, capReached bool) {
			<-ready
			_ = sess.Notify("command/exec/outputDelta", outputDelta{
				ProcessID: name, Stream: stream, DeltaBase64: base64.StdEncoding.EncodeToString(chunk), CapReached: capReached,
			})
		}
	}
	proc, err := m.start(ctx, "command", p.Command, policy, spec)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	r.p, r.stdin, r.tty = proc, spec.Stdin, p.TTY
	m.mu.Unlock()
	close(ready)
	res := proc.Wait()
	return commandExecResult{ExitCode: res.ExitCode, Stdout: outputText(res.Stdout), Stderr: outputText(res.Stderr)}, nil
}

type commandWriteParams struct {
	ProcessID   *string `json:"processId"`
	DeltaBase64 *string `json:"deltaBase64"`
	CloseStdin  bool    `json:"closeStdin"`
}

func (p *commandWriteParams) Validate() error {
	if p.ProcessID == nil {
		return appserver.MissingField("processId")
	}
	return nil
}

type processIDParams struct {
	ProcessID *string   `json:"processId"`
	Size      *termSize `json:"size"`
}

func (p *processIDParams) Validate() error {
	if p.ProcessID == nil {
		return appserver.MissingField("processId")
	}
	return nil
}

func noActiveCommand(id string) error {
	return invalidRequest("no active command/exec for process id %s", strconv.Quote(id))
}

func (m *Methods) commandWrite(ctx context.Context, req *appserver.Request) (any, error) {
	var p commandWriteParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	var data []byte
	if p.DeltaBase64 != nil {
		var err error
		if data, err = decodeDelta(*p.DeltaBase64); err != nil {
			return nil, err
		}
	}
	r := m.lookup(m.connFor(req.Session), m.connFor(req.Session).exec, *p.ProcessID)
	if r == nil {
		return nil, noActiveCommand(*p.ProcessID)
	}
	if !r.stdin {
		return nil, invalidRequest("stdin streaming is not enabled for this process")
	}
	if err := writeTo(r, data, p.CloseStdin); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (m *Methods) commandTerminate(ctx context.Context, req *appserver.Request) (any, error) {
	var p processIDParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	c := m.connFor(req.Session)
	r := m.lookup(c, c.exec, *p.ProcessID)
	if r == nil {
		return nil, noActiveCommand(*p.ProcessID)
	}
	r.p.Terminate()
	return struct{}{}, nil
}

func (m *Methods) commandResize(ctx context.Context, req *appserver.Request) (any, error) {
	var p processIDParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	if p.Size == nil {
		return nil, appserver.MissingField("size")
	}
	if err := p.Size.validate(); err != nil {
		return nil, err
	}
	c := m.connFor(req.Session)
	r := m.lookup(c, c.exec, *p.ProcessID)
	if r == nil {
		return nil, noActiveCommand(*p.ProcessID)
	}
	if !r.tty {
		return nil, invalidRequest("command/exec process %s has no terminal (tty: false)", strconv.Quote(*p.ProcessID))
	}
	if err := r.p.Resize(*p.Size.Rows, *p.Size.Cols); err != nil {
		return nil, invalidRequest("%s", procErrText(err))
	}
	return struct{}{}, nil
}
