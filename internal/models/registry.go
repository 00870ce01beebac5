package models

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/goatbench/goatbench/internal/didyoumean"

	"go.yaml.in/yaml/v3"

	"github.com/goatbench/goatbench/internal/yamlbound"
)

//go:embed models.yaml
var embeddedYAML []byte

// EmbeddedName names the built-in registry file in error messages.
const EmbeddedName = "models.yaml (built in)"

// OverrideFile is read from the working directory, when present, on top of
// the built-in registry and before any --registry file.
const OverrideFile = "goatbench.yaml"

// Registry is the loaded set of models, in file order.
type Registry struct {
	specs   []Spec
	byKey   map[string]int
	byRoute map[string]int
}

// ConfigError is a problem in a registry file, on one line: the file, the
// line, the model and the field.
type ConfigError struct {
	File  string
	Line  int
	Model string // "" for problems outside any entry
	Field string // dotted path, "" when the whole entry is at fault
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Model != "" {
		fmt.Fprintf(&b, ": model %q", e.Model)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	return b.String() + ": " + e.Msg
}

// UnknownModelError is a model name that is neither a key nor a route.
type UnknownModelError struct {
	Name        string
	Suggestions []string
}

func (e *UnknownModelError) Error() string {
	msg := fmt.Sprintf("unknown model %q", e.Name)
	if len(e.Suggestions) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(e.Suggestions, ", "))
	}
	return msg + "; 'goatbench models' lists them"
}

// Load reads the built-in models.yaml, then goatbench.yaml in the working
// directory if present, then overridePath if non-empty. Later files win field
// by field: an entry whose key already exists changes only the fields it
// names (nested sections and env merge the same way; lists and JSON configs
// such as speculative_config are replaced whole; null clears a field), and a
// new key is added at the end. Every error is one line.
func Load(overridePath string) (*Registry, error) {
	layers := []layer{{name: EmbeddedName, data: embeddedYAML}}
	data, err := yamlbound.ReadFile(OverrideFile)
	switch {
	case err == nil:
		layers = append(layers, layer{name: OverrideFile, data: data})
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read %s: %w", OverrideFile, err)
	}
	if overridePath != "" {
		data, err := yamlbound.ReadFile(overridePath)
		if err != nil {
			return nil, fmt.Errorf("read registry %s: %w", overridePath, err)
		}
		layers = append(layers, layer{name: overridePath, data: data})
	}
	return build(layers)
}

// layer is one registry file.
type layer struct {
	name string
	data []byte
}

// file is the schema of a registry file.
type file struct {
	LocalRequestDefaults RequestDefaults `yaml:"local_request_defaults"`
	Models               []Spec          `yaml:"models"`
}

type builder struct {
	specs    []Spec
	index    map[string]int
	defaults RequestDefaults
}

func build(layers []layer) (*Registry, error) {
	b := &builder{index: map[string]int{}}
	for _, l := range layers {
		if err := b.apply(l); err != nil {
			return nil, err
		}
	}
	r := &Registry{byKey: map[string]int{}, byRoute: map[string]int{}}
	for i, s := range b.specs {
		s = s.withDefaults(b.defaults)
		r.specs = append(r.specs, s)
		r.byKey[s.Key] = i
		if s.IsLocal() {
			r.byRoute[s.Route()] = i
		}
	}
	return r, nil
}

var keyPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

func (b *builder) apply(l layer) error {
	var doc yaml.Node
	if err := yamlbound.Single(l.data, &doc); err != nil {
		return &ConfigError{File: l.name, Msg: "not valid YAML: " + yamlErrText(err)}
	}
	if err := yamlbound.Check(&doc, 0); err != nil {
		return &ConfigError{File: l.name, Msg: err.Error()}
	}
	if len(doc.Content) == 0 {
		return nil // an empty file changes nothing
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return &ConfigError{File: l.name, Line: root.Line, Msg: "want a mapping with a models list"}
	}
	pairs, err := mappingPairs(root, "")
	if err != nil {
		return b.fail(l, "", err)
	}
	var touched []entryRef
	for _, p := range pairs {
		switch p.key {
		case "local_request_defaults":
			v := reflect.ValueOf(&b.defaults).Elem()
			if err := decodeInto(p.value, v, p.key); err != nil {
				return b.fail(l, "", err)
			}
		case "agents": // external agents, read by internal/agentcmd
		case "models":
			seq := resolve(p.value)
			if isNull(seq) {
				continue
			}
			if seq.Kind != yaml.SequenceNode {
				return &ConfigError{File: l.name, Line: seq.Line, Field: "models", Msg: "want a list of models"}
			}
			refs, err := b.applyModels(l, seq)
			if err != nil {
				return err
			}
			touched = append(touched, refs...)
		default:
			return &ConfigError{File: l.name, Line: p.keyN.Line, Field: p.key,
				Msg: "unknown top-level field" + suggestField(reflect.TypeFor[file](), p.key)}
		}
	}
	// Checked once the whole file is applied, so an override may fix one
	// field of an entry that another field of the same file depends on.
	for _, ref := range touched {
		s := b.specs[b.index[ref.key]]
		if err := s.withDefaults(b.defaults).validate(); err != nil {
			var fe *fieldError
			errors.As(err, &fe)
			return &ConfigError{File: l.name, Line: ref.line, Model: ref.key, Field: fe.field, Msg: fe.msg}
		}
	}
	return nil
}

// entryRef is where a file set an entry, for error messages.
type entryRef struct {
	key  string
	line int
}

func (b *builder) applyModels(l layer, seq *yaml.Node) ([]entryRef, error) {
	var refs []entryRef
	inFile := map[string]int{}
	for i, item := range seq.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return nil, &ConfigError{File: l.name, Line: item.Line,
				Msg: fmt.Sprintf("models entry %d: want a mapping, got %s", i+1, describeNode(item))}
		}
		// The key first, so every later error can name the model.
		key := ""
		for j := 0; j+1 < len(item.Content); j += 2 {
			if v := resolve(item.Content[j+1]); item.Content[j].Value == "key" && v.Kind == yaml.ScalarNode {
				key = v.Value
			}
		}
		pairs, err := mappingPairs(item, "")
		if err != nil {
			return nil, b.fail(l, key, err)
		}
		if key == "" {
			for _, p := range pairs {
				if v := resolve(p.value); p.key == "key" && v.Kind == yaml.ScalarNode {
					key = v.Value
				}
			}
		}
		if key == "" {
			return nil, &ConfigError{File: l.name, Line: item.Line, Field: "key",
				Msg: fmt.Sprintf("models entry %d has no key", i+1)}
		}
		if !keyPattern.MatchString(key) {
			return nil, &ConfigError{File: l.name, Line: item.Line, Model: key, Field: "key",
				Msg: "use lowercase letters, digits, dots and hyphens (it becomes a Modal app name and URL)"}
		}
		if strings.HasSuffix(key, routeSuffix) {
			return nil, &ConfigError{File: l.name, Line: item.Line, Model: key, Field: "key",
				Msg: "must not end in " + routeSuffix + ": that suffix is added to make the LiteLLM route"}
		}
		if first, dup := inFile[key]; dup {
			return nil, &ConfigError{File: l.name, Line: item.Line, Model: key,
				Msg: fmt.Sprintf("defined twice in this file (first on line %d)", first)}
		}
		inFile[key] = item.Line

		var s Spec
		idx, exists := b.index[key]
		if exists {
			s = b.specs[idx].clone()
		}
		if err := decodeInto(item, reflect.ValueOf(&s).Elem(), ""); err != nil {
			return nil, b.fail(l, key, err)
		}
		if exists {
			b.specs[idx] = s
		} else {
			b.index[key] = len(b.specs)
			b.specs = append(b.specs, s)
		}
		refs = append(refs, entryRef{key: key, line: item.Line})
	}
	return refs, nil
}

func (b *builder) fail(l layer, model string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return &ConfigError{File: l.name, Line: fe.line, Model: model, Field: fe.field, Msg: fe.msg}
	}
	return &ConfigError{File: l.name, Model: model, Msg: err.Error()}
}

// withDefaults fills what an entry may leave out: local request defaults,
// startup timeout and memory share by kind, and the GPU's list price.
func (s Spec) withDefaults(local RequestDefaults) Spec {
	s = s.clone()
	if !s.IsLocal() {
		return s
	}
	if s.RequestDefaults.Temperature == nil && local.Temperature != nil {
		t := *local.Temperature
		s.RequestDefaults.Temperature = &t
	}
	if s.RequestDefaults.ToolChoice == "" {
		s.RequestDefaults.ToolChoice = local.ToolChoice
	}
	if s.StartupTimeoutS == 0 {
		s.StartupTimeoutS = 15 * 60
		if s.Kind == KindGPTOSS {
			// Compiling CUDA graphs and FlashInfer kernels on first start takes longer.
			s.StartupTimeoutS = 30 * 60
		}
	}
	if s.VLLM.GPUMemoryUtilization == 0 {
		s.VLLM.GPUMemoryUtilization = 0.90 // vLLM's own default
	}
	if g, ok := lookupGPU(s.GPU.Type); ok && s.PricePerGPUHour == 0 {
		s.PricePerGPUHour = g.pricePerHour
	}
	return s
}

// validate checks one complete entry.
func (s Spec) validate() error {
	fail := func(field, format string, a ...any) error {
		return &fieldError{field: field, msg: fmt.Sprintf(format, a...)}
	}
	switch s.Kind {
	case KindVLLM, KindGPTOSS:
	case KindAPI:
		if s.GPU != (GPU{}) {
			return fail("gpu", "api models are served by LiteLLM, not deployed; remove gpu")
		}
		return nil
	case "":
		return fail("kind", "missing (want vllm, gpt-oss or api)")
	default:
		return fail("kind", "unknown kind %q (want vllm, gpt-oss or api)", s.Kind)
	}
	if s.HFID == "" {
		return fail("hf_id", "missing: a Modal-served model needs its Hugging Face id")
	}
	if _, ok := lookupGPU(s.GPU.Type); !ok {
		if s.GPU.Type == "" {
			return fail("gpu.type", "missing (one of %s)", gpuTypeList())
		}
		suggest := ""
		if c := didyoumean.Closest(s.GPU.Type, GPUTypes(), 1); len(c) > 0 {
			suggest = fmt.Sprintf("did you mean %s? ", c[0])
		}
		return fail("gpu.type", "unknown GPU type %q (%sknown: %s)", s.GPU.Type, suggest, gpuTypeList())
	}
	if s.GPU.Count < 1 {
		return fail("gpu.count", "must be at least 1, got %d", s.GPU.Count)
	}
	if s.MaxModelLen < 1 {
		return fail("max_model_len", "must be a positive number of tokens")
	}
	if s.PricePerGPUHour < 0 {
		return fail("price_per_gpu_hour", "must not be negative")
	}
	if u := s.VLLM.GPUMemoryUtilization; u <= 0 || u > 1 {
		return fail("vllm.gpu_memory_utilization", "must be in (0, 1], got %g", u)
	}
	if s.VLLM.ToolCallParser == "" {
		return fail("vllm.tool_call_parser", "missing: without --tool-call-parser vLLM never returns tool_calls")
	}
	if size, ok := cudagraphCaptureSize(s.VLLM.ExtraArgs); ok {
		if need := MaxConcurrentRequests * (1 + speculativeTokens(s.VLLM.SpeculativeConfig)); size < need {
			return fail("vllm.extra_args", "--max-cudagraph-capture-size %d does not cover %d concurrent requests x (1 + %d speculative tokens) = %d; decode steps past it run without CUDA graphs",
				size, MaxConcurrentRequests, speculativeTokens(s.VLLM.SpeculativeConfig), need)
		}
	}
	if _, ok := kvBytes[s.VLLM.KVCacheDType]; !ok {
		return fail("vllm.kv_cache_dtype", "unknown KV cache dtype %q (want \"\", auto, fp8, fp8_e4m3 or fp8_e5m2)", s.VLLM.KVCacheDType)
	}
	for _, f := range []struct {
		name string
		obj  JSONObject
	}{{"vllm.speculative_config", s.VLLM.SpeculativeConfig}, {"vllm.compilation_config", s.VLLM.CompilationConfig}} {
		if _, err := json.Marshal(f.obj); err != nil {
			return fail(f.name, "cannot be passed to vLLM as JSON: %v", err)
		}
	}
	if s.Weights.ParamsB <= 0 {
		return fail("weights.params_b", "missing: the total parameter count in billions, for the memory estimate")
	}
	if _, ok := bytesPerParam[s.Weights.DType]; !ok {
		return fail("weights.dtype", "unknown weight format %q (want bf16, fp16, fp8, int8, int4 or mxfp4)", s.Weights.DType)
	}
	if q := s.Weights.QuantizedParamsB; q < 0 || q > s.Weights.ParamsB {
		return fail("weights.quantized_params_b", "must be between 0 and params_b (%g), got %g", s.Weights.ParamsB, q)
	}
	a := s.Arch
	for _, f := range []struct {
		name string
		v    int
	}{{"arch.layers", a.Layers}, {"arch.attention_heads", a.AttentionHeads}, {"arch.kv_heads", a.KVHeads}, {"arch.head_dim", a.HeadDim}} {
		if f.v < 1 {
			return fail(f.name, "missing: the model config's value is needed for the KV cache estimate and tensor parallelism")
		}
	}
	// Tensor parallelism splits attention heads evenly across GPUs; KV heads
	// are split too, or replicated when there are fewer of them than GPUs.
	if a.AttentionHeads%s.GPU.Count != 0 {
		return fail("gpu.count", "%d GPUs cannot split the model's %d attention heads evenly for tensor parallelism", s.GPU.Count, a.AttentionHeads)
	}
	if a.KVHeads%s.GPU.Count != 0 && s.GPU.Count%a.KVHeads != 0 {
		return fail("gpu.count", "%d GPUs cannot split or replicate the model's %d KV heads for tensor parallelism", s.GPU.Count, a.KVHeads)
	}
	if e, _ := s.Estimate(); !e.Fits {
		return fail("gpu", "does not fit: %s", e.describe(s))
	}
	return nil
}

// All returns every model in file order.
func (r *Registry) All() []Spec {
	out := make([]Spec, len(r.specs))
	for i, s := range r.specs {
		out[i] = s.clone()
	}
	return out
}

// Local returns the Modal-served models in file order.
func (r *Registry) Local() []Spec {
	var out []Spec
	for _, s := range r.specs {
		if s.IsLocal() {
			out = append(out, s.clone())
		}
	}
	return out
}

// Lookup finds a model by key (qwen3-4b) or LiteLLM route (qwen3-4b-local).
// An unknown name gives an *UnknownModelError suggesting the closest keys.
func (r *Registry) Lookup(name string) (Spec, error) {
	if i, ok := r.byKey[name]; ok {
		return r.specs[i].clone(), nil
	}
	if i, ok := r.byRoute[name]; ok {
		return r.specs[i].clone(), nil
	}
	keys := make([]string, len(r.specs))
	for i, s := range r.specs {
		keys[i] = s.Key
	}
	// A mistyped route should suggest the key it was meant to be.
	return Spec{}, &UnknownModelError{Name: name, Suggestions: didyoumean.Closest(strings.TrimSuffix(name, routeSuffix), keys, 3)}
}

// MaxConcurrentRequests is how many requests one Modal container accepts
// at once (modal/vllm_spec.py MAX_INPUTS, @modal.concurrent(max_inputs=...)).
const MaxConcurrentRequests = 32

// cudagraphCaptureSize reads vLLM's --max-cudagraph-capture-size from extra args.
func cudagraphCaptureSize(args []string) (int, bool) {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--max-cudagraph-capture-size=")
		if !ok && a == "--max-cudagraph-capture-size" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

// speculativeTokens is the speculative config's num_speculative_tokens, 0
// without one: each decode step then feeds a request 1 + that many tokens.
func speculativeTokens(c JSONObject) int {
	switch n := c["num_speculative_tokens"].(type) {
	case int:
		return n
	case float64:
		return int(n)
	case uint64:
		return int(n)
	}
	return 0
}
