package models

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The expected figures are worked out by hand from the model cards and
// configs (GiB = 2^30 bytes):
//
//	weights  = (quantized params x bytes per param + other params x 2) / 2^30
//	KV cache = 2 x layers x KV heads x head dim x KV bytes x max_model_len / 2^30
//	usable   = driver-reported MiB x count / 1024 x 0.90
func TestEstimateBuiltInModels(t *testing.T) {
	r := loadBuiltIn(t)
	tests := []struct {
		key                                    string
		weights, kv, speculator, total, usable float64
	}{
		// 8.03e9 x 2 B; 2x32x8x128x2 B x 32768; 23028 MiB
		{"llama-3.1-8b", 14.96, 4.00, 0, 18.96, 20.24},
		// 4.02e9 x 2 B; 2x36x8x128x2 B x 32768
		{"qwen3-4b", 7.49, 4.50, 0, 11.99, 20.24},
		// 30.53e9 x 2 B; 2x48x4x128x2 B x 32768; 81920 MiB
		{"qwen3-30b-a3b", 56.87, 3.00, 0, 59.87, 72.00},
		// 233.80e9 x 1 B + 1.29e9 x 2 B; 2x94x4x128x2 B x 32768; 4 x 81559 MiB
		{"qwen3-235b", 220.15, 5.875, 0, 226.03, 286.73},
		// 19.12e9 x 0.53125 B + 1.79e9 x 2 B; 2x24x8x64x2 B x 32768 (bf16 KV on Hopper); 1.5 GB draft
		{"gpt-oss-20b", 12.79, 1.50, 1.40, 15.69, 71.68},
		// 114.71e9 x 0.53125 B + 2.12e9 x 2 B; 2x36x8x64x2 B x 32768
		{"gpt-oss-120b", 60.70, 2.25, 1.40, 64.35, 71.68},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			s, err := r.Lookup(tt.key)
			require.NoError(t, err)
			e, ok := s.Estimate()
			require.True(t, ok)
			require.InDelta(t, tt.weights, e.WeightsGiB, 0.01, "weights")
			require.InDelta(t, tt.kv, e.KVCacheGiB, 0.01, "KV cache")
			require.InDelta(t, tt.speculator, e.SpeculatorGiB, 0.01, "speculator")
			require.InDelta(t, tt.total, e.TotalGiB, 0.01, "total")
			require.InDelta(t, tt.usable, e.UsableGiB, 0.01, "usable")
			require.True(t, e.Fits)
			require.InDelta(t, tt.total/tt.usable, e.Utilization(), 0.001)
		})
	}
}

func TestEstimateVerdict(t *testing.T) {
	r := loadBuiltIn(t)
	base, err := r.Lookup("qwen3-30b-a3b")
	require.NoError(t, err)
	tests := []struct {
		name string
		gpu  GPU
		util float64
		fits bool
	}{
		{"as shipped", GPU{"A100-80GB", 1}, 0.90, true},
		{"the seed plan: one A10G", GPU{"A10G", 1}, 0.90, false},
		{"four A10Gs hold it", GPU{"A10G", 4}, 0.90, true},
		{"a lower memory share no longer fits", GPU{"A100-80GB", 1}, 0.70, false},
		{"one H100", GPU{"H100", 1}, 0.90, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			s.GPU = tt.gpu
			s.VLLM.GPUMemoryUtilization = tt.util
			e, ok := s.Estimate()
			require.True(t, ok)
			require.Equal(t, tt.fits, e.Fits, "need %.1f of %.1f GiB", e.TotalGiB, e.UsableGiB)
		})
	}

	api, err := r.Lookup("gpt-5-nano")
	require.NoError(t, err)
	_, ok := api.Estimate()
	require.False(t, ok, "API models have nothing to fit")
}

func TestEstimateWeightFormats(t *testing.T) {
	s := Spec{
		Kind: KindVLLM, GPU: GPU{"H100", 1}, MaxModelLen: 1,
		VLLM: VLLM{GPUMemoryUtilization: 0.9},
		Arch: Arch{Layers: 1, AttentionHeads: 1, KVHeads: 1, HeadDim: 1},
	}
	tests := []struct {
		dtype     string
		quantized float64
		wantGB    float64 // for 10B parameters
	}{
		{"bf16", 0, 20},
		{"fp16", 0, 20},
		{"fp8", 0, 10},
		{"int8", 0, 10},
		{"int4", 0, 5.15625},
		{"mxfp4", 0, 5.3125},
		{"mxfp4", 8, 8*0.53125 + 2*2}, // the unquantized 2B stay bf16
	}
	for _, tt := range tests {
		s.Weights = Weights{ParamsB: 10, DType: tt.dtype, QuantizedParamsB: tt.quantized}
		e, ok := s.Estimate()
		require.True(t, ok, tt.dtype)
		require.InDelta(t, tt.wantGB*1e9/(1<<30), e.WeightsGiB, 1e-9, tt.dtype)
	}
	s.Weights.DType = "fp4"
	_, ok := s.Estimate()
	require.False(t, ok, "unknown formats are not guessed")
}
