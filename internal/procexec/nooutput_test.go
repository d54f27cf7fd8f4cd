package procexec

import (
	"context"
	"os"
	"sync"
	"testing"
)

// TestNoOutput: a cap of nothing keeps nothing and reports the cap, as the
// reference does for outputBytesCap 0; streamed, it sends one empty capped
// chunk per stream.
func TestNoOutput(t *testing.T) {
	p, err := Start(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2"}, Env: os.Environ(), OutputCap: NoOutput})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Wait()
	if len(r.Stdout) != 0 || len(r.Stderr) != 0 || !r.StdoutCapReached || !r.StderrCapReached {
		t.Errorf("buffered: %+v", r)
	}
	type chunk struct {
		n   int
		cap bool
	}
	var mu sync.Mutex // one goroutine per stream calls OnOutput
	got := map[string][]chunk{}
	p, err = Start(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2"}, Env: os.Environ(), OutputCap: NoOutput, Stream: true,
		OnOutput: func(stream string, b []byte, capReached bool) {
			mu.Lock()
			got[stream] = append(got[stream], chunk{len(b), capReached})
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	for _, s := range []string{"stdout", "stderr"} {
		if len(got[s]) != 1 || got[s][0] != (chunk{0, true}) {
			t.Errorf("streamed %s: %+v", s, got[s])
		}
	}
}
