package agentcmd

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/agentproxy"
	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// stderrKept is how much of the end of the agent's stderr the transcript
// keeps: where a crash says why.
const stderrKept = 16 << 10

// External is an external agent as the runner's Agent: each attempt runs the
// agent's command in the attempt's workspace behind its own recording proxy,
// which relays to the attempt's model with the real key.
type External struct {
	Agent          *Agent
	Sandbox        sandbox.Sandbox // the sandbox of the attempt's commands; nil is sandbox.Default()
	RequestTimeout time.Duration   // bounds each try of a relayed request
	Retry          runner.RetryPolicy
	// RespectAgentParams keeps the agent's temperature and tool_choice; the
	// target's defaults then only fill what it left out.
	RespectAgentParams bool
	Forwarder          string        // "" is this process's executable
	Grace              time.Duration // SIGTERM to SIGKILL at the timeout; 0 is DefaultGrace
}

var _ runner.Agent = External{}

// AttemptTimeout is the runner's limit on one attempt: the agent's own
// timeout (else the task's) plus the grace period and the sandbox's backstop,
// so the agent is stopped by its forwarder and recorded as timed out rather
// than cut off by the runner.
func (x External) AttemptTimeout(t tasks.Task) time.Duration {
	d := t.Timeout
	if x.Agent != nil && x.Agent.Timeout > 0 {
		d = x.Agent.Timeout
	}
	grace := x.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	return d + grace + 15*time.Second
}

// Attempt runs the agent once. An error is goatbench's, the sandbox's or the
// server's (an *runner.AttemptError naming its class); what the agent did,
// a non-zero exit or a crash included, is left to the task's checks.
func (x External) Attempt(ctx context.Context, m runner.Model, t tasks.Task, w sandbox.Workspace) (runner.AgentResult, error) {
	lw, ok := w.(*runner.Workspace)
	if !ok {
		return runner.AgentResult{}, &runner.AttemptError{Status: results.StatusError, Class: results.ClassServerError,
			Reason: "external agents need a local workspace; this sandbox backend has none"}
	}
	sb := x.Sandbox
	if sb == nil {
		sb = sandbox.Default()
	}
	var aliases []string
	if m.Name != m.ModelID {
		aliases = []string{m.Name}
	}
	out, err := Run(ctx, Attempt{
		Agent: x.Agent, Dir: lw.Dir, Prompt: t.Prompt, Timeout: t.Timeout, Sandbox: sb,
		Forwarder: x.Forwarder, Grace: x.Grace,
		Proxy: agentproxy.Config{
			Model: m.ModelID, Aliases: aliases,
			Relay:       runner.NewRelay(m.Client, x.RequestTimeout, x.Retry),
			Temperature: m.Temperature, ToolChoice: m.ToolChoice, RespectAgentParams: x.RespectAgentParams,
		},
	})
	res := result(out)
	switch {
	case err != nil:
		return res, &runner.AttemptError{Status: results.StatusError, Class: results.ClassServerError, Reason: err.Error()}
	case out.TimedOut:
		return res, &runner.AttemptError{Status: results.StatusTimeout, Class: results.ClassTimeout,
			Reason: timedOut(out)}
	}
	if out.ExitCode != 0 {
		// An agent that gave up because the model's server failed did not
		// fail the task: that is the infrastructure's error, as it is for
		// the built-in loop.
		if st, class, reason, ok := serverFailure(out.Requests); ok {
			after := "the model's server failed"
			if class == results.ClassOversizedReply {
				after = "the model's reply went over a limit"
			}
			return res, &runner.AttemptError{Status: st, Class: class,
				Reason: fmt.Sprintf("the agent exited %d after %s: %s", out.ExitCode, after, reason)}
		}
	}
	return res, nil
}

// timedOut says an agent was stopped at its timeout, and when it ended: at
// the timeout it is asked to stop, and killed after a grace.
func timedOut(out Outcome) string {
	if out.Timeout <= 0 {
		return fmt.Sprintf("the agent was stopped at its timeout; it ended after %s", out.Duration.Round(time.Second))
	}
	return fmt.Sprintf("the agent was stopped at its %s timeout; it ended after %s", out.Timeout, out.Duration.Round(time.Second))
}

// result is what the runner records of an outcome. The agent itself is the
// one command goatbench saw run: its exit code and the end of its stderr are
// the attempt's last tool call and output.
func result(out Outcome) runner.AgentResult {
	tot := out.Totals()
	stderr := redact.String(out.Stderr)
	if len(stderr) > stderrKept {
		stderr = "…" + stderr[len(stderr)-stderrKept:]
	}
	status := fmt.Sprintf("the agent command (exit %d, %s)", out.ExitCode, out.Duration.Round(time.Millisecond))
	if out.StdoutDropped > 0 {
		status += fmt.Sprintf(", %d bytes of stdout past the cap dropped", out.StdoutDropped)
	}
	msgs := append([]openai.ChatCompletionMessage(nil), out.Messages...)
	msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Name: "agent_stderr",
		Content: status + "\n" + stderr})
	// Tool errors stay 0: the agent runs its tools itself, unseen; its
	// failed requests are in Requests.
	return runner.AgentResult{
		Answer: out.Answer, Answered: true, Turns: tot.Turns, ToolCalls: tot.ToolCalls,
		Retries: tot.Retries, TokensIn: tot.TokensIn, TokensOut: tot.TokensOut, CostUSD: tot.CostUSD,
		Requests: out.Requests, Messages: msgs, LastToolCall: status, LastToolOutput: tailRunes(stderr, 500),
		CutOff: out.CutOff,
	}
}

// serverFailure reports whether the agent's last request ended in a failure
// of the model's server (5xx, 429, no reply) rather than of the agent's own
// request (another 4xx, the wrong model).
func serverFailure(reqs []results.Request) (results.Status, string, string, bool) {
	if len(reqs) == 0 {
		return "", "", "", false
	}
	e := reqs[len(reqs)-1].Error
	switch {
	case e == "", strings.HasPrefix(e, "the agent's"):
		return "", "", "", false
	case runner.Oversized(e):
		// The model's reply, as for the built-in loop.
		return results.StatusFail, results.ClassOversizedReply, e, true
	case strings.HasPrefix(e, "HTTP 429"):
		return results.StatusError, results.ClassRateLimited, e, true
	case clientError.MatchString(e):
		return "", "", "", false
	}
	return results.StatusError, results.ClassServerError, e, true
}

// clientError is a 4xx in the relay's words: the request was refused.
var clientError = regexp.MustCompile(`^HTTP 4\d\d\b`)

func tailRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return "…" + string(r[len(r)-n+1:])
	}
	return s
}
