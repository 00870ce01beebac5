package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/runner"
)

type doctorOptions struct {
	Models   []string
	BaseURL  string
	APIKey   string
	Direct   bool
	Registry string
	Modal    modalOptions
}

// finding is one row of the doctor's table.
type finding struct {
	check string
	ok    bool
	note  string
}

func newDoctorCmd(s streams) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Preflight: credentials, the LiteLLM proxy and its routes, and a real tool call from each model",
		Long: `Check everything a run needs before it starts: Modal credentials and the modal
command line when a Modal-served model is named; the LiteLLM base URL and key;
that the proxy answers and lists each model's route; and that each model
answers one small request with a real tool call (this catches a vLLM started
without its tool-call parser, or a model that writes tool calls as text).
Prints a table and exits 0 only when every check passes.`,
		Example: `  goatbench doctor --models qwen3-4b,gpt-oss-20b
  goatbench doctor --models qwen3-4b --base-url https://litellm.example/v1
  goatbench doctor --models llama-3.1-8b --direct     # ask the model's Modal URL, not the proxy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd.Context(), o, s) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Models, "models", nil, "models to check, comma-separated registry keys or routes (required)")
	f.StringVar(&o.BaseURL, "base-url", "", "the LiteLLM proxy, e.g. https://litellm.example/v1 (default $OPENAI_BASE_URL)")
	f.StringVar(&o.APIKey, "api-key", "", "the proxy's key (default $OPENAI_API_KEY)")
	f.BoolVar(&o.Direct, "direct", false, "skip the proxy: probe each model's own vLLM URL with its Hugging Face id")
	f.StringVar(&o.Registry, "registry", "", registryFlagUsage)
	o.Modal.register(f)
	return cmd
}

func runDoctor(ctx context.Context, o *doctorOptions, s streams) error {
	if len(o.Models) == 0 {
		return usageError("name the models to check: --models qwen3-4b,gpt-oss-20b")
	}
	reg, err := loadRegistry(o.Registry)
	if err != nil {
		return err
	}
	var specs []models.Spec
	anyLocal := false
	for _, n := range o.Models {
		spec, err := reg.Lookup(strings.TrimSpace(n))
		if err != nil {
			return usageError("%v", err)
		}
		specs = append(specs, spec)
		anyLocal = anyLocal || spec.IsLocal()
	}
	var fs []finding
	add := func(check string, err error, okNote string) bool {
		f := finding{check: check, ok: err == nil, note: okNote}
		if err != nil {
			f.note = oneLine(err.Error())
		}
		fs = append(fs, f)
		return f.ok
	}
	if anyLocal {
		add("Modal credentials", deploy.CheckCredentials(), "found")
		if !o.Modal.NoDeploy {
			add("modal command line", deploy.CheckCLI(strings.Fields(o.Modal.CLI)), o.Modal.CLI)
		}
	}
	baseURL := firstNonEmpty(o.BaseURL, os.Getenv("OPENAI_BASE_URL"))
	apiKey := firstNonEmpty(o.APIKey, os.Getenv("OPENAI_API_KEY"))
	var routes map[string]bool
	if !o.Direct {
		urlOK := add("LiteLLM base URL", present(baseURL, "set --base-url or OPENAI_BASE_URL"), baseURL)
		keyOK := add("LiteLLM key", present(apiKey, "set --api-key or OPENAI_API_KEY"), "set")
		proxyOK := urlOK && keyOK
		if proxyOK {
			var err error
			routes, err = listModels(ctx, baseURL, apiKey)
			proxyOK = add("proxy answers /models", err, fmt.Sprintf("%d models", len(routes)))
		}
		for _, spec := range specs {
			name := spec.Route()
			if !proxyOK {
				add("route "+name, fmt.Errorf("not checked: the proxy is not reachable"), "")
				continue
			}
			var err error
			if !routes[name] {
				err = fmt.Errorf("the proxy does not list %s: run goatbench litellm-config --merge <config> and redeploy the proxy", name)
			}
			add("route "+name, err, "listed")
		}
	}
	for _, spec := range specs {
		add("tool call "+spec.Key, o.probe(ctx, spec, baseURL, apiKey, routes), "real tool_calls")
	}

	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	failed := 0
	for _, f := range fs {
		mark := "✓"
		if !f.ok {
			mark, failed = "✗", failed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, f.check, f.note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d checks failed", failed, len(fs))}
	}
	return nil
}

// probe asks one model for a real tool call, through the proxy or, with
// --direct, at its own Modal URL (looked up, not deployed).
func (o *doctorOptions) probe(ctx context.Context, spec models.Spec, baseURL, apiKey string, routes map[string]bool) error {
	var temp *float32
	if t := spec.RequestDefaults.Temperature; t != nil {
		temp = ptr32(*t)
	}
	ctx, cancel := context.WithTimeout(ctx, max(spec.StartupTimeout(), 2*time.Minute))
	defer cancel()
	if !o.Direct {
		switch {
		case routes == nil:
			return fmt.Errorf("not probed: the proxy is not reachable")
		case !routes[spec.Route()]:
			return fmt.Errorf("not probed: the proxy has no route %s", spec.Route())
		}
		return runner.ProbeToolCall(ctx, runner.NewClient(baseURL, apiKey), spec.Route(), temp)
	}
	if !spec.IsLocal() {
		return fmt.Errorf("--direct needs a Modal-served model; %s is an API model", spec.Key)
	}
	t, err := o.Modal.target(spec)
	if err != nil {
		return err
	}
	m := o.Modal
	m.NoDeploy = true // the doctor looks, it never deploys
	d := m.deployer(os.TempDir(), nil)
	defer d.Close()
	ep, err := d.Ensure(ctx, t)
	if err != nil {
		return err
	}
	return runner.ProbeToolCall(ctx, runner.NewClient(strings.TrimSuffix(ep.URL, "/")+"/v1", ""), spec.HFID, temp)
}

func present(v, hint string) error {
	if v == "" {
		return fmt.Errorf("missing: %s", hint)
	}
	return nil
}

// listModels returns the ids GET <base>/models lists.
func listModels(ctx context.Context, baseURL, apiKey string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := modelsRequest(ctx, baseURL, apiKey)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /models: %s", resp.Status)
	}
	var body struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET /models: not a model list: %v", err)
	}
	ids := map[string]bool{}
	for _, m := range body.Data {
		ids[m.ID] = true
	}
	return ids, nil
}
