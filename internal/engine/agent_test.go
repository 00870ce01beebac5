package engine

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/agentcmd"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// TestMain lets this test binary play goatbench's `agent-forward`, which an
// external agent's attempt runs inside its sandbox.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == agentcmd.ForwardCommand {
		os.Exit(agentcmd.ForwardMain(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// engineSandboxes are plain mode and, where it works here, bubblewrap.
func engineSandboxes(t *testing.T) map[string]sandbox.Sandbox {
	sbs := map[string]sandbox.Sandbox{"plain": sandbox.Plain{}}
	if b, err := sandbox.NewBwrap(sandbox.Limits{}); err == nil {
		sbs["bwrap"] = b
	}
	return sbs
}

func external(t *testing.T, c agentcmd.Config, sb sandbox.Sandbox) agentcmd.External {
	t.Helper()
	ag, err := agentcmd.Prepare(c)
	require.NoError(t, err)
	return agentcmd.External{Agent: ag, Sandbox: sb, Grace: 300 * time.Millisecond}
}

func requestsPerTask(as []results.Attempt) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Task] = len(a.Requests)
	}
	return m
}

// TestPythonAgentThroughTheEngine runs the stdlib-only Python agent as every
// smoke attempt's agent: it passes each task, judged by the tasks' checks,
// with the requests the built-in loop makes, and run.json names it.
func TestPythonAgentThroughTheEngine(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	script, err := filepath.Abs("../agentcmd/testdata/agent.py")
	require.NoError(t, err)
	targets := func() []Target {
		tg, err := ResolveTargets(registry(t), Selection{Names: []string{reference.ModelID}, Temperature: -1})
		require.NoError(t, err)
		return tg
	}
	_, builtin, man := newFixture(t, Plan{Suite: suite, Targets: targets(), Parallel: 4}).run(t)
	require.Equal(t, results.BuiltinAgent, man.Agent)
	for name, sb := range engineSandboxes(t) {
		t.Run(name, func(t *testing.T) {
			x := external(t, agentcmd.Config{Name: "py", Command: "/usr/bin/python3 " + script, Mounts: []string{script}}, sb)
			_, attempts, man := newFixture(t, Plan{Suite: suite, Targets: targets(), Parallel: 4, Sandbox: sb,
				Agent: x, AgentName: "py", APIKey: "sk-engine-test-real-key"}).run(t)
			require.Len(t, attempts, len(suite.Tasks))
			for _, a := range attempts {
				require.Equal(t, results.StatusPass, a.Status, "%s: %s %s %s", a.Task, a.Reason, a.LastToolCall, a.LastToolOutput)
				require.Contains(t, a.LastToolCall, "exit 0")
				require.Positive(t, a.TokensIn)
				for _, r := range a.Requests {
					require.Empty(t, r.Error)
					require.Positive(t, r.Total)
				}
			}
			require.Equal(t, requestsPerTask(builtin), requestsPerTask(attempts))
			require.Equal(t, "py", man.Agent)
		})
	}
}

// failingUpstream serves /v1/models, so the run's preflight passes, and
// answers every chat request with LiteLLM's 503 shape.
func failingUpstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/models") {
			_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"m","object":"model"}]}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"message":"no healthy deployments","type":"None","code":"503"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// TestExternalAgentBadInputThroughTheEngine: what the agent does is judged
// by the checks, never by its exit code; its infrastructure failing is an
// error; a hostile agent is stopped, capped and refused, and the run goes on.
func TestExternalAgentBadInputThroughTheEngine(t *testing.T) {
	wrongModel := `/usr/bin/python3 -c 'import os, urllib.request, urllib.error, json
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", json.dumps({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}).encode(), {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"], "Content-Type": "application/json"})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    print(e.code)'`
	script, err := filepath.Abs("../agentcmd/testdata/agent.py")
	require.NoError(t, err)
	cases := []struct {
		name, command string
		timeout       time.Duration
		upstream      bool // a model server whose chat requests all fail
		status        results.Status
		class         string
		check         func(t *testing.T, a results.Attempt, transcript string)
	}{
		{name: "crashes without doing the work", command: `/usr/bin/bash -c 'echo boom >&2; exit 3'`,
			status: results.StatusFail, class: results.ClassNoFinalAnswer,
			check: func(t *testing.T, a results.Attempt, tr string) {
				require.Contains(t, a.LastToolCall, "exit 3")
				require.Contains(t, tr, "boom", "its stderr is in the transcript")
			}},
		{name: "exits non-zero after doing the work", command: `/usr/bin/bash -c 'printf hello > note.txt; echo done; exit 1'`,
			status: results.StatusPass,
			check: func(t *testing.T, a results.Attempt, _ string) {
				require.Contains(t, a.LastToolCall, "exit 1", "the exit is recorded")
			}},
		{name: "exits 0 without doing the work", command: `/usr/bin/bash -c 'echo done'`,
			status: results.StatusFail, class: results.ClassChecksFailed},
		{name: "ignores SIGTERM", command: `/usr/bin/bash -c 'trap "" TERM; sleep 300'`, timeout: time.Second,
			status: results.StatusTimeout, class: results.ClassTimeout,
			check: func(t *testing.T, a results.Attempt, _ string) {
				require.Less(t, a.WallSeconds, 15.0, "killed after its grace, not at the task's minute")
			}},
		{name: "prints 50 MB", command: `/usr/bin/bash -c 'head -c 52428800 /dev/zero | tr "\0" a'`,
			status: results.StatusFail, class: results.ClassChecksFailed,
			check: func(t *testing.T, a results.Attempt, _ string) {
				require.Contains(t, a.LastToolCall, "bytes of stdout past the cap dropped")
				require.LessOrEqual(t, len(a.FinalAnswer), 2100)
			}},
		{name: "asks for another model", command: wrongModel,
			status: results.StatusFail, class: results.ClassChecksFailed,
			check: func(t *testing.T, a results.Attempt, _ string) {
				require.Equal(t, "400", a.FinalAnswer)
				require.Len(t, a.Requests, 1)
				require.Contains(t, a.Requests[0].Error, `"gpt-5"`)
			}},
		{name: "gives up when the model's server fails", command: "/usr/bin/python3 " + script, upstream: true,
			status: results.StatusError, class: results.ClassServerError,
			check: func(t *testing.T, a results.Attempt, _ string) {
				require.Contains(t, a.Reason, "HTTP 503")
				require.NotEmpty(t, a.Requests)
			}},
	}
	sbs := engineSandboxes(t)
	sb := sbs["bwrap"]
	if sb == nil {
		sb = sbs["plain"]
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			suite := noteSuite(t, 2) // the run goes on past the first attempt
			tg := []Target{{Name: reference.ModelID, ModelID: reference.ModelID}}
			if c.upstream {
				url := failingUpstream(t)
				tg = []Target{{Name: "m", ModelID: "m", BaseURL: url, Info: results.ModelInfo{Name: "m", BaseURL: url}}}
			}
			x := external(t, agentcmd.Config{Name: "hostile", Command: c.command, Timeout: c.timeout, Mounts: []string{script}}, sb)
			out, attempts, _ := newFixture(t, Plan{Suite: suite, Targets: tg, Parallel: 2, Sandbox: sb, Agent: x, AgentName: "hostile"}).run(t)
			require.Len(t, attempts, 2)
			for _, a := range attempts {
				require.Equal(t, c.status, a.Status, "%s %s %+v", a.Reason, a.LastToolOutput, a.Requests)
				require.Equal(t, c.class, a.FailureClass, a.Reason)
				tr, err := os.ReadFile(filepath.Join(out.Dir, a.Transcript))
				require.NoError(t, err)
				if c.check != nil {
					c.check(t, a, string(tr))
				}
			}
		})
	}
}

// TestResumeRefusesAnotherAgent: one run folder holds one agent's attempts.
func TestResumeRefusesAnotherAgent(t *testing.T) {
	suite := noteSuite(t, 1)
	tg := []Target{{Name: reference.ModelID, ModelID: reference.ModelID}}
	out, _, _ := newFixture(t, Plan{Suite: suite, Targets: tg}).run(t)
	prev, _, err := OpenPrevious(out.Dir)
	require.NoError(t, err)
	x := external(t, agentcmd.Config{Name: "other", Command: "/usr/bin/true"}, sandbox.Plain{})
	f := newFixture(t, Plan{Suite: suite, Targets: tg, Resume: prev, Agent: x, AgentName: "other"})
	_, err = Run(t.Context(), f.opts)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, err.Error(), `it was run with agent "builtin"`)
}

var _ runner.Agent = agentcmd.External{}

// TestTheAgentsOwnTimeoutWins: an agents: entry's timeout replaces the
// task's, longer or shorter; the runner does not cut it off at the task's.
func TestTheAgentsOwnTimeoutWins(t *testing.T) {
	task, err := tasks.Parse("t.yaml", []byte(`id: slow-note
prompt: write note.txt saying hello
timeout: 1s
checks:
  - file_contains: {path: note.txt, text: hello}
reference:
  - answer: done
`))
	require.NoError(t, err)
	suite := tasks.Suite{Name: "slow", Hash: "h", Tasks: []tasks.Task{task}}
	tg := []Target{{Name: reference.ModelID, ModelID: reference.ModelID}}
	x := external(t, agentcmd.Config{Name: "slow", Command: `/usr/bin/bash -c 'sleep 2; printf hello > note.txt; echo done'`,
		Timeout: 20 * time.Second}, sandbox.Plain{})
	_, attempts, _ := newFixture(t, Plan{Suite: suite, Targets: tg, Agent: x, AgentName: "slow"}).run(t)
	require.Len(t, attempts, 1)
	require.Equal(t, results.StatusPass, attempts[0].Status, attempts[0].Reason)
}
