package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEnvAndSeparateStdout(t *testing.T) {
	eachMode(t, Limits{}, func(t *testing.T, sb Sandbox) {
		res := mustRun(t, sb, Command{Dir: workspace(t), Env: []string{"GB_EXTRA=hello"}, Stdout: true, StdoutCap: 4,
			Script: `printf '%s-stdout' "$GB_EXTRA"; echo on-stderr >&2`})
		require.Equal(t, "hell", res.Stdout, "stdout alone, capped")
		require.Equal(t, int64(len("hello-stdout")-4), res.StdoutDropped)
		require.Equal(t, "on-stderr\n", res.Output, "Output holds stderr alone")
	})
}

func TestBinds(t *testing.T) {
	eachBwrap(t, Limits{}, func(t *testing.T, sb Sandbox) {
		// Under a 0700 directory, as ~/go/bin is: the sandbox must still show it.
		private := t.TempDir()
		require.NoError(t, os.Chmod(private, 0o700))
		ro := filepath.Join(private, "tool.sh")
		require.NoError(t, os.WriteFile(ro, []byte("#!/bin/sh\necho tool-ran\n"), 0o755))
		rw := filepath.Join(private, "answer")
		require.NoError(t, os.WriteFile(rw, nil, 0o600))
		require.NoError(t, os.Chmod(rw, 0o666)) // past the umask: the command may run as another uid
		hidden := filepath.Join(private, "hidden")
		require.NoError(t, os.WriteFile(hidden, []byte("x"), 0o644))

		res := mustRun(t, sb, Command{Dir: workspace(t), Binds: []Bind{{Path: ro}, {Path: rw, Writable: true}},
			Script: ro + `; echo changed >` + ro + ` 2>/dev/null && echo ro-written; echo my-answer >` + rw + `; cat ` + hidden + ` 2>/dev/null && echo hidden-read; true`})
		require.Contains(t, res.Output, "tool-ran", res.Output)
		require.NotContains(t, res.Output, "ro-written")
		require.NotContains(t, res.Output, "hidden-read", "only the bound paths are shown")
		b, err := os.ReadFile(rw)
		require.NoError(t, err)
		require.Equal(t, "my-answer\n", string(b))
		b, _ = os.ReadFile(ro)
		require.True(t, strings.HasSuffix(string(b), "echo tool-ran\n"))
	})
}

func TestBindMustExist(t *testing.T) {
	sb := needBwrap(t, Limits{})
	dir := workspace(t)
	t.Cleanup(func() { _ = sb.Release(dir) }) // its uid and cgroup
	_, err := sb.Run(context.Background(), Command{Dir: dir, Script: "true", Binds: []Bind{{Path: "/no/such/agent"}}})
	require.ErrorContains(t, err, "/no/such/agent")
	// Refused, it keeps none of the files it was to pass (the passwd file,
	// cgroups, the seccomp filter's pipe: at least one per command). Other
	// tests' sessions may open or close files meanwhile, once: of three
	// rounds of 50 refusals, one at least adds none.
	least := 1 << 30
	for range 3 {
		before := openFDs(t)
		for range 50 {
			_, err = sb.Run(context.Background(), Command{Dir: dir, Script: "true", Binds: []Bind{{Path: "/no/such/agent"}}})
			require.Error(t, err)
		}
		least = min(least, openFDs(t)-before)
	}
	require.Less(t, least, 25, "files kept over 50 refused commands")
}

// openFDs is how many files this process has open.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}
