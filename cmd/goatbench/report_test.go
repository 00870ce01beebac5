package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The report package's fixtures and golden files.
var (
	fixtureRun  = filepath.Join("..", "..", "internal", "report", "testdata", "run")
	fixtureBase = filepath.Join("..", "..", "internal", "report", "testdata", "compare", "base")
	fixtureHead = filepath.Join("..", "..", "internal", "report", "testdata", "compare", "head")
	goldenDir   = filepath.Join("..", "..", "internal", "report", "testdata", "golden")
)

// reportCLI runs goatbench with args and returns its exit code, stdout and stderr.
func reportCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, streams{Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	require.NoError(t, err)
	return string(b)
}

// copyFixture copies a run folder so a test may write into it or break it.
func copyFixture(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"run.json", "results.jsonl"} {
		b, err := os.ReadFile(filepath.Join(from, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	return dir
}

func TestReportFormats(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"report", fixtureRun}, "terminal.golden"},
		{[]string{"report", fixtureRun, "--color", "always"}, "terminal_color.golden"},
		{[]string{"report", fixtureRun, "--format", "markdown"}, "report.md.golden"},
		{[]string{"report", fixtureRun, "--format", "md"}, "report.md.golden"},
		{[]string{"report", fixtureRun, "--format", "junit"}, "junit.xml.golden"},
		{[]string{"report", fixtureRun, "--format", "json"}, "summary.json.golden"},
		{[]string{"report", fixtureRun, "--format", "html"}, "report.html.golden"},
	} {
		t.Run(strings.Join(tc.args[2:], " "), func(t *testing.T) {
			code, out, errOut := reportCLI(t, tc.args...)
			require.Equal(t, exitOK, code, errOut)
			require.Equal(t, readGolden(t, tc.golden), out)
			require.Empty(t, errOut)
		})
	}
}

func TestReportHonoursNoColor(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	code, out, _ := reportCLI(t, "report", fixtureRun)
	require.Equal(t, exitOK, code)
	require.NotContains(t, out, "\x1b[")
	on, err := wantColor("auto", os.Stdout)
	require.NoError(t, err)
	require.False(t, on, "NO_COLOR wins over a terminal")
	on, err = wantColor("always", &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, on, "an explicit flag wins over NO_COLOR")
}

func TestReportWrite(t *testing.T) {
	dir := copyFixture(t, fixtureRun)
	summary := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	code, out, errOut := reportCLI(t, "report", dir, "--write", "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	require.True(t, json.Valid([]byte(out)))
	require.Contains(t, errOut, "wrote report.md, summary.json, junit.xml and report.html in "+dir)
	for _, name := range []string{"report.md", "summary.json", "junit.xml", "report.html"} {
		require.FileExists(t, filepath.Join(dir, name))
	}
	md, err := os.ReadFile(summary)
	require.NoError(t, err)
	require.Equal(t, readGolden(t, "report.md.golden")+"\n", string(md))

	var doc struct {
		XMLName xml.Name `xml:"testsuites"`
		Tests   int      `xml:"tests,attr"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(b, &doc))
	require.Equal(t, 45, doc.Tests)
}

func TestReportBadInput(t *testing.T) {
	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "results.jsonl"), nil, 0o644))
	torn := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(torn, "results.jsonl"), []byte(`{"run_id":"x","mod`), 0o644))
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no folder given", []string{"report"}, "accepts 1 arg(s)"},
		{"missing folder", []string{"report", filepath.Join(t.TempDir(), "gone")}, "no such run folder"},
		{"empty results", []string{"report", empty}, "results.jsonl: holds no attempt"},
		{"torn only line", []string{"report", torn}, "only line is torn"},
		{"folder without results", []string{"report", t.TempDir()}, "no results.jsonl"},
		{"unknown format", []string{"report", fixtureRun, "--format", "pdf"}, `unknown --format "pdf"`},
		{"unknown colour", []string{"report", fixtureRun, "--color", "sometimes"}, `unknown --color "sometimes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var out, errOut string
			require.NotPanics(t, func() { code, out, errOut = reportCLI(t, tc.args...) })
			require.Equal(t, exitUsage, code)
			require.Empty(t, out)
			require.Contains(t, errOut, tc.wantErr)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			require.True(t, strings.HasPrefix(errOut, "goatbench: "), errOut)
		})
	}
}

func TestReportTornLastLineWarns(t *testing.T) {
	dir := copyFixture(t, fixtureRun)
	f, err := os.OpenFile(filepath.Join(dir, "results.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"run_id":"20250601-020000-c0ffee","model":"qwen3-4b-local","ta`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	code, out, errOut := reportCLI(t, "report", dir, "--format", "junit")
	require.Equal(t, exitOK, code)
	require.Equal(t, readGolden(t, "junit.xml.golden"), out, "the finished attempts are all there")
	require.Contains(t, errOut, "warning: ")
	require.Contains(t, errOut, "torn last line")
}
