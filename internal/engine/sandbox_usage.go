package engine

import "github.com/goatbench/goatbench/internal/results"

// sandboxCounter is a sandbox that keeps count of the remote sandbox time each
// model's attempts held (modalsandbox.Provider).
type sandboxCounter interface {
	SandboxUsage(model string) *results.SandboxUsage
}

// recordSandboxUsage puts each model's sandbox time and cost in run.json; a
// resumed run adds to what the earlier invocations recorded.
func (e *engine) recordSandboxUsage(man *results.Manifest) {
	c, ok := e.plan.Sandbox.(sandboxCounter)
	if !ok {
		return
	}
	for i, mi := range man.Models {
		u := c.SandboxUsage(mi.Name)
		if u == nil {
			continue
		}
		if mi.Sandbox != nil {
			sum := mi.Sandbox.Add(*u)
			u = &sum
		}
		man.Models[i].Sandbox = u
	}
}
