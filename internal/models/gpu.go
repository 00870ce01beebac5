package models

import (
	"slices"
	"strings"
)

// gpuType is one GPU Modal offers.
type gpuType struct {
	name string
	// memoryMiB is the memory the driver reports (nvidia-smi), which is what
	// vLLM's gpu_memory_utilization is a fraction of; it is a little under
	// the marketing figure (an "80 GB" H100 reports 81559 MiB).
	memoryMiB int
	// pricePerHour is the default price per GPU-hour in USD. A10G, A100 and
	// H100 are the team's accounting figures; the others are Modal's list
	// prices. An entry's price_per_gpu_hour overrides it.
	pricePerHour float64
}

// gpuTypes are the GPU types the model spec contract allows, in Modal's
// spelling.
var gpuTypes = []gpuType{
	{"T4", 15360, 0.59},
	{"L4", 23034, 0.80},
	{"A10G", 23028, 1.10},
	{"A100-40GB", 40960, 2.10},
	{"A100-80GB", 81920, 3.30},
	{"L40S", 46068, 1.95},
	{"H100", 81559, 4.50},
	// "H100!" asks for an H100 and nothing else: Modal may run plain "H100"
	// on an H200 (modal.com/docs/guide/gpu, "H100/H100!"), which would skew
	// latency compared across runs. Same memory and price as an H100.
	{"H100!", 81559, 4.50},
	{"H200", 143771, 4.54},
	{"B200", 183359, 6.25},
}

func lookupGPU(name string) (gpuType, bool) {
	i := slices.IndexFunc(gpuTypes, func(g gpuType) bool { return g.name == name })
	if i < 0 {
		return gpuType{}, false
	}
	return gpuTypes[i], true
}

// GPUTypes lists the GPU types a registry entry may use.
func GPUTypes() []string {
	names := make([]string, len(gpuTypes))
	for i, g := range gpuTypes {
		names[i] = g.name
	}
	return names
}

func gpuTypeList() string { return strings.Join(GPUTypes(), ", ") }
