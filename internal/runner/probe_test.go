package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// The probe reaches the server for every model name. go-openai refuses, on
// the client, max_tokens for names starting o1, o3, o4 and gpt-5
// (go-openai reasoning_validator.go validateReasoningModelParams), which
// are also LiteLLM route names here (gpt-5-mini): such a probe never left.
func TestProbeReachesTheServerForReasoningModelNames(t *testing.T) {
	for _, model := range []string{"qwen3-4b-local", "gpt-5-mini", "o3-mini", "o4-mini", "o1"} {
		t.Run(model, func(t *testing.T) {
			var got map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls",` +
					`"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"list_dir","arguments":"{}"}}]}}]}`))
			}))
			defer srv.Close()
			one := float32(1)
			require.NoError(t, ProbeToolCall(context.Background(), NewClient(srv.URL+"/v1", "k"), model, &one))
			require.Equal(t, model, got["model"])
			_, capped := got["max_tokens"]
			_, cappedNew := got["max_completion_tokens"]
			require.True(t, capped != cappedNew, "one token cap: %v", got)
		})
	}
}
