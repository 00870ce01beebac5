package report

// costWithSandbox is the cost column: the model's own cost (GPU time or API
// charges), and beside it, when its commands ran in remote sandboxes, what
// their CPU and memory time cost.
func costWithSandbox(s ModelSummary) string {
	if s.SandboxCostUSD == nil {
		return costText(s.CostUSD)
	}
	return costText(s.CostUSD) + " + " + costText(s.SandboxCostUSD) + " sandbox"
}
