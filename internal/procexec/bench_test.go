package procexec

import (
	"context"
	"os/exec"
	"testing"
)

// BenchmarkStartTrue is the per-command cost: spawn `true`, wait, collect.
func BenchmarkStartTrue(b *testing.B) {
	ctx := context.Background()
	spec := Spec{Argv: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin"}}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Start(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if res := p.Wait(); res.ExitCode != 0 {
			b.Fatal(res)
		}
	}
}

// BenchmarkStartTrueParallel measures throughput with every CPU spawning.
func BenchmarkStartTrueParallel(b *testing.B) {
	ctx := context.Background()
	spec := Spec{Argv: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: 10e9}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := Start(ctx, spec)
			if err != nil {
				b.Error(err)
				return
			}
			if res := p.Wait(); res.ExitCode != 0 {
				b.Error(res)
				return
			}
		}
	})
}

// BenchmarkStartTrueStreamed adds streaming and a timeout, as command/exec
// with streamStdoutStderr uses it.
func BenchmarkStartTrueStreamed(b *testing.B) {
	ctx := context.Background()
	spec := Spec{
		Argv: []string{"sh", "-c", "echo hello"}, Env: []string{"PATH=/usr/bin:/bin"},
		Stream: true, OnOutput: func(string, []byte, bool) {}, Timeout: 10e9,
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Start(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		p.Wait()
	}
}

// BenchmarkOSExecTrue is the baseline: os/exec running `true` with its
// output captured.
func BenchmarkOSExecTrue(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		cmd := exec.Command("/usr/bin/true")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if _, err := cmd.Output(); err != nil {
			b.Fatal(err)
		}
	}
}
