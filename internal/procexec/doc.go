// Package procexec runs the child processes behind `command/exec` and
// `process/spawn`: one argv, its output captured or streamed under a byte
// cap, an optional stdin or pseudo-terminal, a timeout, and a guarantee that
// nothing started in the process's group outlives [Process.Wait].
//
//	p, err := procexec.Start(ctx, procexec.Spec{
//		Argv:    []string{"sh", "-c", "echo hi; echo err >&2; exit 3"},
//		Env:     env, // the full environment; nil means an empty one
//		Timeout: 10 * time.Second,
//	})
//	if err != nil {
//		return err // spawn failed: *os.PathError with the errno (ENOENT, EACCES, ENOTDIR...)
//	}
//	res := p.Wait() // res.ExitCode == 3, res.Stdout == "hi\n", res.Stderr == "err\n"
//
// The caller must call Wait once the process is started, as with os/exec:
// Wait observes the exit, waits for the output, cleans up the process group,
// reaps the child and releases its descriptors.
//
// # Process group and what escapes it
//
// Every child starts a new session (setsid), so it leads its own session and
// process group, whose id is [Process.Pid], and has no controlling terminal
// unless Spec.TTY gives it the pseudo-terminal. The group is killed with
// SIGKILL (kill(-pgid)):
//
//   - at once, on a timeout, on [Process.Terminate] and when the Start
//     context is cancelled (the connection closed, the server stops);
//   - always, after the leader has exited and its output has drained (or
//     Spec.DrainTimeout ran out), so a background child such as
//     `sh -c 'sleep 300 &'` does not outlive Wait even if it closed its
//     stdout.
//
// The leader is reaped only after that final kill: until then it is a zombie
// that pins its pid, so the group id cannot have been reused by an unrelated
// process when we signal it.
//
// On the forceful paths (timeout, Terminate, cancellation, drain timeout)
// the session is swept as well: processes that moved to another process
// group of the same session (setpgid, as job-control shells do for `cmd &`
// in an interactive shell on the terminal) are found in /proc by session id
// and killed through a pidfd, which cannot hit a reused pid.
//
// What escapes: a descendant that calls setsid() itself (daemons, `setsid
// cmd`, double-forking services) leaves both the group and the session and
// is not killed. If it keeps our stdout or stderr open, Wait still returns
// after Spec.DrainTimeout with OutputDrainTimedOut set. A descendant that
// left the group but stays in the session survives a normal exit that closed
// its output (the sweep runs only on the forceful paths, because scanning
// /proc costs milliseconds on a busy host). Catching everything needs a
// cgroup per command or PR_SET_CHILD_SUBREAPER; the latter is process-wide
// (it would make the server the parent of every orphan and responsible for
// reaping them), so this package uses neither. If the server itself dies,
// each leader is killed by PR_SET_PDEATHSIG (SIGKILL) but its descendants are
// not.
//
// # Output
//
// Stdout and stderr are read by one goroutine each (one in total on a TTY,
// where both arrive as "stdout"). Each stream is capped at Spec.OutputCap
// bytes (1 MiB by default). In buffered mode the Result keeps exactly the
// first cap bytes; in streamed mode Spec.OnOutput receives chunks of at most
// 64 KiB, and the chunk that reaches the cap carries capReached=true and is
// the stream's last. As in the reference, a stream counts as capped when it
// reaches the cap, not only when it exceeds it. At the cap we close our read
// end: a child that keeps writing gets SIGPIPE or EPIPE (on a TTY, closing
// the master hangs up the terminal and the session gets SIGHUP).
//
// Readers hold no buffer while they wait: a pooled 64 KiB buffer is taken
// only when the descriptor is readable, so an idle process costs two parked
// goroutines and no buffer memory.
//
// # Exit codes
//
// A normal exit reports its status; death by signal N reports 128+N; a
// timeout reports 124 with TimedOut set; Terminate and cancellation report
// 137. The first of timeout, Terminate and cancellation decides. A timeout
// that fires after the leader exited is ignored; Terminate after the exit
// but before Wait finished still reports 137.
//
// # Platform
//
// Linux only. The exit is awaited through a pidfd registered with the Go
// netpoller (Linux 5.4), so a waiting process does not hold an OS thread;
// without pidfd support Wait falls back to a blocking waitid.
package procexec
