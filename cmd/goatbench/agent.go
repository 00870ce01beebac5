package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/agentcmd"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/safetext"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// agentOptions are the inputs of `goatbench agent`.
type agentOptions struct {
	Prompt         string
	BaseURL        string
	APIKey         string
	Model          string
	MaxTurns       int
	NoStream       bool
	Sandbox        string
	MaxRetries     int
	RequestTimeout time.Duration
	Dir            string
	In             io.Reader
}

func newAgentCmd(s streams) *cobra.Command {
	opts := agentOptions{In: os.Stdin}
	cmd := &cobra.Command{
		Use:   "agent [prompt]",
		Short: "The built-in agent loop as a standalone command: tools in the current directory, the final answer on stdout",
		Long: `agent runs goatbench's own agent loop once: it talks to the model at
OPENAI_BASE_URL (OPENAI_MODEL, OPENAI_API_KEY), works in the current directory
with the four tools (bash, read_file, write_file, list_dir), and prints its
final answer on stdout. The prompt is the argument, or stdin when there is none,
so that it can be benchmarked as an external agent itself:
--agent 'goatbench agent'.`,
		Example: `  OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_MODEL=Qwen/Qwen3-4B-Instruct-2507 goatbench agent "Create hello.py that prints Hello"
  goatbench run --models reference --suite smoke --agent 'goatbench agent'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Prompt = args[0]
			} else {
				b, err := io.ReadAll(io.LimitReader(opts.In, 4<<20))
				if err != nil {
					return usageError("read the prompt from stdin: %v", err)
				}
				opts.Prompt = string(b)
			}
			return agentRun(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.BaseURL, "base-url", os.Getenv("OPENAI_BASE_URL"), "OpenAI-compatible endpoint, ending in /v1 (OPENAI_BASE_URL)")
	f.StringVar(&opts.Model, "model", os.Getenv("OPENAI_MODEL"), "the model of every request (OPENAI_MODEL)")
	intFlag(f, &opts.MaxTurns, "max-turns", 20, "model turns before giving up")
	f.BoolVar(&opts.NoStream, "no-stream", false, "plain requests instead of streamed ones")
	f.StringVar(&opts.Sandbox, "sandbox", sandbox.ModePlain, "isolation of the model's commands: plain (the default: goatbench already sandboxes the agent), bwrap or auto")
	intFlag(f, &opts.MaxRetries, "max-retries", 0, "retries of failed requests (goatbench's proxy already retries)")
	f.DurationVar(&opts.RequestTimeout, "request-timeout", 0, "limit on each request (0: none)")
	opts.APIKey = os.Getenv("OPENAI_API_KEY")
	return cmd
}

func agentRun(ctx context.Context, opts agentOptions, s streams) error {
	switch {
	case strings.TrimSpace(opts.Prompt) == "":
		return usageError("agent: the prompt is empty (give it as the argument or on stdin)")
	case opts.BaseURL == "":
		return usageError("agent: no endpoint: set OPENAI_BASE_URL or --base-url")
	case opts.Model == "":
		return usageError("agent: no model: set OPENAI_MODEL or --model")
	case opts.MaxTurns < 1 || opts.MaxRetries < 0 || opts.RequestTimeout < 0:
		return usageError("agent: --max-turns must be at least 1, --max-retries and --request-timeout not negative")
	}
	if err := shownAsIs("agent: --model", opts.Model); err != nil {
		return err
	}
	sb, warning, err := sandbox.Open(opts.Sandbox, sandbox.DefaultLimits)
	if err != nil {
		return usageError("agent: %v", err)
	}
	if b, ok := sb.(*sandbox.Bwrap); ok {
		defer b.Close()
	}
	if warning != "" {
		fmt.Fprintln(s.Err, warning)
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return infraError(fmt.Errorf("agent: %w", err))
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := runner.Model{Name: opts.Model, ModelID: opts.Model, Client: runner.NewClient(opts.BaseURL, opts.APIKey), NoStream: opts.NoStream}
	res, err := runner.Solve(ctx, m, dir, strings.TrimSpace(opts.Prompt), opts.MaxTurns, sb, opts.RequestTimeout, retryPolicy(opts.MaxRetries))
	tokensIn, tokensOut := 0, 0
	for _, r := range res.Requests {
		tokensIn, tokensOut = tokensIn+r.TokensIn, tokensOut+r.TokensOut
	}
	fmt.Fprintf(s.Err, "goatbench agent: %d turns, %d requests, %d tokens in, %d out\n", res.Turns, len(res.Requests), tokensIn, tokensOut)
	switch {
	case err != nil:
		return infraError(fmt.Errorf("agent: %v", oneLine(err.Error())))
	case !res.Answered:
		return &exitError{code: exitFailed, err: fmt.Errorf("agent: no final answer after %d turns", opts.MaxTurns)}
	}
	answer := res.Answer
	if terminal(s.Out) != nil { // escape sequences in the model's text could rewrite the screen
		answer = safetext.Block(answer)
	}
	_, err = fmt.Fprintln(s.Out, answer)
	return err
}

// newAgentForwardCmd is the hidden command goatbench runs inside the sandbox
// in front of an external agent (see agentcmd.ForwardMain).
func newAgentForwardCmd() *cobra.Command {
	return &cobra.Command{
		Use:                agentcmd.ForwardCommand,
		Hidden:             true,
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			// The agent's own exit code, with nothing of goatbench's added
			// to the agent's stderr.
			os.Exit(agentcmd.ForwardMain(args, os.Stderr))
		},
	}
}
