package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/report"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// runOptions are the inputs of `goatbench run`.
type runOptions struct {
	Models         []string
	Suite          string
	TasksDir       string
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
	Resume         string // a run folder to complete
	RetryErrors    bool
	Direct         bool // skip LiteLLM: call each Modal app's vLLM with the HF id
	StopAfter      bool // stop the Modal apps this run deployed or woke
	Modal          modalOptions
	Args           []string
	changed        map[string]bool // flags given on the command line
}

func newRunCmd(s streams) *cobra.Command {
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
the attempts without a result (and, with --retry-errors, those that errored).

The model's commands, and the task checks, run in a sandbox: with bubblewrap
(--sandbox bwrap) each command sees the system read-only, its workspace as the
only writable place, no network and none of this machine's secrets. The default
(auto) uses bubblewrap when it works here, else runs commands unisolated
(--sandbox plain) with a warning. run.json records which.

Exit codes: 0 every attempt passed (or --min-pass-rate was met), 1 some attempts
failed, 2 usage or configuration error, 3 infrastructure errors left results
incomplete, 130 interrupted.`,
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
  goatbench run --models reference --suite smoke --sandbox bwrap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Args = flagsSet(cmd)
			if !cmd.Flags().Changed("temperature") {
				o.Temperature = -1
			} else if o.Temperature < 0 || math.IsNaN(o.Temperature) {
				return usageError("--temperature must be between 0 and 2, got %g", o.Temperature)
			}
			o.changed = map[string]bool{}
			cmd.Flags().Visit(func(f *pflag.Flag) { o.changed[f.Name] = true })
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
	f.IntVar(&o.Parallel, "parallel", 4, "attempts in flight per model")
	f.IntVar(&o.Repeat, "repeat", 1, "attempts per task and model")
	f.StringVar(&o.Out, "out", "results", "folder for run outputs")
	f.StringVar(&o.BaseURL, "base-url", "", "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (default $OPENAI_BASE_URL)")
	f.StringVar(&o.ModelName, "model-name", "", "model name to send to --base-url (when --models is not given)")
	f.StringVar(&o.APIKey, "api-key", "", "API key for --base-url (default $OPENAI_API_KEY)")
	f.BoolVar(&o.KeepWorkspaces, "keep-workspaces", false, "keep each attempt's workspace for inspection")
	f.BoolVar(&o.Direct, "direct", false, "skip the LiteLLM proxy: call each Modal app's own vLLM URL with the model's Hugging Face id")
	f.BoolVar(&o.StopAfter, "stop-after", false, "stop the Modal apps this run deployed or woke when it is done (otherwise they scale down after 5 idle minutes)")
	o.Modal.register(f)
	f.StringVar(&o.Sandbox, "sandbox", sandbox.ModeAuto, "where commands run: bwrap (isolated), plain (not isolated), or auto (bwrap when it works here)")
	f.Float64Var(&o.MinPassRate, "min-pass-rate", 1, "exit 0 when at least this fraction of judged attempts passed")
	f.StringVar(&o.Registry, "registry", "", registryFlagUsage)
	f.Float64Var(&o.Temperature, "temperature", 0, "sampling temperature for every model (default: each model's own; 0.3 for local models)")
	f.BoolVar(&o.NoStream, "no-stream", false, "send plain requests instead of streaming them (no time to first token)")
	f.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Minute, "limit on each try of a chat request (0: only the task's timeout)")
	f.IntVar(&o.MaxRetries, "max-retries", runner.DefaultRetry.Max, "retries of failed requests allowed per attempt (0: none)")
	f.DurationVar(&o.Deadline, "deadline", 0, "stop the whole run after this long, e.g. 6h; unfinished attempts are cancelled (0: no limit)")
	f.StringVar(&o.Resume, "resume", "", "complete the run in this folder (results/<run-id>): run only attempts without a result")
	f.BoolVar(&o.RetryErrors, "retry-errors", false, "with --resume, also run again the attempts that ended in an infrastructure error")
	return cmd
}

// target is a model to run and where to reach it.
type target struct {
	name        string // shown in results
	modelID     string // what requests send as "model"
	baseURL     string
	temperature *float32
	toolChoice  string
	startup     time.Duration // a Modal-served model's startup timeout: how long to follow its 303s
	modal       *models.Spec  // set for Modal-served models: deployed and warmed before they run
	info        results.ModelInfo
}

// client is the OpenAI-compatible client for the target. Modal answers a
// request held past 150 s with a 303; a cold model's are followed for as long
// as its startup may take.
func (t target) client(apiKey string) *runner.Client {
	if t.startup > 0 {
		return runner.NewClient(t.baseURL, apiKey, runner.FollowRedirectsFor(t.startup))
	}
	return runner.NewClient(t.baseURL, apiKey)
}

func runRun(ctx context.Context, o *runOptions, s streams) error {
	if o.APIKey != "" {
		redact.Register("--api-key", o.APIKey)
	}
	s = streams{Out: redact.Writer(s.Out), Err: redact.Writer(s.Err)}
	if o.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Deadline, fmt.Errorf("the run's --deadline of %s passed", o.Deadline))
		defer cancel()
	}
	prev, err := o.resumeFrom(s)
	if err != nil {
		return err
	}
	suite, targets, err := o.resolve(prev)
	if err != nil {
		return err
	}
	// The reference server lives as long as the run.
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	for i := range targets {
		if targets[i].name == reference.ModelID {
			url, err := reference.New(suite).Start(srvCtx)
			if err != nil {
				return infraError(err)
			}
			targets[i].baseURL = url
			targets[i].info.BaseURL = url
		}
	}
	apiKey := firstNonEmpty(o.APIKey, os.Getenv("OPENAI_API_KEY"))
	if slices.ContainsFunc(targets, func(t target) bool { return t.modal != nil }) {
		if err := o.Modal.preflight(); err != nil {
			return err
		}
	}
	if err := preflight(ctx, targets, apiKey); err != nil {
		if ctx.Err() != nil {
			return stoppedBeforeStart(ctx)
		}
		return err
	}
	sb, warning, err := sandbox.Open(o.Sandbox, sandbox.DefaultLimits)
	if err != nil {
		return usageError("--sandbox %s: %v", o.Sandbox, err)
	}
	if warning != "" {
		fmt.Fprintln(s.Err, warning)
	}

	var (
		dir  string
		man  results.Manifest
		done map[string]bool
	)
	if prev != nil {
		dir, man, done = o.Resume, prev.manifest, prev.done(o.RetryErrors)
		man.Sandbox = sb.Mode()
		now := time.Now().UTC()
		man.Resumed, man.Ended, man.Parallel = append(man.Resumed, now), nil, o.Parallel
		// Keep what the first run recorded of each model; only its endpoint
		// may have moved (the reference server listens on a new port).
		for i, mi := range man.Models {
			for _, t := range targets {
				if t.name == mi.Name {
					man.Models[i].BaseURL = recordedURL(t.baseURL)
				}
			}
		}
	} else {
		runID := newRunID()
		dir = filepath.Join(o.Out, runID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return usageError("cannot create the run folder: %v", err)
		}
		man = results.Manifest{
			RunID: runID, Version: version, Suite: suite.Name, SuiteHash: suite.Hash,
			Repeat: o.Repeat, Parallel: o.Parallel, Sandbox: sb.Mode(), Args: o.Args, Started: time.Now().UTC(),
		}
		for _, t := range suite.Tasks {
			man.Tasks = append(man.Tasks, t.ID)
		}
		for _, t := range targets {
			man.Models = append(man.Models, t.info)
		}
	}
	if err := results.WriteManifest(dir, man); err != nil {
		return infraError(fmt.Errorf("write run.json: %w", err))
	}

	var mu sync.Mutex
	retry := runner.DefaultRetry
	retry.Max = o.MaxRetries
	r, err := runner.New(suite, runner.Options{
		RunID: man.RunID, RunDir: dir, Parallel: o.Parallel, Repeat: o.Repeat, KeepWorkspaces: o.KeepWorkspaces, Sandbox: sb,
		RequestTimeout: o.RequestTimeout, Retry: retry, Done: done,
		OnAttempt: func(a results.Attempt) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(s.Err, attemptLine(a))
		},
	})
	if err != nil {
		return infraError(err)
	}
	pending := 0
	for _, t := range targets {
		pending += r.Pending(t.name)
	}
	if prev != nil {
		fmt.Fprintf(s.Err, "resume %s: %d of %d attempts to run → %s\n", man.RunID, pending, len(suite.Tasks)*len(targets)*o.Repeat, dir)
	} else {
		fmt.Fprintf(s.Err, "run %s: %d tasks × %d models × %d repeats, sandbox %s → %s\n", man.RunID, len(suite.Tasks), len(targets), o.Repeat, sb.Mode(), dir)
	}
	model := func(t target) runner.Model {
		return runner.Model{Name: t.name, ModelID: t.modelID, Client: t.client(apiKey),
			Temperature: t.temperature, ToolChoice: t.toolChoice, NoStream: o.NoStream}
	}
	g, gctx := errgroup.WithContext(ctx)
	var onModal []target
	for _, t := range targets {
		if t.modal != nil {
			onModal = append(onModal, t)
			continue
		}
		g.Go(func() error { return r.RunModel(gctx, model(t)) })
	}
	if len(onModal) > 0 {
		g.Go(func() error {
			return o.runOnModal(gctx, r, dir, onModal, model, &man, s)
		})
	}
	runErr := g.Wait()
	closeErr := r.Close()
	end := time.Now().UTC()
	man.Ended = &end
	if err := errors.Join(runErr, closeErr, results.WriteManifest(dir, man)); err != nil {
		return infraError(err)
	}
	var stop error
	if ctx.Err() != nil {
		stop = context.Cause(ctx)
	}
	return finish(stop, dir, o.MinPassRate, s)
}

// stoppedBeforeStart is the exit of a run stopped before anything was written.
func stoppedBeforeStart(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, errInterrupted) {
		return &exitError{code: exitCancel, err: cause}
	}
	return infraError(context.Cause(ctx))
}

// finish writes every report from the run folder, prints the summary, and
// maps the attempts to the exit code. stop is why the run was stopped early
// (an interrupt, the deadline), nil when it ran to the end. Counts are of each
// attempt's latest line: a resumed run may have recorded an attempt twice.
func finish(stop error, dir string, minPassRate float64, s streams) error {
	rep, err := report.Load(dir)
	if err != nil {
		return infraError(err)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(s.Err, "warning:", w)
	}
	color, _ := wantColor("auto", s.Out)
	if err := rep.Terminal(s.Out, color); err != nil {
		return err
	}
	if err := rep.WriteFiles(dir); err != nil {
		return infraError(fmt.Errorf("write reports: %w", err))
	}
	fmt.Fprintf(s.Err, "reports: %s\n", dir)
	c := rep.Totals()
	pass, fail, errs, cancelled := c.Passed, c.Failed+c.Timeouts, c.Errors-c.Cancelled, c.Cancelled
	// One last line for logs and CI: the denominator and the errors beside it.
	line := fmt.Sprintf("%d/%d passed, %d failed, %d errors", pass, pass+fail, fail, errs)
	if cancelled > 0 {
		line += fmt.Sprintf(", %d cancelled", cancelled)
	}
	fmt.Fprintf(s.Out, "%s — %s\n", line, dir)
	if cancelled > 0 {
		fmt.Fprintf(s.Err, "%d attempts did not finish; complete the run with: goatbench run --resume %s\n", cancelled, dir)
	}
	switch {
	case errors.Is(stop, errInterrupted):
		return &exitError{code: exitCancel, err: stop}
	case stop != nil && cancelled > 0:
		return infraError(fmt.Errorf("%v; %d attempts did not finish", stop, cancelled))
	case errs+cancelled > 0:
		return infraError(fmt.Errorf("%d attempts could not run (infrastructure errors); see %s", errs+cancelled, filepath.Join(dir, results.AttemptsFile)))
	case pass+fail > 0 && float64(pass)/float64(pass+fail) >= minPassRate:
		return nil
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%d attempts failed", fail)}
}

// resolve validates the flags and loads the suite and the models; nothing is
// written before it succeeds. When resuming, what the command line leaves out
// comes from the earlier run, and what it says must agree with that run.
func (o *runOptions) resolve(prev *previousRun) (tasks.Suite, []target, error) {
	switch {
	case o.Parallel < 1:
		return tasks.Suite{}, nil, usageError("--parallel must be at least 1, got %d", o.Parallel)
	case o.Repeat < 1:
		return tasks.Suite{}, nil, usageError("--repeat must be at least 1, got %d", o.Repeat)
	case o.Temperature > 2 || math.IsNaN(o.Temperature):
		return tasks.Suite{}, nil, usageError("--temperature must be between 0 and 2, got %g", o.Temperature)
	case o.Sandbox != sandbox.ModeAuto && o.Sandbox != sandbox.ModeBwrap && o.Sandbox != sandbox.ModePlain:
		return tasks.Suite{}, nil, usageError("--sandbox must be bwrap, plain or auto, got %q", o.Sandbox)
	case !(o.MinPassRate >= 0 && o.MinPassRate <= 1): // NaN too
		return tasks.Suite{}, nil, usageError("--min-pass-rate must be between 0 and 1, got %g", o.MinPassRate)
	case o.MaxRetries < 0:
		return tasks.Suite{}, nil, usageError("--max-retries must be 0 or more, got %d", o.MaxRetries)
	case o.RequestTimeout < 0 || o.Deadline < 0:
		return tasks.Suite{}, nil, usageError("--request-timeout and --deadline cannot be negative")
	}
	if prev != nil {
		if err := prev.fill(o); err != nil {
			return tasks.Suite{}, nil, err
		}
	}
	suite, err := loadSuite(o.Suite, o.TasksDir)
	if err != nil {
		return suite, nil, err
	}
	reg, err := loadRegistry(o.Registry)
	if err != nil {
		return suite, nil, err
	}
	baseURL := firstNonEmpty(o.BaseURL, os.Getenv("OPENAI_BASE_URL"))
	names := o.Models
	raw := len(names) == 0 // --model-name: a name the endpoint knows, not a registry key
	if raw {
		if o.ModelName == "" {
			return suite, nil, usageError("name the models to run: --models reference, or --base-url with --model-name")
		}
		names = []string{o.ModelName}
	} else if o.ModelName != "" {
		return suite, nil, usageError("use either --models or --model-name, not both")
	}
	var out []target
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		url := baseURL
		if url == "" && prev != nil {
			// A resumed run keeps the endpoint it was given, recorded under the model's name.
			url = prev.baseURL(n)
			if spec, err := reg.Lookup(n); url == "" && err == nil {
				url = prev.baseURL(spec.Route())
			}
		}
		t, err := o.target(reg, n, raw, url)
		if err != nil {
			return suite, nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return suite, nil, usageError("--models is empty")
	}
	if prev != nil {
		if err := prev.check(suite, out); err != nil {
			return suite, nil, err
		}
	}
	return suite, out, nil
}

// target resolves one model name: "reference", a registry key or route, or
// (with --model-name) whatever the endpoint serves, recognised as local when
// the registry knows its route or Hugging Face id.
func (o *runOptions) target(reg *models.Registry, name string, raw bool, baseURL string) (target, error) {
	if name == reference.ModelID {
		t := target{name: name, modelID: name, toolChoice: "auto", temperature: ptr32(0.3)}
		t.info = results.ModelInfo{Name: name, ModelID: name, Kind: "reference"}
		return o.withTemperature(t), nil
	}
	spec, err := reg.Lookup(name)
	if err != nil && raw {
		spec, err = byHFID(reg, name)
	}
	t := target{name: name, modelID: name, baseURL: baseURL}
	switch {
	case err == nil:
		if !raw {
			t.name, t.modelID = spec.Route(), spec.Route()
		}
		if d := spec.RequestDefaults; d.Temperature != nil {
			t.temperature = ptr32(*d.Temperature)
		}
		t.toolChoice = spec.RequestDefaults.ToolChoice
		t.info = results.ModelInfo{Key: spec.Key, Kind: string(spec.Kind), PricePerHour: spec.PricePerHour()}
		if spec.IsLocal() {
			t.info.GPU = fmt.Sprintf("%s:%d", spec.GPU.Type, spec.GPU.Count)
			t.startup = spec.StartupTimeout()
			if !raw {
				t.modal = &spec
			}
		}
	case !raw:
		return t, usageError("%v", err)
	case strings.HasSuffix(name, "-local"):
		t.temperature, t.toolChoice = ptr32(0.3), "auto"
	}
	if t.modal != nil && o.Direct {
		// The endpoint is the app's own URL, known once it is warm.
		t.modelID, t.baseURL = t.modal.HFID, ""
		t.info.Name, t.info.ModelID = t.name, t.modelID
		return o.withTemperature(t), nil
	}
	if baseURL == "" {
		return t, usageError("model %q needs an endpoint: pass --base-url (e.g. your LiteLLM proxy) or set OPENAI_BASE_URL; --models reference runs offline", name)
	}
	t.info.Name, t.info.ModelID, t.info.BaseURL = t.name, t.modelID, recordedURL(baseURL)
	return o.withTemperature(t), nil
}

func (o *runOptions) withTemperature(t target) target {
	if o.Temperature >= 0 {
		t.temperature = ptr32(o.Temperature)
	}
	return t
}

// recordedURL is an endpoint as run.json may keep it: a password in the URL
// is masked there and redacted from everything else the run writes.
func recordedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if pw, ok := u.User.Password(); ok {
		redact.Register("--base-url password", pw)
	}
	return u.Redacted()
}

// byHFID finds a registry model by its Hugging Face id, as a vLLM started by
// hand serves it.
func byHFID(reg *models.Registry, id string) (models.Spec, error) {
	for _, s := range reg.All() {
		if s.HFID != "" && strings.EqualFold(s.HFID, id) {
			return s, nil
		}
	}
	return models.Spec{}, fmt.Errorf("no registry model has Hugging Face id %q", id)
}

func ptr32(v float64) *float32 {
	f := float32(v)
	return &f
}

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
		return s, usageError("%v", err)
	}
	return s, nil
}

// preflight checks every endpoint answers before anything is written, so an
// unreachable --base-url is a usage error, not a run full of errors.
func preflight(ctx context.Context, targets []target, apiKey string) error {
	checked := map[string]bool{}
	for _, t := range targets {
		if t.baseURL == "" || checked[t.baseURL] { // --direct: known once the app is warm
			continue
		}
		checked[t.baseURL] = true
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := modelsRequest(rctx, t.baseURL, apiKey)
		if err != nil {
			cancel()
			return usageError("bad endpoint URL %q: %v", t.baseURL, err)
		}
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			return usageError("cannot reach %s: %v (check --base-url and that the server is up)", t.baseURL, unwrapURLError(err))
		}
		resp.Body.Close()
	}
	return nil
}

// modelsRequest is GET <base>/models, the list every OpenAI-compatible
// server (and LiteLLM) answers.
func modelsRequest(ctx context.Context, baseURL, apiKey string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+"/models", nil)
	if err == nil && apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	return req, err
}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap()
	}
	return err
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
			v = recordedURL(v)
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		args = append(args, "--"+f.Name+"="+v)
	})
	return args
}

func newRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// attemptLine is the live progress line of one finished attempt.
func attemptLine(a results.Attempt) string {
	mark := map[results.Status]string{results.StatusPass: "PASS", results.StatusFail: "FAIL", results.StatusError: "ERROR", results.StatusTimeout: "TIMEOUT"}[a.Status]
	line := fmt.Sprintf("%-7s %s  %s #%d  %.1fs  %d turns  %d tool calls", mark, a.Model, a.Task, a.Repeat, a.WallSeconds, a.Turns, a.ToolCalls)
	if a.Retries > 0 {
		line += fmt.Sprintf("  %d retries", a.Retries)
	}
	if a.FailureClass != "" {
		line += "  " + a.FailureClass
	}
	if a.Reason != "" {
		line += ": " + a.Reason
	}
	return line
}

// previousRun is what a run folder given to --resume already holds.
type previousRun struct {
	dir      string
	manifest results.Manifest
	attempts []results.Attempt // the latest line of each attempt
}

// resumeFrom reads the run folder of --resume; nil when not resuming.
func (o *runOptions) resumeFrom(s streams) (*previousRun, error) {
	switch {
	case o.Resume == "" && o.RetryErrors:
		return nil, usageError("--retry-errors needs --resume <run folder>")
	case o.Resume == "":
		return nil, nil
	case o.changed["out"]:
		return nil, usageError("--resume writes into the run folder it is given; leave out --out")
	}
	man, err := results.ReadManifest(o.Resume)
	if err != nil {
		return nil, usageError("cannot resume %s: not a run folder (%v)", o.Resume, err)
	}
	all, warnings, err := results.ReadAttempts(o.Resume)
	if err != nil && !errors.Is(err, results.ErrNoRun) {
		return nil, usageError("cannot resume %s: %v", o.Resume, err)
	}
	for _, w := range warnings {
		fmt.Fprintln(s.Err, "warning:", w)
	}
	return &previousRun{dir: o.Resume, manifest: man, attempts: results.Latest(all)}, nil
}

// fill takes from the earlier run what the command line leaves out: the
// suite, the models, the repeats and the parallelism.
func (p *previousRun) fill(o *runOptions) error {
	m := p.manifest
	if !o.changed["suite"] && !o.changed["tasks-dir"] {
		o.Suite, o.TasksDir = m.Suite, ""
		if dir, ok := earlierFlag(m.Args, "tasks-dir"); ok {
			o.TasksDir = dir
		}
	}
	if !o.changed["models"] && !o.changed["model-name"] {
		o.Models, o.ModelName = nil, ""
		if name, ok := earlierFlag(m.Args, "model-name"); ok {
			o.ModelName = name // a name the endpoint knows, not a registry key
		} else {
			for _, mi := range m.Models {
				o.Models = append(o.Models, mi.Name)
			}
		}
	}
	if v, ok := earlierFlag(m.Args, "registry"); ok && !o.changed["registry"] {
		o.Registry = v
	}
	if v, ok := earlierFlag(m.Args, "temperature"); ok && !o.changed["temperature"] {
		if t, err := strconv.ParseFloat(v, 64); err == nil {
			o.Temperature = t
		}
	}
	if o.changed["repeat"] && o.Repeat != m.Repeat {
		return usageError("cannot resume %s with --repeat %d: it was run with --repeat %d", p.dir, o.Repeat, m.Repeat)
	}
	o.Repeat = m.Repeat
	if !o.changed["parallel"] && m.Parallel > 0 {
		o.Parallel = m.Parallel
	}
	return nil
}

// earlierFlag is the value a flag had in the earlier run, as run.json records it.
func earlierFlag(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// baseURL is the endpoint the earlier run used for a model.
func (p *previousRun) baseURL(model string) string {
	for _, mi := range p.manifest.Models {
		if mi.Name == model {
			return mi.BaseURL
		}
	}
	return ""
}

// check refuses to mix results: the suite's content and the models must be
// those of the earlier run.
func (p *previousRun) check(suite tasks.Suite, targets []target) error {
	m := p.manifest
	if suite.Name != m.Suite {
		return usageError("cannot resume %s: it ran suite %q, not %q; leave out --suite and --tasks-dir to resume with its own", p.dir, m.Suite, suite.Name)
	}
	if suite.Hash != m.SuiteHash {
		return usageError("cannot resume %s: suite %q has changed since the run started (content hash %s, now %s); start a new run",
			p.dir, m.Suite, short(m.SuiteHash), short(suite.Hash))
	}
	var was, now []string
	for _, mi := range m.Models {
		was = append(was, mi.Name)
	}
	for _, t := range targets {
		now = append(now, t.name)
	}
	slices.Sort(was)
	slices.Sort(now)
	if !slices.Equal(was, now) {
		return usageError("cannot resume %s: it ran models %s, not %s; leave out --models to resume with its own",
			p.dir, strings.Join(was, ","), strings.Join(now, ","))
	}
	return nil
}

// done lists the attempts a resumed run must not run again: every attempt with
// a result, except cancelled ones (never judged) and, with retryErrors, those
// that ended in an infrastructure error.
func (p *previousRun) done(retryErrors bool) map[string]bool {
	done := make(map[string]bool, len(p.attempts))
	for _, a := range p.attempts {
		switch {
		case a.Status == results.StatusError && a.FailureClass == results.ClassCancelled:
		case a.Status == results.StatusError && retryErrors:
		default:
			done[a.Key()] = true
		}
	}
	return done
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// errInterrupted is why a run stopped on Ctrl-C or SIGTERM.
var errInterrupted = errors.New("interrupted")

// interruptible returns a context cancelled, with errInterrupted as its cause,
// by the first SIGINT or SIGTERM; a second one calls exit(130) at once. The
// returned function stops listening.
func interruptible(parent context.Context, errOut io.Writer, exit func(int)) (context.Context, func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stop := watchSignals(parent, sigs, errOut, exit)
	return ctx, func() {
		signal.Stop(sigs)
		stop()
	}
}

func watchSignals(parent context.Context, sigs <-chan os.Signal, errOut io.Writer, exit func(int)) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(errOut, "goatbench: interrupted: cancelling attempts in flight and keeping every finished one (Ctrl-C again quits at once)")
		cancel(errInterrupted)
		select {
		case <-sigs:
			fmt.Fprintln(errOut, "goatbench: interrupted twice: quitting now")
			exit(exitCancel)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			cancel(nil)
		})
	}
}

// lockedWriter lets the signal watcher and the attempts' progress lines share stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
