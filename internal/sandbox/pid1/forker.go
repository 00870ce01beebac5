package pid1

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A Forker is a thread locked for good that forks commands, for what a
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
// to goatbench's network namespace); if not, it is Stranded and a new
// thread, set up the same way, takes its place on the same channel.
type Forker struct {
	c      chan forkJob
	setUp  func() error // run first on each of its threads
	mu     sync.Mutex
	closed bool
}

type forkJob struct {
	fn   func() bool
	done chan error
}

// ErrForkerGone is what a fork sent to a forker gets when no thread could
// take the place of a stranded one.
var ErrForkerGone = errors.New("sandbox: the workspace's forker thread is gone")

// defaultForker forks whatever no workspace's forker does.
var defaultForker = sync.OnceValue(func() *Forker {
	fk, _ := NewForker(nil) // with no set-up it cannot fail
	return fk
})

// OnForker runs fn on goatbench's forker and waits for it.
func OnForker(fn func() bool) { _ = defaultForker().Run(fn) }

// NewForker starts a forker whose threads first run setUp; the error is
// setUp's on the first one.
func NewForker(setUp func() error) (*Forker, error) {
	fk := &Forker{c: make(chan forkJob), setUp: setUp}
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
func (fk *Forker) thread(ready chan<- error, locked chan<- struct{}) {
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
			Stranded()
		}
	}
}

// drain fails every fork sent to a forker with no thread left.
func (fk *Forker) drain() {
	for j := range fk.c {
		j.done <- ErrForkerGone
	}
}

// Run runs fn on fk's thread, or goatbench's when fk is nil, and waits for
// it; the error says it could not be run.
func (fk *Forker) Run(fn func() bool) error {
	if fk == nil {
		fk = defaultForker()
	}
	j := forkJob{fn: fn, done: make(chan error, 1)}
	fk.mu.Lock()
	if fk.closed {
		fk.mu.Unlock()
		return ErrForkerGone
	}
	fk.c <- j
	fk.mu.Unlock()
	return <-j.done
}

// Stop ends fk's thread; a fork sent to it after fails.
func (fk *Forker) Stop() {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if !fk.closed {
		fk.closed = true
		close(fk.c)
	}
}

// Stranded parks a thread that could not return to goatbench's namespace.
// It is never unlocked, so no other goroutine runs in that namespace; and it
// never ends, since any process an earlier goroutine forked from this
// thread has Pdeathsig, which fires when the thread that forked it ends.
func Stranded() { select {} }

// FreshSessionKeyring makes the calling thread's session keyring a new,
// anonymous one (a NULL name, which unix.KeyctlJoinSessionKeyring cannot
// pass). A new keyring counts in the uid's key quota, which a command run as
// the caller can fill through the keyring it was given, still the thread's:
// emptied, it frees the quota, and the join is tried again for up to wait.
// Where keyctl(2) does not work at all (no keyrings in the kernel, or a
// seccomp profile that refuses them), no command can use a keyring either:
// nothing to do.
func FreshSessionKeyring(wait time.Duration) error {
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

// KeyQuotaWait is how long a fork waits for a full key quota to be given
// back. 100 ms was not always enough for a session's first command right
// after the command that filled it: that command needs one keyring more
// than a bwrap of its own (the init's).
const KeyQuotaWait = time.Second

// SetUpNetns runs on a thread in a new network namespace. It brings "lo" up, as bwrap's
// loopback_setup does (bubblewrap network.c), though by ioctl, not netlink.
// It also turns TIME_WAIT off there (see the sandbox package's netns): /proc/sys/net shows the
// namespace of the thread that opens it.
func SetUpNetns() error {
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
