package models

import (
	"encoding/json"
	"fmt"
	"math"
)

const (
	gib = 1 << 30
	gb  = 1e9
)

// bytesPerParam is the storage cost of one parameter in each weight format.
var bytesPerParam = map[string]float64{
	"bf16": 2,
	"fp16": 2,
	"fp8":  1, // block scales add one float per 128x128 block: negligible
	"int8": 1,
	// 4-bit weights plus one fp16 scale per group of 128.
	"int4": 0.5 + 2.0/128,
	// OCP microscaling: 4-bit values plus one 8-bit scale per block of 32.
	"mxfp4": 0.5 + 1.0/32,
}

// kvBytes is the size of one cached key or value element for a
// --kv-cache-dtype; "" and "auto" keep the bf16 activations.
var kvBytes = map[string]float64{
	"":         2,
	"auto":     2,
	"bfloat16": 2,
	"fp8":      1,
	"fp8_e4m3": 1,
	"fp8_e5m2": 1,
}

// Estimate is a Modal-served model's GPU memory need against what vLLM may
// use. It is deliberately simple: weights plus the KV cache for one sequence
// at max_model_len plus any speculator, with activations and CUDA graphs left
// to the headroom vLLM keeps outside gpu_memory_utilization.
type Estimate struct {
	WeightsGiB    float64 `json:"weights_gib"`
	KVCacheGiB    float64 `json:"kv_cache_gib"`
	SpeculatorGiB float64 `json:"speculator_gib"`
	TotalGiB      float64 `json:"total_gib"`
	// GPUGiB is the memory of all the model's GPUs together.
	GPUGiB float64 `json:"gpu_gib"`
	// UsableGiB is GPUGiB times gpu_memory_utilization: vLLM's budget.
	UsableGiB float64 `json:"usable_gib"`
	Fits      bool    `json:"fits"`
}

// Utilization is the share of vLLM's budget the model needs.
func (e Estimate) Utilization() float64 {
	if e.UsableGiB == 0 {
		return 0
	}
	return e.TotalGiB / e.UsableGiB
}

// Estimate works out whether the model fits its GPUs. ok is false for API
// models and for entries whose GPU or weight format is unknown.
func (s Spec) Estimate() (e Estimate, ok bool) {
	if !s.IsLocal() {
		return Estimate{}, false
	}
	g, okGPU := lookupGPU(s.GPU.Type)
	bpp, okW := bytesPerParam[s.Weights.DType]
	kvb, okKV := kvBytes[s.VLLM.KVCacheDType]
	if !okGPU || !okW || !okKV {
		return Estimate{}, false
	}
	quantized := s.Weights.QuantizedParamsB
	if quantized == 0 {
		quantized = s.Weights.ParamsB
	}
	rest := s.Weights.ParamsB - quantized
	e.WeightsGiB = (quantized*bpp + rest*bytesPerParam["bf16"]) * gb / gib
	a := s.Arch
	// Keys and values, for every layer and KV head, at full context. Models
	// with sliding-window layers (gpt-oss) need less; this errs high.
	e.KVCacheGiB = 2 * float64(a.Layers*a.KVHeads*a.HeadDim) * kvb * float64(s.MaxModelLen) / gib
	e.SpeculatorGiB = s.Weights.SpeculatorGB * gb / gib
	e.TotalGiB = e.WeightsGiB + e.KVCacheGiB + e.SpeculatorGiB
	e.GPUGiB = float64(g.memoryMiB*s.GPU.Count) / 1024
	e.UsableGiB = e.GPUGiB * s.VLLM.GPUMemoryUtilization
	e.Fits = e.TotalGiB <= e.UsableGiB
	return e, true
}

// MarshalJSON rounds to hundredths of a GiB: the estimate is not more
// precise than that.
func (e Estimate) MarshalJSON() ([]byte, error) {
	type plain Estimate
	r := func(v float64) float64 { return math.Round(v*100) / 100 }
	p := plain(e)
	p.WeightsGiB, p.KVCacheGiB, p.SpeculatorGiB = r(p.WeightsGiB), r(p.KVCacheGiB), r(p.SpeculatorGiB)
	p.TotalGiB, p.GPUGiB, p.UsableGiB = r(p.TotalGiB), r(p.GPUGiB), r(p.UsableGiB)
	return json.Marshal(p)
}

// describe is the estimate in one clause, for error messages.
func (e Estimate) describe(s Spec) string {
	parts := fmt.Sprintf("weights %.1f + KV cache %.1f at %d tokens", e.WeightsGiB, e.KVCacheGiB, s.MaxModelLen)
	if e.SpeculatorGiB > 0 {
		parts += fmt.Sprintf(" + speculator %.1f", e.SpeculatorGiB)
	}
	return fmt.Sprintf("needs an estimated %.1f GiB (%s) but %d× %s gives vLLM %.1f GiB (%.0f%% of %.1f GiB)",
		e.TotalGiB, parts, s.GPU.Count, s.GPU.Type, e.UsableGiB, s.VLLM.GPUMemoryUtilization*100, e.GPUGiB)
}
