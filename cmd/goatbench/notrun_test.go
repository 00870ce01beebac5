package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/report"
)

// A run stopped by its deadline: the attempts it never judged are "not run"
// in every format, never errors; one line says so; and a resume completes it
// without a warning about records written twice.
func TestStoppedRunCountsNotRunEverywhere(t *testing.T) {
	srv := newHeldServer(t) // bash-command passes, every other attempt waits
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--base-url", srv.URL, "--model-name", "sim-local", "--suite", "smoke",
		"--parallel", "2", "--deadline", "500ms", "--out", out)
	require.Equal(t, exitInfra, code, stderr)
	dir := onlyRunDir(t, out)

	require.Contains(t, stdout, "1/1 passed, 0 failed, 0 errors, 4 not run")
	require.Contains(t, stdout, "sim-local 1/1 (")
	require.NotRegexp(t, `│ +⚠`, stdout, "no cell shows an error")
	require.NotContains(t, stderr, "ERROR", "no line per attempt that was not run")
	require.Equal(t, 1, strings.Count(stderr, "stopped: 4 attempts not run; resume with: goatbench run --resume "+dir), stderr)

	var sum report.Summary
	b, err := os.ReadFile(filepath.Join(dir, report.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	require.Equal(t, report.Counts{Passed: 1, NotRun: 4}, sum.Totals)
	require.Equal(t, 4, sum.Models[0].NotRun)
	require.Zero(t, sum.Models[0].Errors)
	require.Empty(t, sum.Failures, "not run is not a failure to look into")

	var junit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
	}
	b, err = os.ReadFile(filepath.Join(dir, report.JUnitFile))
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(b, &junit))
	require.Equal(t, 5, junit.Tests)
	require.Equal(t, 4, junit.Skipped)
	require.Zero(t, junit.Errors)
	require.Zero(t, junit.Failures)

	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	require.NoError(t, err)
	require.Regexp(t, `\| sim-local \| 1/1 \| 0 \| 4 \| 100% \|`, string(md))
	page, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	require.Regexp(t, `<td[^>]*>sim-local</td>\s*<td[^>]*>1/1</td>\s*<td[^>]*>0</td>\s*<td[^>]*>4</td>`, string(page))

	// An API key goes only to an endpoint this command line or environment
	// names, never to one that run.json alone does.
	t.Setenv("OPENAI_API_KEY", "sk-secret")
	code, _, stderr = goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "sim-local was served at "+srv.URL+", where a resume sends the API key only when given again: add --base-url '"+srv.URL+"'")
	require.NoError(t, os.Unsetenv("OPENAI_API_KEY"))

	srv.release()
	code, stdout, stderr = goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "5/5 passed, 0 failed, 0 errors — ")
	require.NotContains(t, stdout+stderr, "recorded more than once")
	code, stdout, stderr = goatbench(t, "report", dir)
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stdout+stderr, "recorded more than once")
}
