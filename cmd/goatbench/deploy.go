package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/models"
)

// modalOptions are the flags every command that deploys or reaches Modal
// models shares.
type modalOptions struct {
	Env       string
	CLI       string
	Workspace string
	EnvSuffix string
	// suffixSet tells an explicit --env-suffix "" (the environment without a
	// suffix) from the flag left out (the environment's name).
	suffixSet func() bool
	NoDeploy  bool
}

func (m *modalOptions) register(f *pflag.FlagSet) {
	f.StringVar(&m.Env, "modal-env", "", "Modal environment (default $MODAL_ENVIRONMENT, else goat)")
	f.StringVar(&m.CLI, "modal-cli", "modal", `the modal command line, e.g. "uvx modal"`)
	f.StringVar(&m.Workspace, "modal-workspace", "", "Modal workspace, for web URLs the SDK cannot give (default $MODAL_WORKSPACE)")
	f.StringVar(&m.EnvSuffix, "env-suffix", "", `the Modal environment's web suffix, for web URLs the SDK cannot give (default: the environment's name; "" for none; see `+"\"modal environment list\")")
	f.BoolVar(&m.NoDeploy, "no-deploy", false, "fail instead of deploying a model whose app is missing or was deployed from another spec")
	m.suffixSet = func() bool { return f.Changed("env-suffix") }
}

// envSuffix is the web suffix of the Modal environment: the flag, else the
// environment's name, which is what a new environment gets unless someone
// changed it with `modal environment update --set-web-suffix`.
func (m *modalOptions) envSuffix() string {
	if m.suffixSet != nil && m.suffixSet() {
		return m.EnvSuffix
	}
	return deploy.Environment(m.Env)
}

// deployer builds the deploy engine; logs go to logDir.
func (m *modalOptions) deployer(logDir string, progress func(key string, p deploy.Phase, elapsed time.Duration)) *deploy.Deployer {
	return deploy.New(deploy.Options{
		Environment:  m.Env,
		ModalCommand: strings.Fields(m.CLI),
		LogDir:       logDir,
		NoDeploy:     m.NoDeploy,
		Progress:     progress,
	})
}

// workspace is the Modal workspace: the flag, else $MODAL_WORKSPACE.
func (m *modalOptions) workspace() string {
	return firstNonEmpty(m.Workspace, os.Getenv("MODAL_WORKSPACE"))
}

// target turns a registry model into what the deploy engine needs.
func (m *modalOptions) target(spec models.Spec) (deploy.Target, error) {
	b, err := spec.JSON()
	if err != nil {
		return deploy.Target{}, err
	}
	t := deploy.Target{Key: spec.Key, AppName: spec.AppName(), Script: spec.Script(), SpecJSON: b, StartupTimeout: spec.StartupTimeout()}
	if ws := m.workspace(); ws != "" {
		t.FallbackURL = spec.WebURL(ws, m.envSuffix())
	}
	if spec.HFGated {
		t.GatedModel = spec.HFID
	}
	return t, nil
}

// preflight checks what deploying needs before anything starts: a usage
// error (exit 2) names what is missing.
func (m *modalOptions) preflight() error {
	// With --no-deploy and a workspace, a model's URL can be built and only
	// warmed, without asking Modal.
	if err := deploy.CheckCredentials(); err != nil && !(m.NoDeploy && m.workspace() != "") {
		return usageError("%v", err)
	}
	if !m.NoDeploy {
		if err := deploy.CheckCLI(strings.Fields(m.CLI)); err != nil {
			return usageError("%v", err)
		}
	}
	return nil
}

// phasePrinter prints each model's phase changes on stderr.
func phasePrinter(s streams) func(string, deploy.Phase, time.Duration) {
	var mu sync.Mutex
	return func(key string, p deploy.Phase, elapsed time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(s.Err, "%-14s %-9s %s\n", key, p, elapsed.Round(time.Second))
	}
}

func newDeployCmd(s streams) *cobra.Command {
	var (
		m        modalOptions
		registry string
		out      string
	)
	cmd := &cobra.Command{
		Use:   "deploy MODEL...",
		Short: "Deploy what is missing and warm Modal-served models; print each URL and cold start",
		Long: `Look up each model's Modal app (goat-vllm-<key>), deploy it with the modal
command line when it is missing, and wait until its /health answers. All models
are handled at once. Deploy logs go to <out>/deploy-<time>/deploy-<key>.log.`,
		Example: `  goatbench deploy qwen3-4b gpt-oss-20b
  goatbench deploy llama-3.1-8b --modal-env dev --modal-cli "uvx modal"
  goatbench deploy qwen3-4b --no-deploy     # only check it is deployed, and warm it`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd.Context(), &m, registry, out, args, s)
		},
	}
	m.register(cmd.Flags())
	cmd.Flags().StringVar(&registry, "registry", "", registryFlagUsage)
	cmd.Flags().StringVar(&out, "out", "results", "folder for the deploy logs")
	return cmd
}

func runDeploy(ctx context.Context, m *modalOptions, registry, out string, names []string, s streams) error {
	reg, err := loadRegistry(registry)
	if err != nil {
		return err
	}
	var targets []deploy.Target
	for _, n := range names {
		spec, err := reg.Lookup(n)
		if err != nil {
			return usageError("%v", err)
		}
		if !spec.IsLocal() {
			return usageError("%s is an API model (kind %s): nothing to deploy", spec.Key, spec.Kind)
		}
		t, err := m.target(spec)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if err := m.preflight(); err != nil {
		return err
	}
	logDir := filepath.Join(out, "deploy-"+time.Now().UTC().Format("20060102-150405"))
	d := m.deployer(logDir, phasePrinter(s))
	defer d.Close()
	outcomes := d.EnsureAll(ctx, targets, nil)
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tAPP\tSTATE\tSPEC\tCOLD START\tURL")
	failed := 0
	for _, o := range outcomes {
		ep := o.Endpoint
		state := "warm"
		switch {
		case o.Err != nil:
			state, failed = "FAILED", failed+1
		case ep.Deployed:
			state = "deployed"
		case ep.Woke:
			state = "woken"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Key, ep.AppName, state, orDash(ep.SpecHash), ep.ColdStart.Round(100*time.Millisecond), ep.URL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return infraError(outcomes.Err())
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
