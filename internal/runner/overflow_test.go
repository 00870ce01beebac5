package runner

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// The messages below are quoted from their sources, so that a prompt over the
// model's context is the model's fail (context_length), never a server error
// that leaves the denominator.
const (
	// vllm-project/vllm, vllm/v1/engine/processor.py (v0.8.5; moved to
	// vllm/v1/engine/input_processor.py by v0.13.0), Processor._validate_model_input:
	//   f"The {prompt_type} prompt (length {prompt_len}) is "
	//   f"longer than the maximum model length of {max_prompt_len}. "
	//   f"{suggestion}"
	vllmDecoderPrompt = "The decoder prompt (length 9000) is longer than the maximum model length of 8192. Make sure that `max_model_len` is no smaller than the number of text tokens."
	// vllm-project/vllm, vllm/entrypoints/openai/serving_engine.py (v0.13.0),
	// OpenAIServing._validate_input, checked before the engine sees the prompt.
	vllmMaxContext = "This model's maximum context length is 8192 tokens. However, your request has 9000 input tokens. Please reduce the length of the input messages."
	// BerriAI/litellm, litellm/exceptions.py, ContextWindowExceededError.__init__:
	//   self.message = "litellm.ContextWindowExceededError: {}".format(self.message)
	// around BadRequestError's own "litellm.BadRequestError: ..." prefix; the
	// proxy answers it as {"error":{"message","type":null,"param":null,"code":"400"}}.
	// The inner text here is LiteLLM's own mock (litellm/main.py,
	// mock_response="litellm.context_window_error"), which names no length at all:
	// only the class name says what happened.
	litellmMock = "litellm.ContextWindowExceededError: litellm.BadRequestError: this is a mock context window exceeded error"
	// The same wrapping around vLLM's engine message, as LiteLLM's hosted_vllm
	// provider passes it on.
	// Anthropic's own overflow text ("prompt is too long: N tokens > M
	// maximum") as LiteLLM wraps it: no "context" or "length" anywhere but
	// in the class name.
	litellmAnthropic = "litellm.ContextWindowExceededError: litellm.BadRequestError: AnthropicException - prompt is too long: 200001 tokens > 200000 maximum"
	litellmVLLM      = "litellm.ContextWindowExceededError: litellm.BadRequestError: Hosted_vllmException - " + vllmDecoderPrompt + "\nReceived Model Group=qwen3-4b-local\nAvailable Model Group Fallbacks=None"
)

func TestContextOverflowIsTheModelsFail(t *testing.T) {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	for _, tc := range []struct {
		name   string
		status int    // 200: the error arrives inside the event stream
		body   string // the HTTP body, or the one data event of the stream
		reason string
	}{
		// vLLM v0.8.5 ErrorResponse is flat (vllm/entrypoints/openai/protocol.py:
		// object "error", message, type, param, code).
		{"vllm 0.8.5 decoder prompt, HTTP 400", 400, `{"object":"error","message":` + q(vllmDecoderPrompt) + `,"type":"BadRequestError","param":null,"code":400}`, "The decoder prompt (length 9000) is longer than the maximum model length of 8192."},
		// vLLM v0.13.0 nests it: ErrorResponse{error: ErrorInfo{message, type, param, code}}.
		{"vllm 0.13.0 decoder prompt, HTTP 400", 400, `{"error":{"message":` + q(vllmDecoderPrompt) + `,"type":"BadRequestError","param":null,"code":400}}`, "The decoder prompt (length 9000) is longer than the maximum model length of 8192."},
		{"vllm 0.13.0 maximum context, HTTP 400", 400, `{"error":{"message":` + q(vllmMaxContext) + `,"type":"BadRequestError","param":null,"code":400}}`, "maximum context length is 8192 tokens"},
		// A streamed request reaches the engine's check only once the stream
		// is open: vLLM's chat_completion_stream_generator catches the
		// ValueError and yields create_streaming_error_response(), which is
		// json.dumps(...) (a space after every colon), then "data: [DONE]"
		// (vllm/entrypoints/openai/serving_chat.py, serving_engine.py).
		{"vllm 0.8.5 decoder prompt, in the stream", 200, `{"error": {"object": "error", "message": ` + q(vllmDecoderPrompt) + `, "type": "BadRequestError", "param": null, "code": 400}}`, "The decoder prompt (length 9000) is longer than the maximum model length of 8192."},
		{"vllm 0.13.0 decoder prompt, in the stream", 200, `{"error": {"message": ` + q(vllmDecoderPrompt) + `, "type": "BadRequestError", "param": null, "code": 400}}`, "The decoder prompt (length 9000) is longer than the maximum model length of 8192."},
		{"litellm mock context window", 400, `{"error":{"message":` + q(litellmMock) + `,"type":null,"param":null,"code":"400"}}`, "litellm.ContextWindowExceededError: litellm.BadRequestError: this is a mock"},
		{"litellm around anthropic", 400, `{"error":{"message":` + q(litellmAnthropic) + `,"type":null,"param":null,"code":"400"}}`, "prompt is too long"},
		{"litellm around vllm", 400, `{"error":{"message":` + q(litellmVLLM) + `,"type":null,"param":null,"code":"400"}}`, "litellm.ContextWindowExceededError: litellm.BadRequestError: Hosted_vllmException - The decoder prompt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, oneTaskSuite(t, oneTask))
			h.server.Intercept = func(w http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
				if tc.status == 200 {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", tc.body)
					return true
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
				return true
			}
			a := h.run(t, context.Background())[0]
			require.Equal(t, results.StatusFail, a.Status, a.Reason)
			require.Equal(t, results.ClassContextLength, a.FailureClass, a.Reason)
			require.Zero(t, a.Retries, "an overflow is not worth another try")
			require.Contains(t, a.Reason, tc.reason, "the server's own words")
		})
	}
}
