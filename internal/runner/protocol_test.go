package runner

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// Error bodies captured from a real llama-server (testdata/llama-server/) go
// through the real client and our classification.
func TestRealServerErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status results.Status
		class  string
		reason string
	}{
		{"malformed-json-400.json", results.StatusError, results.ClassServerError, "parse error at line 1, column 3"},
		{"exceed-context-400.json", results.StatusFail, results.ClassContextLength, "exceeds the available context size (512 tokens)"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile("testdata/llama-server/" + tc.file)
			require.NoError(t, err)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusBadRequest)
				w.Write(body)
			}))
			defer srv.Close()
			_, err = NewClient(srv.URL+"/v1", "").CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{Model: "tiny-random",
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
			require.Error(t, err)
			status, class, reason := classify(context.Background(), err)
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.class, class)
			require.Contains(t, reason, tc.reason)
		})
	}
}
