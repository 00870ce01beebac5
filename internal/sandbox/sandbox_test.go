package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	bwrapOnce sync.Once
	bwrapSB   *Bwrap
	bwrapErr  error
)

// needBwrap returns a bubblewrap sandbox with l, set up as NewBwrap would on
// this machine, or skips the test with one line saying why there is none.
func needBwrap(t testing.TB, l Limits) *Bwrap {
	t.Helper()
	bwrapOnce.Do(func() { bwrapSB, bwrapErr = NewBwrap(Limits{}) })
	if bwrapErr != nil {
		t.Skipf("bwrap-only: %v", bwrapErr)
	}
	b, err := newBwrap(l)
	require.NoError(t, err)
	b.noUserns = bwrapSB.noUserns
	b.keep = keepIdle // as Open makes it
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// needSetpriv returns a bubblewrap sandbox that runs bwrap as root and drops
// each command to its uid with setpriv, the way taken for a workspace other
// users cannot reach.
func needSetpriv(t testing.TB, l Limits) *Bwrap {
	t.Helper()
	b := needBwrap(t, l)
	if !b.root || b.setpriv == "" {
		t.Skip("bwrap through setpriv: only for root with setpriv installed")
	}
	b.noUserns = true
	return b
}

// eachBwrap runs f against each way bubblewrap sandboxes a command here.
func eachBwrap(t *testing.T, l Limits, f func(t *testing.T, sb Sandbox)) {
	t.Run("bwrap", func(t *testing.T) { f(t, needBwrap(t, l)) })
	t.Run("bwrap-own", func(t *testing.T) {
		// Every command a bwrap of its own, as when a command binds host
		// paths or the workspace's session could not start.
		b := needBwrap(t, l)
		b.ownBwraps = true
		f(t, b)
	})
	t.Run("bwrap-setpriv", func(t *testing.T) { f(t, needSetpriv(t, l)) })
}

// eachMode runs f against every sandbox this machine has, each with l.
func eachMode(t *testing.T, l Limits, f func(t *testing.T, sb Sandbox)) {
	t.Run("plain", func(t *testing.T) { f(t, Plain{Limits: l}) })
	eachBwrap(t, l, f)
}

// workspace is a fresh directory where the runner puts workspaces: in the
// system temp dir, which every user can pass through (t.TempDir is not).
func workspace(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "goatbench-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func marker(prefix string) string { return fmt.Sprintf("gb-%s-%d", prefix, time.Now().UnixNano()) }

// alive reports whether a process whose command line contains marker still
// runs (zombies waiting to be reaped count as gone).
func alive(t testing.TB, marker string) bool {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), marker) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err == nil && !strings.Contains(string(stat), ") Z ") {
			return true
		}
	}
	return false
}

func requireGone(t testing.TB, marker string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(t, marker) {
		require.True(t, time.Now().Before(deadline), "process %q survived its command", marker)
		time.Sleep(10 * time.Millisecond)
	}
}

func mustRun(t testing.TB, sb Sandbox, c Command) Result {
	t.Helper()
	if c.Dir == "" {
		c.Dir = workspace(t)
	}
	if r, ok := sb.(Releaser); ok {
		dir := c.Dir
		t.Cleanup(func() { _ = r.Release(dir) }) // its uid's processes and cgroup
	}
	res, err := sb.Run(context.Background(), c)
	require.NoError(t, err, res.Output)
	return res
}

func TestSecretsDoNotReachCommands(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-planted-secret")
	t.Setenv("MODAL_TOKEN_SECRET", "as-planted-secret")
	t.Setenv("PATH", "/nonexistent/pyenv/shims:"+os.Getenv("PATH"))
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		dir := workspace(t)
		res := mustRun(t, sb, Command{Dir: dir, Script: "env; cat /proc/self/environ; echo; echo HOME=$HOME; command -v python3"})
		require.NotContains(t, res.Output, "planted-secret")
		require.NotContains(t, res.Output, "OPENAI_API_KEY")
		require.NotContains(t, res.Output, "pyenv")
		require.NotContains(t, res.Output, "BASH_ENV", "the limits file leaves no trace")
		real, err := filepath.EvalSymlinks(dir)
		require.NoError(t, err)
		require.Contains(t, res.Output, "HOME="+real)
		require.Regexp(t, `\n/usr/(local/)?bin/python3\n`, res.Output, "the system's python, whatever goatbench's PATH")
	})
}

func TestTimeoutKillsTheWholeGroup(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		m := marker("sleeper")
		script := fmt.Sprintf(`(exec -a %[1]s-child sleep 60) & exec -a %[1]s-parent sleep 60`, m)
		res := mustRun(t, sb, Command{Script: script, Timeout: 300 * time.Millisecond})
		require.True(t, res.TimedOut)
		require.Equal(t, -1, res.ExitCode)
		require.Less(t, res.Duration, 5*time.Second)
		requireGone(t, m)
	})
}

func TestBackgroundProcessDoesNotOutliveItsCommand(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		m := marker("bg")
		res := mustRun(t, sb, Command{Script: fmt.Sprintf(`(exec -a %s sleep 60) & echo started`, m)})
		require.False(t, res.TimedOut)
		require.Equal(t, 0, res.ExitCode)
		require.Contains(t, res.Output, "started")
		requireGone(t, m)
	})
}

func TestCancelKills(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		m := marker("cancel")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		dir := workspace(t)
		go func() {
			_, err := sb.Run(ctx, Command{Dir: dir, Script: fmt.Sprintf(`exec -a %s sleep 60`, m)})
			done <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for !alive(t, m) {
			require.True(t, time.Now().Before(deadline), "command never started")
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		requireGone(t, m)
	})
}

func TestOutputIsCapped(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: "head -c 1000000 /dev/zero | tr '\\0' x; echo; exit 3", OutputCap: 1000})
		require.Len(t, res.Output, 1000)
		require.Equal(t, int64(1000001-1000), res.Dropped)
		require.Equal(t, 3, res.ExitCode)
	})
}

func TestEndlessOutputIsCappedAndKilled(t *testing.T) {
	t.Parallel() // waits on limits and timeouts; the slow ones share their wait
	eachMode(t, Limits{OutputCap: 4096}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: "yes flood", Timeout: 500 * time.Millisecond})
		require.True(t, res.TimedOut)
		require.Len(t, res.Output, 4096, "the limit's cap applies when the command sets none")
		require.Positive(t, res.Dropped)
	})
}

func TestExitCodeAndStderr(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: "echo out; echo err >&2; exit 7"})
		require.Equal(t, 7, res.ExitCode)
		require.Contains(t, res.Output, "out")
		require.Contains(t, res.Output, "err")
	})
}

func TestScriptKeepsItsLineNumbers(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: "echo one\nfoo )"})
		require.Equal(t, 2, res.ExitCode)
		require.Contains(t, res.Output, "line 2: syntax error", "a broken script is the model's failure, reported as bash reports it")
		require.True(t, strings.HasPrefix(res.Output, "one\n"), "the lines before the error ran")
	})
}

func TestMissingWorkspaceIsAnError(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		_, err := sb.Run(context.Background(), Command{Dir: filepath.Join(t.TempDir(), "gone"), Script: "true"})
		require.Error(t, err)
	})
}

func TestOpen(t *testing.T) {
	sb, warning, err := Open(ModePlain, Limits{})
	require.NoError(t, err)
	require.Equal(t, ModePlain, sb.Mode())
	require.Empty(t, warning)

	_, _, err = Open("docker", Limits{})
	require.ErrorContains(t, err, `unknown sandbox "docker"`)

	sb, warning, err = Open(ModeAuto, Limits{})
	require.NoError(t, err)
	b, _, berr := Open(ModeBwrap, Limits{})
	if berr != nil {
		require.Equal(t, ModePlain, sb.Mode())
		require.Contains(t, warning, "WARNING")
		require.NotContains(t, warning, "\n", "one line")
		require.Nil(t, b)
		return
	}
	require.Equal(t, ModeBwrap, sb.Mode())
	require.Empty(t, warning)
	require.Equal(t, ModeBwrap, Default().Mode())
}

func TestAutoFallsBackToPlainLoudly(t *testing.T) {
	dir := workspace(t)
	require.NoError(t, os.Chmod(dir, 0o755)) // as root, bwrap may run as another user
	broken := filepath.Join(dir, "bwrap")
	require.NoError(t, os.WriteFile(broken, []byte("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n"), 0o755))
	for _, tc := range []struct{ program, why string }{
		{"bwrap-not-installed", "bubblewrap is not installed"},
		{broken, "bwrap: No permissions to create a new namespace"},
	} {
		t.Run(filepath.Base(tc.program), func(t *testing.T) {
			old := bwrapProgram
			bwrapProgram = tc.program
			t.Cleanup(func() { bwrapProgram = old })

			sb, warning, err := Open(ModeAuto, Limits{})
			require.NoError(t, err)
			require.Equal(t, ModePlain, sb.Mode())
			require.Contains(t, warning, "WARNING")
			require.Contains(t, warning, tc.why)
			require.NotContains(t, warning, "\n", "one line")

			_, _, err = Open(ModeBwrap, Limits{})
			require.ErrorContains(t, err, tc.why)
		})
	}
}

// A reader that gets to the pipe only after the command has exited and the
// wait for stragglers is over (a starved machine) still gets all the output
// the command wrote before it exited.
func TestOutputWrittenBeforeExitIsKeptHoweverLateItIsRead(t *testing.T) {
	grace := exitGrace
	exitGrace = 0
	exited := make(chan struct{})
	testHookExited = func() { close(exited) }
	testHookRead = func() { <-exited }
	t.Cleanup(func() { exitGrace, testHookRead, testHookExited = grace, nil, nil })

	for _, tc := range []struct {
		name, script, want string
	}{
		{"one line", "echo hello", "hello\n"},
		{"a full pipe", "head -c 65536 /dev/zero | tr '\\0' x", strings.Repeat("x", 65536)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exited = make(chan struct{})
			res, err := Plain{}.Run(context.Background(), Command{Dir: t.TempDir(), Script: tc.script, OutputCap: 1 << 20})
			require.NoError(t, err)
			require.Equal(t, 0, res.ExitCode)
			require.Equal(t, tc.want, res.Output)
		})
	}
}

// A command's bash finds SHELL set and so never looks its user up: run by
// root, the workspace's uid is nobody in the host's /etc/passwd, and bash
// would read it and then load another NSS module at every start.
func TestBashNeedNotLookItsUserUp(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: `printf '%s' "$SHELL"`})
		require.Equal(t, 0, res.ExitCode, res.Output)
		require.Equal(t, bash(), res.Output)
	})
}

// Python writes no bytecode in a workspace: a check that runs a module again
// after an edit that kept its size within the same second would otherwise
// run the stale .pyc (its check is by mtime in seconds and size).
func TestPythonWritesNoBytecode(t *testing.T) {
	require.Contains(t, Env("/w", "/w"), "PYTHONDONTWRITEBYTECODE=1")
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		dir := workspace(t)
		res, err := sb.Run(context.Background(), Command{Dir: dir,
			Script: "echo 'X = 1' > m.py && python3 -c 'import m' && echo \"$PYTHONDONTWRITEBYTECODE\" && ls -A"})
		require.NoError(t, err)
		require.Equal(t, 0, res.ExitCode, res.Output)
		require.Equal(t, "1\nm.py\n", res.Output, "no __pycache__ beside the module")
	})
}
