package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// failFirst makes the first n chat requests fail with fail, then lets the
// reference server answer.
func failFirst(n int64, fail func(w http.ResponseWriter)) func(http.ResponseWriter, *http.Request, *openai.ChatCompletionRequest, int) bool {
	var seen atomic.Int64
	return func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, _ int) bool {
		if seen.Add(1) > n {
			return false
		}
		fail(w)
		return true
	}
}

func bothModes(t *testing.T, f func(t *testing.T, h *harness)) {
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			h := newHarness(t, oneTaskSuite(t, oneTask))
			h.noStream = !stream
			f(t, h)
		})
	}
}

func TestBurstOf429HonoursRetryAfter(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.server.Intercept = failFirst(3, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"message":"litellm.RateLimitError: too many requests","type":"throttling_error","code":429}}`))
		})
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
		require.Equal(t, 3, a.Retries)
		require.Equal(t, 3, a.Requests[0].Retries)
		require.Zero(t, a.Requests[1].Retries)
		waits := h.recordedWaits()
		require.Len(t, waits, 3)
		for _, w := range waits {
			require.GreaterOrEqual(t, w, 2*time.Second, "Retry-After is a floor")
		}
		require.InDelta(t, 6, a.Requests[0].RetryWait, 0.01)
		require.Len(t, a.Requests[0].Retried, 3)
		require.Contains(t, a.Requests[0].Retried[0], "HTTP 429: litellm.RateLimitError: too many requests; retried after 2.0s")
		require.Less(t, a.Requests[0].Total, 2.0, "latency is the answering try's, not the backoff's")
	})
}

func Test503sThenSuccess(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.server.Intercept = failFirst(3, func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"object":"error","message":"Service Unavailable","type":"ServiceUnavailableError","param":null,"code":503}`))
		})
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
		require.Equal(t, 3, a.Retries)
		// Exponential with jitter: retry n waits between half and all of base·2^n, capped.
		p := h.opts.Retry
		for n, w := range h.recordedWaits() {
			full := min(p.Base<<n, p.Cap)
			require.GreaterOrEqual(t, w, full/2, "retry %d", n)
			require.LessOrEqual(t, w, full, "retry %d", n)
		}
	})
}

func TestConnectionResetBeforeTheFirstByteIsRetried(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		// Aborting the handler before writing anything closes the connection.
		h.server.Intercept = failFirst(2, func(http.ResponseWriter) { panic(http.ErrAbortHandler) })
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
		require.Equal(t, 2, a.Retries)
		require.Contains(t, a.Requests[0].Retried[0], "EOF")
	})
}

func TestRetryBudgetIsPerAttempt(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, oneTask))
	// Every request fails three times before it succeeds: the budget of 4
	// runs out on the second request of the attempt, after one retry there.
	var n atomic.Int64
	h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, _ int) bool {
		if n.Add(1)%4 == 0 {
			return false
		}
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	a := h.run(t, context.Background())[0]
	require.Equal(t, results.StatusError, a.Status)
	require.Equal(t, results.ClassServerError, a.FailureClass)
	require.Equal(t, 4, a.Retries)
	require.Contains(t, a.Reason, "HTTP 502")
	require.Contains(t, a.Reason, "gave up after 4 retries")
	require.Len(t, a.Requests, 2, "the first request succeeded after three retries, the second ran out")
	require.Equal(t, 3, a.Requests[0].Retries)
	require.Empty(t, a.Requests[0].Error)
	require.Equal(t, 1, a.Requests[1].Retries)
	require.Contains(t, a.Requests[1].Error, "gave up after 4 retries")
}

func TestRetryAfterBeyondTheAttemptIsNotWaitedFor(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, oneTask))
	h.server.Intercept = failFirst(1, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	a := h.run(t, context.Background())[0]
	require.Equal(t, results.StatusError, a.Status)
	require.Equal(t, results.ClassRateLimited, a.FailureClass)
	require.Contains(t, a.Reason, "would start after the attempt's timeout")
	require.Empty(t, h.recordedWaits())
}

// A reply cut before it was complete was never acted on: it is sent again,
// within the attempt's budget, and every retry is recorded.
func TestTornReplyIsRetried(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		var n atomic.Int64
		h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
			if n.Add(1) > 2 {
				return false
			}
			reference.WriteReply(w, req, toolCall("a", "write_file", `{"path": "ok.txt", "content": "ok"}`), reference.Shape{Fragment: 2, CutAfter: 4})
			return true
		}
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
		require.Equal(t, 2, a.Retries)
		require.Len(t, a.Requests[0].Retried, 2)
		require.Contains(t, a.Requests[0].Retried[0], "before the reply was complete")
	})
}

func TestTornEveryTimeGivesUp(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
			reference.WriteReply(w, req, toolCall("a", "write_file", `{"path": "ok.txt", "content": "ok"}`), reference.Shape{Fragment: 2, CutAfter: 4})
			return true
		}
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusError, a.Status, a.Reason)
		require.Equal(t, results.ClassServerError, a.FailureClass)
		require.Equal(t, 4, a.Retries)
		require.EqualValues(t, 5, h.server.Requests())
		require.Contains(t, a.Reason, "gave up after 4 retries")
		if !h.noStream {
			require.Contains(t, a.Reason, "the stream broke before the reply was complete")
		}
	})
}

// A server that cuts every 4th stream (or body) after its first chunk and
// answers every 5th request with a 200 HTML page costs retries, never passes.
func TestFlakyServerPassesAsManyAsACleanOne(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			passes := func(flaky bool) (int, int) {
				h := newHarness(t, smoke(t))
				h.noStream = !stream
				h.opts.Retry.Max = DefaultRetry.Max
				h.opts.Parallel = 1 // the same requests meet the same faults every run
				var n atomic.Int64
				if flaky {
					h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, _ int) bool {
						if n.Add(1)%5 != 0 {
							return false
						}
						w.Header().Set("Content-Type", "text/html")
						w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
						return true
					}
					h.server.CutEvery = 4
				}
				pass, retries := 0, 0
				for _, a := range h.run(t, context.Background()) {
					if a.Status == results.StatusPass {
						pass++
					}
					retries += a.Retries
				}
				return pass, retries
			}
			clean, cleanRetries := passes(false)
			flaky, flakyRetries := passes(true)
			require.Positive(t, clean)
			require.Zero(t, cleanRetries)
			require.Equal(t, clean, flaky)
			require.Positive(t, flakyRetries, "the faults happened and were retried")
		})
	}
}

func TestStreamWithoutDone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shape  reference.Shape
		status results.Status
	}{
		{"finish reason but no [DONE]", reference.Shape{NoDone: true}, results.StatusPass},
		{"[DONE] but no finish reason", reference.Shape{NoFinish: true}, results.StatusPass},
		{"neither: cut at a chunk boundary, every time", reference.Shape{NoFinish: true, NoDone: true}, results.StatusError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, oneTaskSuite(t, oneTask))
			h.server.Shape = tc.shape
			a := h.run(t, context.Background())[0]
			require.Equal(t, tc.status, a.Status, a.Reason)
			if tc.status == results.StatusError {
				require.Equal(t, 4, a.Retries, "a cut stream is sent again")
				require.Equal(t, results.ClassServerError, a.FailureClass)
				require.Equal(t, "the stream ended before the reply was complete (no finish_reason) (gave up after 4 retries)", a.Reason)
			} else {
				require.Zero(t, a.Retries)
			}
		})
	}
}

func TestToolCallArgumentsSplitAcrossManyDeltas(t *testing.T) {
	h := newHarness(t, smoke(t))
	h.server.Shape = reference.Shape{Fragment: 1} // one rune per delta
	for _, a := range h.run(t, context.Background()) {
		require.Equal(t, results.StatusPass, a.Status, "%s: %s", a.Task, a.Reason)
		for _, r := range a.Requests {
			require.True(t, r.Stream)
			require.Positive(t, r.TTFT)
			require.GreaterOrEqual(t, r.Total, r.TTFT)
			require.Positive(t, r.TokensOut)
		}
	}
}

func TestTwoToolCallsInOneTurn(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, turn int) bool {
			if turn > 0 {
				// The reference server refuses a history whose tool calls
				// lack their tool messages, so reaching here proves both ids.
				writeReply(w, req, openai.ChatCompletionMessage{Content: "done"})
				return true
			}
			msg := toolCall("call_w", "write_file", `{"path": "ok.txt", "content": "ok"}`)
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: "call_l", Type: openai.ToolTypeFunction,
				Function: openai.FunctionCall{Name: "list_dir", Arguments: `{"path": "."}`}})
			reference.WriteReply(w, req, msg, reference.Shape{Fragment: 3})
			return true
		}
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
		require.Equal(t, 2, a.Turns)
		require.Equal(t, 2, a.ToolCalls)
		require.Equal(t, `list_dir {"path": "."}`, a.LastToolCall)
		require.Contains(t, a.LastToolOutput, "ok.txt", "the calls ran in order")
	})
}

func TestInvalidJSONArgumentsInAStream(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, oneTask))
	h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, turn int) bool {
		if turn == 0 {
			reference.WriteReply(w, req, toolCall("a", "write_file", `{"path": "ok.txt", "content": "ok"`), reference.Shape{Fragment: 1})
			return true
		}
		writeReply(w, req, openai.ChatCompletionMessage{Content: "done"})
		return true
	}
	a := h.run(t, context.Background())[0]
	require.Equal(t, results.StatusFail, a.Status)
	require.Equal(t, results.ClassBadToolArguments, a.FailureClass)
	require.Equal(t, 1, a.ToolErrors)
}

func TestModalRedirectChain(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.server.Redirects = 12 // beyond Go's default limit of 10
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
		require.Zero(t, a.Retries)
	})
	t.Run("past the startup timeout", func(t *testing.T) {
		h := newHarness(t, oneTaskSuite(t, oneTask))
		h.server.Redirects = 3
		h.clientOpts = []ClientOption{FollowRedirectsFor(0)}
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusError, a.Status)
		require.Equal(t, results.ClassServerError, a.FailureClass)
		require.Contains(t, a.Reason, "still redirected when the model's startup timeout ran out")
		require.Zero(t, a.Retries, "a model that is still starting is not asked again")
	})
}

func TestRequestTimeout(t *testing.T) {
	t.Run("before the first byte: retried", func(t *testing.T) {
		h := newHarness(t, oneTaskSuite(t, oneTask))
		h.opts.RequestTimeout = 50 * time.Millisecond
		h.server.Latency = time.Minute
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusError, a.Status)
		require.Equal(t, results.ClassServerError, a.FailureClass)
		require.Equal(t, 4, a.Retries)
		require.Contains(t, a.Reason, "no reply within the request timeout (50ms)")
	})
	t.Run("mid-stream: not retried", func(t *testing.T) {
		h := newHarness(t, oneTaskSuite(t, oneTask))
		h.opts.RequestTimeout = 100 * time.Millisecond
		h.server.Intercept = func(w http.ResponseWriter, r *http.Request, _ *openai.ChatCompletionRequest, _ int) bool {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte(`data: {"choices":[{"index":0,"delta":{"content":"thinking"}}]}` + "\n\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // stall until the client gives up
			return true
		}
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusError, a.Status)
		require.Zero(t, a.Retries)
		require.Contains(t, a.Reason, "the reply did not finish within the request timeout (100ms)")
	})
}

func TestRunStopReasonReachesEveryAttempt(t *testing.T) {
	h := newHarness(t, smoke(t))
	h.opts.Parallel = 2
	ctx, cancel := context.WithCancelCause(context.Background())
	deadline := errors.New("the run's deadline (1h0m0s) passed")
	var started atomic.Int64
	h.server.Intercept = func(_ http.ResponseWriter, r *http.Request, _ *openai.ChatCompletionRequest, _ int) bool {
		if started.Add(1) == 2 {
			cancel(deadline)
		}
		return false
	}
	got := h.run(t, ctx)
	require.Len(t, got, 5)
	for _, a := range got {
		require.Equal(t, results.StatusError, a.Status)
		require.Equal(t, results.ClassCancelled, a.FailureClass)
		require.True(t, strings.HasPrefix(a.Reason, "cancelled: the run's deadline (1h0m0s) passed"), a.Reason)
	}
}

func TestDoneAttemptsAreNotRunAgain(t *testing.T) {
	h := newHarness(t, smoke(t))
	h.opts.Repeat = 2
	h.opts.Done = map[string]bool{
		results.Attempt{Model: "m", Task: "code-fix", Repeat: 1}.Key():     true,
		results.Attempt{Model: "m", Task: "math-simple", Repeat: 0}.Key():  true,
		results.Attempt{Model: "other", Task: "code-fix", Repeat: 0}.Key(): true,
	}
	got := h.run(t, context.Background())
	require.Len(t, got, 8)
	for _, a := range got {
		require.False(t, h.opts.Done[a.Key()], a.Key())
		require.Equal(t, results.StatusPass, a.Status)
	}
}

func TestStreamedRequestsReuseTheirConnection(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.opts.Parallel = 1
		h.opts.Repeat = 3
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(h.server)
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		defer srv.Close()
		r, err := New(h.suite, h.opts)
		require.NoError(t, err)
		m := Model{Name: "m", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", ""), NoStream: h.noStream}
		require.NoError(t, r.RunModel(context.Background(), m))
		require.NoError(t, r.Close())
		require.EqualValues(t, 6, h.server.Requests())
		require.EqualValues(t, 1, conns.Load(), "one connection for six requests made one after another")
	})
}

func TestCancelKillsToolProcessesInFlight(t *testing.T) {
	h := newHarness(t, oneTaskSuite(t, strings.Replace(oneTask, "timeout: 5s", "timeout: 5m", 1)))
	// Unisolated, so the tool can report its host pid through a file outside
	// the workspace: this is about the runner killing what it started, which
	// bubblewrap's PID namespace would do on its own.
	h.opts.Sandbox = sandbox.Plain{}
	// Run by root, the tool runs as a uid of its own: let it write there.
	pidDir := searchableDir(t)
	require.NoError(t, os.Chmod(pidDir, 0o777))
	pidFile := filepath.Join(pidDir, "pid")
	h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, turn int) bool {
		writeReply(w, req, toolCall("a", "bash", fmt.Sprintf(`{"command": "sleep 300 & echo $! > %s; wait"}`, pidFile)))
		return true
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	var pid int
	go func() {
		// Cancel once the tool's background process is running.
		pollFor(30*time.Second, func() bool {
			b, err := os.ReadFile(pidFile)
			if err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			return pid > 0
		})
		cancel(errors.New("interrupted"))
	}()
	start := time.Now()
	a := h.run(t, ctx)[0]
	require.Less(t, time.Since(start), 60*time.Second)
	require.Positive(t, pid, "the tool ran")
	require.Equal(t, results.StatusError, a.Status)
	require.Equal(t, results.ClassCancelled, a.FailureClass)
	require.Equal(t, "cancelled: interrupted", a.Reason)
	// The whole process group was killed: the background sleep is gone (or
	// a zombie waiting for a parent that does not reap).
	require.True(t, pollFor(10*time.Second, func() bool { return !alive(pid) }), "process %d survived", pid)
}

// pollFor checks cond every few milliseconds until it holds or d passes.
func pollFor(d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); <-tick.C {
		if cond() {
			return true
		}
	}
	return cond()
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// A final reply cut at the token limit (finish_reason "length") fails as
// cut off, not as an empty or wrong answer, streamed or not; a task whose
// checks pass still passes.
func TestAFinalReplyCutOffAtTheTokenLimit(t *testing.T) {
	for _, stream := range []bool{false, true} {
		for _, check := range []string{"file_exists: ok.txt", "answer_contains: finished"} {
			h := newHarness(t, oneTaskSuite(t, strings.Replace(oneTask, "file_exists: ok.txt", check, 1)))
			h.noStream = !stream
			h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, turn int) bool {
				if turn == 0 {
					return false // the reference's write_file call
				}
				if stream {
					w.Header().Set("Content-Type", "text/event-stream")
					_, _ = io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"fini"}}]}`+"\n\n"+
						`data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`+"\n\n"+"data: [DONE]\n\n")
					return true
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"fini"},"finish_reason":"length"}]}`)
				return true
			}
			a := h.run(t, context.Background())[0]
			if check == "file_exists: ok.txt" {
				require.Equal(t, results.StatusPass, a.Status, "stream %v: %s", stream, a.Reason)
				continue
			}
			require.Equal(t, results.StatusFail, a.Status, "stream %v: %s", stream, a.Reason)
			require.Equal(t, results.ClassCutOff, a.FailureClass, "stream %v: %s", stream, a.Reason)
			require.Contains(t, a.Reason, "finish_reason length")
		}
	}
}
