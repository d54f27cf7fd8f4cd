package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/appserver-go/appserver/internal/pathguard"
)

// Kind is the kind of a sandbox policy. The zero Kind is ReadOnly, so the
// zero Policy is the protocol's default: read-only, no network.
type Kind int

const (
	// ReadOnly lets the command read and execute anything and write
	// nowhere but a few devices (/dev/null, the terminal).
	ReadOnly Kind = iota
	// WorkspaceWrite is ReadOnly plus writes under the writable roots,
	// /tmp and $TMPDIR.
	WorkspaceWrite
	// DangerFullAccess runs the command without a sandbox.
	DangerFullAccess
)

// String returns the protocol's name for k ("readOnly", …).
func (k Kind) String() string {
	switch k {
	case ReadOnly:
		return "readOnly"
	case WorkspaceWrite:
		return "workspaceWrite"
	case DangerFullAccess:
		return "dangerFullAccess"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Policy is a sandbox policy for one command. The zero Policy is the
// default: ReadOnly without network access.
//
// WritableRoots and the Exclude fields matter only for WorkspaceWrite;
// NetworkAccess matters for ReadOnly and WorkspaceWrite (DangerFullAccess
// always has the network).
type Policy struct {
	Kind Kind
	// WritableRoots are absolute paths under which WorkspaceWrite may
	// write. Roots that do not exist when the command starts are skipped.
	WritableRoots []string
	// NetworkAccess allows TCP connect and bind. When false, both are
	// denied (see the package documentation for what that covers).
	NetworkAccess bool
	// ExcludeSlashTmp keeps /tmp read-only under WorkspaceWrite.
	ExcludeSlashTmp bool
	// ExcludeTmpdirEnvVar keeps $TMPDIR (as the command's environment
	// sets it) read-only under WorkspaceWrite.
	ExcludeTmpdirEnvVar bool
}

// String returns p as its protocol JSON.
func (p Policy) String() string {
	b, err := p.MarshalJSON()
	if err != nil {
		return "invalid sandbox policy: " + err.Error()
	}
	return string(b)
}

// Permission profile ids accepted by FromProfile.
const (
	ProfileReadOnly         = ":read-only"
	ProfileWorkspace        = ":workspace"
	ProfileDangerFullAccess = ":danger-full-access"
)

// Errors returned by this package. Test for them with errors.Is.
var (
	// ErrExternalSandbox is returned by ParsePolicy for the protocol's
	// externalSandbox policy, which asks the server to trust that it
	// already runs inside a sandbox. appserver cannot verify that claim,
	// so it refuses rather than run the command unconfined.
	ErrExternalSandbox = errors.New("sandbox policy externalSandbox is not supported: appserver cannot verify that it already runs inside a sandbox; use readOnly or workspaceWrite, or dangerFullAccess to run without a sandbox")

	// ErrUnknownProfile is returned by FromProfile for an id it does not know.
	ErrUnknownProfile = errors.New("unknown permission profile")

	// ErrUnenforceable is wrapped by Check's errors: the policy is valid
	// but this kernel (or platform) cannot enforce it.
	ErrUnenforceable = errors.New("sandbox policy cannot be enforced")
)

// ParsePolicy decodes the protocol's SandboxPolicy JSON:
//
//	{"type":"dangerFullAccess"}
//	{"type":"readOnly","networkAccess":false}
//	{"type":"workspaceWrite","writableRoots":["/abs"],"networkAccess":false,
//	 "excludeSlashTmp":false,"excludeTmpdirEnvVar":false}
//
// Missing fields take their defaults (false, no roots); fields that do not
// belong to the variant are ignored, and field names are case-sensitive, as
// in the reference's serde decoding. A relative writable root fails with
// the reference's text "AbsolutePathBuf deserialized without a base path"
// (errors.Is pathguard.ErrNotAbsolute). {"type":"externalSandbox"} fails
// with ErrExternalSandbox. raw must be an object: the caller maps an absent
// or null sandboxPolicy to its default.
func ParsePolicy(raw json.RawMessage) (Policy, error) {
	fields, err := decodeObject(raw)
	if err != nil {
		return Policy{}, err
	}
	typ, ok := fields["type"]
	if !ok {
		return Policy{}, errors.New("missing field `type`")
	}
	var name string
	if err := json.Unmarshal(typ, &name); err != nil {
		return Policy{}, fmt.Errorf("invalid type: %s, expected variant identifier", describe(typ))
	}
	var p Policy
	switch name {
	case "dangerFullAccess":
		return Policy{Kind: DangerFullAccess}, nil
	case "readOnly":
		p.Kind = ReadOnly
		if err := decodeBool(fields, "networkAccess", &p.NetworkAccess); err != nil {
			return Policy{}, err
		}
		return p, nil
	case "workspaceWrite":
		p.Kind = WorkspaceWrite
		for _, f := range []struct {
			name string
			dst  *bool
		}{
			{"networkAccess", &p.NetworkAccess},
			{"excludeSlashTmp", &p.ExcludeSlashTmp},
			{"excludeTmpdirEnvVar", &p.ExcludeTmpdirEnvVar},
		} {
			if err := decodeBool(fields, f.name, f.dst); err != nil {
				return Policy{}, err
			}
		}
		if v, ok := fields["writableRoots"]; ok {
			roots, err := decodeRoots(v)
			if err != nil {
				return Policy{}, err
			}
			p.WritableRoots = roots
		}
		return p, nil
	case "externalSandbox":
		return Policy{}, ErrExternalSandbox
	}
	return Policy{}, fmt.Errorf("unknown variant `%s`, expected one of `dangerFullAccess`, `readOnly`, `externalSandbox`, `workspaceWrite`", clip(name))
}

// FromProfile returns the policy of a built-in permission profile:
// ":read-only" is ReadOnly, ":workspace" is WorkspaceWrite with cwd (which
// must be absolute) as its writable root, ":danger-full-access" is
// DangerFullAccess. None of them has network access except the last.
func FromProfile(id, cwd string) (Policy, error) {
	switch id {
	case ProfileReadOnly:
		return Policy{Kind: ReadOnly}, nil
	case ProfileWorkspace:
		if !filepath.IsAbs(cwd) {
			return Policy{}, fmt.Errorf("permission profile %s: working directory %q: %w", id, cwd, pathguard.ErrNotAbsolute)
		}
		return Policy{Kind: WorkspaceWrite, WritableRoots: []string{cwd}}, nil
	case ProfileDangerFullAccess:
		return Policy{Kind: DangerFullAccess}, nil
	}
	return Policy{}, fmt.Errorf("%w %q: expected one of %q, %q, %q", ErrUnknownProfile, clip(id), ProfileReadOnly, ProfileWorkspace, ProfileDangerFullAccess)
}

// wirePolicy is the protocol shape MarshalJSON writes.
type wirePolicy struct {
	Type                string    `json:"type"`
	WritableRoots       *[]string `json:"writableRoots,omitempty"`
	NetworkAccess       *bool     `json:"networkAccess,omitempty"`
	ExcludeSlashTmp     *bool     `json:"excludeSlashTmp,omitempty"`
	ExcludeTmpdirEnvVar *bool     `json:"excludeTmpdirEnvVar,omitempty"`
}

// MarshalJSON encodes p in the protocol's SandboxPolicy shape, with every
// field of its variant spelled out; ParsePolicy reads it back unchanged.
func (p Policy) MarshalJSON() ([]byte, error) {
	w := wirePolicy{Type: p.Kind.String()}
	switch p.Kind {
	case DangerFullAccess:
	case ReadOnly:
		w.NetworkAccess = &p.NetworkAccess
	case WorkspaceWrite:
		roots := p.WritableRoots
		if roots == nil {
			roots = []string{}
		}
		w.WritableRoots = &roots
		w.NetworkAccess = &p.NetworkAccess
		w.ExcludeSlashTmp = &p.ExcludeSlashTmp
		w.ExcludeTmpdirEnvVar = &p.ExcludeTmpdirEnvVar
	default:
		return nil, fmt.Errorf("sandbox: invalid policy kind %d", int(p.Kind))
	}
	return json.Marshal(w)
}

// validate reports a policy that no JSON could have produced: an unknown
// kind or a relative writable root.
func (p Policy) validate() error {
	switch p.Kind {
	case ReadOnly, DangerFullAccess:
		return nil
	case WorkspaceWrite:
		for _, r := range p.WritableRoots {
			if err := checkRoot(r); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("invalid sandbox policy kind %d", int(p.Kind))
}

func checkRoot(r string) error {
	if !filepath.IsAbs(r) {
		return fmt.Errorf("writable root %q: %w", clip(r), pathguard.ErrNotAbsolute)
	}
	if strings.IndexByte(r, 0) >= 0 {
		return fmt.Errorf("writable root %q contains a NUL byte", clip(r))
	}
	if !utf8.ValidString(r) {
		// The helper gets the policy as JSON, which would mangle it.
		return fmt.Errorf("writable root %q is not valid UTF-8", clip(r))
	}
	return nil
}

// decodeObject splits a JSON object into its members, keeping names
// exact (encoding/json would match them case-insensitively) and
// rejecting duplicates, as serde does.
func decodeObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("invalid type: %s, expected internally tagged enum SandboxPolicy", describe(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid sandbox policy: %w", err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("invalid sandbox policy: %w", err)
		}
		if _, dup := fields[name]; dup {
			return nil, fmt.Errorf("duplicate field `%s`", clip(name))
		}
		fields[name] = v
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, fmt.Errorf("invalid sandbox policy: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("invalid sandbox policy: trailing characters")
	}
	return fields, nil
}

func decodeBool(fields map[string]json.RawMessage, name string, dst *bool) error {
	v, ok := fields[name]
	if !ok {
		return nil
	}
	switch string(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return fmt.Errorf("%s: invalid type: %s, expected a boolean", name, describe(v))
	}
	return nil
}

func decodeRoots(v json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil || v[0] != '[' {
		return nil, fmt.Errorf("writableRoots: invalid type: %s, expected a sequence", describe(v))
	}
	var roots []string
	for _, it := range items {
		var s string
		if len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &s) != nil {
			return nil, fmt.Errorf("writableRoots: invalid type: %s, expected path string", describe(it))
		}
		if err := checkRoot(s); err != nil {
			return nil, err
		}
		roots = append(roots, s)
	}
	return roots, nil
}

// describe names a JSON value the way serde's "invalid type" errors do.
func describe(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "map"
	case '[':
		return "sequence"
	case '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return fmt.Sprintf("string %q", clip(s))
		}
		return "string"
	case 't', 'f':
		return "boolean `" + string(v) + "`"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(v, ".eE") {
		return "floating point `" + clip(string(v)) + "`"
	}
	return "integer `" + clip(string(v)) + "`"
}

// clip keeps echoed client text short.
func clip(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
