package runner

import (
	"context"
	"time"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
	"github.com/sashabaranov/go-openai"
)

var _ sandbox.Workspace = (*Workspace)(nil)

// Agent performs one attempt: it works on task t in workspace w, talking to
// model m, until it gives a final answer or gives up. The error is what ended
// the attempt early (a request failure, the context); the runner classifies
// it, and an *AttemptError names the status and class itself. Whatever the
// agent did before it stopped is still in the result.
type Agent interface {
	Attempt(ctx context.Context, m Model, t tasks.Task, w sandbox.Workspace) (AgentResult, error)
}

// AgentResult is what an agent did in one attempt: what results.Attempt
// records and the transcript keeps.
type AgentResult struct {
	Answer         string // the final answer
	Answered       bool   // false: the agent stopped without one (turns ran out)
	Turns          int
	ToolCalls      int
	ToolErrors     int
	BadArgs        int // tool calls whose arguments could not be used
	Retries        int
	TokensIn       int
	TokensOut      int
	CostUSD        float64
	Requests       []results.Request // one per model request
	Messages       []openai.ChatCompletionMessage
	LastToolCall   string
	LastToolOutput string
	// CutOff: the final answer's reply (an external agent's last reply)
	// ended at the token limit (finish_reason "length"), so the answer may
	// be only its start.
	CutOff bool
}

// AttemptError is a stop an agent has already classified.
type AttemptError struct {
	Status results.Status
	Class  string
	Reason string
}

func (e *AttemptError) Error() string { return e.Reason }

// Builtin is the built-in agent: a chat loop with goatbench's tools.
type Builtin struct {
	// RequestTimeout bounds each try of a chat request; 0 leaves only the
	// attempt's context.
	RequestTimeout time.Duration
	// Retry is the retry policy of chat requests; the zero value never retries.
	Retry RetryPolicy
}

// runsChecks reports whether a task's checks run a command in the workspace.
func runsChecks(t tasks.Task) bool {
	for _, c := range t.Checks {
		if c.Command != nil {
			return true
		}
	}
	return false
}

// Attempt runs the chat loop until the model answers without a tool call or
// the task's max turns are reached.
func (b Builtin) Attempt(ctx context.Context, m Model, t tasks.Task, w sandbox.Workspace) (AgentResult, error) {
	l := loop{reqs: requests{timeout: b.RequestTimeout, retry: b.Retry}}
	if ww, ok := w.(interface{ Warm() }); ok {
		// The workspace's sandbox is built while the model thinks: from the
		// start where a check will run a command in it, else once a
		// streamed reply begins a bash call, whose arguments take a real
		// model longer to write than the sandbox takes to build. An
		// attempt that never runs a command builds none.
		warmed := false
		l.warm = func() {
			if !warmed {
				warmed = true
				ww.Warm()
			}
		}
		if runsChecks(t) {
			l.warm()
		}
	}
	err := l.run(ctx, m, t, w)
	return AgentResult{
		Answer: l.answer, Answered: l.answered, Turns: l.turns, ToolCalls: l.toolCalls, ToolErrors: l.toolErrors,
		BadArgs: l.badArgs, Retries: l.retries, TokensIn: l.tokensIn, TokensOut: l.tokensOut, CostUSD: l.costUSD,
		Requests: l.requests, Messages: l.messages, LastToolCall: l.lastCall, LastToolOutput: l.lastOutput,
		CutOff: l.answered && l.cutOff,
	}, err
}
