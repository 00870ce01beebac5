package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

// goatbenchOnPath puts this test binary on PATH as `goatbench`, as an
// installed goatbench is: `--agent 'goatbench agent'` finds it there, binds
// it into the sandbox, and TestMain plays `goatbench agent` when it runs.
func goatbenchOnPath(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	bin := t.TempDir()
	require.NoError(t, os.Symlink(exe, filepath.Join(bin, "goatbench")))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func requestsByTask(t *testing.T, dir string) map[string]int {
	t.Helper()
	as, warnings, err := results.ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	out := map[string]int{}
	for _, a := range as {
		require.Equal(t, results.StatusPass, a.Status, "%s: %s", a.Task, a.Reason)
		out[a.Task] = len(a.Requests)
	}
	return out
}

// TestRunWithGoatbenchAgentMatchesBuiltin: the built-in loop run as an
// external command passes the smoke suite with the requests of the
// built-in run, and every report says which agent made the attempts.
func TestRunWithGoatbenchAgentMatchesBuiltin(t *testing.T) {
	goatbenchOnPath(t)
	builtinOut, agentOut := t.TempDir(), t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", builtinOut)
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", agentOut,
		"--agent", "goatbench agent")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "reference 5/5")
	require.Contains(t, stdout, "agent goatbench agent", "the run line names the agent")

	bdir, adir := onlyRunDir(t, builtinOut), onlyRunDir(t, agentOut)
	builtin, agent := requestsByTask(t, bdir), requestsByTask(t, adir)
	require.Len(t, agent, 5)
	require.Equal(t, builtin, agent, "the same requests per task")
	total := 0
	for _, n := range agent {
		total += n
	}
	t.Logf("requests: builtin %v, goatbench agent %v (%d in all)", builtin, agent, total)

	m, err := results.ReadManifest(adir)
	require.NoError(t, err)
	require.Equal(t, "goatbench agent", m.Agent)
	require.Contains(t, m.Args, "--agent=goatbench agent")
	bm, err := results.ReadManifest(bdir)
	require.NoError(t, err)
	require.Equal(t, results.BuiltinAgent, bm.Agent)
	var sum struct{ Agent string }
	b, err := os.ReadFile(filepath.Join(adir, "summary.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	require.Equal(t, "goatbench agent", sum.Agent)

	// compare: another agent is refused in one line, unless allowed.
	code, _, stderr = goatbench(t, "compare", bdir, adir)
	require.Equal(t, exitUsage, code)
	require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	require.Contains(t, stderr, `base was run with agent "builtin" and head with agent "goatbench agent"`)
	code, stdout, stderr = goatbench(t, "compare", bdir, adir, "--allow-agent-change", "--format", "json")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "the agent changed")
	require.Contains(t, stdout, "the agent changed")
	code, _, stderr = goatbench(t, "compare", adir, adir)
	require.Equal(t, exitOK, code, "the same agent compares: %s", stderr)
}

// TestRunWithANamedPythonAgent: an agents: entry of goatbench.yaml, with
// its script bound read-only through mounts:, run by name.
func TestRunWithANamedPythonAgent(t *testing.T) {
	script, err := filepath.Abs("../../internal/agentcmd/testdata/agent.py")
	require.NoError(t, err)
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile("goatbench.yaml", []byte(`agents:
  py:
    command: /usr/bin/python3 `+script+`
    timeout: 2m
    mounts: [`+script+`]
`), 0o644))
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out,
		"--agent", "py", "--respect-agent-params")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "reference 5/5")
	run := onlyRunDir(t, out)
	require.Len(t, requestsByTask(t, run), 5)
	m, err := results.ReadManifest(run)
	require.NoError(t, err)
	require.Equal(t, "py", m.Agent)

	// Resuming it with another agent is refused; with its own, it is done.
	code, _, stderr = goatbench(t, "run", "--resume", run, "--agent", "builtin")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `it was run with agent "py"`)
	code, _, stderr = goatbench(t, "run", "--resume", run)
	require.Equal(t, exitOK, code, stderr)
}

// TestRunRefusesAnAgentItCannotRun: before anything runs, in one line,
// with nothing written.
func TestRunRefusesAnAgentItCannotRun(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--agent", "no-such-agent-xyz"}, `not an agent of goatbench.yaml (builtin) nor a command on PATH`},
		{[]string{"--agent", "no-such-agent-xyz --prompt {prompt}"}, "no-such-agent-xyz not found on PATH"},
		{[]string{"--agent", "/nonexistent/goat {prompt_file}"}, "/nonexistent/goat is not an executable file"},
		{[]string{"--agent", "goat {nope}"}, "unknown placeholder {nope}"},
		{[]string{"--respect-agent-params"}, "--respect-agent-params needs --agent"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := goatbench(t, append([]string{"run", "--models", "reference", "--suite", "smoke", "--out", out}, c.args...)...)
			require.Equal(t, exitUsage, code, stderr)
			require.Empty(t, stdout)
			require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
			require.Contains(t, stderr, c.want)
			entries, err := os.ReadDir(out)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing written")
		})
	}
}

// TestAgentStandalone: `goatbench agent "Create hello.py that prints Hello"`
// works in the current directory against any OpenAI-compatible endpoint.
func TestAgentStandalone(t *testing.T) {
	task, err := tasks.Parse("hello.yaml", []byte(`id: hello
prompt: Create hello.py that prints Hello
checks: [{file_exists: hello.py}]
reference:
  - tool: write_file
    args: {path: hello.py, content: "print('Hello')\n"}
  - tool: bash
    args: {command: python3 hello.py}
  - answer: hello.py prints Hello
`))
	require.NoError(t, err)
	srv := httptest.NewServer(reference.New(tasks.Suite{Name: "hello", Tasks: []tasks.Task{task}}))
	defer srv.Close()
	t.Setenv("OPENAI_BASE_URL", srv.URL+"/v1")
	t.Setenv("OPENAI_MODEL", reference.ModelID)
	t.Setenv("OPENAI_API_KEY", "k")
	dir := t.TempDir()
	t.Chdir(dir)
	code, stdout, stderr := goatbench(t, "agent", "Create hello.py that prints Hello")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "hello.py prints Hello\n", stdout)
	got, err := exec.Command("python3", filepath.Join(dir, "hello.py")).Output()
	require.NoError(t, err)
	require.Equal(t, "Hello\n", string(got))
}

// Run by root, --sandbox plain runs the agent as an unprivileged uid: an
// agent under a 0700 folder is refused before anything runs, in one line,
// rather than failing every attempt with "Permission denied".
func TestRunRefusesAnAgentThePlainSandboxUidCannotReach(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("--sandbox plain runs commands as another uid only when run by root")
	}
	t.Chdir(t.TempDir())
	private := t.TempDir() // 0700, as /root is
	require.NoError(t, os.Chmod(private, 0o700))
	goat := filepath.Join(private, "goat")
	require.NoError(t, os.WriteFile(goat, []byte("#!/bin/sh\necho hi > \"$1\"\n"), 0o755))
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out,
		"--sandbox", "plain", "--agent", goat+" {answer_file}")
	require.Equal(t, exitUsage, code, stderr)
	require.Empty(t, stdout)
	require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	require.Contains(t, stderr, goat)
	require.Contains(t, stderr, "install it where every user can reach it, or use --sandbox bwrap")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written")
}
