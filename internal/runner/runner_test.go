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
// Its retry policy is fast and its waits are recorded, not spent.
type harness struct {
	suite      tasks.Suite
	server     *reference.Server
	opts       Options
	noStream   bool
	clientOpts []ClientOption
	model      string // the model's name; "" is "m"

	mu    sync.Mutex
	waits []time.Duration
}

func newHarness(t testing.TB, suite tasks.Suite) *harness {
	h := &harness{suite: suite, server: reference.New(suite), opts: Options{RunID: "test", RunDir: t.TempDir(), Parallel: 4, Repeat: 1}}
	h.opts.Retry = RetryPolicy{Max: 4, Base: time.Millisecond, Cap: 8 * time.Millisecond, Sleep: h.sleep}
	return h
}

func (h *harness) sleep(ctx context.Context, d time.Duration) error {
	h.mu.Lock()
	h.waits = append(h.waits, d)
	h.mu.Unlock()
	return context.Cause(ctx)
}

func (h *harness) recordedWaits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.waits...)
}

func (h *harness) run(t testing.TB, ctx context.Context) []results.Attempt {
	t.Helper()
	srv := httptest.NewServer(h.server)
	defer srv.Close()
	r, err := New(h.suite, h.opts)
	require.NoError(t, err)
	temp := float32(0.3)
	name := h.model
	if name == "" {
		name = "m"
	}
	m := Model{Name: name, ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", "", h.clientOpts...), Temperature: &temp, ToolChoice: "auto", NoStream: h.noStream}
	require.NoError(t, r.RunModel(ctx, m))
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

// A model's name as long as --model-name takes (longer than a file name may
// be) still names its transcripts' folder, cut, and names that differ only
// past the cut have folders of their own.
func TestALongModelNameKeepsItsTranscripts(t *testing.T) {
	long := "org/" + strings.Repeat("a", 300)
	folders := map[string]bool{}
	for _, name := range []string{long + "-one", long + "-two"} {
		h := newHarness(t, oneTaskSuite(t, oneTask))
		h.model = name
		got := h.run(t, context.Background())
		require.Len(t, got, 1)
		require.NotEmpty(t, got[0].Transcript, "the transcript was written")
		require.FileExists(t, filepath.Join(h.opts.RunDir, got[0].Transcript))
		folder := filepath.Base(filepath.Dir(got[0].Transcript))
		require.LessOrEqual(t, len(folder), 128)
		require.True(t, strings.HasPrefix(folder, "org_aaa"), folder)
		folders[folder] = true
	}
	require.Len(t, folders, 2)
}

// A transcript that cannot be written is said, not dropped without a word;
// the attempt stands.
func TestATranscriptThatCannotBeWrittenIsSaid(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, oneTask))
	var warnings []string
	h.opts.OnWarning = func(s string) { warnings = append(warnings, s) }
	task := h.suite.Tasks[0].ID
	// A folder that is not empty where the transcript goes: it is not removed.
	require.NoError(t, os.MkdirAll(filepath.Join(h.opts.RunDir, results.TranscriptsDir, "m", task+"-r0.json", "x"), 0o755))
	got := h.run(t, context.Background())
	require.Len(t, got, 1)
	require.Equal(t, results.StatusPass, got[0].Status, got[0].Reason)
	require.Empty(t, got[0].Transcript)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "m "+task+" r0: its transcript could not be written")
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

// shortTimeout is oneTask with a timeout shorter than a task file may set
// (tasks.MinTimeout), for tests that wait for it.
func shortTimeout(t testing.TB, d time.Duration) tasks.Suite {
	s := oneTaskSuite(t, oneTask)
	s.Tasks[0].Timeout = d
	return s
}

// writeReply answers req with msg, streamed when req asks for it.
func writeReply(w http.ResponseWriter, req *openai.ChatCompletionRequest, msg openai.ChatCompletionMessage) {
	reference.WriteReply(w, req, msg, reference.Shape{})
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
			writeReply(w, req, toolCall("a", "launch_missiles", `{}`))
		case 1:
			toolMsgs = append(toolMsgs, req.Messages[len(req.Messages)-1].Content)
			writeReply(w, req, toolCall("b", "write_file", `{"path": "ok.txt", "content": `))
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
	h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, turn int) bool {
		writeReply(w, req, toolCall(fmt.Sprint("c", turn), "bash", `{"command":"true"}`))
		return true
	}
	a := h.run(t, context.Background())[0]
	require.Equal(t, results.StatusFail, a.Status)
	require.Equal(t, results.ClassMaxTurns, a.FailureClass)
	require.Equal(t, 3, a.Turns)
	require.Equal(t, 3, a.ToolCalls)
}

func TestServerMisbehaviour(t *testing.T) {
	type handler = func(w http.ResponseWriter, req *openai.ChatCompletionRequest)
	status := func(code int, body string) handler {
		return func(w http.ResponseWriter, _ *openai.ChatCompletionRequest) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			w.Write([]byte(body))
		}
	}
	for _, tc := range []struct {
		name    string
		handle  handler
		status  results.Status
		class   string
		retries int
		reason  string
	}{
		// A 200 that is not JSON (an upstream proxy's page) is safe to send again.
		{"garbage body", func(w http.ResponseWriter, _ *openai.ChatCompletionRequest) { w.Write([]byte("<html>not json")) },
			results.StatusError, results.ClassServerError, 4, "the body is not JSON: <html>not json (gave up after 4 retries)"},
		{"no choices", func(w http.ResponseWriter, req *openai.ChatCompletionRequest) {
			if req.Stream {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write([]byte("data: {\"id\":\"x\",\"choices\":[]}\n\ndata: [DONE]\n\n"))
				return
			}
			w.Write([]byte(`{"id":"x","choices":[]}`))
		}, results.StatusError, results.ClassServerError, 0, "no choices"},
		{"503 every time", status(503, `{"error":{"message":"overloaded","type":"server_error","code":503}}`),
			results.StatusError, results.ClassServerError, 4, "HTTP 503: overloaded (gave up after 4 retries)"},
		{"429 every time", status(429, `{"error":{"message":"slow down","type":"rate_limit","code":"429"}}`),
			results.StatusError, results.ClassRateLimited, 4, "HTTP 429: slow down"},
		{"LiteLLM error with odd fields", status(502, `{"error":{"message":{"upstream":"vllm"},"type":null,"code":null}}`),
			results.StatusError, results.ClassServerError, 4, `HTTP 502: {"upstream":"vllm"}`},
		{"context length (llama.cpp)", status(400, `{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}`),
			results.StatusFail, results.ClassContextLength, 0, ""},
		{"context length (raw vLLM)", status(400, `{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}`),
			results.StatusFail, results.ClassContextLength, 0, "HTTP 400: This model's maximum context length"},
		{"context length (LiteLLM, as a 500)", status(500, `{"error":{"message":"litellm.ContextWindowExceededError: context_length_exceeded","type":null,"param":null,"code":"500"}}`),
			results.StatusFail, results.ClassContextLength, 0, ""},
		{"400 is not retried", status(400, `{"error":{"message":"bad tool schema","type":"invalid_request_error","code":"400"}}`),
			results.StatusError, results.ClassServerError, 0, "HTTP 400: bad tool schema"},
		{"tool call as text", func(w http.ResponseWriter, req *openai.ChatCompletionRequest) {
			writeReply(w, req, openai.ChatCompletionMessage{Content: `<tool_call>{"name": "write_file", "arguments": {"path": "ok.txt"}}</tool_call>`})
		}, results.StatusFail, results.ClassToolCallAsText, 0, ""},
		{"empty answer", func(w http.ResponseWriter, req *openai.ChatCompletionRequest) {
			writeReply(w, req, openai.ChatCompletionMessage{})
		},
			results.StatusFail, results.ClassNoFinalAnswer, 0, ""},
	} {
		for _, stream := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.name, stream), func(t *testing.T) {
				h := newHarness(t, oneTaskSuite(t, oneTask))
				h.noStream = !stream
				h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
					require.Equal(t, stream, req.Stream)
					tc.handle(w, req)
					return true
				}
				a := h.run(t, context.Background())[0]
				require.Equal(t, tc.status, a.Status, a.Reason)
				require.Equal(t, tc.class, a.FailureClass, a.Reason)
				require.Equal(t, tc.retries, a.Retries, a.Reason)
				require.EqualValues(t, tc.retries+1, h.server.Requests(), "every try reached the server")
				require.Contains(t, a.Reason, tc.reason)
				require.NotContains(t, a.Reason, "\n")
				require.Len(t, a.Requests, 1)
				require.Equal(t, tc.retries, a.Requests[0].Retries)
				require.Len(t, a.Requests[0].Retried, tc.retries)
			})
		}
	}
}

// A model still answering when the task's time runs out has timed out: the
// server had begun its reply (the status line, in either mode), so the time
// went to the model's generation.
func TestAttemptTimeout(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.suite = shortTimeout(t, 200*time.Millisecond)
		h.server.Intercept = func(w http.ResponseWriter, r *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
			if req.Stream {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write([]byte(`data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"thinking"}}]}` + "\n\n"))
			} else {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
			}
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		}
		start := time.Now()
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusTimeout, a.Status, a.Reason)
		require.Equal(t, results.ClassTimeout, a.FailureClass)
		require.Equal(t, "the attempt ran past its timeout", a.Reason)
		require.Less(t, time.Since(start), 5*time.Second)
	})
}

// A server that never begins to answer (no status line before the task's
// time runs out) is the server's fault: error / no_response, not the model's
// timeout, whichever mode.
func TestServerThatNeverAnswers(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.suite = shortTimeout(t, 200*time.Millisecond)
		h.server.Latency = 10 * time.Second
		h.opts.RequestTimeout = time.Minute // longer than the task: the attempt's timeout comes first
		start := time.Now()
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusError, a.Status, a.Reason)
		require.Equal(t, results.ClassNoResponse, a.FailureClass)
		require.Contains(t, a.Reason, "the server sent no reply")
		require.Less(t, time.Since(start), 5*time.Second)
	})
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

// A reference slower than its task's timeout is no sound task: in a run
// every attempt, the model's as the reference's, would time out.
func TestValidateHoldsTheReferenceToTheTasksTimeout(t *testing.T) {
	slow := mustTask(t, `id: slow
prompt: make done
timeout: 1s
checks: [{file_exists: done}]
reference: [{tool: bash, args: {command: "sleep 20; touch done"}}, {answer: ok}]
`)
	start := time.Now()
	got := Validate(context.Background(), tasks.Suite{Tasks: []tasks.Task{slow}}, nil, t.TempDir())
	require.Less(t, time.Since(start), 10*time.Second, "stopped at the timeout, not at the end of the sleep")
	require.False(t, got[0].Sound())
	require.False(t, got[0].ReferencePasses)
	require.EqualError(t, got[0].Err, "step 1 (bash) was still running when the task's timeout (1s) ran out")
}

func TestSmokeSuiteIsSound(t *testing.T) {
	for _, v := range Validate(context.Background(), smoke(t), nil, t.TempDir()) {
		require.True(t, v.Sound(), "%s: %+v", v.Task, v)
	}
}

// TestValidateWrongSolutions: a wrong solution that passes, or a check that
// no wrong solution nor the empty attempt fails, makes a task unsound.
func TestValidateWrongSolutions(t *testing.T) {
	const base = `prompt: write "hi" and a newline to out.txt
checks:
  - file_exists: out.txt
  - command: {run: "printf 'hi\n' | cmp - out.txt"}
reference:
  - tool: write_file
    args: {path: out.txt, content: "hi\n"}
  - answer: done
`
	caught := mustTask(t, "id: caught\n"+base+`wrong:
  - name: no newline
    steps:
      - tool: write_file
        args: {path: out.txt, content: "hi"}
      - answer: done
`)
	passing := mustTask(t, "id: passing\n"+base+`wrong:
  - name: same as reference
    steps:
      - tool: write_file
        args: {path: out.txt, content: "hi\n"}
      - answer: done
`)
	// file_exists fails for the empty attempt; the command check fails for
	// nothing but the wrong solution; an answer check no try fails is dead.
	dead := mustTask(t, "id: dead\n"+base+`wrong:
  - name: no newline
    steps:
      - tool: write_file
        args: {path: out.txt, content: "hi"}
      - answer: done
`)
	dead.Checks = append(dead.Checks, tasks.Check{AnswerNotContains: "banana"})
	got := Validate(context.Background(), tasks.Suite{Tasks: []tasks.Task{caught, passing, dead}}, nil, t.TempDir())
	require.Len(t, got, 3)

	require.True(t, got[0].Sound(), "%+v", got[0])
	require.Len(t, got[0].Tries, 3)
	require.Equal(t, "wrong: no newline", got[0].Tries[2].Name)
	require.Equal(t, []int{1}, got[0].Tries[2].Failed, "only the exact-bytes check catches the missing newline")
	require.Equal(t, []int{0, 1}, got[0].Tries[0].Failed)
	require.Empty(t, got[0].Dead)

	require.False(t, got[1].Sound())
	require.Empty(t, got[1].Tries[2].Failed)
	require.Empty(t, got[1].Dead, "the empty attempt fails both checks")

	require.False(t, got[2].Sound())
	require.Equal(t, []int{2}, got[2].Dead)
}

// TestCoreSuiteIsSound: every core task's reference passes, and doing
// nothing, echoing the prompt and each wrong solution fail, with no dead check.
func TestCoreSuiteIsSound(t *testing.T) {
	t.Parallel() // long, and it shares nothing with the other tests
	if testing.Short() {
		t.Skip("runs every core task's solutions")
	}
	s, err := tasks.Load("core")
	require.NoError(t, err)
	for _, v := range Validate(context.Background(), s, nil, t.TempDir()) {
		require.True(t, v.Sound(), "%s: %+v", v.Task, v)
	}
}

// A task id near a file name's length (a suite built in code, not read from
// a file, which caps ids at tasks.MaxIDLength) still gets its workspace:
// the folder's name is cut, and the attempt is judged, not failed as the
// server's.
func TestALongTaskIDStillGetsAWorkspace(t *testing.T) {
	s := oneTaskSuite(t, oneTask)
	s.Tasks[0].ID = strings.Repeat("a", 240)
	h := newHarness(t, s)
	a := h.run(t, context.Background())
	require.Len(t, a, 1)
	require.Equal(t, results.StatusPass, a[0].Status, "%s: %s", a[0].FailureClass, a[0].Reason)
}
