package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goatbench/goatbench/internal/sandbox/pid1"
	"golang.org/x/sys/unix"
)

// Bwrap runs every command with bubblewrap in new PID, IPC, UTS, cgroup and
// network namespaces (the network has only its own loopback): the system
// (/usr, /etc and the /bin, /lib links) read-only, the workspace the only
// writable host directory, a private size-limited /tmp and /dev/shm, and
// nothing else of the host: no home directory, no /proc of the host's
// processes, nothing of /run, /var, /srv or /mnt. When the command's shell exits,
// every process the command left behind is killed.
//
// From its first command on (see sessionFrom), a workspace's commands share
// one such sandbox, a session (see session), where bwrap runs as the
// workspace's uid or the caller; the sandbox is then built once per attempt,
// and each command still gets a fresh /tmp, /dev/shm and IPC namespace.
// No command may use the kernel's keyrings (see keyless). Otherwise each
// command has a bwrap of its own, whose PID namespace dies with its shell.
//
// Run by root, every workspace gets a uid of its own (high and unnamed on the
// host) and its commands run as that uid with no capabilities: they cannot
// read root's files, and RLIMIT_NPROC, which the kernel never applies to
// root, counts exactly that workspace's processes. The workspace is handed to
// its uid before each command. bwrap itself runs as that uid in a user
// namespace; where that is not possible (a workspace behind a directory other
// users cannot search, or a kernel that refuses user namespaces to other
// users) bwrap runs as root without one and setpriv drops the command to the
// uid. Run by anyone else, bwrap adds a user namespace and the command runs as
// the caller.
type Bwrap struct {
	Limits Limits // zero fields take DefaultLimits

	bin     string   // the bwrap executable
	setpriv string   // the setpriv executable, when installed
	system  []string // bwrap arguments that mount the read-only system
	roots   []string // the host directories they expose; no workspace may lie inside
	root    bool     // goatbench runs as root: each workspace gets its own uid
	passwd  []byte   // the host's /etc/passwd, to name that uid
	// noUserns: as root, always use setpriv (user namespaces failed the probe).
	noUserns bool
	// ownBwraps: no sessions; every command has a bwrap of its own (tests).
	ownBwraps bool
	// keyrings: commands may use the kernel's keyrings, as where
	// keylessFilter knows no numbers (tests of the emptying that then
	// stands in for it).
	keyrings bool

	mu      sync.Mutex
	spaces  map[string]*space
	baseUID uint32
	nextUID uint32
	// keep: how many sessions a released workspace may leave idle for the
	// next one (see slot); 0 keeps none. idle holds them; after Close none
	// is kept.
	keep   int
	idle   []*slot
	closed bool
	// ending: sessions of released workspaces that end once started.
	ending sync.WaitGroup
}

// space is what Bwrap keeps per workspace.
type space struct {
	mu         sync.Mutex // one command at a time: nothing runs while the workspace changes owner
	uid        uint32
	searchable bool           // every directory above it lets other users through
	cg         *attemptCgroup // nil where there is none
	cgErr      error
	net        *netns         // run by root: the one network namespace of its commands
	netErr     error          // why there is none, when making it failed
	sess       *session       // the sandbox its commands run in (see session)
	starting   *sessionStart  // a session on its way
	commands   int            // commands that could have run in a session
	sessErr    error          // why there is none, when starting it failed: each command gets its own
	moveIn     bool           // sess is an idle one taken over (see slot): the workspace must move in first
	cgBefore   *attemptCgroup // the cgroups sess's init was in before, removed once it moved in
}

// sessionStart is a session being started for a workspace.
type sessionStart struct {
	done chan struct{} // closed once s or err is set
	s    *session
	err  error
}

// settle waits for a session on its way and keeps what came of it. The
// caller holds sp.mu.
func (sp *space) settle() {
	if st := sp.starting; st != nil {
		<-st.done
		sp.sess, sp.sessErr, sp.starting = st.s, st.err, nil
	}
}

// ready settles a session start that is over, without waiting for one that
// is not, and reports whether none is still on its way. The caller holds
// sp.mu.
func (sp *space) ready() bool {
	if st := sp.starting; st != nil {
		select {
		case <-st.done:
			sp.settle()
		default:
			return false
		}
	}
	return true
}

// how is the way a command becomes the user it runs as.
type how int

const (
	asCaller   how = iota // a user namespace, as the caller
	asUID                 // bwrap runs as the workspace's uid, in a user namespace
	viaSetpriv            // bwrap runs as root; setpriv drops to the workspace's uid
)

// NewBwrap finds bubblewrap and checks with a probe command that it can build
// the sandbox on this machine; the error says why not.
func NewBwrap(l Limits) (*Bwrap, error) {
	b, err := newBwrap(l)
	if err != nil {
		return nil, err
	}
	if err := b.probe(); err != nil {
		return nil, err
	}
	return b, nil
}

// newBwrap prepares a Bwrap without probing it.
func newBwrap(l Limits) (*Bwrap, error) {
	b := &Bwrap{Limits: l, spaces: map[string]*space{}, root: os.Geteuid() == 0}
	var err error
	if b.bin, err = findBwrap(); err != nil {
		return nil, errors.New("bubblewrap is not installed (apt-get install bubblewrap), nor on PATH")
	}
	b.setpriv, _ = lookPath("setpriv")
	if b.root {
		if b.passwd, err = os.ReadFile("/etc/passwd"); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		// Somewhere in [2^30, 2^30+2^28): above every real and subordinate uid
		// range in common use, and apart from other goatbench processes.
		if b.baseUID, err = uidBase(1<<30, 1<<28); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	b.system, b.roots = systemMounts()
	return b, nil
}

// Mode names the sandbox in run.json and reports.
func (*Bwrap) Mode() string { return ModeBwrap }

// Binary is the bubblewrap executable in use, for run.json and reports.
func (b *Bwrap) Binary() string { return b.bin }

// findBwrap looks for bubblewrap on goatbench's own PATH first, as users
// expect of any program (a bwrap built into ~/.local/bin, say), then in the
// system directories commands search.
func findBwrap() (string, error) {
	if p, err := exec.LookPath(bwrapProgram); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
	}
	return lookPath(bwrapProgram)
}

func (b *Bwrap) probe() error {
	err := b.try()
	if err != nil && b.root && b.setpriv != "" {
		b.noUserns = true
		if b.try() == nil {
			return nil
		}
		b.noUserns = false
	}
	return err
}

func (b *Bwrap) try() error {
	dir, err := os.MkdirTemp("", "goatbench-probe-")
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer os.RemoveAll(dir)
	defer b.Release(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The workspace must be writable and the system not.
	res, err := b.Run(ctx, Command{Dir: dir, Script: "touch probe && ! touch /usr/probe 2>/dev/null"})
	switch {
	case err != nil:
		return fmt.Errorf("bubblewrap does not work here: %w", err)
	case res.ExitCode != 0:
		return fmt.Errorf("bubblewrap does not work here: exit code %d: %s", res.ExitCode, firstLine(res.Output))
	}
	return nil
}

// Run runs c in a fresh sandbox and returns its result.
func (b *Bwrap) Run(ctx context.Context, c Command) (Result, error) {
	l := b.Limits.withDefaults()
	ws, err := b.workspace(c.Dir)
	if err != nil {
		return Result{}, err
	}
	sp := b.space(ws)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	h, err := b.prepare(ws, sp, l, c.Binds)
	if err != nil {
		return Result{}, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = l.Timeout
	}
	s := spec{env: Env(ws, "/tmp"), ulimit: l.ulimit(timeout, int64(l.Processes)), netns: sp.net}
	c.Dir = ws
	if h != viaSetpriv && len(c.Binds) == 0 {
		if sess := b.sessionFor(ctx, h, ws, sp, l); sess != nil {
			in := s
			if !sess.inCgroup {
				if err := sp.cg.join(&in); err != nil {
					return Result{}, err
				}
			}
			in.sess = sess
			in.cmd = exec.Command(bash(), "-c", c.Script)
			res, err := run(ctx, c, l, in)
			if !errors.Is(err, errSessionGone) {
				return res, err
			}
			// It died between two commands: this one has a bwrap of its own.
		}
	}
	if b.root {
		f, err := b.passwdFor(ws, sp.uid)
		if err != nil {
			return Result{}, err
		}
		s.extra = append(s.extra, f)
	}
	if err := sp.cg.join(&s); err != nil {
		closeAll(s.extra)
		return Result{}, err
	}
	var keys []string
	if s.extra, keys, err = b.keyless(s.extra); err != nil {
		closeAll(s.extra)
		return Result{}, err
	}
	args := b.args(h, ws, sp.uid, l, sp.net == nil, keys, bash(), "-c", c.Script)
	if len(c.Binds) > 0 {
		if args, err = b.withBinds(args, ws, c.Binds); err != nil {
			closeAll(s.extra)
			return Result{}, err
		}
	}
	s.cmd = exec.Command(b.bin, args...)
	s.cmd.SysProcAttr = b.procAttr()
	if h == asUID {
		s.cmd.SysProcAttr.Credential = credential(sp.uid)
	}
	return run(ctx, c, l, s)
}

// prepare readies the workspace for a command that binds binds, and says
// how that command becomes its user: the workspace handed to its uid (or its
// owner's access given back), and, run by root, its cgroup and network
// namespace made once. The caller holds sp.mu.
func (b *Bwrap) prepare(ws string, sp *space, l Limits, binds []Bind) (how, error) {
	h := b.how(sp, binds)
	if b.root {
		if h == viaSetpriv && b.setpriv == "" {
			return h, fmt.Errorf("sandbox: %s needs setpriv (apt-get install util-linux)", ws)
		}
		if sp.cg == nil && sp.cgErr == nil { // its first command
			b.takeSlot(h, ws, sp, binds)
		}
		if err := handOver(ws, sp.uid); err != nil {
			return h, err
		}
	} else {
		if err := ownerAccess(ws); err != nil {
			return h, err
		}
		if sp.sessErr == nil && sp.commands == 0 { // its first command
			b.takeSlot(h, ws, sp, binds)
		}
	}
	if b.root && sp.cg == nil && sp.cgErr == nil {
		sp.cg, sp.cgErr = newAttemptCgroup(l.Memory, int64(l.Processes))
	}
	if sp.cgErr != nil {
		return h, sp.cgErr
	}
	if b.root && sp.net == nil && sp.netErr == nil && !b.movable(h, ws) {
		// Where goatbench cannot make one, bwrap makes one per command. A
		// session that takes its workspaces from goatbench gives each a
		// network of its own (see moveIn), and a command with a bwrap of
		// its own there has bwrap make one.
		sp.net, sp.netErr = makeNetns()
	}
	return h, nil
}

// takeSlot gives the workspace an idle slot's session to move into (see
// slot), where one serves it and a command that binds binds would run in
// it; run by root, its uid and cgroups come with it. The caller holds sp.mu.
func (b *Bwrap) takeSlot(h how, ws string, sp *space, binds []Bind) {
	if len(binds) > 0 || sp.sess != nil || sp.starting != nil || !b.movable(h, ws) {
		return
	}
	if sl := b.take(ws); sl != nil {
		sp.sess, sp.moveIn = sl.sess, true
		if b.root {
			sp.uid, sp.cgBefore = sl.uid, sl.cg
		}
	}
}

// how is the way a command of the workspace that binds binds becomes its
// user.
func (b *Bwrap) how(sp *space, binds []Bind) how {
	switch {
	case !b.root:
		return asCaller
	case b.noUserns || !sp.searchable || !bindsSearchable(binds):
		return viaSetpriv
	}
	return asUID
}

// passwdFor is the read end of a pipe holding the host's /etc/passwd with a
// name for the workspace's uid: whoami, getpass and the like fail on a uid
// without one. bwrap shows it at /etc/passwd (fd firstExtra).
func (b *Bwrap) passwdFor(ws string, uid uint32) (*os.File, error) {
	u := strconv.FormatUint(uint64(uid), 10)
	data := fmt.Appendf(slices.Clip(b.passwd), "goatbench:x:%s:%s:goatbench:%s:%s\n", u, u, ws, bash())
	r, err := dataPipe(data)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return r, nil
}

// sessionFor is the session a command of the workspace runs in, or nil when
// it runs in a bwrap of its own. Command sessionFrom starts the session and
// waits to run in it, as does the first command after a session died: a
// bwrap of its own meanwhile would take it nearly as long as the wait, and
// the two would compete for the cores. Any command waits for a start on its
// way (Warm's, say). A command whose context ends during the wait runs in a
// bwrap of its own (where it fails at once) and leaves the start to finish
// in the background. After a failed start, every command has a bwrap of its
// own. The caller holds sp.mu.
func (b *Bwrap) sessionFor(ctx context.Context, h how, ws string, sp *space, l Limits) *session {
	if b.ownBwraps {
		return nil
	}
	if st := sp.starting; st != nil {
		// Started by Warm, or by a command that gave up on it: it is
		// nearer its end than a bwrap of this command's own would be.
		select {
		case <-st.done:
			sp.settle()
		case <-ctx.Done():
			return nil
		}
	}
	if sp.sess != nil && sp.moveIn {
		// The wait ends with this command's context, and so does a
		// session that does not answer.
		if !moveInto(ctx, sp.sess, ws, sp.cg, sp.cgBefore) {
			sp.sess = nil // start another
		}
		sp.moveIn, sp.cgBefore = false, nil
	}
	if sp.sess != nil && !sp.sess.alive() {
		sp.sess.close() // it died under an earlier command: start another
		sp.sess = nil
	}
	if sp.sess != nil || sp.sessErr != nil {
		return sp.sess
	}
	if sp.commands++; sp.commands < sessionFrom {
		return nil
	}
	st := b.startSessionFor(h, ws, sp, l)
	select {
	case <-st.done:
		sp.settle()
		return sp.sess // nil when it failed to start
	case <-ctx.Done():
		return nil
	}
}

// Warm readies the workspace's session in the background, before its first
// command, and returns at once (see Warmer): it takes over an idle slot and
// moves the workspace in, or else starts a session. It does nothing where
// the workspace already has one, or where its commands would not run in
// one. A workspace released unused leaves its session idle again, as one
// released after its commands does. Whatever went wrong is the first
// command's to report, as it would have been without Warm.
func (b *Bwrap) Warm(dir string) {
	if b.ownBwraps {
		return
	}
	ws, err := b.workspace(dir)
	if err != nil {
		return
	}
	sp := b.space(ws)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.sess != nil || sp.starting != nil || sp.sessErr != nil || sp.commands > 0 {
		return
	}
	h := b.how(sp, nil)
	if h == viaSetpriv {
		return
	}
	l := b.Limits.withDefaults()
	if _, err := b.prepare(ws, sp, l, nil); err != nil {
		return
	}
	sp.commands++ // the command that would have started it
	switch {
	case sp.sess != nil && sp.moveIn:
		b.moveInFor(ws, sp)
	case sp.sess == nil:
		b.startSessionFor(h, ws, sp, l)
	}
}

// moveInFor moves the workspace into the idle session it took over, in the
// background, as a session start: a command waits for it as for one. A
// session that cannot take the workspace in is ended, and the next command
// starts another. The caller holds sp.mu.
func (b *Bwrap) moveInFor(ws string, sp *space) {
	st := &sessionStart{done: make(chan struct{})}
	sess, cg, before := sp.sess, sp.cg, sp.cgBefore
	sp.sess, sp.moveIn, sp.cgBefore, sp.starting = nil, false, nil, st
	go func() {
		defer close(st.done)
		ctx, cancel := context.WithTimeout(context.Background(), setupGrace)
		defer cancel()
		if moveInto(ctx, sess, ws, cg, before) {
			st.s = sess
		}
	}()
}

// moveInto moves ws into sess, an idle session taken over, its wait for
// the init bounded by ctx, and reports whether it did. A session that
// cannot take it in, and may not hear a close, is killed. before, the
// cgroups the init was in (nil: none), are removed either way: nothing is
// left in them, the init's thread being in the workspace's own now, or gone
// with its session.
func moveInto(ctx context.Context, sess *session, ws string, cg, before *attemptCgroup) bool {
	err := sess.moveIn(ctx, ws, cg)
	if err != nil {
		sess.kill()
		<-sess.exited
	}
	if before != nil {
		_ = before.remove()
	}
	return err == nil
}

// startSessionFor starts the workspace's session in the background. The
// caller holds sp.mu.
func (b *Bwrap) startSessionFor(h how, ws string, sp *space, l Limits) *sessionStart {
	st := &sessionStart{done: make(chan struct{})}
	sp.starting = st
	uid, net, cg := sp.uid, sp.net, sp.cg // Release may change sp's while it starts
	go func() {
		st.s, st.err = b.startSession(h, ws, uid, net, cg, l)
		close(st.done)
	}()
	return st
}

// sessionFrom is the command of a workspace, counted from 1, that starts its
// session and runs in it. Here a session costs about 16 ms to start, where a
// command's own bwrap costs 7 ms and one in a session 1 (BenchmarkWorkspace,
// goatbench's binary as the init: 17 ms added for one command, 19 for two,
// 21 for three, 26 for ten; from the second command on they were 7, 25, 27
// and 33). So the first command starts it: a workspace of one command (an
// attempt whose only command is its check, say) pays 10 ms more, and every
// other one about 7 ms less, and an agent's attempt is rarely of one
// command. Over the core suite's reference attempts (3.6 commands each),
// bubblewrap added 12 ms an attempt rather than 22 (`goatbench run --suite
// core --repeat 2 --parallel 2 --sandbox bwrap` against `--sandbox plain`);
// over the smoke suite's (1.4 each), 8 ms a command rather than 5. Warm
// starts it sooner still, before the first command, while the model
// thinks: then, run by anyone but root, bubblewrap adds 1.9 ms to a
// workspace of one command rather than 15.7, and 1.2, 1.0 and 0.8 ms a
// command to ones of two, three and ten rather than 8.0, 5.8 and 2.1
// (BenchmarkWorkspace, "fresh" against "cold"). The CPU the start takes,
// 10 to 15 ms a workspace, is the same; a session handed on from one
// workspace to the next (see slot) takes 2 to 4, and adds 1.6, 1.2, 0.9 and
// 0.7 ms a command ("bwrap").
const sessionFrom = 1

// startSession starts the sandbox a workspace's commands run in (see
// session): bwrap as for one command, with the session's init as its PID 1
// and the capabilities that init needs. The passwd file and the uid are the
// session's for its whole life, and so is the network of one that bwrap
// bound its workspace into; one that takes its workspaces from goatbench
// (movable) gives each its own (see moveIn).
func (b *Bwrap) startSession(h how, ws string, uid uint32, n *netns, cg *attemptCgroup, l Limits) (*session, error) {
	sent := b.movable(h, ws)
	home, bound, parent := ws, ws, ""
	if sent {
		// It outlives its first workspace, and each brings a network of
		// its own (see moveIn): bwrap's is only the init's. Run by anyone
		// but root, bwrap binds the directory the workspaces are made in,
		// and the init takes each from there (pid1's under mode).
		home, bound, n = "/tmp", "", nil
		if !b.root {
			parent = filepath.Dir(ws)
			bound = parent
		}
	}
	var extra []*os.File
	cgroups := 0 // tasks files after the passwd file
	if b.root {
		f, err := b.passwdFor(home, uid)
		if err != nil {
			return nil, err
		}
		extra = append(extra, f)
		if cg != nil {
			tasks, err := cg.tasksFiles()
			if err != nil {
				closeAll(extra)
				return nil, err
			}
			extra, cgroups = append(extra, tasks...), len(tasks)
		}
	}
	extra, keys, err := b.keyless(extra)
	if err != nil {
		closeAll(extra)
		return nil, err
	}
	ownNet := n == nil
	caps := append([]string{"--as-pid-1", "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"}, keys...)
	net := "-"
	if ownNet {
		caps, net = append(caps, "--cap-add", "CAP_NET_ADMIN"), "net"
	}
	tmp := "0"
	if l.TmpSize > 0 {
		tmp = strconv.FormatInt(l.TmpSize, 10)
	}
	mode := []string{"bound"}
	if sent {
		mode = []string{"sent"}
		if parent != "" {
			mode = []string{"under", parent}
		}
		// No command may hide a socket from noSockets (pid1) in a network
		// namespace of its own, which it can make only in a user namespace
		// of its own.
		caps = append(caps, "--disable-userns")
	}
	initArgs := append([]string{"/proc/self/fd/" + strconv.Itoa(fdSessionExe), pid1.Arg, tmp, net, strconv.Itoa(cgroups)}, mode...)
	args := b.args(h, bound, uid, l, ownNet, caps, initArgs...)
	attr := b.procAttr()
	if h == asUID {
		attr.Credential = credential(uid)
	}
	s, err := startSession(b.bin, args, append([]string{goRuntimeEnv}, Env(ws, "/tmp")...), ws, attr, extra, n)
	if err != nil {
		return nil, err
	}
	s.inCgroup, s.sent, s.under = cgroups > 0, sent, parent
	if sent {
		if err := s.moveIn(context.Background(), ws, nil); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// keeps reports whether this bwrap can start the sessions that slots keep:
// each needs bwrap's --disable-userns (bubblewrap 0.8 on; see
// startSession), without which every such session would fail to start and
// each command would have a bwrap of its own; and root, in a user
// namespace (not through setpriv).
func (b *Bwrap) keeps() bool {
	if b.root && b.noUserns {
		return false
	}
	out, _ := exec.Command(b.bin, "--help").CombinedOutput()
	return bytes.Contains(out, []byte("--disable-userns"))
}

// movable reports whether a workspace's session takes its workspace from
// goatbench rather than from bwrap, and so can serve the next workspace once
// this one is released (see slot): the workspace under /tmp (where the init
// lays a tmpfs of its own for every command), Bwrap keeping idle sessions
// at all, and either root, with bwrap as the workspace's uid (goatbench
// clones its mount tree, which open_tree(2) needs CAP_SYS_ADMIN for), or
// anyone else, with the workspace in a directory of its own below /tmp
// (bwrap binds that directory, and the session serves the workspaces made
// in it; the runner makes a run's there).
func (b *Bwrap) movable(h how, ws string) bool {
	if b.keep == 0 || b.ownBwraps || !strings.HasPrefix(ws, "/tmp/") {
		return false
	}
	if b.root {
		return h == asUID
	}
	return h == asCaller && strings.HasPrefix(filepath.Dir(ws), "/tmp/")
}

// procAttr is how bwrap itself is started. --die-with-parent (in args) ties
// the sandbox to bwrap only once its setup handshake is over: bubblewrap's
// child sets PR_SET_PDEATHSIG late, after it has read the eventfd its parent
// writes once the uid maps are in place (bubblewrap.c: child_wait_fd,
// handle_die_with_parent), so a bwrap killed in between, as when goatbench is
// SIGKILLed and Pdeathsig takes bwrap with it, leaves that child blocked
// forever. Run by root, bwrap therefore starts as the init of a PID
// namespace of its own: when it dies, for whatever reason, the kernel kills
// every process in that namespace, the half-built sandbox included.
func (b *Bwrap) procAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if b.root {
		a.Cloneflags = syscall.CLONE_NEWPID
	}
	return a
}

// args is the bwrap command line for one command or a session: more options
// for bwrap, then the command. ownNet asks bwrap for a network namespace of
// the sandbox's own; without it the sandbox starts in its workspace's (see
// netns).
func (b *Bwrap) args(h how, ws string, uid uint32, l Limits, ownNet bool, more []string, command ...string) []string {
	a := []string{
		"--die-with-parent", "--new-session",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", "goatbench",
	}
	if ownNet {
		a = append(a, "--unshare-net")
	}
	if h != viaSetpriv {
		a = append(a, "--unshare-user")
	}
	a = append(a, b.system...)
	if b.root {
		a = append(a, "--perms", "0644", "--ro-bind-data", strconv.Itoa(firstExtra), "/etc/passwd")
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev")
	a = append(a, procMasks()...)
	for _, dir := range []string{"/tmp", "/dev/shm"} {
		if l.TmpSize > 0 {
			a = append(a, "--size", strconv.FormatInt(l.TmpSize, 10))
		}
		a = append(a, "--perms", "1777", "--tmpfs", dir)
	}
	// /dev is a tmpfs of the command's uid: read-only, or a session's
	// commands would share what they write there (/dev/fd/4 is every
	// command's BASH_ENV). /dev/shm and /dev/pts are mounts of their own.
	a = append(a, "--remount-ro", "/dev")
	if ws == "" {
		// A session whose workspaces the init mounts (see slot).
		a = append(a, "--remount-ro", "/", "--chdir", "/")
	} else {
		// bwrap creates the directories leading to the workspace; let the
		// command's uid through them, as `cd ~` needs.
		for d := filepath.Dir(ws); !isMountPoint(d); d = filepath.Dir(d) {
			a = append(a, "--perms", "0755", "--dir", d)
		}
		a = append(a, "--bind", ws, ws, "--remount-ro", "/", "--chdir", ws)
	}
	a = append(append(a, more...), "--")
	if h == viaSetpriv {
		a = append(append(a, b.setpriv), setprivArgs(uid)...)
	}
	return append(a, command...)
}

// procMasks makes /proc/keys, which lists the keys its reader's uid may
// view (the caller's own among them when run by anyone but root), and
// /proc/key-users, every uid's key count, unreadable: the host's /dev/null,
// bound nodev, opens for no one. Docker masks /proc/keys (its default
// MaskedPaths, as docker inspect shows them); /proc/key-users goes with it
// here. Only those the kernel has are masked, looked for once.
var procMasks = sync.OnceValue(func() []string {
	var a []string
	for _, f := range []string{"/proc/keys", "/proc/key-users"} {
		if _, err := os.Stat(f); err == nil {
			a = append(a, "--ro-bind", "/dev/null", f)
		}
	}
	return a
})

// isMountPoint reports whether bwrap mounts d itself (so it needs no --dir).
func isMountPoint(d string) bool {
	switch d {
	case "/", "/tmp", "/dev", "/dev/shm":
		return true
	}
	return false
}

// workspace resolves a command's directory and refuses one the sandbox cannot
// make the only writable place.
func (b *Bwrap) workspace(dir string) (string, error) {
	abs, err := resolve(dir)
	if err != nil {
		return "", err
	}
	bad := isMountPoint(abs) || abs == "/proc" || strings.HasPrefix(abs, "/proc/") || abs == "/sys" || strings.HasPrefix(abs, "/sys/")
	for _, r := range b.roots {
		bad = bad || abs == r || strings.HasPrefix(abs, r+"/")
	}
	if bad {
		return "", fmt.Errorf("sandbox: a workspace cannot be %s", abs)
	}
	return abs, nil
}

func (b *Bwrap) space(ws string) *space {
	b.mu.Lock()
	defer b.mu.Unlock()
	sp, ok := b.spaces[ws]
	if !ok {
		sp = &space{uid: b.baseUID + b.nextUID, searchable: searchable(filepath.Dir(ws))}
		b.nextUID++
		b.spaces[ws] = sp
	}
	return sp
}

// searchable reports whether a user with no group of the owners' can pass
// through dir and every directory above it.
func searchable(dir string) bool {
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode()&0o001 == 0 {
			return false
		}
		if dir == "/" {
			return true
		}
		dir = filepath.Dir(dir)
	}
}

// Release forgets a workspace once its attempt is over, and returns once
// nothing of it runs: its session is left idle for the next workspace (see
// slot) or ended and, run by root, whatever a command run through setpriv
// (outside a user namespace) may have left is killed and its cgroups
// removed. A session still starting, or still taking the workspace in, is
// dealt with in the background, once there, and the rest with it.
func (b *Bwrap) Release(dir string) error {
	abs, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil
	}
	b.mu.Lock()
	sp, ok := b.spaces[abs]
	delete(b.spaces, abs)
	b.mu.Unlock()
	if !ok {
		return nil
	}
	sp.mu.Lock() // a running command holds it
	ready := sp.ready()
	st, sess, net := sp.starting, sp.sess, sp.net
	sp.starting, sp.sess, sp.net = nil, nil, nil
	moveIn, before := sp.moveIn, sp.cgBefore
	sp.mu.Unlock()
	parked := func(sess *session) bool {
		if sess != nil && sess.sent && !moveIn && sess.alive() &&
			(!b.root || sp.cg.emptyBut(btoi(sess.inCgroup))) && b.park(&slot{uid: sp.uid, cg: sp.cg, sess: sess}) {
			net.close() // a command's own bwrap's, if any
			return true
		}
		return false
	}
	if ready && parked(sess) {
		return nil
	}
	if before != nil {
		// A session taken over, released before it moved in: it ends
		// below, and those it was in with it.
		defer func() { _ = release(sp.uid, before) }()
	}
	end := func(sess *session) error {
		if sess != nil {
			// No command of the workspace is left (each one's processes
			// are gone when it ends); the init ends when its connection
			// closes, and close waits for bwrap, which waits for the init.
			sess.close()
		}
		net.close() // after a start, which may yet have entered it
		if b.root {
			// A bwrap of a command's own and its helpers are gone once run
			// has waited for bwrap: it is the init of its own PID
			// namespace, whose exit waits for every process in it. So is a
			// session's init, whose forker thread is in the workspace's
			// cgroups between commands.
			return release(sp.uid, sp.cg)
		}
		return nil
	}
	if !ready {
		// A session still starting, or a workspace still moving in (Warm's,
		// or one a command gave up on), is not waited for: once there, it
		// is parked, as above, or ended, and the rest with it.
		b.ending.Add(1)
		go func() {
			defer b.ending.Done()
			<-st.done
			if !parked(st.s) {
				_ = end(st.s)
			}
		}()
		return nil
	}
	return end(sess)
}

// A slot is what a released workspace leaves for the next one: its uid and
// session, idle, with no workspace in it and nothing running, and the
// cgroups the session's init is in. The next workspace takes them over:
// run by root, any under /tmp, which is handed to the slot's uid; run by
// anyone else, one made in the directory the session's bwrap bound, as a
// run's workspaces are. Its mount tree is moved into the session (see
// session.moveIn) in place of none, with
// cgroups and a network namespace of its own. So a session's start, the
// largest part of what bubblewrap costs an attempt, is paid once per slot
// rather than once per workspace. What a command may leave for the next in
// a session it leaves nowhere a slot keeps: its processes are killed and
// its /tmp, /dev/shm and IPC namespace replaced as it ends (and, where no
// filter refuses it keyrings, see keyless, its keyrings emptied), and a
// session whose init a command tampered with, or whose keyrings cannot be
// emptied, retires. A session is parked only once it holds no workspace,
// no unix socket is left in its workspace's network namespace (fds in
// flight, see pid1's noSockets), and its PID counter is set back (pid1's
// resetPids); no later attempt's commands see the last one's workspace.
type slot struct {
	uid  uint32
	cg   *attemptCgroup // the last workspace's, where the init's forker thread still is
	sess *session
	idle *time.Timer // ends it, if no workspace takes it over soon
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// idleFor is how long a slot waits for a workspace before it ends.
var idleFor = 10 * time.Second

// keepIdle is how many idle slots a run's Bwrap keeps (see Open): more than
// the attempts a machine runs at once.
const keepIdle = 32

// park keeps s for the next workspace once its session holds no workspace;
// false when it does not (the caller ends it).
func (b *Bwrap) park(s *slot) bool {
	b.mu.Lock()
	full := b.closed || len(b.idle) >= b.keep
	b.mu.Unlock()
	if full || s.sess.moveIn(context.Background(), "", nil) != nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.idle) >= b.keep {
		return false
	}
	s.idle = time.AfterFunc(idleFor, func() {
		if b.unpark(s) {
			b.end(s)
		}
	})
	b.idle = append(b.idle, s)
	return true
}

// serves reports whether s's session can take ws in: any workspace under
// /tmp, run by root; one made in the session's directory otherwise.
func (s *slot) serves(ws string) bool {
	return s.sess.under == "" || filepath.Dir(ws) == s.sess.under
}

// take is an idle slot that can take ws in and whose session still works,
// or nil.
func (b *Bwrap) take(ws string) *slot {
	for {
		b.mu.Lock()
		i := slices.IndexFunc(b.idle, func(s *slot) bool { return s.serves(ws) })
		if i < 0 {
			b.mu.Unlock()
			return nil
		}
		s := b.idle[i]
		b.idle = slices.Delete(b.idle, i, i+1)
		b.mu.Unlock()
		s.idle.Stop()
		if s.sess.alive() {
			return s
		}
		b.end(s)
	}
}

// unpark takes s out of the idle slots; false when it is not there.
func (b *Bwrap) unpark(s *slot) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.idle, s)
	if i < 0 {
		return false
	}
	b.idle = slices.Delete(b.idle, i, i+1)
	return true
}

// end ends an idle slot as Release ends a workspace's.
func (b *Bwrap) end(s *slot) {
	s.sess.close()
	if b.root {
		_ = release(s.uid, s.cg)
	}
}

// Close ends every idle slot, and keeps none after; it returns once the
// sessions of workspaces released while still starting have ended too, so
// none outlives a run and leaves its cgroups behind.
func (b *Bwrap) Close() error {
	b.mu.Lock()
	idle := b.idle
	b.idle, b.closed = nil, true
	b.mu.Unlock()
	for _, s := range idle {
		s.idle.Stop()
		b.end(s)
	}
	b.ending.Wait()
	return nil
}

// own hands every file of the workspace to uid, so the command can change
// what goatbench (as root) wrote there. It runs while no process of the
// workspace is alive, never follows a symlink and walks trees of any path
// length (see walkAt). The workspace itself gets back its owner's access, which
// a command may have taken away from itself (chmod 000 .).
func own(ws string, uid int) error {
	if err := os.Lchown(ws, uid, uid); err != nil {
		return err
	}
	if err := os.Chmod(ws, 0o700); err != nil { // the uid's own; no other attempt looks in
		return err
	}
	return walkAt(ws, func(dirfd int, name string, st *unix.Stat_t) error {
		if int(st.Uid) == uid && int(st.Gid) == uid {
			return nil
		}
		if err := unix.Fchownat(dirfd, name, uid, uid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("chown: %w", err)
		}
		return nil
	})
}

// systemMounts binds /usr and /etc read-only and recreates /bin, /sbin and the
// /lib directories as the host has them (links into /usr on merged systems).
func systemMounts() (args, roots []string) {
	for _, d := range []string{"/usr", "/etc"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			args = append(args, "--ro-bind", d, d)
			roots = append(roots, d)
		}
	}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", target, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
			roots = append(roots, d)
		}
	}
	return args, roots
}

// bwrapProgram is the bubblewrap executable: a name looked up on the
// sandbox's PATH, or a path (tests put a broken one here).
var bwrapProgram = "bwrap"

// lookPath finds a program on the sandbox's PATH.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		if fi, err := os.Stat(name); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s: not an executable", name)
		}
		return name, nil
	}
	for _, dir := range strings.Split(searchPath, ":") {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", name, searchPath)
}

// withBinds adds c.Binds to a bwrap command line, just before it remounts the
// root read-only: after /tmp's tmpfs (so a path under the host's /tmp, such
// as a test binary, is shown) and after the system mounts (so a bind over a
// system file wins).
func (b *Bwrap) withBinds(args []string, ws string, binds []Bind) ([]string, error) {
	i := slices.Index(args, "--remount-ro")
	if i < 0 {
		return nil, errors.New("sandbox: bwrap command line without --remount-ro")
	}
	var extra []string
	made := map[string]bool{}
	for _, bd := range binds {
		// As for the workspace: the directories bwrap creates on the way
		// must let the command's uid through; those of the system and the
		// workspace exist already.
		var dirs []string
		for d := filepath.Dir(bd.Path); !isMountPoint(d) && !made[d] && !b.shown(d, ws); d = filepath.Dir(d) {
			made[d] = true
			dirs = append(dirs, d)
		}
		for _, d := range slices.Backward(dirs) {
			extra = append(extra, "--perms", "0755", "--dir", d)
		}
		if !filepath.IsAbs(bd.Path) {
			return nil, fmt.Errorf("sandbox: bind %s: not an absolute path", bd.Path)
		}
		if _, err := os.Stat(bd.Path); err != nil {
			return nil, fmt.Errorf("sandbox: bind %s: %w", bd.Path, err)
		}
		flag := "--ro-bind"
		if bd.Writable {
			flag = "--bind"
		}
		extra = append(extra, flag, bd.Path, bd.Path)
	}
	return slices.Concat(args[:i], extra, args[i:]), nil
}

// shown reports whether d is already in the sandbox: inside a system root
// or the workspace.
func (b *Bwrap) shown(d, ws string) bool {
	for _, r := range append(slices.Clone(b.roots), ws) {
		if d == r || strings.HasPrefix(d, r+"/") {
			return true
		}
	}
	return false
}

// bindsSearchable reports whether a uid of no group of the owners' can reach
// every bound path, as bwrap running as the workspace's uid must.
func bindsSearchable(binds []Bind) bool {
	for _, bd := range binds {
		if !searchable(filepath.Dir(bd.Path)) {
			return false
		}
	}
	return true
}
