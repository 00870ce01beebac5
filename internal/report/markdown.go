package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/goatbench/goatbench/internal/results"

	"github.com/goatbench/goatbench/internal/safetext"
)

// CommentLimit is the most characters GitHub accepts in a pull-request
// comment or a job summary.
const CommentLimit = 65536

// CommentMarker opens every markdown report; the pull-request workflow finds
// its earlier comment by it and updates that comment instead of adding one.
const CommentMarker = "<!-- goatbench-report -->"

// markdownBudget leaves room under CommentLimit for what a workflow may add
// around the report (a heading, a link to the run). Length is counted in
// bytes, which is never less than GitHub's count of characters.
const markdownBudget = CommentLimit - 1024

// Markdown writes the report for a pull request or a job summary: the
// at-a-glance line, summary table, task matrix, mermaid latency charts and a
// collapsible block per failed attempt, cut to stay under CommentLimit.
func (r *Run) Markdown(w io.Writer) error {
	_, err := io.WriteString(w, r.markdown(markdownBudget))
	return err
}

func (r *Run) markdown(budget int) string {
	top := r.mdTop()
	summary, matrix, charts := r.mdSummary()+r.mdTiers(), r.mdMatrix(), r.mdCharts()
	fails := r.failures()
	var omitted []string
	sections := []string{top, summary, matrix, charts}
	// The tables matter more than the pictures: when even they do not fit,
	// charts go first, then the matrix, and a line says what went.
	// 400 bytes stay free for the line naming what was left out and the
	// failures heading.
	fixed := func() int { return len(strings.Join(sections, "")) + 400 }
	if fixed() > budget && charts != "" {
		sections[3], omitted = "", append(omitted, "latency charts")
	}
	if fixed() > budget {
		sections[2], omitted = "", append(omitted, "task matrix")
	}
	var b strings.Builder
	for _, s := range sections {
		b.WriteString(s)
	}
	if len(omitted) > 0 {
		fmt.Fprintf(&b, "_Left out to stay under GitHub's %s-character limit: %s; see report.html._\n\n", thousands(CommentLimit), strings.Join(omitted, " and "))
	}
	if b.Len() > budget {
		// Thousands of models: nothing structured fits, so cut at a line.
		return cutLines(b.String(), budget)
	}
	if len(fails) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "### Failures (%d)\n\n", len(fails))
	note := func(n int) string {
		return fmt.Sprintf("_%d more failure details left out to stay under GitHub's %s-character limit; see report.html or junit.xml._\n", n, thousands(CommentLimit))
	}
	for i, a := range fails {
		block := r.mdFailure(a)
		reserve := 0
		if i < len(fails)-1 {
			reserve = len(note(len(fails)))
		}
		if b.Len()+len(block)+reserve > budget {
			b.WriteString(note(len(fails) - i))
			break
		}
		b.WriteString(block)
	}
	return b.String()
}

func cutLines(s string, budget int) string {
	const note = "\n_Report cut here to stay under GitHub's comment limit; see report.html._\n"
	s = s[:budget-len(note)]
	if i := strings.LastIndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s + note
}

func (r *Run) mdTop() string {
	var b strings.Builder
	b.WriteString(CommentMarker + "\n")
	title := "goatbench"
	if r.Manifest.Suite != "" {
		title += ": " + r.Manifest.Suite + " suite"
	}
	fmt.Fprintf(&b, "## %s\n\n", mdText(title))
	var glance []string
	for _, h := range r.headline() {
		glance = append(glance, "**"+mdText(h)+"**")
	}
	fmt.Fprintf(&b, "%s\n\n", strings.Join(glance, " · "))
	fmt.Fprintf(&b, "%s\n\n", mdText(r.runLine()))
	for _, warn := range r.Warnings {
		fmt.Fprintf(&b, "> ⚠ %s\n", mdText(warn))
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

func (r *Run) mdSummary() string {
	var b strings.Builder
	b.WriteString("### Summary\n\n")
	summaryColumns := r.summaryColumns()
	heads := make([]string, len(summaryColumns))
	right := make([]bool, len(summaryColumns))
	for i, c := range summaryColumns {
		heads[i], right[i] = c.head, c.right
	}
	var rows [][]string
	for _, s := range r.models {
		row := make([]string, len(summaryColumns))
		for i, c := range summaryColumns {
			row[i] = c.cell(s)
		}
		rows = append(rows, row)
	}
	mdTable(&b, heads, right, rows)
	b.WriteString("\n")
	var notes []string
	if r.repeats() > 1 {
		notes = append(notes, "pass rate in brackets: 95% Wilson interval")
	}
	notes = append(notes,
		"errors are infrastructure failures, counted neither as passes nor as fails",
		"p50/p95: attempt wall time",
		"cost: GPU price × time the run held the model (Modal), or the proxy's reported cost (API)")
	fmt.Fprintf(&b, "<sub>%s.</sub>\n\n", strings.Join(notes, "; "))
	return b.String()
}

func (r *Run) mdMatrix() string {
	var b strings.Builder
	b.WriteString("### Tasks\n\n")
	heads := []string{"task"}
	rule := []string{"---"}
	for _, s := range r.models {
		heads = append(heads, mdText(s.Model))
		rule = append(rule, ":---:")
	}
	mdRow(&b, heads)
	mdRow(&b, rule)
	for i, t := range r.tasks {
		if h := r.tierHeading(i); h != "" {
			mdRow(&b, append([]string{"**" + mdText(h) + "**"}, make([]string, len(r.models))...))
		}
		row := []string{mdText(t)}
		for _, s := range r.models {
			row = append(row, mdText(r.Cell(s.Model, t).markText(r.repeats())))
		}
		mdRow(&b, row)
	}
	fmt.Fprintf(&b, "\n<sub>%s.</sub>\n\n", mdText(r.legend()))
	return b.String()
}

// mdCharts draws one mermaid bar chart per model: p50 attempt latency per task.
func (r *Run) mdCharts() string {
	var b strings.Builder
	for _, s := range r.models {
		vals, top := r.taskLatencies(s.Model)
		if top == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("### Latency\n\n")
		}
		labels := make([]string, len(r.tasks))
		nums := make([]string, len(r.tasks))
		for i, t := range r.tasks {
			labels[i] = mermaidString(t)
			nums[i] = strconv.FormatFloat(vals[i], 'f', 1, 64)
		}
		b.WriteString("```mermaid\nxychart-beta\n")
		fmt.Fprintf(&b, "    title %s\n", mermaidString(s.Model+": p50 attempt latency per task (s)"))
		fmt.Fprintf(&b, "    x-axis [%s]\n", strings.Join(labels, ", "))
		fmt.Fprintf(&b, "    y-axis \"seconds\" 0 --> %s\n", strconv.FormatFloat(niceCeil(top), 'f', -1, 64))
		fmt.Fprintf(&b, "    bar [%s]\n", strings.Join(nums, ", "))
		b.WriteString("```\n\n")
	}
	return b.String()
}

// taskLatencies are a model's p50 attempt latencies in task order (0 where it
// has no judged attempt), and the largest of them.
func (r *Run) taskLatencies(model string) ([]float64, float64) {
	vals := make([]float64, len(r.tasks))
	top := 0.0
	for i, t := range r.tasks {
		if c := r.Cell(model, t); c != nil {
			vals[i] = c.P50()
			top = math.Max(top, vals[i])
		}
	}
	return vals, top
}

// niceCeil rounds an axis maximum up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func (r *Run) mdFailure(a results.Attempt) string {
	var b strings.Builder
	class := a.FailureClass
	if class == "" {
		class = string(a.Status)
	}
	fmt.Fprintf(&b, "<details>\n<summary>%s <b>%s</b> · %s · <code>%s</code> · %s s</summary>\n\n",
		statusMark(a.Status), html.EscapeString(a.Model), html.EscapeString(r.attemptName(a)), html.EscapeString(class), secs(a.WallSeconds))
	if a.Reason != "" {
		fmt.Fprintf(&b, "**Reason:** %s\n\n", mdText(oneLine(a.Reason, 300)))
	}
	for _, c := range a.Checks {
		mark := markPass
		if !c.Pass {
			mark = markFail
		}
		line := fmt.Sprintf("- %s check **%s**", mark, mdText(c.Name))
		if c.Detail != "" {
			line += ": " + mdText(oneLine(c.Detail, 200))
		}
		b.WriteString(line + "\n")
	}
	if len(a.Checks) > 0 {
		b.WriteString("\n")
	}
	if a.LastToolCall != "" {
		b.WriteString("Last tool call:\n\n" + codeBlock(head(a.LastToolCall, 600)))
	}
	if a.LastToolOutput != "" {
		b.WriteString("Last tool output:\n\n" + codeBlock(tail(a.LastToolOutput, 1200)))
	}
	if a.FinalAnswer != "" {
		b.WriteString("Final answer:\n\n" + codeBlock(head(a.FinalAnswer, 600)))
	}
	if a.Transcript != "" {
		fmt.Fprintf(&b, "Transcript: `%s`\n\n", strings.ReplaceAll(oneLine(a.Transcript, 300), "`", "'"))
	}
	b.WriteString("</details>\n\n")
	return b.String()
}

// codeBlock fences text with more backticks than it contains in a row, so
// no output can close the block early.
func codeBlock(s string) string {
	run, longest := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	return fence + "text\n" + strings.TrimRight(s, "\n") + "\n" + fence + "\n\n"
}

func mdRow(b *strings.Builder, cells []string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "|", `\|`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;",
)

// mdText makes text safe inside a markdown table cell or paragraph: one line
// (newlines become spaces first), control characters written out, markdown
// and HTML escaped.
func mdText(s string) string { return mdEscaper.Replace(safetext.Line(mdSpaces.Replace(s))) }

var mdSpaces = strings.NewReplacer("\n", " ", "\r", " ")

// mermaidString quotes a label for mermaid; it has no escape for quotes.
func mermaidString(s string) string {
	return `"` + strings.NewReplacer(`"`, "'", "\n", " ").Replace(s) + `"`
}
