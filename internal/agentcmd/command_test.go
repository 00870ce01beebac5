package agentcmd

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/sandbox"
)

// modeOnly is a sandbox that only names its mode: CheckSandbox runs nothing.
type modeOnly string

func (m modeOnly) Mode() string { return string(m) }
func (modeOnly) Run(context.Context, sandbox.Command) (sandbox.Result, error) {
	panic("CheckSandbox runs nothing")
}

// Run by root, --sandbox plain runs the agent as an unprivileged uid: an
// executable others cannot reach is refused before anything runs, in one line
// naming it and the way out; and the verdict agrees with what that uid can
// really run.
func TestAnAgentTheUnprivilegedUidCannotRunIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("--sandbox plain runs commands as another uid only when run by root")
	}
	top, err := os.MkdirTemp("", "goatbench-agent-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(top) })
	require.NoError(t, os.Chmod(top, 0o755))
	agentAt := func(dir string, dirMode, fileMode os.FileMode, body string) *Agent {
		d := filepath.Join(top, dir)
		require.NoError(t, os.MkdirAll(d, 0o755))
		p := filepath.Join(d, "goat")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
		require.NoError(t, os.Chmod(p, fileMode))
		require.NoError(t, os.Chmod(d, dirMode))
		a, err := Prepare(Config{Name: "goat", Command: p + " {prompt_file}"})
		require.NoError(t, err)
		return a
	}
	script := "#!/bin/sh\necho ran\n"
	cases := []struct {
		name string
		a    *Agent
		want string // "" runs
	}{
		{"reachable", agentAt("open", 0o755, 0o755, script), ""},
		{"in a 0700 folder", agentAt("private", 0o700, 0o755, script), "which other users cannot enter"},
		{"not executable by others", agentAt("owner-only", 0o755, 0o750, script), "is not executable by other users"},
		{"a script others cannot read", agentAt("unreadable", 0o755, 0o711, script), "is a script other users cannot read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.a.CheckSandbox(sandbox.Plain{})
			ws := filepath.Join(top, "ws-"+filepath.Base(filepath.Dir(c.a.Exec)))
			require.NoError(t, os.Mkdir(ws, 0o755))
			res, runErr := sandbox.Plain{}.Run(context.Background(), sandbox.Command{Dir: ws, Script: c.a.Exec})
			require.NoError(t, runErr)
			if c.want == "" {
				require.NoError(t, err)
				require.Equal(t, "ran\n", res.Output, "the uid runs it")
				return
			}
			require.ErrorContains(t, err, c.want)
			require.ErrorContains(t, err, c.a.Exec)
			require.ErrorContains(t, err, "install it where every user can reach it, or use --sandbox bwrap")
			require.NotContains(t, err.Error(), "\n")
			require.NotEqual(t, 0, res.ExitCode, "the uid cannot run it: %s", res.Output)
			require.NoError(t, c.a.CheckSandbox(modeOnly(sandbox.ModeBwrap)), "bwrap shows it to the command")
		})
	}
}
