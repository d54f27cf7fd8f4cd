package sandbox_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/appserver-go/appserver/internal/pathguard"
	"github.com/appserver-go/appserver/internal/sandbox"
)

func TestParsePolicy(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		want    sandbox.Policy
		wantErr string // substring; "" means success
	}{
		{"danger", `{"type":"dangerFullAccess"}`, sandbox.Policy{Kind: sandbox.DangerFullAccess}, ""},
		{"danger ignores fields", `{"type":"dangerFullAccess","networkAccess":false}`, sandbox.Policy{Kind: sandbox.DangerFullAccess}, ""},
		{"readOnly default", `{"type":"readOnly"}`, sandbox.Policy{}, ""},
		{"readOnly network", `{"type":"readOnly","networkAccess":true}`, sandbox.Policy{NetworkAccess: true}, ""},
		{"readOnly ignores roots", `{"type":"readOnly","writableRoots":["/x"]}`, sandbox.Policy{}, ""},
		{"workspace default", `{"type":"workspaceWrite"}`, sandbox.Policy{Kind: sandbox.WorkspaceWrite}, ""},
		{"workspace empty roots", `{"type":"workspaceWrite","writableRoots":[]}`, sandbox.Policy{Kind: sandbox.WorkspaceWrite}, ""},
		{"workspace full", `{"type":"workspaceWrite","writableRoots":["/a","/b/../c"],"networkAccess":true,"excludeSlashTmp":true,"excludeTmpdirEnvVar":true}`,
			sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{"/a", "/b/../c"}, NetworkAccess: true, ExcludeSlashTmp: true, ExcludeTmpdirEnvVar: true}, ""},
		{"field names are case-sensitive", `{"type":"readOnly","NetworkAccess":true}`, sandbox.Policy{}, ""},
		{"whitespace", " {\n\"type\" : \"readOnly\" } ", sandbox.Policy{}, ""},

		{"relative root", `{"type":"workspaceWrite","writableRoots":["rel"]}`, sandbox.Policy{}, "AbsolutePathBuf deserialized without a base path"},
		{"home root", `{"type":"workspaceWrite","writableRoots":["~/x"]}`, sandbox.Policy{}, "AbsolutePathBuf deserialized without a base path"},
		{"empty root", `{"type":"workspaceWrite","writableRoots":[""]}`, sandbox.Policy{}, "AbsolutePathBuf deserialized without a base path"},
		{"NUL in root", `{"type":"workspaceWrite","writableRoots":["/a\u0000b"]}`, sandbox.Policy{}, "NUL"},
		{"root not a string", `{"type":"workspaceWrite","writableRoots":[5]}`, sandbox.Policy{}, "invalid type: integer `5`, expected path string"},
		{"roots not a list", `{"type":"workspaceWrite","writableRoots":"/a"}`, sandbox.Policy{}, "expected a sequence"},
		{"roots null", `{"type":"workspaceWrite","writableRoots":null}`, sandbox.Policy{}, "invalid type: null, expected a sequence"},
		{"bool as string", `{"type":"readOnly","networkAccess":"yes"}`, sandbox.Policy{}, `networkAccess: invalid type: string "yes", expected a boolean`},
		{"bool null", `{"type":"workspaceWrite","excludeSlashTmp":null}`, sandbox.Policy{}, "expected a boolean"},
		{"external", `{"type":"externalSandbox","networkAccess":"enabled"}`, sandbox.Policy{}, "externalSandbox is not supported"},
		{"unknown type", `{"type":"bubblewrap"}`, sandbox.Policy{}, "unknown variant `bubblewrap`, expected one of `dangerFullAccess`, `readOnly`, `externalSandbox`, `workspaceWrite`"},
		{"type case", `{"type":"ReadOnly"}`, sandbox.Policy{}, "unknown variant `ReadOnly`"},
		{"missing type", `{"networkAccess":true}`, sandbox.Policy{}, "missing field `type`"},
		{"type not a string", `{"type":1}`, sandbox.Policy{}, "invalid type: integer `1`"},
		{"duplicate field", `{"type":"readOnly","networkAccess":false,"networkAccess":true}`, sandbox.Policy{}, "duplicate field `networkAccess`"},
		{"not an object", `"readOnly"`, sandbox.Policy{}, `invalid type: string "readOnly", expected internally tagged enum SandboxPolicy`},
		{"null", `null`, sandbox.Policy{}, "invalid type: null"},
		{"empty", ``, sandbox.Policy{}, "invalid type: nothing"},
		{"trailing", `{"type":"readOnly"} {}`, sandbox.Policy{}, "trailing"},
		{"truncated", `{"type":"readOnly"`, sandbox.Policy{}, "invalid sandbox policy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sandbox.ParsePolicy(json.RawMessage(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicy(%s) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePolicy(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParsePolicyErrorsAreTestable(t *testing.T) {
	_, err := sandbox.ParsePolicy(json.RawMessage(`{"type":"externalSandbox"}`))
	if !errors.Is(err, sandbox.ErrExternalSandbox) {
		t.Errorf("externalSandbox: %v, want ErrExternalSandbox", err)
	}
	_, err = sandbox.ParsePolicy(json.RawMessage(`{"type":"workspaceWrite","writableRoots":["a"]}`))
	if !errors.Is(err, pathguard.ErrNotAbsolute) {
		t.Errorf("relative root: %v, want pathguard.ErrNotAbsolute", err)
	}
}

func TestFromProfile(t *testing.T) {
	for _, tt := range []struct {
		id, cwd string
		want    sandbox.Policy
		wantErr string
	}{
		{":read-only", "/w", sandbox.Policy{Kind: sandbox.ReadOnly}, ""},
		{":workspace", "/w", sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{"/w"}}, ""},
		{":danger-full-access", "", sandbox.Policy{Kind: sandbox.DangerFullAccess}, ""},
		{":workspace", "rel", sandbox.Policy{}, "AbsolutePathBuf deserialized without a base path"},
		{":workspace", "", sandbox.Policy{}, "AbsolutePathBuf deserialized without a base path"},
		{"read-only", "/w", sandbox.Policy{}, `unknown permission profile "read-only": expected one of ":read-only", ":workspace", ":danger-full-access"`},
		{"", "/w", sandbox.Policy{}, "unknown permission profile"},
		{":READ-ONLY", "/w", sandbox.Policy{}, "unknown permission profile"},
	} {
		got, err := sandbox.FromProfile(tt.id, tt.cwd)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FromProfile(%q, %q) = %+v, %v; want error containing %q", tt.id, tt.cwd, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FromProfile(%q, %q) = %+v, %v; want %+v", tt.id, tt.cwd, got, err, tt.want)
		}
	}
	if _, err := sandbox.FromProfile("x", "/"); !errors.Is(err, sandbox.ErrUnknownProfile) {
		t.Errorf("unknown profile error %v does not wrap ErrUnknownProfile", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, p := range []sandbox.Policy{
		{},
		{NetworkAccess: true},
		{Kind: sandbox.WorkspaceWrite},
		{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{"/a b", "/ü/\"q\""}, NetworkAccess: true, ExcludeSlashTmp: true},
		{Kind: sandbox.WorkspaceWrite, ExcludeTmpdirEnvVar: true},
		{Kind: sandbox.DangerFullAccess},
	} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sandbox.ParsePolicy(b)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("ParsePolicy(%s) = %+v, %v; want %+v", b, got, err, p)
		}
	}
	b, _ := json.Marshal(sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{"/w"}})
	const want = `{"type":"workspaceWrite","writableRoots":["/w"],"networkAccess":false,"excludeSlashTmp":false,"excludeTmpdirEnvVar":false}`
	if string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	if _, err := json.Marshal(sandbox.Policy{Kind: 9}); err == nil {
		t.Error("Marshal of an invalid kind succeeded")
	}
}

func TestCheck(t *testing.T) {
	ro := sandbox.Policy{}
	roNet := sandbox.Policy{NetworkAccess: true}
	ws := sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{"/w"}}
	danger := sandbox.Policy{Kind: sandbox.DangerFullAccess}
	none := sandbox.Support{Reason: "Landlock is not available on this kernel (requires Linux 5.13 with CONFIG_SECURITY_LANDLOCK)"}
	for _, tt := range []struct {
		name string
		p    sandbox.Policy
		s    sandbox.Support
		want string // "" means enforceable
	}{
		{"danger without Landlock", danger, none, ""},
		{"readOnly without Landlock", ro, none,
			"sandbox policy readOnly cannot be enforced: Landlock is not available on this kernel (requires Linux 5.13 with CONFIG_SECURITY_LANDLOCK); use dangerFullAccess to run without a sandbox"},
		{"no reason given", roNet, sandbox.Support{}, "sandbox policy readOnly cannot be enforced: Landlock is not available; use dangerFullAccess"},
		{"ABI 2 cannot deny truncate", roNet, sandbox.Support{ABI: 2, Seccomp: true},
			"sandbox policy readOnly cannot be enforced: confining file writes needs Landlock ABI 3 (Linux 6.2); this kernel has ABI 2; use dangerFullAccess to run without a sandbox"},
		{"ABI 3 files only", roNet, sandbox.Support{ABI: 3, Seccomp: true}, ""},
		{"ABI 3 no network", ws, sandbox.Support{ABI: 3, Seccomp: true},
			"sandbox policy workspaceWrite cannot be enforced: networkAccess=false needs Landlock ABI 4 (Linux 6.7); this kernel has ABI 3; allow network access or use dangerFullAccess"},
		{"ABI 4 no seccomp", ro, sandbox.Support{ABI: 4},
			"sandbox policy readOnly cannot be enforced: networkAccess=false needs seccomp filters"},
		{"ABI 4", ro, sandbox.Support{ABI: 4, Seccomp: true}, ""},
		{"ABI 7 workspace", ws, sandbox.Support{ABI: 7, Seccomp: true}, ""},
		{"relative root", sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{"w"}}, sandbox.Support{ABI: 7, Seccomp: true},
			"AbsolutePathBuf deserialized without a base path"},
		{"bad kind", sandbox.Policy{Kind: 7}, sandbox.Support{ABI: 7, Seccomp: true}, "invalid sandbox policy kind 7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !haveMPTCPFilter() && !tt.p.NetworkAccess && tt.p.Kind != sandbox.DangerFullAccess && tt.want == "" {
				tt.want = "is not implemented on"
			}
			err := tt.p.Check(tt.s)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want %q", err, tt.want)
			}
			if strings.HasPrefix(tt.want, "sandbox policy") && !errors.Is(err, sandbox.ErrUnenforceable) {
				t.Errorf("Check error %v does not wrap ErrUnenforceable", err)
			}
		})
	}
}

// haveMPTCPFilter reports whether this platform can deny the network.
func haveMPTCPFilter() bool {
	return sandbox.Support{ABI: 11, Seccomp: true}.TCP()
}

func TestCommand(t *testing.T) {
	argv := []string{"sh", "-c", "echo hi"}
	got, err := sandbox.Command("/helper", sandbox.Policy{Kind: sandbox.DangerFullAccess}, argv)
	if err != nil || !slices.Equal(got, argv) {
		t.Errorf("dangerFullAccess: %q, %v; want argv unchanged", got, err)
	}
	got, err = sandbox.Command("/helper", sandbox.Policy{}, argv)
	want := []string{"/helper", sandbox.HelperArg, `{"type":"readOnly","networkAccess":false}`, "--", "sh", "-c", "echo hi"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("readOnly: %q, %v; want %q", got, err, want)
	}
	if _, err := sandbox.Command("/helper", sandbox.Policy{}, nil); err == nil || err.Error() != "command must not be empty" {
		t.Errorf("empty argv: %v", err)
	}
	if _, err := sandbox.Command("", sandbox.Policy{}, argv); err == nil {
		t.Error("no helper: no error")
	}
	if _, err := sandbox.Command("/helper", sandbox.Policy{Kind: sandbox.WorkspaceWrite, WritableRoots: []string{"rel"}}, argv); !errors.Is(err, pathguard.ErrNotAbsolute) {
		t.Errorf("relative root: %v", err)
	}
}

func TestHelperEnv(t *testing.T) {
	in := []string{"PATH=/bin", "LD_PRELOAD=/evil.so", "LD_LIBRARY_PATH=/lib", "GCONV_PATH=/g", "APPSERVER_SANDBOX_ENV_LD_AUDIT=/forged", "OLD_LD_X=1"}
	if got := sandbox.HelperEnv(sandbox.Policy{Kind: sandbox.DangerFullAccess}, in); !slices.Equal(got, in) {
		t.Errorf("HelperEnv(dangerFullAccess) = %q, want env unchanged", got)
	}
	got := sandbox.HelperEnv(sandbox.Policy{}, in)
	want := []string{"PATH=/bin", "APPSERVER_SANDBOX_ENV_LD_PRELOAD=/evil.so", "APPSERVER_SANDBOX_ENV_LD_LIBRARY_PATH=/lib", "APPSERVER_SANDBOX_ENV_GCONV_PATH=/g", "OLD_LD_X=1"}
	if !slices.Equal(got, want) {
		t.Errorf("HelperEnv = %q, want %q", got, want)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[sandbox.Kind]string{sandbox.ReadOnly: "readOnly", sandbox.WorkspaceWrite: "workspaceWrite", sandbox.DangerFullAccess: "dangerFullAccess", 5: "Kind(5)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestSupportString(t *testing.T) {
	t.Log(sandbox.Probe())
	if got := (sandbox.Support{Reason: "nope"}).String(); got != "no sandbox: nope" {
		t.Errorf("String = %q", got)
	}
}

// FuzzParsePolicy: the helper decodes an argument that only our own server
// writes, but the decoder also reads client JSON. It must not panic, and
// whatever it accepts must survive the trip through the helper's argument.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		`{"type":"dangerFullAccess"}`,
		`{"type":"readOnly","networkAccess":true}`,
		`{"type":"workspaceWrite","writableRoots":["/a","/b"],"networkAccess":false,"excludeSlashTmp":true,"excludeTmpdirEnvVar":false}`,
		`{"type":"externalSandbox","networkAccess":"restricted"}`,
		`{"type":"workspaceWrite","writableRoots":["x"]}`,
		`{"type":"readOnly","type":"readOnly"}`,
		`{"type":"readOnly"`,
		`[]`, `null`, `{}`, `{"type":1e999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := sandbox.ParsePolicy(data)
		if err != nil {
			return
		}
		if err := p.Check(sandbox.Support{ABI: 11, Seccomp: true}); err != nil && !errors.Is(err, sandbox.ErrUnenforceable) {
			t.Fatalf("ParsePolicy accepted %q but Check rejects it: %v", data, err)
		}
		argv, err := sandbox.Command("/h", p, []string{"true"})
		if err != nil {
			t.Fatalf("Command(%+v): %v", p, err)
		}
		if p.Kind == sandbox.DangerFullAccess {
			return
		}
		back, err := sandbox.ParsePolicy(json.RawMessage(argv[2]))
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", data, back, err, p)
		}
	})
}
