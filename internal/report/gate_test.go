package report

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// craftedRun describes a run folder for the gate's tests: each (model, task)
// passes every repeat with probability rate, drawn from a seeded generator,
// unless outcome fixes it.
type craftedRun struct {
	id, suiteHash string
	seed          uint64
	models        []string
	tasks         int
	repeat        int
	rate          float64
	// outcome fixes an attempt: "" leaves it to chance, "pass", a failure
	// class, or "never run" (planned, but no line in results.jsonl).
	outcome func(model, task string, repeat int) string
	// extra adds fields to run.json: at the top level, and per model.
	extra      map[string]any
	modelExtra map[string]map[string]any
	// deployErr marks a model whose deploy failed: every attempt an
	// infrastructure error, as the runner's FailModel records it.
	deployErr map[string]string
}

func (c craftedRun) taskID(i int) string { return fmt.Sprintf("t%02d", i) }

func (c craftedRun) write(t testing.TB, dir string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	rng := rand.New(rand.NewPCG(c.seed, 0x9e3779b97f4a7c15))
	start := time.Date(2026, 11, 30, 3, 17, 0, 0, time.UTC)
	var lines []string
	var tasks []string
	for i := range c.tasks {
		tasks = append(tasks, c.taskID(i))
	}
	var infos []map[string]any
	for _, m := range c.models {
		info := map[string]any{"name": m, "kind": "vllm", "gpu": "A10G", "price_per_hour": 1.1, "held_s": 600}
		for k, v := range c.modelExtra[m] {
			info[k] = v
		}
		if e := c.deployErr[m]; e != "" {
			info["error"] = e
		}
		infos = append(infos, info)
		for _, task := range tasks {
			for r := range c.repeat {
				a := results.Attempt{RunID: c.id, Model: m, Task: task, Repeat: r, Started: start, WallSeconds: 10, Turns: 3}
				draw := rng.Float64() // drawn for every attempt, so a fixed one leaves the others' draws as they were
				out := ""
				if c.outcome != nil {
					out = c.outcome(m, task, r)
				}
				if out == "never run" {
					continue
				}
				switch {
				case c.deployErr[m] != "":
					a.Status, a.FailureClass, a.Reason, a.WallSeconds = results.StatusError, results.ClassDeploy, c.deployErr[m], 0
				case out == "pass" || out == "" && draw < c.rate:
					a.Status = results.StatusPass
				case out == "":
					a.Status, a.FailureClass = results.StatusFail, results.ClassChecksFailed
				default:
					a.Status, a.FailureClass = results.StatusFail, out
				}
				b, err := json.Marshal(a)
				require.NoError(t, err)
				lines = append(lines, string(b))
			}
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, results.AttemptsFile), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	man := map[string]any{"run_id": c.id, "version": "v0.4.0", "suite": "smoke", "suite_hash": c.suiteHash,
		"tasks": tasks, "models": infos, "repeat": c.repeat, "parallel": 4, "started": start}
	for k, v := range c.extra {
		man[k] = v
	}
	b, err := json.MarshalIndent(man, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, results.ManifestFile), append(b, '\n'), 0o644))
	return dir
}

// The gate's crafted nights: 10 tasks, 5 repeats, each attempt passing with
// probability 0.8 from a seeded generator.
var (
	gateNoiseBase = craftedRun{id: "20261130-031700-noise0", suiteHash: "5e1f00d1", seed: 1, models: []string{"qwen3-4b"}, tasks: 10, repeat: 5, rate: 0.8}
	gateNoiseHead = craftedRun{id: "20261201-031700-noise1", suiteHash: "5e1f00d1", seed: 2, models: []string{"qwen3-4b"}, tasks: 10, repeat: 5, rate: 0.8}
	// The same nights with t03 passing all of base and none of head, its
	// attempts now ending in tool_call_as_text, served from a new vLLM.
	gateDropBase = withOutcome(gateNoiseBase, "20261130-031700-drop0", func(_, task string, _ int) string {
		if task == "t03" {
			return "pass"
		}
		return ""
	}, map[string]any{"vllm_version": "0.10.1"})
	gateDropHead = withOutcome(gateNoiseHead, "20261201-031700-drop1", func(_, task string, _ int) string {
		if task == "t03" {
			return results.ClassToolCallAsText
		}
		return ""
	}, map[string]any{"vllm_version": "0.11.0"})
	// Head could not deploy the model at all.
	gateDeployHead = craftedRun{id: "20261201-031700-deploy", suiteHash: "5e1f00d1", seed: 2, models: []string{"qwen3-4b"}, tasks: 10, repeat: 5, rate: 0.8,
		deployErr: map[string]string{"qwen3-4b": "modal deploy: exit status 1: Image build failed"}}
)

func withOutcome(c craftedRun, id string, f func(model, task string, repeat int) string, spec map[string]any) craftedRun {
	c.id, c.outcome = id, f
	c.modelExtra = map[string]map[string]any{"qwen3-4b": spec}
	return c
}

var gateFixtures = map[string]craftedRun{
	"noise-base": gateNoiseBase, "noise-head": gateNoiseHead,
	"drop-base": gateDropBase, "drop-head": gateDropHead,
	"deploy-head": gateDeployHead,
}

// TestGateFixtures keeps testdata/gate, which the command's tests read,
// equal to what the seeded generator writes (-update rewrites it).
func TestGateFixtures(t *testing.T) {
	for name, c := range gateFixtures {
		want := filepath.Join("testdata", "gate", name)
		got := c.write(t, filepath.Join(t.TempDir(), name))
		if *update {
			require.NoError(t, os.RemoveAll(want))
			c.write(t, want)
		}
		for _, f := range []string{results.AttemptsFile, results.ManifestFile} {
			a, err := os.ReadFile(filepath.Join(want, f))
			require.NoError(t, err, "run `go test ./internal/report -update`")
			b, err := os.ReadFile(filepath.Join(got, f))
			require.NoError(t, err)
			require.Equal(t, string(a), string(b), "%s/%s", name, f)
		}
	}
}

func gateCompare(t *testing.T, base, head string) Comparison {
	t.Helper()
	b, h := loadFixture(t, filepath.Join("gate", base)), loadFixture(t, filepath.Join("gate", head))
	require.NoError(t, Comparable(b, h))
	return Compare(b, h, CompareOptions{})
}

func TestGatePassesOnNoise(t *testing.T) {
	c := gateCompare(t, "noise-base", "noise-head")
	require.Zero(t, c.Regressions(), "two nights at 80%% that differ only by chance")
	// Chance did move some tasks, and they are shown, not failed.
	require.Positive(t, c.count(func(td TaskDelta) bool { return isDrop(td) && !td.Regression }))
	require.Positive(t, c.count(func(td TaskDelta) bool { return td.Flaky }))
	var b strings.Builder
	require.NoError(t, c.Terminal(&b, false))
	require.Contains(t, b.String(), "(noise)")
}

func TestGateFailsOnAFiveOfFiveToZeroDrop(t *testing.T) {
	c := gateCompare(t, "drop-base", "drop-head")
	var hit []TaskDelta
	for _, td := range c.Tasks {
		if td.Regression {
			hit = append(hit, td)
		}
	}
	require.Len(t, hit, 1, "only t03 regressed")
	require.Equal(t, "t03", hit[0].Task)
	require.InEpsilon(t, 1.0/252, *hit[0].PValue, 1e-9, "C(5,5)·C(5,0)/C(10,5)")
	require.Equal(t, 5, hit[0].BaseRate.Passed)
	require.Equal(t, 0, hit[0].HeadRate.Passed)
	require.InDelta(t, 0.5655, hit[0].BaseRate.Low, 5e-5, "Wilson 5/5")
	m := c.Models[0]
	require.Equal(t, []string{
		"5 attempts moved from pass to `tool_call_as_text`",
		"served spec: vLLM version 0.10.1 → 0.11.0",
	}, m.Why[:2])
	var md strings.Builder
	require.NoError(t, c.Markdown(&md))
	require.Contains(t, md.String(), "### Why qwen3-4b got worse")
	require.Contains(t, md.String(), "5 attempts moved from pass to \\`tool\\_call\\_as\\_text\\`")
}

func TestGateFailsOnAFailedDeploy(t *testing.T) {
	c := gateCompare(t, "noise-base", "deploy-head")
	require.Equal(t, 1, c.Regressions())
	m := c.Models[0]
	require.Contains(t, m.Unavailable, "failed to deploy or warm: modal deploy: exit status 1")
	require.Equal(t, []string{m.Unavailable}, m.Why, "no attempt ran: no failure classes to compare")
	for _, td := range c.Tasks {
		require.Equal(t, ChangeNoVerdict, td.Change, "errors are no verdict on the model")
	}
}

func TestHolmCorrection(t *testing.T) {
	// Ten tasks that always pass in base; in head t00 drops 5/5 → 0/5
	// (p = 1/252 ≈ 0.0040) and t01 5/5 → 1/5 (p = 6/252 ≈ 0.024). Each is below 0.05; with Holm over ten tasks t00
	// is compared with 0.05/10 and stays, t01 with 0.05/9 and does not.
	base := craftedRun{id: "b", suiteHash: "h", seed: 1, models: []string{"m"}, tasks: 10, repeat: 5, rate: 1}
	head := base
	head.id = "h"
	head.outcome = func(_, task string, r int) string {
		switch {
		case task == "t00", task == "t01" && r > 0:
			return results.ClassChecksFailed
		}
		return ""
	}
	dir := t.TempDir()
	b, err := Load(base.write(t, filepath.Join(dir, "b")))
	require.NoError(t, err)
	h, err := Load(head.write(t, filepath.Join(dir, "h")))
	require.NoError(t, err)
	regressed := func(c Comparison) []string {
		var out []string
		for _, td := range c.Tasks {
			if td.Regression {
				out = append(out, td.Task)
			}
		}
		return out
	}
	require.Equal(t, []string{"t00", "t01"}, regressed(Compare(b, h, CompareOptions{})))
	c := Compare(b, h, CompareOptions{Correction: CorrectionHolm})
	require.Equal(t, []string{"t00"}, regressed(c))
	require.InEpsilon(t, 6.0/252, *c.Tasks[1].PValue, 1e-9)
}

// A model whose every head attempt ended in an infrastructure error has no
// pass rate to compare; it is no "ok" model, and the gate fails on it as on
// a failed deploy. One whose head attempts were all not run is no
// regression, and says it has no verdict.
func TestGateFailsOnAModelOfNothingButErrors(t *testing.T) {
	man := results.Manifest{Repeat: 2, Tasks: []string{"a", "b"}, Models: []results.ModelInfo{{Name: "m", Kind: "vllm"}}}
	base, head, stopped := man, man, man
	base.RunID, head.RunID, stopped.RunID = "base", "head", "stopped"
	var bas, has []results.Attempt
	for _, task := range man.Tasks {
		for rep := range 2 {
			bas = append(bas, att("m", task, rep, results.StatusPass, 0, 1))
			has = append(has, att("m", task, rep, results.StatusError, 0, 1))
		}
	}
	c := Compare(New(base, bas, nil), New(head, has, nil), CompareOptions{})
	require.Equal(t, 1, c.Regressions())
	require.Contains(t, c.Models[0].Unavailable, "every attempt that ran ended in an infrastructure error (4)")
	require.Contains(t, c.headline(), "1 with nothing but infrastructure errors")
	require.Equal(t, "no verdict: infrastructure errors", c.modelRows(false)[0][8])

	c = Compare(New(base, bas, nil), New(stopped, nil, nil), CompareOptions{})
	require.Zero(t, c.Regressions())
	require.Equal(t, "no verdict in head: 4 attempts not run", c.modelRows(false)[0][8])
	for _, td := range c.Tasks {
		require.Equal(t, ChangeNotRun, td.Change, "%s: head planned it, not removed it", td.Task)
	}
}
