package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// netns is a network namespace holding nothing but a loopback that is up:
// what bwrap's --unshare-net gives a command, made once per workspace by root
// instead of once per command. Creating a network namespace is the largest
// single part of bwrap's setup (about 1.5 ms of the 6 it adds to a command),
// and every command of an attempt can share one: each command's processes
// die with it (bwrap is the init of its PID namespace), so no socket of one
// outlives it to meet the next, and no attempt shares another's namespace.
type netns struct{ f *os.File }

// makeNetns is newNetns; tests make it fail.
var makeNetns = newNetns

// newNetns makes the namespace on a thread of its own, which it then puts
// back in goatbench's namespace; a thread that cannot be put back is never
// unlocked, so the runtime ends it with its goroutine.
func newNetns() (*netns, error) {
	type made struct {
		f   *os.File
		err error
	}
	ch := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		f, err, back := enterNewNetns()
		if back {
			runtime.UnlockOSThread()
		}
		ch <- made{f, err}
	}()
	m := <-ch
	if m.err != nil {
		return nil, fmt.Errorf("sandbox: network namespace: %w", m.err)
	}
	return &netns{m.f}, nil
}

// enterNewNetns runs on a locked thread: it moves the thread into a new
// namespace, brings its loopback up, keeps a handle on it and returns the
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
		if err = loopbackUp(); err != nil {
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

// loopbackUp sets IFF_UP on the calling thread's "lo", as bwrap's
// loopback_setup does (bubblewrap network.c), though by ioctl, not netlink.
func loopbackUp() error {
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
	return nil
}

// start starts cmd inside the namespace and returns what to call once the
// command has been waited for. The child is forked by a thread that enters
// the namespace for the fork and then returns to goatbench's. That thread
// must live on while the command runs, for the command's Pdeathsig fires
// when the thread that forked it ends; so a thread that cannot return is
// held by a goroutine of its own until waited is called, and ends after.
func (n *netns) start(cmd *exec.Cmd) (waited func(), err error) {
	errc, done := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer host.Close()
		if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter the workspace's network namespace: %w", err)
			return
		}
		errc <- cmd.Start()
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
			return
		}
		<-done
	}()
	return func() { close(done) }, <-errc
}

func (n *netns) close() {
	if n != nil {
		n.f.Close()
	}
}
