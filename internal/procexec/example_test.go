package procexec_test

import (
	"context"
	"fmt"
	"time"

	"github.com/appserver-go/appserver/internal/procexec"
)

func ExampleStart() {
	p, err := procexec.Start(context.Background(), procexec.Spec{
		Argv:    []string{"sh", "-c", "echo hi; echo err >&2; exit 3"},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Timeout: 10 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res := p.Wait()
	fmt.Printf("exit %d, stdout %q, stderr %q\n", res.ExitCode, res.Stdout, res.Stderr)
	// Output: exit 3, stdout "hi\n", stderr "err\n"
}

func ExampleProcess_Write() {
	var out []byte
	p, err := procexec.Start(context.Background(), procexec.Spec{
		Argv:   []string{"cat"},
		Env:    []string{"PATH=/usr/bin:/bin"},
		Stdin:  true,
		Stream: true,
		OnOutput: func(stream string, chunk []byte, capReached bool) {
			out = append(out, chunk...) // chunk is only valid during the call
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = p.Write([]byte("hello\n"))
	_ = p.CloseStdin()
	res := p.Wait() // every OnOutput call has returned
	fmt.Printf("exit %d, streamed %q\n", res.ExitCode, out)
	// Output: exit 0, streamed "hello\n"
}
