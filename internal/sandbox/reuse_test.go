package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// needSlots is a bubblewrap sandbox whose released workspaces leave their
// sessions to the next (see slot), or a skip saying why there are none here.
func needSlots(t *testing.T) *Bwrap {
	t.Helper()
	b := needBwrap(t, Limits{TmpSize: 1 << 20})
	if !b.keeps() {
		t.Skip("this bwrap keeps no sessions for the next workspace (root through setpriv, or no --disable-userns)")
	}
	if !b.root && !strings.HasPrefix(filepath.Dir(workspace(t)), "/tmp/") {
		t.Skip("run by anyone but root, sessions serve workspaces in a directory of their own below /tmp: set TMPDIR to one")
	}
	return b
}

// idleSlots is how many slots are idle.
func (b *Bwrap) idleSlots() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.idle)
}

// parkOne runs a command in the workspace dir and releases it, which leaves
// its session the one idle; it returns the session's bwrap.
func parkOne(t *testing.T, b *Bwrap, dir string) int {
	t.Helper()
	mustRun(t, b, Command{Dir: dir, Script: "true"})
	pid := sessionOf(t, b, dir).bwrap.Process.Pid
	require.NoError(t, b.Release(dir))
	require.Equal(t, 1, b.idleSlots(), "the session is kept for the next workspace")
	return pid
}

// used runs a first command in a fresh workspace, leaves what an attempt
// could leave behind, and releases it; it returns the workspace and its
// session's bwrap.
func used(t *testing.T, b *Bwrap) (string, int) {
	t.Helper()
	dir := workspace(t)
	res := mustRun(t, b, Command{Dir: dir, Script: "echo secret > mine && echo left > /tmp/left && echo left > /dev/shm/left && (sleep 60 &) && cat /proc/1/cmdline"})
	require.Contains(t, res.Output, "goatbench-sandbox-session", "a session from the first command")
	pid := sessionOf(t, b, dir).bwrap.Process.Pid
	require.NoError(t, b.Release(dir))
	return dir, pid
}

// A released workspace's session serves the next workspace, which sees
// nothing of the one before: not its files, /tmp, /dev/shm or processes.
func TestTheNextWorkspaceTakesOverAnIdleSession(t *testing.T) {
	b := needSlots(t)
	before, pid := used(t, b)
	require.Len(t, b.idle, 1, "kept for the next workspace")
	require.True(t, processAlive(pid))
	require.Equal(t, "secret\n", readFile(t, filepath.Join(before, "mine")), "the workspace itself is left as it was")
	require.Empty(t, mountsOf(t, pid, before), "an idle session holds no workspace")

	dir := workspace(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "seeded"), []byte("by goatbench\n"), 0o644))
	t.Cleanup(func() { _ = b.Release(dir) })
	res := mustRun(t, b, Command{Dir: dir, Script: strings.Join([]string{
		"pwd", "cat seeded", "echo made > made",
		"ls " + before + " 2>&1 || true",
		"ls -A /tmp /dev/shm",
		"ps -e -o comm= | sort | tr '\\n' ' '; echo",
		"ls /proc/1/root/ 2>&1 | head -1",
	}, "; ")})
	require.Equal(t, pid, sessionOf(t, b, dir).bwrap.Process.Pid, "the same session")
	require.Empty(t, b.idle)
	require.Contains(t, res.Output, dir+"\nby goatbench\n")
	require.Contains(t, res.Output, "No such file or directory", "the workspace before is gone: %s", res.Output)
	require.NotContains(t, res.Output, "left")
	require.NotContains(t, res.Output, "mine")
	require.NotContains(t, res.Output, "sleep")
	require.Contains(t, res.Output, "Permission denied", "the init's root is not the command's to look into")
	require.Equal(t, "made\n", readFile(t, filepath.Join(dir, "made")), "the command wrote the workspace on the host")
	requireNosuid(t, b, dir)
	if b.root {
		var st syscall.Stat_t
		require.NoError(t, syscall.Stat(filepath.Join(dir, "made"), &st))
		require.EqualValues(t, b.space(dir).uid, st.Uid, "as the slot's uid, which the workspace was handed to")
	}

	// Released again: kept again, and Close ends it with its cgroups.
	cg := b.space(dir).cg
	require.NoError(t, b.Release(dir))
	require.Len(t, b.idle, 1)
	require.NoError(t, b.Close())
	select {
	case <-gone(pid):
	case <-time.After(5 * time.Second):
		t.Fatal("Close left the idle session running")
	}
	if cg != nil {
		for _, d := range cg.dirs {
			require.NoDirExists(t, d)
		}
	}
	later := workspace(t)
	t.Cleanup(func() { _ = b.Release(later) })
	mustRun(t, b, Command{Dir: later, Script: "true"})
	require.NotEqual(t, pid, sessionOf(t, b, later).bwrap.Process.Pid)
	require.NoError(t, b.Release(later))
	require.Empty(t, b.idle, "none is kept after Close")
}

// An idle session that died is not handed on: the next workspace starts
// its own. One left idle too long ends by itself.
func TestADeadOrOldIdleSessionIsNotHandedOn(t *testing.T) {
	b := needSlots(t)
	_, pid := used(t, b)
	require.NoError(t, syscall.Kill(-pid, syscall.SIGKILL))
	<-gone(pid)
	dir := workspace(t)
	t.Cleanup(func() { _ = b.Release(dir) })
	res := mustRun(t, b, Command{Dir: dir, Script: "pwd"})
	require.Equal(t, dir+"\n", res.Output)
	require.NotEqual(t, pid, sessionOf(t, b, dir).bwrap.Process.Pid)
	require.NoError(t, b.Release(dir))

	defer func(d time.Duration) { idleFor = d }(idleFor)
	idleFor = 50 * time.Millisecond
	_, pid = used(t, b)
	select {
	case <-gone(pid):
	case <-time.After(5 * time.Second):
		t.Fatal("an idle session outlived idleFor")
	}
	require.Eventually(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.idle) == 0 }, 5*time.Second, 10*time.Millisecond)
}

// A workspace that goatbench mounted (a tmpfs of its own, as the runner
// makes one run by root) moves into a session whole.
func TestAMountedWorkspaceMovesIn(t *testing.T) {
	b := needSlots(t)
	if !b.root {
		t.Skip("only root mounts workspaces (MountWorkspace)")
	}
	_, pid := used(t, b)
	dir := workspace(t)
	mounted, err := MountWorkspace(dir, 1<<20)
	require.NoError(t, err)
	require.True(t, mounted)
	t.Cleanup(func() { _ = UnmountWorkspace(dir) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "seeded"), []byte("on its tmpfs\n"), 0o644))
	t.Cleanup(func() { _ = b.Release(dir) })
	res := mustRun(t, b, Command{Dir: dir, Script: "cat seeded; head -c 2000000 /dev/zero > big; echo status=$?"})
	require.Equal(t, pid, sessionOf(t, b, dir).bwrap.Process.Pid)
	require.Contains(t, res.Output, "on its tmpfs")
	require.Contains(t, res.Output, "No space left on device", "its own size: %s", res.Output)
	requireNosuid(t, b, dir)
}

// mountsOf is the lines of every mount table in the session whose bwrap is
// pid (its init's threads have namespaces of their own) that name path.
func mountsOf(t *testing.T, pid int, path string) []string {
	t.Helper()
	var lines []string
	tables, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*/mountinfo", childOf(t, pid)))
	require.NoError(t, err)
	require.NotEmpty(t, tables)
	for _, p := range tables {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(raw)) {
			if strings.Contains(line, " "+path+" ") {
				lines = append(lines, line)
			}
		}
	}
	return lines
}

// requireNosuid checks that the workspace is mounted in its session as
// bwrap's --bind mounts one: nosuid and nodev, whatever the host's mount.
func requireNosuid(t *testing.T, b *Bwrap, dir string) {
	t.Helper()
	res := mustRun(t, b, Command{Dir: dir, Script: "grep -F ' " + dir + " ' /proc/self/mountinfo"})
	require.NotEmpty(t, res.Output)
	for line := range strings.Lines(res.Output) {
		opts := strings.Fields(line)[5]
		require.Contains(t, opts, "nosuid", line)
		require.Contains(t, opts, "nodev", line)
	}
}

// childOf is the one child of pid (bwrap's: the session's init).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/status")
	require.NoError(t, err)
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(raw), "\nPPid:\t"+strconv.Itoa(pid)+"\n") {
			child, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			require.NoError(t, err)
			return child
		}
	}
	t.Fatalf("no child of %d", pid)
	return 0
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

// handOn runs script a in a fresh workspace (attempt A), releases it, then
// script bs in the next workspace (attempt B), and returns B's output and
// whether B ran in A's session.
func handOn(t *testing.T, b *Bwrap, a, bs string) (string, bool) {
	t.Helper()
	da := workspace(t)
	mustRun(t, b, Command{Dir: da, Script: a})
	pid := sessionOf(t, b, da).bwrap.Process.Pid
	require.NoError(t, b.Release(da))
	db := workspace(t)
	t.Cleanup(func() { _ = b.Release(db) })
	res := mustRun(t, b, Command{Dir: db, Script: bs})
	return res.Output, sessionOf(t, b, db).bwrap.Process.Pid == pid
}

// inFlight parks sockets in flight: an SCM_RIGHTS cycle that no process
// holds, which outlives A's processes.
const inFlight = `python3 - <<'PY'
import socket, array, os
fd = os.memfd_create("pin")
for _ in range(PIN): os.write(fd, b"\1" * (1 << 20))
L = socket.socket(); L.bind(("127.0.0.1", 8080)); L.listen()
U = socket.socket(socket.AF_UNIX); U.bind("\0answer-is-42"); U.listen()
s1, s2 = socket.socketpair()
s1.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [L.fileno(), U.fileno(), fd, s2.fileno()]))])
s2.sendmsg([b"y"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s1.fileno()]))])
PY`

// Sockets and memory that A leaves in flight are not B's: a session with
// sockets left in flight takes no other workspace (see pid1's noSockets),
// and B has a network namespace and cgroups of its own anyway.
func TestWhatAnAttemptLeavesInFlightIsNotTheNextOnes(t *testing.T) {
	b := needBwrap(t, Limits{TmpSize: 1 << 20, Memory: 256 << 20})
	if !b.keeps() || !b.root && !strings.HasPrefix(filepath.Dir(workspace(t)), "/tmp/") {
		t.Skip("this bwrap keeps no sessions for the next workspace here (see needSlots)")
	}
	out, same := handOn(t, b, strings.Replace(inFlight, "PIN", "200", 1), `grep -o '@answer.*' /proc/net/unix
grep lo: /proc/net/dev
python3 -c '
import socket
socket.socket().bind(("127.0.0.1", 8080)); print("B binds 8080")
socket.create_connection(("127.0.0.1", 8080), timeout=2); print("a check finds port 8080 served")' 2>&1 | tail -1
python3 -c 'x = b"\1" * (120 << 20)'; echo status=$?`)
	_ = same // B's own session, unless the kernel freed the cycle after all
	require.NotContains(t, out, "answer-is-42", "A's message in a socket name")
	require.Contains(t, out, "B binds 8080", "B's own server can listen: %s", out)
	require.NotContains(t, out, "port 8080 served", "no check passes on A's listener")
	require.Regexp(t, `lo:\s+0\s`, out, "loopback's counters are B's alone")
	if b.root { // only root caps memory (cgroups)
		require.Contains(t, out, "status=0", "120 MiB under a 256 MiB cap: A's 200 MiB are not B's: %s", out)
	}
}

// A key that A leaves in a keyring the session keeps (its user's, or the
// persistent one), even one it made so that its owner cannot empty it, is
// not B's: the keyrings are emptied after every command, and a session whose
// keyrings cannot be emptied retires. That emptying stands in where no
// filter refuses keyrings to the commands (see keyless), as here.
func TestAKeyAnAttemptLeavesIsNotTheNextOnes(t *testing.T) {
	b := needSlots(t)
	b.keyrings = true // where no filter refuses them (see keyless)
	const lib = "import ctypes; libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long\n"
	const read = `python3 -c '` + lib + `
libc.syscall(250, 22, -1, -3); libc.syscall(250, 8, -4, -3)  # the persistent keyring and @u, into @s
for d in (b"p", b"u"):
    k = libc.syscall(250, 10, -3, b"user", d, 0); buf = ctypes.create_string_buffer(64)
    n = libc.syscall(250, 11, ctypes.c_long(k), buf, 64) if k > 0 else 0; print(buf.raw[:max(n, 0)])'`
	for name, lock := range map[string]string{
		"left":   "",
		"locked": "libc.syscall(250, 5, -4, 0x3b3b0000)  # KEYCTL_SETPERM @u: no write for anyone",
	} {
		t.Run(name, func(t *testing.T) {
			out, _ := handOn(t, b, `python3 -c '`+lib+`
p = libc.syscall(250, 22, -1, -3)  # KEYCTL_GET_PERSISTENT, linked into @s
libc.syscall(248, b"user", b"p", b"persistent-from-A", 17, ctypes.c_long(p))
libc.syscall(248, b"user", b"u", b"user-ring-from-A", 16, -4)
`+lock+`'`, read)
			require.NotContains(t, out, "from-A")
		})
	}
}

// The sandbox every caller shares (Default), which no one closes, keeps no
// idle session: one would leave its cgroups behind when goatbench exits.
func TestTheDefaultSandboxLeavesNothingAtExit(t *testing.T) {
	if os.Getenv("GOATBENCH_TEST_CHILD") != "" {
		dir, err := os.MkdirTemp("", "goatbench-test-")
		require.NoError(t, err)
		defer os.RemoveAll(dir)
		sb := Default()
		_, err = sb.Run(t.Context(), Command{Dir: dir, Script: "true"})
		require.NoError(t, err)
		if r, ok := sb.(Releaser); ok {
			require.NoError(t, r.Release(dir))
		}
		return // as goatbench validate returns
	}
	needSlots(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestTheDefaultSandboxLeavesNothingAtExit$")
	cmd.Env = append(os.Environ(), "GOATBENCH_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var left []string
	for _, base := range cgroupBaseDirs() {
		found, _ := filepath.Glob(filepath.Join(base, fmt.Sprintf("goatbench-%d-*", cmd.Process.Pid)))
		left = append(left, found...)
	}
	for _, d := range left {
		_ = os.Remove(d)
	}
	require.Empty(t, left, "cgroups of a goatbench that exited")
}

// pinPy defines pin(fds), which leaves fds in flight: in an SCM_RIGHTS cycle
// no process holds, with a listening unix socket in it, which the kernel's
// collector never frees.
const pinPy = `
import socket, array, os, ctypes
libc = ctypes.CDLL(None, use_errno=True)
def pin(fds):
    U = socket.socket(socket.AF_UNIX); U.bind("\0pin%d" % os.getpid()); U.listen()
    s1, s2 = socket.socketpair()
    for i in range(0, len(fds), 200):
        s1.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds[i:i+200]))])
    s1.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [U.fileno(), s2.fileno()]))])
    s2.sendmsg([b"y"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s1.fileno()]))])
`

func pinned(body string) string { return "python3 - <<'PY'\n" + pinPy + body + "\nPY\n" }

// What A keeps in flight (a pty with a line in it, a key its file's
// credentials hold, every inotify instance its uid may have) reaches no
// later attempt: B gets a session, and a uid, of its own. Nor can A hide
// its sockets from that check in a network namespace of its own. Run by
// anyone but root, attempts share a uid, and keys are not namespaced: there
// no command can make a key at all (see keyless).
func TestWhatAnAttemptPinsIsNotTheNextOnes(t *testing.T) {
	b := needSlots(t)
	for name, tc := range map[string]struct{ a, b, leak string }{
		"pty": {pinned(`
m, s = os.openpty(); os.write(m, b"note-from-A\n"); os.close(s); pin([m])`),
			`for p in /dev/pts/[0-9]*; do timeout 1 head -1 $p; done 2>&1`, "note-from-A"},
		"key": {pinned(`
k = libc.syscall(248, b"user", b"note", b"key-from-A", 10, -3)  # add_key to @s
libc.syscall(250, 5, k, 0x3f3f0000)  # KEYCTL_SETPERM: possessor and user all
pin([os.open("/dev/null", os.O_RDONLY)])`), pinned(`
for line in open("/proc/keys"):
    f = line.split()
    if f[7] == "user":
        k = int(f[0], 16); buf = ctypes.create_string_buffer(64)
        n = libc.syscall(250, 11, ctypes.c_long(k), buf, 64)
        print(buf.raw[:max(n, 0)])`), "key-from-A"},
		"inotify": {pinned(`
fds = []
while True:
    fd = libc.inotify_init()
    if fd < 0: break
    fds.append(fd)
pin(fds)`), pinned(`
fd = libc.inotify_init(); print("inotify", "none left" if fd < 0 else "ok")`), "none left"},
		"nested": {`unshare -Urn sh -c 'python3 - <<PY
` + pinPy + `
pin([os.open("/dev/null", os.O_RDONLY)])
PY' 2>&1; echo unshare=$?`, "true", "unshare=0"},
	} {
		t.Run(name, func(t *testing.T) {
			da := workspace(t)
			res := mustRun(t, b, Command{Dir: da, Script: tc.a})
			if name == "nested" {
				require.NotContains(t, res.Output, tc.leak, "no user namespace of a command's own: %s", res.Output)
				return
			}
			require.NoError(t, b.Release(da))
			db := workspace(t)
			t.Cleanup(func() { _ = b.Release(db) })
			// B has a session of its own, unless the kernel's collector
			// did free the cycle after all: then nothing was left.
			out := mustRun(t, b, Command{Dir: db, Script: tc.b}).Output
			require.NotContains(t, out, tc.leak)
		})
	}
}

// Sessions are kept only where bwrap can disable user namespaces in them
// (bubblewrap 0.8 on); an older one keeps none, rather than fail to start
// every session.
func TestSessionsAreKeptOnlyWithABwrapThatCanStartThem(t *testing.T) {
	b := needSlots(t)
	require.True(t, b.keeps(), "this machine's bwrap")
	old := filepath.Join(t.TempDir(), "bwrap")
	require.NoError(t, os.WriteFile(old, []byte("#!/bin/sh\necho 'usage: bwrap [OPTIONS...] [--] COMMAND [ARGS...]'\necho '    --unshare-user  Create new user namespace'\n"), 0o755))
	b.bin = old
	require.False(t, b.keeps())
}

// However far A drove the PID counter, B's first command gets the same PID
// as in a new session (where pid_max is the PID namespace's own, Linux
// 6.14 on).
func TestThePIDCounterTellsTheNextAttemptNothing(t *testing.T) {
	b := needSlots(t)
	var firsts []string
	for _, n := range []int{1500, 700} {
		out, same := handOn(t, b, fmt.Sprintf(`python3 -c '
import os
while True:
    p = os.fork()
    if p == 0: os._exit(0)
    os.waitpid(p, 0)
    if p >= %d: break'; echo $$`, n), `echo $$`)
		require.True(t, same, "B runs in A's session")
		firsts = append(firsts, strings.TrimSpace(out))
	}
	require.Equal(t, firsts[0], firsts[1], "B's first PID is the same whatever A did")
	v, err := strconv.Atoi(firsts[0])
	require.NoError(t, err)
	require.Less(t, v, 700, "not where A left the counter")
}

// A command whose workspace moves into an idle session that does not answer
// (its init stopped) waits no longer than its own context, and the session
// is ended.
func TestAStuckIdleSessionHoldsACommandNoLongerThanItsContext(t *testing.T) {
	b := needSlots(t)
	_, pid := used(t, b)
	init := childOf(t, pid)
	require.NoError(t, syscall.Kill(init, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(init, syscall.SIGKILL) })
	dir := workspace(t)
	t.Cleanup(func() { _ = b.Release(dir) })
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := b.Run(ctx, Command{Dir: dir, Script: "true"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 4*time.Second, "the command's own deadline, not setupGrace")
	select {
	case <-gone(pid):
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck session was left running")
	}
	res := mustRun(t, b, Command{Dir: dir, Script: "pwd"})
	require.Equal(t, dir+"\n", res.Output, "the next command has a session of its own")
}

// Run by anyone but root, a session's init sees the whole directory its
// workspaces are made in, other attempts' workspaces too; a command sees
// its own workspace there and nothing else, in its first workspace and in
// the next one that takes its session over.
func TestACommandSeesNoOtherWorkspaceOfTheDirectory(t *testing.T) {
	b := needSlots(t)
	other := workspace(t)
	require.NoError(t, os.WriteFile(filepath.Join(other, "theirs"), []byte("another attempt's\n"), 0o644))
	look := "ls -A .. ; cat ../" + filepath.Base(other) + "/theirs 2>&1; cat " + other + "/theirs 2>&1"
	first := workspace(t)
	res := mustRun(t, b, Command{Dir: first, Script: look})
	require.Equal(t, filepath.Base(first), strings.SplitN(res.Output, "\n", 2)[0], "%s", res.Output)
	require.NotContains(t, res.Output, "another attempt's")
	pid := sessionOf(t, b, first).bwrap.Process.Pid
	require.NoError(t, b.Release(first))
	next := workspace(t)
	t.Cleanup(func() { _ = b.Release(next) })
	res = mustRun(t, b, Command{Dir: next, Script: look})
	require.Equal(t, pid, sessionOf(t, b, next).bwrap.Process.Pid, "the session was handed on")
	require.Equal(t, filepath.Base(next), strings.SplitN(res.Output, "\n", 2)[0], "%s", res.Output)
	require.NotContains(t, res.Output, "another attempt's")
}

// Run by anyone but root, a session serves only workspaces made in the
// directory its bwrap bound: one made elsewhere gets a session of its own.
func TestASessionServesOnlyItsOwnDirectory(t *testing.T) {
	b := needSlots(t)
	if b.root {
		t.Skip("run by root, a session serves any workspace under /tmp")
	}
	in := func(parent string) string {
		d, err := os.MkdirTemp(parent, "ws-")
		require.NoError(t, err)
		return d
	}
	p1, p2 := workspace(t), workspace(t)
	pid := parkOne(t, b, in(p1))
	elsewhere := in(p2)
	t.Cleanup(func() { _ = b.Release(elsewhere) })
	mustRun(t, b, Command{Dir: elsewhere, Script: "true"})
	require.NotEqual(t, pid, sessionOf(t, b, elsewhere).bwrap.Process.Pid, "a session of its own")
	require.Equal(t, 1, b.idleSlots(), "the idle one waits for its own directory's")
	same := in(p1)
	t.Cleanup(func() { _ = b.Release(same) })
	mustRun(t, b, Command{Dir: same, Script: "true"})
	require.Equal(t, pid, sessionOf(t, b, same).bwrap.Process.Pid, "handed on in its own directory")
}

// mountIDs prints the unique IDs of the command's / (bwrap's, mounted with
// the session, or the workspace's own copy of it) and of its /tmp (its
// layer, mounted for it): "<root> <tmp>".
const mountIDs = `python3 - 2>&1 <<'PY'
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def uid(p):
    buf = ctypes.create_string_buffer(256)
    assert libc.statx(-100, p.encode(), 0, 0x4000, buf) == 0, ctypes.get_errno()  # STATX_MNT_ID_UNIQUE
    assert int.from_bytes(buf.raw[0:4], "little") & 0x4000, "no unique mount IDs here"
    return int.from_bytes(buf.raw[0x90:0x98], "little")
print(uid("/"), uid("/tmp"))
PY`

// Each command's layers are new mounts, and unique mount IDs only grow: B
// could count the commands A ran from how far its /tmp's ID is from that of
// its /, had the workspace not a copy of every mount of its own (the gap
// grew by about 4 a command). So B's / must be newer than every mount A's
// commands had, and the gap must not depend on how many A ran. The IDs are
// the machine's: a mount made elsewhere while B's copies are made (another
// package's tests mount workspaces) can only widen a gap, never narrow it,
// so each gap is measured up to eight times and its smallest is kept, until
// the two agree.
func TestTheMountsTellTheNextAttemptNothing(t *testing.T) {
	b := needSlots(t)
	least := map[int]int64{}
	for range 8 {
		for n, g := range mountGaps(t, b) {
			if l, ok := least[n]; !ok || g < l {
				least[n] = g
			}
		}
		if least[1] == least[40] {
			break
		}
	}
	require.Equal(t, least[1], least[40], "the gap after A's 1 command against that after its 40")
}

// mountGaps is B's gap between its / and its /tmp after an A of 1 command
// and after one of 40, each checked to have a / newer than A's last /tmp.
func mountGaps(t *testing.T, b *Bwrap) map[int]int64 {
	t.Helper()
	ids := func(dir string) (root, tmp int64) {
		res := mustRun(t, b, Command{Dir: dir, Script: mountIDs})
		if strings.Contains(res.Output, "no unique mount IDs") || strings.Contains(res.Output, "AssertionError") {
			t.Skipf("this kernel gives no unique mount IDs: %s", res.Output)
		}
		require.Regexp(t, `^\d+ \d+\n$`, res.Output)
		_, err := fmt.Sscanf(res.Output, "%d %d\n", &root, &tmp)
		require.NoError(t, err, "%q", res.Output)
		return root, tmp
	}
	gaps := map[int]int64{}
	for _, n := range []int{1, 40} {
		a := workspace(t)
		for range n - 1 {
			mustRun(t, b, Command{Dir: a, Script: "true"})
		}
		_, aTmp := ids(a)
		pid := sessionOf(t, b, a).bwrap.Process.Pid
		require.NoError(t, b.Release(a))
		db := workspace(t)
		t.Cleanup(func() { _ = b.Release(db) })
		root, tmp := ids(db)
		require.Equal(t, pid, sessionOf(t, b, db).bwrap.Process.Pid, "handed on")
		require.Greater(t, root, aTmp, "B's / is a copy made after A's last command, not the session's own")
		gaps[n] = tmp - root
		require.NoError(t, b.Release(db))
	}
	return gaps
}

// A workspace warmed and released at once, while it still moves into an
// idle session, leaves that session idle again once it has moved in.
func TestAWorkspaceReleasedWhileMovingInLeavesTheSessionIdle(t *testing.T) {
	b := needSlots(t)
	pid := parkOne(t, b, workspace(t))
	dir := workspace(t)
	b.Warm(dir)
	_, st, _ := spaceState(t, b, dir)
	require.NotNil(t, st)
	require.NoError(t, b.Release(dir))
	<-st.done
	require.Eventually(t, func() bool { return b.idleSlots() == 1 }, 5*time.Second, 5*time.Millisecond, "parked again")
	next := workspace(t)
	t.Cleanup(func() { _ = b.Release(next) })
	mustRun(t, b, Command{Dir: next, Script: "true"})
	require.Equal(t, pid, sessionOf(t, b, next).bwrap.Process.Pid)
}
