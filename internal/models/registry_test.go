package models

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// loadBuiltIn loads the registry with no goatbench.yaml in the way.
func loadBuiltIn(t *testing.T) *Registry {
	t.Helper()
	t.Chdir(t.TempDir())
	r, err := Load("")
	require.NoError(t, err)
	return r
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func keys(specs []Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Key
	}
	return out
}

func TestBuiltInEntries(t *testing.T) {
	r := loadBuiltIn(t)
	require.Equal(t, []string{
		"llama-3.1-8b", "qwen3-4b", "qwen3-30b-a3b", "qwen3-235b", "gpt-oss-20b", "gpt-oss-120b",
		"gpt-5-nano", "gpt-5-mini", "gpt-4o-mini", "llama-3.3-70b",
	}, keys(r.All()))
	require.Equal(t, []string{
		"llama-3.1-8b", "qwen3-4b", "qwen3-30b-a3b", "qwen3-235b", "gpt-oss-20b", "gpt-oss-120b",
	}, keys(r.Local()))

	tests := []struct {
		key        string
		kind       Kind
		hfID       string
		gpu        GPU
		maxLen     int
		timeout    string
		parser     string
		template   string
		script     string
		perGPUHour float64
	}{
		{"llama-3.1-8b", KindVLLM, "meta-llama/Llama-3.1-8B-Instruct", GPU{"A10G", 1}, 32768, "15m0s", "llama3_json",
			"/vllm-workspace/examples/tool_chat_template_llama3.1_json.jinja", "modal/vllm.py", 1.10},
		{"qwen3-4b", KindVLLM, "Qwen/Qwen3-4B-Instruct-2507", GPU{"A10G", 1}, 32768, "15m0s", "hermes", "", "modal/vllm.py", 1.10},
		{"qwen3-30b-a3b", KindVLLM, "Qwen/Qwen3-30B-A3B-Instruct-2507", GPU{"A100-80GB", 1}, 32768, "15m0s", "hermes", "", "modal/vllm.py", 3.30},
		{"qwen3-235b", KindVLLM, "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", GPU{"H100!", 4}, 32768, "15m0s", "hermes", "", "modal/vllm.py", 4.50},
		{"gpt-oss-20b", KindGPTOSS, "openai/gpt-oss-20b", GPU{"H100!", 1}, 32768, "30m0s", "openai", "", "modal/gpt_oss.py", 4.50},
		{"gpt-oss-120b", KindGPTOSS, "openai/gpt-oss-120b", GPU{"H100!", 1}, 32768, "30m0s", "openai", "", "modal/gpt_oss.py", 4.50},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			s, err := r.Lookup(tt.key)
			require.NoError(t, err)
			require.Equal(t, tt.kind, s.Kind)
			require.Equal(t, tt.hfID, s.HFID)
			require.Equal(t, tt.gpu, s.GPU)
			require.Equal(t, s.GPU.Count, s.TensorParallelSize())
			require.Equal(t, tt.maxLen, s.MaxModelLen)
			require.Equal(t, tt.timeout, s.StartupTimeout().String())
			require.Equal(t, tt.parser, s.VLLM.ToolCallParser)
			require.Equal(t, tt.template, s.VLLM.ChatTemplate)
			require.Equal(t, tt.script, s.Script())
			require.InDelta(t, tt.perGPUHour, s.PricePerGPUHour, 1e-9)
			require.InDelta(t, tt.perGPUHour*float64(tt.gpu.Count), s.PricePerHour(), 1e-9)
			require.True(t, s.IsLocal())
			require.NotNil(t, s.RequestDefaults.Temperature)
			require.InDelta(t, 0.3, *s.RequestDefaults.Temperature, 1e-9)
			require.Equal(t, "auto", s.RequestDefaults.ToolChoice)
		})
	}

	for _, key := range []string{"gpt-5-nano", "gpt-5-mini", "gpt-4o-mini", "llama-3.3-70b"} {
		s, err := r.Lookup(key)
		require.NoError(t, err)
		require.Equal(t, KindAPI, s.Kind)
		require.False(t, s.IsLocal())
		require.Equal(t, key, s.Route(), "LiteLLM serves API models under their key")
		require.Empty(t, s.AppName())
		require.Empty(t, s.Script())
		require.Zero(t, s.PricePerHour())
		require.Nil(t, s.RequestDefaults.Temperature, "API models keep the provider's defaults")
		require.Empty(t, s.RequestDefaults.ToolChoice)
	}
}

func TestGPTOSSSettings(t *testing.T) {
	r := loadBuiltIn(t)
	small, err := r.Lookup("gpt-oss-20b")
	require.NoError(t, err)
	large, err := r.Lookup("gpt-oss-120b")
	require.NoError(t, err)

	require.Equal(t, "d666cf3b67006cf8227666739edf25164aaffdeb", small.Revision)
	for _, s := range []Spec{small, large} {
		// The vLLM GPT-OSS recipe's Hopper configs keep the default KV cache dtype; fp8 is for Blackwell
		// (vllm-project/recipes OpenAI/GPT-OSS_Hopper.yaml, GPT-OSS_Blackwell.yaml).
		require.Empty(t, s.VLLM.KVCacheDType)
		// CUDA graphs cover every concurrent request's 1 + k speculative tokens.
		size, ok := cudagraphCaptureSize(s.VLLM.ExtraArgs)
		require.True(t, ok)
		require.GreaterOrEqual(t, size, MaxConcurrentRequests*(1+speculativeTokens(s.VLLM.SpeculativeConfig)))
		require.Equal(t, "1", s.Env["VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8"])
		// The recipe's compilation passes are Blackwell's and "not supported on Hopper architecture
		// yet" (vllm-project/recipes 86840f5 OpenAI/GPT-OSS.md); its Hopper configs set none.
		require.Equal(t, "H100!", s.GPU.Type)
		require.Nil(t, s.VLLM.CompilationConfig)
		require.Equal(t, "eagle3", s.VLLM.SpeculativeConfig["method"])
		require.False(t, s.VLLM.EnforceEager)
	}
	// Each model carries a speculator trained on it.
	require.Equal(t, "RedHatAI/gpt-oss-20b-speculator.eagle3", small.VLLM.SpeculativeConfig["model"])
	require.Equal(t, "nvidia/gpt-oss-120b-Eagle3-v2", large.VLLM.SpeculativeConfig["model"])
}

func TestDerivedNames(t *testing.T) {
	r := loadBuiltIn(t)
	tests := []struct {
		name, key, slug, app, route, url string
	}{
		{"dots become hyphens in URLs only", "llama-3.1-8b", "llama-3-1-8b", "goat-vllm-llama-3.1-8b", "llama-3.1-8b-local",
			"https://phare-goat-goat--goat-vllm-llama-3-1-8b-serve.modal.run"},
		{"no dots", "qwen3-4b", "qwen3-4b", "goat-vllm-qwen3-4b", "qwen3-4b-local",
			"https://phare-goat-goat--goat-vllm-qwen3-4b-serve.modal.run"},
		{"gpt-oss", "gpt-oss-120b", "gpt-oss-120b", "goat-vllm-gpt-oss-120b", "gpt-oss-120b-local",
			"https://phare-goat-goat--goat-vllm-gpt-oss-120b-serve.modal.run"},
		{"api model is not deployed", "llama-3.3-70b", "llama-3-3-70b", "", "llama-3.3-70b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := r.Lookup(tt.key)
			require.NoError(t, err)
			require.Equal(t, tt.slug, s.Slug())
			require.Equal(t, tt.app, s.AppName())
			require.Equal(t, tt.route, s.Route())
			require.Equal(t, tt.url, s.WebURL("phare-goat", "goat"))
		})
	}
	require.Equal(t, "a-b-c", Slugify("a.b.c"))
}

// TestModalWebURL follows Modal's "Web endpoint URLs" guide
// (modal.com/docs/guide/webhook-urls): the source is <workspace>-<web suffix>
// unless the environment has none, and a label over 63 characters keeps 56,
// then "-" and 6 hex characters of the SHA-256 of the whole label.
// TestCudagraphCoversSpeculation: vLLM captures CUDA graphs up to
// --max-cudagraph-capture-size tokens per step, and with speculative
// decoding a step feeds each request 1 + num_speculative_tokens tokens.
func TestCudagraphCoversSpeculation(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	p := filepath.Join(dir, "o.yaml")
	require.NoError(t, os.WriteFile(p, []byte("models:\n  - key: gpt-oss-20b\n    vllm:\n      extra_args: [--max-cudagraph-capture-size, \"32\"]\n"), 0o644))
	_, err := Load(p)
	require.ErrorContains(t, err, "--max-cudagraph-capture-size 32 does not cover 32 concurrent requests x (1 + 7 speculative tokens) = 256")
}

// TestLongKeyURL: a key long enough to push the label past 63 characters
// gets Modal's truncated label.
func TestLongKeyURL(t *testing.T) {
	s := Spec{Key: "qwen3-30b-a3b-instruct-2507-long-context", Kind: KindVLLM}
	url := s.WebURL("phare", "goat")
	label := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), ".modal.run")
	require.Len(t, label, 63)
	require.Equal(t, "phare-goat--goat-vllm-qwen3-30b-a3b-instruct-2507-long-c", label[:56])
	require.Regexp(t, `^-[0-9a-f]{6}$`, label[56:])
}

func TestModalWebURL(t *testing.T) {
	tests := []struct {
		name, ws, suffix, app, fn, want string
	}{
		{"the guide's example", "ECorp", "prod", "text_to_speech", "flask_app", "https://ecorp-prod--text-to-speech-flask-app.modal.run"},
		{"environment without a suffix", "ecorp", "", "text_to_speech", "flask_app", "https://ecorp--text-to-speech-flask-app.modal.run"},
		{"the goat environment", "W", "goat", "goat-vllm-llama-3.1-8b", "serve", "https://w-goat--goat-vllm-llama-3-1-8b-serve.modal.run"},
		{"63 characters are kept whole", "w", "goat", "goat-vllm-" + strings.Repeat("x", 63-len("w-goat--goat-vllm--serve")), "serve",
			"https://w-goat--goat-vllm-" + strings.Repeat("x", 63-len("w-goat--goat-vllm--serve")) + "-serve.modal.run"},
		{"a long label is truncated and hashed", "a-very-long-workspace-name", "goat", "goat-vllm-qwen3-30b-a3b-instruct-2507", "serve",
			"https://a-very-long-workspace-name-goat--goat-vllm-qwen3-30b-a3b-f0fd5b.modal.run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ModalWebURL(tt.ws, tt.suffix, tt.app, tt.fn)
			require.Equal(t, tt.want, got)
			label := strings.TrimSuffix(strings.TrimPrefix(got, "https://"), ".modal.run")
			require.LessOrEqual(t, len(label), 63)
		})
	}
}

func TestLookup(t *testing.T) {
	r := loadBuiltIn(t)
	tests := []struct {
		name    string
		want    string   // key found, "" for an error
		suggest []string // leading suggestions expected
	}{
		{name: "qwen3-4b", want: "qwen3-4b"},
		{name: "qwen3-4b-local", want: "qwen3-4b"},
		{name: "llama-3.1-8b-local", want: "llama-3.1-8b"},
		{name: "gpt-5-nano", want: "gpt-5-nano"},
		{name: "qwen3-4", suggest: []string{"qwen3-4b"}},
		{name: "llama3.1-8b", suggest: []string{"llama-3.1-8b"}},
		{name: "gpt-oss-20b-locl", suggest: []string{"gpt-oss-20b"}},
		{name: "qwen3-4b-local-local", suggest: []string{"qwen3-4b"}},
		{name: "gpt-5-nano-local", suggest: []string{"gpt-5-nano"}}, // API models have no -local route
		{name: "mistral-7b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := r.Lookup(tt.name)
			if tt.want != "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, s.Key)
				return
			}
			var unknown *UnknownModelError
			require.ErrorAs(t, err, &unknown)
			require.Equal(t, tt.name, unknown.Name)
			require.LessOrEqual(t, len(unknown.Suggestions), 3)
			if len(tt.suggest) == 0 {
				require.NotContains(t, err.Error(), "did you mean")
			} else {
				require.Equal(t, tt.suggest, unknown.Suggestions[:len(tt.suggest)])
				require.Contains(t, err.Error(), "did you mean "+tt.suggest[0])
			}
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestSpecJSONContract(t *testing.T) {
	r := loadBuiltIn(t)
	s, err := r.Lookup("gpt-oss-20b")
	require.NoError(t, err)
	b, err := s.JSON()
	require.NoError(t, err)
	require.NotContains(t, string(b), "\n", "one line, for an environment variable")

	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	want := map[string]any{
		"key":                "gpt-oss-20b",
		"kind":               "gpt-oss",
		"hf_id":              "openai/gpt-oss-20b",
		"revision":           "d666cf3b67006cf8227666739edf25164aaffdeb",
		"app_name":           "goat-vllm-gpt-oss-20b",
		"route":              "gpt-oss-20b-local",
		"gpu":                map[string]any{"type": "H100!", "count": 1.0},
		"max_model_len":      32768.0,
		"startup_timeout_s":  1800.0,
		"price_per_gpu_hour": 4.5,
		"vllm": map[string]any{
			"tool_call_parser":       "openai",
			"chat_template":          "",
			"reasoning_parser":       "",
			"enforce_eager":          false,
			"gpu_memory_utilization": 0.9,
			"kv_cache_dtype":         "",
			"speculative_config": map[string]any{
				"model": "RedHatAI/gpt-oss-20b-speculator.eagle3", "num_speculative_tokens": 7.0, "method": "eagle3",
			},
			"compilation_config":     nil,
			"stream_interval":        20.0,
			"max_num_batched_tokens": 8192.0,
			"extra_args":             []any{"--async-scheduling", "--max-cudagraph-capture-size", "256"},
		},
		"env":              map[string]any{"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1"},
		"request_defaults": map[string]any{"temperature": 0.3, "tool_choice": "auto"},
	}
	require.Equal(t, want, got)
	// The contract's field order, so the file and the env var read the same.
	require.True(t, strings.HasPrefix(string(b), `{"key":"gpt-oss-20b","kind":"gpt-oss","hf_id":`), string(b))

	api, err := r.Lookup("gpt-4o-mini")
	require.NoError(t, err)
	b, err = api.JSON()
	require.NoError(t, err)
	var apiGot map[string]any
	require.NoError(t, json.Unmarshal(b, &apiGot))
	require.Equal(t, map[string]any{"type": "", "count": 0.0}, apiGot["gpu"])
	require.Equal(t, "", apiGot["app_name"])
	require.Equal(t, map[string]any{}, apiGot["env"])
	require.Equal(t, []any{}, apiGot["vllm"].(map[string]any)["extra_args"])
	require.Nil(t, apiGot["vllm"].(map[string]any)["speculative_config"])
	require.Equal(t, map[string]any{"temperature": nil, "tool_choice": ""}, apiGot["request_defaults"])
}

func TestRequestDefaultsOverride(t *testing.T) {
	r := loadBuiltIn(t)
	s, err := r.Lookup("qwen3-4b")
	require.NoError(t, err)
	hot := s.RequestDefaults.WithTemperature(0.9)
	require.InDelta(t, 0.9, *hot.Temperature, 1e-9)
	require.Equal(t, "auto", hot.ToolChoice)
	require.InDelta(t, 0.3, *s.RequestDefaults.Temperature, 1e-9, "the spec is unchanged")

	// Specs handed out are copies: changing one does not change the registry.
	g, err := r.Lookup("gpt-oss-20b")
	require.NoError(t, err)
	*g.RequestDefaults.Temperature = 2
	g.Env["X"] = "y"
	g.VLLM.SpeculativeConfig["model"] = "other"
	again, err := r.Lookup("gpt-oss-20b")
	require.NoError(t, err)
	require.InDelta(t, 0.3, *again.RequestDefaults.Temperature, 1e-9)
	require.NotContains(t, again.Env, "X")
	require.Equal(t, "RedHatAI/gpt-oss-20b-speculator.eagle3", again.VLLM.SpeculativeConfig["model"])
}

func TestOverridePrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, OverrideFile, `
local_request_defaults:
  temperature: 0.5
models:
  - key: qwen3-4b
    max_model_len: 4096
    gpu: {count: 2}             # type stays A10G
    env: {FROM_WORKDIR: "1"}
  - key: gpt-oss-20b
    vllm:
      speculative_config: {model: my/draft, method: eagle3}   # replaced whole
      compilation_config: null                                   # cleared
  - key: my-model
    kind: vllm
    hf_id: example/My-Model-7B
    gpu: {type: L4, count: 1}
    max_model_len: 4096
    weights: {params_b: 7, dtype: bf16}
    arch: {layers: 28, attention_heads: 28, kv_heads: 4, head_dim: 128}
    vllm: {tool_call_parser: hermes}
`)
	override := writeFile(t, t.TempDir(), "team.yaml", `
models:
  - key: qwen3-4b
    max_model_len: 16384
    env: {FROM_FLAG: "1"}
    request_defaults: {temperature: 0.1}
`)
	r, err := Load(override)
	require.NoError(t, err)

	q, err := r.Lookup("qwen3-4b")
	require.NoError(t, err)
	require.Equal(t, 16384, q.MaxModelLen, "--registry wins over goatbench.yaml")
	require.Equal(t, GPU{"A10G", 2}, q.GPU, "goatbench.yaml's count, the built-in type")
	require.Equal(t, "Qwen/Qwen3-4B-Instruct-2507", q.HFID, "untouched fields keep the built-in value")
	require.Equal(t, "hermes", q.VLLM.ToolCallParser)
	require.Equal(t, map[string]string{"FROM_WORKDIR": "1", "FROM_FLAG": "1"}, q.Env, "env merges key by key")
	require.InDelta(t, 0.1, *q.RequestDefaults.Temperature, 1e-9, "the entry's own default wins")
	require.Equal(t, "auto", q.RequestDefaults.ToolChoice)
	require.InDelta(t, 2.20, q.PricePerHour(), 1e-9)

	l, err := r.Lookup("llama-3.1-8b")
	require.NoError(t, err)
	require.InDelta(t, 0.5, *l.RequestDefaults.Temperature, 1e-9, "goatbench.yaml's local default")

	g, err := r.Lookup("gpt-oss-20b")
	require.NoError(t, err)
	require.Equal(t, JSONObject{"model": "my/draft", "method": "eagle3"}, g.VLLM.SpeculativeConfig)
	require.Nil(t, g.VLLM.CompilationConfig)
	require.Equal(t, 20, g.VLLM.StreamInterval, "sibling fields of vllm are kept")

	all := r.All()
	require.Equal(t, "my-model", all[len(all)-1].Key, "new keys are added at the end")
	m, err := r.Lookup("my-model-local")
	require.NoError(t, err)
	require.Equal(t, 15*60, m.StartupTimeoutS, "defaults by kind")
	require.InDelta(t, 0.90, m.VLLM.GPUMemoryUtilization, 1e-9)
	require.InDelta(t, 0.80, m.PricePerGPUHour, 1e-9, "the GPU's list price")
}

func TestOverrideWithoutWorkdirFile(t *testing.T) {
	t.Chdir(t.TempDir())
	override := writeFile(t, t.TempDir(), "r.yaml", "models:\n  - key: qwen3-4b\n    max_model_len: 2048\n")
	r, err := Load(override)
	require.NoError(t, err)
	q, err := r.Lookup("qwen3-4b")
	require.NoError(t, err)
	require.Equal(t, 2048, q.MaxModelLen)

	// An empty override changes nothing.
	empty := writeFile(t, t.TempDir(), "empty.yaml", "")
	r, err = Load(empty)
	require.NoError(t, err)
	require.Len(t, r.All(), 10)
}

// A registry named by --registry, or a goatbench.yaml in the working
// directory, that is a FIFO or a device is refused at once: read, it blocked
// for ever, or /dev/zero filled the memory.
func TestLoadRefusesARegistryThatIsNoFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	for path, want := range map[string]string{
		fifo:        "read registry " + fifo + ": not a regular file (a FIFO)",
		"/dev/zero": "read registry /dev/zero: not a regular file (a device)",
	} {
		_, err := Load(path)
		require.EqualError(t, err, want)
	}
	t.Chdir(t.TempDir())
	require.NoError(t, syscall.Mkfifo(OverrideFile, 0o644))
	_, err := Load("")
	require.EqualError(t, err, "read "+OverrideFile+": not a regular file (a FIFO)")
}

func TestLoadErrors(t *testing.T) {
	// A complete new model, to break one field at a time.
	const base = `
  - key: new-model
    kind: vllm
    hf_id: example/New-Model
    gpu: {type: A10G, count: 1}
    max_model_len: 4096
    weights: {params_b: 7, dtype: bf16}
    arch: {layers: 28, attention_heads: 28, kv_heads: 4, head_dim: 128}
    vllm: {tool_call_parser: hermes}
`
	tests := []struct {
		name string
		yaml string
		want []string // all must appear in the one-line error
	}{
		{"unknown field names file, model and field with a suggestion",
			"models:\n  - key: qwen3-4b\n    gpu: {typ: H100}\n",
			[]string{"override.yaml:3", `model "qwen3-4b"`, "gpu.typ", "unknown field", "did you mean type?"}},
		{"unknown vllm flag",
			"models:\n  - key: qwen3-4b\n    vllm:\n      tool_parser: hermes\n",
			[]string{"override.yaml:4", `model "qwen3-4b"`, "vllm.tool_parser", "did you mean tool_call_parser?"}},
		{"derived names cannot be set",
			"models:\n  - key: qwen3-4b\n    route: qwen-local\n",
			[]string{`model "qwen3-4b"`, "route: unknown field"}},
		{"wrong type",
			"models:\n  - key: qwen3-4b\n    gpu: {count: two}\n",
			[]string{"override.yaml:3", `model "qwen3-4b"`, "gpu.count", `want a whole number, got "two"`}},
		{"list where a mapping belongs",
			"models:\n  - key: qwen3-4b\n    gpu: [A10G]\n",
			[]string{`model "qwen3-4b"`, "gpu: want a mapping, got a list"}},
		{"a second document, which would be dropped",
			"models:\n  - key: a-model\n    kind: api\n---\nmodels: []\n",
			[]string{"override.yaml", "line 5: a second YAML document"}},
		{"duplicate key in one file",
			"models:\n  - key: a-model\n    kind: api\n  - key: a-model\n    kind: api\n",
			[]string{"override.yaml:4", `model "a-model"`, "defined twice in this file (first on line 2)"}},
		{"field given twice",
			"models:\n  - key: qwen3-4b\n    max_model_len: 1\n    max_model_len: 2\n",
			[]string{`model "qwen3-4b"`, "max_model_len: given twice"}},
		{"missing key",
			"models:\n  - kind: api\n",
			[]string{"override.yaml:2", "key: models entry 1 has no key"}},
		{"key unusable in a URL",
			"models:\n  - key: My_Model\n    kind: api\n",
			[]string{`model "My_Model"`, "key: use lowercase letters"}},
		{"key that looks like a route",
			"models:\n  - key: qwen3-4b-local\n    kind: api\n",
			[]string{`model "qwen3-4b-local"`, "key: must not end in -local"}},
		{"missing HF id",
			"models:" + strings.Replace(base, "    hf_id: example/New-Model\n", "", 1),
			[]string{"override.yaml:2", `model "new-model"`, "hf_id: missing"}},
		{"unknown GPU type",
			"models:" + strings.Replace(base, "type: A10G", "type: A11G", 1),
			[]string{`model "new-model"`, `gpu.type: unknown GPU type "A11G"`, "did you mean A10G?", "H100"}},
		{"GPU count does not divide attention heads",
			"models:" + strings.Replace(base, "count: 1", "count: 3", 1),
			[]string{`model "new-model"`, "gpu.count", "3 GPUs cannot split the model's 28 attention heads"}},
		{"GPU count neither splits nor replicates KV heads",
			"models:" + strings.Replace(strings.Replace(base, "count: 1", "count: 6", 1),
				"attention_heads: 28, kv_heads: 4", "attention_heads: 24, kv_heads: 4", 1),
			[]string{`model "new-model"`, "gpu.count", "6 GPUs cannot split or replicate the model's 4 KV heads"}},
		{"built-in model overridden onto too few GPUs",
			"models:\n  - key: qwen3-4b\n    gpu: {count: 3}\n",
			[]string{`model "qwen3-4b"`, "3 GPUs cannot split the model's 32 attention heads"}},
		{"missing tool-call parser",
			"models:" + strings.Replace(base, "    vllm: {tool_call_parser: hermes}\n", "", 1),
			[]string{`model "new-model"`, "vllm.tool_call_parser: missing"}},
		{"missing architecture",
			"models:" + strings.Replace(base, "    arch: {layers: 28, attention_heads: 28, kv_heads: 4, head_dim: 128}\n", "", 1),
			[]string{`model "new-model"`, "arch.layers: missing"}},
		{"unknown weight format",
			"models:" + strings.Replace(base, "dtype: bf16", "dtype: fp4", 1),
			[]string{`model "new-model"`, `weights.dtype: unknown weight format "fp4"`}},
		{"unknown kind",
			"models:\n  - key: x-model\n    kind: ollama\n",
			[]string{`model "x-model"`, `kind: unknown kind "ollama"`}},
		{"api model with a GPU",
			"models:\n  - key: gpt-5-nano\n    gpu: {type: H100, count: 1}\n",
			[]string{`model "gpt-5-nano"`, "gpu: api models are served by LiteLLM, not deployed"}},
		{"unknown top-level field",
			"model:\n  - key: qwen3-4b\n",
			[]string{"override.yaml:1", "model: unknown top-level field", "did you mean models?"}},
		{"merges nested nine deep, nine times each",
			"local_request_defaults: " + mergeBomb(9) + "\n",
			[]string{"override.yaml", "aliases expand to more than"}},
		{"NaN price",
			"models:\n  - key: qwen3-4b\n    price_per_gpu_hour: .nan\n",
			[]string{"override.yaml:3", `model "qwen3-4b"`, "price_per_gpu_hour: want a finite number"}},
		{"infinite size",
			"models:\n  - key: qwen3-4b\n    weights: {params_b: -.inf}\n",
			[]string{`model "qwen3-4b"`, "weights.params_b: want a finite number"}},
		{"not YAML",
			"models: [\n",
			[]string{"override.yaml: not valid YAML"}},
		{"models is not a list",
			"models: {key: qwen3-4b}\n",
			[]string{"override.yaml:1", "models: want a list of models"}},
		{"the seed plan's qwen3-30b-a3b on one A10G does not fit",
			"models:\n  - key: qwen3-30b-a3b\n    gpu: {type: A10G}\n",
			[]string{"override.yaml:2", `model "qwen3-30b-a3b"`, "does not fit",
				"needs an estimated 59.9 GiB", "weights 56.9", "1× A10G gives vLLM 20.2 GiB"}},
		{"the seed plan's qwen3-235b on one A100-80GB does not fit",
			"models:\n  - key: qwen3-235b\n    gpu: {type: A100-80GB, count: 1}\n",
			[]string{`model "qwen3-235b"`, "does not fit", "needs an estimated 226.0 GiB", "1× A100-80GB gives vLLM 72.0 GiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			path := writeFile(t, t.TempDir(), "override.yaml", tt.yaml)
			_, err := Load(path)
			require.Error(t, err)
			msg := err.Error()
			require.NotContains(t, msg, "\n", "errors are one line")
			require.True(t, strings.HasPrefix(msg, path), "the error starts with the file: %s", msg)
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

// mergeBomb is a mapping that merges the one before it nine times, levels
// deep: a few hundred bytes that name 9^levels mappings once merged.
func mergeBomb(levels int) string {
	s := "&d0 {temperature: 0.5}"
	for i := 1; i <= levels; i++ {
		s = fmt.Sprintf("&d%d {<<: [%s%s]}", i, s, strings.Repeat(fmt.Sprintf(", *d%d", i-1), 8))
	}
	return s
}

func TestWorkdirFileErrorsNameIt(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, OverrideFile, "models:\n  - key: qwen3-4b\n    gpu: {type: Z9}\n")
	_, err := Load("")
	require.ErrorContains(t, err, `goatbench.yaml:2: model "qwen3-4b": gpu.type: unknown GPU type "Z9"`)

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "read registry")
}

func TestEmbeddedRegistryIsValid(t *testing.T) {
	// The built-in file on its own, without the loader's working-directory lookup.
	_, err := build([]layer{{name: EmbeddedName, data: embeddedYAML}})
	require.NoError(t, err)
}
