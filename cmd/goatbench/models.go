package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/models"
)

// registryFlagUsage is shared by every command that loads the registry.
const registryFlagUsage = "extra registry YAML applied after the built-in models.yaml and ./goatbench.yaml"

// loadRegistry loads the model registry; any problem in it is a
// configuration error (exit 2).
func loadRegistry(path string) (*models.Registry, error) {
	r, err := models.Load(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return r, nil
}

type modelsOptions struct {
	Registry string
	JSON     bool
	Names    []string // keys or routes to show; all when empty
}

func newModelsCmd(s streams) *cobra.Command {
	var opts modelsOptions
	cmd := &cobra.Command{
		Use:   "models [NAME...]",
		Short: "List the model registry: GPU, memory fit, cost and LiteLLM route of each model",
		Long: `List every model goatbench knows, from the built-in registry (models.yaml),
then goatbench.yaml in the working directory if present, then --registry FILE.

Later files win field by field: an entry whose key already exists changes only
the fields it names (nested sections such as gpu, vllm and env merge the same
way; lists and speculative_config/compilation_config are replaced whole; null
clears a field). An entry with a new key is added at the end.

For Modal-served models the table shows the estimated GPU memory (weights plus
the KV cache at max_model_len plus any speculator) against what vLLM may use
(GPU memory x count x gpu_memory_utilization). A registry in which a model
cannot fit does not load.

NAME is a model key (qwen3-4b) or LiteLLM route (qwen3-4b-local); without one,
every model is listed.`,
		Example: `  goatbench models
  goatbench models qwen3-4b gpt-oss-20b-local
  goatbench models --json
  goatbench models --registry team-models.yaml`,
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Names = args
			return modelsRun(opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.Registry, "registry", "", registryFlagUsage)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the specs as JSON (the deploy contract plus the memory estimate)")
	return cmd
}

func modelsRun(opts modelsOptions, s streams) error {
	r, err := loadRegistry(opts.Registry)
	if err != nil {
		return err
	}
	specs := r.All()
	if len(opts.Names) > 0 {
		specs = specs[:0]
		for _, name := range opts.Names {
			spec, err := r.Lookup(name)
			if err != nil {
				return usageError("%v", err)
			}
			specs = append(specs, spec)
		}
	}
	if opts.JSON {
		return writeModelsJSON(s.Out, specs)
	}
	return writeModelsTable(s.Out, specs)
}

// writeModelsJSON prints each model as the spec contract's object followed by
// what goatbench derives from it (price_per_hour, estimate).
func writeModelsJSON(w io.Writer, specs []models.Spec) error {
	out := make([]json.RawMessage, 0, len(specs))
	for _, s := range specs {
		spec, err := s.JSON()
		if err != nil {
			return err
		}
		extra := map[string]any{"price_per_hour": s.PricePerHour(), "estimate": nil}
		if e, ok := s.Estimate(); ok {
			extra["estimate"] = e
		}
		more, err := json.Marshal(extra)
		if err != nil {
			return fmt.Errorf("encode %s: %w", s.Key, err)
		}
		// Splice the derived fields into the contract object so the first
		// fields read exactly as GOATBENCH_MODEL_SPEC does.
		joined := append(spec[:len(spec)-1:len(spec)-1], ',')
		joined = append(joined, more[1:]...)
		out = append(out, joined)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode models: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func writeModelsTable(w io.Writer, specs []models.Spec) error {
	var buf bytes.Buffer
	table := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	)
	table.Header("KEY", "KIND", "HF ID", "GPU", "EST. MEMORY", "FITS?", "$/H", "ROUTE")
	for _, s := range specs {
		row := []string{s.Key, string(s.Kind), dash(s.HFID), "-", "-", "-", "-", s.Route()}
		if e, ok := s.Estimate(); ok {
			row[3] = fmt.Sprintf("%d× %s", s.GPU.Count, s.GPU.Type)
			row[4] = fmt.Sprintf("%.1f / %.1f GiB", e.TotalGiB, e.UsableGiB)
			row[5] = fitVerdict(e)
			row[6] = fmt.Sprintf("%.2f", s.PricePerHour())
		}
		if err := table.Append(row); err != nil {
			return fmt.Errorf("render models table: %w", err)
		}
	}
	if err := table.Render(); err != nil {
		return fmt.Errorf("render models table: %w", err)
	}
	// The renderer pads every cell, the last one too; trailing blanks only
	// get in the way of grep and diff.
	for line := range strings.Lines(buf.String()) {
		line = strings.TrimPrefix(strings.TrimRight(line, " \n"), " ")
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// fitVerdict says whether a model fits and how much of vLLM's budget it takes.
func fitVerdict(e models.Estimate) string {
	if !e.Fits {
		return "no"
	}
	return fmt.Sprintf("yes (%.0f%%)", e.Utilization()*100)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
