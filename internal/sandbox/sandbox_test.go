package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// alive reports whether a process whose command line contains marker still
// runs (zombies waiting to be reaped count as gone).
func alive(t *testing.T, marker string) bool {
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

func requireGone(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(t, marker) {
		require.True(t, time.Now().Before(deadline), "process %q survived its command", marker)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSecretsDoNotReachCommands(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-planted-secret")
	t.Setenv("MODAL_TOKEN_SECRET", "as-planted-secret")
	dir := t.TempDir()
	res, err := Plain{}.Run(context.Background(), Command{Dir: dir, Script: "env; echo HOME=$HOME"})
	require.NoError(t, err)
	require.NotContains(t, res.Output, "planted-secret")
	require.NotContains(t, res.Output, "OPENAI_API_KEY")
	require.Contains(t, res.Output, "HOME="+dir)
}

func TestTimeoutKillsTheWholeGroup(t *testing.T) {
	marker := fmt.Sprintf("gb-sleeper-%d", time.Now().UnixNano())
	dir := t.TempDir()
	script := fmt.Sprintf(`(exec -a %[1]s-child sleep 60) & exec -a %[1]s-parent sleep 60`, marker)
	res, err := Plain{}.Run(context.Background(), Command{Dir: dir, Script: script, Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	require.True(t, res.TimedOut)
	require.Equal(t, -1, res.ExitCode)
	require.Less(t, res.Duration, 5*time.Second)
	requireGone(t, marker)
}

func TestBackgroundProcessDoesNotOutliveItsCommand(t *testing.T) {
	marker := fmt.Sprintf("gb-bg-%d", time.Now().UnixNano())
	res, err := Plain{}.Run(context.Background(), Command{Dir: t.TempDir(), Script: fmt.Sprintf(`(exec -a %s sleep 60) & echo started`, marker)})
	require.NoError(t, err)
	require.False(t, res.TimedOut)
	require.Equal(t, 0, res.ExitCode)
	require.Contains(t, res.Output, "started")
	requireGone(t, marker)
}

func TestCancelKills(t *testing.T) {
	marker := fmt.Sprintf("gb-cancel-%d", time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Plain{}.Run(ctx, Command{Dir: t.TempDir(), Script: fmt.Sprintf(`exec -a %s sleep 60`, marker)})
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !alive(t, marker) {
		require.True(t, time.Now().Before(deadline), "command never started")
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	requireGone(t, marker)
}

func TestOutputIsCapped(t *testing.T) {
	res, err := Plain{}.Run(context.Background(), Command{Dir: t.TempDir(), Script: "head -c 1000000 /dev/zero | tr '\\0' x; echo; exit 3", OutputCap: 1000})
	require.NoError(t, err)
	require.Len(t, res.Output, 1000)
	require.Equal(t, int64(1000001-1000), res.Dropped)
	require.Equal(t, 3, res.ExitCode)
}

func TestExitCodeAndStderr(t *testing.T) {
	res, err := Plain{}.Run(context.Background(), Command{Dir: t.TempDir(), Script: "echo out; echo err >&2; exit 7"})
	require.NoError(t, err)
	require.Equal(t, 7, res.ExitCode)
	require.Contains(t, res.Output, "out")
	require.Contains(t, res.Output, "err")
}
