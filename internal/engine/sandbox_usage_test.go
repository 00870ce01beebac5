package engine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// counter is a sandbox that held 10 s for model "a" and nothing for others.
type counter struct{ sandbox.Plain }

func (counter) SandboxUsage(model string) *results.SandboxUsage {
	if model != "a" {
		return nil
	}
	return &results.SandboxUsage{Sandboxes: 2, Seconds: 10, CPUSeconds: 10, GiBSeconds: 10, CostUSD: 0.5}
}

func TestSandboxUsageGoesIntoRunJSON(t *testing.T) {
	earlier := &results.SandboxUsage{Sandboxes: 1, Seconds: 5, CPUSeconds: 5, GiBSeconds: 5, CostUSD: 0.25}
	for _, tc := range []struct {
		name    string
		sb      sandbox.Sandbox
		earlier *results.SandboxUsage
		want    *results.SandboxUsage
	}{
		{"counted", counter{}, nil, &results.SandboxUsage{Sandboxes: 2, Seconds: 10, CPUSeconds: 10, GiBSeconds: 10, CostUSD: 0.5}},
		{"resumed: added to the earlier run's", counter{}, earlier, &results.SandboxUsage{Sandboxes: 3, Seconds: 15, CPUSeconds: 15, GiBSeconds: 15, CostUSD: 0.75}},
		{"local commands: nothing", sandbox.Plain{}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &engine{plan: Plan{Sandbox: tc.sb}}
			man := results.Manifest{Models: []results.ModelInfo{{Name: "a", Sandbox: tc.earlier}, {Name: "b"}}}
			e.recordSandboxUsage(&man)
			require.Equal(t, tc.want, man.Models[0].Sandbox)
			require.Nil(t, man.Models[1].Sandbox)
		})
	}
}

func TestMergeSumsSandboxUsage(t *testing.T) {
	shard := func(i int, u *results.SandboxUsage) shardRun {
		return shardRun{dir: string(rune('0' + i)), man: results.Manifest{RunID: "r", Shard: &results.Shard{Index: i, Count: 2},
			Models: []results.ModelInfo{{Name: "a", Sandbox: u}}}}
	}
	man, _ := mergeManifests([]shardRun{
		shard(1, &results.SandboxUsage{Sandboxes: 1, CostUSD: 0.5}),
		shard(2, &results.SandboxUsage{Sandboxes: 2, CostUSD: 0.25}),
	})
	require.Equal(t, &results.SandboxUsage{Sandboxes: 3, CostUSD: 0.75}, man.Models[0].Sandbox)
	man, _ = mergeManifests([]shardRun{shard(1, nil), shard(2, &results.SandboxUsage{Sandboxes: 2, CostUSD: 0.25})})
	require.Equal(t, &results.SandboxUsage{Sandboxes: 2, CostUSD: 0.25}, man.Models[0].Sandbox)
}
