package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

func TestSandboxCostIsShownBesideTheModelsCost(t *testing.T) {
	man := results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 1, Models: []results.ModelInfo{
		{Name: "gpu", Kind: "vllm", PricePerHour: 3.6, HeldSeconds: 1000, Sandbox: &results.SandboxUsage{Sandboxes: 1, CostUSD: 0.0456}},
		{Name: "local"},
	}}
	as := []results.Attempt{{RunID: "r", Model: "gpu", Task: "t", Status: results.StatusPass}, {RunID: "r", Model: "local", Task: "t", Status: results.StatusPass}}
	r := New(man, as, nil)
	byName := map[string]ModelSummary{}
	for _, m := range r.Models() {
		byName[m.Model] = m
	}
	for _, tc := range []struct {
		model, want string
		sandbox     *float64
	}{
		{"gpu", "1.00 + 0.046 sandbox", ptr(0.0456)},
		{"local", dash, nil},
	} {
		s := byName[tc.model]
		require.Equal(t, tc.sandbox, s.SandboxCostUSD, tc.model)
		require.Equal(t, tc.want, costWithSandbox(s), tc.model)
	}
	var md strings.Builder
	require.NoError(t, r.Markdown(&md))
	require.Contains(t, md.String(), "1.00 + 0.046 sandbox")
}
