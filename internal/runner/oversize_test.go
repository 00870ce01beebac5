package runner

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// Every reply is capped: a server cannot grow goatbench's memory, and an
// oversized reply is neither retried, nor echoed back, nor kept whole.
func TestOversizedRepliesFailTheAttempt(t *testing.T) {
	lim := Limits{Body: 4 << 20, Event: 64 << 10, Arguments: 32 << 10, ToolCalls: 8}
	huge := strings.Repeat("A", 200<<10)
	// Nine calls of a tool that costs nothing: each would run, and each
	// would add a message to every later request.
	nine := openai.ChatCompletionMessage{}
	for i := range 9 {
		nine.ToolCalls = append(nine.ToolCalls, toolCall(fmt.Sprint(i), "list_dir", `{"path":"."}`).ToolCalls...)
	}
	for _, tc := range []struct {
		name   string
		stream bool
		handle func(w http.ResponseWriter, req *openai.ChatCompletionRequest, wrote *atomic.Int64)
		reason string
	}{
		{"tool call arguments, streamed in small deltas", true, func(w http.ResponseWriter, req *openai.ChatCompletionRequest, _ *atomic.Int64) {
			writeReply(w, req, toolCall("a", "write_file", `{"path":"ok.txt","content":"`+huge+`"}`))
		}, "one tool call's arguments is over the 32768-byte limit"},
		{"tool call arguments, plain", false, func(w http.ResponseWriter, req *openai.ChatCompletionRequest, _ *atomic.Int64) {
			writeReply(w, req, toolCall("a", "write_file", `{"path":"ok.txt","content":"`+huge+`"}`))
		}, "one tool call's arguments is over the 32768-byte limit"},
		{"tool calls, streamed", true, func(w http.ResponseWriter, req *openai.ChatCompletionRequest, _ *atomic.Int64) {
			writeReply(w, req, nine)
		}, "more than 8 tool calls in one reply"},
		{"tool calls, plain", false, func(w http.ResponseWriter, req *openai.ChatCompletionRequest, _ *atomic.Int64) {
			writeReply(w, req, nine)
		}, "more than 8 tool calls in one reply"},
		{"a plain body", false, func(w http.ResponseWriter, req *openai.ChatCompletionRequest, _ *atomic.Int64) {
			writeReply(w, req, openai.ChatCompletionMessage{Content: strings.Repeat(huge, 24)})
		}, "the reply body is over the 4194304-byte limit"},
		{"an SSE line that never ends", true, func(w http.ResponseWriter, _ *openai.ChatCompletionRequest, wrote *atomic.Int64) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{"content":"`)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for range 2048 { // 64 MiB unless the client hangs up first
				if _, err := w.Write(chunk); err != nil {
					return
				}
				wrote.Add(int64(len(chunk)))
			}
		}, "one stream event is over the 65536-byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, oneTaskSuite(t, oneTask))
			h.noStream = !tc.stream
			h.clientOpts = []ClientOption{LimitReplies(lim)}
			var wrote atomic.Int64
			h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
				tc.handle(w, req, &wrote)
				return true
			}
			a := h.run(t, context.Background())[0]
			require.Equal(t, results.StatusFail, a.Status, a.Reason)
			require.Equal(t, results.ClassOversizedReply, a.FailureClass)
			require.Contains(t, a.Reason, tc.reason)
			require.Zero(t, a.Retries, "the same request would bring the same flood")
			require.EqualValues(t, 1, h.server.Requests(), "nothing of it went back to the server")
			require.Less(t, wrote.Load(), int64(16<<20), "the client hung up instead of reading on")
			if a.Transcript != "" {
				fi, err := os.Stat(filepath.Join(h.opts.RunDir, a.Transcript))
				require.NoError(t, err)
				require.Less(t, fi.Size(), int64(64<<10), "the transcript does not hold the reply")
			}
		})
	}
}
