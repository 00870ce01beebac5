package pid1

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (ours *os.File, theirs *conn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	ours = os.NewFile(uintptr(fds[0]), "ours")
	theirs, err = newConn(fds[1])
	require.NoError(t, err)
	t.Cleanup(func() { ours.Close(); theirs.f.Close() })
	return ours, theirs
}

// A message and its files cross the connection whole, and the files come
// close-on-exec, so that no command is handed another's.
func TestConnCarriesFiles(t *testing.T) {
	ours, c := pair(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	b, oob, err := Encode(Message{Op: "run", Seq: 7}, w)
	require.NoError(t, err)
	require.NoError(t, unix.Sendmsg(int(ours.Fd()), b, oob, nil, 0))
	w.Close()

	m, files, err := c.recv()
	require.NoError(t, err)
	defer CloseAll(files)
	require.Equal(t, Message{Op: "run", Seq: 7}, m)
	require.Len(t, files, 1)
	flags, err := unix.FcntlInt(files[0].Fd(), unix.F_GETFD, 0)
	require.NoError(t, err)
	require.NotZero(t, flags&unix.FD_CLOEXEC)
	_, err = files[0].WriteString("through")
	require.NoError(t, err)
	files[0].Close()
	got := make([]byte, 16)
	n, _ := r.Read(got)
	require.Equal(t, "through", string(got[:n]))

	require.NoError(t, c.send(Message{Seq: 7, Ready: true}))
	buf, oob2 := Buffers()
	n, oobn, fl, _, err := unix.Recvmsg(int(ours.Fd()), buf, oob2, 0)
	require.NoError(t, err)
	m, _, err = Decode(buf[:n], oob2[:oobn], fl)
	require.NoError(t, err)
	require.Equal(t, Message{Seq: 7, Ready: true}, m)
}

// A message longer than the init reads, or one that is not JSON, is refused,
// and the files it carried are closed; goatbench gone is the end of input.
func TestConnRefusesWhatIsNotAMessage(t *testing.T) {
	ours, c := pair(t)
	// Cut where the init stops reading, it is still JSON: the cut is what
	// refuses it.
	big := append([]byte(`{"seq":1}`), []byte(strings.Repeat(" ", MaxMessage))...)
	_, err := ours.Write(big)
	require.NoError(t, err)
	_, _, err = c.recv()
	require.ErrorContains(t, err, "cut short")

	_, err = ours.Write([]byte("not json"))
	require.NoError(t, err)
	_, _, err = c.recv()
	require.Error(t, err)

	ours.Close()
	_, _, err = c.recv()
	require.ErrorIs(t, err, io.EOF)
}

// Only goatbench's end of a SOCK_SEQPACKET socket pair is a connection: run
// by hand with some other fd 3, the init says what it is and stops.
func TestConnIsOnlyASeqpacketSocket(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	_, err = newConn(int(r.Fd()))
	require.Error(t, err)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	_, err = newConn(fds[0])
	require.Error(t, err)
}

// A receive that comes before goatbench's word waits for it, and a send to
// a full queue waits until goatbench reads: neither fails with EAGAIN nor
// spins.
func TestConnWaits(t *testing.T) {
	ours, c := pair(t)
	got := make(chan Message, 1)
	go func() {
		m, _, err := c.recv()
		if err != nil {
			m.Err = err.Error()
		}
		got <- m
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case m := <-got:
		t.Fatalf("received %+v before anything was sent", m)
	default:
	}
	_, err := ours.Write([]byte(`{"op":"kill","seq":3}`))
	require.NoError(t, err)
	require.Equal(t, Message{Op: "kill", Seq: 3}, <-got)

	// Fill the queue towards goatbench.
	require.NoError(t, c.raw.Control(func(fd uintptr) {
		for unix.Sendmsg(int(fd), []byte(`{"seq":1}`), nil, nil, unix.MSG_DONTWAIT) == nil {
		}
	}))
	sent := make(chan error, 1)
	go func() { sent <- c.send(Message{Seq: 2, Ready: true}) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-sent:
		t.Fatalf("sent to a full queue: %v", err)
	default:
	}
	buf := make([]byte, MaxMessage)
	for {
		n, err := ours.Read(buf)
		require.NoError(t, err)
		if string(buf[:n]) == `{"seq":2,"ready":true}` {
			break
		}
	}
	require.NoError(t, <-sent)
}

func TestUnderTmp(t *testing.T) {
	for ws, want := range map[string]bool{
		"/tmp/a": true, "/tmp/a/b": true, "/tmp/a..b": true,
		"/tmp": false, "/tmp/": false, "/tmpx/a": false, "/var/tmp/a": false, "tmp/a": false,
		"/tmp/a/": false, "/tmp//a": false, "/tmp/./a": false, "/tmp/../etc": false, "/tmp/a/..": false,
	} {
		require.Equal(t, want, underTmp(ws), ws)
	}
}
