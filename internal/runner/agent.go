package runner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sashabaranov/go-openai"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

const systemPrompt = `You are an agent working in a workspace directory on a Linux machine.
Use the tools to inspect and change the workspace; paths are relative to it.
When the task is done, reply with your final answer and no tool call.`

// Model is one model as the agent loop talks to it.
type Model struct {
	Name        string   // shown in results and reports
	ModelID     string   // the "model" field of every request
	Client      *Client  // any OpenAI-compatible endpoint
	Temperature *float32 // nil leaves the server's default
	ToolChoice  string   // "" leaves it out; local models get "auto"
	NoStream    bool     // send plain requests instead of streaming (no time to first token)
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
	cutOff     bool // the last reply ended at the token limit
	reqs       requests
	retries    int // across all requests of the attempt, against reqs.retry.Max
	// warm, when set, has the workspace's sandbox built; it is called as a
	// streamed reply begins a bash call.
	warm func()
}

// run talks to the model until it answers without a tool call or max_turns is
// reached. The error is the request failure that ended the conversation, if any.
func (l *loop) run(ctx context.Context, m Model, t tasks.Task, w sandbox.Workspace) error {
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
		for i := range msg.ToolCalls {
			if msg.ToolCalls[i].ID == "" {
				// Some servers omit ids; the tool message must still name its call.
				msg.ToolCalls[i].ID = fmt.Sprintf("call_%d_%d", l.turns, i)
			}
		}
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

// FinishLength is the finish_reason of a reply cut off at the token limit:
// the request's max_tokens, or the end of the model's context (OpenAI's API
// reference, the chat completion object; vLLM's FINISH_REASON_STRINGS in
// vllm/v1/engine/__init__.py; llama-server's, seen with -n 2 in
// TestAReplyCutAtTheTokenLimit).
const FinishLength = "length"

// malformedError is a reply that is not a usable chat completion.
type malformedError string

func errMalformed(s string) error      { return malformedError(s) }
func (e malformedError) Error() string { return "malformed reply: " + string(e) }

// toolCallText catches a tool call written into the content instead of the
// tool_calls field, as models do when a server's tool-call parser is off.
var toolCallText = regexp.MustCompile(`(?s)<tool_call>|<\|python_tag\|>|<function=|\{\s*"(?:name|function)"\s*:\s*"(?:bash|read_file|write_file|list_dir)"`)

// errAttemptTimeout is the cause of an attempt's context ending at the task's timeout.
var errAttemptTimeout = errors.New("the attempt ran past its timeout")

// classify maps the failure that ended a conversation to an attempt status
// and failure class. ctx is the attempt's context: once it is done, its cause
// says whether the attempt timed out or the run was stopped.
func classify(ctx context.Context, err error) (results.Status, string, string) {
	if ctx.Err() != nil {
		// The task's time ran out while the server had not begun to answer:
		// the server's fault, not the model's timeout.
		var nr noResponseError
		if errors.As(err, &nr) && errors.Is(context.Cause(ctx), errAttemptTimeout) {
			return results.StatusError, results.ClassNoResponse, nr.Error()
		}
		return stopped(ctx)
	}
	reason := describe(err)
	if errors.Is(err, sandbox.ErrWorkspace) {
		return results.StatusFail, results.ClassWorkspace, oneLine(err.Error())
	}
	if errors.As(err, new(oversizeError)) {
		return results.StatusFail, results.ClassOversizedReply, reason
	}
	if f, ok := failureOf(err); ok {
		switch {
		case isContextLength(f.text()):
			return results.StatusFail, results.ClassContextLength, reason
		case f.Status == 429:
			return results.StatusError, results.ClassRateLimited, reason
		}
	}
	// Connection failures, malformed replies and anything else the server did.
	return results.StatusError, results.ClassServerError, reason
}

// stopped is the status of an attempt whose context ended: a timeout when the
// task's own limit ran out, cancelled (with the run's reason) otherwise.
func stopped(ctx context.Context) (results.Status, string, string) {
	cause := context.Cause(ctx)
	if errors.Is(cause, errAttemptTimeout) {
		return results.StatusTimeout, results.ClassTimeout, cause.Error()
	}
	return results.StatusError, results.ClassCancelled, cancelReason(cause)
}

func cancelReason(cause error) string {
	if cause == nil || (errors.Is(cause, context.Canceled) && cause.Error() == context.Canceled.Error()) {
		return "cancelled"
	}
	return "cancelled: " + oneLine(cause.Error())
}

// isContextLength reads a lower-cased error text. Besides OpenAI's and
// llama-server's wordings: vLLM's engine check "The decoder prompt (length N)
// is longer than the maximum model length of M" (vllm/v1/engine/processor.py,
// later input_processor.py) and LiteLLM's class name
// "litellm.ContextWindowExceededError: ..." (litellm/exceptions.py), which may
// wrap a provider text that names no length at all.
func isContextLength(msg string) bool {
	for _, s := range []string{"context_length", "context length", "exceed_context_size", "maximum context", "too many tokens", "context window",
		"maximum model length", "contextwindowexceedederror"} {
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
