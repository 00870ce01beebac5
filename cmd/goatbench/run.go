package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/reference"
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
	Args           []string
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

  # any OpenAI-compatible server, e.g. a vLLM started by hand
  goatbench run --base-url http://127.0.0.1:8000/v1 --model-name Qwen/Qwen3-4B-Instruct-2507 --suite smoke

  # a suite from disk, three repeats, eight attempts in flight
  goatbench run --models reference --tasks-dir ./my-tasks --repeat 3 --parallel 8

  # insist on isolation: fail rather than run commands unisolated
  goatbench run --models reference --suite smoke --sandbox bwrap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Args = flagsSet(cmd)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
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
	f.StringVar(&o.Sandbox, "sandbox", sandbox.ModeAuto, "where commands run: bwrap (isolated), plain (not isolated), or auto (bwrap when it works here)")
	f.Float64Var(&o.MinPassRate, "min-pass-rate", 1, "exit 0 when at least this fraction of judged attempts passed")
	return cmd
}

// target is a model to run and where to reach it.
type target struct {
	name    string // shown in results
	modelID string
	baseURL string
	local   bool
	info    results.ModelInfo
}

func runRun(ctx context.Context, o *runOptions, s streams) error {
	if o.APIKey != "" {
		redact.Register("--api-key", o.APIKey)
	}
	s = streams{Out: redact.Writer(s.Out), Err: redact.Writer(s.Err)}
	suite, targets, err := o.resolve()
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
	if err := preflight(ctx, targets, apiKey); err != nil {
		return err
	}
	sb, warning, err := sandbox.Open(o.Sandbox, sandbox.DefaultLimits)
	if err != nil {
		return usageError("--sandbox %s: %v", o.Sandbox, err)
	}
	if warning != "" {
		fmt.Fprintln(s.Err, warning)
	}

	runID := newRunID()
	dir := filepath.Join(o.Out, runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageError("cannot create the run folder: %v", err)
	}
	man := results.Manifest{
		RunID: runID, Version: version, Suite: suite.Name, SuiteHash: suite.Hash,
		Repeat: o.Repeat, Parallel: o.Parallel, Sandbox: sb.Mode(), Args: o.Args, Started: time.Now().UTC(),
	}
	for _, t := range suite.Tasks {
		man.Tasks = append(man.Tasks, t.ID)
	}
	for _, t := range targets {
		man.Models = append(man.Models, t.info)
	}
	if err := results.WriteManifest(dir, man); err != nil {
		return infraError(fmt.Errorf("write run.json: %w", err))
	}
	fmt.Fprintf(s.Err, "run %s: %d tasks × %d models × %d repeats, sandbox %s → %s\n", runID, len(suite.Tasks), len(targets), o.Repeat, sb.Mode(), dir)

	var mu sync.Mutex
	r, err := runner.New(suite, runner.Options{
		RunID: runID, RunDir: dir, Parallel: o.Parallel, Repeat: o.Repeat, KeepWorkspaces: o.KeepWorkspaces, Sandbox: sb,
		OnAttempt: func(a results.Attempt) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(s.Err, attemptLine(a))
		},
	})
	if err != nil {
		return infraError(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range targets {
		m := runner.Model{Name: t.name, ModelID: t.modelID, Client: runner.NewClient(t.baseURL, apiKey)}
		if t.local {
			temp := float32(0.3)
			m.Temperature, m.ToolChoice = &temp, "auto"
		}
		g.Go(func() error { return r.RunModel(gctx, m) })
	}
	runErr := g.Wait()
	closeErr := r.Close()
	end := time.Now().UTC()
	man.Ended = &end
	if err := errors.Join(runErr, closeErr, results.WriteManifest(dir, man)); err != nil {
		return infraError(err)
	}
	return finish(ctx, dir, o.MinPassRate, s)
}

// finish prints the summary and maps the attempts to the exit code.
func finish(ctx context.Context, dir string, minPassRate float64, s streams) error {
	attempts, warnings, err := results.ReadAttempts(dir)
	if err != nil {
		return infraError(err)
	}
	for _, w := range warnings {
		fmt.Fprintln(s.Err, "warning:", w)
	}
	var pass, fail, errs int
	for _, a := range attempts {
		switch a.Status {
		case results.StatusPass:
			pass++
		case results.StatusError:
			errs++
		default:
			fail++
		}
	}
	fmt.Fprintf(s.Out, "%d/%d passed, %d failed, %d errors — %s\n", pass, pass+fail, fail, errs, dir)
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitCancel, err: errors.New("interrupted")}
	case errs > 0:
		return infraError(fmt.Errorf("%d attempts could not run (infrastructure errors); see %s", errs, filepath.Join(dir, results.AttemptsFile)))
	case pass+fail > 0 && float64(pass)/float64(pass+fail) >= minPassRate:
		return nil
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%d attempts failed", fail)}
}

// resolve validates the flags and loads the suite and the models; nothing is
// written before it succeeds.
func (o *runOptions) resolve() (tasks.Suite, []target, error) {
	switch {
	case o.Parallel < 1:
		return tasks.Suite{}, nil, usageError("--parallel must be at least 1, got %d", o.Parallel)
	case o.Repeat < 1:
		return tasks.Suite{}, nil, usageError("--repeat must be at least 1, got %d", o.Repeat)
	case o.Sandbox != sandbox.ModeAuto && o.Sandbox != sandbox.ModeBwrap && o.Sandbox != sandbox.ModePlain:
		return tasks.Suite{}, nil, usageError("--sandbox must be bwrap, plain or auto, got %q", o.Sandbox)
	case o.MinPassRate < 0 || o.MinPassRate > 1:
		return tasks.Suite{}, nil, usageError("--min-pass-rate must be between 0 and 1, got %g", o.MinPassRate)
	}
	suite, err := loadSuite(o.Suite, o.TasksDir)
	if err != nil {
		return suite, nil, err
	}
	baseURL := firstNonEmpty(o.BaseURL, os.Getenv("OPENAI_BASE_URL"))
	names := o.Models
	if len(names) == 0 {
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
		t := target{name: n, modelID: n, baseURL: baseURL, local: strings.HasSuffix(n, "-local")}
		if n == reference.ModelID {
			t.local, t.baseURL = true, ""
		} else if baseURL == "" {
			return suite, nil, usageError("model %q needs an endpoint: pass --base-url or set OPENAI_BASE_URL (or use --models reference to run offline)", n)
		}
		t.info = results.ModelInfo{Name: n, ModelID: n, BaseURL: t.baseURL}
		out = append(out, t)
	}
	if len(out) == 0 {
		return suite, nil, usageError("--models is empty")
	}
	return suite, out, nil
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
		if checked[t.baseURL] {
			continue
		}
		checked[t.baseURL] = true
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimSuffix(t.baseURL, "/")+"/models", nil)
		if err != nil {
			cancel()
			return usageError("bad endpoint URL %q: %v", t.baseURL, err)
		}
		if apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+apiKey)
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
		if f.Name == "api-key" {
			v = "***"
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
	if a.FailureClass != "" {
		line += "  " + a.FailureClass
	}
	if a.Reason != "" {
		line += ": " + a.Reason
	}
	return line
}
