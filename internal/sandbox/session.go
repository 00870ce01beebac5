package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goatbench/goatbench/internal/sandbox/pid1"
)

// A session is one bubblewrap sandbox kept for all the commands of a
// workspace, so that bwrap's set-up (a user namespace, a mount tree, a
// network) is paid once per attempt, not once per command. Its PID 1 is
// goatbench's own binary as a small init (package pid1), which starts one
// command at a time on goatbench's word. Each command still has what a bwrap
// of its own gave it:
//   - nothing it started outlives it: once its shell exits, the init kills
//     every other process of the session's PID namespace before it reports
//     the end;
//   - a fresh, size-limited /tmp and /dev/shm, its own IPC namespace, its
//     own stdin, and no keyrings (see keyless; where none refuses them,
//     empty ones);
//   - no capability in any set.
//
// The workspace, the read-only system and /dev, the uid, the hostname and
// the network (loopback only) are the session's, as they were every
// command's anyway. The init runs as the commands' uid, so it makes itself
// unreadable (PR_SET_DUMPABLE 0), drops the signals it can, and retires its
// session when a command changed its rlimits. A session that dies under a
// command ends that command, as a killed one, and the next command starts a
// new one and runs in it; one whose death shows only once a command is sent
// to it gives that command a bwrap of its own. Where a session cannot be had
// (bwrap runs as root through setpriv, a command binds host paths, or the
// session failed to start), each command gets a bwrap of its own.

func init() {
	closeInheritedOnExec()
}

// closeInheritedOnExec marks every fd goatbench inherited from its parent
// (beyond stdin, stdout and stderr) close-on-exec, as Go marks its own: Go
// passes a child every fd that is not, so without this one a terminal's or a
// CI runner's open files would reach bwrap and every command.
func closeInheritedOnExec() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd") // kernels before 5.11
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// goRuntimeEnv is in the environment of the session's init: with one P, Go
// starts fewer threads, and every thread counts in the RLIMIT_NPROC of the
// commands' uid.
const goRuntimeEnv = "GOMAXPROCS=1"

// The session's fds, as bwrap passes them to its init (see pid1). Run by
// root, the passwd file comes at firstExtra, where every bwrap finds it.
const (
	fdSessionConn    = pid1.FdConn
	fdSessionExe     = pid1.FdExe
	fdSessionCgroups = pid1.FdCgroups
)

// The passwd file is the last fd before the tasks files.
var _ = [1]struct{}{}[fdSessionCgroups-firstExtra-1]

type session struct {
	conn   *net.UnixConn
	bwrap  *exec.Cmd
	exited chan struct{} // closed once bwrap has been waited for
	stderr *tail         // bwrap's and the init's own complaints
	seq    atomic.Uint64
	broken atomic.Bool // the connection to the init failed
	// inCgroup: the init's forker thread placed itself in the workspace's
	// cgroups as it started, so every command it forks is born in them and
	// need not move into them (see attemptCgroup). The init itself, its
	// other threads and bwrap are not in them: the memory cgroup's OOM
	// killer never picks them over a command.
	inCgroup bool
	// sent: its workspaces come from goatbench, one after another (see
	// slot and moveIn); otherwise bwrap bound its one workspace.
	sent bool
	// under: run by anyone but root, the directory bwrap bound, whose
	// directories are the workspaces it takes in (pid1's under mode).
	under string
}

// initBinary is the session's init: goatbench's own binary, which
// /proc/self/exe opens also where it was replaced or removed since it
// started. Benchmarks run goatbench's binary in place of the test's.
var initBinary = "/proc/self/exe"

// startSession starts the session's bwrap with args (which end in the
// init's command line) and waits until the init says it is ready.
func startSession(bin string, args []string, env []string, dir string, attr *syscall.SysProcAttr, extra []*os.File, n *netns) (*session, error) {
	defer closeAll(extra)
	exe, err := os.Open(initBinary)
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "session"), os.NewFile(uintptr(fds[1]), "session")
	defer theirs.Close()
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		return nil, err
	}
	s := &session{conn: c.(*net.UnixConn), exited: make(chan struct{}), stderr: &tail{max: 4 << 10}}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir, cmd.Stderr = env, dir, s.stderr
	cmd.ExtraFiles = []*os.File{theirs, exe}
	cmd.ExtraFiles = append(cmd.ExtraFiles, extra...)
	// No Pdeathsig, which would fire when the thread that started bwrap
	// ends, long before the session: when goatbench ends, for whatever
	// reason, its end of the connection closes and the init kills every
	// command and exits, and bwrap with it.
	attr.Setpgid = true
	cmd.SysProcAttr = attr
	if err := n.start(cmd, nil); err != nil {
		s.conn.Close()
		return nil, err
	}
	s.bwrap = cmd
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	theirs.Close()
	if err := s.awaitReady(context.Background(), 0); err != nil {
		s.close()
		return nil, fmt.Errorf("sandbox: start the workspace's sandbox: %v: %s", err, firstLine(s.stderr.String()))
	}
	return s, nil
}

// awaitReady waits, for at most setupGrace and no longer than ctx, for the
// init to say it is ready after message seq (0: its start), and says why
// not otherwise.
func (s *session) awaitReady(ctx context.Context, seq uint64) error {
	_ = s.conn.SetReadDeadline(time.Now().Add(setupGrace))
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = s.conn.SetReadDeadline(time.Now())
		close(fired)
	})
	m, files, err := s.recv()
	if !stop() {
		<-fired // its deadline, set however late, is cleared below, not left for the next read
	}
	_ = s.conn.SetReadDeadline(time.Time{})
	closeAll(files)
	switch {
	case err != nil:
		return err
	case m.Err != "":
		return errors.New(m.Err)
	case !m.Ready || m.Seq != seq:
		return errors.New("the workspace's sandbox replied out of turn")
	}
	return nil
}

func (s *session) send(m pid1.Message, files ...*os.File) error {
	return sendMessage(s.conn, m, files...)
}

func (s *session) recv() (pid1.Message, []*os.File, error) {
	return recvMessage(s.conn)
}

// sendMessage sends one message with the files it carries.
func sendMessage(c *net.UnixConn, m pid1.Message, files ...*os.File) error {
	b, oob, err := pid1.Encode(m, files...)
	if err != nil {
		return err
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// recvMessage reads one message and the files it carries (see pid1.Decode).
func recvMessage(c *net.UnixConn) (pid1.Message, []*os.File, error) {
	buf, oob := pid1.Buffers()
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return pid1.Message{}, nil, err
	}
	if n == 0 && oobn == 0 {
		return pid1.Message{}, nil, io.EOF
	}
	return pid1.Decode(buf[:n], oob[:oobn], flags)
}

func closeAll(files []*os.File) { pid1.CloseAll(files) }

// start hands cmd (bash, its environment, directory and files) to the init.
// What it returns waits for the init's report that the command and every
// process it started are gone.
func (s *session) start(cmd *exec.Cmd) (process, error) {
	files := []*os.File{cmd.Stdout.(*os.File), cmd.Stderr.(*os.File)}
	files = append(files, cmd.ExtraFiles...)
	if len(files)+1 > pid1.MaxFiles {
		return nil, fmt.Errorf("sandbox: %d files for one command", len(files))
	}
	seq := s.seq.Add(1)
	body, err := json.Marshal(pid1.Request{Seq: seq, Args: pid1.ToBytes(cmd.Args), Env: pid1.ToBytes(cmd.Env), Dir: []byte(cmd.Dir)})
	if err != nil {
		return nil, err
	}
	r, err := dataPipe(body) // the init reads it at once
	if err != nil {
		return nil, err
	}
	err = s.send(pid1.Message{Op: "run", Seq: seq}, append([]*os.File{r}, files...)...)
	r.Close()
	if err != nil {
		s.broken.Store(true)
		return nil, fmt.Errorf("%w: %v", errSessionGone, err)
	}
	return &sessionProc{s: s, seq: seq}, nil
}

// moveIn makes ws the session's workspace, in place of the one before: its
// mount tree (open_tree(2), as bwrap's --bind, nosuid and nodev) is moved
// into the session by the init (see pid1's switchTo), or, in a session
// started by anyone but root (under), which can clone none, the init takes
// ws from the directory bwrap bound, where it must be; and the init's forker
// thread joins cg, the workspace's cgroups (nil: those it is in), and a
// new network namespace. An empty ws takes the one before away. No command
// runs meanwhile (the caller holds the workspace's lock, or Release has
// it); a session that fails to is broken. The wait for the init's word
// ends with ctx, as the command whose workspace moves in would.
func (s *session) moveIn(ctx context.Context, ws string, cg *attemptCgroup) error {
	var files []*os.File
	defer func() { closeAll(files) }()
	if ws != "" && s.under != "" && filepath.Dir(ws) != s.under {
		return fmt.Errorf("sandbox: %s is not in %s, which its sandbox serves", ws, s.under)
	}
	if ws != "" && s.under == "" {
		fd, err := unix.OpenTree(unix.AT_FDCWD, ws, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("sandbox: the workspace's mount: %w", err)
		}
		files = append(files, os.NewFile(uintptr(fd), "tree"))
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("sandbox: the workspace's mount: %w", err)
		}
		if cg != nil && s.inCgroup {
			tasks, err := cg.tasksFiles()
			if err != nil {
				return err
			}
			files = append(files, tasks...)
		}
	}
	seq := s.seq.Add(1)
	err := s.send(pid1.Message{Op: "workspace", Seq: seq, Workspace: []byte(ws)}, files...)
	if err == nil {
		err = s.awaitReady(ctx, seq)
	}
	if err != nil {
		s.broken.Store(true)
		return fmt.Errorf("sandbox: move the workspace into its sandbox: %w", err)
	}
	return nil
}

// errSessionGone is a session found dead before a command started in it:
// the command then runs in a bwrap of its own.
var errSessionGone = errors.New("the workspace's sandbox is gone")

// errSessionDied is a session that died under a command: run makes it a
// killed command once the command started, and errSessionGone (a bwrap of
// its own) before, when not one byte of its script ran.
var errSessionDied = errors.New("the workspace's sandbox died")

// close ends the session: the init kills what runs and exits when the
// connection closes, and bwrap with it.
func (s *session) close() {
	s.conn.Close()
	select {
	case <-s.exited:
	case <-time.After(killGrace):
		s.kill()
		<-s.exited
	}
}

// alive reports whether the session still works.
func (s *session) alive() bool {
	if s.broken.Load() {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

type sessionProc struct {
	s      *session
	seq    uint64
	done   atomic.Bool
	killed atomic.Bool // goatbench asked for its end
}

func (p *sessionProc) wait() (int, error) {
	defer p.done.Store(true)
	m, files, err := p.s.recv()
	closeAll(files)
	switch {
	case err != nil:
		// Only the command could have ended its session (see session), or
		// someone from outside, which also ends a bwrap of its own: either
		// way, the command was killed.
		p.s.broken.Store(true)
		return -1, errSessionDied
	case m.Err != "":
		return 0, errors.New(m.Err)
	case m.Status == nil || m.Seq != p.seq:
		p.s.broken.Store(true)
		return 0, errors.New("the workspace's sandbox replied out of turn")
	}
	if m.Retire {
		p.s.broken.Store(true)
	}
	ws := syscall.WaitStatus(*m.Status)
	switch {
	case ws.Exited():
		return ws.ExitStatus(), nil
	case ws.Signaled() && !p.killed.Load():
		return 128 + int(ws.Signal()), nil // as bwrap reports a shell a signal ended
	}
	return -1, nil
}

// kill kills the command and all it started. A kill that comes after its
// command has ended (a late timeout) is ignored by the init, which knows the
// command by its number.
func (p *sessionProc) kill() {
	if p.done.Load() {
		return
	}
	p.killed.Store(true)
	_ = p.s.send(pid1.Message{Op: "kill", Seq: p.seq})
	// An init that does not report the end soon after goes with its
	// session, which ends the command too.
	time.AfterFunc(killGrace, func() {
		if !p.done.Load() {
			p.s.kill()
		}
	})
}

// killGrace is how long a killed command's end may take to be reported.
const killGrace = 5 * time.Second

// kill ends the session at once: bwrap and, with it, every process of the
// sandbox (bwrap is the init of a PID namespace when goatbench runs as root;
// otherwise its child, the session's init, has --die-with-parent).
func (s *session) kill() {
	s.broken.Store(true)
	_ = syscall.Kill(-s.bwrap.Process.Pid, syscall.SIGKILL)
}

// tail keeps the first max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - t.b.Len(); room > 0 {
		t.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
