// Package pid1 is the init of a bubblewrap session (see the sandbox
// package's session): goatbench's own binary, run by bwrap as PID 1 of the
// session's PID namespace, which starts one command at a time on
// goatbench's word.
//
// It is a package of its own, imported by the sandbox package, so that it
// takes over before most of goatbench is initialised: Go initialises a
// package once all it imports is, taking the first in import-path order of
// those that are ready (the Go spec, "Package initialization"). The sandbox
// package imports net and os/exec, whose place in that order put its init
// behind gRPC, protobuf and the Modal SDK: 9 ms into goatbench's start here,
// where this one, which imports neither, comes at 2.5 ms. Serve uses
// nothing but what this package imports, which is all initialised by then.
// The forker and the wire format are here so that goatbench's side shares
// them with the init.
package pid1

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Arg is the argv[1] of goatbench's binary when it runs as a session's
// init; init() below catches it.
const Arg = "goatbench-sandbox-session"

// The session's fds, as bwrap passes them to its init: the connection to
// goatbench, goatbench's binary (/proc/self/exe, which bwrap runs), and,
// run by root, the passwd file at FdCgroups-1 (bwrap reads it) and then the
// tasks files of the workspace's cgroups.
const (
	FdConn    = 3
	FdExe     = 4
	FdCgroups = 6
)

func init() {
	if len(os.Args) >= 2 && os.Args[1] == Arg && os.Getpid() == 1 {
		os.Exit(Serve(os.Args[2:]))
	}
}

// conn is the init's end of its connection to goatbench: a SOCK_SEQPACKET
// socket the runtime's poller waits on (through the os package, since net
// is what this package must not import). While the init waits for
// goatbench's next word, its one P (GOMAXPROCS=1) is then free at once for
// the goroutine that waits for a command's end, not only once the runtime's
// monitor takes it back from a blocked system call.
type conn struct {
	f   *os.File
	raw syscall.RawConn
}

// newConn takes fd, which must be such a socket: anything else is not
// goatbench talking, and the init goes no further.
func newConn(fd int) (*conn, error) {
	if t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_SEQPACKET {
		return nil, errors.New("fd 3 is not goatbench's connection")
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "session")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &conn{f: f, raw: raw}, nil
}

func (c *conn) send(m Message, files ...*os.File) error {
	b, oob, err := Encode(m, files...)
	if err != nil {
		return err
	}
	var serr error
	if err := c.raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), b, oob, nil, 0)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}

// recv reads one message and the files it carries; see Decode.
func (c *conn) recv() (Message, []*os.File, error) {
	b, oob := Buffers()
	var n, oobn, flags int
	var rerr error
	if err := c.raw.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), b, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	}); err != nil {
		return Message{}, nil, err
	}
	if rerr != nil {
		return Message{}, nil, rerr
	}
	if n == 0 && oobn == 0 {
		return Message{}, nil, io.EOF
	}
	return Decode(b[:n], oob[:oobn], flags)
}
