package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// historyNights writes four nights of one model: t00 always passes, t01 is
// a seeded 50% coin, t02 passes the first two nights and fails the last two.
func historyNights(t *testing.T) []string {
	t.Helper()
	root := t.TempDir()
	var dirs []string
	for night := range 4 {
		c := craftedRun{id: fmt.Sprintf("202611%02d-031700-n%d", 27+night, night), suiteHash: "aaaa", seed: uint64(night + 10),
			models: []string{"m"}, tasks: 3, repeat: 5, rate: 0.5}
		c.outcome = func(_, task string, _ int) string {
			switch {
			case task == "t00", task == "t02" && night < 2:
				return "pass"
			case task == "t02":
				return results.ClassToolCallAsText
			}
			return ""
		}
		dir := c.write(t, filepath.Join(root, "results", c.id))
		// Each night starts a day later, so the order does not come from the folder names.
		b, err := os.ReadFile(filepath.Join(dir, results.ManifestFile))
		require.NoError(t, err)
		started := time.Date(2026, 11, 27+night, 3, 17, 0, 0, time.UTC).Format(time.RFC3339)
		b = bytes.Replace(b, []byte("2026-11-30T03:17:00Z"), []byte(started), 1)
		require.NoError(t, os.WriteFile(filepath.Join(dir, results.ManifestFile), b, 0o644))
		dirs = append(dirs, dir)
	}
	return dirs
}

func TestHistoryFlakiness(t *testing.T) {
	dirs := historyNights(t)
	// Given newest first, and night 1 twice: sorted by start, counted once.
	h, err := LoadHistory([]string{dirs[3], dirs[2], dirs[1], dirs[0], dirs[1]})
	require.NoError(t, err)
	require.Len(t, h.Runs, 4)
	require.Equal(t, "11-27 03:17", h.Runs[0].Label)
	require.Contains(t, h.Warnings[0], "was given twice; counted once")
	require.Len(t, h.Models, 1)
	rows := map[string]HistoryRow{}
	for _, r := range h.Models[0].Tasks {
		rows[r.Task] = r
	}
	require.Zero(t, rows["t00"].Flakiness, "always passes")
	require.False(t, rows["t00"].Flaky())
	// t02: never mixed in 4 nights of 5 repeats, one flip in 3 night pairs.
	require.InDelta(t, 1.0/7, rows["t02"].Flakiness, 1e-12)
	require.False(t, rows["t02"].Flaky(), "a regression is not flakiness")
	require.Equal(t, 10, rows["t02"].Overall.Passed)
	require.True(t, rows["t01"].Flaky(), "a coin toss: %v", rows["t01"].Flakiness)
	require.Positive(t, rows["t01"].Mixed)
	// pass^k per night: t00 and t02, then t00 alone (t01 never passes all five here).
	var passK []float64
	for _, k := range h.Models[0].PassK {
		passK = append(passK, *k)
	}
	require.Equal(t, []float64{2.0 / 3, 2.0 / 3, 1.0 / 3, 1.0 / 3}, passK)
}

func TestHistoryFormats(t *testing.T) {
	h, err := LoadHistory([]string{filepath.Dir(historyNights(t)[0])}) // the folder that holds the runs
	require.NoError(t, err)
	require.Len(t, h.Runs, 4)

	var md bytes.Buffer
	require.NoError(t, h.Markdown(&md))
	golden(t, "history.md.golden", md.Bytes())
	require.Contains(t, md.String(), "```mermaid\nxychart-beta\n")
	require.Contains(t, md.String(), `x-axis ["11-27 03:17", "11-28 03:17", "11-29 03:17", "11-30 03:17"]`)

	var term bytes.Buffer
	require.NoError(t, h.Terminal(&term, false))
	golden(t, "history_terminal.golden", term.Bytes())

	var page bytes.Buffer
	require.NoError(t, h.HTML(&page))
	require.Contains(t, page.String(), "<svg ")
	require.Equal(t, 1, strings.Count(page.String(), "<polyline "), "one model, one line")
	require.Equal(t, 4, strings.Count(page.String(), "<circle "), "a point per night")
}

func TestHistoryEscapesNames(t *testing.T) {
	r := New(results.Manifest{RunID: "r1", Tasks: []string{"x"}},
		[]results.Attempt{{RunID: "r1", Model: `<img src=x onerror=alert(1)>"`, Task: "x", Status: results.StatusPass}}, nil)
	h := NewHistory([]*Run{r})
	var page, md bytes.Buffer
	require.NoError(t, h.HTML(&page))
	require.NotContains(t, page.String(), "<img")
	require.NoError(t, h.Markdown(&md))
	require.NotContains(t, md.String(), "<img")
	require.Contains(t, md.String(), `title "‹img src=x onerror=alert(1)›': pass@1`)
}

func TestHistoryLabelsRunsOfTheSameMinuteByID(t *testing.T) {
	h, err := LoadHistory([]string{filepath.Join("testdata", "gate", "noise-base"), filepath.Join("testdata", "gate", "drop-base")})
	require.NoError(t, err)
	require.Equal(t, "20261130-031700-drop0", h.Runs[0].Label)
	require.Equal(t, "20261130-031700-noise0", h.Runs[1].Label)
}

func TestLoadHistoryRefusesWhatIsNoRun(t *testing.T) {
	_, err := LoadHistory([]string{"/nonexistent/night"})
	require.EqualError(t, err, "/nonexistent/night: no such run folder")
	empty := t.TempDir()
	_, err = LoadHistory([]string{empty})
	require.EqualError(t, err, empty+": not a run folder and holds none (no results.jsonl in it or its folders)")
}

// compare refuses runs of different agents; history, which folds runs into
// one rate and a flakiness score per model and task, must at least say so.
func TestHistoryWarnsOfDifferentAgents(t *testing.T) {
	run := func(id, agent string, status results.Status) *Run {
		return New(results.Manifest{RunID: id, Agent: agent, Tasks: []string{"x"}},
			[]results.Attempt{{RunID: id, Model: "m", Task: "x", Status: status}}, nil)
	}
	h := NewHistory([]*Run{run("r1", "", results.StatusPass), run("r2", "goat eval", results.StatusFail), run("r3", "builtin", results.StatusPass)})
	require.Contains(t, h.Warnings, `the runs were made by 2 different agents (builtin, goat eval); a task's rate and flakiness mix the agents', not only the model's`)
	h = NewHistory([]*Run{run("r1", "", results.StatusPass), run("r3", "builtin", results.StatusPass)})
	require.Empty(t, h.Warnings)

	// An agent command is the user's text, kept exact in JSON and escaped
	// where a person reads it.
	h = NewHistory([]*Run{run("r1", "", results.StatusPass), run("r2", "goat \x1b[2Jeval", results.StatusPass)})
	require.Contains(t, h.Warnings[0], "goat \x1b[2Jeval")
	var term, page strings.Builder
	require.NoError(t, h.Terminal(&term, false))
	require.NoError(t, h.HTML(&page))
	for _, out := range []string{term.String(), page.String()} {
		require.NotContains(t, out, "\x1b")
		require.Contains(t, out, `goat \x1b[2Jeval`)
	}
}

// One broken night loses none of the others: a folder whose files cannot be
// read is left out with a warning. Nights are found in a folder of
// downloaded artifacts, each holding a run folder, as the nightly job lays
// them out.
func TestHistoryLeavesOutABrokenNight(t *testing.T) {
	dirs := historyNights(t)
	require.NoError(t, os.WriteFile(filepath.Join(dirs[1], results.ManifestFile), []byte(`{"run_id": "x",`), 0o644))
	b, err := os.ReadFile(filepath.Join(dirs[2], results.AttemptsFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dirs[2], results.AttemptsFile), append([]byte("{garbled}\n"), b...), 0o644))

	h, err := LoadHistory([]string{filepath.Dir(dirs[0])})
	require.NoError(t, err)
	require.Len(t, h.Runs, 2)
	left := 0
	for _, w := range h.Warnings {
		if strings.HasPrefix(w, "left out: ") {
			left++
		}
	}
	require.Equal(t, 2, left, "%q", h.Warnings)

	artifacts := t.TempDir()
	for i, d := range []string{dirs[0], dirs[3]} {
		nested := filepath.Join(artifacts, fmt.Sprint(111*(i+1)), "nightly-"+filepath.Base(d))
		require.NoError(t, os.MkdirAll(filepath.Dir(nested), 0o755))
		require.NoError(t, os.CopyFS(nested, os.DirFS(d)))
	}
	h, err = LoadHistory([]string{artifacts})
	require.NoError(t, err)
	require.Len(t, h.Runs, 2)

	_, err = LoadHistory([]string{dirs[1]})
	require.ErrorContains(t, err, "run.json", "with nothing else to show, the night's own error")
}

// The merge of a run's shards has shard 1's run ID; given both, history
// counts the merge, whichever comes first.
func TestHistoryPrefersTheMergeToItsShard(t *testing.T) {
	man := results.Manifest{RunID: "n1", Repeat: 1, Tasks: []string{"a", "b"}, Models: []results.ModelInfo{{Name: "m", Kind: "vllm"}}}
	shard := man
	shard.Shard = &results.Shard{Index: 1, Count: 2}
	merged := man
	merged.MergedFrom = []string{"n1", "n1b"}
	write := func(m results.Manifest, tasks ...string) string {
		dir := t.TempDir()
		require.NoError(t, results.WriteManifest(dir, m))
		var lines []byte
		for _, task := range tasks {
			b, err := json.Marshal(results.Attempt{RunID: "n1", Model: "m", Task: task, Status: results.StatusPass, Started: t0})
			require.NoError(t, err)
			lines = append(append(lines, b...), '\n')
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, results.AttemptsFile), lines, 0o644))
		return dir
	}
	s, m := write(shard, "a"), write(merged, "a", "b")
	second := man
	second.RunID, second.Shard = "n1b", &results.Shard{Index: 2, Count: 2}
	s2 := write(second, "b")
	for _, order := range [][]string{{s, m, s2}, {m, s, s2}, {s2, s, m}} {
		h, err := LoadHistory(order)
		require.NoError(t, err)
		require.Len(t, h.Runs, 1, "shard 2, of a run ID of its own, is in the merge too")
		require.Equal(t, m, h.Runs[0].Dir, "the merge counts")
	}
}

// A night a model has no verdict for (it did not run, or nothing but
// infrastructure errors) is left out of its chart, which has no gaps: a bar
// of 0 would read as a collapse.
func TestHistoryChartLeavesOutNightsWithoutAVerdict(t *testing.T) {
	night := func(id string, day int, st results.Status) *Run {
		man := results.Manifest{RunID: id, Repeat: 1, Tasks: []string{"x"}, Started: time.Date(2026, 11, day, 3, 17, 0, 0, time.UTC),
			Models: []results.ModelInfo{{Name: "m", Kind: "vllm"}}}
		return New(man, []results.Attempt{att("m", "x", 0, st, 0, 1)}, nil)
	}
	h := NewHistory([]*Run{night("n1", 27, results.StatusPass), night("n2", 28, results.StatusError), night("n3", 29, results.StatusFail)})
	require.Nil(t, h.Models[0].Rates[1])
	chart := h.mermaid(h.Models[0])
	require.Contains(t, chart, `x-axis ["11-27 03:17", "11-29 03:17"]`)
	require.Contains(t, chart, "bar [100, 0]")
	errs := NewHistory([]*Run{night("n2", 28, results.StatusError)})
	require.Empty(t, errs.mermaid(errs.Models[0]), "no chart of nothing")
}
