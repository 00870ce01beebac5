package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goatbench/goatbench/internal/sandbox/pid1"
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
			pid1.Stranded()
		}
		runtime.UnlockOSThread()
	}()
	m := <-ch
	if m.err != nil {
		return nil, fmt.Errorf("sandbox: network namespace: %w", m.err)
	}
	return &netns{m.f}, nil
}

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
		if err = pid1.SetUpNetns(); err != nil {
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

// start starts cmd inside the namespace; a nil n starts it in goatbench's.
// Every command (and every bwrap) is forked by a thread kept for it (see
// forker): fk, the workspace's, or the one of goatbench's when fk is nil. It
// enters the namespace for the fork and then returns to goatbench's. A
// thread that cannot return is stranded, and another takes its place. The
// caller holds the workspace's lock, or Release waits for it (a session
// being started), so n cannot be closed meanwhile.
//
// While the key quota is full (see freshSessionKeyring), the fork is tried
// again for up to pid1.KeyQuotaWait, the forker left free in between: goatbench's
// forks for every workspace, and a quota one attempt keeps full must not
// hold up the others' commands.
func (n *netns) start(cmd *exec.Cmd, fk *pid1.Forker) error {
	deadline := time.Now().Add(pid1.KeyQuotaWait)
	for {
		err := n.startOnce(cmd, fk)
		if !errors.Is(err, unix.EDQUOT) || !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (n *netns) startOnce(cmd *exec.Cmd, fk *pid1.Forker) error {
	var err error
	ferr := fk.Run(func() bool {
		if err = pid1.FreshSessionKeyring(0); err != nil {
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

func (n *netns) close() {
	if n != nil {
		n.f.Close()
	}
}
