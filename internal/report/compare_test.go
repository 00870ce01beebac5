package report

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompareKindsOfChange(t *testing.T) {
	base, head := loadFixture(t, "compare/base"), loadFixture(t, "compare/head")
	c := Compare(base, head, CompareOptions{})
	require.Equal(t, DefaultLatencyThreshold, c.Threshold)

	type key struct{ model, task string }
	got := map[key]TaskDelta{}
	for _, td := range c.Tasks {
		got[key{td.Model, td.Task}] = td
	}
	for _, tc := range []struct {
		model, task string
		change      Change
		regression  bool
	}{
		{"alpha-local", "steady", ChangePassing, false},
		// 2/2 → 1/2 with a timeout: p = 0.5, two repeats cannot tell that from chance.
		{"alpha-local", "breaks", ChangeNewlyFailing, false},
		{"alpha-local", "heals", ChangeNewlyPassing, false},
		{"alpha-local", "stuck", ChangeWorse, false},
		{"alpha-local", "flaky-infra", ChangeNoVerdict, false}, // head only had infrastructure errors
		{"alpha-local", "retired", ChangeRemoved, false},
		{"alpha-local", "added", ChangeAdded, false},
		{"beta", "steady", ChangePassing, false},
		{"beta", "breaks", ChangePassing, false},
		{"gamma-local", "steady", ChangeRemoved, false},
		{"delta-local", "steady", ChangeAdded, false},
	} {
		td, ok := got[key{tc.model, tc.task}]
		require.True(t, ok, "%s/%s compared", tc.model, tc.task)
		require.Equal(t, tc.change, td.Change, "%s/%s", tc.model, tc.task)
		require.Equal(t, tc.regression, td.Regression, "%s/%s", tc.model, tc.task)
	}
	require.Len(t, c.Tasks, 11)
	require.True(t, got[key{"alpha-local", "breaks"}].Flaky, "head 1/2: its repeats disagree")
	require.False(t, got[key{"alpha-local", "stuck"}].Flaky, "head 0/2 agrees with itself")
	require.False(t, got[key{"alpha-local", "steady"}].Flaky)

	models := map[string]ModelDelta{}
	for _, m := range c.Models {
		models[m.Model] = m
	}
	beta := models["beta"]
	require.InDelta(t, 0.6, *beta.LatencyChange, 1e-9, "10 s → 16 s")
	require.True(t, beta.LatencyRegression)
	require.InDelta(t, 0.5, *beta.CostChange, 1e-9, "0.008 → 0.012 USD")
	alpha := models["alpha-local"]
	require.InDelta(t, 0.1, *alpha.LatencyChange, 1e-9, "10 s → 11 s over the tasks both runs have")
	require.False(t, alpha.LatencyRegression)
	require.InDelta(t, 0.1, *alpha.CostChange, 1e-9, "held 600 s → 660 s at the same price")
	require.True(t, models["gamma-local"].InBase && !models["gamma-local"].InHead)
	require.True(t, models["delta-local"].InHead && !models["delta-local"].InBase)
	require.Nil(t, models["delta-local"].LatencyChange)

	require.Equal(t, 1, c.Regressions(), "beta is 60% slower; alpha/breaks 2/2 → 1/2 is within noise")
}

func TestCompareLatencyThreshold(t *testing.T) {
	base, head := loadFixture(t, "compare/base"), loadFixture(t, "compare/head")
	for _, tc := range []struct {
		threshold float64
		want      int
	}{
		{0, 1},    // the default, 25%: beta is slower
		{0.05, 2}, // alpha's +10% counts too
		{0.75, 0}, // neither
		{-1, 0},   // latency check off
	} {
		require.Equal(t, tc.want, Compare(base, head, CompareOptions{LatencyThreshold: tc.threshold}).Regressions(), "threshold %v", tc.threshold)
	}
}

func TestCompareLatencyFloor(t *testing.T) {
	base, head := loadFixture(t, "compare/base"), loadFixture(t, "compare/head")
	// beta: 10 s → 16 s, +6 s.
	for _, tc := range []struct {
		floor float64
		want  int
	}{
		{0, 1}, // the default, 1 s
		{5.9, 1},
		{6.1, 0}, // a rise of 6 s is under the floor
		{-1, 1},  // no floor
	} {
		require.Equal(t, tc.want, Compare(base, head, CompareOptions{LatencyFloor: tc.floor}).Regressions(), "floor %v", tc.floor)
	}
}

func TestCompareRunWithItselfHasNoRegression(t *testing.T) {
	r := loadFixture(t, "run")
	c := Compare(r, r, CompareOptions{})
	require.Zero(t, c.Regressions())
	for _, td := range c.Tasks {
		require.NotEqual(t, ChangeNewlyFailing, td.Change)
		require.NotEqual(t, ChangeNewlyPassing, td.Change)
	}
	for _, m := range c.Models {
		if m.LatencyChange != nil {
			require.Zero(t, *m.LatencyChange)
		}
	}
}

func TestCompareGolden(t *testing.T) {
	c := Compare(loadFixture(t, "compare/base"), loadFixture(t, "compare/head"), CompareOptions{})
	for _, tc := range []struct {
		golden string
		write  func(io.Writer) error
	}{
		{"compare_terminal.golden", func(w io.Writer) error { return c.Terminal(w, false) }},
		{"compare.md.golden", c.Markdown},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tc.write(&b))
			golden(t, tc.golden, b.Bytes())
		})
	}
}
