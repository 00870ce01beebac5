package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompareCommand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"regressions reported, exit 0 without the flag", []string{"compare", fixtureBase, fixtureHead},
			exitOK, "1 regression · 1 newly failing · 1 worse · 1 newly passing · 0 still failing · 2 within noise · 2 flaky · 1 slower beyond +25%", ""},
		{"fail on regression", []string{"compare", fixtureBase, fixtureHead, "--fail-on-regression"},
			exitFailed, "1 regression", "goatbench: 1 regression(s) from " + fixtureBase + " to " + fixtureHead},
		{"a looser latency threshold leaves only noise", []string{"compare", fixtureBase, fixtureHead, "--latency-threshold", "75", "--fail-on-regression"},
			exitOK, "0 regressions · 1 newly failing", ""},
		{"latency check off", []string{"compare", fixtureBase, fixtureHead, "--latency-threshold", "0"},
			exitOK, "0 regressions · 1 newly failing · 1 worse · 1 newly passing · 0 still failing · 2 within noise · 2 flaky\n", ""},
		{"a run against itself", []string{"compare", fixtureRun, fixtureRun, "--fail-on-regression"},
			exitOK, "0 regressions", ""},
		{"base missing", []string{"compare", "/nonexistent/base", fixtureHead},
			exitUsage, "", "goatbench: base: /nonexistent/base: no such run folder\n"},
		{"negative threshold", []string{"compare", fixtureBase, fixtureHead, "--latency-threshold", "-5"},
			exitUsage, "", "--latency-threshold must be a percentage of at least 0"},
		{"a floor above beta's 6 s rise", []string{"compare", fixtureBase, fixtureHead, "--latency-floor", "10", "--fail-on-regression"},
			exitOK, "0 regressions · 1 newly failing", ""},
		{"negative floor", []string{"compare", fixtureBase, fixtureHead, "--latency-floor", "-1"},
			exitUsage, "", "--latency-floor must be at least 0 seconds"},
		{"one folder only", []string{"compare", fixtureBase},
			exitUsage, "", "accepts 2 arg(s)"},
		{"alpha out of range", []string{"compare", fixtureBase, fixtureHead, "--alpha", "1.5"},
			exitUsage, "", "--alpha must be between 0 and 1 (exclusive), got 1.5"},
		{"unknown correction", []string{"compare", fixtureBase, fixtureHead, "--correction", "bonferoni"},
			exitUsage, "", `unknown --correction "bonferoni": use none or holm`},
		{"gate: the drop survives Holm over ten tasks (1/252 < 0.05/10)", []string{"compare", gate("drop-base"), gate("drop-head"), "--correction", "holm", "--fail-on-regression"},
			exitFailed, "1 regression · ", "goatbench: 1 regression(s)"},
		// Two seeded nights at 80% with 5 repeats that differ only by chance.
		{"gate: noise passes", []string{"compare", gate("noise-base"), gate("noise-head"), "--fail-on-regression"},
			exitOK, "0 regressions", ""},
		{"gate: 5/5 → 0/5 fails", []string{"compare", gate("drop-base"), gate("drop-head"), "--fail-on-regression"},
			exitFailed, "1 regression · ", "goatbench: 1 regression(s)"},
		{"gate: that drop at a stricter alpha still fails (p = 1/252)", []string{"compare", gate("drop-base"), gate("drop-head"), "--alpha", "0.005", "--fail-on-regression"},
			exitFailed, "1 regression · ", "goatbench: 1 regression(s)"},
		{"gate: and passes below its p-value", []string{"compare", gate("drop-base"), gate("drop-head"), "--alpha", "0.003", "--fail-on-regression"},
			exitOK, "0 regressions · ", ""},
		{"gate: a failed deploy fails", []string{"compare", gate("noise-base"), gate("deploy-head"), "--fail-on-regression"},
			exitFailed, "1 failed to deploy or warm", "goatbench: 1 regression(s)"},
		{"different suites sharing no task are refused", []string{"compare", fixtureRun, gate("noise-head")},
			exitUsage, "", "goatbench: base and head ran different suites (smoke 9f2c1e7a, smoke 5e1f00d1) and share no task: nothing to compare\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := reportCLI(t, tc.args...)
			require.Equal(t, tc.wantCode, code, errOut)
			require.Contains(t, out, tc.wantOut)
			if tc.wantErr == "" {
				require.Empty(t, errOut)
			} else {
				require.Contains(t, errOut, tc.wantErr)
				require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			}
		})
	}
}

func gate(name string) string {
	return filepath.Join("..", "..", "internal", "report", "testdata", "gate", name)
}

func TestCompareWarnsOnStderrWhenWritingAFile(t *testing.T) {
	code, out, errOut := reportCLI(t, "compare", fixtureBase, fixtureHead, "--format", "markdown")
	require.Equal(t, exitOK, code)
	require.Equal(t, "warning: 1 task only in base, not compared: retired\n"+
		"warning: 1 task only in head, not compared: added\n"+
		"warning: 1 model only in base, not compared: gamma-local\n"+
		"warning: 1 model only in head, not compared: delta-local\n", errOut)
	require.Contains(t, out, "> [!WARNING]\n> 1 task only in base, not compared: retired")
}

func TestCompareFormats(t *testing.T) {
	code, out, _ := reportCLI(t, "compare", fixtureBase, fixtureHead, "--format", "markdown")
	require.Equal(t, exitOK, code)
	require.Equal(t, readGolden(t, "compare.md.golden"), out)

	code, out, _ = reportCLI(t, "compare", fixtureBase, fixtureHead)
	require.Equal(t, exitOK, code)
	require.Equal(t, readGolden(t, "compare_terminal.golden"), out)

	code, out, _ = reportCLI(t, "compare", fixtureBase, fixtureHead, "--format", "json")
	require.Equal(t, exitOK, code)
	var doc struct {
		Regressions int `json:"regressions"`
		Tasks       []struct {
			Model, Task, Change string
			Regression          bool
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Equal(t, 1, doc.Regressions)
	require.Len(t, doc.Tasks, 11)
}

// The tasks a head run never ran because it stopped early (Ctrl-C, a crash,
// --deadline) are "not run", with no verdict, and the model's verdict
// says how many attempts: not "removed", as tasks dropped from the suite
// are. The stopped run's own exit code is what fails a job.
func TestCompareSaysWhatAStoppedHeadNeverRan(t *testing.T) {
	run := func() string {
		out := t.TempDir()
		code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out)
		require.Equal(t, exitOK, code, stderr)
		dirs, err := filepath.Glob(filepath.Join(out, "*"))
		require.NoError(t, err)
		require.Len(t, dirs, 1)
		return dirs[0]
	}
	base, head := run(), run()
	code, stdout, _ := goatbench(t, "compare", base, head, "--fail-on-regression")
	require.Equal(t, exitOK, code, "two whole runs: %s", stdout)

	// Head as a run stopped after its first three attempts leaves it.
	path := filepath.Join(head, "results.jsonl")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(b), "\n")
	require.Len(t, lines, 6, "five attempts and the end")
	var gone []string
	for _, l := range lines[3:5] {
		var a struct{ Task string }
		require.NoError(t, json.Unmarshal([]byte(l), &a))
		gone = append(gone, a.Task)
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines[:3], "")), 0o644))

	code, stdout, _ = goatbench(t, "compare", base, head, "--fail-on-regression")
	require.Equal(t, exitOK, code, stdout)
	require.Contains(t, stdout, "0 regressions")
	require.Contains(t, stdout, "1 model with attempts head never ran (no verdict)")
	require.Contains(t, stdout, "2 attempts not run in head")
	require.NotContains(t, stdout, "removed")
	for _, task := range gone {
		require.Regexp(t, task+` +│ +1/1 │ +0/0 │ +— │ not run `, stdout)
	}

	code, stdout, _ = goatbench(t, "compare", base, head, "--format", "json")
	require.Equal(t, exitOK, code)
	var c struct {
		Models []struct {
			HeadNotRun int `json:"head_not_run"`
		} `json:"models"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &c))
	require.Len(t, c.Models, 1)
	require.Equal(t, 2, c.Models[0].HeadNotRun)
}
