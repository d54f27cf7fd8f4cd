package fuzzy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
)

// The 100,000-file comparison. It is a test rather than a benchmark so
// that it can drive both servers side by side over JSON lines and print
// one table; it runs only when asked:
//
//	FUZZY_REFERENCE=/path/to/codex go test -run TestCompareReference -v -timeout 30m ./internal/fuzzy/
//
// FUZZY_TREE=/dir reuses (or creates) the generated tree there instead of
// a temporary one; FUZZY_ROUNDS sets the rounds per query (default 60).

var compareQueries = []string{
	"main",         // common word, many name matches
	"usrsvc",       // abbreviation across a camelCase name
	"chart",        // a directory and file name
	"UserService",  // camelCase, capitals
	"src/comp/btn", // path-shaped
	"index.ts",     // name with extension
	"a",            // one character: nearly everything matches
	"e t",          // two words
	"xyzzyq",       // no match
}

// benchTree returns the generated 100k-file tree, creating it if needed.
func benchTree(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("FUZZY_TREE")
	if dir == "" {
		dir = tb.TempDir()
	} else if _, err := os.Stat(dir + "/.gitignore"); err == nil {
		return dir
	}
	t0 := time.Now()
	st, err := generateTree(dir, 100_000, 1)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("generated %d files (%d ignored), %d dirs in %v", st.Files, st.Ignored, st.Dirs, time.Since(t0))
	return dir
}

// lineClient speaks JSON lines to a server: requests out, responses
// matched by id, notifications dropped.
type lineClient struct {
	w       io.Writer
	mu      sync.Mutex
	pending map[int64]chan json.RawMessage
	next    int64
	done    chan struct{}
}

func newLineClient(r io.Reader, w io.Writer) *lineClient {
	c := &lineClient{w: w, pending: map[int64]chan json.RawMessage{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var m struct {
				ID     *int64          `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.ID == nil {
				continue
			}
			c.mu.Lock()
			ch := c.pending[*m.ID]
			delete(c.pending, *m.ID)
			c.mu.Unlock()
			if ch != nil {
				if m.Error != nil {
					ch <- m.Error
				} else {
					ch <- m.Result
				}
			}
		}
	}()
	return c
}

// call sends a request and waits for its answer.
func (c *lineClient) call(method string, params any) (json.RawMessage, time.Duration, error) {
	p, _ := json.Marshal(params)
	c.mu.Lock()
	id := c.next
	c.next++
	ch := make(chan json.RawMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	t0 := time.Now()
	if _, err := fmt.Fprintf(c.w, `{"id":%d,"method":%q,"params":%s}`+"\n", id, method, p); err != nil {
		return nil, 0, err
	}
	select {
	case r := <-ch:
		return r, time.Since(t0), nil
	case <-time.After(2 * time.Minute):
		return nil, 0, fmt.Errorf("%s: no answer", method)
	}
}

func (c *lineClient) initialize() error {
	_, _, err := c.call("initialize", map[string]any{
		"clientInfo":   map[string]string{"name": "compare", "version": "1"},
		"capabilities": map[string]bool{"experimentalApi": true},
	})
	return err
}

// startOurs serves our methods on a pair of OS pipes, as stdio would.
func startOurs(tb testing.TB, opts Options) *lineClient {
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	srv := appserver.NewServer(&appserver.ServerOptions{})
	svc := Register(srv, opts)
	sess, err := srv.Connect(context.Background(), appserver.NewLineConnection(inR, outW, nil))
	if err != nil {
		tb.Fatal(err)
	}
	c := newLineClient(outR, inW)
	tb.Cleanup(func() {
		inW.Close()
		sess.Wait()
		srv.Close()
		svc.Close()
		outR.Close()
		<-c.done
	})
	if err := c.initialize(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// startReference runs `codex app-server` with a scratch CODEX_HOME.
func startReference(tb testing.TB, bin string) *lineClient {
	cmd := exec.Command(bin, "app-server")
	cmd.Env = append(os.Environ(), "CODEX_HOME="+tb.TempDir())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := newLineClient(stdout, stdin)
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		<-c.done
	})
	if err := c.initialize(); err != nil {
		tb.Fatal(err)
	}
	return c
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1 // nearest rank
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

func TestCompareReference(t *testing.T) {
	bin := os.Getenv("FUZZY_REFERENCE")
	if bin == "" || testing.Short() {
		t.Skip("set FUZZY_REFERENCE to the reference codex binary to compare")
	}
	rounds := 60
	if n, err := fmt.Sscan(os.Getenv("FUZZY_ROUNDS"), &rounds); n != 1 || err != nil {
		rounds = 60
	}
	root := benchTree(t)

	// Index build time and memory, ours.
	var builds []time.Duration
	var x *Index
	for range 10 {
		t0 := time.Now()
		var err error
		if x, err = Build(context.Background(), root, BuildOptions{}); err != nil {
			t.Fatal(err)
		}
		builds = append(builds, time.Since(t0))
	}
	var m0, m1 runtime.MemStats
	x = nil
	runtime.GC()
	runtime.ReadMemStats(&m0)
	x, _ = Build(context.Background(), root, BuildOptions{})
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("index: %d files, %d dirs; build median %s ms, p99 %s ms; %.2f MiB held (%.2f MiB heap growth)",
		x.Files(), x.Dirs(), ms(percentile(builds, .5)), ms(percentile(builds, .99)),
		float64(x.Bytes())/(1<<20), float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/(1<<20))
	runtime.KeepAlive(x)

	servers := []struct {
		name string
		c    *lineClient
	}{
		{"reference", startReference(t, bin)},
		{"ours", startOurs(t, Options{})},
		{"ours, no cache", startOurs(t, Options{CacheTTL: -1})},
	}
	params := func(q string) map[string]any {
		return map[string]any{"query": q, "roots": []string{root}, "cancellationToken": nil}
	}
	// The first search of each server: ours walks the tree then.
	first := make([]time.Duration, len(servers))
	for i, s := range servers {
		_, d, err := s.c.call(MethodSearch, params("main"))
		if err != nil {
			t.Fatal(err)
		}
		first[i] = d
	}
	lat := make([]map[string][]time.Duration, len(servers))
	for i := range lat {
		lat[i] = map[string][]time.Duration{}
	}
	// Agreement, from the last round: of the results both servers
	// returned, how many have the same score and indices.
	same, common := map[string]int{}, map[string]int{}
	for round := range rounds {
		for _, q := range compareQueries {
			var got [][]Match
			for i, s := range servers {
				res, d, err := s.c.call(MethodSearch, params(q))
				if err != nil {
					t.Fatal(err)
				}
				lat[i][q] = append(lat[i][q], d)
				var r SearchResult
				if err := json.Unmarshal(res, &r); err != nil {
					t.Fatalf("%s: %s", s.name, res)
				}
				got = append(got, r.Files)
			}
			if round == rounds-1 {
				ours := map[string]Match{}
				for _, m := range got[1] {
					ours[m.Path] = m
				}
				for _, r := range got[0] {
					if m, ok := ours[r.Path]; ok {
						common[q]++
						if m.Score == r.Score && slices.Equal(m.Indices, r.Indices) {
							same[q]++
						}
					}
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d rounds per query, interleaved; latency = request written to response read, ms\n\n", rounds)
	fmt.Fprintf(&b, "| query | reference p50 | reference p99 | ours p50 | ours p99 | ours, no cache p50 | ours, no cache p99 | same score and indices |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, q := range compareQueries {
		fmt.Fprintf(&b, "| `%s` |", q)
		for i := range servers {
			fmt.Fprintf(&b, " %s | %s |", ms(percentile(lat[i][q], .5)), ms(percentile(lat[i][q], .99)))
		}
		fmt.Fprintf(&b, " %d/%d |\n", same[q], common[q])
	}
	fmt.Fprintf(&b, "| first search | %s | | %s | | %s | | |\n", ms(first[0]), ms(first[1]), ms(first[2]))
	t.Log(b.String())
}

func BenchmarkBuild100k(b *testing.B) {
	if testing.Short() {
		b.Skip("generates a 100k-file tree")
	}
	root := benchTree(b)
	var x *Index
	for b.Loop() {
		var err error
		if x, err = Build(context.Background(), root, BuildOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(x.Bytes())/(1<<20), "MiB")
}

func BenchmarkSearch100k(b *testing.B) {
	if testing.Short() {
		b.Skip("generates a 100k-file tree")
	}
	x, err := Build(context.Background(), benchTree(b), BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range compareQueries {
		p := ParsePattern(q)
		b.Run(strings.ReplaceAll(q, "/", "_"), func(b *testing.B) {
			for b.Loop() {
				if _, err := Search(context.Background(), []*Index{x}, p, MatchLimit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
