// Package engine owns one benchmark run: from a Plan (suite, targets,
// repeats, sandbox, agent, run folder) it starts the reference server when
// asked, checks the endpoints, writes run.json, deploys and warms the
// Modal-served models and runs each the moment it is warm, and records every
// attempt in results.jsonl. It knows nothing of flags: the CLI builds the
// Plan, injects the deployer, the clock and the event sink, renders the
// events and maps the Outcome to an exit code.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// Plan is one run, fully resolved: nothing in it is read from flags or the
// environment by the engine.
type Plan struct {
	Suite    tasks.Suite
	Targets  []Target
	Repeat   int
	Parallel int // attempts in flight per model
	// Shard is the share of the attempts this run makes (see ShardOf); the
	// zero value is all of them.
	Shard   results.Shard
	Sandbox sandbox.Sandbox // where commands run; nil is sandbox.Default()
	// SandboxWarning says the commands are not isolated as asked (auto without
	// bubblewrap); run.json keeps it, so that every report shows it.
	SandboxWarning string
	Agent          runner.Agent // who performs each attempt; nil is the built-in loop
	// AgentName names Agent in run.json; "" is results.BuiltinAgent.
	AgentName string
	// Workspaces makes each attempt's workspace; nil is a local folder under
	// WorkRoot whose commands run in Sandbox.
	Workspaces     func(ctx context.Context, t tasks.Task) (sandbox.Workspace, error)
	Out            string        // a new run's folder goes under it, as <run-id>/
	Resume         *Previous     // the run folder to complete; nil starts a new run
	RetryErrors    bool          // resumed: also run again the attempts that errored
	Deadline       time.Duration // limit on the whole run; 0 is none
	StopAfter      bool          // stop the Modal apps this run deployed or woke
	Direct         bool          // Modal-served models are called at their own URL
	KeepWorkspaces bool
	WorkRoot       string // parent of the attempt workspaces; "" is the system temp dir
	NoStream       bool
	RequestTimeout time.Duration
	Retry          runner.RetryPolicy
	APIKey         string   // sent to every endpoint
	Version        string   // goatbench's, for run.json
	Args           []string // the flags given, secrets masked, for run.json
}

// Options are a run's plan and its dependencies.
type Options struct {
	Plan Plan
	// NewDeployer builds the deployer of the Modal-served targets; its logs
	// go to logDir (the run folder) and its phase changes to progress. Only
	// called when a target is Modal-served.
	NewDeployer func(logDir string, progress func(key string, p deploy.Phase, elapsed time.Duration)) Deployer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Events receives the run's progress; nil drops it.
	Events func(Event)
}

// Deployer makes Modal-served models ready; *deploy.Deployer is the real one.
type Deployer interface {
	// EnsureAll deploys what is missing and warms every target at once,
	// calling onReady (concurrently) for each one the moment it answers.
	EnsureAll(ctx context.Context, targets []deploy.Target, onReady func(deploy.Endpoint)) deploy.Outcomes
	// StopStarted stops the apps this run deployed or woke.
	StopStarted(ctx context.Context, eps []deploy.Endpoint) error
	Close() error
}

// Outcome is what a run that got as far as writing its folder did.
type Outcome struct {
	RunID string
	Dir   string // the run folder: run.json, results.jsonl, transcripts/
	// Stop is why the run ended early (an interrupt, the deadline): the
	// context's cause; nil when it ran to the end.
	Stop error
	// Workspaces is where the attempts' workspaces were kept, with
	// KeepWorkspaces.
	Workspaces string
}

// ConfigError is a plan that cannot run as given (a bad endpoint, a run
// folder that cannot be created or resumed): the user must change something.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configError(format string, a ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, a...)}
}

// engine is one run in progress.
type engine struct {
	Options
	plan Plan
	lock *results.Lock // a new run's folder, held for the run
	mu   sync.Mutex    // serialises Events
}

func (e *engine) emit(ev Event) {
	if e.Events == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Events(ev)
}

// Run makes the run. A *ConfigError means nothing was run; when ctx ends
// before anything was written, the error is its cause. Any other error is an
// infrastructure failure; the Outcome then still names the run folder when
// one was written.
func Run(ctx context.Context, o Options) (Outcome, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &engine{Options: o, plan: o.Plan}
	p := &e.plan
	if p.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, p.Deadline, fmt.Errorf("the run's --deadline of %s passed", p.Deadline))
		defer cancel()
	}
	// The reference server lives as long as the run.
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	for i := range p.Targets {
		if p.Targets[i].Name == reference.ModelID {
			// The built-in loop sends the task's prompt as it is; an
			// external agent says what it likes, and the reference answers
			// what it recognises.
			if a, b := reference.SharedPrompt(p.Suite); a != "" && p.Agent == nil {
				return Outcome{}, configError("the reference model tells tasks apart by their prompt, and tasks %s and %s share one: give each its own", a, b)
			}
			url, err := reference.New(p.Suite).Start(srvCtx)
			if err != nil {
				return Outcome{}, err
			}
			p.Targets[i].BaseURL = url
			p.Targets[i].Info.BaseURL = url
		}
	}
	if err := preflight(ctx, p.Targets, p.APIKey); err != nil {
		if ctx.Err() != nil {
			return Outcome{}, context.Cause(ctx)
		}
		return Outcome{}, err
	}
	if p.Sandbox == nil {
		p.Sandbox = sandbox.Default()
	}
	skip, total, err := e.shard()
	if err != nil {
		return Outcome{}, err
	}
	dir, man, err := e.manifest()
	if err != nil {
		return Outcome{}, err
	}
	defer e.lock.Unlock()
	if p.SandboxWarning != "" { // kept by a resume: the attempts run before were not isolated either
		man.SandboxWarning = p.SandboxWarning
	}
	if b, ok := p.Sandbox.(interface{ Binary() string }); ok {
		man.SandboxBinary = b.Binary()
	}
	out := Outcome{RunID: man.RunID, Dir: dir}
	if err := results.WriteManifest(dir, man); err != nil {
		return out, fmt.Errorf("write run.json: %w", err)
	}
	done := skip // other shards' attempts, and below the resumed run's finished ones
	if p.Resume != nil {
		for k := range p.Resume.done(p.RetryErrors) {
			done[k] = true
		}
	}
	r, err := runner.New(p.Suite, runner.Options{
		RunID: man.RunID, RunDir: dir, Parallel: p.Parallel, Repeat: p.Repeat, KeepWorkspaces: p.KeepWorkspaces,
		WorkRoot: p.WorkRoot, Sandbox: p.Sandbox, RequestTimeout: p.RequestTimeout, Retry: p.Retry, Done: done, Agent: p.Agent,
		NewWorkspace: p.Workspaces,
		OnAttempt:    func(a results.Attempt) { e.emit(AttemptFinished{Attempt: a}) },
		OnStart: func(model, task string, repeat int) {
			e.emit(AttemptStarted{Model: model, Task: task, Repeat: repeat})
		},
		OnWarning: func(text string) { e.emit(Warning{Text: text}) },
	})
	if err != nil {
		return out, err
	}
	if p.KeepWorkspaces {
		out.Workspaces = r.WorkspacesDir()
	}
	pending, byModel := 0, map[string]int{}
	for _, t := range p.Targets {
		byModel[t.Name] = r.Pending(t.Name)
		pending += byModel[t.Name]
	}
	e.emit(RunStarted{RunID: man.RunID, Dir: dir, Sandbox: p.Sandbox.Mode(), Resumed: p.Resume != nil,
		Tasks: len(p.Suite.Tasks), Models: len(p.Targets), Repeat: p.Repeat,
		Pending: pending, ByModel: byModel, Total: total})

	g, gctx := errgroup.WithContext(ctx)
	var onModal []Target
	for _, t := range p.Targets {
		if e.nothingToRun(t.Name, done) {
			// Another shard runs it, or it is all done: nothing to deploy
			// or warm, and its progress line says so at once.
			e.emit(ModelDone{Model: t.Name})
			continue
		}
		if t.Modal != nil {
			onModal = append(onModal, t)
			continue
		}
		g.Go(func() error {
			start := e.Now()
			err := r.RunModel(gctx, e.model(t))
			e.emit(ModelDone{Model: t.Name, Elapsed: e.Now().Sub(start)})
			return err
		})
	}
	if len(onModal) > 0 {
		g.Go(func() error { return e.runOnModal(gctx, r, dir, onModal, &man) })
	}
	runErr := g.Wait()
	if we := (*runner.WriteError)(nil); errors.As(runErr, &we) {
		_ = r.Close()
		return out, fmt.Errorf("%v; stopped at the first failed write, what is on disk is kept; once it can be written, complete the run with: goatbench run --resume %s", we, dir)
	}
	closeErr := r.Close()
	end := e.Now().UTC()
	man.Ended = &end
	if prev := p.Resume; pending == 0 && prev != nil && prev.Manifest.Ended != nil {
		// A resume with nothing left to run leaves the run's end as it
		// was: its time is the attempts', not the time since.
		ended := *prev.Manifest.Ended
		man.Ended = &ended
	}
	e.recordSandboxUsage(&man)
	if err := errors.Join(runErr, closeErr, results.WriteManifest(dir, man)); err != nil {
		return out, err
	}
	if ctx.Err() != nil {
		out.Stop = context.Cause(ctx)
	}
	return out, nil
}

// manifest is the run folder and its run.json: a new one, or the resumed
// run's with this invocation noted.
func (e *engine) manifest() (string, results.Manifest, error) {
	p := &e.plan
	agent := p.AgentName
	if agent == "" {
		agent = results.BuiltinAgent
	}
	if prev := p.Resume; prev != nil {
		man := prev.Manifest
		if man.AgentName() != agent {
			// One run, one agent: its attempts are compared as one.
			return "", results.Manifest{}, configError("cannot resume %s with agent %q: it was run with agent %q", prev.Dir, agent, man.AgentName())
		}
		man.Sandbox = p.Sandbox.Mode()
		man.Resumed, man.Ended, man.Parallel = append(man.Resumed, e.Now().UTC()), nil, p.Parallel
		// Keep what the first run recorded of each model; only its endpoint
		// may have moved (the reference server listens on a new port).
		for i, mi := range man.Models {
			for _, t := range p.Targets {
				if t.Name == mi.Name {
					man.Models[i].BaseURL = RecordedURL(t.BaseURL)
				}
			}
		}
		return prev.Dir, man, nil
	}
	runID := e.newRunID()
	dir := filepath.Join(p.Out, runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", results.Manifest{}, configError("cannot create the run folder: %v", err)
	}
	lock, err := results.LockDir(dir)
	if err != nil {
		return "", results.Manifest{}, err
	}
	e.lock = lock
	man := results.Manifest{
		RunID: runID, Version: p.Version, Suite: p.Suite.Name, SuiteHash: p.Suite.Hash, Tiers: p.Suite.TaskTiers(),
		Repeat: p.Repeat, Parallel: p.Parallel, Sandbox: p.Sandbox.Mode(), Args: p.Args, Started: e.Now().UTC(),
		Agent: agent,
	}
	if !p.Shard.Whole() {
		man.Shard = &p.Shard
	}
	for _, t := range p.Suite.Tasks {
		man.Tasks = append(man.Tasks, t.ID)
	}
	for _, t := range p.Targets {
		man.Models = append(man.Models, t.Info)
	}
	return dir, man, nil
}

// model is a target as the runner talks to it.
func (e *engine) model(t Target) runner.Model {
	return runner.Model{Name: t.Name, ModelID: t.ModelID, Client: t.client(e.plan.APIKey),
		Temperature: t.Temperature, ToolChoice: t.ToolChoice, NoStream: e.plan.NoStream}
}

func (e *engine) newRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return e.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}
