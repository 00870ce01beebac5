package runner

import (
	"net/http"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"
)

func delta(calls ...wireToolCall) wireReply {
	return wireReply{Choices: []wireChoice{{Delta: wireDelta{ToolCalls: calls}}}}
}

func frag(index *int, id, name, args string) wireToolCall {
	tc := wireToolCall{Index: index, ID: id}
	tc.Function.Name, tc.Function.Arguments = name, args
	return tc
}

func text(d wireDelta) wireReply { return wireReply{Choices: []wireChoice{{Delta: d}}} }

func idx(i int) *int { return &i }

func TestAssemblerToolCallShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []wireReply
		want   []openai.ToolCall
	}{
		{"vLLM: name first, arguments in pieces", []wireReply{
			delta(frag(idx(0), "c1", "bash", "")), delta(frag(idx(0), "", "", `{"comm`)), delta(frag(idx(0), "", "", `and":"ls"}`)),
		}, []openai.ToolCall{{ID: "c1", Type: "function", Function: openai.FunctionCall{Name: "bash", Arguments: `{"command":"ls"}`}}}},
		{"two calls interleaved by index", []wireReply{
			delta(frag(idx(0), "a", "read_file", `{"pa`)), delta(frag(idx(1), "b", "list_dir", `{"path":`)),
			delta(frag(idx(0), "", "", `th":"x"}`)), delta(frag(idx(1), "", "", `"."}`)),
		}, []openai.ToolCall{
			{ID: "a", Type: "function", Function: openai.FunctionCall{Name: "read_file", Arguments: `{"path":"x"}`}},
			{ID: "b", Type: "function", Function: openai.FunctionCall{Name: "list_dir", Arguments: `{"path":"."}`}},
		}},
		{"name repeated in every fragment", []wireReply{
			delta(frag(idx(0), "c", "bash", `{"command":`)), delta(frag(idx(0), "c", "bash", `"ls"}`)),
		}, []openai.ToolCall{{ID: "c", Type: "function", Function: openai.FunctionCall{Name: "bash", Arguments: `{"command":"ls"}`}}}},
		{"name in pieces", []wireReply{
			delta(frag(idx(0), "c", "read_", "")), delta(frag(idx(0), "", "file", `{}`)),
		}, []openai.ToolCall{{ID: "c", Type: "function", Function: openai.FunctionCall{Name: "read_file", Arguments: `{}`}}}},
		{"no index: ids start calls, fragments follow the last", []wireReply{
			delta(frag(nil, "a", "bash", `{"command":"ls"}`)), delta(frag(nil, "b", "list_dir", `{"pa`)), delta(frag(nil, "", "", `th":"."}`)),
		}, []openai.ToolCall{
			{ID: "a", Type: "function", Function: openai.FunctionCall{Name: "bash", Arguments: `{"command":"ls"}`}},
			{ID: "b", Type: "function", Function: openai.FunctionCall{Name: "list_dir", Arguments: `{"path":"."}`}},
		}},
		{"two calls in one chunk", []wireReply{
			delta(frag(idx(0), "a", "bash", `{}`), frag(idx(1), "b", "bash", `{}`)),
		}, []openai.ToolCall{
			{ID: "a", Type: "function", Function: openai.FunctionCall{Name: "bash", Arguments: `{}`}},
			{ID: "b", Type: "function", Function: openai.FunctionCall{Name: "bash", Arguments: `{}`}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a assembler
			for i, c := range tc.chunks {
				require.NoError(t, a.add(c))
				require.Equal(t, i+1, a.tokens, "a tool-call fragment is a token")
			}
			msg, err := a.message(true)
			require.NoError(t, err)
			for i := range msg.ToolCalls {
				msg.ToolCalls[i].Index = nil
			}
			require.Equal(t, tc.want, msg.ToolCalls)
		})
	}
}

func TestAssemblerContentAndCompleteness(t *testing.T) {
	var a assembler
	require.NoError(t, a.add(text(wireDelta{})))
	require.Zero(t, a.tokens, "the role alone is not the first token")
	require.NoError(t, a.add(text(wireDelta{ReasoningContent: "hmm"})))
	require.Equal(t, 1, a.tokens)
	require.NoError(t, a.add(text(wireDelta{Content: "4"})))
	require.NoError(t, a.add(wireReply{Choices: []wireChoice{{Index: 1, Delta: wireDelta{Content: "other choice"}}}}))
	_, err := a.message(false)
	require.ErrorAs(t, err, new(streamCutError), "no finish reason and no [DONE]")
	require.NoError(t, a.add(wireReply{Choices: []wireChoice{{FinishReason: "stop"}}}))
	msg, err := a.message(false)
	require.NoError(t, err)
	require.Equal(t, "4", msg.Content)
	require.Equal(t, "hmm", msg.ReasoningContent)

	var empty assembler
	require.NoError(t, empty.add(wireReply{Usage: &wireUsage{CompletionTokens: 1}}))
	_, err = empty.message(true)
	require.ErrorContains(t, err, "the stream carried no choices")
}

func TestDecodeFailure(t *testing.T) {
	for _, tc := range []struct {
		body string
		want failure
	}{
		{`{"error":{"message":"slow down","type":"rate_limit","code":"429"}}`, failure{Message: "slow down", Type: "rate_limit", Code: "429"}},
		{`{"error":{"message":"slow down","type":null,"code":429}}`, failure{Message: "slow down", Code: "429"}},
		{`{"object":"error","message":"maximum context length is 4096","type":"BadRequestError","param":null,"code":400}`,
			failure{Message: "maximum context length is 4096", Type: "BadRequestError", Code: "400"}},
		{`{"error":"model not found"}`, failure{Message: "model not found"}},
		{`{"detail":"Not Found"}`, failure{Message: "Not Found"}},
		{`{"error":{"message":["a","b"],"code":{"x":1}}}`, failure{Message: `["a","b"]`, Code: `{"x":1}`}},
		{"<html>\n<h1>502 Bad Gateway</h1></html>", failure{Message: "<html> <h1>502 Bad Gateway</h1></html>"}},
		{`{}`, failure{Message: "{}"}},
	} {
		require.Equal(t, tc.want, decodeFailure([]byte(tc.body)), tc.body)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	for _, tc := range []struct {
		value    string
		min, max time.Duration
	}{
		{"", 0, 0},
		{"3", 3 * time.Second, 3 * time.Second},
		{"0.5", 500 * time.Millisecond, 500 * time.Millisecond},
		{"-1", 0, 0},
		{"soon", 0, 0},
		{time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat), 8 * time.Second, 10 * time.Second},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{"99999999999", 24 * time.Hour, 24 * time.Hour},
	} {
		got := retryAfter(&responseMeta{header: http.Header{"Retry-After": {tc.value}}})
		require.GreaterOrEqual(t, got, tc.min, tc.value)
		require.LessOrEqual(t, got, tc.max, tc.value)
	}
	require.Zero(t, retryAfter(nil))
}

func TestBackoffStaysWithinItsBounds(t *testing.T) {
	p := RetryPolicy{Max: 50, Base: time.Second, Cap: 30 * time.Second}
	for n := range 50 {
		full := min(p.Base<<min(n, 20), p.Cap)
		d := p.backoff(n, 0)
		require.GreaterOrEqual(t, d, full/2, "retry %d", n)
		require.LessOrEqual(t, d, full, "retry %d", n)
	}
	require.Equal(t, time.Minute, p.backoff(0, time.Minute), "Retry-After beyond the cap is honoured")
	require.Zero(t, RetryPolicy{}.backoff(3, 0))
}
