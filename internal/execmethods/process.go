package execmethods

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/internal/procexec"
	"github.com/appserver-go/appserver/jsonrpc"
)

type processSpawnParams struct {
	Command            []string           `json:"command"`
	ProcessHandle      *string            `json:"processHandle"`
	Cwd                *string            `json:"cwd"`
	Env                map[string]*string `json:"env"`
	TTY                bool               `json:"tty"`
	Size               *termSize          `json:"size"`
	StreamStdin        bool               `json:"streamStdin"`
	StreamStdoutStderr bool               `json:"streamStdoutStderr"`
	// OutputBytesCap and TimeoutMs tell absent (the default) from null
	// (no cap, no timeout).
	OutputBytesCap json.RawMessage `json:"outputBytesCap"`
	TimeoutMs      json.RawMessage `json:"timeoutMs"`
}

func (p *processSpawnParams) Validate() error {
	switch {
	case p.Command == nil:
		return appserver.MissingField("command")
	case p.ProcessHandle == nil:
		return appserver.MissingField("processHandle")
	case p.Cwd == nil:
		return appserver.MissingField("cwd")
	case len(p.Command) == 0:
		return invalidRequest("command must not be empty")
	case p.Size != nil && !p.TTY:
		return invalidParams("process/spawn size requires tty: true")
	}
	if p.Size != nil {
		return p.Size.validate()
	}
	return nil
}

type processExited struct {
	ProcessHandle       string `json:"processHandle"`
	ExitCode            int    `json:"exitCode"`
	OutputDrainTimedOut bool   `json:"outputDrainTimedOut"`
	Stdout              string `json:"stdout"`
	StdoutCapReached    bool   `json:"stdoutCapReached"`
	Stderr              string `json:"stderr"`
	StderrCapReached    bool   `json:"stderrCapReached"`
}

// processSpawn starts a process and answers at once; process/exited
// reports its end. It runs under the server's default sandbox policy: the
// request has no policy field, and the reference's choice (no sandbox at
// all) would let any client escape the sandbox by using this method
// instead of command/exec.
func (m *Methods) processSpawn(ctx context.Context, req *appserver.Request) (any, error) {
	var p processSpawnParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, err
	}
	dir, err := m.opts.Guard.Check(*p.Cwd)
	if err != nil {
		return nil, appserver.InvalidRequest(err.Error())
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
	if len(p.OutputBytesCap) > 0 {
		if jsonrpc.IsNull(p.OutputBytesCap) {
			spec.OutputCap = -1
		} else if err := json.Unmarshal(p.OutputBytesCap, &spec.OutputCap); err != nil || spec.OutputCap < 0 {
			return nil, appserver.InvalidRequest("invalid type: expected a non-negative integer at `outputBytesCap`")
		} else if spec.OutputCap == 0 {
			// 0 keeps nothing, as on command/exec (procexec's 0 is its default).
			spec.OutputCap = procexec.NoOutput
		}
	}
	if len(p.TimeoutMs) > 0 {
		if jsonrpc.IsNull(p.TimeoutMs) {
			spec.Timeout = 0
		} else {
			var ms int64
			if err := json.Unmarshal(p.TimeoutMs, &ms); err != nil {
				return nil, appserver.InvalidRequest("invalid type: expected an integer at `timeoutMs`")
			}
			if ms < 0 {
				return nil, invalidParams("process/spawn timeoutMs must be non-negative, got %d", ms)
			}
			spec.Timeout = millis(ms)
		}
	}
	policy := m.opts.DefaultPolicy
	if err := m.confine(policy); err != nil {
		return nil, err
	}
	name := *p.ProcessHandle
	c := m.connFor(req.Session)
	r, err := m.reserve(c, c.spawned, name, func() error {
		return invalidRequest("duplicate active process handle: %s", strconv.Quote(name))
	})
	if err != nil {
		return nil, err
	}
	sess := req.Session
	// Output and process/exited wait until the answer has been queued
	// (AfterReply, below), so the client hears of the process in the
	// reference's order, {} first, and can act on any output it sees.
	ready := make(chan struct{})
	if spec.Stream {
		spec.OnOutput = func(stream string, chunk []byte, capReached bool) {
			<-ready
			_ = sess.Notify("process/outputDelta", outputDelta{
				Handle: name, Stream: stream, DeltaBase64: base64.StdEncoding.EncodeToString(chunk), CapReached: capReached,
			})
		}
	}
	// The process outlives this request: it runs on the session's context,
	// so closing the connection kills it.
	proc, err := m.start(sess.Context(), "process", p.Command, policy, spec)
	if err != nil {
		m.release(c, c.spawned, name, r)
		return nil, err
	}
	m.mu.Lock()
	r.p, r.stdin, r.tty = proc, spec.Stdin, p.TTY
	m.mu.Unlock()
	go func() {
		res := proc.Wait()
		m.release(c, c.spawned, name, r)
		<-ready
		_ = sess.Notify("process/exited", processExited{
			ProcessHandle: name, ExitCode: res.ExitCode, OutputDrainTimedOut: res.OutputDrainTimedOut,
			Stdout: outputText(res.Stdout), StdoutCapReached: res.StdoutCapReached,
			Stderr: outputText(res.Stderr), StderrCapReached: res.StderrCapReached,
		})
	}()
	return appserver.AfterReply(struct{}{}, func() { close(ready) }), nil
}

type handleParams struct {
	ProcessHandle *string   `json:"processHandle"`
	DeltaBase64   *string   `json:"deltaBase64"`
	CloseStdin    bool      `json:"closeStdin"`
	Size          *termSize `json:"size"`
}

func (p *handleParams) Validate() error {
	if p.ProcessHandle == nil {
		return appserver.MissingField("processHandle")
	}
	return nil
}

func noActiveProcess(h string) error {
	return invalidRequest("no active process for process handle %s", strconv.Quote(h))
}

func (m *Methods) handle(req *appserver.Request) (*handleParams, *running, error) {
	var p handleParams
	if err := req.DecodeParams(&p); err != nil {
		return nil, nil, err
	}
	c := m.connFor(req.Session)
	r := m.lookup(c, c.spawned, *p.ProcessHandle)
	if r == nil {
		return &p, nil, noActiveProcess(*p.ProcessHandle)
	}
	return &p, r, nil
}

func (m *Methods) processWrite(ctx context.Context, req *appserver.Request) (any, error) {
	p, r, err := m.handle(req)
	if err != nil {
		return nil, err
	}
	var data []byte
	if p.DeltaBase64 != nil {
		if data, err = decodeDelta(*p.DeltaBase64); err != nil {
			return nil, err
		}
	}
	if !r.stdin {
		return nil, invalidRequest("stdin streaming is not enabled for this process")
	}
	if err := writeTo(r, data, p.CloseStdin); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (m *Methods) processKill(ctx context.Context, req *appserver.Request) (any, error) {
	_, r, err := m.handle(req)
	if err != nil {
		return nil, err
	}
	r.p.Terminate()
	return struct{}{}, nil
}

func (m *Methods) processResize(ctx context.Context, req *appserver.Request) (any, error) {
	p, r, err := m.handle(req)
	if err != nil {
		return nil, err
	}
	if p.Size == nil {
		return nil, appserver.MissingField("size")
	}
	if err := p.Size.validate(); err != nil {
		return nil, err
	}
	if !r.tty {
		return nil, invalidRequest("process %s has no terminal (tty: false)", strconv.Quote(*p.ProcessHandle))
	}
	if err := r.p.Resize(*p.Size.Rows, *p.Size.Cols); err != nil {
		return nil, invalidRequest("%s", procErrText(err))
	}
	return struct{}{}, nil
}
