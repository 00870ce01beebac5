package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// netns is a network namespace holding nothing but a loopback that is up:
// what bwrap's --unshare-net gives a command, made once per workspace by root
// instead of once per command. Creating a network namespace is the largest
// single part of bwrap's setup, and every command of an attempt can share
// one:
//   - each command's processes die with it (bwrap is the init of its PID
//     namespace), and with them every socket they held;
//   - a closed TCP connection keeps no TIME_WAIT entry, as it would in a
//     namespace that lived on, so a later command or check can bind any
//     port a command used (tcp_max_tw_buckets, per namespace, is 0);
//   - commands have no capability in it, so none can change its interfaces,
//     routes or settings;
//   - no attempt shares another's.
type netns struct{ f *os.File }

// makeNetns is newNetns; tests make it fail.
var makeNetns = newNetns

// newNetns makes the namespace on a locked thread and checks that a thread
// can enter it, as each command's start will.
func newNetns() (*netns, error) {
	type made struct {
		f   *os.File
		err error
	}
	ch := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		f, err, back := enterNewNetns()
		if err == nil {
			err, back = tryEnter(f)
			if err != nil {
				f.Close()
			}
		}
		ch <- made{f, err}
		if !back {
			stranded()
		}
		runtime.UnlockOSThread()
	}()
	m := <-ch
	if m.err != nil {
		return nil, fmt.Errorf("sandbox: network namespace: %w", m.err)
	}
	return &netns{m.f}, nil
}

// stranded parks a thread that could not return to goatbench's namespace.
// It is never unlocked, so no other goroutine runs in that namespace; and it
// never ends, since any process an earlier goroutine forked from this
// thread has Pdeathsig, which fires when the thread that forked it ends.
func stranded() { select {} }

// enterNewNetns runs on a locked thread: it moves the thread into a new
// namespace, sets the namespace up, keeps a handle on it and returns the
// thread to where it was. back says whether it did return.
func enterNewNetns() (_ *os.File, _ error, back bool) {
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err, true
	}
	defer host.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, err, true
	}
	f, err := os.Open("/proc/thread-self/ns/net")
	if err == nil {
		if err = setUp(); err != nil {
			f.Close()
		}
	}
	if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) != nil {
		if err == nil {
			f.Close()
			err = fmt.Errorf("cannot return to goatbench's own namespace")
		}
		return nil, err, false
	}
	if err != nil {
		return nil, err, true
	}
	return f, nil, true
}

// within runs fn on the calling thread, which must be locked, inside the
// namespace f, and then returns the thread to goatbench's own. err says
// whether it could enter (fn runs only then); back whether it returned: a
// thread that did not must be stranded.
func within(f *os.File, fn func()) (err error, back bool) {
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err, true
	}
	defer host.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter the workspace's network namespace: %w", err), true
	}
	fn()
	return nil, unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil
}

// tryEnter enters the namespace and returns, as start does: where something
// (a security module, a seccomp profile) lets a namespace be made but not
// entered, the sandbox falls back to bwrap's own per command.
func tryEnter(f *os.File) (error, bool) {
	err, back := within(f, func() {})
	if err == nil && !back {
		err = fmt.Errorf("cannot return to goatbench's own namespace")
	}
	return err, back
}

// setUp runs in the new namespace. It brings "lo" up, as bwrap's
// loopback_setup does (bubblewrap network.c), though by ioctl, not netlink.
// It also turns TIME_WAIT off there (see netns): /proc/sys/net shows the
// namespace of the thread that opens it.
func setUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("read lo's flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/tcp_max_tw_buckets", []byte("0\n"), 0); err != nil {
		return fmt.Errorf("turn TIME_WAIT off: %w", err)
	}
	return nil
}

// start starts cmd inside the namespace; a nil n starts it in goatbench's.
// Every command (and every bwrap) is forked by a thread kept for it (see
// forker): fk, the workspace's, or the one of goatbench's when fk is nil. It
// enters the namespace for the fork and then returns to goatbench's. A
// thread that cannot return is stranded, and another takes its place. The
// caller holds the workspace's lock, or Release waits for it (a session
// being started), so n cannot be closed meanwhile.
//
// While the key quota is full (see freshSessionKeyring), the fork is tried
// again for up to keyQuotaWait, the forker left free in between: goatbench's
// forks for every workspace, and a quota one attempt keeps full must not
// hold up the others' commands.
func (n *netns) start(cmd *exec.Cmd, fk *forker) error {
	deadline := time.Now().Add(keyQuotaWait)
	for {
		err := n.startOnce(cmd, fk)
		if !errors.Is(err, unix.EDQUOT) || !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (n *netns) startOnce(cmd *exec.Cmd, fk *forker) error {
	var err error
	ferr := fk.run(func() bool {
		if err = freshSessionKeyring(0); err != nil {
			return true
		}
		if n == nil {
			err = cmd.Start()
			return true
		}
		var started error
		werr, back := within(n.f, func() { started = cmd.Start() })
		if err = werr; err == nil {
			err = started
		}
		return back
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// A forker is a thread locked for good that forks commands, for what a
// child gets from the thread that forks it:
//   - its session keyring: before each fork the thread joins a new,
//     anonymous one, so no command possesses goatbench's (a login's, a
//     systemd service's) nor an earlier command's. A thread of Go's pool
//     would keep the last command's keyring, and hand it on to whatever it
//     started next;
//   - Pdeathsig, which fires when the forking thread ends: a forker ends
//     only when told, with nothing it forked left;
//   - in cgroup v1, its cgroups: a workspace's forker is in the workspace's
//     (see attemptCgroup), and a child is born in them, where one that
//     joined them itself would wait for an RCU grace period whenever no
//     other move came just before (cgroup_threadgroup_rwsem: 15-35 ms
//     here for a command after a model's turn);
//   - in a session's init, the mount and network namespaces and the
//     capabilities its commands get (see inside.setUp).
//
// Each fn run on it reports whether the thread is fit for more (it returned
// to goatbench's network namespace); if not, it is stranded and a new
// thread, set up the same way, takes its place on the same channel.
type forker struct {
	c      chan forkJob
	setUp  func() error // run first on each of its threads
	mu     sync.Mutex
	closed bool
}

type forkJob struct {
	fn   func() bool
	done chan error
}

// errForkerGone is what a fork sent to a forker gets when no thread could
// take the place of a stranded one.
var errForkerGone = errors.New("sandbox: the workspace's forker thread is gone")

// goatbenchForker forks whatever no workspace's forker does.
var goatbenchForker = sync.OnceValue(func() *forker {
	fk, _ := newForker(nil) // with no set-up it cannot fail
	return fk
})

// onForker runs fn on goatbench's forker and waits for it.
func onForker(fn func() bool) { _ = goatbenchForker().run(fn) }

// newForker starts a forker whose threads first run setUp; the error is
// setUp's on the first one.
func newForker(setUp func() error) (*forker, error) {
	fk := &forker{c: make(chan forkJob), setUp: setUp}
	ready := make(chan error, 1)
	go fk.thread(ready, nil)
	if err := <-ready; err != nil {
		return nil, err
	}
	return fk, nil
}

// thread is the goroutine of one of fk's threads. It is never the
// process's main thread: Go may run any goroutine there, and a locked
// goroutine that ends on it leaves it wedged rather than ended (still in a
// workspace's cgroups, say). A goroutine that finds itself there holds it
// while another one locks a thread, which therefore is not the main one,
// and then lets it go.
func (fk *forker) thread(ready chan<- error, locked chan<- struct{}) {
	runtime.LockOSThread() // never unlocked but on the main thread: this thread ends with the goroutine
	if locked != nil {
		close(locked)
	}
	if unix.Gettid() == unix.Getpid() {
		l := make(chan struct{})
		go fk.thread(ready, l)
		<-l
		runtime.UnlockOSThread()
		return
	}
	var err error
	if fk.setUp != nil {
		err = fk.setUp()
	}
	ready <- err
	if err != nil {
		return
	}
	for j := range fk.c {
		ok := j.fn()
		j.done <- nil
		if !ok {
			next := make(chan error, 1)
			go fk.thread(next, nil)
			if <-next != nil {
				go fk.drain()
			}
			stranded()
		}
	}
}

// drain fails every fork sent to a forker with no thread left.
func (fk *forker) drain() {
	for j := range fk.c {
		j.done <- errForkerGone
	}
}

// run runs fn on fk's thread, or goatbench's when fk is nil, and waits for
// it; the error says it could not be run.
func (fk *forker) run(fn func() bool) error {
	if fk == nil {
		fk = goatbenchForker()
	}
	j := forkJob{fn: fn, done: make(chan error, 1)}
	fk.mu.Lock()
	if fk.closed {
		fk.mu.Unlock()
		return errForkerGone
	}
	fk.c <- j
	fk.mu.Unlock()
	return <-j.done
}

// stop ends fk's thread; a fork sent to it after fails.
func (fk *forker) stop() {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if !fk.closed {
		fk.closed = true
		close(fk.c)
	}
}

// freshSessionKeyring makes the calling thread's session keyring a new,
// anonymous one (a NULL name, which unix.KeyctlJoinSessionKeyring cannot
// pass). A new keyring counts in the uid's key quota, which a command run as
// the caller can fill through the keyring it was given, still the thread's:
// emptied, it frees the quota, and the join is tried again for up to wait.
// Where keyctl(2) does not work at all (no keyrings in the kernel, or a
// seccomp profile that refuses them), no command can use a keyring either:
// nothing to do.
func freshSessionKeyring(wait time.Duration) error {
	join := func() error {
		_, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	}
	err := join()
	if err == unix.EDQUOT {
		// The kernel gives the quota back once its key collector has
		// destroyed the keys, soon after.
		_, _ = unix.KeyctlInt(unix.KEYCTL_CLEAR, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
		for deadline := time.Now().Add(wait); err == unix.EDQUOT && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
			err = join()
		}
	}
	switch err {
	case unix.ENOSYS, unix.EPERM, unix.EACCES:
		return nil
	case nil:
		return nil
	}
	return fmt.Errorf("a session keyring of its own: %w", err)
}

// keyQuotaWait is how long a fork waits for a full key quota to be given
// back. 100 ms was not always enough for a session's first command right
// after the command that filled it: that command needs one keyring more
// than a bwrap of its own (the init's).
const keyQuotaWait = time.Second

func (n *netns) close() {
	if n != nil {
		n.f.Close()
	}
}
