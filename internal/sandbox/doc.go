// Package sandbox runs commands under the protocol's sandbox policies
// (readOnly, workspaceWrite, dangerFullAccess and the permission profiles
// :read-only, :workspace, :danger-full-access), enforced on Linux with
// Landlock, for command/exec and process/spawn.
//
//	support := sandbox.Probe() // once, at startup; log support.String()
//
//	p, err := sandbox.ParsePolicy(params.SandboxPolicy) // or sandbox.FromProfile(id, cwd)
//	if err != nil { /* -32600 Invalid request: err */ }
//	if err := p.Check(support); err != nil { /* refuse: never run it unconfined */ }
//	helper := sandbox.FindHelper(exe) // once, at startup; Close at exit
//	argv, err := sandbox.Command(helper.Path, p, params.Command)
//	cmd := exec.Command(argv[0], argv[1:]...)
//	cmd.Env = sandbox.HelperEnv(p, env)
//
// and, first thing in the server's main:
//
//	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
//		os.Exit(sandbox.Main(os.Args[2:]))
//	}
//
// # Why a helper process
//
// Landlock confines the process that asks for it, and everything it
// executes afterwards. A C server would apply it between fork and exec; Go
// cannot run code there (os/exec forks and execs in one step). So the
// server executes itself as a helper, whose argv carries the policy; the
// helper confines itself and then replaces itself with the command
// (execve, same pid). The server sees the command's own exit status and
// signals, a PTY stays the controlling terminal, and terminating the pid
// terminates the command. The helper confines every thread of itself
// (go-landlock does this), sets no_new_privs, and uses go-landlock's strict
// mode: it asks for everything the kernel's ABI can restrict and fails
// rather than downgrade. If anything goes wrong before execve it prints
// "appserver sandbox: <reason>" and exits 126; a command not found is 127.
//
// The helper is the server binary itself ("/proc/self/exe"), or the
// standalone cmd/appserver-sandbox when it is installed beside the server
// (FindHelper says which, and why): a small binary whose start-up is about
// 1.5 ms where the server's is about 3.5 ms, since Go runs every package's
// initialisation before main can see HelperArg.
//
// Costs: one extra Go process start and about 0.3 ms of set-up per
// command (see BenchmarkExec).
//
// # What is enforced
//
// readOnly: read and execute anywhere; create, write, truncate, remove,
// rename, link and mknod nowhere, except writing /dev/null, /dev/zero,
// /dev/full, /dev/tty and the terminal the command was given on fds 0-2.
// Device ioctls (Landlock ABI 5) are allowed on those terminals only, for
// stty and full-screen programs. Descriptors the command inherits (its
// stdout pipe, say) are not affected: Landlock checks opens.
//
// workspaceWrite: readOnly plus every file operation under each writable
// root, /tmp (unless excludeSlashTmp) and $TMPDIR as the command's
// environment sets it (unless excludeTmpdirEnvVar; a relative $TMPDIR
// counts for nothing). Landlock judges the resolved path, so a symlink in
// a root that points outside it cannot be written through. Roots that do
// not exist when the command starts are skipped: that grants less, never
// more. Renames between directories within the roots work ("refer").
//
// networkAccess=false (the default for both): TCP connect and bind are
// denied (Landlock ABI 4), and from ABI 10 UDP bind, connect and send too.
// Landlock's TCP rules miss Multipath TCP, which connects to ordinary TCP
// servers and which Go 1.24+ uses for net.Listen by default, so the helper
// also installs a seccomp filter: socket(…, IPPROTO_MPTCP) fails with
// EPROTONOSUPPORT (programs fall back to TCP, which Landlock stops), every
// other AF_INET/AF_INET6 socket that is not TCP (UDP, ICMP ping, SCTP,
// raw) fails with EACCES, so no datagram leaves below ABI 10 either,
// io_uring_setup fails with ENOSYS (io_uring can create sockets unseen by
// the filter), and so does a 32-bit program's socketcall(SYS_SOCKET).
// Abstract unix sockets, which have no file to guard them, are scoped to
// the sandbox (ABI 6): a confined command cannot reach a service outside.
//
// Always, for readOnly and workspaceWrite: the command runs with no
// capabilities, even as root (root could otherwise load a kernel module
// or reboot, which no file rule stops), from ABI 6 cannot signal
// processes outside its sandbox, such as the server, and, where seccomp
// is available, cannot change another process's resource limits
// (prlimit64 with a pid and a new limit fails with EPERM): Landlock has no
// hook for prlimit, and a command could otherwise set the server's
// RLIMIT_NOFILE to nothing.
//
// dangerFullAccess: nothing; the command runs as the server does.
//
// # What is not enforced
//
//   - Address families other than inet and unix (VSOCK to a hypervisor,
//     Bluetooth, …), where the kernel offers them: the filter refuses
//     non-TCP inet sockets only.
//   - Pathname unix sockets: connecting to them is allowed (their file
//     modes guard them, and the C library's name service uses them).
//   - Metadata: Landlock does not confine chmod, chown, utimes, xattrs or
//     flock, so a command may change those on files it owns, anywhere
//     (touch on an existing file succeeds under readOnly).
//   - Reading: readOnly and workspaceWrite read everything the user can.
//   - Below Landlock ABI 6, signals and abstract unix sockets.
//
// Check refuses, with a reason, a policy the kernel cannot keep: any
// sandbox without Landlock ABI 3 (which first denies truncate(2)),
// networkAccess=false without ABI 4, without seccomp, or on an architecture
// this package has no Multipath TCP filter for (it has amd64 and arm64),
// and every sandbox but
// dangerFullAccess on other systems than Linux. The protocol's
// externalSandbox ("the server already runs in a sandbox") is refused by
// ParsePolicy: the server cannot verify the claim, and granting it would
// let any client switch the sandbox off.
package sandbox
