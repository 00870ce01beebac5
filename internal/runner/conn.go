package runner

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// NewTransport is the pooled transport every Client uses unless given
// another: Go's default transport, keeping enough idle connections for many
// attempts in flight to one server (Go's default of two would re-dial for
// almost every request), over connections whose reads cost a stream less
// (see eventConn).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	// The dialer of http.DefaultTransport (net/http/transport.go).
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrapConn(c), nil
	}
	return t
}

// eventConn is a TCP connection whose reads skip the Go runtime's system-call
// bookkeeping. A streamed reply arrives as one small packet per token (with
// llama-server, one per character of a tool call's arguments), and each of
// its reads is a read(2) that finds data and one that finds none. Through
// net.Conn, each of those enters the scheduler as a system call that may
// block, and so wakes its monitor thread if it sleeps, which between two
// tokens it has: that wake-up cost a fifth of a streamed request's CPU here.
// The socket is non-blocking (the runtime made it so), so read(2) never
// blocks, and the runtime's poller still does all the waiting: RawConn.Read
// calls read again only once the poller says the socket is readable, and
// honours deadlines and Close as net.Conn's Read does.
//
// That the socket stays non-blocking is what makes this safe: a raw read of
// a blocking socket would hold its thread in the kernel without the
// runtime's knowing, and a garbage collection waiting to stop it would wait
// for as long as the server is silent. Nothing can make it blocking: the
// connection inside is never handed out (the Fd of its File would do it).
//
// Builds with the race detector or a sanitizer read through net.Conn (see
// rawReads): their instrumented read(2) tells the detector which bytes it
// wrote and that a socket's data comes after what its writer did before.
type eventConn struct {
	net.Conn
	raw syscall.RawConn
}

// wrapConn makes c an eventConn when it is a socket the runtime polls, and
// leaves it alone otherwise.
func wrapConn(c net.Conn) net.Conn {
	if !rawReads {
		return c
	}
	return newEventConn(c)
}

// newEventConn is wrapConn whatever the build.
func newEventConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &eventConn{Conn: c, raw: raw}
}

func (c *eventConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		// Nothing to read, but a closed connection still says so; a
		// deadline does not count here (internal/poll's FD.Read returns
		// before looking at it).
		return 0, readError(c.raw.Control(func(uintptr) {}))
	}
	if len(p) > 1<<30 { // as internal/poll's FD.Read caps one read
		p = p[:1<<30]
	}
	var n uintptr
	var errno syscall.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	switch {
	case err != nil: // closed, or past a deadline
		return 0, readError(err)
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// readError is an error of RawConn.Read as net.Conn's Read gives it: the
// same *net.OpError, with the operation "read" rather than "raw-read".
func readError(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = "read"
	}
	return err
}

// CloseWrite shuts down the writing side, as *net.TCPConn's does (a
// protocol upgrade's body uses it).
func (c *eventConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
