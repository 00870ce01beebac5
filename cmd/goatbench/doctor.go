package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/reference"
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
	check   string
	ok      bool
	skipped bool // not tried, and why is in note: neither a pass nor a failure
	note    string
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
For Modal-served models it also checks, with the Modal SDK, that the Modal
environment and the goat-hf-token secret exist. A check it could not make
(because an earlier one failed) is shown as "·" with the reason, never as a
failure of its own. Prints a table and exits 0 only when no check failed.`,
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
		n = strings.TrimSpace(n)
		if n == reference.ModelID {
			return usageError("%q is goatbench's offline model, served in-process by run: it has nothing to check", reference.ModelID)
		}
		spec, err := reg.Lookup(n)
		if err != nil {
			return usageError("%v", err)
		}
		specs = append(specs, spec)
		anyLocal = anyLocal || spec.IsLocal()
	}
	var fs []finding
	add := func(check string, err error, okNote string) bool {
		f := finding{check: check, ok: err == nil, note: okNote}
		var ne notTried
		switch {
		case errors.As(err, &ne):
			f.ok, f.skipped, f.note = false, true, "not checked: "+string(ne)
		case err != nil:
			f.note = oneLine(err.Error())
		}
		fs = append(fs, f)
		return f.ok
	}
	if anyLocal {
		credOK := add("Modal credentials", deploy.CheckCredentials(), "found")
		if !o.Modal.NoDeploy {
			add("modal command line", deploy.CheckCLI(strings.Fields(o.Modal.CLI)), o.Modal.CLI)
		}
		env := deploy.Environment(o.Modal.Env)
		if credOK {
			d := o.Modal.deployer(os.TempDir(), nil)
			err := d.CheckSetup(ctx)
			d.Close()
			var se *deploy.SetupError
			switch {
			case errors.As(err, &se) && se.Missing == "environment":
				add("Modal environment "+env, err, "")
				add("secret "+deploy.HFSecret, notTried("the environment is missing"), "")
			case errors.As(err, &se):
				add("Modal environment "+env, nil, "exists")
				add("secret "+deploy.HFSecret, err, "")
			default:
				add("Modal environment "+env, err, "exists")
				add("secret "+deploy.HFSecret, err, "has "+deploy.HFTokenKey)
			}
		} else {
			add("Modal environment "+env, notTried("no Modal credentials"), "")
			add("secret "+deploy.HFSecret, notTried("no Modal credentials"), "")
		}
		for _, spec := range specs {
			if spec.HFGated {
				// Only Hugging Face knows, with the token in the Modal secret; a
				// deploy whose weights never download says so in its error.
				add("licence "+spec.HFID, notTried("accept it at https://huggingface.co/"+spec.HFID+
					" with the account whose token is in "+deploy.HFSecret), "")
			}
		}
		if _, ok := deploy.ProxyAuthFromEnv(); ok {
			add("Modal proxy auth token", nil, deploy.ProxyTokenIDEnv+" and "+deploy.ProxyTokenSecretEnv+" set")
		} else {
			why := fmt.Errorf("%s", deploy.MissingProxyAuth)
			if !o.Direct {
				// Through the proxy, it is the proxy's environment that needs them.
				why = notTried("the proxy sends it; its environment needs " + deploy.ProxyTokenIDEnv + " and " + deploy.ProxyTokenSecretEnv)
			}
			add("Modal proxy auth token", why, "")
		}
	}
	baseURL := firstNonEmpty(o.BaseURL, os.Getenv("OPENAI_BASE_URL"))
	apiKey := firstNonEmpty(o.APIKey, os.Getenv("OPENAI_API_KEY"))
	var routes map[string]bool
	var noRoutes notTried // why routes is nil
	if !o.Direct {
		urlOK := add("LiteLLM base URL", present(baseURL, "set --base-url or OPENAI_BASE_URL"), baseURL)
		keyOK := add("LiteLLM key", present(apiKey, "set --api-key or OPENAI_API_KEY"), "set")
		switch {
		case !urlOK:
			noRoutes = "no proxy URL"
			add("proxy answers /models", noRoutes, "")
		case !keyOK:
			noRoutes = "no proxy key"
			add("proxy answers /models", noRoutes, "")
		default:
			var err error
			routes, err = listModels(ctx, baseURL, apiKey)
			if !add("proxy answers /models", err, fmt.Sprintf("%d models", len(routes))) {
				routes, noRoutes = nil, "GET /models failed"
			}
		}
		for _, spec := range specs {
			name := spec.Route()
			if routes == nil {
				add("route "+name, noRoutes, "")
				continue
			}
			var err error
			switch {
			case routes[name]:
			case spec.IsLocal():
				err = fmt.Errorf("the proxy does not list %s: run goatbench litellm-config --merge <the proxy's config> and restart the proxy", name)
			default:
				// litellm-config writes only the Modal-served models; an API
				// model's route is the proxy's own model_list entry.
				err = fmt.Errorf("the proxy does not list %s: add a model_list entry named %s for the provider's model to the proxy's config and restart it", name, name)
			}
			add("route "+name, err, "listed")
		}
	}
	for _, spec := range specs {
		add("tool call "+spec.Key, o.probe(ctx, spec, baseURL, apiKey, routes, noRoutes), "real tool_calls")
	}

	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	failed := 0
	for _, f := range fs {
		mark := "✓"
		switch {
		case f.skipped:
			mark = "·"
		case !f.ok:
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
func (o *doctorOptions) probe(ctx context.Context, spec models.Spec, baseURL, apiKey string, routes map[string]bool, noRoutes notTried) error {
	var temp *float32
	if t := spec.RequestDefaults.Temperature; t != nil {
		temp = ptr32(*t)
	}
	ctx, cancel := context.WithTimeout(ctx, max(spec.StartupTimeout(), 2*time.Minute))
	defer cancel()
	if !o.Direct {
		switch {
		case routes == nil:
			return noRoutes
		case !routes[spec.Route()]:
			return notTried("the proxy has no route " + spec.Route())
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
	pa, _ := deploy.ProxyAuthFromEnv()
	return runner.ProbeToolCall(ctx, runner.NewClient(strings.TrimSuffix(ep.URL, "/")+"/v1", "", runner.WithHeaders(pa.Headers())), spec.HFID, temp)
}

// notTried is a check that was not made, and why: shown as "·", neither a
// pass nor a failure, so the table never claims something was unreachable
// when it was never asked.
type notTried string

func (n notTried) Error() string { return "not checked: " + string(n) }

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
