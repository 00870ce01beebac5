package report

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// dropRuns are two one-model runs where t00 drops from 5/5 to 0/5, with the
// head's failures given by headClass; change edits head before it is written.
func dropRuns(t *testing.T, headClass string, change func(base, head *craftedRun)) (*Run, *Run) {
	t.Helper()
	base := craftedRun{id: "base", suiteHash: "aaaa", seed: 1, models: []string{"m"}, tasks: 3, repeat: 5, rate: 1}
	head := base
	head.id = "head"
	head.outcome = func(_, task string, _ int) string {
		if task == "t00" {
			return headClass
		}
		return ""
	}
	if change != nil {
		change(&base, &head)
	}
	dir := t.TempDir()
	b, err := Load(base.write(t, filepath.Join(dir, "base")))
	require.NoError(t, err)
	h, err := Load(head.write(t, filepath.Join(dir, "head")))
	require.NoError(t, err)
	return b, h
}

func TestExplainWhyAModelGotWorse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		headClass string
		change    func(base, head *craftedRun)
		want      []string
	}{
		{"failure class only", results.ClassToolCallAsText, nil, []string{
			"5 attempts moved from pass to `tool_call_as_text`",
		}},
		{"served spec: GPU, and a spec hash base did not record", results.ClassChecksFailed, func(_, h *craftedRun) {
			h.modelExtra = map[string]map[string]any{"m": {"gpu": "L4", "spec_hash": "3f2a9c"}}
		}, []string{
			"5 attempts moved from pass to `checks_failed`",
			"served spec: spec hash unknown → 3f2a9c",
			"served spec: GPU A10G → L4",
		}},
		{"a spec field this code has no label for", results.ClassChecksFailed, func(b, h *craftedRun) {
			b.modelExtra = map[string]map[string]any{"m": {"max_model_len": 32768}}
			h.modelExtra = map[string]map[string]any{"m": {"max_model_len": 8192}}
		}, []string{
			"5 attempts moved from pass to `checks_failed`",
			"served spec: max_model_len 32768 → 8192",
		}},
		{"a field that may hold a secret is never named", results.ClassChecksFailed, func(b, h *craftedRun) {
			b.modelExtra = map[string]map[string]any{"m": {"api_key": "sk-old", "auth_token": "t1"}}
			h.modelExtra = map[string]map[string]any{"m": {"api_key": "sk-new", "auth_token": "t2"}}
		}, []string{
			"5 attempts moved from pass to `checks_failed`",
		}},
		{"the reference model's port, new every run, is no cause", results.ClassChecksFailed, func(b, h *craftedRun) {
			b.modelExtra = map[string]map[string]any{"m": {"kind": "reference", "base_url": "http://127.0.0.1:42565/v1"}}
			h.modelExtra = map[string]map[string]any{"m": {"kind": "reference", "base_url": "http://127.0.0.1:35017/v1"}}
		}, []string{
			"5 attempts moved from pass to `checks_failed`",
		}},
		{"a served model's base URL is", results.ClassChecksFailed, func(b, h *craftedRun) {
			b.modelExtra = map[string]map[string]any{"m": {"base_url": "http://10.0.0.1:8000/v1"}}
			h.modelExtra = map[string]map[string]any{"m": {"base_url": "http://10.0.0.2:8000/v1"}}
		}, []string{
			"5 attempts moved from pass to `checks_failed`",
			"served spec: base URL http://10.0.0.1:8000/v1 → http://10.0.0.2:8000/v1",
		}},
		{"suite hash", results.ClassChecksFailed, func(_, h *craftedRun) { h.suiteHash = "bbbb" }, []string{
			"5 attempts moved from pass to `checks_failed`",
			"suite hash aaaa → bbbb",
		}},
		{"agent", results.ClassMaxTurns, func(_, h *craftedRun) {
			h.extra = map[string]any{"agent": "goatbench-loop/2", "version": "v0.5.0"}
		}, []string{
			"5 attempts moved from pass to `max_turns`",
			"agent unknown → goatbench-loop/2",
			"goatbench version v0.4.0 → v0.5.0",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, head := dropRuns(t, tc.headClass, tc.change)
			c := Compare(base, head, CompareOptions{})
			require.Equal(t, 2, c.Regressions(), "t00 and the model's pooled rate (15/15 → 10/15)")
			require.Equal(t, tc.want, c.Models[0].Why)
		})
	}
}

func TestExplainClassToClassMoves(t *testing.T) {
	// Base already failed t00 once with checks_failed; head fails it every
	// time with tool-call text (4/5 → 0/5, p = 6/252): one attempt moved
	// between classes, four from a pass.
	base, head := dropRuns(t, results.ClassToolCallAsText, func(b, h *craftedRun) {
		b.outcome = func(_, task string, r int) string {
			if task == "t00" && r == 0 {
				return results.ClassChecksFailed
			}
			return ""
		}
	})
	b, h := base.Cell("m", "t00"), head.Cell("m", "t00")
	require.Equal(t, 4, b.Passed)
	require.Equal(t, 0, h.Passed)
	c := Compare(base, head, CompareOptions{})
	require.Equal(t, []string{
		"4 attempts moved from pass to `tool_call_as_text`",
		"1 attempt moved from `checks_failed` to `tool_call_as_text`",
	}, c.Models[0].Why)
}

// Attempts head planned but never ran (a stopped run) moved nowhere: the
// reasons name only what was run.
func TestExplainLeavesOutWhatWasNotRun(t *testing.T) {
	base, head := dropRuns(t, results.ClassToolCallAsText, func(_, h *craftedRun) {
		h.outcome = func(_, task string, r int) string {
			switch {
			case task != "t00":
				return ""
			case r == 4:
				return "never run"
			}
			return results.ClassToolCallAsText
		}
	})
	require.Equal(t, 1, head.Cell("m", "t00").NotRun)
	c := Compare(base, head, CompareOptions{})
	require.Equal(t, []string{"4 attempts moved from pass to `tool_call_as_text`"}, c.Models[0].Why)
}

func TestExplainNothingForAModelThatHeld(t *testing.T) {
	base, head := dropRuns(t, "", func(_, h *craftedRun) { h.outcome = nil; h.modelExtra = map[string]map[string]any{"m": {"gpu": "L4"}} })
	c := Compare(base, head, CompareOptions{})
	require.Zero(t, c.Regressions())
	require.Empty(t, c.Models[0].Why, "a changed GPU explains nothing when nothing got worse")
}

func TestComparableRefusesRunsWithNothingShared(t *testing.T) {
	dir := t.TempDir()
	load := func(c craftedRun, name string) *Run {
		r, err := Load(c.write(t, filepath.Join(dir, name)))
		require.NoError(t, err)
		return r
	}
	smoke := load(craftedRun{id: "a", suiteHash: "aaaa", seed: 1, models: []string{"m"}, tasks: 2, repeat: 1, rate: 1}, "a")
	other := craftedRun{id: "b", suiteHash: "bbbb", seed: 1, models: []string{"m"}, tasks: 2, repeat: 1, rate: 1}
	other.outcome = nil
	core := load(other, "b")
	// Same task IDs t00, t01 but a different suite: the tasks are shared.
	require.NoError(t, Comparable(smoke, core))
	c := Compare(smoke, core, CompareOptions{})
	require.Equal(t, []string{"base and head ran different suites (smoke aaaa, smoke bbbb); only the 2 tasks both have are compared"}, c.Warnings)

	renamed := New(results.Manifest{RunID: "c", Suite: "core", SuiteHash: "cccc", Tasks: []string{"x"}},
		[]results.Attempt{{RunID: "c", Model: "m", Task: "x", Status: results.StatusPass}}, nil)
	err := Comparable(smoke, renamed)
	require.EqualError(t, err, "base and head ran different suites (smoke aaaa, core cccc) and share no task: nothing to compare")

	otherModel := New(results.Manifest{RunID: "d", SuiteHash: "aaaa", Tasks: []string{"t00"}},
		[]results.Attempt{{RunID: "d", Model: "n", Task: "t00", Status: results.StatusPass}}, nil)
	require.EqualError(t, Comparable(smoke, otherModel), "base and head share no model on a common task (base: m; head: n): nothing to compare")

	// A run stopped before its first attempt ended has the same model and
	// tasks, and nothing to compare: it says which side, and why.
	stopped := New(results.Manifest{RunID: "e", SuiteHash: "aaaa", Tasks: []string{"t00", "t01"}, Repeat: 1,
		Models: []results.ModelInfo{{Name: "m"}}}, nil, nil)
	require.EqualError(t, Comparable(smoke, stopped), "head holds no finished attempt (its run stopped before the first one ended): nothing to compare")
	require.EqualError(t, Comparable(stopped, stopped), "base holds no finished attempt (its run stopped before the first one ended): nothing to compare")
}

func TestCompareWarnsOnPartialOverlap(t *testing.T) {
	c := Compare(loadFixture(t, "compare/base"), loadFixture(t, "compare/head"), CompareOptions{})
	require.Equal(t, []string{
		"1 task only in base, not compared: retired",
		"1 task only in head, not compared: added",
		"1 model only in base, not compared: gamma-local",
		"1 model only in head, not compared: delta-local",
	}, c.Warnings)
	var b strings.Builder
	require.NoError(t, c.Terminal(&b, false))
	require.True(t, strings.HasPrefix(b.String(), "WARNING: 1 task only in base"), "warnings open the output")
}

func TestPairTextRoundingMatchesTheDelta(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		min  int
		want string
	}{
		{0.06, 0.11, 1, "0.06 → 0.11"},        // +83%: 0.1 → 0.1 would contradict it
		{10, 11, 1, "10.0 → 11.0"},            // +10% shows at one decimal
		{0.012, 0.0121, 1, "0.0120 → 0.0121"}, // +1%: four decimals, the most
		{1.00, 1.004, 2, "1.00 → 1.00"},       // +0%: agrees already
	} {
		ch := relChange(&tc.a, &tc.b)
		require.Equal(t, tc.want, pairText(&tc.a, &tc.b, ch, tc.min), "%v → %v (%s)", tc.a, tc.b, signedPct(ch))
	}
}
