package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sashabaranov/go-openai"
)

// probePrompt asks for the one thing a tool can answer.
const probePrompt = "List the files in the current directory. Use the list_dir tool."

// ProbeToolCall sends one small request offering the list_dir tool and
// requires a real tool call back. It catches a vLLM started without its
// tool-call parser, or a model that writes tool calls as text.
func ProbeToolCall(ctx context.Context, c *Client, modelID string, temperature *float32) error {
	req := openai.ChatCompletionRequest{
		Model:      modelID,
		Messages:   []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: probePrompt}},
		Tools:      []openai.Tool{toolDefs[3]},
		ToolChoice: "auto",
	}
	if reasoningName(modelID) {
		// go-openai refuses max_tokens for these names before sending
		// (reasoning_validator.go validateReasoningModelParams); their
		// reasoning counts against the cap, hence a larger one.
		req.MaxCompletionTokens = 4096
	} else {
		//lint:ignore SA1019 max_tokens is what vLLM 0.8 and llama-server honour; max_completion_tokens is newer
		req.MaxTokens = 256
	}
	if temperature != nil {
		req.Temperature = *temperature
	}
	resp, err := c.CreateChatCompletion(ctx, req)
	if err != nil {
		return fmt.Errorf("tool-call probe: %s", oneLine(err.Error()))
	}
	if len(resp.Choices) == 0 {
		return errors.New("tool-call probe: the reply has no choices")
	}
	msg := resp.Choices[0].Message
	switch {
	case len(msg.ToolCalls) > 0:
		return nil
	case toolCallText.MatchString(msg.Content):
		return fmt.Errorf("tool-call probe: the model wrote the tool call as text (is the server's tool-call parser on?): %q", truncate(strings.TrimSpace(msg.Content), 120))
	}
	return fmt.Errorf("tool-call probe: no tool call in the reply (content %q)", truncate(strings.TrimSpace(msg.Content), 120))
}

// reasoningName is a model name go-openai treats as an OpenAI reasoning
// model (reasoning_validator.go Validate: the o1, o3, o4 and gpt-5 prefixes).
func reasoningName(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}
