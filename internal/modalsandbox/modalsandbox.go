// Package modalsandbox gives each attempt a workspace in its own Modal
// Sandbox, through the Modal Go SDK: the same tools and checks run there as in
// a local folder, while this machine only talks to Modal.
//
// Round trips. Every workspace operation is one Exec of one command: a shell
// tool call or a check is `bash -c`, and reading, writing, listing or testing
// a file is a short shell script whose data travels in its arguments, so that
// an operation costs ExecStart and ExecWait (plus one stdout stream, read
// while waiting, when there is output) and no stdin round trips. The setup
// files go in as one tar archive in one Exec. Only a file too large for the
// SDK's 64 KiB argument limit goes through the sandbox filesystem API
// (WriteBytes: Modal's fs tool, fed through a stdin stream).
//
// Network. A sandbox is created with BlockNetwork (unless its task says
// sandbox: {network: true}): the built-in agent talks
// to the model from this process, so the commands in the sandbox need no
// network at all, and a model cannot reach anything from it. For an agent
// process running inside the sandbox the intended mechanism is the SDK's
// allowlist mode (OutboundDomainAllowlist, or OutboundCIDRAllowlist) naming
// only the model proxy's host, with the proxy's key added outside the sandbox
// by ExperimentalOutboundPolicy so that it never enters it. Tunnels were not
// chosen: they carry connections into a sandbox, not out of it.
//
// Lifetime. Each sandbox is tagged with the run ID, model, task and repeat,
// lives at most the task's timeout plus the checks' time, and is terminated
// when its attempt closes the workspace. Sweep terminates the sandboxes a
// killed run left behind, found by its run ID tag.
package modalsandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	modal "github.com/modal-labs/modal-client/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// Mode names this backend in run.json and reports (--sandbox modal).
const Mode = "modal"

// Failure classes of attempts whose sandbox failed: infrastructure errors.
const (
	ClassRefused = "sandbox_refused" // Modal would not create the sandbox
	ClassQuota   = "sandbox_quota"   // no capacity, or the concurrency limit
	ClassLost    = "sandbox_lost"    // the sandbox died under the attempt
)

// Defaults of a Config.
const (
	DefaultApp       = "goatbench-sandboxes"
	DefaultImage     = "python:3.12-slim"
	DefaultCPU       = 1.0
	DefaultMemoryMiB = 1024
	// Workdir is the workspace's root inside the sandbox.
	Workdir = "/work"
)

// Tags set on every sandbox.
const (
	TagRun    = "goatbench-run"
	TagModel  = "goatbench-model"
	TagTask   = "goatbench-task"
	TagRepeat = "goatbench-repeat"
)

// Modal's published per-second rates for Sandboxes (modal.com/pricing,
// "Sandboxes & Notebooks": CPU per physical core, memory per GiB; about three
// times the rates of Functions, $0.0000131 and $0.00000222). Sandboxes are
// billed for max(request, use) (modal.com/docs/guide/sandbox-resources): the
// requested cores and memory over the lifetime are what a run pays at least.
const (
	DefaultCPUPerCoreSecond = 0.00003942
	DefaultMemPerGiBSecond  = 0.00000672
)

// checksTime is how long a sandbox outlives its task's timeout: the checks
// run after the agent stops, on their own time.
const checksTime = 5 * time.Minute

// Config is where and how sandboxes are made.
type Config struct {
	App         string // the Modal app the sandboxes belong to
	Environment string // "" is the profile's
	Image       string // a registry image, e.g. python:3.12-slim
	CPU         float64
	MemoryMiB   int
	// Rates in USD per second; 0 is Modal's published rate.
	CPUPerCoreSecond float64
	MemPerGiBSecond  float64
}

func (c Config) withDefaults() Config {
	if c.App == "" {
		c.App = DefaultApp
	}
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.CPU <= 0 {
		c.CPU = DefaultCPU
	}
	if c.MemoryMiB <= 0 {
		c.MemoryMiB = DefaultMemoryMiB
	}
	if c.CPUPerCoreSecond <= 0 {
		c.CPUPerCoreSecond = DefaultCPUPerCoreSecond
	}
	if c.MemPerGiBSecond <= 0 {
		c.MemPerGiBSecond = DefaultMemPerGiBSecond
	}
	return c
}

// Provider makes the workspaces of a run. It also stands as the run's
// sandbox.Sandbox, so that run.json names the mode.
type Provider struct {
	client *modal.Client
	cfg    Config
	app    *modal.App

	imgMu  sync.Mutex
	images map[string]*modal.Image // by registry tag, each built once, on first use

	mu      sync.Mutex
	usage   Usage
	byModel map[string]results.SandboxUsage

	// perFileSetup writes setup files one by one through the filesystem API
	// instead of one batch; only the round-trip benchmark sets it.
	perFileSetup bool
}

// Usage is the sandbox time a run held: what Modal bills for CPU and memory.
type Usage struct {
	Sandboxes     int
	Seconds       float64 // sandbox lifetime, summed
	CPUSeconds    float64 // cores requested × lifetime
	GiBSeconds    float64 // memory requested (GiB) × lifetime
	ExecCount     int
	CreateFailure int
}

// NewClient is a Modal client whose SDK logging is dropped: its warnings
// (for example about a local server URL) are not the run's.
func NewClient() (*modal.Client, error) {
	return modal.NewClientWithOptions(&modal.ClientParams{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// Open finds (or creates) the sandboxes' app.
func Open(ctx context.Context, client *modal.Client, cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	app, err := client.Apps.FromName(ctx, cfg.App, &modal.AppFromNameParams{Environment: cfg.Environment, CreateIfMissing: true})
	if err != nil {
		return nil, fmt.Errorf("modal sandboxes: app %s: %w", cfg.App, err)
	}
	return &Provider{client: client, cfg: cfg, app: app}, nil
}

// Mode is "modal".
func (p *Provider) Mode() string { return Mode }

// Run refuses: commands run in a workspace's own sandbox (Workspace.Run).
func (p *Provider) Run(context.Context, sandbox.Command) (sandbox.Result, error) {
	return sandbox.Result{}, errors.New("modal sandboxes run commands only in an attempt's workspace")
}

// Usage is the sandbox time held so far.
func (p *Provider) Usage() Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usage
}

// SandboxUsage is the sandbox time a model's attempts held, priced; nil when
// it had none. The engine records it in run.json.
func (p *Provider) SandboxUsage(model string) *results.SandboxUsage {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.byModel[model]
	if !ok {
		return nil
	}
	return &u
}

// held records one closed sandbox's lifetime at its size.
func (p *Provider) held(model string, size Config, secs float64) {
	cpu, gib := secs*size.CPU, secs*float64(size.MemoryMiB)/1024
	p.mu.Lock()
	defer p.mu.Unlock()
	p.usage.Sandboxes++
	p.usage.Seconds += secs
	p.usage.CPUSeconds += cpu
	p.usage.GiBSeconds += gib
	if p.byModel == nil {
		p.byModel = map[string]results.SandboxUsage{}
	}
	p.byModel[model] = p.byModel[model].Add(results.SandboxUsage{Sandboxes: 1, Seconds: secs, CPUSeconds: cpu, GiBSeconds: gib,
		CostUSD: cpu*p.cfg.CPUPerCoreSecond + gib*p.cfg.MemPerGiBSecond})
}

func (p *Provider) built(ctx context.Context, tag string) (*modal.Image, error) {
	p.imgMu.Lock()
	defer p.imgMu.Unlock()
	if img := p.images[tag]; img != nil {
		return img, nil
	}
	// WORKDIR makes the workspace's folder exist, whatever the image holds.
	img, err := p.client.Images.FromRegistry(tag, nil).DockerfileCommands([]string{"WORKDIR " + Workdir}, nil).Build(ctx, p.app, nil)
	if err != nil {
		return nil, fmt.Errorf("modal sandboxes: image %s: %w", tag, err)
	}
	if p.images == nil {
		p.images = map[string]*modal.Image{}
	}
	p.images[tag] = img
	return img, nil
}

// Workspace creates the sandbox of one attempt (engine.Plan.Workspaces) and
// writes the task's setup files into it. The attempt's identity comes from
// ctx (runner.AttemptOf) and becomes the sandbox's tags; the task's sandbox:
// entry chooses its image, cores, memory and network.
func (p *Provider) Workspace(ctx context.Context, t tasks.Task) (sandbox.Workspace, error) {
	id, _ := runner.AttemptOf(ctx)
	size := Config{Image: t.Sandbox.Image, CPU: t.Sandbox.CPU, MemoryMiB: t.Sandbox.MemoryMiB}
	size.Image, size.CPU, size.MemoryMiB = cmp.Or(size.Image, p.cfg.Image), cmp.Or(size.CPU, p.cfg.CPU), cmp.Or(size.MemoryMiB, p.cfg.MemoryMiB)
	img, err := p.built(ctx, size.Image)
	if err != nil {
		return nil, p.createFailed(err)
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	sb, err := p.client.Sandboxes.Create(ctx, p.app, img, &modal.SandboxCreateParams{
		CPU: size.CPU, MemoryMiB: size.MemoryMiB,
		Timeout: (timeout + checksTime).Round(time.Second), Workdir: Workdir, BlockNetwork: !t.Sandbox.Network,
		Tags: map[string]string{TagRun: id.RunID, TagModel: id.Model, TagTask: id.Task, TagRepeat: strconv.Itoa(id.Repeat)},
	})
	if err != nil {
		return nil, p.createFailed(err)
	}
	w := &Workspace{p: p, sb: sb, ctx: context.WithoutCancel(ctx), model: id.Model, size: size, started: time.Now(), setup: map[string][]byte{}}
	if err := w.seed(ctx, t.Setup); err != nil {
		w.Close(false)
		if ae := w.Lost(); ae != nil {
			return nil, ae
		}
		return nil, fmt.Errorf("modal sandbox %s: setup files: %w", sb.SandboxID, err)
	}
	return w, nil
}

// createFailed classifies a failure to create a sandbox.
func (p *Provider) createFailed(err error) error {
	p.mu.Lock()
	p.usage.CreateFailure++
	p.mu.Unlock()
	class := ClassRefused
	var re modal.ResourceExhaustedError
	if errors.As(err, &re) || status.Code(err) == codes.ResourceExhausted {
		class = ClassQuota
	}
	return &runner.AttemptError{Status: results.StatusError, Class: class, Reason: "modal sandbox: " + err.Error()}
}

// Sweep terminates every running sandbox tagged with the run ID: the
// leftovers of a run that was killed before its workspaces were closed.
func (p *Provider) Sweep(ctx context.Context, runID string) (int, error) {
	it, err := p.client.Sandboxes.List(ctx, &modal.SandboxListParams{AppID: p.app.AppID, Tags: map[string]string{TagRun: runID}})
	if err != nil {
		return 0, fmt.Errorf("modal sandboxes: list run %s: %w", runID, err)
	}
	var ids []*modal.Sandbox
	for sb, err := range it {
		if err != nil {
			return 0, fmt.Errorf("modal sandboxes: list run %s: %w", runID, err)
		}
		ids = append(ids, sb)
	}
	// Listing first, then terminating, so that the pages are not read while
	// the list they page through changes.
	var errs []error
	for _, sb := range ids {
		if _, err := sb.Terminate(ctx, nil); err != nil {
			errs = append(errs, fmt.Errorf("terminate %s: %w", sb.SandboxID, err))
		}
		_ = sb.Detach()
	}
	return len(ids), errors.Join(errs...)
}
