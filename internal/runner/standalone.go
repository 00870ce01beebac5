package runner

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
	"github.com/sashabaranov/go-openai"
)

// Solved is what the built-in loop did on its own, outside a run.
type Solved struct {
	Answer   string
	Answered bool // false: max turns ran out first
	Turns    int
	Requests []results.Request
	Messages []openai.ChatCompletionMessage
}

// Solve runs the built-in loop on prompt with its four tools working in dir,
// an existing directory (`goatbench agent`): the same conversation, tools
// and request records as an attempt of a run. The error is the request or
// workspace failure that ended it.
func Solve(ctx context.Context, m Model, dir, prompt string, maxTurns int, sb sandbox.Sandbox, timeout time.Duration, retry RetryPolicy) (Solved, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Solved{}, fmt.Errorf("workspace: %w", err)
	}
	w := &Workspace{Dir: dir, root: root, sb: sb, setup: map[string][]byte{}}
	defer root.Close()
	l := loop{reqs: requests{timeout: timeout, retry: retry}}
	err = l.run(ctx, m, tasks.Task{Prompt: prompt, MaxTurns: maxTurns}, w)
	return Solved{Answer: l.answer, Answered: l.answered, Turns: l.turns, Requests: l.requests, Messages: l.messages}, err
}
