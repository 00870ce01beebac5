package sandbox

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Three processes of one command, each well within the per-process address
// space limit, together past the attempt's memory: the attempt's cap stops
// them, where per-process limits alone let 6.4 GiB through.
func TestMemoryIsCappedPerAttemptNotPerProcess(t *testing.T) {
	// Not parallel: it counts every cgroup this process has left.
	if cgroupBaseDirs() == nil {
		t.Skip("needs root and cgroup memory and pids controllers")
	}
	l := Limits{Memory: 96 << 20}
	hog := `python3 -c 'import time; x = bytearray(60 << 20); time.sleep(1)'`
	script := fmt.Sprintf("(%s) & (%s) & (%s) & wait; echo done", hog, hog, hog)
	ours := func() map[string]bool {
		m := map[string]bool{}
		entries, _ := os.ReadDir(cgroupBaseDirs()[0])
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), fmt.Sprintf("goatbench-%d-", os.Getpid())) {
				m[e.Name()] = true
			}
		}
		return m
	}
	before := ours()
	modes := map[string]Sandbox{"plain": Plain{Limits: l}}
	if b, err := NewBwrap(l); err == nil {
		modes["bwrap"] = b
	}
	for name, sb := range modes {
		t.Run(name, func(t *testing.T) {
			dir := workspace(t)
			res := mustRun(t, sb, Command{Dir: dir, Script: script})
			require.Contains(t, res.Output, "done")
			require.Contains(t, strings.ToLower(res.Output), "killed", "one of the hogs is killed: %s", res.Output)
			// A private /tmp counts too.
			res = mustRun(t, sb, Command{Dir: dir, Script: "head -c 150000000 /dev/zero > /tmp/fill; echo status=$?; rm -f /tmp/fill"})
			if name == "bwrap" {
				require.NotContains(t, res.Output, "status=0", res.Output)
			}
			r, ok := sb.(Releaser)
			require.True(t, ok)
			require.NoError(t, r.Release(dir), "its cgroup is removed")
		})
	}
	for name := range ours() {
		require.True(t, before[name], "cgroup %s left behind", name)
	}
}

// The cgroup is what lets a command's end skip the walk of every process on
// the machine: it must show a process the command left running (so that it
// is killed) and show nothing once there is none.
func TestCgroupShowsWhatACommandLeft(t *testing.T) {
	if cgroupBaseDirs() == nil {
		t.Skip("needs root and cgroup memory and pids controllers")
	}
	for _, way := range []string{"joined", "born"} {
		t.Run(way, func(t *testing.T) {
			cg, err := newAttemptCgroup(-1, -1)
			require.NoError(t, err)
			defer cg.remove()
			require.True(t, cg.empty(), "no process has joined yet")
			s := spec{cmd: exec.Command(bash(), "-c", "sleep 300"), ulimit: "true"}
			if way == "joined" {
				require.NoError(t, cg.join(&s))
			} else {
				require.NoError(t, cg.bornIn(&s))
				require.NotNil(t, s.forker, "forked by the workspace's forker")
				procs, err := os.ReadFile(filepath.Join(cg.dirs[0], "cgroup.procs"))
				require.NoError(t, err)
				require.Equal(t, strconv.Itoa(os.Getpid()), strings.TrimSpace(string(procs)), "the forker's thread is in the cgroup")
				require.True(t, cg.empty(), "goatbench's own forker thread is no process left behind")
			}
			s.cmd.Env = []string{"BASH_ENV=/dev/fd/" + strconv.Itoa(firstExtra+len(s.extra))}
			r, w, err := os.Pipe()
			require.NoError(t, err)
			_, _ = io.WriteString(w, s.ulimit+"\n")
			w.Close()
			s.cmd.ExtraFiles = append([]*os.File{nil, nil}, append(s.extra, r)...)
			_, err = s.start(s.cmd)
			require.NoError(t, err)
			deadline := time.Now().Add(5 * time.Second)
			for cg.empty() {
				require.True(t, time.Now().Before(deadline), "the command never showed in its cgroup")
				time.Sleep(5 * time.Millisecond)
			}
			require.NoError(t, s.cmd.Process.Kill())
			_ = s.cmd.Wait()
			for !cg.empty() {
				require.True(t, time.Now().Before(deadline), "a dead command still shows in its cgroup")
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	require.False(t, (*attemptCgroup)(nil).empty(), "no cgroup tells nothing")
}
