package sandbox

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Three processes of one command, each well within the per-process address
// space limit, together past the attempt's memory: the attempt's cap stops
// them, where per-process limits alone let 6.4 GiB through.
func TestMemoryIsCappedPerAttemptNotPerProcess(t *testing.T) {
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
