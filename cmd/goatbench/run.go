package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/agentcmd"
	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// runOptions are the inputs of `goatbench run`.
type runOptions struct {
	Models         []string
	Suite          string
	TasksDir       string
	Tiers, Tags    []string // select among the suite's tasks
	Parallel       int
	Repeat         int
	Out            string
	BaseURL        string
	ModelName      string
	APIKey         string
	KeepWorkspaces bool
	Sandbox        string
	MinPassRate    float64
	Registry       string
	Temperature    float64 // < 0: the model's default
	NoStream       bool
	RequestTimeout time.Duration
	MaxRetries     int
	Deadline       time.Duration
	Shard          string // i/n: this machine's share of the attempts
	Resume         string // a run folder to complete
	RetryErrors    bool
	Direct         bool   // skip LiteLLM: call each Modal app's vLLM with the HF id
	StopAfter      bool   // stop the Modal apps this run deployed or woke
	Agent          string // "builtin", a goatbench.yaml agent, or a command template
	RespectAgent   bool   // --respect-agent-params
	Modal          modalOptions
	Color          string // auto, always or never
	Args           []string
	changed        map[string]bool // flags given on the command line
	flags          *pflag.FlagSet  // the command's, to restore what a resumed run was given (fill)
}

// newRunCmd is `goatbench run`; runF, when set, receives the parsed options
// instead of running them (tests check flags → plan with it).
func newRunCmd(s streams, runF func(*runOptions) error) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a task suite against models and report pass rate, latency and cost",
		Long: `Run every task of a suite against each model, verify each attempt with the
task's checks, and write results/<run-id>/ (results.jsonl, transcripts, run.json,
report.md, summary.json).

Models are registry keys or routes served behind an OpenAI-compatible endpoint
(--base-url, or OPENAI_BASE_URL), or "reference": a built-in server that answers
every task with its reference solution, so the whole pipeline runs offline.

Requests stream by default (time to first token, output tokens per second);
429s, 5xx answers, refused or reset connections and request timeouts before a
reply begins are retried with exponential backoff, honouring Retry-After. An
attempt whose infrastructure failed is recorded as an error, never as a fail.

Ctrl-C (or SIGTERM) stops the run: attempts in flight are cancelled, every
finished attempt is kept, and the summary is written; a second Ctrl-C quits at
once. An interrupted or killed run is completed with --resume, which runs only
the attempts without a result (and, with --retry-errors, those that errored),
with the flags the run was started with unless they are given again.

The model's commands, and the task checks, run in a sandbox: with bubblewrap
(--sandbox bwrap) each command sees the system read-only, its workspace as the
only writable place, no network and none of this machine's secrets. The default
(auto) uses bubblewrap when it works here, else runs commands unisolated
(--sandbox plain) with a warning. run.json records which.

--agent runs your own agent instead of the built-in loop: a command template, or
the name of an agents: entry of goatbench.yaml. Each attempt runs it in the
attempt's workspace, in the same sandbox, with the prompt as {prompt},
{prompt_file} and on stdin; its answer is its stdout (or {answer_file}). It talks
to the model through a per-attempt recording proxy (OPENAI_BASE_URL, a dummy
OPENAI_API_KEY: the real key never reaches it), so its requests get the same
latency, token and cost columns. Its exit code never passes an attempt: the
task's checks do. run.json records the agent.

Exit codes: 0 every attempt passed (or --min-pass-rate was met), 1 some attempts
failed, 2 usage or configuration error (an endpoint unreachable before the run
starts too), 3 results incomplete (infrastructure errors, or attempts --deadline
left not run), 130 interrupted.`,
		Example: `  # the whole pipeline offline, against the reference solutions
  goatbench run --models reference --suite smoke

  # registry models through the LiteLLM proxy (routes <key>-local, local-model defaults)
  goatbench run --base-url https://litellm.example/v1 --models qwen3-4b,llama-3.1-8b --suite smoke

  # any OpenAI-compatible server, e.g. a vLLM started by hand
  goatbench run --base-url http://127.0.0.1:8000/v1 --model-name Qwen/Qwen3-4B-Instruct-2507 --suite smoke

  # a suite from disk, three repeats, eight attempts in flight
  goatbench run --models reference --tasks-dir ./my-tasks --repeat 3 --parallel 8

  # a night's run that must end by morning, without streaming
  goatbench run --models qwen3-4b-local --base-url http://litellm:4000/v1 --deadline 6h --no-stream

  # finish an interrupted run, and run again the attempts that hit server errors
  goatbench run --resume results/20260102-030405-a1b2c3 --retry-errors

  # insist on isolation: fail rather than run commands unisolated
  goatbench run --models reference --suite smoke --sandbox bwrap

  # benchmark your own agent: any command, run per attempt behind a recording proxy
  goatbench run --models qwen3-4b --base-url http://litellm:4000/v1 --agent 'goat eval --prompt-file {prompt_file}'

  # the built-in loop as an external command (5/5, the same requests as builtin)
  goatbench run --models reference --suite smoke --agent 'goatbench agent'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Args = flagsSet(cmd)
			if !cmd.Flags().Changed("temperature") {
				o.Temperature = -1
			} else if o.Temperature < 0 || math.IsNaN(o.Temperature) {
				return usageError("--temperature must be between 0 and 2, got %g", o.Temperature)
			}
			o.changed, o.flags = map[string]bool{}, cmd.Flags()
			cmd.Flags().Visit(func(f *pflag.Flag) { o.changed[f.Name] = true })
			if runF != nil {
				return runF(o)
			}
			s.Err = &lockedWriter{w: s.Err}
			ctx, stop := interruptible(cmd.Context(), s.Err, os.Exit)
			defer stop()
			return runRun(ctx, o, s)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Models, "models", nil, "models to run, comma-separated (registry keys, routes, or \"reference\")")
	f.StringVar(&o.Suite, "suite", "smoke", "embedded task suite ("+strings.Join(tasks.Names(), ", ")+")")
	f.StringVar(&o.TasksDir, "tasks-dir", "", "load the suite from this directory of YAML task files instead")
	f.StringSliceVar(&o.Tiers, "tier", nil, "only the tasks of these tiers ("+strings.Join(tasks.Tiers, ", ")+")")
	f.StringSliceVar(&o.Tags, "tags", nil, "only the tasks with any of these tags")
	intFlag(f, &o.Parallel, "parallel", 4, "attempts in flight per model")
	intFlag(f, &o.Repeat, "repeat", 1, "attempts per task and model")
	f.StringVar(&o.Out, "out", "results", "folder for run outputs")
	f.StringVar(&o.BaseURL, "base-url", "", "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (default $OPENAI_BASE_URL)")
	f.StringVar(&o.ModelName, "model-name", "", "model name to send to --base-url (when --models is not given)")
	f.StringVar(&o.APIKey, "api-key", "", "API key for --base-url (default $OPENAI_API_KEY)")
	f.BoolVar(&o.KeepWorkspaces, "keep-workspaces", false, "keep each attempt's workspace for inspection")
	f.BoolVar(&o.Direct, "direct", false, "skip the LiteLLM proxy: call each Modal app's own vLLM URL with the model's Hugging Face id")
	f.BoolVar(&o.StopAfter, "stop-after", false, "stop the Modal apps this run deployed or woke when it is done (otherwise they scale down after 5 idle minutes)")
	o.Modal.register(f)
	f.StringVar(&o.Sandbox, "sandbox", sandbox.ModeAuto, "where commands run: bwrap (isolated), plain (not isolated), auto (bwrap when it works here), or modal (a Modal Sandbox per attempt)")
	f.Float64Var(&o.MinPassRate, "min-pass-rate", 1, "exit 0 when at least this fraction of judged attempts passed")
	f.StringVar(&o.Registry, "registry", "", registryFlagUsage)
	f.Float64Var(&o.Temperature, "temperature", 0, "sampling temperature for every model (default: each model's own; 0.3 for local models)")
	f.BoolVar(&o.NoStream, "no-stream", false, "send plain requests instead of streaming them (no time to first token)")
	f.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Minute, "limit on each try of a chat request (0: only the task's timeout)")
	intFlag(f, &o.MaxRetries, "max-retries", runner.DefaultRetry.Max, "retries of failed requests allowed per attempt (0: none)")
	f.DurationVar(&o.Deadline, "deadline", 0, "stop the whole run after this long, e.g. 6h; unfinished attempts are cancelled (0: no limit)")
	f.StringVar(&o.Color, "color", "auto", "colour the output: auto (on a terminal, unless NO_COLOR is set), always, never")
	f.StringVar(&o.Resume, "resume", "", "complete the run in this folder (results/<run-id>): run only attempts without a result")
	f.StringVar(&o.Agent, "agent", agentcmd.Builtin, "who makes each attempt: builtin (goatbench's loop), an agent of goatbench.yaml, or a command template with {prompt}, {prompt_file}, {answer_file}")
	f.BoolVar(&o.RespectAgent, "respect-agent-params", false, "with --agent, keep the agent's temperature and tool_choice; the model's defaults only fill what it leaves out")
	f.StringVar(&o.Shard, "shard", "", "run only share i of n of the attempts (i/n, e.g. 2/4); join the shards with goatbench merge")
	f.BoolVar(&o.RetryErrors, "retry-errors", false, "with --resume, also run again the attempts that ended in an infrastructure error")
	return cmd
}

func runRun(ctx context.Context, o *runOptions, s streams) error {
	if o.APIKey != "" {
		redact.Register("--api-key", o.APIKey)
	}
	if _, err := wantColor(o.Color, s.Out); err != nil {
		return err
	}
	s = streams{Out: redact.Writer(s.Out), Err: redact.Writer(s.Err), color: o.Color}
	prev, err := o.resumeFrom(s)
	if err != nil {
		return err
	}
	defer prev.Close()
	plan, err := o.plan(prev)
	if err != nil {
		return err
	}
	if onModal(plan) {
		if err := o.Modal.preflight(); err != nil {
			return err
		}
	}
	sb, warning, err := o.openSandbox(ctx, &plan, prev)
	if err != nil {
		return usageError("--sandbox %s: %v", o.Sandbox, err)
	}
	if b, ok := sb.(*sandbox.Bwrap); ok {
		defer b.Close() // the sessions it keeps for the next workspace
	}
	if warning != "" {
		fmt.Fprintln(s.Err, warning)
	}
	plan.Sandbox, plan.SandboxWarning = sb, warning
	if x, ok := plan.Agent.(agentcmd.External); ok {
		if err := x.Agent.CheckSandbox(sb); err != nil {
			return usageError("--agent: %v", err)
		}
		x.Sandbox = sb // the agent runs where the tool commands would
		plan.Agent = x
	}
	view := newProgressView(ctx, s, plan)
	out, err := engine.Run(ctx, engine.Options{
		Plan: plan,
		NewDeployer: func(logDir string, progress func(string, deploy.Phase, time.Duration)) engine.Deployer {
			return o.Modal.deployer(logDir, progress)
		},
		Events: view.event,
	})
	view.Close()
	if err != nil {
		return exitFor(err)
	}
	if out.Workspaces != "" {
		defer fmt.Fprintf(s.Err, "workspaces kept in %s\n", out.Workspaces)
	}
	return finish(out.Stop, out.Dir, o.MinPassRate, s)
}

// exitFor maps an engine error to its exit code: a plan that cannot run is a
// usage error, an interrupt before anything was written exits 130, anything
// else is an infrastructure failure.
func exitFor(err error) error {
	var ce *engine.ConfigError
	switch {
	case errors.As(err, &ce):
		return usageError("%v", ce.Err)
	case errors.Is(err, errInterrupted):
		return &exitError{code: exitCancel, err: err}
	}
	return infraError(err)
}
