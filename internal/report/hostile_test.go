package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// overwrite is what a hostile model puts in its answer, a check's output or
// a server's error message: erase the line, return to its start and print a
// green PASS there; then a C1 CSI and a bidi override for good measure.
const overwrite = "FAIL\x1b[2K\r\x1b[32mPASS\x1b[0m \u009b31m \u202Eliaf"

func hostileRun() *Run {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := results.Attempt{RunID: "r", Model: "m", Task: "t", Status: results.StatusFail, FailureClass: results.ClassChecksFailed,
		Reason: "check: " + overwrite, FinalAnswer: overwrite, LastToolCall: "bash " + overwrite, LastToolOutput: overwrite + "\nmore\n",
		Checks:  []results.Check{{Name: "command: " + overwrite, Detail: "exit code 1: " + overwrite}},
		Started: start, WallSeconds: 1}
	e := results.Attempt{RunID: "r", Model: "m", Task: "u", Status: results.StatusError, FailureClass: results.ClassServerError,
		Reason: "HTTP 500: " + overwrite, Started: start, WallSeconds: 1}
	return New(results.Manifest{RunID: "r", Tasks: []string{"t", "u"}}, []results.Attempt{a, e}, []string{"torn: " + overwrite})
}

func TestModelTextReachesNoReportRaw(t *testing.T) {
	r := hostileRun()
	for name, write := range map[string]func(*bytes.Buffer) error{
		"terminal":    func(b *bytes.Buffer) error { return r.Terminal(b, false) },
		"report.md":   func(b *bytes.Buffer) error { return r.Markdown(b) },
		"report.html": func(b *bytes.Buffer) error { return r.HTML(b) },
		"junit.xml":   func(b *bytes.Buffer) error { return r.JUnit(b) },
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, write(&b))
			out := b.String()
			for _, bad := range []string{"\x1b", "\r", "\u009b", "\u202e"} {
				require.NotContains(t, out, bad, "%q reached %s raw", bad, name)
			}
			if name != "terminal" { // the table has no reasons; the others show them escaped
				require.Contains(t, out, `\x1b[32mPASS`)
			}
		})
	}
	// Machine-readable files keep the exact text.
	var b bytes.Buffer
	require.NoError(t, r.JSON(&b))
	var s Summary
	require.NoError(t, json.Unmarshal(b.Bytes(), &s))
	found := false
	for _, f := range s.Failures {
		found = found || strings.Contains(f.Reason, overwrite)
	}
	require.True(t, found, "summary.json keeps the exact reason")
}

func TestSandboxFallbackIsInEveryReport(t *testing.T) {
	const warning = "WARNING: bubblewrap is not installed (apt-get install bubblewrap), nor on PATH; commands run with --sandbox plain: NOT isolated from this machine's files, processes and network"
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := results.Attempt{RunID: "r", Model: "m", Task: "t", Status: results.StatusPass, Started: start, WallSeconds: 1}
	r := New(results.Manifest{RunID: "r", Sandbox: "plain", SandboxWarning: warning, Tasks: []string{"t"}}, []results.Attempt{a}, nil)

	var term, md, html, junit, js bytes.Buffer
	require.NoError(t, r.Terminal(&term, false))
	require.NoError(t, r.Markdown(&md))
	require.NoError(t, r.HTML(&html))
	require.NoError(t, r.JUnit(&junit))
	require.NoError(t, r.JSON(&js))
	require.Contains(t, term.String(), "warning: "+warning, "the final summary")
	require.Less(t, strings.Index(md.String(), "NOT isolated"), strings.Index(md.String(), "### Summary"), "top of report.md")
	require.Less(t, strings.Index(html.String(), "NOT isolated"), strings.Index(html.String(), "<h2>Summary"), "top of report.html")
	require.Contains(t, junit.String(), `<property name="sandbox_warning" value="WARNING: bubblewrap is not installed`)
	var s Summary
	require.NoError(t, json.Unmarshal(js.Bytes(), &s))
	require.Equal(t, []string{warning}, s.Warnings)
}

// The conversation report.html shows comes from the transcript file: the
// model's (or an external agent's) messages, tool calls and the agent's
// stderr, none of which may reach the page raw.
func TestTranscriptInHTMLIsEscaped(t *testing.T) {
	dir := t.TempDir()
	msg := map[string]any{"messages": []map[string]any{
		{"role": "user", "content": "do it"},
		{"role": "assistant " + overwrite, "content": overwrite, "reasoning_content": overwrite,
			"tool_calls": []map[string]any{{"function": map[string]any{"name": "bash" + overwrite, "arguments": `{"command":"` + overwrite + `"}`}}}},
		{"role": "tool", "name": "bash" + overwrite, "content": overwrite + "\nmore\n"},
		{"role": "system", "name": "agent_stderr", "content": "the agent command (exit 0)\n" + overwrite},
	}}
	b, err := json.Marshal(msg)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "transcripts", "m"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "transcripts", "m", "t-r0.json"), b, 0o644))
	a := results.Attempt{RunID: "r", Model: "m", Task: "t", Status: results.StatusFail, FailureClass: results.ClassChecksFailed,
		Reason: "checks failed", Transcript: "transcripts/m/t-r0.json", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), WallSeconds: 1}
	r := New(results.Manifest{RunID: "r", Tasks: []string{"t"}}, []results.Attempt{a}, nil)
	r.Dir = dir
	var out bytes.Buffer
	require.NoError(t, r.HTML(&out))
	require.Contains(t, out.String(), "Conversation", "the transcript is shown")
	for _, bad := range []string{"\x1b", "\r", "\u009b", "\u202e"} {
		require.NotContains(t, out.String(), bad, "%q reached report.html raw", bad)
	}
}

// Names and labels from a run folder of unknown origin (model, task,
// failure class, suite, version, sandbox, tiers, run ID) reach no format
// raw: no escape sequence or bidirectional override on a terminal or in a
// page, and no newline that ends report.md's failure block so that
// markdown of the folder's own (an image that calls home) renders.
func TestHostileNamesReachNoReportRaw(t *testing.T) {
	model, task := "ref\x1b[31mEVIL\u202e", "t\n\n![pixel](https://attacker.example/p.png)\n\n"
	man := results.Manifest{RunID: "r\x1b[2J", Suite: "s\x1b]0;title\x07", Version: "v\u202e1", Sandbox: "bw\rrap", Repeat: 1,
		Tasks: []string{task}, Tiers: map[string]string{task: "core\x1b[5m"}, Models: []results.ModelInfo{{Name: model, Kind: "vllm"}}}
	a := att(model, task, 0, results.StatusFail, 0, 1)
	a.FailureClass = "class\n\n# HEADING [link](https://attacker.example)\n\n"
	r := New(man, []results.Attempt{a}, []string{"warn\x1b[36mW"})
	base := New(man, []results.Attempt{att(model, task, 0, results.StatusPass, 0, 1)}, nil)
	base.Manifest.RunID = "base"
	var term, md, page, cmpMD, cmpTerm, hist bytes.Buffer
	require.NoError(t, r.Terminal(&term, true))
	require.NoError(t, r.Markdown(&md))
	require.NoError(t, r.HTML(&page))
	c := Compare(base, r, CompareOptions{})
	require.NoError(t, c.Markdown(&cmpMD))
	require.NoError(t, c.Terminal(&cmpTerm, false))
	require.NoError(t, NewHistory([]*Run{base, r}).Markdown(&hist))
	for name, out := range map[string]string{"terminal": term.String(), "markdown": md.String(), "html": page.String(),
		"compare markdown": cmpMD.String(), "compare terminal": cmpTerm.String(), "history": hist.String()} {
		// The terminal's own colours are the only escapes it may hold.
		plain := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(out, "")
		if name != "terminal" {
			plain = out
		}
		require.NotContains(t, plain, "\x1b", name)
		require.NotContains(t, plain, "\u202e", name)
		require.NotContains(t, plain, "\r", name)
		for _, line := range strings.Split(out, "\n") {
			require.False(t, strings.HasPrefix(line, "![pixel]") || strings.HasPrefix(line, "# HEADING"), "%s: %q", name, line)
		}
	}
	require.Contains(t, term.String(), `ref\x1b[31mEVIL\u202e`, "shown, escaped")
}
