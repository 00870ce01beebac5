package runner

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// decodeReplySeeds are replies as real servers write them, and odd ones.
func decodeReplySeeds(t testing.TB) []string {
	seeds := []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		// vLLM's Python json.dumps spacing, an error event in a stream.
		`{"error": {"object": "error", "message": "The decoder prompt (length 9000) is longer", "type": "BadRequestError", "param": null, "code": 400}}`,
		`{"id":"x","choices":[{"index":0,"delta":{"reasoning":"th\"ink","reasoning_content":"th\"ink"},"logprobs":null,"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\u00e9\\n{"}}]}}]}`,
		`{"choices":[],"usage":{"prompt_tokens":642,"completion_tokens":58,"total_tokens":700,"cost":1.25e-05,"prompt_tokens_details":{"cached_tokens":0}}}`,
		`{"choices":[{"index":1,"delta":{"content":"other"}}],"x":{"y":["}",{"z":"]"}]}}`,
		`{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]},"finish_reason":"tool_calls"}],"usage":null}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":null,"id":"a","function":{"name":"x","arguments":{"not":"a string"}}}]}}]}`,
		`{"choices":[{"index":"0"}]}`,
		`<html>502</html>`,
		`{"choices":[{"index":0,"delta":{"content":"日本語 ✓"}}]} `,
		`{"usage":{"cost":"0.1"}}`,
		`{"choices":[{"index":0,"finish_reason":"stop","delta":{}}],"usage":{"prompt_tokens":1.5}}`,
		`{"choices":[{"index":0,"delta":{"content":"a"}}]}{`,
		// vLLM's unstreamed replies, model_dump() whole (see internal/reference, whole).
		`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"annotations":null,"audio":null,"function_call":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}],"reasoning_content":null},"logprobs":null,"finish_reason":"tool_calls","stop_reason":null}],"service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":9,"total_tokens":12,"completion_tokens":3,"prompt_tokens_details":null},"prompt_logprobs":null,"kv_transfer_params":null}`,
		`{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"done","refusal":null,"annotations":null,"audio":null,"function_call":null,"tool_calls":[],"reasoning_content":null},"logprobs":null,"finish_reason":"stop","stop_reason":null}],"service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":9,"total_tokens":12,"completion_tokens":3,"prompt_tokens_details":null},"prompt_logprobs":null,"kv_transfer_params":null}`,
	}
	for _, f := range []string{"testdata/llama-server/stream-tool-call.sse", "testdata/llama-server/plain-tool-call.json"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, ev := range strings.Split(string(b), "\n\n") {
			if d, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: "); ok && d != "[DONE]" {
				seeds = append(seeds, d)
			} else if strings.HasPrefix(ev, "{") {
				seeds = append(seeds, strings.TrimSpace(ev))
			}
		}
	}
	return seeds
}

// The fast path reads exactly what encoding/json reads, or defers to it.
func TestDecodeReplyAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range decodeReplySeeds(t) {
		checkDecodeReply(t, []byte(s))
	}
}

func checkDecodeReply(t *testing.T, data []byte) {
	var fast, std wireReply
	ferr := decodeReply(data, &fast)
	serr := json.Unmarshal(data, &std)
	require.Equal(t, serr == nil, ferr == nil, "%s", data)
	if serr == nil {
		if len(std.Error) > 0 {
			require.JSONEq(t, string(std.Error), string(fast.Error), "%s", data)
			fast.Error, std.Error = nil, nil
		}
		require.Equal(t, normal(std), normal(fast), "%s", data)
	}
}

// normal makes empty lists nil: "[]" and a missing list read the same.
func normal(w wireReply) wireReply {
	if len(w.Choices) == 0 {
		w.Choices = nil
	}
	for i := range w.Choices {
		for _, d := range []*wireDelta{&w.Choices[i].Delta, &w.Choices[i].Message} {
			if len(d.ToolCalls) == 0 {
				d.ToolCalls = nil
			}
		}
	}
	return w
}

func FuzzDecodeReply(f *testing.F) {
	for _, s := range decodeReplySeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecodeReply)
}
