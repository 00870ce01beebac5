// Package models is the model registry: one embedded models.yaml from which
// every model's deploy spec, LiteLLM route, Modal app name and URL, GPU memory
// fit, cost and request defaults are derived.
package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kind says how a model is served.
type Kind string

// The kinds of model the registry knows.
const (
	KindVLLM   Kind = "vllm"    // modal/vllm.py, vLLM 0.8.5
	KindGPTOSS Kind = "gpt-oss" // modal/gpt_oss.py, vLLM 0.13 on CUDA 12.8
	KindAPI    Kind = "api"     // served by LiteLLM's providers, nothing deployed
)

// appPrefix starts every Modal app name; DESIGN.md fixes it.
const appPrefix = "goat-vllm-"

// routeSuffix ends every LiteLLM route of a Modal-served model.
const routeSuffix = "-local"

// Spec is one registry entry. Its JSON form (JSON) is the contract between
// goatbench and the Python Modal apps.
type Spec struct {
	Key      string `yaml:"key"`
	Kind     Kind   `yaml:"kind"`
	HFID     string `yaml:"hf_id"`
	Revision string `yaml:"revision"`
	// HFGated marks a model whose licence must be accepted on Hugging Face
	// before its weights download; deploy errors then say so.
	HFGated         bool              `yaml:"hf_gated"`
	GPU             GPU               `yaml:"gpu"`
	MaxModelLen     int               `yaml:"max_model_len"`
	StartupTimeoutS int               `yaml:"startup_timeout_s"`
	PricePerGPUHour float64           `yaml:"price_per_gpu_hour"`
	VLLM            VLLM              `yaml:"vllm"`
	Env             map[string]string `yaml:"env"`
	RequestDefaults RequestDefaults   `yaml:"request_defaults"`

	// Weights and Arch feed the memory estimate and the tensor-parallel
	// check; the Modal apps never need them, so they stay out of JSON.
	Weights Weights `yaml:"weights"`
	Arch    Arch    `yaml:"arch"`
}

// GPU is the accelerator a Modal-served model runs on; Count is also vLLM's
// tensor_parallel_size.
type GPU struct {
	Type  string `yaml:"type" json:"type"`
	Count int    `yaml:"count" json:"count"`
}

// VLLM holds the vllm serve flags that differ between models.
type VLLM struct {
	ToolCallParser       string     `yaml:"tool_call_parser" json:"tool_call_parser"`
	ChatTemplate         string     `yaml:"chat_template" json:"chat_template"`
	ReasoningParser      string     `yaml:"reasoning_parser" json:"reasoning_parser"`
	EnforceEager         bool       `yaml:"enforce_eager" json:"enforce_eager"`
	GPUMemoryUtilization float64    `yaml:"gpu_memory_utilization" json:"gpu_memory_utilization"`
	KVCacheDType         string     `yaml:"kv_cache_dtype" json:"kv_cache_dtype"`
	SpeculativeConfig    JSONObject `yaml:"speculative_config" json:"speculative_config"`
	CompilationConfig    JSONObject `yaml:"compilation_config" json:"compilation_config"`
	StreamInterval       int        `yaml:"stream_interval" json:"stream_interval"`
	MaxNumBatchedTokens  int        `yaml:"max_num_batched_tokens" json:"max_num_batched_tokens"`
	ExtraArgs            []string   `yaml:"extra_args" json:"extra_args"`
}

// JSONObject is a free-form object passed to vLLM as JSON (for example
// --speculative-config). An override replaces it whole rather than merging
// keys, because half of one speculator's settings mixed into another's is
// never what anyone means.
type JSONObject map[string]any

// RequestDefaults are the sampling settings sent with every chat request to a
// model. A nil Temperature or empty ToolChoice means "leave it to the server".
type RequestDefaults struct {
	Temperature *float64 `yaml:"temperature" json:"temperature"`
	ToolChoice  string   `yaml:"tool_choice" json:"tool_choice"`
}

// WithTemperature returns a copy of d with the temperature set, for example
// from a --temperature flag.
func (d RequestDefaults) WithTemperature(t float64) RequestDefaults {
	d.Temperature = &t
	return d
}

// Weights describes how big the model's weights are in memory.
type Weights struct {
	// ParamsB is the total parameter count in billions.
	ParamsB float64 `yaml:"params_b"`
	// DType is how the quantized parameters are stored: bf16, fp16, fp8,
	// int8, int4 or mxfp4.
	DType string `yaml:"dtype"`
	// QuantizedParamsB is how many of the parameters are stored as DType;
	// the rest are bf16. Zero means all of them.
	QuantizedParamsB float64 `yaml:"quantized_params_b"`
	// SpeculatorGB is memory for a speculative-decoding draft model.
	SpeculatorGB float64 `yaml:"speculator_gb"`
}

// Arch is the attention shape, for the KV cache estimate and the tensor
// parallel check.
type Arch struct {
	Layers         int `yaml:"layers"`
	AttentionHeads int `yaml:"attention_heads"`
	KVHeads        int `yaml:"kv_heads"`
	HeadDim        int `yaml:"head_dim"`
}

// IsLocal reports whether goatbench deploys the model on Modal.
func (s Spec) IsLocal() bool { return s.Kind == KindVLLM || s.Kind == KindGPTOSS }

// Route is the LiteLLM model name: <key>-local for Modal-served models, the
// key itself for API models.
func (s Spec) Route() string {
	if s.IsLocal() {
		return s.Key + routeSuffix
	}
	return s.Key
}

// AppName is the Modal app serving the model, "" for API models.
func (s Spec) AppName() string {
	if !s.IsLocal() {
		return ""
	}
	return appPrefix + s.Key
}

// Slug is the key as it appears in Modal URLs, which turn dots into hyphens.
func (s Spec) Slug() string { return Slugify(s.Key) }

// Slugify turns dots into hyphens, as Modal does for URL labels.
func Slugify(name string) string { return strings.ReplaceAll(name, ".", "-") }

// WebURL is the model's Modal endpoint (without /v1) in a workspace whose
// environment has web suffix envSuffix ("" for the one environment without
// one), "" for API models. Where the app is deployed, the SDK's
// Function.GetWebURL is the authority; this is for when it cannot be asked.
func (s Spec) WebURL(workspace, envSuffix string) string {
	if !s.IsLocal() {
		return ""
	}
	return ModalWebURL(workspace, envSuffix, s.AppName(), WebFunction)
}

// WebFunction is the web function every goatbench Modal app serves from.
const WebFunction = "serve"

// Modal's limits on a generated subdomain label, from Modal's "Web endpoint
// URLs" guide (modal.com/docs/guide/webhook-urls, "Truncation"): a label
// over 63 characters (the DNS limit) keeps its first 56 characters, then
// "-" and the first 6 hex characters of the SHA-256 of the whole label.
const (
	maxLabel    = 63
	keptOfLabel = 56
	hashOfLabel = 6
)

// ModalWebURL is the URL Modal generates for a deployed web function, from
// Modal's "Web endpoint URLs" guide (modal.com/docs/guide/webhook-urls):
// https://<source>--<app>-<function>.modal.run, where the source is
// <workspace>-<environment web suffix>, or just <workspace> for the one
// environment without a suffix; each part is normalized to lowercase
// letters, digits and hyphens; a label over 63 characters is truncated.
func ModalWebURL(workspace, envSuffix, appName, function string) string {
	source := urlSlug(workspace)
	if envSuffix != "" {
		source += "-" + urlSlug(envSuffix)
	}
	label := source + "--" + urlSlug(appName) + "-" + urlSlug(function)
	if len(label) > maxLabel {
		sum := sha256.Sum256([]byte(label))
		label = label[:keptOfLabel] + "-" + hex.EncodeToString(sum[:])[:hashOfLabel]
	}
	return "https://" + label + ".modal.run"
}

// urlSlug lowercases s and turns anything but letters, digits and hyphens
// into a hyphen ("llama-3.1-8b" -> "llama-3-1-8b", "flask_app" -> "flask-app").
func urlSlug(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, s)
}

// Script is the deploy script for the model, relative to the repository root;
// "" for API models.
func (s Spec) Script() string {
	switch s.Kind {
	case KindVLLM:
		return "modal/vllm.py"
	case KindGPTOSS:
		return "modal/gpt_oss.py"
	}
	return ""
}

// PricePerHour is what the model costs per hour while a container is up.
func (s Spec) PricePerHour() float64 { return s.PricePerGPUHour * float64(s.GPU.Count) }

// StartupTimeout is how long Modal waits for the server to come up.
func (s Spec) StartupTimeout() time.Duration {
	return time.Duration(s.StartupTimeoutS) * time.Second
}

// TensorParallelSize is vLLM's --tensor-parallel-size: always the GPU count.
func (s Spec) TensorParallelSize() int { return s.GPU.Count }

// specJSON fixes the contract's field names and order.
type specJSON struct {
	Key             string            `json:"key"`
	Kind            Kind              `json:"kind"`
	HFID            string            `json:"hf_id"`
	Revision        string            `json:"revision"`
	AppName         string            `json:"app_name"`
	Route           string            `json:"route"`
	GPU             GPU               `json:"gpu"`
	MaxModelLen     int               `json:"max_model_len"`
	StartupTimeoutS int               `json:"startup_timeout_s"`
	PricePerGPUHour float64           `json:"price_per_gpu_hour"`
	VLLM            VLLM              `json:"vllm"`
	Env             map[string]string `json:"env"`
	RequestDefaults RequestDefaults   `json:"request_defaults"`
}

func (s Spec) wire() specJSON {
	v := s.VLLM
	// The contract promises every field present: empty list and object
	// rather than null where nothing is set.
	if v.ExtraArgs == nil {
		v.ExtraArgs = []string{}
	}
	env := s.Env
	if env == nil {
		env = map[string]string{}
	}
	return specJSON{
		Key: s.Key, Kind: s.Kind, HFID: s.HFID, Revision: s.Revision,
		AppName: s.AppName(), Route: s.Route(),
		GPU: s.GPU, MaxModelLen: s.MaxModelLen, StartupTimeoutS: s.StartupTimeoutS,
		PricePerGPUHour: s.PricePerGPUHour, VLLM: v, Env: env,
		RequestDefaults: s.RequestDefaults,
	}
}

// JSON is the spec exactly as the model spec contract defines it, on one line:
// the value of GOATBENCH_MODEL_SPEC.
func (s Spec) JSON() ([]byte, error) {
	b, err := json.Marshal(s.wire())
	if err != nil {
		return nil, fmt.Errorf("encode spec %s: %w", s.Key, err)
	}
	return b, nil
}

// clone returns a deep copy, so merging an override into it never touches the
// layer it came from.
func (s Spec) clone() Spec {
	c := s
	c.Env = maps.Clone(s.Env)
	c.VLLM.ExtraArgs = slices.Clone(s.VLLM.ExtraArgs)
	c.VLLM.SpeculativeConfig = cloneObject(s.VLLM.SpeculativeConfig)
	c.VLLM.CompilationConfig = cloneObject(s.VLLM.CompilationConfig)
	if s.RequestDefaults.Temperature != nil {
		t := *s.RequestDefaults.Temperature
		c.RequestDefaults.Temperature = &t
	}
	return c
}

func cloneObject(o JSONObject) JSONObject {
	if o == nil {
		return nil
	}
	c := make(JSONObject, len(o))
	for k, v := range o {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return map[string]any(cloneObject(t))
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}
