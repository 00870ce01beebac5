package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

// What a hostile command tries, against the bubblewrap sandbox. Plain mode
// makes no such promises, so these tests are bwrap-only.

func TestCannotReadSecretsOfTheMachine(t *testing.T) {
	eachBwrap(t, Limits{}, testCannotReadSecrets)
}

func testCannotReadSecrets(t *testing.T, sb Sandbox) {
	realHome, err := os.UserHomeDir()
	require.NoError(t, err)
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, ".modal.toml"), []byte("token_secret = \"as-stolen-from-home\"\n"), 0o600))
	t.Setenv("HOME", home)
	t.Setenv("GOATBENCH_PLANTED", "value-stolen-from-environ")

	for _, tc := range []struct {
		name, script string
		fails        bool // the command itself fails, not only finds nothing
	}{
		{"modal.toml", "cat " + filepath.Join(home, ".modal.toml"), true},
		{"home by tilde", "cat ~/.modal.toml", true},
		{"invoking user's home", "ls -A " + realHome, true},
		{"goatbench's environ", fmt.Sprintf("cat /proc/%d/environ", os.Getpid()), true},
		// the sandbox's own processes have only the sandbox's environment
		{"every environ", "cat /proc/[0-9]*/environ", false},
		{"every cmdline", "cat /proc/[0-9]*/cmdline", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRun(t, sb, Command{Script: tc.script})
			if tc.fails {
				require.NotEqual(t, 0, res.ExitCode, res.Output)
			}
			require.NotContains(t, res.Output, "stolen")
		})
	}
	res := mustRun(t, sb, Command{Script: "echo /proc/[0-9]*"})
	require.Regexp(t, `^/proc/1 /proc/[0-9]+\n$`, res.Output, "only the command's PID 1 and the command itself are visible")
}

func TestCannotWriteOutsideTheWorkspace(t *testing.T) {
	eachBwrap(t, Limits{}, testCannotWriteOutside)
}

func testCannotWriteOutside(t *testing.T, sb Sandbox) {
	parent := t.TempDir()
	victim := filepath.Join(parent, "victim.txt")
	for _, tc := range []struct{ name, script string }{
		{"dot-dot", "echo pwned > ../victim.txt"},
		{"absolute path", "echo pwned > " + victim},
		{"symlink made inside", "ln -s " + victim + " link && echo pwned > link"},
		{"symlink to the parent", "ln -s .. up && echo pwned > up/victim.txt"},
		{"new file beside", "echo pwned > ../new.txt"},
		{"system", "echo pwned > /usr/local/bin/python3"},
		{"etc", "echo pwned >> /etc/hosts"},
		{"root", "echo pwned > /pwned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(victim, []byte("original\n"), 0o644))
			before, err := os.ReadDir(parent)
			require.NoError(t, err)
			ws, err := os.MkdirTemp(parent, "ws-")
			require.NoError(t, err)
			mustRun(t, sb, Command{Dir: ws, Script: tc.script})

			b, err := os.ReadFile(victim)
			require.NoError(t, err)
			require.Equal(t, "original\n", string(b))
			after, err := os.ReadDir(parent)
			require.NoError(t, err)
			require.Len(t, after, len(before)+1, "nothing but the workspace appeared beside it")
			require.NoFileExists(t, "/pwned")
		})
	}
}

func TestTmpIsPrivateToEachCommand(t *testing.T) {
	eachBwrap(t, Limits{TmpSize: 1 << 20}, testTmpIsPrivate)
}

func testTmpIsPrivate(t *testing.T, sb Sandbox) {
	dir := workspace(t)
	flag := "/tmp/" + marker("flag")
	res := mustRun(t, sb, Command{Dir: dir, Script: "echo planted > " + flag + " && head -c 2000000 /dev/zero > /tmp/big"})
	require.Contains(t, res.Output, "No space left on device", "the private /tmp has a size")
	res = mustRun(t, sb, Command{Dir: dir, Script: "cat " + flag})
	require.NotEqual(t, 0, res.ExitCode, "a check cannot be fooled through /tmp")
	require.NoFileExists(t, flag)
}

func TestNoNetwork(t *testing.T) {
	eachBwrap(t, Limits{}, testNoNetwork)
}

func testNoNetwork(t *testing.T, sb Sandbox) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, script := range []string{
		fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && echo connected", port),
		fmt.Sprintf(`python3 -c 'import socket; socket.create_connection(("127.0.0.1", %d), timeout=2); print("connected")'`, port),
		"getent hosts example.com && echo resolved",
	} {
		res := mustRun(t, sb, Command{Script: script})
		require.NotEqual(t, 0, res.ExitCode, res.Output)
		require.NotContains(t, res.Output, "connected")
		require.NotContains(t, res.Output, "resolved")
	}
	// Any connection that reached the listener would wait in its backlog.
	require.NoError(t, ln.(*net.TCPListener).SetDeadline(time.Now().Add(50*time.Millisecond)))
	c, err := ln.Accept()
	if c != nil {
		c.Close()
	}
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the listener saw a connection: %v", err)
}

// Run by root, the commands of one workspace share a network namespace
// goatbench made for it, not one bwrap makes per command: it is not the
// host's, not another workspace's, it has a loopback that is up and nothing
// else, a command leaves no socket state for the next, and it goes with the
// workspace.
func TestEachWorkspaceHasANetworkOfItsOwn(t *testing.T) {
	eachBwrap(t, Limits{}, func(t *testing.T, sb Sandbox) {
		if os.Geteuid() != 0 {
			t.Skip("bwrap makes the namespace of each command when not run by root")
		}
		if n, err := makeNetns(); err != nil {
			t.Skipf("this machine falls back to a namespace per command: %v", err)
		} else {
			n.close()
		}
		host, err := os.Readlink("/proc/self/ns/net")
		require.NoError(t, err)
		ns := func(dir string) string {
			res := mustRun(t, sb, Command{Dir: dir, Script: "readlink /proc/self/ns/net"})
			require.Equal(t, 0, res.ExitCode, res.Output)
			return strings.TrimSpace(res.Output)
		}
		a, b := workspace(t), workspace(t)
		first := ns(a)
		require.NotEqual(t, host, first)
		require.Equal(t, first, ns(a), "one namespace for the workspace's commands")
		require.NotEqual(t, first, ns(b), "none shared between workspaces")

		testLoopbackKeepsNoTimeWait(t, sb, a)

		bw := sb.(*Bwrap)
		_, _ = settled(t, bw, a) // a session on its way has entered the namespace
		sp := bw.space(a)
		if s := sp.sess; s != nil && s.sent {
			// The session's init made it for the workspace (see moveIn).
			require.Nil(t, sp.net)
			return
		}
		require.NotNil(t, sp.net)
		f := sp.net.f
		require.NoError(t, bw.Release(a))
		_, err = f.Stat()
		require.ErrorIs(t, err, os.ErrClosed, "released with the workspace")
	})
}

// Where goatbench cannot make a workspace's namespace, bwrap makes one for
// each command, and the network stays out of reach.
// testLoopbackKeepsNoTimeWait checks that a workspace's commands have a
// loopback that is up and nothing else, and that a port one command served
// on is free for the next.
func testLoopbackKeepsNoTimeWait(t *testing.T, sb Sandbox, a string) {
	t.Helper()
	res := mustRun(t, sb, Command{Dir: a, Script: `python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname(), timeout=2); print("loopback up")'
tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "`})
	require.Equal(t, "loopback up\nlo\n", res.Output)

	// A connection the server closed first would leave a TIME_WAIT
	// entry in a namespace that lives on, and a plain bind of its port
	// by the next command (a check's server, say) would fail.
	res = mustRun(t, sb, Command{Dir: a, Script: `python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 8123)); s.listen()
c = socket.create_connection(("127.0.0.1", 8123)); a, _ = s.accept()
a.close(); c.recv(1); c.close(); s.close(); print("served")'`})
	require.Equal(t, "served\n", res.Output)
	res = mustRun(t, sb, Command{Dir: a, Script: `python3 -c '
import socket
socket.socket().bind(("127.0.0.1", 8123)); print("bound")'`})
	require.Equal(t, "bound\n", res.Output)
}

func TestNoNetworkWhenTheWorkspaceHasNoNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root makes a workspace's namespace")
	}
	defer func(f func() (*netns, error)) { makeNetns = f }(makeNetns)
	makeNetns = func() (*netns, error) { return nil, errors.New("no namespaces here") }
	eachBwrap(t, Limits{}, func(t *testing.T, sb Sandbox) {
		testNoNetwork(t, sb)
		host, err := os.Readlink("/proc/self/ns/net")
		require.NoError(t, err)
		dir := workspace(t)
		res := mustRun(t, sb, Command{Dir: dir, Script: "readlink /proc/self/ns/net"})
		require.NotEqual(t, host+"\n", res.Output)
		sp := sb.(*Bwrap).space(dir)
		require.Nil(t, sp.net)
		if s, _ := settled(t, sb.(*Bwrap), dir); s == nil || !s.sent { // a sent session's init makes each workspace's (see moveIn)
			require.ErrorContains(t, sp.netErr, "no namespaces here")
		}
		testLoopbackKeepsNoTimeWait(t, sb, dir)
		if b := sb.(*Bwrap); !b.noUserns && !b.ownBwraps {
			s, err := settled(t, b, dir)
			require.NotNil(t, s, "a session makes the namespace itself: %v", err)
		}
	})
}

func TestDaemonDoesNotOutliveItsCommand(t *testing.T) {
	eachBwrap(t, Limits{}, testDaemon)
}

func testDaemon(t *testing.T, sb Sandbox) {
	for _, script := range []string{
		"setsid bash -c 'exec -a %s sleep 300' > /dev/null 2>&1 < /dev/null & echo started",
		"nohup bash -c '(exec -a %s sleep 300) &' > /dev/null 2>&1; echo started",
		"(exec -a %s sleep 300) & disown; echo started",
		`python3 -c 'import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("bash", ["bash", "-c", "exec -a %s sleep 300"])
    os._exit(0)
'; echo started`,
	} {
		m := marker("daemon")
		res := mustRun(t, sb, Command{Script: fmt.Sprintf(script, m)})
		require.Contains(t, res.Output, "started")
		requireGone(t, m)
	}
}

func TestWorkspaceMustBeSomewhereOfItsOwn(t *testing.T) {
	sb := needBwrap(t, Limits{})
	for _, dir := range []string{"/", "/tmp", "/usr/lib", "/etc", "/proc/self", "/dev/shm"} {
		_, err := sb.Run(context.Background(), Command{Dir: dir, Script: "true"})
		require.ErrorContains(t, err, "a workspace cannot be", dir)
	}
}

// As root, a workspace every user can reach is sandboxed by bwrap running as
// the workspace's uid in a user namespace; one behind a private directory by
// bwrap running as root and setpriv. Both end with the command as that uid.
func TestRootPicksTheWayByWhereTheWorkspaceIs(t *testing.T) {
	b := needBwrap(t, Limits{})
	if !b.root || b.noUserns {
		t.Skip("the user namespace way is only for root, where the kernel allows it")
	}
	private := filepath.Join(t.TempDir(), "ws") // t.TempDir is 0700
	require.NoError(t, os.Mkdir(private, 0o700))
	for _, tc := range []struct {
		dir    string
		uidMap string // what the command sees in /proc/self/uid_map
	}{
		{workspace(t), `^\s*(\d+)\s+(\d+)\s+1\n`},
		{private, `^\s*0\s+0\s+4294967295\n`},
	} {
		res := mustRun(t, b, Command{Dir: tc.dir, Script: "cat /proc/self/uid_map; id -u; id -un; touch f; stat -c %u f"})
		require.Regexp(t, tc.uidMap, res.Output)
		sp := b.space(mustReal(t, tc.dir))
		u := strconv.FormatUint(uint64(sp.uid), 10)
		require.Contains(t, res.Output, "\n"+u+"\ngoatbench\n"+u+"\n")
	}
}

func mustReal(t *testing.T, dir string) string {
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	return real
}

// Plain mode run by root: each workspace's commands run as a uid of their
// own, so goatbench's environment, root's files and every run folder are out
// of reach, and no daemon outlives its command.
func TestPlainAsRootRunsAsAUidOfItsOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	t.Setenv("GOATBENCH_PLANTED", "value-stolen-from-environ")
	runs := workspace(t)
	require.NoError(t, os.Chmod(runs, 0o755))
	stream := filepath.Join(runs, "earlier-run", "results.jsonl")
	require.NoError(t, os.MkdirAll(filepath.Dir(stream), 0o755))
	require.NoError(t, os.WriteFile(stream, []byte("{\"status\":\"fail\"}\n"), 0o644))
	sb := Plain{}
	for name, dir := range map[string]string{"searchable": workspace(t), "behind a private directory": t.TempDir()} {
		t.Run(name, func(t *testing.T) {
			res := mustRun(t, sb, Command{Dir: dir, Script: "id -u; touch mine && echo wrote"})
			require.NotEqual(t, "0", strings.Fields(res.Output)[0], res.Output)
			require.Contains(t, res.Output, "wrote", "the workspace is the command's")
			for _, script := range []string{
				fmt.Sprintf("cat /proc/%d/environ", os.Getpid()),
				"echo '{\"status\":\"pass\"}' >> " + stream,
				"cat /root/.bashrc /etc/shadow",
			} {
				res := mustRun(t, sb, Command{Dir: dir, Script: script})
				require.NotEqual(t, 0, res.ExitCode, "%s: %s", script, res.Output)
				require.NotContains(t, res.Output, "stolen")
			}
			b, err := os.ReadFile(stream)
			require.NoError(t, err)
			require.Equal(t, "{\"status\":\"fail\"}\n", string(b))
			testDaemon(t, sb)
			require.NoError(t, sb.Release(dir))
		})
	}
}

// bwrap killed during its setup handshake (goatbench SIGKILLed, and
// Pdeathsig taking bwrap along) must not leave its half-built sandbox behind.
// --userns-block-fd holds the handshake open for as long as the test wants:
// bwrap's parent waits on it before it lets the child go (bubblewrap.c), the
// window in which a kill used to leave the child blocked for good.
func TestBwrapKilledMidSetupLeavesNothing(t *testing.T) {
	b := needBwrap(t, Limits{})
	if !b.root {
		t.Skip("the PID namespace around bwrap is made when goatbench runs as root")
	}
	block, hold, err := os.Pipe()
	require.NoError(t, err)
	defer hold.Close()
	info, infoW, err := os.Pipe()
	require.NoError(t, err)
	defer info.Close()
	m := marker("handshake")
	cmd := exec.Command(b.bin, "--die-with-parent", "--unshare-user", "--unshare-pid", "--userns-block-fd", "3", "--info-fd", "4",
		"--ro-bind", "/", "/", "--", "bash", "-c", "exec -a "+m+" sleep 300")
	cmd.ExtraFiles = []*os.File{block, infoW}
	cmd.SysProcAttr = b.procAttr()
	require.NoError(t, cmd.Start())
	block.Close()
	infoW.Close()
	// bwrap's parent reports the child's pid on the info fd, then waits on the block fd.
	var child int
	dec := json.NewDecoder(info)
	var got struct {
		ChildPID int `json:"child-pid"`
	}
	require.NoError(t, dec.Decode(&got))
	child = got.ChildPID
	require.Positive(t, child)
	host := hostPIDs(t, cmd.Process.Pid)
	require.NotEmpty(t, host, "bwrap's child is running")

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range host {
		for processAlive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("bwrap's child %d outlived bwrap", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// hostPIDs lists the children of pid, as the host sees them.
func hostPIDs(t *testing.T, parent int) []int {
	t.Helper()
	var out []int
	deadline := time.Now().Add(5 * time.Second)
	for len(out) == 0 && time.Now().Before(deadline) {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range stats {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			s := string(b)
			i := strings.LastIndexByte(s, ')')
			f := strings.Fields(s[i+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(parent) {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				out = append(out, pid)
			}
		}
		if len(out) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return out
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
