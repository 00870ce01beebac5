package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// runDir makes a run folder holding the given results.jsonl (nil: no file)
// and the fixture's run.json when withManifest.
func runDir(t *testing.T, results []byte, withManifest bool) string {
	t.Helper()
	dir := t.TempDir()
	if results != nil {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "results.jsonl"), results, 0o644))
	}
	if withManifest {
		b, err := os.ReadFile(filepath.Join("testdata", "run", "run.json"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "run.json"), b, 0o644))
	}
	return dir
}

func fixtureLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "run", "results.jsonl"))
	require.NoError(t, err)
	lines := strings.SplitAfter(string(b), "\n")
	return lines[:len(lines)-1] // after the last newline: nothing
}

func TestLoadBadInput(t *testing.T) {
	lines := fixtureLines(t)
	for _, tc := range []struct {
		name    string
		dir     func(t *testing.T) string
		wantErr string
	}{
		{"missing folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "no such run folder"},
		{"a file, not a folder", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "results.jsonl")
			require.NoError(t, os.WriteFile(p, []byte("{}\n"), 0o644))
			return p
		}, "not a run folder"},
		{"no results.jsonl", func(t *testing.T) string { return runDir(t, nil, true) }, "no results.jsonl"},
		// Without the plan of run.json (see TestLoadARunStoppedBeforeItsFirstAttempt).
		{"empty results.jsonl", func(t *testing.T) string { return runDir(t, []byte{}, false) }, "holds no attempt"},
		{"blank lines only", func(t *testing.T) string { return runDir(t, []byte("\n\n  \n"), false) }, "holds no attempt"},
		{"only line torn", func(t *testing.T) string { return runDir(t, []byte(`{"run_id":"x","model":"m`), false) }, "only line is torn"},
		{"broken line in the middle", func(t *testing.T) string {
			return runDir(t, []byte(lines[0]+"{not json}\n"+lines[1]), true)
		}, "results.jsonl:2: not an attempt result"},
		{"broken run.json", func(t *testing.T) string {
			dir := runDir(t, []byte(lines[0]), false)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"run_id": `), 0o644))
			return dir
		}, "run.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			require.NotPanics(t, func() {
				r, err := Load(dir)
				require.Error(t, err)
				require.Nil(t, r)
				require.Contains(t, err.Error(), tc.wantErr)
				require.NotContains(t, err.Error(), "\n", "errors are one line")
			})
		})
	}
}

// A run killed before its first attempt ended (in a deploy, say) reports its
// plan as not run, as a run cut short later does.
func TestLoadARunStoppedBeforeItsFirstAttempt(t *testing.T) {
	for _, jsonl := range []string{"", "\n\n", `{"run_id":"x","model":"m`} {
		r, err := Load(runDir(t, []byte(jsonl), true))
		require.NoError(t, err, "%q", jsonl)
		require.NotEmpty(t, r.Attempts)
		for _, a := range r.Attempts {
			require.Equal(t, StatusNotRun, a.Status)
		}
		require.Equal(t, len(r.Manifest.Tasks)*len(r.Manifest.Models)*r.Manifest.Repeat, len(r.Attempts))
		require.Condition(t, func() bool {
			return slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "no attempt finished") })
		}, "%q", r.Warnings)
	}
}

func TestLoadTornLastLineIsAWarning(t *testing.T) {
	lines := fixtureLines(t)
	torn := strings.Join(lines, "") + lines[3][:40] // killed mid-write
	r, err := Load(runDir(t, []byte(torn), true))
	require.NoError(t, err)
	require.Len(t, r.Attempts, len(lines))
	require.Len(t, r.Warnings, 1)
	require.Contains(t, r.Warnings[0], "torn last line")

	var md, term strings.Builder
	require.NoError(t, r.Markdown(&md))
	require.NoError(t, r.Terminal(&term, false))
	require.Contains(t, md.String(), "torn last line")
	require.Contains(t, term.String(), "warning: ")
}

func TestLoadWithoutManifest(t *testing.T) {
	lines := fixtureLines(t)
	r, err := Load(runDir(t, []byte(strings.Join(lines, "")), false))
	require.NoError(t, err)
	require.Equal(t, "20250601-020000-c0ffee", r.Manifest.RunID)
	require.Len(t, r.Models(), 3)
	require.Contains(t, strings.Join(r.Warnings, "\n"), "no run.json")
	for _, m := range r.Models() {
		// Without prices only costs the proxy reported remain.
		if m.Model == "gpt-4o-mini" {
			require.NotNil(t, m.CostUSD)
		} else {
			require.Nil(t, m.CostUSD, "%s: no GPU price without run.json", m.Model)
		}
	}
}

// A run.json without a run id (made by hand, or by another tool) takes the
// attempts' one: the report's header does not say "run " and nothing.
func TestLoadManifestWithoutARunID(t *testing.T) {
	dir := runDir(t, []byte(strings.Join(fixtureLines(t), "")), false)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run.json"), []byte("{}"), 0o644))
	r, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, "20250601-020000-c0ffee", r.Manifest.RunID)
	var term strings.Builder
	require.NoError(t, r.Terminal(&term, false))
	require.Contains(t, term.String(), "run 20250601-020000-c0ffee")
}

func TestLoadDuplicateAttemptKeepsTheLast(t *testing.T) {
	lines := fixtureLines(t)
	// The first line is a pass; record the same attempt again as a failure.
	again := strings.Replace(lines[0], `"status":"pass"`, `"status":"fail","failure_class":"checks_failed"`, 1)
	require.NotEqual(t, lines[0], again)
	r, err := Load(runDir(t, []byte(strings.Join(lines, "")+again), true))
	require.NoError(t, err)
	require.Len(t, r.Attempts, len(lines))
	require.Contains(t, strings.Join(r.Warnings, "\n"), "recorded more than once")
	c := r.Cell("gpt-4o-mini", "bash-command")
	require.Equal(t, 1, c.Passed)
	require.Equal(t, 2, c.Failed)
}

// Lines that name more models × tasks than one run holds are refused: each
// format has a cell per model and task.
func TestLoadRefusesMoreCellsThanARunHolds(t *testing.T) {
	var b strings.Builder
	for i := range 400 {
		fmt.Fprintf(&b, `{"run_id":"x","model":"m%d","task":"t%d","status":"pass"}`+"\n", i, i)
	}
	_, err := Load(runDir(t, []byte(b.String()), false))
	require.ErrorContains(t, err, "its lines name 400 models and 400 tasks, more than one run holds")

	var long strings.Builder
	long.WriteString(`{"run_id":"x","model":"m","task":"t","status":"pass","final_answer":"`)
	long.WriteString(strings.Repeat("x", 17<<20))
	long.WriteString("\"}\n")
	_, err = Load(runDir(t, []byte(long.String()), false))
	require.ErrorContains(t, err, "results.jsonl:1: a line over 16 MiB")
}

// Attempts of absurd length (a hand-edited wall_s of 1e10 s, past what a
// Duration holds) make a long wall time, never a negative one: converted
// as they were, they wrapped round to -9223372036.6 s.
func TestAnAbsurdWallTimeIsNoNegativeOne(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var as []results.Attempt
	for i := range 10 {
		as = append(as, results.Attempt{RunID: "r", Model: "m", Task: "t", Repeat: i, Status: results.StatusPass, Started: start, WallSeconds: 1e10})
	}
	ended := start.Add(time.Hour)
	r := New(results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 10, Models: []results.ModelInfo{{Name: "m"}}, Started: start, Ended: &ended}, as, nil)
	s := r.Models()
	require.Len(t, s, 1)
	require.Greater(t, s[0].WallSeconds, 9e9, "as long as a Duration holds")
	var term strings.Builder
	require.NoError(t, r.Terminal(&term, false))
	require.NotContains(t, term.String(), "-9223372036")

	// A run.json whose end is before its start took no time, not minus a century.
	backwards := start.AddDate(-126, 0, 0)
	r = New(results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 10, Models: []results.ModelInfo{{Name: "m"}}, Started: start, Ended: &backwards}, as, nil)
	require.Zero(t, r.elapsed())
}

// Tokens over a request time too small to divide by (a hand-edited 5e-324 s)
// is no rate: as +Inf, summary.json could not be written at all.
func TestATokenRateOverNoTimeIsNone(t *testing.T) {
	a := results.Attempt{RunID: "r", Model: "m", Task: "t", Status: results.StatusPass,
		Requests: []results.Request{{Total: 5e-324, TokensOut: 1 << 30}}}
	r := New(results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 1, Models: []results.ModelInfo{{Name: "m"}}}, []results.Attempt{a}, nil)
	s := r.Models()
	require.Len(t, s, 1)
	require.Nil(t, s[0].TokensPerSecond)
	_, err := json.Marshal(r.Summary())
	require.NoError(t, err)
}
