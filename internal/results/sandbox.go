package results

// SandboxUsage is the remote sandbox time a model's attempts held (--sandbox
// modal) and what it costs: CPU cores and memory requested, times each
// sandbox's lifetime, at the provider's per-second rates.
type SandboxUsage struct {
	Sandboxes  int     `json:"sandboxes"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_core_s"`
	GiBSeconds float64 `json:"memory_gib_s"`
	CostUSD    float64 `json:"cost_usd"`
}

// Add sums two usages.
func (u SandboxUsage) Add(o SandboxUsage) SandboxUsage {
	return SandboxUsage{Sandboxes: u.Sandboxes + o.Sandboxes, Seconds: u.Seconds + o.Seconds,
		CPUSeconds: u.CPUSeconds + o.CPUSeconds, GiBSeconds: u.GiBSeconds + o.GiBSeconds, CostUSD: u.CostUSD + o.CostUSD}
}
