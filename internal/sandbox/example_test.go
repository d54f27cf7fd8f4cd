package sandbox_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/appserver-go/appserver/internal/sandbox"
)

func ExampleParsePolicy() {
	p, err := sandbox.ParsePolicy(json.RawMessage(`{"type":"workspaceWrite","writableRoots":["/work"]}`))
	fmt.Println(p.Kind, p.WritableRoots, p.NetworkAccess, err)

	_, err = sandbox.ParsePolicy(json.RawMessage(`{"type":"externalSandbox"}`))
	fmt.Println(errors.Is(err, sandbox.ErrExternalSandbox))
	// Output:
	// workspaceWrite [/work] false <nil>
	// true
}

func ExampleFromProfile() {
	p, _ := sandbox.FromProfile(":workspace", "/work")
	fmt.Println(p)
	// Output: {"type":"workspaceWrite","writableRoots":["/work"],"networkAccess":false,"excludeSlashTmp":false,"excludeTmpdirEnvVar":false}
}

func ExampleCommand() {
	argv, _ := sandbox.Command("/proc/self/exe", sandbox.Policy{}, []string{"ls", "-l"})
	fmt.Printf("%q\n", argv)
	// Output: ["/proc/self/exe" "__appserver-sandbox" "{\"type\":\"readOnly\",\"networkAccess\":false}" "--" "ls" "-l"]
}

func ExamplePolicy_Check() {
	err := sandbox.Policy{}.Check(sandbox.Support{ABI: 3, Seccomp: true})
	fmt.Println(err)
	fmt.Println(errors.Is(err, sandbox.ErrUnenforceable))
	// Output:
	// sandbox policy readOnly cannot be enforced: networkAccess=false needs Landlock ABI 4 (Linux 6.7); this kernel has ABI 3; allow network access or use dangerFullAccess
	// true
}
