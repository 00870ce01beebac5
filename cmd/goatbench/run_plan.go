package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/agentcmd"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/modalsandbox"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/safetext"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// plan validates the flags and turns them into the engine's plan; nothing is
// written before it succeeds. When resuming, what the command line leaves out
// comes from the earlier run, and what it says must agree with that run. The
// plan's sandbox is left for the caller to open.
func (o *runOptions) plan(prev *engine.Previous) (engine.Plan, error) {
	if prev != nil {
		// First, so that what comes from run.json is checked as what the
		// command line gives is.
		if err := o.fill(prev); err != nil {
			return engine.Plan{}, err
		}
	}
	switch {
	case o.changed["suite"] && o.changed["tasks-dir"]:
		return engine.Plan{}, errSuiteAndDir
	case o.changed["agent"] && strings.TrimSpace(o.Agent) == "":
		return engine.Plan{}, usageError("--agent is empty: give builtin (the default), an agent of goatbench.yaml, or a command")
	case o.changed["base-url"] && len(o.Models) > 0 && !slices.ContainsFunc(o.Models, func(m string) bool { return strings.TrimSpace(m) != reference.ModelID }):
		return engine.Plan{}, usageError("--base-url has no model to serve: the reference model runs in-process (use --model-name for a model of that endpoint)")
	case o.Parallel < 1 || o.Parallel > results.MaxParallel:
		return engine.Plan{}, usageError("--parallel must be from 1 to %d, got %d", results.MaxParallel, o.Parallel)
	case o.Repeat < 1:
		return engine.Plan{}, usageError("--repeat must be at least 1, got %d", o.Repeat)
	case o.Repeat > results.MaxAttempts:
		return engine.Plan{}, usageError("%v", results.CheckAttempts(0, 0, o.Repeat))
	case o.Temperature > 2 || math.IsNaN(o.Temperature):
		return engine.Plan{}, usageError("--temperature must be between 0 and 2, got %g", o.Temperature)
	case o.Sandbox != sandbox.ModeAuto && o.Sandbox != sandbox.ModeBwrap && o.Sandbox != sandbox.ModePlain && o.Sandbox != modalsandbox.Mode:
		return engine.Plan{}, usageError("--sandbox must be bwrap, plain, auto or modal, got %q", o.Sandbox)
	case o.Sandbox == modalsandbox.Mode && o.Agent != "" && o.Agent != agentcmd.Builtin:
		// An agent command runs on this machine, behind a proxy on loopback,
		// where a Modal Sandbox's workspace is not.
		return engine.Plan{}, usageError("--agent %q cannot run with --sandbox modal: external agents run on this machine; use --sandbox bwrap, or the built-in agent in Modal", o.Agent)
	case !(o.MinPassRate >= 0 && o.MinPassRate <= 1): // NaN too
		return engine.Plan{}, usageError("--min-pass-rate must be between 0 and 1, got %g", o.MinPassRate)
	case o.MaxRetries < 0:
		return engine.Plan{}, usageError("--max-retries must be 0 or more, got %d", o.MaxRetries)
	case o.RequestTimeout < 0 || o.Deadline < 0:
		return engine.Plan{}, usageError("--request-timeout and --deadline cannot be negative")
	}
	agent, agentName, err := o.agent(retryPolicy(o.MaxRetries))
	if err != nil {
		return engine.Plan{}, err
	}
	shard, err := engine.ParseShard(o.Shard)
	if err != nil {
		return engine.Plan{}, usageError("%v", err)
	}
	suite, err := loadSuite(o.Suite, o.TasksDir)
	if err != nil {
		if hint := o.recordedRelative(prev, "tasks-dir", o.TasksDir, err); hint != nil {
			return engine.Plan{}, hint
		}
		return engine.Plan{}, err
	}
	if suite, err = suite.Select(o.Tiers, o.Tags); err != nil {
		return engine.Plan{}, usageError("%v", err)
	}
	reg, err := loadRegistry(o.Registry)
	if err != nil {
		return engine.Plan{}, err
	}
	sel := engine.Selection{Names: o.Models, BaseURL: firstNonEmpty(o.BaseURL, os.Getenv("OPENAI_BASE_URL")),
		Direct: o.Direct, Temperature: o.Temperature, Previous: prev}
	if len(o.Models) == 0 { // --model-name: a name the endpoint knows, not a registry key
		if o.ModelName == "" {
			return engine.Plan{}, usageError("name the models to run: --models reference, or --base-url with --model-name")
		}
		if err := shownAsIs("--model-name", o.ModelName); err != nil {
			return engine.Plan{}, err
		}
		sel.Names, sel.Raw = []string{o.ModelName}, true
	} else if o.ModelName != "" {
		return engine.Plan{}, usageError("use either --models or --model-name, not both")
	}
	targets, err := engine.ResolveTargets(reg, sel)
	if err != nil {
		return engine.Plan{}, exitFor(err)
	}
	for i, t := range targets {
		if t.Modal != nil {
			if targets[i].Deploy, err = o.Modal.target(*t.Modal); err != nil {
				return engine.Plan{}, err
			}
		}
	}
	apiKey := firstNonEmpty(o.APIKey, os.Getenv("OPENAI_API_KEY"))
	if prev != nil && sel.BaseURL == "" && apiKey != "" {
		// The key goes only where this command line or environment says.
		for _, t := range targets {
			if t.BaseURL != "" && t.BaseURL == prev.BaseURL(t.Name) {
				return engine.Plan{}, usageError("cannot resume %s: %s was served at %s, where a resume sends the API key only when given again: add --base-url %s", prev.Dir, t.Name, t.BaseURL, agentcmd.ShellQuote(t.BaseURL))
			}
		}
	}
	if err := results.CheckAttempts(len(suite.Tasks), len(targets), o.Repeat); err != nil {
		return engine.Plan{}, usageError("%v", err)
	}
	if prev != nil {
		if err := prev.Check(suite, targets); err != nil {
			return engine.Plan{}, exitFor(err)
		}
	}
	retry := retryPolicy(o.MaxRetries)
	return engine.Plan{Agent: agent, AgentName: agentName, Shard: shard,
		Suite: suite, Targets: targets, Repeat: o.Repeat, Parallel: o.Parallel, Out: o.Out,
		Resume: prev, RetryErrors: o.RetryErrors, Deadline: o.Deadline, StopAfter: o.StopAfter, Direct: o.Direct,
		KeepWorkspaces: o.KeepWorkspaces, NoStream: o.NoStream, RequestTimeout: o.RequestTimeout, Retry: retry,
		APIKey: apiKey, Version: buildVersion(version, debug.ReadBuildInfo), Args: o.Args,
	}, nil
}

// recordedRelative explains err, a path that is not found, when the path is
// the resumed run's own relative --flag: recorded as given, so that shards
// run in different checkouts merge, it is relative to the folder the run
// started in. It is nil for any other error.
func (o *runOptions) recordedRelative(prev *engine.Previous, flag, path string, err error) error {
	if prev == nil || o.changed[flag] || path == "" || filepath.IsAbs(path) || !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return usageError("%v (the run's --%s %s is relative to the folder it was started in: resume from there, or give --%s)", err, flag, path, flag)
}

func retryPolicy(max int) runner.RetryPolicy {
	r := runner.DefaultRetry
	r.Max = max
	return r
}

// agent resolves --agent (a goatbench.yaml name or a command template) and
// finds its executable and mounts, before anything runs: nil is the built-in
// loop. The name is what run.json records.
func (o *runOptions) agent(retry runner.RetryPolicy) (runner.Agent, string, error) {
	configs, err := agentcmd.LoadConfigs(models.OverrideFile)
	if err != nil {
		return nil, "", usageError("%v", err)
	}
	c, external, err := agentcmd.Resolve(o.Agent, configs)
	if err != nil {
		return nil, "", usageError("--agent: %v", err)
	}
	if !external {
		if o.RespectAgent {
			return nil, "", usageError("--respect-agent-params needs --agent with an external agent")
		}
		return nil, results.BuiltinAgent, nil
	}
	ag, err := agentcmd.Prepare(c)
	if err != nil {
		return nil, "", usageError("--agent: %v", err)
	}
	return agentcmd.External{Agent: ag, RequestTimeout: o.RequestTimeout, Retry: retry, RespectAgentParams: o.RespectAgent}, c.Name, nil
}

// onModal reports whether any target is deployed and warmed on Modal.
func onModal(p engine.Plan) bool {
	return slices.ContainsFunc(p.Targets, func(t engine.Target) bool { return t.Modal != nil })
}

// resumeFrom reads the run folder of --resume; nil when not resuming.
func (o *runOptions) resumeFrom(s streams) (*engine.Previous, error) {
	switch {
	case o.Resume == "" && o.RetryErrors:
		return nil, usageError("--retry-errors needs --resume <run folder>")
	case o.Resume == "":
		return nil, nil
	case o.changed["out"]:
		return nil, usageError("--resume writes into the run folder it is given; leave out --out")
	}
	prev, warnings, err := engine.OpenPrevious(o.Resume)
	if err != nil {
		return nil, exitFor(err)
	}
	for _, w := range warnings {
		fmt.Fprintln(s.Err, "warning:", safetext.Line(w))
	}
	return prev, nil
}

// fill takes from the earlier run what the command line leaves out: the
// suite, the models, the repeats, the parallelism and every flag of
// resumedAsGiven.
func (o *runOptions) fill(p *engine.Previous) error {
	m := p.Manifest
	if !o.changed["suite"] && !o.changed["tasks-dir"] {
		o.Suite, o.TasksDir = m.Suite, ""
		if dir, ok := p.EarlierFlag("tasks-dir"); ok {
			o.TasksDir = dir
		}
		o.Tiers, o.Tags = nil, nil
		if v, ok := p.EarlierFlag("tier"); ok {
			o.Tiers = strings.Split(v, ",")
		}
		if v, ok := p.EarlierFlag("tags"); ok {
			o.Tags = strings.Split(v, ",")
		}
	}
	if !o.changed["models"] && !o.changed["model-name"] {
		o.Models, o.ModelName = nil, ""
		if name, ok := p.EarlierFlag("model-name"); ok {
			o.ModelName = name // a name the endpoint knows, not a registry key
		} else {
			for _, mi := range m.Models {
				o.Models = append(o.Models, mi.Name)
			}
		}
	}
	// What chooses which models run and where their requests (and the API
	// key) go is the user's to give: from a run folder alone, a resume
	// takes none of it.
	for _, name := range askedAgain {
		if v, ok := p.EarlierFlag(name); ok && !o.changed[name] {
			return usageError("cannot resume %s: it ran with --%s=%s, which a resume takes only when given again: add --%s %s", p.Dir, name, v, name, agentcmd.ShellQuote(v))
		}
	}
	if v, ok := p.EarlierFlag("sandbox"); ok && !o.changed["sandbox"] {
		if v == sandbox.ModePlain {
			// Whoever wrote the folder would choose what runs unisolated here.
			return usageError("cannot resume %s: it ran commands unisolated, which a resume does only when told again: add --sandbox plain", p.Dir)
		}
		o.Sandbox = v // a run in Modal sandboxes resumes in them, and sweeps its leftovers
	}
	if v, ok := p.EarlierFlag("temperature"); ok && !o.changed["temperature"] {
		if t, err := strconv.ParseFloat(v, 64); err == nil {
			o.Temperature = t
		}
	}
	if !o.changed["agent"] {
		o.Agent = m.AgentName()
		if o.Agent != results.BuiltinAgent {
			// An agent of this folder's goatbench.yaml is this user's own; a
			// command recorded in run.json is whatever the folder says, and
			// runs only when given again.
			configs, err := agentcmd.LoadConfigs(models.OverrideFile)
			if err != nil {
				return usageError("%v", err)
			}
			if _, ok := configs[o.Agent]; !ok {
				return usageError("cannot resume %s: it ran the agent command %s, which a resume runs only when given again: add --agent %s", p.Dir, o.Agent, agentcmd.ShellQuote(o.Agent))
			}
		}
	} else if o.Agent != m.AgentName() {
		return usageError("cannot resume %s with --agent %q: it was run with agent %q", p.Dir, o.Agent, m.AgentName())
	}
	if o.changed["repeat"] && o.Repeat != m.Repeat {
		return usageError("cannot resume %s with --repeat %d: it was run with --repeat %d", p.Dir, o.Repeat, m.Repeat)
	}
	o.Repeat = m.Repeat
	if m.Shard != nil && !o.changed["shard"] {
		o.Shard = m.Shard.String()
	}
	if !o.changed["parallel"] && m.Parallel > 0 {
		o.Parallel = min(m.Parallel, results.MaxParallel)
	}
	// The rest of what the run was given holds for the rest of it: a resumed
	// --no-stream run still sends plain requests, and its --min-pass-rate
	// still decides its exit code.
	for _, name := range resumedAsGiven {
		v, ok := p.EarlierFlag(name)
		if !ok || o.changed[name] || o.flags == nil {
			continue
		}
		if err := o.flags.Set(name, v); err != nil {
			return usageError("cannot resume %s: its run.json has --%s=%s: %v", p.Dir, name, v, err)
		}
	}
	return nil
}

// resumedAsGiven are the flags a resume takes from run.json as they were
// given, unless its command line gives them again. fill restores the others
// that shape a run; --out, --resume, --retry-errors, --color, --deadline (a
// limit on one sitting, which a resume is there to go past) and --api-key
// (never recorded) are the resume's own, and --base-url comes back through
// the models' recorded endpoints. --modal-cli, a program this machine runs,
// is never taken from a run folder.
var resumedAsGiven = []string{
	"no-stream", "request-timeout", "max-retries", "min-pass-rate", "keep-workspaces",
	"respect-agent-params", "stop-after", "no-deploy",
}

// askedAgain are the flags a resume refuses to take from run.json alone:
// they choose the models' specs (--registry) and the endpoints that requests
// and the API key go to. A resume runs only when its command line gives
// them again (with any value).
var askedAgain = []string{"registry", "direct", "modal-env", "modal-workspace", "env-suffix"}

// errSuiteAndDir refuses --suite with --tasks-dir, of which only one is
// loaded (loadSuite).
var errSuiteAndDir = usageError("use either --suite or --tasks-dir, not both")

func loadSuite(name, dir string) (tasks.Suite, error) {
	var (
		s   tasks.Suite
		err error
	)
	if dir != "" {
		s, err = tasks.LoadDir(dir)
	} else {
		s, err = tasks.Load(name)
	}
	if err != nil {
		return s, usageError("%w", err)
	}
	return s, nil
}

// flagsSet lists the flags given on the command line for run.json, without
// values that are secrets.
func flagsSet(cmd *cobra.Command) []string {
	var args []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "api-key":
			v = "***"
		case "base-url":
			v = engine.RecordedURL(v)
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		args = append(args, "--"+f.Name+"="+v)
	})
	return args
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// modelsRequest and unwrapURLError are shared with doctor.
var (
	modelsRequest  = engine.ModelsRequest
	unwrapURLError = engine.UnwrapURLError
)

func ptr32(v float64) *float32 {
	f := float32(v)
	return &f
}

// shownAsIs refuses a name given on the command line that holds control
// characters (see safetext): it would be shown in progress lines, tables and
// every report, where escaping each place it appears is a place to forget.
func shownAsIs(flag, name string) error {
	if safetext.Line(name) != name {
		return usageError("%s %q has control characters", flag, name)
	}
	return nil
}
