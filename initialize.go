package appserver

import (
	"encoding/json"
	"runtime"
	"strings"
)

// ClientInfo identifies the client, from the initialize request.
type ClientInfo struct {
	Name    string  `json:"name"`
	Title   *string `json:"title"`
	Version string  `json:"version"`
}

// Capabilities are what the client declared in initialize.
type Capabilities struct {
	// ExperimentalAPI opts into experimental methods and fields.
	ExperimentalAPI bool `json:"experimentalApi"`
	// OptOutNotificationMethods lists notification methods this
	// connection never receives.
	OptOutNotificationMethods []string `json:"optOutNotificationMethods"`
	// RequestAttestation and RequiredHumanApproval are passed through for
	// handlers that care.
	RequestAttestation    bool `json:"requestAttestation"`
	RequiredHumanApproval bool `json:"requiredHumanApproval"`
	// Raw is the whole capabilities object as sent, for fields this type
	// does not name (extensions and the like). Nil when absent.
	Raw json.RawMessage `json:"-"`
}

// InitializeResult is the answer to initialize.
type InitializeResult struct {
	UserAgent      string `json:"userAgent"`
	CodexHome      string `json:"codexHome"`
	PlatformFamily string `json:"platformFamily"`
	PlatformOs     string `json:"platformOs"`
}

// initializeParams mirrors InitializeParams with pointers, so that absent
// required fields can be told from empty ones.
type initializeParams struct {
	ClientInfo *struct {
		Name    *string `json:"name"`
		Title   *string `json:"title"`
		Version *string `json:"version"`
	} `json:"clientInfo"`
	Capabilities json.RawMessage `json:"capabilities"`
}

func (p *initializeParams) Validate() error {
	switch {
	case p.ClientInfo == nil:
		return MissingField("clientInfo")
	case p.ClientInfo.Name == nil:
		return MissingField("name")
	case p.ClientInfo.Version == nil:
		return MissingField("version")
	}
	return nil
}

func parseInitialize(raw json.RawMessage) (ClientInfo, Capabilities, error) {
	var p initializeParams
	if err := decodeParams(raw, &p); err != nil {
		return ClientInfo{}, Capabilities{}, err
	}
	ci := ClientInfo{Name: *p.ClientInfo.Name, Title: p.ClientInfo.Title, Version: *p.ClientInfo.Version}
	var caps Capabilities
	if len(p.Capabilities) > 0 && string(p.Capabilities) != "null" {
		if err := decodeParams(p.Capabilities, &caps); err != nil {
			return ClientInfo{}, Capabilities{}, err
		}
		caps.Raw = p.Capabilities
	}
	return ci, caps, nil
}

// platform returns the platformFamily and platformOs values, named as the
// reference names them.
func platform() (family, os string) {
	family = "unix"
	if runtime.GOOS == "windows" {
		family = "windows"
	}
	os = runtime.GOOS
	if os == "darwin" {
		os = "macos"
	}
	return family, os
}

// userAgent formats "<name>/<protocol> (<os>; <arch>; <name> <version>)
// (<client>; <client version>)". The version slot carries the Codex
// protocol version the server speaks, because clients compare it with
// their own: the Codex terminal client warns that "a background Codex
// service is running" an older version when it is lower. The server's own
// version follows in the parenthesis. Unlike the reference it leaves out
// the OS release, which is nobody's business but the server's.
func userAgent(name, protocol, version string, ci ClientInfo) string {
	arch := runtime.GOARCH
	switch arch {
	case "amd64":
		arch = "x86_64"
	case "arm64":
		arch = "aarch64"
	}
	if protocol == "" {
		protocol = version
	}
	_, os := platform()
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('/')
	b.WriteString(protocol)
	b.WriteString(" (")
	b.WriteString(os)
	b.WriteString("; ")
	b.WriteString(arch)
	if protocol != version {
		b.WriteString("; ")
		b.WriteString(name)
		b.WriteByte(' ')
		b.WriteString(version)
	}
	b.WriteString(") (")
	b.WriteString(ci.Name)
	b.WriteString("; ")
	b.WriteString(ci.Version)
	b.WriteByte(')')
	return b.String()
}
