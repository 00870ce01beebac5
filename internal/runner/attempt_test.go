package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// memWorkspace is a workspace with no local folder, as a remote backend's is:
// files live in a map and there is no shell.
type memWorkspace struct {
	mu     sync.Mutex
	files  map[string][]byte
	setup  map[string][]byte
	closed bool
}

func newMemWorkspace(t tasks.Task) *memWorkspace {
	w := &memWorkspace{files: map[string][]byte{}, setup: map[string][]byte{}}
	for _, f := range t.Setup {
		w.files[path.Clean(f.Path)] = []byte(f.Content)
		w.setup[path.Clean(f.Path)] = []byte(f.Content)
	}
	return w
}

func (w *memWorkspace) ReadFile(name string, limit int) ([]byte, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.files[path.Clean(name)]
	if !ok {
		return nil, false, os.ErrNotExist
	}
	if len(b) > limit {
		return b[:limit], true, nil
	}
	return b, false, nil
}

func (w *memWorkspace) WriteFile(name string, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files[path.Clean(name)] = data
	return nil
}

func (w *memWorkspace) ListDir(string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	for n := range w.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (w *memWorkspace) Exists(name string) bool {
	_, _, err := w.ReadFile(name, 0)
	return err == nil
}

func (w *memWorkspace) Seeded(name string) ([]byte, bool) {
	b, ok := w.setup[path.Clean(name)]
	return b, ok
}

func (w *memWorkspace) Run(context.Context, string, time.Duration) (sandbox.Result, error) {
	return sandbox.Result{}, errors.New("no shell in this workspace")
}

func (w *memWorkspace) Close(bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

// fakeAgent performs attempts by a script, without a model.
type fakeAgent func(ctx context.Context, t tasks.Task, w sandbox.Workspace) (AgentResult, error)

func (f fakeAgent) Attempt(ctx context.Context, _ Model, t tasks.Task, w sandbox.Workspace) (AgentResult, error) {
	return f(ctx, t, w)
}

const noteTask = `
id: note
prompt: write note.txt saying hello
max_turns: 3
timeout: 1m
setup:
  - path: keep.txt
    content: "kept\n"
checks:
  - file_contains: {path: note.txt, text: hello}
  - file_unchanged: keep.txt
  - answer_contains: done
reference:
  - tool: write_file
    args: {path: note.txt, content: hello}
  - answer: done
`

// runWith runs one task for model "m" with the given agent in memory
// workspaces, and returns its attempt, the workspaces made and the run folder.
func runWith(t *testing.T, a Agent) (results.Attempt, []*memWorkspace, string) {
	t.Helper()
	task := mustTask(t, noteTask)
	var (
		mu  sync.Mutex
		wss []*memWorkspace
	)
	var started []string
	r, err := New(tasks.Suite{Name: "s", Tasks: []tasks.Task{task}}, Options{
		RunID: "test", RunDir: t.TempDir(), Parallel: 1, Repeat: 1, Agent: a,
		NewWorkspace: func(_ context.Context, t tasks.Task) (sandbox.Workspace, error) {
			w := newMemWorkspace(t)
			mu.Lock()
			defer mu.Unlock()
			wss = append(wss, w)
			return w, nil
		},
		OnStart: func(model, task string, repeat int) { started = append(started, model+"/"+task) },
	})
	require.NoError(t, err)
	require.NoError(t, r.RunModel(context.Background(), Model{Name: "m"}))
	require.NoError(t, r.Close())
	got, _, err := results.ReadAttempts(r.opts.RunDir)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, []string{"m/note"}, started, "OnStart once per attempt")
	return got[0], wss, r.opts.RunDir
}

func TestRunnerAsksTheAgentInAWorkspaceWithoutAFolder(t *testing.T) {
	doer := fakeAgent(func(_ context.Context, _ tasks.Task, w sandbox.Workspace) (AgentResult, error) {
		if err := w.WriteFile("note.txt", []byte("hello\n")); err != nil {
			return AgentResult{}, err
		}
		return AgentResult{Answer: "done", Answered: true, Turns: 2, ToolCalls: 1, TokensIn: 30, TokensOut: 7,
			Requests: []results.Request{{Total: 0.5, TokensIn: 30, TokensOut: 7}},
			Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleAssistant, Content: "done"}}}, nil
	})
	a, wss, dir := runWith(t, doer)
	require.Equal(t, results.StatusPass, a.Status, a.Reason)
	require.Equal(t, 2, a.Turns)
	require.Equal(t, 1, a.ToolCalls)
	require.Equal(t, 30, a.TokensIn)
	require.Len(t, a.Requests, 1)
	require.Equal(t, "done", a.FinalAnswer)
	require.Len(t, wss, 1)
	require.True(t, wss[0].closed, "the workspace is closed after the checks")
	b, err := os.ReadFile(filepath.Join(dir, a.Transcript))
	require.NoError(t, err)
	require.Contains(t, string(b), `"content": "done"`, "the agent's messages are the transcript")
}

func TestRunnerJudgesWhatTheAgentDid(t *testing.T) {
	tests := []struct {
		name   string
		agent  fakeAgent
		status results.Status
		class  string
		reason string
	}{
		{"did nothing", func(context.Context, tasks.Task, sandbox.Workspace) (AgentResult, error) {
			return AgentResult{Answer: "done", Answered: true}, nil
		}, results.StatusFail, results.ClassChecksFailed, "note.txt"},
		{"changed a setup file", func(_ context.Context, _ tasks.Task, w sandbox.Workspace) (AgentResult, error) {
			_ = w.WriteFile("note.txt", []byte("hello"))
			_ = w.WriteFile("keep.txt", []byte("gone"))
			return AgentResult{Answer: "done", Answered: true}, nil
		}, results.StatusFail, results.ClassChecksFailed, "keep.txt"},
		{"no final answer", func(context.Context, tasks.Task, sandbox.Workspace) (AgentResult, error) {
			return AgentResult{Turns: 3}, nil
		}, results.StatusFail, results.ClassMaxTurns, "no final answer after 3 turns"},
		{"classified its own stop", func(context.Context, tasks.Task, sandbox.Workspace) (AgentResult, error) {
			return AgentResult{Turns: 1}, &AttemptError{Status: results.StatusError, Class: "agent_failed", Reason: "the agent exited\nwith 2"}
		}, results.StatusError, "agent_failed", "the agent exited with 2"},
		{"a server failure", func(context.Context, tasks.Task, sandbox.Workspace) (AgentResult, error) {
			return AgentResult{}, errMalformed("no choices")
		}, results.StatusError, results.ClassServerError, "no choices"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _, _ := runWith(t, tc.agent)
			require.Equal(t, tc.status, a.Status)
			require.Equal(t, tc.class, a.FailureClass)
			require.True(t, strings.Contains(a.Reason, tc.reason), "reason %q", a.Reason)
		})
	}
}

func TestBuiltinIsTheDefaultAgent(t *testing.T) {
	r, err := New(smoke(t), Options{RunID: "default-agent", RunDir: t.TempDir(), Parallel: 1, Repeat: 1, RequestTimeout: time.Second, Retry: RetryPolicy{Max: 3}})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, Builtin{RequestTimeout: time.Second, Retry: RetryPolicy{Max: 3}}, r.opts.Agent)
}

// failingChecks is a sandbox whose check command fails to run with err.
type failingChecks struct {
	sandbox.Plain
	script string
	err    error
}

func (s failingChecks) Run(ctx context.Context, c sandbox.Command) (sandbox.Result, error) {
	if c.Script == s.script {
		return sandbox.Result{}, s.err
	}
	return s.Plain.Run(ctx, c)
}

// A check command the sandbox could not run judges nothing: the attempt is
// goatbench's error (out of the pass rate's denominator), not the model's
// fail. One it could not run because of what the model left in the workspace
// fails that check, as a tool call would, and so does an attempt that failed
// a check before it.
func TestACheckTheSandboxCouldNotRunIsAnError(t *testing.T) {
	const task = `id: t1
prompt: write ok.txt
max_turns: 3
timeout: 5s
checks:
%s  - command: {run: test -f ok.txt}
reference:
  - tool: write_file
    args: {path: ok.txt, content: ok}
  - answer: done
`
	broken := errors.New("sandbox: start command: the machine is out of pids")
	for _, tc := range []struct {
		name, before string // before: a check ahead of the command
		err          error
		status       results.Status
		class        string
		reason       string
	}{
		{"sandbox failed", "", broken, results.StatusError, results.ClassServerError, "could not run"},
		{"workspace unusable", "", fmt.Errorf("%w: directories nested too deep", sandbox.ErrWorkspace), results.StatusFail, results.ClassChecksFailed, "could not run"},
		{"a check failed before", "  - file_exists: never.txt\n", broken, results.StatusFail, results.ClassChecksFailed, "never.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, oneTaskSuite(t, fmt.Sprintf(task, tc.before)))
			h.opts.Sandbox = failingChecks{script: "test -f ok.txt", err: tc.err}
			got := h.run(t, context.Background())
			require.Len(t, got, 1)
			require.Equal(t, tc.status, got[0].Status, got[0].Reason)
			require.Equal(t, tc.class, got[0].FailureClass)
			require.Contains(t, got[0].Reason, tc.reason)
			require.NotEmpty(t, got[0].Checks)
			require.False(t, got[0].Checks[len(got[0].Checks)-1].Pass)
		})
	}
}

// warming is a sandbox that says when it is asked to warm a workspace and
// when it runs a command.
type warming struct {
	sandbox.Plain
	mu  sync.Mutex
	log []string
}

func (s *warming) note(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, what)
}

func (s *warming) Warm(dir string) { s.note("warm " + dir) }

func (s *warming) Run(ctx context.Context, c sandbox.Command) (sandbox.Result, error) {
	s.note("run " + c.Dir)
	return s.Plain.Run(ctx, c)
}

// The built-in agent has the sandbox warm the workspace once, while the
// model thinks: before it first asks the model where a check will run a
// command, else as a streamed reply begins a bash call; never where no
// command runs, and not for a plain reply (the command follows at once).
func TestBuiltinWarmsTheWorkspaceWhileTheModelThinks(t *testing.T) {
	const task = `id: t1
prompt: do it
max_turns: 3
timeout: 5s
checks:
  - %s
reference:
  - tool: %s
  - answer: done
`
	for _, tc := range []struct {
		name, check, call string
		noStream          bool
		want              []string // D is the workspace
	}{
		{"a command check", "command: {run: test -f ok.txt}", "bash\n    args: {command: touch ok.txt}", false,
			[]string{"warm D", "chat", "run D", "chat", "run D"}},
		{"a streamed bash call", "file_exists: ok.txt", "bash\n    args: {command: touch ok.txt}", false,
			[]string{"chat", "warm D", "run D", "chat"}},
		{"a plain bash call", "file_exists: ok.txt", "bash\n    args: {command: touch ok.txt}", true,
			[]string{"chat", "run D", "chat"}},
		{"no command", "file_exists: ok.txt", "write_file\n    args: {path: ok.txt, content: ok}", false,
			[]string{"chat", "chat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, oneTaskSuite(t, fmt.Sprintf(task, tc.check, tc.call)))
			h.noStream = tc.noStream
			sb := &warming{}
			h.opts.Sandbox = sb
			var dir string
			h.server.Intercept = func(http.ResponseWriter, *http.Request, *openai.ChatCompletionRequest, int) bool {
				sb.note("chat")
				return false
			}
			got := h.run(t, context.Background())
			require.Len(t, got, 1)
			require.Equal(t, results.StatusPass, got[0].Status, got[0].Reason)
			for _, e := range sb.log {
				if d, ok := strings.CutPrefix(e, "run "); ok {
					dir = d
				} else if d, ok := strings.CutPrefix(e, "warm "); ok {
					dir = d
				}
			}
			var want []string
			for _, e := range tc.want {
				want = append(want, strings.Replace(e, "D", dir, 1))
			}
			require.Equal(t, want, sb.log)
		})
	}
}

// warmSignal is a sandbox that closes warmed when asked to warm.
type warmSignal struct {
	sandbox.Plain
	once   sync.Once
	warmed chan struct{}
}

func (s *warmSignal) Warm(string) { s.once.Do(func() { close(s.warmed) }) }

// The warm comes as the stream names bash, not once the reply is whole: the
// server here sends the call's name, then holds back its arguments and the
// stream's end until the sandbox was asked to warm (or 2 s went by).
func TestBuiltinWarmsAsTheStreamNamesBash(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, `id: t1
prompt: do it
max_turns: 3
timeout: 10s
checks:
  - file_exists: ok.txt
reference:
  - tool: bash
    args: {command: touch ok.txt}
  - answer: done
`))
	sb := &warmSignal{warmed: make(chan struct{})}
	h.opts.Sandbox = sb
	early := false
	h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, turn int) bool {
		if turn != 0 {
			return false
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"bash","arguments":""}}]}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-sb.warmed:
			early = true
		case <-time.After(2 * time.Second):
		}
		fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\":\"touch ok.txt\"}"}}]}}]}`+"\n\n")
		fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`+"\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
		return true
	}
	got := h.run(t, context.Background())
	require.Len(t, got, 1)
	require.Equal(t, results.StatusPass, got[0].Status, got[0].Reason)
	require.True(t, early, "the sandbox was asked to warm only once the reply was whole")
}
