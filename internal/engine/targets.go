package engine

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/goatbench/goatbench/internal/didyoumean"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
)

// Target is a model to run and where to reach it.
type Target struct {
	Name        string // shown in results
	ModelID     string // what requests send as "model"
	BaseURL     string // "" for the reference server (started by the run) and --direct (known once warm)
	Temperature *float32
	ToolChoice  string
	Startup     time.Duration // a Modal-served model's startup timeout: how long to follow its 303s
	Modal       *models.Spec  // set for Modal-served models: deployed and warmed before they run
	Deploy      deploy.Target // what the deployer needs, when Modal is set
	// Headers go with every request: Modal's proxy auth for --direct calls
	// to a web endpoint that requires it.
	Headers map[string]string
	Info    results.ModelInfo
}

// client is the OpenAI-compatible client for the target. Modal answers a
// request held past 150 s with a 303; a cold model's are followed for as long
// as its startup may take.
func (t Target) client(apiKey string) *runner.Client {
	if t.Startup > 0 {
		return runner.NewClient(t.BaseURL, apiKey, runner.FollowRedirectsFor(t.Startup), runner.WithHeaders(t.Headers))
	}
	return runner.NewClient(t.BaseURL, apiKey, runner.WithHeaders(t.Headers))
}

// Selection names the models of a run as the user gave them.
type Selection struct {
	Names       []string  // registry keys or routes, or "reference"; with Raw, one name the endpoint serves
	Raw         bool      // Names[0] is what the endpoint serves (--model-name), not a registry key
	BaseURL     string    // the endpoint; "" leaves each model's own (or, resumed, the one recorded)
	Direct      bool      // Modal-served models are called at their own URL with the Hugging Face id
	Temperature float64   // < 0: each model's own
	Previous    *Previous // the run being resumed, whose recorded endpoints are used when BaseURL is ""
}

// ResolveTargets turns the selection into targets, checked against the
// registry; a *ConfigError names what is wrong. Modal-served targets still
// need their Deploy field.
func ResolveTargets(reg *models.Registry, sel Selection) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, n := range sel.Names {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		url := sel.BaseURL
		if url == "" && sel.Previous != nil {
			// A resumed run keeps the endpoint it was given, recorded under the model's name.
			url = sel.Previous.BaseURL(n)
			if spec, err := reg.Lookup(n); url == "" && err == nil {
				url = sel.Previous.BaseURL(spec.Route())
			}
		}
		t, err := sel.target(reg, n, url)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, configError("--models is empty")
	}
	return out, nil
}

// target resolves one model name: "reference", a registry key or route, or
// (Raw) whatever the endpoint serves, recognised as local when the registry
// knows its route or Hugging Face id.
func (sel Selection) target(reg *models.Registry, name, baseURL string) (Target, error) {
	raw := sel.Raw
	if name == reference.ModelID {
		t := Target{Name: name, ModelID: name, ToolChoice: "auto", Temperature: ptr32(0.3)}
		t.Info = results.ModelInfo{Name: name, ModelID: name, Kind: "reference"}
		return sel.withTemperature(t), nil
	}
	spec, err := reg.Lookup(name)
	if err != nil && raw {
		spec, err = byHFID(reg, name)
	}
	t := Target{Name: name, ModelID: name, BaseURL: baseURL}
	switch {
	case err == nil:
		if !raw {
			t.Name, t.ModelID = spec.Route(), spec.Route()
		}
		if d := spec.RequestDefaults; d.Temperature != nil {
			t.Temperature = ptr32(*d.Temperature)
		}
		t.ToolChoice = spec.RequestDefaults.ToolChoice
		t.Info = results.ModelInfo{Key: spec.Key, Kind: string(spec.Kind), PricePerHour: spec.PricePerHour()}
		if spec.IsLocal() {
			t.Info.GPU = fmt.Sprintf("%s:%d", spec.GPU.Type, spec.GPU.Count)
			t.Info.MaxModelLen = spec.MaxModelLen
			t.Startup = spec.StartupTimeout()
			if !raw {
				t.Modal = &spec
			}
		}
	case !raw:
		if ue := (*models.UnknownModelError)(nil); errors.As(err, &ue) && didyoumean.Near(name, reference.ModelID) {
			ue.Suggestions = append([]string{reference.ModelID}, ue.Suggestions...)
		}
		return t, configError("%v", err)
	case strings.HasSuffix(name, "-local"):
		t.Temperature, t.ToolChoice = ptr32(0.3), "auto"
	}
	if t.Modal != nil && sel.Direct {
		// The endpoint is the app's own URL, known once it is warm.
		t.ModelID, t.BaseURL = t.Modal.HFID, ""
		if pa, ok := deploy.ProxyAuthFromEnv(); ok {
			t.Headers = pa.Headers()
		}
		t.Info.Name, t.Info.ModelID = t.Name, t.ModelID
		return sel.withTemperature(t), nil
	}
	if baseURL == "" {
		return t, configError("model %q needs an endpoint: pass --base-url (e.g. your LiteLLM proxy) or set OPENAI_BASE_URL; --models reference runs offline", name)
	}
	if err := checkBaseURL(baseURL); err != nil {
		return t, err
	}
	t.Info.Name, t.Info.ModelID, t.Info.BaseURL = t.Name, t.ModelID, RecordedURL(baseURL)
	return sel.withTemperature(t), nil
}

func (sel Selection) withTemperature(t Target) Target {
	if sel.Temperature >= 0 {
		t.Temperature = ptr32(sel.Temperature)
	}
	return t
}

// checkBaseURL refuses an endpoint goatbench could only send requests to
// wrongly: the API path is appended to it, so a query string or fragment
// would end up in the middle of every request's URL (and a key in one would
// be written wherever the URL is).
func checkBaseURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		// Not the whole URL: a key in it would reach the terminal and the CI log.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return configError("--base-url (or OPENAI_BASE_URL) is not a URL: %v", err)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return configError("--base-url (or OPENAI_BASE_URL) must not carry a query string or fragment (the API path is appended to it); pass a key with --api-key or OPENAI_API_KEY")
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		// Not the value: a key pasted into the wrong flag would be printed.
		return configError("--base-url (or OPENAI_BASE_URL) must be an http:// or https:// URL with a host, such as http://127.0.0.1:4000/v1")
	}
	return nil
}

// RecordedURL is an endpoint as run.json may keep it: a password in the URL
// is masked there and redacted from everything else the run writes.
func RecordedURL(raw string) string {
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
