package main

import (
	"encoding/json"
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
			exitOK, "2 regressions · 1 newly failing · 1 newly passing · 1 still failing · 1 slower beyond +25%", ""},
		{"fail on regression", []string{"compare", fixtureBase, fixtureHead, "--fail-on-regression"},
			exitFailed, "2 regressions", "goatbench: 2 regression(s) from " + fixtureBase + " to " + fixtureHead},
		{"a looser latency threshold leaves the newly failing task", []string{"compare", fixtureBase, fixtureHead, "--latency-threshold", "75", "--fail-on-regression"},
			exitFailed, "1 regression · 1 newly failing", "goatbench: 1 regression(s)"},
		{"latency check off", []string{"compare", fixtureBase, fixtureHead, "--latency-threshold", "0"},
			exitOK, "1 regression · 1 newly failing · 1 newly passing · 1 still failing\n", ""},
		{"a run against itself", []string{"compare", fixtureRun, fixtureRun, "--fail-on-regression"},
			exitOK, "0 regressions", ""},
		{"base missing", []string{"compare", "/nonexistent/base", fixtureHead},
			exitUsage, "", "goatbench: base: /nonexistent/base: no such run folder\n"},
		{"negative threshold", []string{"compare", fixtureBase, fixtureHead, "--latency-threshold", "-5"},
			exitUsage, "", "--latency-threshold must be a percentage of at least 0"},
		{"a floor above beta's 6 s rise", []string{"compare", fixtureBase, fixtureHead, "--latency-floor", "10"},
			exitOK, "1 regression · 1 newly failing", ""},
		{"negative floor", []string{"compare", fixtureBase, fixtureHead, "--latency-floor", "-1"},
			exitUsage, "", "--latency-floor must be at least 0 seconds"},
		{"one folder only", []string{"compare", fixtureBase},
			exitUsage, "", "accepts 2 arg(s)"},
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
	require.Equal(t, 2, doc.Regressions)
	require.Len(t, doc.Tasks, 11)
}
