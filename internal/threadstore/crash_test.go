package threadstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash test runs the test binary again as a child (TestMain sees
// crashChildEnv) that writes to a store as fast as it can and prints each
// acknowledgement on stdout, one write(2) per line, after the call
// returned. The parent kills it with SIGKILL at a random moment, reopens
// the store, and checks that everything acknowledged is there.
const (
	crashChildEnv = "THREADSTORE_CRASH_CHILD"
	crashRoundEnv = "THREADSTORE_CRASH_ROUND"
	crashCPEnv    = "THREADSTORE_CRASH_CHECKPOINT"
	crashWriters  = 4
)

func crashChild(dir string) {
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	cp, _ := strconv.ParseInt(os.Getenv(crashCPEnv), 10, 64)
	fatal := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
		os.Exit(2)
	}
	s, err := Open(dir, &Options{CheckpointBytes: cp, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fatal("Open: %v", err)
	}
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		line := fmt.Sprintf(format+"\n", args...)
		outMu.Lock()
		os.Stdout.WriteString(line)
		outMu.Unlock()
	}
	for w := range crashWriters {
		id := fmt.Sprintf("w%d", w)
		if _, ok := s.Get(id); !ok {
			if err := s.Put(Meta{ID: id, CreatedAt: time.Now()}); err != nil {
				fatal("Put: %v", err)
			}
		}
	}
	say("ready")
	pad := strings.Repeat("x", 150)
	for w := range crashWriters {
		go func() {
			id := fmt.Sprintf("w%d", w)
			seq, err := s.LastSeq(id)
			if err != nil {
				fatal("LastSeq: %v", err)
			}
			for {
				n := 1 + rand.IntN(3)
				recs := make([][]byte, n)
				for k := range recs {
					recs[k] = fmt.Appendf(nil, `{"thread":%q,"n":%d,"pad":%q}`, id, seq+uint64(k)+1, pad)
				}
				got, err := s.Append(id, recs...)
				if err != nil {
					fatal("Append(%s): %v", id, err)
				}
				if got != seq+uint64(n) {
					fatal("Append(%s): seq %d after %d + %d", id, got, seq, n)
				}
				seq = got
				say("ack %s %d", id, seq)
			}
		}()
	}
	go func() { // metadata updates
		for k := 1; ; k++ {
			v := round*1_000_000 + k
			if err := s.Update("w0", func(m *Meta) error { m.Preview = strconv.Itoa(v); return nil }); err != nil {
				fatal("Update: %v", err)
			}
			say("preview %d", v)
		}
	}()
	go func() { // threads created and deleted
		for k := 0; ; k++ {
			id := fmt.Sprintf("s%d-%d", round, k)
			if err := s.Put(Meta{ID: id}); err != nil {
				fatal("Put: %v", err)
			}
			if _, err := s.Append(id, []byte(`{"scratch":true}`)); err != nil {
				fatal("Append(%s): %v", id, err)
			}
			if k%2 == 1 {
				say("keep %s", id)
				continue
			}
			if err := s.Delete(id); err != nil {
				fatal("Delete(%s): %v", id, err)
			}
			say("del %s", id)
		}
	}()
	select {}
}

func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	acked := map[string]uint64{}
	var preview int
	created, deleted := map[string]bool{}, map[string]bool{}
	checkpoints := []int64{4 << 10, 64 << 10, 8 << 20}
	var total, recovered int
	const rounds = 20
	for round := 1; round <= rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			crashChildEnv+"="+dir,
			crashRoundEnv+"="+strconv.Itoa(round),
			crashCPEnv+"="+strconv.FormatInt(checkpoints[round%len(checkpoints)], 10))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		var killer *time.Timer
		r := bufio.NewReader(out)
		acks := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break // EOF when the child dies; a partial last line is ignored
			}
			f := strings.Fields(line)
			switch f[0] {
			case "ready":
				delay := time.Duration(5+rand.IntN(60)) * time.Millisecond
				killer = time.AfterFunc(delay, func() { cmd.Process.Kill() })
			case "ack":
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				if seq <= acked[f[1]] {
					t.Fatalf("round %d: %s acknowledged %d after %d", round, f[1], seq, acked[f[1]])
				}
				acked[f[1]] = seq
				acks++
			case "preview":
				preview, _ = strconv.Atoi(f[1])
			case "keep":
				created[f[1]] = true
			case "del":
				deleted[f[1]] = true
			}
		}
		err = cmd.Wait()
		watchdog.Stop()
		if killer != nil {
			killer.Stop()
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("round %d: child did not die by the signal: %v\n%s", round, err, stderr.Bytes())
		}
		total += acks

		s, lb := openT(t, dir, nil)
		if strings.Contains(lb.String(), "recovered from journal") {
			recovered++
		}
		for w := range crashWriters {
			id := fmt.Sprintf("w%d", w)
			got := records(t, s, id) // also checks seq 1, 2, 3, … without gaps
			if uint64(len(got)) < acked[id] {
				t.Fatalf("round %d: %s has %d records, %d were acknowledged", round, id, len(got), acked[id])
			}
			for i, rec := range got {
				var v struct {
					Thread string
					N      int
				}
				if err := json.Unmarshal([]byte(rec), &v); err != nil || v.Thread != id || v.N != i+1 {
					t.Fatalf("round %d: %s record %d = %s", round, id, i+1, rec)
				}
			}
			// Unacknowledged records may have made it; later appends
			// continue after them.
			acked[id] = uint64(len(got))
		}
		if m, _ := s.Get("w0"); preview > 0 {
			if v, _ := strconv.Atoi(m.Preview); v < preview {
				t.Fatalf("round %d: preview %q, %d was acknowledged", round, m.Preview, preview)
			}
		}
		for id := range deleted {
			if _, ok := s.Get(id); ok {
				t.Fatalf("round %d: deleted thread %s is back", round, id)
			}
		}
		for id := range created {
			if _, ok := s.Get(id); !ok {
				t.Fatalf("round %d: acknowledged thread %s is missing", round, id)
			}
			if got := records(t, s, id); len(got) != 1 {
				t.Fatalf("round %d: %s has %d records", round, id, len(got))
			}
		}
		closeT(t, s)
	}
	t.Logf("%d rounds (%d recovered from the journal), %d acknowledged appends checked, %d threads kept, %d deleted",
		rounds, recovered, total, len(created), len(deleted))
	if recovered < rounds/2 {
		t.Errorf("only %d of %d rounds exercised journal recovery", recovered, rounds)
	}
	if total == 0 {
		t.Error("no append was acknowledged before the kills")
	}
}
