package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/agentcmd"
	"github.com/goatbench/goatbench/internal/agentproxy"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// agentMainIfCalled lets this test binary play goatbench for the commands an
// external-agent attempt runs inside its sandbox: `agent` and `agent-forward`.
func agentMainIfCalled() {
	if len(os.Args) > 1 && (os.Args[1] == "agent" || os.Args[1] == agentcmd.ForwardCommand) {
		os.Exit(execute(os.Args[1:], streams{Out: os.Stdout, Err: os.Stderr}))
	}
}

func TestAgentUsageErrors(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"OPENAI_BASE_URL": "", "OPENAI_MODEL": "m"}, []string{"agent", "do it"}, "no endpoint"},
		{map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_MODEL": ""}, []string{"agent", "do it"}, "no model"},
		{map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_MODEL": "m"}, []string{"agent", "  "}, "the prompt is empty"},
		{map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_MODEL": "m"}, []string{"agent", "--sandbox", "nope", "x"}, "unknown sandbox"},
		{map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_MODEL": "m\u202eevil"}, []string{"agent", "x"}, `--model "m\u202eevil" has control characters`},
	}
	for _, c := range cases {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		var out, errOut bytes.Buffer
		code := execute(c.args, streams{Out: &out, Err: &errOut})
		require.Equal(t, exitUsage, code, errOut.String())
		require.Contains(t, errOut.String(), c.want)
		require.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line")
	}
}

func TestAgentUnreachableModel(t *testing.T) {
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_MODEL", "m")
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	code := execute([]string{"agent", "do it"}, streams{Out: &out, Err: &errOut})
	require.Equal(t, exitInfra, code)
	require.Empty(t, out.String())
}

// TestAgentAsExternalAgentPassesSmoke runs `goatbench agent` (this test
// binary) as an external agent behind the proxy, in each sandbox, on every
// smoke task: it must pass each with the requests of the built-in loop.
func TestAgentAsExternalAgentPassesSmoke(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	exe := searchableExecutable(t)
	ref := reference.New(suite)
	srv := httptest.NewServer(ref)
	defer srv.Close()
	ag, err := agentcmd.Prepare(agentcmd.Config{Name: "goatbench-agent", Command: exe + " agent"})
	require.NoError(t, err)

	sandboxes := map[string]sandbox.Sandbox{"plain": sandbox.Plain{}}
	if b, err := sandbox.NewBwrap(sandbox.Limits{}); err == nil {
		sandboxes["bwrap"] = b
	}
	for name, sb := range sandboxes {
		t.Run(name, func(t *testing.T) {
			passed := 0
			for _, task := range suite.Tasks {
				// The built-in loop, in process, on the same task: the request count to match.
				builtin, err := runner.NewWorkspace("", task, sb)
				require.NoError(t, err)
				before := ref.Requests()
				solved, err := runner.Solve(context.Background(), runner.Model{Name: "reference", ModelID: reference.ModelID,
					Client: runner.NewClient(srv.URL+"/v1", "k")}, builtin.Dir, task.Prompt, task.MaxTurns, sb, 0, runner.RetryPolicy{})
				require.NoError(t, err)
				checks, err := runner.Evaluate(context.Background(), builtin, task, solved.Answer)
				require.NoError(t, err, task.ID)
				require.True(t, runner.AllPass(checks), task.ID)
				builtinRequests := ref.Requests() - before
				require.NoError(t, builtin.Close(false))

				ws, err := runner.NewWorkspace("", task, sb)
				require.NoError(t, err)
				out, err := agentcmd.Run(context.Background(), agentcmd.Attempt{
					Agent: ag, Dir: ws.Dir, Prompt: task.Prompt, Timeout: task.Timeout, Sandbox: sb, Forwarder: exe,
					Grace: time.Second,
					Proxy: agentproxy.Config{Model: reference.ModelID, Relay: runner.NewRelay(runner.NewClient(srv.URL+"/v1", "real-key"), 0, runner.RetryPolicy{})},
				})
				require.NoError(t, err, task.ID)
				require.Equal(t, 0, out.ExitCode, "%s: %s", task.ID, out.Stderr)
				checks, err = runner.Evaluate(context.Background(), ws, task, out.Answer)
				require.NoError(t, err, task.ID)
				if runner.AllPass(checks) {
					passed++
				}
				require.True(t, runner.AllPass(checks), "%s: %+v", task.ID, checks)
				require.Len(t, out.Requests, int(builtinRequests), task.ID)
				require.Len(t, out.Messages, len(solved.Messages), "%s: the proxy's transcript is the loop's", task.ID)
				require.NoError(t, ws.Close(false))
			}
			require.Equal(t, len(suite.Tasks), passed)
		})
	}
}

// searchableExecutable is a copy of this test binary where every user can run
// it: run by root, unisolated commands (and so an unisolated agent) run as a
// uid of their own, which go test's private build folder would shut out.
func searchableExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "goatbench-exe-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	b, err := os.ReadFile(exe)
	require.NoError(t, err)
	copied := filepath.Join(dir, filepath.Base(exe))
	require.NoError(t, os.WriteFile(copied, b, 0o755))
	return copied
}
