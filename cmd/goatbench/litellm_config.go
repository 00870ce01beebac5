package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/models"
)

type litellmConfigOptions struct {
	Registry  string
	Workspace string
	Merge     string
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
      api_base: https://<workspace>--goat-vllm-<key with dots as hyphens>-serve.modal.run/v1
      api_key: "not-needed"

With --merge FILE the entries are written into an existing LiteLLM config
instead: entries with the same model_name get their model, api_base and api_key
updated in place, missing ones are added, and everything else in the file
(other entries, settings, comments, blank lines) is kept byte for byte.
Merging twice changes nothing.`,
		Example: `  goatbench litellm-config --workspace phare-goat
  goatbench litellm-config --workspace phare-goat --merge dev/litellm-config-modal.yaml`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return litellmConfigRun(opts, s) },
	}
	cmd.Flags().StringVar(&opts.Workspace, "workspace", "", "Modal workspace serving the models (required)")
	cmd.Flags().StringVar(&opts.Merge, "merge", "", "update the entries inside this LiteLLM config file instead of printing them")
	cmd.Flags().StringVar(&opts.Registry, "registry", "", registryFlagUsage)
	return cmd
}

func litellmConfigRun(opts litellmConfigOptions, s streams) error {
	if opts.Workspace == "" {
		return usageError("--workspace is required: the Modal workspace in https://<workspace>--<app>-serve.modal.run")
	}
	if err := models.CheckWorkspace(opts.Workspace); err != nil {
		return usageError("--workspace: %v", err)
	}
	r, err := loadRegistry(opts.Registry)
	if err != nil {
		return err
	}
	entries := r.LiteLLMEntries(opts.Workspace)
	if opts.Merge == "" {
		_, err := s.Out.Write(models.RenderLiteLLM(entries))
		return err
	}

	src, err := os.ReadFile(opts.Merge)
	if err != nil {
		return usageError("--merge: %v", err)
	}
	out, rep, err := models.MergeLiteLLM(src, entries)
	if err != nil {
		return usageError("--merge %s: %v", opts.Merge, err)
	}
	if !bytes.Equal(out, src) {
		if err := writeFileAtomic(opts.Merge, out); err != nil {
			return fmt.Errorf("--merge %s: %w", opts.Merge, err)
		}
	}
	_, err = fmt.Fprintf(s.Err, "%s: %s\n", opts.Merge, rep)
	return err
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
