package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

func mustTask(t testing.TB, y string) tasks.Task {
	t.Helper()
	task, err := tasks.Parse("test.yaml", []byte(y))
	require.NoError(t, err)
	return task
}

func smoke(t testing.TB) tasks.Suite {
	t.Helper()
	s, err := tasks.Load("smoke")
	require.NoError(t, err)
	return s
}

// harness runs a suite against a reference server and returns the attempts.
type harness struct {
	suite  tasks.Suite
	server *reference.Server
	opts   Options
}

func newHarness(t testing.TB, suite tasks.Suite) *harness {
	return &harness{suite: suite, server: reference.New(suite), opts: Options{RunID: "test", RunDir: t.TempDir(), Parallel: 4, Repeat: 1}}
}

func (h *harness) run(t testing.TB, ctx context.Context) []results.Attempt {
	t.Helper()
	srv := httptest.NewServer(h.server)
	defer srv.Close()
	r, err := New(h.suite, h.opts)
	require.NoError(t, err)
	temp := float32(0.3)
	require.NoError(t, r.RunModel(ctx, Model{Name: "m", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", ""), Temperature: &temp, ToolChoice: "auto"}))
	require.NoError(t, r.Close())
	got, warnings, err := results.ReadAttempts(h.opts.RunDir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	return got
}

func TestSmokeAgainstReferencePasses(t *testing.T) {
	h := newHarness(t, smoke(t))
	var mu sync.Mutex
	var seen []string
	h.server.Intercept = func(_ http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%v/%v/%d", req.Temperature, req.ToolChoice, len(req.Tools)))
		return false
	}
	got := h.run(t, context.Background())
	require.Len(t, got, 5)
	for _, a := range got {
		require.Equal(t, results.StatusPass, a.Status, "%s: %s %s", a.Task, a.FailureClass, a.Reason)
		require.Positive(t, a.WallSeconds)
		require.NotEmpty(t, a.Checks)
		require.Equal(t, len(a.Requests), a.Turns)
		require.Positive(t, a.TokensIn)
		require.Positive(t, a.TokensOut)
		require.FileExists(t, filepath.Join(h.opts.RunDir, a.Transcript))
	}
	for _, s := range seen {
		require.Equal(t, "0.3/auto/4", s, "local-model defaults reach every request")
	}
}

func TestRepeatsAndTranscripts(t *testing.T) {
	h := newHarness(t, smoke(t))
	h.opts.Repeat = 3
	got := h.run(t, context.Background())
	require.Len(t, got, 15)
	keys := map[string]bool{}
	for _, a := range got {
		keys[a.Key()] = true
	}
	require.Len(t, keys, 15, "one line per attempt")
	b, err := os.ReadFile(filepath.Join(h.opts.RunDir, "transcripts", "m", "code-fix-r2.json"))
	require.NoError(t, err)
	var tr struct {
		Messages []openai.ChatCompletionMessage `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(b, &tr))
	require.Len(t, tr.Messages, 2+5+4, "system, user, 5 assistant turns, 4 tool results")
	require.Equal(t, openai.ChatMessageRoleTool, tr.Messages[3].Role)
	require.Contains(t, tr.Messages[3].Content, "FAILED", "the first test run fails before the fix")
}

const oneTask = `id: t1
prompt: write ok.txt
max_turns: 3
timeout: 5s
checks:
  - file_exists: ok.txt
reference:
  - tool: write_file
    args: {path: ok.txt, content: ok}
  - answer: done
`

func oneTaskSuite(t testing.TB, y string) tasks.Suite {
	return tasks.Suite{Name: "one", Tasks: []tasks.Task{mustTask(t, y)}}
}

// reply writes a chat completion with the given message.
func reply(w http.ResponseWriter, msg openai.ChatCompletionMessage) {
	msg.Role = openai.ChatMessageRoleAssistant
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(openai.ChatCompletionResponse{ID: "x", Object: "chat.completion",
		Choices: []openai.ChatCompletionChoice{{Message: msg}}, Usage: openai.Usage{PromptTokens: 10, CompletionTokens: 2}})
}

func toolCall(id, name, args string) openai.ChatCompletionMessage {
	return openai.ChatCompletionMessage{ToolCalls: []openai.ToolCall{{ID: id, Type: openai.ToolTypeFunction, Function: openai.FunctionCall{Name: name, Arguments: args}}}}
}

func TestToolErrorsGoBackToTheModel(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, oneTask))
	var toolMsgs []string
	h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, turn int) bool {
		switch turn {
		case 0:
			reply(w, toolCall("a", "launch_missiles", `{}`))
		case 1:
			toolMsgs = append(toolMsgs, req.Messages[len(req.Messages)-1].Content)
			reply(w, toolCall("b", "write_file", `{"path": "ok.txt", "content": `))
		default:
			toolMsgs = append(toolMsgs, req.Messages[len(req.Messages)-1].Content)
			return false // the reference takes over: its turn 2 is the answer
		}
		return true
	}
	got := h.run(t, context.Background())
	require.Len(t, got, 1)
	a := got[0]
	require.Equal(t, 2, a.ToolErrors)
	require.Equal(t, 2, a.ToolCalls)
	require.Equal(t, results.StatusFail, a.Status, "ok.txt was never written")
	require.Equal(t, results.ClassBadToolArguments, a.FailureClass)
	require.Contains(t, toolMsgs[0], `unknown tool "launch_missiles"`)
	require.Contains(t, toolMsgs[1], "arguments are not a JSON object")
}

func TestMaxTurns(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, oneTask))
	h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, turn int) bool {
		reply(w, toolCall(fmt.Sprint("c", turn), "bash", `{"command":"true"}`))
		return true
	}
	a := h.run(t, context.Background())[0]
	require.Equal(t, results.StatusFail, a.Status)
	require.Equal(t, results.ClassMaxTurns, a.FailureClass)
	require.Equal(t, 3, a.Turns)
	require.Equal(t, 3, a.ToolCalls)
}

func TestServerMisbehaviour(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(w http.ResponseWriter)
		status results.Status
		class  string
	}{
		{"garbage body", func(w http.ResponseWriter) { w.Write([]byte("<html>not json")) }, results.StatusError, results.ClassServerError},
		{"no choices", func(w http.ResponseWriter) { w.Write([]byte(`{"id":"x","choices":[]}`)) }, results.StatusError, results.ClassServerError},
		{"503", func(w http.ResponseWriter) {
			w.WriteHeader(503)
			w.Write([]byte(`{"error":{"message":"overloaded","type":"server_error","code":503}}`))
		}, results.StatusError, results.ClassServerError},
		{"429", func(w http.ResponseWriter) {
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"message":"slow down","type":"rate_limit","code":"429"}}`))
		}, results.StatusError, results.ClassRateLimited},
		{"context length", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}`))
		}, results.StatusFail, results.ClassContextLength},
		{"tool call as text", func(w http.ResponseWriter) {
			reply(w, openai.ChatCompletionMessage{Content: `<tool_call>{"name": "write_file", "arguments": {"path": "ok.txt"}}</tool_call>`})
		}, results.StatusFail, results.ClassToolCallAsText},
		{"empty answer", func(w http.ResponseWriter) { reply(w, openai.ChatCompletionMessage{}) }, results.StatusFail, results.ClassNoFinalAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, oneTaskSuite(t, oneTask))
			h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, _ int) bool {
				tc.handle(w)
				return true
			}
			a := h.run(t, context.Background())[0]
			require.Equal(t, tc.status, a.Status, a.Reason)
			require.Equal(t, tc.class, a.FailureClass, a.Reason)
			require.NotContains(t, a.Reason, "\n")
		})
	}
}

func TestAttemptTimeout(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, strings.Replace(oneTask, "timeout: 5s", "timeout: 200ms", 1)))
	h.server.Latency = 10 * time.Second
	start := time.Now()
	a := h.run(t, context.Background())[0]
	require.Equal(t, results.StatusTimeout, a.Status)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestCancelledRunRecordsEveryAttempt(t *testing.T) {
	h := newHarness(t, smoke(t))
	h.opts.Parallel = 1
	ctx, cancel := context.WithCancel(context.Background())
	h.server.Intercept = func(http.ResponseWriter, *http.Request, *openai.ChatCompletionRequest, int) bool {
		cancel()
		return false
	}
	got := h.run(t, ctx)
	require.Len(t, got, 5, "every attempt has a line")
	for _, a := range got {
		require.Equal(t, results.StatusError, a.Status)
		require.Equal(t, results.ClassCancelled, a.FailureClass)
	}
}

func TestValidateCatchesUnsoundTasks(t *testing.T) {
	sound := mustTask(t, oneTask)
	passesEmpty := mustTask(t, `id: seeded
prompt: create hello.py
setup: [{path: hello.py, content: "print(1)"}]
checks: [{file_exists: hello.py}]
reference: [{answer: done}]
`)
	echoes := mustTask(t, `id: echo
prompt: what is the colour of the sky?
checks: [{answer_contains: colour}]
reference: [{answer: the colour is blue}]
`)
	brokenRef := mustTask(t, `id: broken
prompt: make x
checks: [{file_exists: x}]
reference: [{tool: write_file, args: {path: y, content: "1"}}, {answer: done}]
`)
	got := Validate(context.Background(), tasks.Suite{Tasks: []tasks.Task{sound, passesEmpty, echoes, brokenRef}}, nil, t.TempDir())
	require.Len(t, got, 4)
	require.True(t, got[0].Sound())
	require.False(t, got[1].Sound())
	require.False(t, got[1].NothingFails)
	require.True(t, got[2].NothingFails)
	require.False(t, got[2].EchoFails)
	require.False(t, got[2].Sound())
	require.False(t, got[3].ReferencePasses)
	require.False(t, got[3].Sound())
}

func TestSmokeSuiteIsSound(t *testing.T) {
	for _, v := range Validate(context.Background(), smoke(t), nil, t.TempDir()) {
		require.True(t, v.Sound(), "%s: %+v", v.Task, v)
	}
}
