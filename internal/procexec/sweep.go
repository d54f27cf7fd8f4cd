package procexec

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// sweepSession SIGKILLs the processes of session sid that are outside
// process group sid (kill(-sid) has reached those): children that changed
// their group with setpgid, such as the jobs of a job-control shell. The
// session leader must be unreaped, so that sid cannot name another session.
// Each victim is signalled through a pidfd after its session is re-checked,
// so a pid reused between the scan and the kill is never hit. It scans
// /proc, milliseconds on a busy host, so it runs only on the forceful paths.
func sweepSession(sid int) {
	// A process forked during a scan can be missed by it; everything found
	// is dead after a pass, so a few passes catch stragglers.
	for range 3 {
		d, err := os.Open("/proc")
		if err != nil {
			return
		}
		names, _ := d.Readdirnames(-1)
		_ = d.Close()
		found := false
		for _, name := range names {
			pid, err := strconv.Atoi(name)
			if err != nil || pid == sid {
				continue
			}
			if !inSessionOutsideGroup(pid, sid) {
				continue
			}
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				continue
			}
			if inSessionOutsideGroup(pid, sid) {
				_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
				found = true
			}
			_ = unix.Close(fd)
		}
		if !found {
			return
		}
	}
}

// inSessionOutsideGroup reports whether pid is a live (not zombie) member of
// session sid outside process group sid.
func inSessionOutsideGroup(pid, sid int) bool {
	state, pgrp, session, ok := procStat(pid)
	return ok && session == sid && pgrp != sid && state != 'Z' && state != 'X'
}

// procStat reads the state, process group and session of pid from
// /proc/pid/stat.
func procStat(pid int) (state byte, pgrp, session int, ok bool) {
	var buf [512]byte
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, 0, false
	}
	n, err := unix.Read(fd, buf[:])
	_ = unix.Close(fd)
	if err != nil || n <= 0 {
		return 0, 0, 0, false
	}
	// "pid (comm) state ppid pgrp session ..."; comm may hold spaces and
	// parentheses, so parse from the last ')'.
	b := buf[:n]
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return 0, 0, 0, false
	}
	pgrp, err1 := strconv.Atoi(string(f[2]))
	session, err2 := strconv.Atoi(string(f[3]))
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return f[0][0], pgrp, session, true
}
