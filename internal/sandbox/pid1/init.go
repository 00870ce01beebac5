package pid1

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Serve runs the session: one command at a time on goatbench's word,
// reporting each one's end once it and everything it started are gone.
// args: the tmpfs size of /tmp and /dev/shm, and "net" when the commands
// need a network namespace of their own (goatbench made none for the
// workspace).
func Serve(args []string) int {
	// Commands run as this process's uid: they must not read its memory or
	// files (PR_SET_DUMPABLE 0: /proc/1/* is root's, ptrace is refused),
	// nor end it by a signal. SIGKILL and SIGSTOP sent from inside its PID
	// namespace never reach a PID 1; the rest are caught and dropped, but
	// for a SIGSEGV, SIGBUS or SIGFPE queued as a fault (sigqueue, F_SETSIG),
	// which the Go runtime takes for its own. That ends the session under
	// the command that sent it, which goatbench then reports as killed.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	ignoreSignals()
	unix.CloseOnExec(FdConn)
	unix.Close(FdExe)
	conn, err := newConn(FdConn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goatbench: this is goatbench's sandbox init, not a command")
		return 2
	}
	reply := func(m Message) { _ = conn.send(m) }
	in, err := newInside(args)
	if err != nil {
		reply(Message{Err: "sandbox init: " + err.Error()})
		return 2
	}
	reply(Message{Ready: true})

	var mu sync.Mutex
	running := uint64(0) // the command that runs, 0 when none
	idle := make(chan struct{}, 1)
	idle <- struct{}{}
	for {
		m, files, err := conn.recv()
		if err != nil {
			// goatbench closed the session, or is gone: nothing may outlive it.
			in.killAll()
			return 0
		}
		switch m.Op {
		case "kill":
			mu.Lock()
			if running != 0 && running == m.Seq {
				in.killAll()
			}
			mu.Unlock()
		case "workspace":
			<-idle // no command runs while the workspace changes
			var err error
			OnForker(func() bool { err = in.switchTo(string(m.Workspace), files); return true })
			CloseAll(files)
			if err != nil {
				// Half switched, it cannot be trusted with a command.
				reply(Message{Seq: m.Seq, Err: "sandbox init: " + err.Error(), Retire: true})
				fmt.Fprintf(os.Stderr, "sandbox init: %v\n", err)
				return 3
			}
			reply(Message{Seq: m.Seq, Ready: true})
			idle <- struct{}{}
		case "run":
			<-idle // the command before is gone and its /tmp replaced
			pid, err := in.start(m.Seq, files)
			CloseAll(files)
			if err != nil {
				idle <- struct{}{}
				reply(Message{Seq: m.Seq, Err: "start command: " + err.Error()})
				continue
			}
			mu.Lock()
			running = m.Seq
			mu.Unlock()
			go func(seq uint64) {
				st := in.wait(pid)
				mu.Lock()
				running = 0
				mu.Unlock()
				in.killAll() // what it left behind
				var err error
				OnForker(func() bool {
					if err = in.clearKeyrings(); err == nil {
						err = in.refresh()
					}
					return true
				})
				if err == nil {
					err = in.tampered()
				}
				// A session that cannot be trusted with another command
				// retires: goatbench starts a new one.
				reply(Message{Seq: seq, Status: &st, Retire: err != nil})
				if err != nil {
					fmt.Fprintf(os.Stderr, "sandbox init: %v\n", err)
					os.Exit(3)
				}
				idle <- struct{}{}
			}(m.Seq)
		}
	}
}

// inside is what the init keeps.
type inside struct {
	tmpSize string
	ws      string
	wsfd    int      // the workspace, to bind it again under a new /tmp
	devnull *os.File // every command's stdin
	ownNet  bool     // the commands' network namespace is the forker's own (see Forker)
	layered bool     // /tmp and /dev/shm are the forker's own tmpfs, not bwrap's
	// sent: the workspaces come from goatbench (see switchTo), one after
	// another; otherwise bwrap bound the session's one workspace.
	sent bool
	// parent: the workspaces are the directories in this one, which bwrap
	// bound (under mode, run by anyone but root); otherwise goatbench sends
	// each one's mount tree.
	parent  string
	held    string // where switchTo put the workspace in bwrap's /tmp, under the layers
	keys    bool   // keyrings work here (see clearKeyrings)
	limits  [rlimits]unix.Rlimit
	pidMax  []byte // the PID namespace's pid_max, which a command can write (see tampered)
	pidsDue bool   // the next command's fork resets the PID counter first (see resetPids)
	cgroups int    // tasks files passed from FdCgroups on
}

// rlimits is the number of RLIMIT_* resources (RLIMIT_RTTIME is the last).
const rlimits = 16

func newInside(args []string) (*inside, error) {
	switch {
	case len(args) == 4 && (args[3] == "bound" || args[3] == "sent"):
	case len(args) == 5 && args[3] == "under" && underTmp(args[4]):
	default:
		return nil, errors.New("bad arguments")
	}
	in := &inside{tmpSize: args[0], ownNet: args[1] == "net", sent: args[3] != "bound", wsfd: -1}
	if args[3] == "under" {
		in.parent = args[4]
	}
	var err error
	if in.cgroups, err = strconv.Atoi(args[2]); err != nil {
		return nil, errors.New("bad arguments")
	}
	if !in.sent {
		if in.ws, err = os.Getwd(); err != nil { // bwrap's --chdir
			return nil, err
		}
	}
	for r := range rlimits {
		if err := unix.Prlimit(0, r, nil, &in.limits[r]); err != nil {
			return nil, err
		}
	}
	in.pidMax, _ = os.ReadFile("/proc/sys/kernel/pid_max")
	in.keys = keyctlWorks()
	OnForker(func() bool { err = in.setUp(); return true })
	return in, err
}

// setUp readies the forker thread (see OnForker), the one that starts
// commands and mounts their /tmp: a child has its forking thread's
// capabilities, IPC namespace and mount namespace, and those belong to a
// thread. This thread gets:
//   - a mount namespace of its own (bwrap's is its first user namespace's,
//     where the init has no capability: bwrap maps uid 0 there to mount
//     devpts, then moves into a second one, bubblewrap.c opt_needs_devpts),
//     in which it lays a tmpfs of its own over bwrap's /tmp and /dev/shm (see
//     refresh);
//   - where goatbench made no network namespace for the workspace, one of
//     its own, for the same reason;
//   - no ambient or inheritable capability and an empty bounding set, so a
//     command, which runs as a uid other than 0, has no capability in any
//     set; it keeps its permitted and effective ones (CAP_SYS_ADMIN) to
//     mount and to give each command an IPC namespace of its own.
func (in *inside) setUp() error {
	// Into the workspace's cgroups, this thread alone ("0" in a tasks file
	// is the writer): each command is born there (see the sandbox package's session.inCgroup).
	for fd := FdCgroups; fd < FdCgroups+in.cgroups; fd++ {
		_, err := unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join the workspace's cgroup: %w", err)
		}
	}
	err := unix.Unshare(unix.CLONE_NEWNS)
	if err == nil && in.ownNet && !in.sent { // a sent workspace brings a network of its own (see switchTo)
		// bwrap's network namespace, like its mount namespace, is its first
		// user namespace's, where TIME_WAIT cannot be turned off: this one
		// is the init's, set up as goatbench sets up one it makes for a workspace.
		if err = unix.Unshare(unix.CLONE_NEWNET); err == nil {
			err = SetUpNetns()
		}
	}
	if err == nil && !in.sent {
		in.wsfd, err = unix.Open(in.ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err == nil {
		err = in.refresh()
	}
	if err == nil {
		err = dropInheritable()
	}
	return err
}

// start reads a request from files[0] and starts its command with files[1:]
// as its stdout, stderr and fds from 3 on.
func (in *inside) start(seq uint64, files []*os.File) (int, error) {
	if len(files) < 3 {
		return 0, errors.New("a command without its files")
	}
	body, err := io.ReadAll(io.LimitReader(files[0], MaxBody))
	if err != nil {
		return 0, err
	}
	var r Request
	if err := json.Unmarshal(body, &r); err != nil || r.Seq != seq || len(r.Args) == 0 {
		return 0, errors.New("a request that is not one")
	}
	argv, dir := FromBytes(r.Args), string(r.Dir)
	null, err := os.Open(os.DevNull) // its own: its locks and flags are not the next one's
	if err != nil {
		return 0, err
	}
	defer null.Close()
	fds := []uintptr{null.Fd()}
	for _, f := range files[1:] {
		fds = append(fds, f.Fd())
	}
	env := append([]string{TasksVar + "=" + tasks()}, FromBytes(r.Env)...)
	var pid int
	OnForker(func() bool {
		if in.pidsDue {
			in.pidsDue = false
			in.resetPids()
		}
		pid, err = syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
			Dir: dir, Env: env, Files: fds,
			Sys: &syscall.SysProcAttr{Setsid: true}, // as bwrap's --new-session
		})
		return true
	})
	return pid, err
}

// wait reaps every process that ends (orphans come to PID 1) until pid
// does, and returns pid's wait status.
func (in *inside) wait(pid int) int {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			return int(syscall.WaitStatus(0x9)) // nothing to wait for: as killed
		case got == pid:
			return int(ws)
		}
	}
}

// killAll kills every process of the session's PID namespace but the init,
// and reaps them: kill(-1) from a namespace's PID 1 reaches all the others,
// and a process with SIGKILL pending cannot fork.
func (in *inside) killAll() {
	for unix.Kill(-1, unix.SIGKILL) == nil {
		for {
			if _, err := syscall.Wait4(-1, nil, 0, nil); err != nil && err != syscall.EINTR {
				break
			}
		}
	}
}

// refresh gives the next command a fresh /tmp and /dev/shm, as a bwrap of its
// own would: the forker's tmpfs goes (with what the command left there), a
// new one of the same size comes, and a workspace under it is bound again,
// the directories leading to it 0755 (bwrap's --perms 0755 --dir). It runs
// on the forker thread; bwrap's own tmpfs, locked in this namespace, stays
// under them, empty.
func (in *inside) refresh() error {
	opts := "mode=1777"
	if in.tmpSize != "0" {
		opts += ",size=" + in.tmpSize
	}
	// The last command's SysV objects and POSIX queues go with its IPC
	// namespace.
	if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
		return fmt.Errorf("IPC namespace: %w", err)
	}
	// A session keyring of the next command's own (see the sandbox package's netns.start): not
	// the last command's, nor goatbench's.
	if err := FreshSessionKeyring(KeyQuotaWait); err != nil {
		return err
	}
	for _, d := range []string{"/tmp", "/dev/shm"} {
		if in.layered {
			if err := unix.Unmount(d, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", d, err)
			}
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount %s: %w", d, err)
		}
		rel, ok := strings.CutPrefix(in.ws, d+"/")
		if !ok || in.ws == "" {
			continue
		}
		at := d
		for part := range strings.SplitSeq(rel, "/") {
			at += "/" + part
			if err := os.Mkdir(at, 0o755); err != nil {
				return fmt.Errorf("the workspace's place: %w", err)
			}
			if err := os.Chmod(at, 0o755); err != nil { // past the umask
				return fmt.Errorf("the workspace's place: %w", err)
			}
		}
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", in.wsfd), in.ws, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind the workspace: %w", err)
		}
	}
	in.layered = true
	return nil
}

// switchTo makes ws, whose mount tree is in files[0] (goatbench's
// open_tree(2) clone of it, detached), the session's workspace in place of
// the one before, which it unmounts; an empty ws takes the one before away
// and puts none, for a session kept idle between two workspaces. It runs
// on the forker thread while no command runs. The tree is moved into
// bwrap's own /tmp, under the forker's layers, where refresh binds it again
// in each new layer; the mounts are the init's own, so unlike bwrap's they
// can be taken away. Only a session goatbench started without a workspace
// (sent) switches, and only to a workspace under /tmp.
//
// Run by anyone but root, goatbench can clone no mount tree of the host's.
// There bwrap bound the directory the workspaces are made in (parent, in
// bwrap's /tmp too, under the layers), and ws is one of its directories,
// with no mount tree sent: refresh binds it from there in each layer. The
// init's is the only view of that directory; a command's /tmp is a layer
// over it, and the init cannot be read by the commands.
//
// A workspace also brings what no attempt may share with the one before:
// the forker thread joins the workspace's own cgroups (the tasks files in
// files[1:]) and a new network namespace. A process that ends leaves nothing
// running, but sockets passed in a message that no process received (an
// SCM_RIGHTS cycle) outlive it, holding their ports, their abstract names
// and the memory charged to their cgroup, such as a memfd's.
func (in *inside) switchTo(ws string, files []*os.File) error {
	if !in.sent {
		return errors.New("this session's workspace is bwrap's")
	}
	switch {
	case ws == "":
	case !underTmp(ws):
		return errors.New("a workspace that is not one")
	case in.parent != "" && (len(files) > 0 || path.Dir(ws) != in.parent):
		return errors.New("a workspace that is not one of this session's directory")
	case in.parent == "" && len(files) < 1:
		return errors.New("a workspace without its mount")
	}
	if ws == "" {
		if err := noSockets(); err != nil {
			return err
		}
		in.pidsDue = true
	}
	if in.layered {
		for _, d := range []string{"/tmp", "/dev/shm"} {
			if err := unix.Unmount(d, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", d, err)
			}
		}
		in.layered = false
	}
	if in.ws != "" {
		unix.Close(in.wsfd)
		in.wsfd = -1
		if in.held != "" {
			if err := unix.Unmount(in.held, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount the workspace before: %w", err)
			}
			_ = os.Remove(in.held)
		}
		in.held, in.ws = "", ""
	}
	if ws == "" {
		return in.refresh()
	}
	// A copy of every mount, each with a unique ID of its own (statx's
	// STATX_MNT_ID_UNIQUE, which only grows), so that the workspace's
	// commands cannot count the mounts the last workspace's commands made.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("the workspace's mounts: %w", err)
	}
	switch {
	case in.parent != "":
		// No symlink: the directory itself, as goatbench made it.
		fd, err := unix.Open(ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("the workspace: %w", err)
		}
		in.ws, in.wsfd = ws, fd
	default:
		at := "/tmp"
		for part := range strings.SplitSeq(strings.TrimPrefix(ws, "/tmp/"), "/") {
			at += "/" + part
			if err := os.Mkdir(at, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("the workspace's place: %w", err)
			}
		}
		if err := unix.MoveMount(int(files[0].Fd()), "", unix.AT_FDCWD, ws, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("mount the workspace: %w", err)
		}
		in.held, in.ws = ws, ws
		fd, err := unix.Open(ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		in.wsfd = fd
		for _, f := range files[1:] {
			if _, err := f.Write([]byte("0")); err != nil {
				return fmt.Errorf("join the workspace's cgroup: %w", err)
			}
		}
	}
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("the workspace's network: %w", err)
	}
	if err := SetUpNetns(); err != nil {
		return fmt.Errorf("the workspace's network: %w", err)
	}
	return in.refresh()
}

// noSockets refuses to leave the session idle for another workspace if a
// unix socket is left in the workspace's network namespace (the forker
// thread's) once its commands are gone. Only one in flight can be: a socket
// sent in a message no process received, in a cycle of such messages, which
// the kernel's collector does not free while a listening socket is in it.
// It holds whatever fds were sent with it, and with them what they hold: a
// pty's master, inotify instances and pipe buffers the uid's limits count,
// the credentials (and so the keyrings) of whoever opened them. A next
// workspace of the same uid would find them, or find its limits used up.
// Every fd in flight is in some unix socket's queue, and the commands can
// make no network namespace of their own to hide one in (bwrap's
// --disable-userns), so an empty /proc/thread-self/net/unix leaves nothing.
func noSockets() error {
	b, err := os.ReadFile("/proc/thread-self/net/unix")
	if err != nil {
		return fmt.Errorf("the workspace's sockets: %w", err)
	}
	if _, rest, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(rest) != "" {
		return errors.New("a command left sockets in flight: the session takes no other workspace")
	}
	return nil
}

// resetPids sets the PID namespace's next PID back to where a new session's
// would be, so that the next workspace learns nothing from it: a command
// can fork until the next PID is a number of its choosing. With pid_max at
// its least (301), one fork wraps the counter to 300, the first PID past
// the reserved ones, and the next workspace's first command then gets 301.
// pid_max is the namespace's own, and the init's to write, from Linux 6.14
// on; where it is not, the counter stays as it is. It runs just before the
// next workspace's first command is forked, not when the last workspace
// leaves: every thread the init's runtime starts takes a PID too, and moving
// the next workspace in (its mounts, its cgroups) blocks in syscalls long
// enough for the runtime to start one, which took 301 and gave the command
// 302.
func (in *inside) resetPids() {
	const path = "/proc/sys/kernel/pid_max"
	if len(in.pidMax) == 0 || os.WriteFile(path, []byte("301\n"), 0) != nil {
		return
	}
	// A fork whose exec fails (/dev/null is no program) takes a PID and is
	// reaped at once by ForkExec itself, at a fork's cost.
	if pid, err := syscall.ForkExec("/dev/null", []string{"null"}, &syscall.ProcAttr{Env: []string{}}); err == nil {
		_, _ = syscall.Wait4(pid, nil, 0, nil)
	}
	_ = os.WriteFile(path, in.pidMax, 0)
}

// underTmp reports whether ws is a clean path below /tmp: no empty, "." or
// ".." part, no trailing slash.
func underTmp(ws string) bool {
	rel, ok := strings.CutPrefix(ws, "/tmp/")
	if !ok {
		return false
	}
	for part := range strings.SplitSeq(rel, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// clearKeyrings empties the keyrings a command of the same uid could leave a
// key in for the next: the user, user-session and persistent keyrings belong
// to the session's user namespace, not to a command. It runs on the forker
// thread. The persistent keyring is linked into the thread's session keyring
// first, which makes it possessed, so that its possessor's permission to
// clear it applies (its owner has only view and read). A keyring that
// cannot be emptied, or read back empty, is an error: a command can take
// away even its owner's permission to change it (KEYCTL_SETPERM), and the
// session then retires, since the next command, or the next workspace's,
// would find in it whatever was left.
func (in *inside) clearKeyrings() error {
	if !in.keys {
		return nil
	}
	rings := []int{unix.KEY_SPEC_USER_KEYRING, unix.KEY_SPEC_USER_SESSION_KEYRING}
	if p, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, -1, unix.KEY_SPEC_SESSION_KEYRING, 0, 0); err == nil {
		rings = append(rings, p)
	} else if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		return fmt.Errorf("the persistent keyring: %w", err)
	}
	for _, r := range rings {
		_, err := unix.KeyctlInt(unix.KEYCTL_CLEAR, r, 0, 0, 0)
		var n int
		if err == nil {
			n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, r, nil, 0)
		}
		if err != nil || n != 0 {
			return fmt.Errorf("a command left a keyring (%d) that cannot be emptied: %v", r, err)
		}
	}
	return nil
}

// keyctlWorks reports whether this process can use keyrings at all: not
// where the kernel has none, or a seccomp profile refuses keyctl(2) (as
// Docker's does, and goatbench's bwrap: the sandbox package's keyless),
// which then refuses it to every command too.
func keyctlWorks() bool {
	_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	return err != unix.ENOSYS && err != unix.EPERM && err != unix.EACCES
}

// tampered says whether a command changed the init's rlimits (prlimit(2) on
// a process of one's own uid is allowed) or pid_max. Its nice value, scheduling, CPU
// affinity and I/O priority are not a command's to change, since the init
// has capabilities the command lacks (security/commoncap.c, cap_safe_nice);
// nor are its memory and files (PR_SET_DUMPABLE 0).
func (in *inside) tampered() error {
	for r := range rlimits {
		var now unix.Rlimit
		if err := unix.Prlimit(0, r, nil, &now); err != nil || now != in.limits[r] {
			return fmt.Errorf("a command changed the init's rlimit %d", r)
		}
	}
	// pid_max is the PID namespace's (Linux 6.14 on), and owned by the root
	// of bwrap's first user namespace: the commands' uid. Lowered, it would
	// leave later commands no PID to fork with.
	if now, _ := os.ReadFile("/proc/sys/kernel/pid_max"); string(now) != string(in.pidMax) {
		return fmt.Errorf("a command changed the session's pid_max to %s", strings.TrimSpace(string(now)))
	}
	return nil
}

// tasks is the number of threads of this process, "0" when unknown.
func tasks() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "0"
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "0"
}

// TasksVar tells a command's shell how many tasks of its uid, in its user
// namespace, are the sandbox's own (the session's init): RLIMIT_NPROC
// counts them too, and the shell adds them to its limit (see the sandbox package's Limits.ulimit)
// before it unsets the variable.
const TasksVar = "GOATBENCH_SANDBOX_TASKS"

// dropInheritable leaves the calling thread no ambient or inheritable
// capability and an empty bounding set, keeping its permitted and effective
// ones.
func dropInheritable() error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err == unix.EINVAL {
			break // past the last capability this kernel knows
		} else if err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("drop inheritable capabilities: %w", err)
	}
	return nil
}

// ignoreSignals catches every signal and drops it. Caught, not ignored: a
// signal ignored stays ignored in the programs started, a caught one is
// reset to its default.
func ignoreSignals() {
	c := make(chan os.Signal, 16)
	signal.Notify(c)
	go func() {
		for range c {
		}
	}()
}
