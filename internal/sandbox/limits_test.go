package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimitsAreSetBeforeTheScript(t *testing.T) {
	l := Limits{CPU: 7 * time.Second, Processes: 50, OpenFiles: 100, FileSize: 1 << 20, AddressSpace: 1 << 30}
	eachMode(t, l, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: "ulimit -t; ulimit -Ht; ulimit -n; ulimit -f; ulimit -v; ulimit -Hv; ulimit -v unlimited; echo raised=$?"})
		require.Regexp(t, `^7\n8\n100\n1024\n1048576\n1048576\n`, res.Output)
		require.Contains(t, res.Output, "raised=1", "the script cannot raise a hard limit")
	})
}

func TestDefaultCPULimitFollowsALongTimeout(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: "ulimit -t", Timeout: 3 * time.Minute})
		require.Equal(t, "180\n", res.Output)
		res = mustRun(t, sb, Command{Script: "ulimit -t"})
		require.Equal(t, strconv.Itoa(int(DefaultLimits.CPU/time.Second))+"\n", res.Output)
	})
}

func TestCPULimit(t *testing.T) {
	t.Parallel() // waits on limits and timeouts; the slow ones share their wait
	eachMode(t, Limits{CPU: time.Second}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: "python3 -c 'while True: pass'; echo status=$?", Timeout: 30 * time.Second})
		require.False(t, res.TimedOut)
		require.Contains(t, res.Output, "CPU time limit exceeded")
		require.Contains(t, res.Output, "status=152", "killed by SIGXCPU (128+24)")
		require.Less(t, res.Duration, 20*time.Second)
	})
}

func TestOpenFilesLimit(t *testing.T) {
	eachMode(t, Limits{OpenFiles: 64}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: `python3 -c '
fs = []
try:
    while True: fs.append(open("/dev/null"))
except OSError as e:
    print("opened", len(fs), e.strerror)
'`})
		m := regexp.MustCompile(`opened (\d+) Too many open files`).FindStringSubmatch(res.Output)
		require.NotNil(t, m, res.Output)
		n, _ := strconv.Atoi(m[1])
		require.Less(t, n, 64)
	})
}

func TestFileSizeLimit(t *testing.T) {
	eachMode(t, Limits{FileSize: 1 << 20}, func(t *testing.T, sb Sandbox) {
		dir := workspace(t)
		res := mustRun(t, sb, Command{Dir: dir, Script: "head -c 5000000 /dev/zero > big; echo status=$?"})
		require.Contains(t, res.Output, "status=153", "killed by SIGXFSZ (128+25)")
		fi, err := os.Stat(filepath.Join(dir, "big"))
		require.NoError(t, err)
		require.Equal(t, int64(1<<20), fi.Size())
	})
}

func TestAddressSpaceLimit(t *testing.T) {
	eachMode(t, Limits{AddressSpace: 256 << 20}, func(t *testing.T, sb Sandbox) {
		// Touched memory, not a reservation: a real runaway allocation.
		res := mustRun(t, sb, Command{Script: `python3 -c '
chunks = []
while True: chunks.append(b"x" * (16 << 20))
'; echo status=$?`, Timeout: 30 * time.Second})
		require.Contains(t, res.Output, "MemoryError")
		require.Contains(t, res.Output, "status=1")
		require.False(t, res.TimedOut)
	})
}

func TestDefaultLimitsRunTheUsualTools(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Script: `set -e
python3 -c 'import json, sqlite3, subprocess, multiprocessing as m; print(m.Pool(2).map(abs, [-1, -2]))'
printf 'b\na\n' | sort | grep -c a
echo x | sed s/x/y/ | awk '{print $1}'
find . -maxdepth 0 | wc -l`})
		require.Equal(t, 0, res.ExitCode, res.Output)
		require.Equal(t, "[1, 2]\n1\ny\n1\n", res.Output)
	})
}

// forkLoop forks until the limit refuses, and prints how many it got.
const forkLoop = `python3 -c '
import os, time
n = 0
try:
    while n < 500:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except BlockingIOError:
    pass
print("forked", n)
'`

// forked is how many processes forkLoop got.
func forked(t *testing.T, res Result) int {
	t.Helper()
	m := regexp.MustCompile(`forked (\d+)`).FindStringSubmatch(res.Output)
	require.NotNil(t, m, res.Output)
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestProcessLimit(t *testing.T) {
	fork := forkLoop
	eachBwrap(t, Limits{Processes: 20}, func(t *testing.T, sb Sandbox) {
		n := forked(t, mustRun(t, sb, Command{Script: fork}))
		require.Less(t, n, 20, "the workspace's processes alone count")
		require.Greater(t, n, 10)
	})
	t.Run("plain-as-root", func(t *testing.T) {
		if os.Geteuid() != 0 || cgroupBaseDirs() == nil {
			t.Skip("needs root and cgroups: each workspace a uid and a pids cgroup of its own")
		}
		n := forked(t, mustRun(t, Plain{Limits: Limits{Processes: 20}}, Command{Script: fork}))
		require.Less(t, n, 20, "the workspace's processes alone count")
		// RLIMIT_NPROC's 20 less python itself: the workspace's forker
		// thread in the pids cgroup is not the command's to lose.
		require.GreaterOrEqual(t, n, 19)
	})
	t.Run("plain", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("plain mode as root: the kernel does not apply RLIMIT_NPROC to root")
		}
		n := forked(t, mustRun(t, Plain{Limits: Limits{Processes: 20}}, Command{Script: fork}))
		require.Less(t, n, 500)
	})
}

func TestForkBombCostsOneCommand(t *testing.T) {
	t.Parallel() // waits on limits and timeouts; the slow ones share their wait
	for _, tc := range []struct {
		name   string
		script string
	}{
		// returns at once, leaving the bomb in the background
		{"background", ":(){ :|:& };: # %s"},
		// keeps the command busy until its timeout
		{"foreground", ":(){ :|: & :; }; : # %s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBwrap(t, Limits{}, func(t *testing.T, sb Sandbox) {
				m := marker("bomb")
				dir := workspace(t)
				res := mustRun(t, sb, Command{Dir: dir, Script: fmt.Sprintf(tc.script, m), Timeout: 2 * time.Second})
				require.Less(t, res.Duration, 10*time.Second)
				requireGone(t, m)
				// the workspace and the machine still work
				res = mustRun(t, sb, Command{Dir: dir, Script: "echo alive"})
				require.Equal(t, "alive\n", res.Output)
			})
		})
	}
}
