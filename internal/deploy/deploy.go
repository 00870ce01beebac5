// Package deploy makes sure Modal-served models are deployed and warm: it looks
// each app up with the Modal SDK, deploys the missing ones with the `modal`
// command line, waits for their /health to answer, and hands each endpoint
// over the moment that model is ready, so a run can start on it while slower
// models are still starting.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultEnvironment is the Modal environment used when neither the flag nor
// MODAL_ENVIRONMENT names one.
const DefaultEnvironment = "goat"

// Defaults for options left zero.
const (
	DefaultStartupTimeout  = 30 * time.Minute
	DefaultPollInterval    = time.Second
	DefaultMaxPollInterval = 15 * time.Second
	DefaultWokeThreshold   = 5 * time.Second
)

// Environment picks the Modal environment: the --modal-env flag, then
// MODAL_ENVIRONMENT, then DefaultEnvironment.
func Environment(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("MODAL_ENVIRONMENT"); env != "" {
		return env
	}
	return DefaultEnvironment
}

// Target is one model to make ready. The registry fills it; this package
// knows nothing else about models.
type Target struct {
	Key            string        // registry key, e.g. "qwen3-4b"
	AppName        string        // Modal app, e.g. "goat-vllm-qwen3-4b"
	Script         string        // deploy script relative to Options.RepoDir, e.g. "modal/vllm.py"
	SpecJSON       []byte        // the model spec, handed to the script as GOATBENCH_MODEL_SPEC
	StartupTimeout time.Duration // warm-up budget; 0 means DefaultStartupTimeout
	FallbackURL    string        // web URL to use when the SDK reports none, or without credentials under NoDeploy
	// GatedModel is the Hugging Face id of a model whose licence must be
	// accepted before its weights download (e.g. meta-llama/...); "" if none.
	GatedModel string
}

// Endpoint is a model that answers on its web URL.
type Endpoint struct {
	Key        string
	AppName    string
	AppID      string        // Modal's id of the app, "" when it was not looked up
	URL        string        // base URL from the SDK (Function.GetWebURL); the OpenAI API is under /v1
	SpecHash   string        // the spec the app serves (SpecHash of Target.SpecJSON once checked or deployed)
	Deployed   bool          // this run deployed the app
	Woke       bool          // the app was deployed but cold: this run's requests started a container
	DeployTime time.Duration // time spent in `modal deploy`; 0 when not deployed
	ColdStart  time.Duration // from the first /health request to the first 200
}

// Started reports whether this run deployed or woke the app, and so should
// stop it afterwards to save GPU time.
func (e Endpoint) Started() bool { return e.Deployed || e.Woke }

// Phase is where a model is on its way to ready.
type Phase string

// The phases, in order; a model ends in PhaseReady or PhaseFailed.
const (
	PhaseLookup    Phase = "lookup"
	PhaseDeploying Phase = "deploying"
	PhaseWarming   Phase = "warming"
	PhaseReady     Phase = "ready"
	PhaseFailed    Phase = "failed"
)

// Options configure a Deployer. Zero values pick the defaults.
type Options struct {
	Environment  string   // Modal environment; "" means Environment("")
	ModalCommand []string // the modal CLI, e.g. {"modal"} (default) or {"uvx", "modal"}
	RepoDir      string   // where deploy scripts are resolved and the CLI runs; "" means the current directory
	LogDir       string   // where deploy-<key>.log goes; "" means <tmp>/goatbench-deploy
	NoDeploy     bool     // never run `modal deploy`: a missing or stale app is an error
	Parallel     int      // models handled at once by EnsureAll; 0 means all
	// ProxyAuth is sent with every /health request: the apps' web endpoints
	// require Modal proxy auth. Zero means ProxyAuthFromEnv.
	ProxyAuth ProxyAuth

	HTTPClient      *http.Client  // for /health; nil means a default client
	PollInterval    time.Duration // first wait between /health requests
	MaxPollInterval time.Duration // the wait doubles up to this
	WokeThreshold   time.Duration // a first 200 slower than this means the app was cold

	// Progress is told each phase a model enters, with the time since its
	// Ensure began. Calls are serialized, so it need not be safe for
	// concurrent use, but it should return quickly.
	Progress func(key string, phase Phase, elapsed time.Duration)

	// Directory finds deployed apps; nil means the Modal SDK.
	Directory Directory
	// Logger receives the Modal SDK's own log lines; nil discards them.
	Logger *slog.Logger
}

// Deployer makes models ready. It is safe for concurrent use.
type Deployer struct {
	opts       Options
	dir        Directory
	ownDir     bool
	http       *http.Client
	progressMu sync.Mutex
	setupOnce  sync.Once
	setupErr   error
}

// New returns a Deployer. Call Close when done with it.
func New(opts Options) *Deployer {
	opts.Environment = Environment(opts.Environment)
	if len(opts.ModalCommand) == 0 {
		opts.ModalCommand = []string{"modal"}
	}
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(os.TempDir(), "goatbench-deploy")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxPollInterval < opts.PollInterval {
		opts.MaxPollInterval = max(DefaultMaxPollInterval, opts.PollInterval)
	}
	if opts.WokeThreshold <= 0 {
		opts.WokeThreshold = DefaultWokeThreshold
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProxyAuth == (ProxyAuth{}) {
		opts.ProxyAuth, _ = ProxyAuthFromEnv()
	}
	d := &Deployer{opts: opts, dir: opts.Directory, http: healthClient(opts.HTTPClient)}
	if d.dir == nil {
		d.dir = NewModalDirectory(opts.Logger)
		d.ownDir = true
	}
	return d
}

// Close releases the Modal SDK connection.
func (d *Deployer) Close() error {
	if c, ok := d.dir.(interface{ Close() error }); ok && d.ownDir {
		return c.Close()
	}
	return nil
}

// Environment is the Modal environment the Deployer works in.
func (d *Deployer) Environment() string { return d.opts.Environment }

// Ensure makes one model ready: look it up, deploy it if missing, and wait
// until its /health answers 200. The error names the model; the Endpoint
// returned with it still says whether the app was deployed or woken.
func (d *Deployer) Ensure(ctx context.Context, t Target) (Endpoint, error) {
	start := time.Now()
	ep, err := d.ensure(ctx, t, start)
	if err != nil {
		d.report(t.Key, PhaseFailed, start)
		return ep, fmt.Errorf("%s: %w", t.Key, err)
	}
	d.report(t.Key, PhaseReady, start)
	return ep, nil
}

func (d *Deployer) ensure(ctx context.Context, t Target, start time.Time) (Endpoint, error) {
	ep := Endpoint{Key: t.Key, AppName: t.AppName}
	if t.Key == "" || t.AppName == "" {
		return ep, errors.New("target needs a key and an app name")
	}
	d.report(t.Key, PhaseLookup, start)
	url, err := d.locate(ctx, t, &ep, start)
	if err != nil {
		return ep, err
	}
	ep.URL = url
	d.report(t.Key, PhaseWarming, start)
	cold, woke, err := d.warm(ctx, url, t.StartupTimeout)
	if err != nil && t.GatedModel != "" && !errors.Is(err, errProxyAuth) && ctx.Err() == nil {
		err = fmt.Errorf("%w; %s is gated: if the container log (`modal app logs %s --env %s`) says \"Cannot access gated repo\", "+
			"accept its licence at https://huggingface.co/%s with the account whose token is in the %s secret",
			err, t.GatedModel, t.AppName, d.opts.Environment, t.GatedModel, HFSecret)
	}
	if err != nil {
		// Our requests may have started a container that is still booting;
		// marking it lets the caller stop it rather than pay for it.
		ep.Woke = !ep.Deployed
		return ep, err
	}
	ep.ColdStart = cold
	ep.Woke = woke && !ep.Deployed
	return ep, nil
}

// locate finds the app's web URL, deploying the app when it is missing or
// was deployed from another spec than t's.
func (d *Deployer) locate(ctx context.Context, t Target, ep *Endpoint, start time.Time) (string, error) {
	env := d.opts.Environment
	want := SpecHash(t.SpecJSON)
	if err := CheckCredentials(); err != nil {
		// Without credentials neither the SDK nor the CLI can do anything, but
		// the web endpoint may still answer: allowed only when deploying is
		// off and the registry gave its URL. Its spec cannot be checked.
		if d.opts.NoDeploy && t.FallbackURL != "" {
			return t.FallbackURL, nil
		}
		return "", err
	}
	app, err := d.dir.Lookup(ctx, t.AppName, env)
	stale := err == nil && app.SpecHash != want
	if errors.Is(err, ErrNotDeployed) || stale {
		if d.opts.NoDeploy {
			if stale {
				return "", &StaleError{App: t.AppName, Environment: env, Deployed: app.SpecHash, Want: want}
			}
			return "", fmt.Errorf("app %s is not deployed in Modal environment %q, and deploying is turned off", t.AppName, env)
		}
		if err := d.checkSetup(ctx); err != nil {
			return "", err
		}
		d.report(t.Key, PhaseDeploying, start)
		began := time.Now()
		if err := d.deploy(ctx, t, want); err != nil {
			return "", err
		}
		ep.Deployed = true
		ep.DeployTime = time.Since(began)
		app, err = d.dir.Lookup(ctx, t.AppName, env)
		if errors.Is(err, ErrNotDeployed) {
			return "", fmt.Errorf("modal deploy succeeded but app %s has no function %q in environment %q (log: %s)",
				t.AppName, FunctionName, env, d.logPath("deploy-"+t.Key))
		}
		if err == nil && app.SpecHash != want {
			return "", fmt.Errorf("modal deploy succeeded but app %s still serves spec %s, not %s (log: %s)",
				t.AppName, orUnknown(app.SpecHash), want, d.logPath("deploy-"+t.Key))
		}
	}
	if err != nil {
		return "", err
	}
	ep.AppID, ep.SpecHash = app.ID, app.SpecHash
	url := app.WebURL
	if url == "" {
		url = t.FallbackURL
	}
	if url == "" {
		return "", fmt.Errorf("app %s has no web URL: is %q a web function?", t.AppName, FunctionName)
	}
	return url, nil
}

// StaleError is a deployed app whose spec is not the one asked for, when
// deploying is turned off.
type StaleError struct {
	App, Environment string
	Deployed, Want   string
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("app %s in Modal environment %q was deployed from spec %s, not this run's spec %s, and deploying is turned off (drop --no-deploy to redeploy it)",
		e.App, e.Environment, orUnknown(e.Deployed), e.Want)
}

func orUnknown(h string) string {
	if h == "" {
		return "(unrecorded)"
	}
	return h
}

// checkSetup checks the one-time setup once per Deployer, before the first
// deploy: the environment and the Hugging Face token secret.
func (d *Deployer) checkSetup(ctx context.Context) error {
	d.setupOnce.Do(func() {
		d.setupErr = d.dir.CheckSetup(ctx, d.opts.Environment, HFSecret, HFTokenKey)
	})
	return d.setupErr
}

// CheckSetup reports what of the one-time setup is missing in the Deployer's
// environment: the environment itself or the Hugging Face token secret, as
// a *SetupError naming the command that adds it.
func (d *Deployer) CheckSetup(ctx context.Context) error {
	if err := CheckCredentials(); err != nil {
		return err
	}
	return d.dir.CheckSetup(ctx, d.opts.Environment, HFSecret, HFTokenKey)
}

// Lookup finds a deployed app in the Deployer's environment; the error wraps
// ErrNotDeployed when it is missing.
func (d *Deployer) Lookup(ctx context.Context, appName string) (App, error) {
	if err := CheckCredentials(); err != nil {
		return App{}, err
	}
	return d.dir.Lookup(ctx, appName, d.opts.Environment)
}

func (d *Deployer) report(key string, phase Phase, start time.Time) {
	if d.opts.Progress == nil {
		return
	}
	d.progressMu.Lock()
	defer d.progressMu.Unlock()
	d.opts.Progress(key, phase, time.Since(start))
}

// Outcome is what became of one target in EnsureAll.
type Outcome struct {
	Key string
	// Endpoint is the ready model when Err is nil; on failure it still tells
	// whether the app was deployed or woken, so that it can be stopped.
	Endpoint Endpoint
	Err      error
}

// Outcomes are EnsureAll's results, in the order of its targets.
type Outcomes []Outcome

// Endpoints lists the models that became ready.
func (o Outcomes) Endpoints() []Endpoint {
	var eps []Endpoint
	for _, x := range o {
		if x.Err == nil {
			eps = append(eps, x.Endpoint)
		}
	}
	return eps
}

// Started lists the apps this run deployed or woke, ready or not: the ones
// to stop afterwards.
func (o Outcomes) Started() []Endpoint {
	var eps []Endpoint
	for _, x := range o {
		if x.Endpoint.Started() {
			eps = append(eps, x.Endpoint)
		}
	}
	return eps
}

// Err joins the failures, nil when every model became ready.
func (o Outcomes) Err() error {
	var errs []error
	for _, x := range o {
		if x.Err != nil {
			errs = append(errs, x.Err)
		}
	}
	return errors.Join(errs...)
}

// EnsureAll makes every target ready at once (at most Options.Parallel at a
// time) and calls onReady with each endpoint the moment that model is warm.
// onReady runs on that model's goroutine and EnsureAll waits for it, so a
// caller may run the model's whole workload inside it; with a Parallel limit
// below len(targets), doing so delays the models still waiting for a slot.
// A model that fails does not stop the others.
func (d *Deployer) EnsureAll(ctx context.Context, targets []Target, onReady func(Endpoint)) Outcomes {
	out := make(Outcomes, len(targets))
	limit := d.opts.Parallel
	if limit <= 0 || limit > len(targets) {
		limit = len(targets)
	}
	var g errgroup.Group
	g.SetLimit(max(limit, 1))
	seen := map[string]bool{}
	for i, t := range targets {
		if seen[t.AppName] {
			out[i] = Outcome{Key: t.Key, Err: fmt.Errorf("%s: app %s is listed twice", t.Key, t.AppName)}
			continue
		}
		seen[t.AppName] = true
		g.Go(func() error {
			ep, err := d.Ensure(ctx, t)
			out[i] = Outcome{Key: t.Key, Endpoint: ep, Err: err}
			if err == nil && onReady != nil {
				onReady(ep)
			}
			return nil // one model's failure must not cancel the others
		})
	}
	_ = g.Wait()
	return out
}
