package runner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/sashabaranov/go-openai"
)

const systemPrompt = `You are an agent working in a workspace directory on a Linux machine.
Use the tools to inspect and change the workspace; paths are relative to it.
When the task is done, reply with your final answer and no tool call.`

// Model is one model as the agent loop talks to it.
type Model struct {
	Name        string         // shown in results and reports
	ModelID     string         // the "model" field of every request
	Client      *openai.Client // any OpenAI-compatible endpoint
	Temperature *float32       // nil leaves the server's default
	ToolChoice  string         // "" leaves it out; local models get "auto"
}

// loop is the state of one agent conversation.
type loop struct {
	messages   []openai.ChatCompletionMessage
	answer     string
	answered   bool
	turns      int
	toolCalls  int
	toolErrors int
	badArgs    int
	requests   []results.Request
	tokensIn   int
	tokensOut  int
	costUSD    float64
	lastCall   string
	lastOutput string
}

// run talks to the model until it answers without a tool call or max_turns is
// reached. The error is the request failure that ended the conversation, if any.
func (l *loop) run(ctx context.Context, m Model, t tasks.Task, w *Workspace) error {
	l.messages = []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: systemPrompt},
		{Role: openai.ChatMessageRoleUser, Content: t.Prompt},
	}
	for l.turns < t.MaxTurns {
		msg, err := l.chat(ctx, m)
		if err != nil {
			return err
		}
		l.turns++
		l.messages = append(l.messages, msg)
		if len(msg.ToolCalls) == 0 {
			l.answer, l.answered = msg.Content, true
			return nil
		}
		for _, tc := range msg.ToolCalls {
			l.toolCalls++
			l.lastCall = tc.Function.Name + " " + tc.Function.Arguments
			out, err := callTool(ctx, w, tc.Function.Name, tc.Function.Arguments)
			switch {
			case errors.Is(err, errBadCall):
				l.toolErrors++
				l.badArgs++
			case err != nil:
				return err // the workspace itself failed, or the attempt was cancelled
			}
			l.lastOutput = out
			l.messages = append(l.messages, openai.ChatCompletionMessage{
				Role: openai.ChatMessageRoleTool, ToolCallID: tc.ID, Name: tc.Function.Name, Content: out,
			})
		}
	}
	return nil
}

// chat sends one request and records its latency and tokens.
func (l *loop) chat(ctx context.Context, m Model) (openai.ChatCompletionMessage, error) {
	req := openai.ChatCompletionRequest{
		Model:    m.ModelID,
		Messages: l.messages,
		Tools:    toolDefs,
	}
	if m.Temperature != nil {
		req.Temperature = *m.Temperature
	}
	if m.ToolChoice != "" {
		req.ToolChoice = m.ToolChoice
	}
	start := time.Now()
	resp, err := m.Client.CreateChatCompletion(ctx, req)
	rec := results.Request{Total: time.Since(start).Seconds()}
	if err != nil {
		l.requests = append(l.requests, rec)
		return openai.ChatCompletionMessage{}, err
	}
	rec.TokensIn, rec.TokensOut = resp.Usage.PromptTokens, resp.Usage.CompletionTokens
	if c, err := strconv.ParseFloat(resp.Header().Get("x-litellm-response-cost"), 64); err == nil {
		rec.CostUSD = c
	}
	l.requests = append(l.requests, rec)
	l.tokensIn += rec.TokensIn
	l.tokensOut += rec.TokensOut
	l.costUSD += rec.CostUSD
	if len(resp.Choices) == 0 {
		return openai.ChatCompletionMessage{}, errMalformed("the reply has no choices")
	}
	msg := resp.Choices[0].Message
	msg.Role = openai.ChatMessageRoleAssistant
	return msg, nil
}

// malformedError is a reply that is not a usable chat completion.
type malformedError string

func errMalformed(s string) error      { return malformedError(s) }
func (e malformedError) Error() string { return "malformed reply: " + string(e) }

// toolCallText catches a tool call written into the content instead of the
// tool_calls field, as models do when a server's tool-call parser is off.
var toolCallText = regexp.MustCompile(`(?s)<tool_call>|<\|python_tag\|>|<function=|\{\s*"(?:name|function)"\s*:\s*"(?:bash|read_file|write_file|list_dir)"`)

// classify maps a request failure to an attempt status and failure class.
func classify(ctx context.Context, err error) (results.Status, string, string) {
	reason := oneLine(err.Error())
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return results.StatusTimeout, results.ClassTimeout, "the attempt ran past its timeout"
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return results.StatusError, results.ClassCancelled, "cancelled"
	}
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		msg := strings.ToLower(apiErr.Message + " " + apiErr.Type + " " + fmt.Sprint(apiErr.Code))
		switch {
		case isContextLength(msg):
			return results.StatusFail, results.ClassContextLength, reason
		case apiErr.HTTPStatusCode == 429:
			return results.StatusError, results.ClassRateLimited, reason
		}
		return results.StatusError, results.ClassServerError, reason
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		if isContextLength(strings.ToLower(string(reqErr.Body))) {
			return results.StatusFail, results.ClassContextLength, reason
		}
		if reqErr.HTTPStatusCode == 429 {
			return results.StatusError, results.ClassRateLimited, reason
		}
	}
	// Connection failures, malformed replies and anything else the server did.
	return results.StatusError, results.ClassServerError, reason
}

func isContextLength(msg string) bool {
	for _, s := range []string{"context_length", "context length", "exceed_context_size", "maximum context", "too many tokens", "context window"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, 300)
}
