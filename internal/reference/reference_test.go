package reference

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
)

func client(t *testing.T) (*openai.Client, tasks.Suite) {
	t.Helper()
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	srv := httptest.NewServer(New(suite))
	t.Cleanup(srv.Close)
	cfg := openai.DefaultConfig("")
	cfg.BaseURL = srv.URL + "/v1"
	return openai.NewClientWithConfig(cfg), suite
}

func task(s tasks.Suite, id string) tasks.Task {
	for _, t := range s.Tasks {
		if t.ID == id {
			return t
		}
	}
	return tasks.Task{}
}

func TestReplaysToolCallsThenAnswers(t *testing.T) {
	c, suite := client(t)
	ft := task(suite, "file-create")
	msgs := []openai.ChatCompletionMessage{{Role: "user", Content: ft.Prompt}}
	ctx := context.Background()
	for turn, step := range ft.Reference {
		resp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: ModelID, Messages: msgs})
		require.NoError(t, err)
		m := resp.Choices[0].Message
		if step.Tool == "" {
			require.Empty(t, m.ToolCalls)
			require.Equal(t, step.Answer, m.Content)
			require.Equal(t, openai.FinishReasonStop, resp.Choices[0].FinishReason)
			break
		}
		require.Len(t, m.ToolCalls, 1, "turn %d", turn)
		require.Equal(t, step.Tool, m.ToolCalls[0].Function.Name)
		require.JSONEq(t, step.ArgsJSON(), m.ToolCalls[0].Function.Arguments)
		msgs = append(msgs, m, openai.ChatCompletionMessage{Role: "tool", ToolCallID: m.ToolCalls[0].ID, Content: "ok"})
	}
}

func TestStreamingAssemblesTheSameToolCall(t *testing.T) {
	c, suite := client(t)
	ct := task(suite, "code-fix")
	s, err := c.CreateChatCompletionStream(context.Background(), openai.ChatCompletionRequest{
		Model: ModelID, Stream: true, StreamOptions: &openai.StreamOptions{IncludeUsage: true},
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: ct.Prompt}},
	})
	require.NoError(t, err)
	defer s.Close()
	var name, args string
	var usage *openai.Usage
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if chunk.Usage != nil {
			usage = chunk.Usage
		}
		for _, ch := range chunk.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				name += tc.Function.Name
				args += tc.Function.Arguments
			}
		}
	}
	require.Equal(t, "bash", name)
	require.JSONEq(t, ct.Reference[0].ArgsJSON(), args)
	require.NotNil(t, usage)
	require.Positive(t, usage.CompletionTokens)
}

func TestRejectsWhatARealServerWould(t *testing.T) {
	c, _ := client(t)
	_, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model: ModelID, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "an unknown prompt"}}})
	var apiErr *openai.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 400, apiErr.HTTPStatusCode)

	suite, _ := tasks.Load("smoke")
	srv := httptest.NewServer(New(suite))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader("{not json"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(body), `"type":"invalid_request_error"`)

	models, err := c.ListModels(context.Background())
	require.NoError(t, err)
	require.Equal(t, ModelID, models.Models[0].ID)
}

func TestUnansweredToolCallIsRefused(t *testing.T) {
	c, suite := client(t)
	ct := task(suite, "code-fix")
	_, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{Model: ModelID, Messages: []openai.ChatCompletionMessage{
		{Role: "user", Content: ct.Prompt},
		{Role: "assistant", ToolCalls: []openai.ToolCall{{ID: "x", Type: "function", Function: openai.FunctionCall{Name: "bash", Arguments: "{}"}}}},
		{Role: "tool", ToolCallID: "y", Content: "?"},
	}})
	require.ErrorContains(t, err, `unknown tool_call_id "y"`)
}
