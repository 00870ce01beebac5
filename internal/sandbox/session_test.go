package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goatbench/goatbench/internal/sandbox/pid1"
	"github.com/stretchr/testify/require"
)

// needSession is a bubblewrap sandbox whose workspace commands run in one
// session (see session), or a skip saying why this machine takes another way.
func needSession(t *testing.T) (*Bwrap, string) {
	t.Helper()
	b := needBwrap(t, Limits{TmpSize: 1 << 20})
	if b.root && b.noUserns {
		t.Skip("bwrap runs through setpriv here: each command has a bwrap of its own")
	}
	dir := workspace(t)
	t.Cleanup(func() { _ = b.Release(dir) })
	return b, dir
}

// settled is the workspace's session once any on its way has started, or
// why it has none.
func settled(t *testing.T, b *Bwrap, dir string) (*session, error) {
	t.Helper()
	sp := spaceOf(t, b, dir)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.settle()
	return sp.sess, sp.sessErr
}

func sessionOf(t *testing.T, b *Bwrap, dir string) *session {
	t.Helper()
	s, err := settled(t, b, dir)
	require.NoError(t, err)
	require.NotNil(t, s, "the workspace's commands run in a session")
	return s
}

func TestAWorkspacesCommandsShareOneSandbox(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	first := warm(t, b, dir).bwrap.Process.Pid
	for range 3 {
		mustRun(t, b, Command{Dir: dir, Script: "true"})
	}
	require.Equal(t, first, sessionOf(t, b, dir).bwrap.Process.Pid, "one bwrap for all of them")

	other := workspace(t)
	t.Cleanup(func() { _ = b.Release(other) })
	require.NotEqual(t, first, warm(t, b, other).bwrap.Process.Pid, "another workspace has its own")

	s := sessionOf(t, b, dir)
	require.NoError(t, b.Release(dir))
	if s.sent {
		// Idle, for the next workspace (see slot), until Close.
		require.True(t, s.alive())
		require.NoError(t, b.Close())
	}
	select {
	case <-gone(first):
	case <-time.After(5 * time.Second):
		t.Fatal("the session's bwrap outlived its workspace")
	}
	<-s.exited
	require.Equal(t, 0, s.bwrap.ProcessState.ExitCode(), "the init ended its session itself, not killed: %s", s.stderr.String())
}

// gone is closed once pid is.
func gone(pid int) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		for processAlive(pid) {
			time.Sleep(10 * time.Millisecond)
		}
		close(c)
	}()
	return c
}

// Each command is as alone in a session as it was with a bwrap of its own:
// no capability in any set, no process but its own and the init, its own
// IPC, and nothing of the command before it.
func TestACommandInASessionIsAlone(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	first := warm(t, b, dir).bwrap.Process.Pid
	res := mustRun(t, b, Command{Dir: dir, Script: `grep ^Cap /proc/self/status; ls /proc > /tmp/procs; grep -c '^[0-9]' /tmp/procs; ipcmk -M 4096 >/dev/null && ipcs -m | grep -c 0x; sleep 300 & echo started`})
	require.Equal(t, 0, res.ExitCode, res.Output)
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		require.Contains(t, res.Output, set+":\t0000000000000000", "no capability in %s:\n%s", set, res.Output)
	}
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	require.Equal(t, "started", lines[len(lines)-1])
	require.Equal(t, "1", lines[len(lines)-2], "one shared memory segment: its own")
	require.Equal(t, "3", lines[len(lines)-3], "the init, bash and ls: nothing of any command before")

	res = mustRun(t, b, Command{Dir: dir, Script: `ipcs -m | grep -c 0x; ps -eo pid=,comm=`})
	require.True(t, strings.HasPrefix(res.Output, "0\n"), "no segment of the command before:\n%s", res.Output)
	require.NotContains(t, res.Output, "sleep", "nothing of the command before")
	require.Equal(t, first, sessionOf(t, b, dir).bwrap.Process.Pid, "both ran in the session")
}

// A command can neither end its session nor turn its own end into
// goatbench's error. Signals do not reach the init; lowering its rlimits
// (allowed to a process of the same uid) retires the session, and the next
// command gets a new one.
func TestACommandCannotBreakItsSession(t *testing.T) {
	t.Parallel()
	b, dir := sessionReady(t)
	for _, tc := range []struct {
		script  string
		retires bool
	}{
		{"kill -9 -1; echo alive", false},
		{"for s in TERM INT HUP QUIT USR1 SEGV STOP KILL; do kill -s $s 1; done; echo alive", false},
		{"prlimit --pid 1 --nofile=3:3 --nproc=1:1; echo alive", true},
		{"renice -n 19 -p 1 && echo changed; taskset -p 1 1 && echo changed; echo alive", false},
		{"cat /proc/1/environ /proc/1/mem; ls /proc/1/fd; echo alive", false},
	} {
		before := sessionOf(t, b, dir).bwrap.Process.Pid
		res := mustRun(t, b, Command{Dir: dir, Script: tc.script, Timeout: 10 * time.Second})
		require.False(t, res.TimedOut, "%s: %s", tc.script, res.Output)
		require.Contains(t, res.Output, "alive", tc.script)
		require.NotContains(t, res.Output, "changed", tc.script)
		require.NotContains(t, res.Output, "GOMAXPROCS", "the init's environ is not readable")
		res = mustRun(t, b, Command{Dir: dir, Script: "echo next"})
		require.Equal(t, "next\n", res.Output, "after %s", tc.script)
		after := sessionOf(t, b, dir).bwrap.Process.Pid
		if tc.retires {
			require.NotEqual(t, before, after, "%s retires the session", tc.script)
		} else {
			require.Equal(t, before, after, "%s leaves the session be", tc.script)
		}
	}
}

// A session that died under a command (here killed from outside, as it
// would be by a command that could) ends that command as a killed one, as
// a bwrap of its own killed from outside would; the next command gets a new
// session.
func TestADeadSessionIsReplaced(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	s := warm(t, b, dir)
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := b.Run(context.Background(), Command{Dir: dir, Script: "sleep 30"})
		done <- result{res, err}
	}()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, syscall.Kill(-s.bwrap.Process.Pid, syscall.SIGKILL))
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Equal(t, -1, r.res.ExitCode)
	case <-time.After(10 * time.Second):
		t.Fatal("a command outlived its session")
	}
	res := mustRun(t, b, Command{Dir: dir, Script: "echo again"})
	require.Equal(t, "again\n", res.Output)
	require.NotEqual(t, s.bwrap.Process.Pid, sessionOf(t, b, dir).bwrap.Process.Pid)
}

// Where the session cannot start, each command gets a bwrap of its own.
func TestNoSessionFallsBackToABwrapPerCommand(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	b.bin = brokenForSessions(t, b.bin)
	res := mustRun(t, b, Command{Dir: dir, Script: "echo still; grep ^CapEff /proc/self/status"})
	require.Equal(t, "still\nCapEff:\t0000000000000000\n", res.Output)
	res = mustRun(t, b, Command{Dir: dir, Script: "echo again"})
	require.Equal(t, "again\n", res.Output)
	s, err := settled(t, b, dir)
	require.Nil(t, s)
	require.ErrorContains(t, err, "start the workspace's sandbox")
}

// brokenForSessions is a bwrap that refuses --as-pid-1, which only a session
// asks for.
func brokenForSessions(t *testing.T, real string) string {
	t.Helper()
	f, err := os.CreateTemp("", "bwrap-")
	require.NoError(t, err)
	t.Cleanup(func() { os.Remove(f.Name()) })
	_, err = f.WriteString("#!/bin/bash\nfor a; do [ \"$a\" = --as-pid-1 ] && { echo 'no sessions here' >&2; exit 1; }; done\nexec " + real + " \"$@\"\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chmod(f.Name(), 0o755))
	return f.Name()
}

// Nothing of a session outlives goatbench, however it ends: here a
// goatbench (this test binary again) is SIGKILLed while its command runs.
func TestASessionDiesWithGoatbench(t *testing.T) {
	t.Parallel()
	if m := os.Getenv("GOATBENCH_TEST_SESSION_MARKER"); m != "" {
		b, dir := sessionReady(t)
		_, _ = b.Run(context.Background(), Command{Dir: dir, Script: "(exec -a " + m + "-bg sleep 300) & exec -a " + m + " sleep 300"})
		return
	}
	needSession(t)
	m := marker("orphan")
	cmd := exec.Command(os.Args[0], "-test.run=^TestASessionDiesWithGoatbench$")
	cmd.Env = append(os.Environ(), "GOATBENCH_TEST_SESSION_MARKER="+m)
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for !alive(t, m+"-bg") {
		require.True(t, time.Now().Before(deadline), "the command did not start")
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	requireGone(t, m+"-bg")
	requireGone(t, m)
}

// sessionReady is a workspace whose session is running.
func sessionReady(t *testing.T) (*Bwrap, string) {
	t.Helper()
	b, dir := needSession(t)
	warm(t, b, dir)
	return b, dir
}

// warm runs the commands up to the one that starts the workspace's session,
// and returns the session.
func warm(t *testing.T, b *Bwrap, dir string) *session {
	t.Helper()
	for range sessionFrom {
		mustRun(t, b, Command{Dir: dir, Script: "true"})
	}
	return sessionOf(t, b, dir)
}

// What a command writes anywhere but its workspace is gone for the next one,
// a task's check above all. /dev is a tmpfs of the commands' uid, and
// /dev/fd/4 every command's BASH_ENV: were it writable, a model could make
// a failing check pass, a later command goatbench's error, or one run
// outside its limits.
func TestACommandLeavesNothingForTheNext(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	b.keyrings = true // for the emptying of keyrings, where no filter refuses them
	warm(t, b, dir)
	res := mustRun(t, b, Command{Dir: dir, Script: `rm /dev/fd; ln -s /nowhere /dev/stdout; touch /dev/planted; ls -A /dev | wc -l`})
	require.Contains(t, res.Output, "Read-only file system")
	res, err := b.Run(context.Background(), Command{Dir: dir, Script: "echo FAIL; exit 1"})
	require.NoError(t, err)
	require.Equal(t, 1, res.ExitCode, "a check that fails still fails: %q", res.Output)
	res = mustRun(t, b, Command{Dir: dir, Script: "ls /dev/planted; ulimit -v"})
	require.Contains(t, res.Output, "No such file")
	require.NotContains(t, res.Output, "unlimited")

	// The keyrings of the session's user namespace.
	const key = `python3 - "$1" <<'PY'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long
if sys.argv[1] == "put":
    for ring in (-4, -5):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING
        print(libc.syscall(248, b"user", b"leak%d" % ring, b"from-an-earlier-command", 23, ring))  # add_key
else:
    for ring in (-4, -5):
        k = libc.syscall(250, 10, ring, b"user", b"leak%d" % ring, 0)  # KEYCTL_SEARCH
        buf = ctypes.create_string_buffer(64)
        n = libc.syscall(250, 11, k, buf, 64) if k >= 0 else 0  # KEYCTL_READ
        print("found:", buf.raw[:max(n, 0)])
PY`
	res = mustRun(t, b, Command{Dir: dir, Script: "set -- put\n" + key})
	require.NotContains(t, res.Output, "-1", "keys were added: %s", res.Output)
	res = mustRun(t, b, Command{Dir: dir, Script: "set -- get\n" + key})
	require.NotContains(t, res.Output, "from-an-earlier-command")

	// stdin is a command's own /dev/null, not one the init keeps open.
	mustRun(t, b, Command{Dir: dir, Script: `flock -x 0; python3 -c "import fcntl,os; fcntl.fcntl(0, fcntl.F_SETFL, os.O_NONBLOCK|os.O_APPEND)"`})
	res = mustRun(t, b, Command{Dir: dir, Script: `flock -n /dev/null true || echo locked; python3 -c "import fcntl,os; print(hex(fcntl.fcntl(0, fcntl.F_GETFL)))"`})
	require.Equal(t, "0x8000\n", res.Output, "no lock, and the flags of a fresh open")
}

// A command's exit code does not depend on whether its session was ready:
// a shell a signal ended is 128 plus the signal, as bwrap reports it; a
// command goatbench killed (its timeout) is -1 in both.
func TestExitCodesAreTheSameInASession(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	script := "kill -SEGV $$"
	alone := mustRun(t, b, Command{Dir: dir, Script: script}) // a bwrap of its own
	warm(t, b, dir)
	in := mustRun(t, b, Command{Dir: dir, Script: script})
	require.Equal(t, 128+int(syscall.SIGSEGV), alone.ExitCode)
	require.Equal(t, alone.ExitCode, in.ExitCode)
	res := mustRun(t, b, Command{Dir: dir, Script: "sleep 30", Timeout: 200 * time.Millisecond})
	require.True(t, res.TimedOut)
	require.Equal(t, -1, res.ExitCode)
}

// A script reaches bash byte for byte, whatever its bytes; one that no
// command line can hold is the command's failure, never goatbench's error.
func TestScriptsReachBashAsTheyAre(t *testing.T) {
	t.Parallel()
	b, dir := sessionReady(t)
	res := mustRun(t, b, Command{Dir: dir, Script: "printf '%s' '\xff' | od -An -tx1"})
	require.Equal(t, " ff\n", res.Output)
	for _, sb := range []Sandbox{b, Plain{}} {
		for _, s := range []string{"echo a\x00b", "#" + strings.Repeat("x", 140<<10)} {
			res, err := sb.Run(context.Background(), Command{Dir: dir, Script: s})
			require.NoError(t, err)
			require.Equal(t, 126, res.ExitCode)
			require.Contains(t, res.Output, "this command cannot run")
		}
	}
	res = mustRun(t, b, Command{Dir: dir, Script: "#" + strings.Repeat("x", 100<<10) + "\necho long"})
	require.Equal(t, "long\n", res.Output, "a script within the limit runs")
}

// A SIGSEGV queued as a fault is the one signal that ends the init (the Go
// runtime takes it for its own); it ends the session under the command that
// sent it, which is then a command killed, and the next one gets a new
// session.
func TestAFaultQueuedToTheInitEndsOnlyItsCommand(t *testing.T) {
	t.Parallel()
	b, dir := sessionReady(t)
	before := sessionOf(t, b, dir).bwrap.Process.Pid
	res := mustRun(t, b, Command{Dir: dir, Script: "/usr/bin/kill -s SEGV -q 1 1; sleep 2; echo alive", Timeout: 10 * time.Second})
	require.Equal(t, -1, res.ExitCode, res.Output)
	require.NotContains(t, res.Output, "alive")
	res = mustRun(t, b, Command{Dir: dir, Script: "echo next"})
	require.Equal(t, "next\n", res.Output)
	require.NotEqual(t, before, sessionOf(t, b, dir).bwrap.Process.Pid)
}

// A session that died between two commands, before goatbench noticed, gives
// the next command a bwrap of its own, not goatbench's error.
func TestASessionFoundDeadGivesTheCommandItsOwnBwrap(t *testing.T) {
	t.Parallel()
	b, dir := sessionReady(t)
	// A session whose init is gone but whose bwrap has not yet been waited
	// for, as in the moment after it died.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	require.NoError(t, err)
	syscall.Close(fds[1])
	c, err := net.FileConn(os.NewFile(uintptr(fds[0]), "dead"))
	require.NoError(t, err)
	dead := &session{conn: c.(*net.UnixConn), exited: make(chan struct{}), stderr: &tail{max: 1}, bwrap: exec.Command("true")}
	require.NoError(t, dead.bwrap.Run())
	var once sync.Once
	exited := func() { once.Do(func() { close(dead.exited) }) }
	t.Cleanup(exited)
	ws, _ := b.workspace(dir)
	sp := b.space(ws)
	sp.mu.Lock()
	real := sp.sess
	sp.sess = dead
	sp.mu.Unlock()
	t.Cleanup(real.close)

	res, err := b.Run(context.Background(), Command{Dir: dir, Script: "echo ran"})
	require.NoError(t, err)
	require.Equal(t, "ran\n", res.Output)
	require.True(t, dead.broken.Load())
	exited()
	res = mustRun(t, b, Command{Dir: dir, Script: "echo again"})
	require.Equal(t, "again\n", res.Output)
}

// No file goatbench inherited from its parent (a terminal's, a CI runner's)
// reaches a command, in any mode.
func TestInheritedFilesDoNotReachCommands(t *testing.T) {
	t.Parallel()
	if os.Getenv("GOATBENCH_TEST_INHERITED") != "" {
		for _, sb := range []Sandbox{Plain{}, needBwrap(t, Limits{})} {
			dir := workspace(t)
			for range sessionFrom + 1 { // bwraps of their own, then the session
				res := mustRun(t, sb, Command{Dir: dir, Script: "ls /proc/self/fd | tr '\\n' ' '"})
				fmt.Printf("%s: %s\n", sb.Mode(), res.Output)
			}
		}
		return
	}
	needBwrap(t, Limits{})
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInheritedFilesDoNotReachCommands$", "-test.v")
	cmd.Env = append(os.Environ(), "GOATBENCH_TEST_INHERITED=1")
	cmd.ExtraFiles = make([]*os.File, 7)
	cmd.ExtraFiles[6] = w // fd 9 of goatbench, without close-on-exec
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := regexp.MustCompile(`(?m)^(plain|bwrap): .*$`).FindAllString(string(out), -1)
	require.Len(t, lines, 2*(sessionFrom+1), "%s", out)
	for _, l := range lines {
		require.NotContains(t, " "+l+" ", " 9 ", "goatbench's inherited fd 9 reached a command")
	}
}

// A command can leave the init a signal to come after all its processes are
// gone: an inotify fd in flight in a unix socket (it outlives them until the
// kernel collects it), with F_SETOWN 1 and F_SETSIG SIGSEGV, fired by the
// next command's open of /dev/null. The Go runtime takes such a SIGSEGV for
// a fault and the init dies before the next command starts. That command, a
// task's check say, then runs in a bwrap of its own: its Result is its own,
// never goatbench's error.
func TestASignalLeftForTheInitDoesNotBecomeTheNextCommandsError(t *testing.T) {
	t.Parallel()
	const bomb = `python3 - <<'PY'
import socket, os, fcntl, signal, ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC)
assert libc.inotify_add_watch(fd, b"/dev/null", 0x20) >= 0  # IN_OPEN
fcntl.fcntl(fd, fcntl.F_SETOWN, 1)
fcntl.fcntl(fd, 10, signal.SIGSEGV)  # F_SETSIG
fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
socket.send_fds(a, [b"x"], [fd, a.fileno(), b.fileno()])
os._exit(0)
PY
echo planted`
	b, dir := sessionReady(t)
	for range 3 {
		sessionOf(t, b, dir)
		// Any process on the machine that opens /dev/null fires it too, so
		// on a busy machine the init may die under the bomb itself or under
		// the check: either is then killed (-1). Neither is ever an error.
		mustRun(t, b, Command{Dir: dir, Script: bomb})
		res, err := b.Run(context.Background(), Command{Dir: dir, Script: "echo checking; exit 1"})
		require.NoError(t, err)
		if res.ExitCode != -1 {
			require.Equal(t, 1, res.ExitCode)
			require.Equal(t, "checking\n", res.Output)
		}
		mustRun(t, b, Command{Dir: dir, Script: "true"}) // while a new session starts
	}
}

// pid_max is the PID namespace's (Linux 6.14 on) and, in a session, owned by
// the commands' uid: a command that lowers it to 301 after moving the PID
// counter past 300 leaves later commands no PID to fork with. It retires
// the session.
func TestPidMaxRetiresTheSession(t *testing.T) {
	t.Parallel()
	b, dir := sessionReady(t)
	res := mustRun(t, b, Command{Dir: dir, Script: "cat /proc/sys/kernel/pid_max"})
	fresh := strings.TrimSpace(res.Output)
	res = mustRun(t, b, Command{Dir: dir, Script: "for i in $(seq 400); do /bin/true; done; echo 301 > /proc/sys/kernel/pid_max && echo lowered"})
	if !strings.Contains(res.Output, "lowered") {
		t.Skipf("pid_max is not the commands' to write here: %s", res.Output)
	}
	for range 2 { // in a bwrap of its own, then a new session
		res = mustRun(t, b, Command{Dir: dir, Script: "cat /proc/sys/kernel/pid_max; x=$(echo sub); echo $x; exit 3", Timeout: 5 * time.Second})
		require.False(t, res.TimedOut, "the check hung: %q", res.Output)
		require.Equal(t, 3, res.ExitCode, res.Output)
		require.Equal(t, fresh+"\nsub\n", res.Output)
	}
}

// Where goatbench has a session keyring of its own (a login's, a systemd
// service's), no command possesses it: a key one command adds to its
// session keyring is there for no later command, of its workspace or of
// another, in a session or in a bwrap of its own (where no filter refuses
// keyrings to the commands: see keyless), or in plain mode.
func TestNoCommandSharesASessionKeyring(t *testing.T) {
	t.Parallel()
	const put = `python3 -c '
import ctypes; libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long
print("added", libc.syscall(248, b"user", b"leak", b"from-an-earlier-command", 23, -3) > 0)'`
	const get = `python3 -c '
import ctypes; libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long
k = libc.syscall(250, 10, -3, b"user", b"leak", 0); buf = ctypes.create_string_buffer(64)
n = libc.syscall(250, 11, k, buf, 64) if k >= 0 else 0; print("found", buf.raw[:max(n, 0)])'`
	if os.Getenv("GOATBENCH_TEST_KEYRING") != "" {
		b, dir := needSession(t)
		b.keyrings = true // where no filter refuses them
		warm(t, b, dir)
		res := mustRun(t, b, Command{Dir: dir, Script: put})
		require.Contains(t, res.Output, "added True")
		res = mustRun(t, b, Command{Dir: dir, Script: get})
		require.NotContains(t, res.Output, "from-an-earlier-command", "a later command of the workspace")
		third, fourth := workspace(t), workspace(t)
		t.Cleanup(func() { _ = b.Release(third); _ = b.Release(fourth) })
		res = mustRun(t, b, Command{Dir: third, Script: put}) // bwraps of their own
		require.Contains(t, res.Output, "added True")
		res = mustRun(t, b, Command{Dir: fourth, Script: get})
		require.NotContains(t, res.Output, "from-an-earlier-command", "another workspace")
		for _, sb := range []Sandbox{Plain{}} {
			res = mustRun(t, sb, Command{Script: put})
			require.Contains(t, res.Output, "added True")
			res = mustRun(t, sb, Command{Script: get})
			require.NotContains(t, res.Output, "from-an-earlier-command", "plain")
		}
		return
	}
	needSession(t)
	// This goatbench gets a session keyring of its own, as a login gives one.
	cmd := exec.Command("python3", "-c", `
import ctypes, os, sys
libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long
assert libc.syscall(250, 1, b"goatbench-test-session") > 0  # KEYCTL_JOIN_SESSION_KEYRING
os.execv(sys.argv[1], sys.argv[1:])`, os.Args[0], "-test.run=^TestNoCommandSharesASessionKeyring$", "-test.v")
	cmd.Env = append(os.Environ(), "GOATBENCH_TEST_KEYRING=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS")
}

// In plain mode a command can remove or move its own workspace. The next
// command's failure is then the model's doing (ErrWorkspace), not
// goatbench's error.
func TestAWorkspaceACommandRemovedIsTheModelsDoing(t *testing.T) {
	t.Parallel()
	for _, script := range []string{`d=$PWD; cd /; rm -rf "$d"`, `d=$PWD; cd /; mv "$d" "$d.moved"`} {
		dir := workspace(t)
		t.Cleanup(func() { _ = os.RemoveAll(dir + ".moved") })
		mustRun(t, Plain{}, Command{Dir: dir, Script: script})
		_, err := Plain{}.Run(context.Background(), Command{Dir: dir, Script: "true"})
		require.ErrorIs(t, err, ErrWorkspace, script)
	}
}

// Run by anyone but root (root's own does more), a command that takes the
// workspace away from its owner (chmod 000 .) does not make later commands
// goatbench's error.
func TestAWorkspaceTakenFromItsOwnerIsGivenBack(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("run by root, own gives the workspace back before each command")
	}
	for _, sb := range []Sandbox{Plain{}, needBwrap(t, Limits{})} {
		dir := workspace(t)
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		for range sessionFrom + 1 {
			mustRun(t, sb, Command{Dir: dir, Script: "chmod 000 ."})
			res, err := sb.Run(context.Background(), Command{Dir: dir, Script: "echo checking; exit 1"})
			require.NoError(t, err, sb.Mode())
			require.Equal(t, 1, res.ExitCode)
		}
	}
}

// Run by a normal user, goatbench and its commands share one uid's key
// quota. A command that fills it through its own session keyring must not
// leave later commands, of any workspace, its keyring, nor sessions unable
// to start.
func TestAFullKeyQuotaLeavesNoKeyringBehind(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root's key quota is not its commands' (each workspace has a uid of its own)")
	}
	b := needBwrap(t, Limits{})
	b.keyrings = true // where no filter refuses them (see keyless)
	const fill = `python3 -c '
import ctypes; libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long
print("leak", libc.syscall(248, b"user", b"leak", b"from-workspace-1", 16, -3) > 0)
n = 0
while libc.syscall(248, b"user", b"k%d" % n, b"v", 1, -3) > 0: n += 1
print("filled", n)'`
	const get = `python3 -c '
import ctypes; libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long
k = libc.syscall(250, 10, -3, b"user", b"leak", 0); buf = ctypes.create_string_buffer(64)
n = libc.syscall(250, 11, k, buf, 64) if k >= 0 else 0; print("found", buf.raw[:max(n, 0)])'`
	res := mustRun(t, b, Command{Script: fill})
	require.Contains(t, res.Output, "leak True")
	for range 10 {
		res = mustRun(t, b, Command{Script: get}) // each in a workspace of its own
		require.NotContains(t, res.Output, "from-workspace-1")
	}
	dir := workspace(t)
	t.Cleanup(func() { _ = b.Release(dir) })
	warm(t, b, dir)
}

// A forker thread that cannot go on (it could not leave a namespace) is
// replaced on the same channel: forks queued behind it still run.
func TestAStrandedForkerIsReplaced(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { pid1.OnForker(func() bool { return true }) })
		}
		pid1.OnForker(func() bool { return false }) // this thread is stranded for good
		wg.Wait()
		pid1.OnForker(func() bool { return true })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forks wait for a stranded thread")
	}
}

// A session's init is in the workspace's cgroups, and its commands are born
// there without joining them: the attempt's caps still hold, a command
// still gets the processes the limit gives it, and Release removes the
// cgroups with the init gone from them.
func TestASessionKeepsTheAttemptsLimits(t *testing.T) {
	t.Parallel() // after the sequential tests, the key quota's among them
	l := Limits{Processes: 20, Memory: 96 << 20}
	b := needBwrap(t, l)
	if b.root && b.noUserns {
		t.Skip("bwrap runs through setpriv here: each command has a bwrap of its own")
	}
	dir := workspace(t)
	s := warm(t, b, dir)
	require.Equal(t, cgroupBaseDirs() != nil, s.inCgroup, "the init joins the workspace's cgroups where there are some")

	n := forked(t, mustRun(t, b, Command{Dir: dir, Script: forkLoop}))
	require.Less(t, n, 20, "the workspace's processes alone count")
	require.Greater(t, n, 15, "the init's threads are not the command's to lose")

	if s.inCgroup {
		hog := `python3 -c 'import time; x = bytearray(60 << 20); time.sleep(1)'`
		res := mustRun(t, b, Command{Dir: dir, Script: fmt.Sprintf("(%s) & (%s) & wait; echo done", hog, hog)})
		require.Contains(t, res.Output, "done")
		require.Contains(t, strings.ToLower(res.Output), "killed", "one of the hogs is killed: %s", res.Output)
		// and, for a session that takes its workspaces from goatbench, the
		// workspace's moving in.
		require.EqualValues(t, 3+btoi(s.sent), sessionOf(t, b, dir).seq.Load(), "the command that started the session and both since ran in it")

		// The init's forker thread is in them between commands, and only
		// it: one task, of a process that is not goatbench.
		cg := b.space(dir).cg
		for _, d := range cg.dirs {
			tasks, err := os.ReadFile(filepath.Join(d, "tasks"))
			require.NoError(t, err)
			procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			require.NoError(t, err)
			require.Len(t, strings.Fields(string(tasks)), 1, "%s: %s", d, tasks)
			require.Len(t, strings.Fields(string(procs)), 1, "%s: %s", d, procs)
			require.NotEqual(t, strconv.Itoa(os.Getpid()), strings.TrimSpace(string(procs)))
			require.NotEqual(t, strings.TrimSpace(string(procs)), strings.TrimSpace(string(tasks)), "a thread, not the init's leader")
		}
		require.NoError(t, b.Release(dir))
		if s.sent {
			require.NoError(t, b.Close()) // they stay with an idle session until then
		}
		for _, d := range cg.dirs {
			require.NoDirExists(t, d, "Release removes the cgroups, the init gone from them")
		}
	}
}

// The commands before sessionFrom have bwraps of their own (PID 1 is bwrap);
// command sessionFrom starts the session and runs in it, and so do the
// later ones (PID 1 is the session's init).
func TestTheCommandThatStartsTheSessionRunsInIt(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	for i := 1; i <= sessionFrom+1; i++ {
		res := mustRun(t, b, Command{Dir: dir, Script: `tr '\0' ' ' </proc/1/cmdline`})
		require.Equal(t, i >= sessionFrom, strings.Contains(res.Output, pid1.Arg), "command %d: PID 1 is %q", i, res.Output)
	}
}

// A workspace released while its session is still starting (the command
// that started it gave up waiting: its context ended) does not wait for the
// start, and nothing of the session or the cgroups is left once it is over
// and the sandbox closed (a session that can serve the next workspace is
// kept idle for it until then).
func TestReleaseDuringASessionStartLeavesNothing(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	for range sessionFrom - 1 {
		mustRun(t, b, Command{Dir: dir, Script: "true"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Run(ctx, Command{Dir: dir, Script: "touch ran"})
	require.ErrorIs(t, err, context.Canceled)
	require.NoFileExists(t, filepath.Join(dir, "ran"), "nothing starts for a command whose context ended")
	sp := b.space(dir)
	sp.mu.Lock()
	st, cg := sp.starting, sp.cg
	sp.mu.Unlock()
	require.NotNil(t, st, "the command that gave up left its session starting")
	require.NoError(t, b.Release(dir))
	<-st.done
	require.NoError(t, st.err)
	require.NoError(t, b.Close())
	select {
	case <-st.s.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the session of a released workspace is still running")
	}
	if cg != nil {
		require.Eventually(t, func() bool {
			for _, d := range cg.dirs {
				if _, err := os.Stat(d); err == nil {
					return false
				}
			}
			return true
		}, 5*time.Second, 10*time.Millisecond, "the workspace's cgroups are removed")
	}
}

// /tmp's pages count in the workspace's memory cgroup but in no process's
// resident memory, so a command that fills /tmp past the cap leaves the OOM
// killer tiny processes to choose from. It picks the command's, never the
// session's init or bwrap, which are not in the cgroup (only the init's
// forker thread is): the command is killed (137) and the session lives on.
func TestAnOOMInASessionKillsTheCommandNotTheSession(t *testing.T) {
	t.Parallel()
	if cgroupBaseDirs() == nil {
		t.Skip("needs root and cgroups")
	}
	b := needBwrap(t, Limits{Memory: 96 << 20})
	if b.noUserns {
		t.Skip("bwrap runs through setpriv here: each command has a bwrap of its own")
	}
	dir := workspace(t)
	t.Cleanup(func() { _ = b.Release(dir) })
	s := warm(t, b, dir)
	res := mustRun(t, b, Command{Dir: dir, Script: "head -c 150000000 /dev/zero > /tmp/fill; echo status=$?"})
	require.Equal(t, 137, res.ExitCode, "output %q", res.Output)
	require.True(t, s.alive(), "the session survives its command's OOM")
	require.Same(t, s, sessionOf(t, b, dir))
}

// An external agent's command binds files of a private directory, so it
// runs through setpriv, as the workspace's first command: the session its
// checks run in later still leaves them the processes the limit gives, and
// survives a command that fills the limit while signalling its PID 1.
func TestASessionAfterASetprivCommandKeepsItsRoom(t *testing.T) {
	t.Parallel()
	b := needBwrap(t, Limits{Processes: 20})
	if !b.root || b.setpriv == "" || b.noUserns || cgroupBaseDirs() == nil {
		t.Skip("root with user namespaces and cgroups only")
	}
	f := filepath.Join(t.TempDir(), "agent") // t.TempDir is 0700
	require.NoError(t, os.WriteFile(f, []byte("x"), 0o644))
	dir := workspace(t)
	t.Cleanup(func() { _ = b.Release(dir) })
	mustRun(t, b, Command{Dir: dir, Script: "echo agent", Binds: []Bind{{Path: f}}})
	s := warm(t, b, dir)
	n := forked(t, mustRun(t, b, Command{Dir: dir, Script: forkLoop}))
	require.Greater(t, n, 15, "the session's threads are not the command's to lose")
	mustRun(t, b, Command{Dir: dir, Timeout: time.Second,
		Script: `for i in $(seq 30); do (while :; do kill -USR1 1 2>/dev/null; done) & done; wait`})
	require.True(t, s.alive(), "the init died: %.120q", s.stderr.String())
}

// spaceState is what the workspace's space holds: a session, and a start on
// its way.
func spaceState(t *testing.T, b *Bwrap, dir string) (*session, *sessionStart, *attemptCgroup) {
	t.Helper()
	sp := spaceOf(t, b, dir)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.sess, sp.starting, sp.cg
}

// spaceOf is what b keeps for the workspace dir.
func spaceOf(t *testing.T, b *Bwrap, dir string) *space {
	t.Helper()
	ws, err := b.workspace(dir)
	require.NoError(t, err)
	return b.space(ws)
}

// Warm starts a workspace's session before its first command, and that
// command runs in it: it waits for the start on its way rather than run in
// a bwrap of its own beside it or start another.
func TestWarmStartsTheSessionTheFirstCommandRunsIn(t *testing.T) {
	t.Parallel()
	b, dir := needSession(t)
	b.Warm(dir)
	sess, st, _ := spaceState(t, b, dir)
	require.Nil(t, sess)
	require.NotNil(t, st, "Warm left a session on its way")
	b.Warm(dir) // a second Warm starts nothing more
	_, again, _ := spaceState(t, b, dir)
	require.Same(t, st, again)

	res := mustRun(t, b, Command{Dir: dir, Script: `tr '\0' ' ' </proc/1/cmdline`})
	require.Contains(t, res.Output, pid1.Arg, "the first command ran in the warmed session")
	require.NoError(t, st.err)
	require.Same(t, st.s, sessionOf(t, b, dir), "the warmed session is the workspace's")

	b.Warm(dir) // after a command, nothing
	s, none, _ := spaceState(t, b, dir)
	require.Nil(t, none)
	require.Same(t, st.s, s)

	b.Warm("/usr") // no workspace: nothing, and no error to anyone
	b.Warm(filepath.Join(dir, "missing"))
}

// A workspace warmed and released with no command run (an attempt whose
// model answered at once) leaves nothing once the sandbox is closed, and
// Close waits for that: a session still starting ends once started, and its
// cgroups go with it; one that has started ends at once or, run by root, is
// parked for the next workspace and ends with Close.
func TestAWarmedWorkspaceReleasedUnusedLeavesNothing(t *testing.T) {
	for _, started := range []bool{false, true} {
		t.Run(fmt.Sprintf("started=%v", started), func(t *testing.T) {
			t.Parallel()
			b, dir := needSession(t)
			ws, err := b.workspace(dir)
			require.NoError(t, err)
			parks := started && b.movable(b.how(b.space(ws), nil), ws)
			b.Warm(dir)
			_, st, cg := spaceState(t, b, dir)
			require.NotNil(t, st)
			if started {
				<-st.done
			}
			require.NoError(t, b.Release(dir))
			if parks {
				require.Equal(t, 1, b.idleSlots(), "the unused session waits for the next workspace")
			}
			require.NoError(t, b.Close())
			select {
			case <-st.done:
			default:
				t.Fatal("Close returned while a released workspace's session was still starting")
			}
			require.NoError(t, st.err)
			select {
			case <-st.s.exited:
			default:
				t.Fatal("a released workspace's session outlived Close")
			}
			if cg != nil {
				for _, d := range cg.dirs {
					require.NoDirExists(t, d, "the workspace's cgroups are removed")
				}
			}
		})
	}
}

// Warm moves the workspace into an idle slot's session in the background,
// and the first command runs there; a workspace released unused leaves the
// session idle again for the next.
func TestWarmMovesTheWorkspaceIntoAnIdleSlot(t *testing.T) {
	for _, used := range []bool{true, false} {
		t.Run(fmt.Sprintf("used=%v", used), func(t *testing.T) {
			t.Parallel()
			b := needSlots(t)
			pid := parkOne(t, b, workspace(t))
			dir := workspace(t)
			b.Warm(dir)
			_, st, _ := spaceState(t, b, dir)
			require.NotNil(t, st, "the workspace is on its way in")
			require.Zero(t, b.idleSlots(), "its slot is taken")
			if used {
				res := mustRun(t, b, Command{Dir: dir, Script: "pwd"})
				require.Equal(t, dir+"\n", res.Output)
				require.Equal(t, pid, sessionOf(t, b, dir).bwrap.Process.Pid, "the first command ran in the slot's session")
			} else {
				<-st.done
			}
			require.NoError(t, b.Release(dir))
			require.Equal(t, 1, b.idleSlots(), "the session is idle again for the next workspace")
			require.Same(t, st.s, b.idle[0].sess)
		})
	}
}
