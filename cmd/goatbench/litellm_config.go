package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/yamlbound"
)

type litellmConfigOptions struct {
	Registry  string
	Workspace string
	Merge     string
	Modal     modalOptions
}

func newLitellmConfigCmd(s streams) *cobra.Command {
	var opts litellmConfigOptions
	cmd := &cobra.Command{
		Use:   "litellm-config",
		Short: "Print or merge the LiteLLM model_list entries for the Modal-served models",
		Long: `Render one LiteLLM model_list entry per Modal-served model in the registry:

  - model_name: <key>-local
    litellm_params:
      model: openai/<hf id>
      api_base: https://<workspace>-<env suffix>--goat-vllm-<key with dots as hyphens>-serve.modal.run/v1
      api_key: "not-needed"
      extra_headers:
        Modal-Key: os.environ/MODAL_PROXY_TOKEN_ID
        Modal-Secret: os.environ/MODAL_PROXY_TOKEN_SECRET

With Modal credentials, a deployed model's URL is the one the Modal SDK
reports; otherwise it is built by Modal's rule: the environment's web suffix
(--env-suffix, by default the environment's name; "" for the environment
without one) and labels over 63 characters shortened with a hash. The web
endpoints require Modal proxy auth: the proxy reads the token from the two
variables named above, never from this file.

With --merge FILE the entries are written into an existing LiteLLM config
instead: entries with the same model_name get their model, api_base, api_key
and extra_headers updated in place, missing ones are added, and
litellm_settings.include_cost_in_streaming_usage is set to true so streamed
replies report their cost; everything else in the file (other entries,
settings, comments, blank lines) is kept byte for byte. Merging twice changes
nothing.`,
		Example: `  goatbench litellm-config --workspace phare --env-suffix goat
  goatbench litellm-config --workspace phare --merge litellm-config.yaml   # your proxy's own config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return litellmConfigRun(cmd.Context(), opts, s) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Workspace, "workspace", "", "Modal workspace serving the models (default $MODAL_WORKSPACE)")
	f.StringVar(&opts.Merge, "merge", "", "update the entries inside this LiteLLM config file instead of printing them")
	f.StringVar(&opts.Registry, "registry", "", registryFlagUsage)
	f.StringVar(&opts.Modal.Env, "modal-env", "", "Modal environment the apps are deployed in (default $MODAL_ENVIRONMENT, else goat)")
	f.StringVar(&opts.Modal.EnvSuffix, "env-suffix", "", `the environment's web suffix (default: the environment's name; "" for none; see `+"\"modal environment list\")")
	opts.Modal.suffixSet = func() bool { return f.Changed("env-suffix") }
	return cmd
}

func litellmConfigRun(ctx context.Context, opts litellmConfigOptions, s streams) error {
	opts.Modal.Workspace = opts.Workspace
	ws := opts.Modal.workspace()
	if ws == "" {
		return usageError("--workspace is required (or MODAL_WORKSPACE): the Modal workspace in https://<workspace>-<env suffix>--<app>-serve.modal.run")
	}
	if err := models.CheckWorkspace(ws); err != nil {
		return usageError("--workspace: %v", err)
	}
	r, err := loadRegistry(opts.Registry)
	if err != nil {
		return err
	}
	target := models.LiteLLMTarget{
		Workspace: ws,
		EnvSuffix: opts.Modal.envSuffix(),
		URLs:      deployedURLs(ctx, &opts.Modal, r, s),
		Headers: []models.EnvHeader{
			{Name: "Modal-Key", Env: deploy.ProxyTokenIDEnv},
			{Name: "Modal-Secret", Env: deploy.ProxyTokenSecretEnv},
		},
	}
	entries := r.LiteLLMEntries(target)
	if opts.Merge == "" {
		_, err := s.Out.Write(models.RenderLiteLLM(entries))
		return err
	}

	src, err := yamlbound.ReadFile(opts.Merge)
	if err != nil {
		return usageError("--merge %s: %v", opts.Merge, err)
	}
	out, rep, err := models.MergeLiteLLM(src, entries)
	if err != nil {
		return usageError("--merge %s: %v", opts.Merge, err)
	}
	out, setting, err := models.EnableLiteLLMSetting(out, models.StreamingCostSetting)
	if err != nil {
		return usageError("--merge %s: %v", opts.Merge, err)
	}
	if !bytes.Equal(out, src) {
		if err := writeFileAtomic(opts.Merge, out); err != nil {
			return fmt.Errorf("--merge %s: %w", opts.Merge, err)
		}
	}
	note := ""
	if setting {
		note = "; litellm_settings." + models.StreamingCostSetting + " set to true"
	}
	_, err = fmt.Fprintf(s.Err, "%s: %s%s\n", opts.Merge, rep, note)
	return err
}

// deployedURLs asks the Modal SDK for the web URL of every deployed
// Modal-served model, when credentials are there; the others are derived.
// A failed lookup is a warning: the derived URL is still right unless the
// suffix or a custom label differs.
func deployedURLs(ctx context.Context, m *modalOptions, r *models.Registry, s streams) map[string]string {
	if deploy.CheckCredentials() != nil {
		return nil
	}
	d := deploy.New(deploy.Options{Environment: m.Env})
	defer d.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	urls := map[string]string{}
	for _, spec := range r.Local() {
		app, err := d.Lookup(ctx, spec.AppName())
		switch {
		case errors.Is(err, deploy.ErrNotDeployed):
		case err != nil:
			fmt.Fprintf(s.Err, "warning: %s: %s; using the URL built from the workspace and suffix\n", spec.Key, oneLine(err.Error()))
			return urls // the same failure would repeat for every model
		case app.WebURL != "":
			urls[spec.Key] = app.WebURL
		}
	}
	return urls
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory, so an interrupted write never leaves a half-written config,
// and keeps the file's permissions.
func writeFileAtomic(path string, data []byte) error {
	// Write through a symlink (a config kept in a dotfiles repo) rather than over it.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
