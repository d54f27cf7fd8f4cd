package fsmethods

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A real crash: a child process is killed (SIGKILL) while its write is
// between the fsync of the temporary file and the rename. The target keeps
// its old content, whole; the temporary file, complete, is the only trace.
func TestWriteFileKilled(t *testing.T) {
	if os.Getenv("FSMETHODS_KILL_TARGET") != "" {
		t.Skip("helper")
	}
	dir := t.TempDir()
	target := dir + "/f"
	old := strings.Repeat("o", 1<<20)
	write(t, target, old)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFileKilledHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FSMETHODS_KILL_TARGET="+target)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := target + ".ready"
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("helper never reached the rename")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if got := readString(t, target); got != old {
		t.Fatalf("target after the crash: %d bytes, want the old %d", len(got), len(old))
	}
	left := tempFiles(t, dir)
	if len(left) != 1 || readString(t, left[0]) != strings.Repeat("n", 2<<20) {
		t.Fatalf("temporary files after the crash: %v", left)
	}
}

// TestWriteFileKilledHelper is the child of TestWriteFileKilled.
func TestWriteFileKilledHelper(t *testing.T) {
	target := os.Getenv("FSMETHODS_KILL_TARGET")
	if target == "" {
		t.Skip("run by TestWriteFileKilled")
	}
	f := newFS(Options{})
	f.beforeRename = func(tmp, tgt string) error {
		write(t, target+".ready", "")
		select {} // killed here
	}
	_ = f.atomicWrite(target, []byte(strings.Repeat("n", 2<<20)))
}
