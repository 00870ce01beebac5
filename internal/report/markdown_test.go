package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// bigRun has models × tasks attempts, every one failed with long output.
func bigRun(models, tasks int, output string) *Run {
	man := results.Manifest{RunID: "big", Suite: "core", Repeat: 1, Started: t0}
	var as []results.Attempt
	for t := range tasks {
		man.Tasks = append(man.Tasks, fmt.Sprintf("task-%03d", t))
	}
	for m := range models {
		name := fmt.Sprintf("model-%02d", m)
		man.Models = append(man.Models, results.ModelInfo{Name: name, Kind: "api"})
		for t, task := range man.Tasks {
			a := att(name, task, 0, results.StatusFail, float64(t), 3)
			a.Reason = "check output-matches failed"
			a.LastToolCall = `bash {"command":"make test"}`
			a.LastToolOutput = output
			a.Transcript = fmt.Sprintf("transcripts/%s/%s-r0.json", name, task)
			as = append(as, a)
		}
	}
	return New(man, as, nil)
}

var leftOut = regexp.MustCompile(`_(\d+) more failure details left out to stay under GitHub's 65,536-character limit`)

func TestMarkdownStaysUnderTheCommentLimit(t *testing.T) {
	for _, tc := range []struct {
		name         string
		run          *Run
		wantCut      bool
		wantFailures int
		wantLeftOut  string // sections dropped because even the tables did not fit
	}{
		{"small run keeps every failure", bigRun(2, 5, "FAIL"), false, 10, ""},
		{"many long failures are cut", bigRun(6, 50, strings.Repeat("x", 1500)), true, 300, ""},
		{"output with fences and html", bigRun(3, 60, strings.Repeat("```</details><b>", 100)), true, 180, ""},
		{"many models lose the charts", bigRun(40, 120, "FAIL"), true, 4800, "latency charts"},
		{"more lose the matrix too", bigRun(60, 200, "FAIL"), true, 12000, "latency charts and task matrix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tc.run.Markdown(&b))
			md := b.String()
			require.LessOrEqual(t, len(md), CommentLimit, "bytes, so characters too")
			require.LessOrEqual(t, len(md), markdownBudget, "room is left for what the workflow adds")
			shown := strings.Count(md, "\n<details>\n")
			require.Equal(t, shown, strings.Count(md, "\n</details>\n"), "every block closed")

			m := leftOut.FindStringSubmatch(md)
			if !tc.wantCut {
				require.Nil(t, m, "nothing left out")
				require.Equal(t, tc.wantFailures, shown)
				return
			}
			if tc.wantLeftOut != "" {
				require.True(t, strings.Contains(md, "Left out to stay under GitHub's 65,536-character limit: "+tc.wantLeftOut+";"), "says what was left out")
				require.False(t, strings.Contains(md, "```mermaid"), "no charts")
				require.Equal(t, strings.Contains(tc.wantLeftOut, "matrix"), !strings.Contains(md, "### Tasks"))
			}
			require.NotNil(t, m, "a line says how many were left out")
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			require.Equal(t, tc.wantFailures, shown+n, "shown plus left out is every failure")
			require.Positive(t, n)
			require.Contains(t, md, fmt.Sprintf("### Failures (%d)", tc.wantFailures))
		})
	}
}

func TestMarkdownHardCutWhenNothingFits(t *testing.T) {
	r := bigRun(1000, 2, "FAIL") // the summary table alone is too long
	var b bytes.Buffer
	require.NoError(t, r.Markdown(&b))
	require.LessOrEqual(t, b.Len(), markdownBudget)
	require.True(t, strings.HasSuffix(b.String(), "_Report cut here to stay under GitHub's comment limit; see report.html._\n"), "ends with the cut line")
}

func TestCodeBlockCannotBeClosedByItsContent(t *testing.T) {
	got := codeBlock("before\n```\nafter ````` end")
	require.True(t, strings.HasPrefix(got, "``````text\n"), got)
	require.True(t, strings.HasSuffix(got, "\n``````\n\n"), got)
}

func TestMarkdownEscapesNames(t *testing.T) {
	as := []results.Attempt{att("org/model|v2", "task_<1>", 0, results.StatusFail, 0, 1)}
	r := New(results.Manifest{RunID: "r", Tasks: []string{"task_<1>"}, Repeat: 1}, as, nil)
	var b bytes.Buffer
	require.NoError(t, r.Markdown(&b))
	md := b.String()
	require.Contains(t, md, `| org/model\|v2 |`)
	require.Contains(t, md, `| task\_&lt;1&gt; | ✗ |`)
	require.Contains(t, md, `· task_&lt;1&gt; ·`, "escaped as HTML inside <summary>")
	outsideCode := regexp.MustCompile("(?s)```.*?```").ReplaceAllString(md, "")
	require.NotContains(t, outsideCode, "<1>")
}

// TestContextShown: each served model's context reaches every format, so
// models compared on unequal budgets are visible as such.
func TestContextShown(t *testing.T) {
	man := results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 1, Models: []results.ModelInfo{
		{Name: "qwen3-4b-local", MaxModelLen: 32768}, {Name: "gpt-4o-mini"},
	}}
	r := New(man, []results.Attempt{att("qwen3-4b-local", "t", 0, results.StatusPass, 0, 1), att("gpt-4o-mini", "t", 0, results.StatusPass, 0, 1)}, nil)
	var md, term bytes.Buffer
	require.NoError(t, r.Markdown(&md))
	require.NoError(t, r.Terminal(&term, false))
	for _, out := range []string{md.String(), term.String()} {
		require.Contains(t, out, "context qwen3-4b-local 32k")
		require.NotContains(t, out, "gpt-4o-mini 0k")
	}
	var js bytes.Buffer
	require.NoError(t, r.JSON(&js))
	require.Contains(t, js.String(), `"context_tokens": 32768`)
}
