package appserver_test

import (
	"bufio"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
)

var update = flag.Bool("update", false, "rewrite the expected lines of testdata/transcripts")

var (
	emittedAt = regexp.MustCompile(`"emittedAtMs":\d+`)
	userAgent = regexp.MustCompile(`"userAgent":"[^"]*"`)
)

func normalize(line string) string {
	line = emittedAt.ReplaceAllString(line, `"emittedAtMs":0`)
	return userAgent.ReplaceAllString(line, `"userAgent":"<UA>"`)
}

// TestTranscripts replays the golden client/server transcripts in
// testdata/transcripts over an in-memory connection.
func TestTranscripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/transcripts/*.txt")
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			srv := newServer(t, nil, nil)
			srv.AddMethod(appserver.Method{Name: "notify", Handler: func(ctx context.Context, req *appserver.Request) (any, error) {
				var p struct{ Methods []string }
				if err := req.DecodeParams(&p); err != nil {
					return nil, err
				}
				for _, m := range p.Methods {
					_ = req.Session.Notify(m, map[string]int{"n": 1})
				}
				return struct{}{}, nil
			}})
			c := connect(t, srv)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			for n := 1; sc.Scan(); n++ {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "-> "):
					c.send(strings.TrimPrefix(line, "-> "))
					out = append(out, line)
				case strings.HasPrefix(line, "<- "):
					got := normalize(string(c.recv()))
					if want := strings.TrimPrefix(line, "<- "); got != want && !*update {
						t.Errorf("%s:%d:\n got  %s\n want %s", file, n, got, want)
					}
					out = append(out, "<- "+got)
				default:
					out = append(out, line)
				}
			}
			c.expectSilence(30 * time.Millisecond)
			if *update {
				if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
