package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// gptOSS plays vLLM serving gpt-oss after vllm-project/vllm PR #27752: the
// reasoning of a reply is in `reasoning` (the old `reasoning_content` alias
// was later removed), and the Harmony input reads an earlier assistant turn's
// reasoning from `reasoning` (vllm/entrypoints/harmony_utils.py,
// parse_chat_input). It records, per request, the reasoning the earlier
// assistant turns carried back.
type gptOSS struct {
	mu       sync.Mutex
	received [][]string // per request: the reasoning of each assistant message sent
	both     bool       // also send reasoning_content, as vLLM did during the rename
}

func (g *gptOSS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream   bool `json:"stream"`
		Messages []struct {
			Role      string `json:"role"`
			Reasoning string `json:"reasoning"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []string
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			got = append(got, m.Reasoning)
		}
	}
	g.mu.Lock()
	g.received = append(g.received, got)
	g.mu.Unlock()
	turn := len(got)
	thought := fmt.Sprintf("turn %d: the file must say ok", turn)
	reasoning := func(s string) string {
		if g.both {
			return fmt.Sprintf(`"reasoning":%q,"reasoning_content":%q`, s, s)
		}
		return fmt.Sprintf(`"reasoning":%q`, s)
	}
	call := `{"index":0,"id":"call_1","type":"function","function":{"name":"write_file","arguments":"{\"path\":\"ok.txt\",\"content\":\"ok\"}"}}`
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		msg := `"content":"done"`
		finish := "stop"
		if turn == 0 {
			msg, finish = `"content":null,"tool_calls":[`+call+`]`, "tool_calls"
		}
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",%s,%s},"finish_reason":%q}],"usage":{"prompt_tokens":10,"completion_tokens":5}}`, reasoning(thought), msg, finish)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	ev := func(s string) { fmt.Fprintf(w, "data: %s\n\n", s) }
	ev(`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`)
	for _, piece := range []string{thought[:7], thought[7:]} {
		ev(`{"choices":[{"index":0,"delta":{` + reasoning(piece) + `}}]}`)
	}
	if turn == 0 {
		ev(`{"choices":[{"index":0,"delta":{"tool_calls":[` + call + `]}}]}`)
		ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`)
	} else {
		ev(`{"choices":[{"index":0,"delta":{"content":"done"}}]}`)
		ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
	}
	ev(`{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}`)
	ev(`[DONE]`)
}

// runAgainst runs the harness's suite against any handler.
func runAgainst(t *testing.T, h *harness, handler http.Handler) []results.Attempt {
	t.Helper()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	r, err := New(h.suite, h.opts)
	require.NoError(t, err)
	m := Model{Name: "m", ModelID: "gpt-oss", Client: NewClient(srv.URL+"/v1", "", h.clientOpts...), ToolChoice: "auto", NoStream: h.noStream}
	require.NoError(t, r.RunModel(context.Background(), m))
	require.NoError(t, r.Close())
	got, _, err := results.ReadAttempts(h.opts.RunDir)
	require.NoError(t, err)
	return got
}

func TestReasoningReachesTheNextTurn(t *testing.T) {
	for _, both := range []bool{false, true} {
		t.Run(fmt.Sprintf("both=%v", both), func(t *testing.T) {
			bothModes(t, func(t *testing.T, h *harness) {
				g := &gptOSS{both: both}
				a := runAgainst(t, h, g)[0]
				require.Equal(t, results.StatusPass, a.Status, a.Reason)
				require.Equal(t, [][]string{nil, {"turn 0: the file must say ok"}}, g.received,
					"turn 1 carries turn 0's reasoning back, once, under `reasoning`")
				if !h.noStream {
					require.Positive(t, a.Requests[0].TTFT)
				}
			})
		})
	}
}

// The first reasoning token is the first token: a reasoning model thinks
// before it answers, and that is the wait a user sees.
func TestFirstReasoningTokenIsTheFirstToken(t *testing.T) {
	for _, d := range []wireDelta{{Reasoning: "hm"}, {ReasoningContent: "hm"}} {
		var a assembler
		require.NoError(t, a.add(text(d)))
		require.Equal(t, 1, a.tokens)
		msg, err := a.message(true)
		require.NoError(t, err)
		require.Equal(t, "hm", msg.ReasoningContent)
	}
}
