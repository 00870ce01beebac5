package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/safetext"
)

// History is several runs of the same models, night after night: per model
// and task the pass rate over time and how flaky it is.
type History struct {
	Runs   []HistoryRun   `json:"runs"` // oldest first
	Models []HistoryModel `json:"models"`
	// Warnings come from loading the runs, each prefixed with its folder.
	Warnings []string `json:"warnings,omitempty"`
}

// HistoryRun is one night.
type HistoryRun struct {
	ID        string `json:"run_id"`
	Dir       string `json:"dir"`
	Label     string `json:"label"` // short, for a column head
	SuiteHash string `json:"suite_hash,omitempty"`
}

// HistoryModel is one model across the nights.
type HistoryModel struct {
	Model string `json:"model"`
	// Rates is pass@1 per night, over every task it scored; nil when the
	// model did not run that night. PassK is pass^k per night: the share of
	// tasks whose every repeat passed.
	Rates []*Rate      `json:"pass_rate"`
	PassK []*float64   `json:"pass_k"`
	Tasks []HistoryRow `json:"tasks"`
}

// HistoryRow is one task of one model across the nights.
type HistoryRow struct {
	Task  string  `json:"task"`
	Cells []*Rate `json:"nights"` // nil when not run that night
	// Overall pools every night's attempts.
	Overall *Rate `json:"overall"`
	// Flakiness is the share of chances to disagree that were taken: nights
	// with two or more repeats whose repeats disagreed, and consecutive
	// nights whose verdict (every repeat passed or not) flipped. 0 is a task
	// that always or never passes; near 1, one that is a coin toss.
	Flakiness float64 `json:"flakiness"`
	// Mixed counts the nights whose repeats disagreed.
	Mixed int `json:"mixed_nights"`
}

// FlakyThreshold is the flakiness from which a task is called flaky.
const FlakyThreshold = 0.25

// Flaky reports whether the task's results disagree often enough to call it
// flaky.
func (h HistoryRow) Flaky() bool { return h.Flakiness >= FlakyThreshold }

// LoadHistory loads run folders for a history. A folder that holds run
// folders rather than being one (a results/ folder, a downloaded artifact, a
// folder of downloaded artifacts) stands for every run in it. A run folder
// that cannot be read (a run killed as it began, a broken file) is left out
// with a warning, so one bad night loses none of the others. The same run
// given twice counts once: the merge of a run's shards over a shard of it,
// which has the merge's run ID, else the copy holding more results.
func LoadHistory(dirs []string) (History, error) {
	var runs []*Run
	var warnings []string
	var firstErr error
	at := map[string]int{} // run ID → index in runs
	from := map[string]string{}
	for _, d := range dirs {
		expanded, err := runDirs(d)
		if err != nil {
			return History{}, err
		}
		for _, e := range expanded {
			r, err := Load(e)
			if err != nil {
				firstErr = cmp.Or(firstErr, err)
				warnings = append(warnings, fmt.Sprintf("left out: %v", err))
				continue
			}
			for _, w := range r.Warnings {
				warnings = append(warnings, e+": "+w)
			}
			id := r.Manifest.RunID
			i, seen := at[id]
			switch {
			case !seen:
				at[id], from[id] = len(runs), e
				runs = append(runs, r)
			case filepath.Clean(e) == filepath.Clean(from[id]):
				warnings = append(warnings, fmt.Sprintf("%s: run %s was given twice; counted once", e, id))
			case fuller(r, runs[i]):
				warnings = append(warnings, fmt.Sprintf("%s: run %s is also in %s; counted once, from here", e, id, from[id]))
				runs[i], from[id] = r, e
			default:
				warnings = append(warnings, fmt.Sprintf("%s: run %s is also in %s; counted once, from there", e, id, from[id]))
			}
		}
	}
	// A merge holds its shards: shard 1 has the merge's run ID (above), the
	// others their own, which the merge lists.
	merged := map[string]string{}
	for _, r := range runs {
		for _, id := range r.Manifest.MergedFrom {
			if id != r.Manifest.RunID {
				merged[id] = r.Manifest.RunID
			}
		}
	}
	runs = slices.DeleteFunc(runs, func(r *Run) bool {
		m, ok := merged[r.Manifest.RunID]
		if ok {
			warnings = append(warnings, fmt.Sprintf("%s: run %s is a shard of run %s, counted in its merge", from[r.Manifest.RunID], r.Manifest.RunID, m))
		}
		return ok
	})
	if len(runs) == 0 {
		if firstErr != nil {
			return History{}, firstErr
		}
		return History{}, errors.New("no run folder given")
	}
	h := NewHistory(runs)
	h.Warnings = append(warnings, h.Warnings...)
	return h, nil
}

// fuller reports whether a holds more of a run than b: the merge of its
// shards (which takes shard 1's run ID) over a shard, else more results.
func fuller(a, b *Run) bool {
	am, bm := len(a.Manifest.MergedFrom) > 0, len(b.Manifest.MergedFrom) > 0
	if am != bm {
		return am
	}
	return recorded(a) > recorded(b)
}

// recorded counts the attempts of a run that have a line.
func recorded(r *Run) int {
	n := 0
	for _, a := range r.Attempts {
		if a.Status != StatusNotRun {
			n++
		}
	}
	return n
}

// runDirs is dir itself when it is a run folder, else the run folders in it
// and in its folders, two levels down at most (a folder of downloaded
// artifacts, each holding a run folder).
func runDirs(dir string) ([]string, error) {
	if isRunDir(dir) {
		return []string{dir}, nil
	}
	if _, err := os.ReadDir(dir); err != nil {
		// Load words it best: no such folder, not a folder.
		_, lerr := Load(dir)
		if lerr == nil {
			lerr = err
		}
		return nil, lerr
	}
	var out []string
	level := []string{dir}
	for range 2 {
		var next []string
		for _, d := range level {
			entries, err := os.ReadDir(d)
			if err != nil {
				continue
			}
			for _, e := range entries {
				sub := filepath.Join(d, e.Name())
				switch {
				case !e.IsDir():
				case isRunDir(sub):
					out = append(out, sub)
				default:
					next = append(next, sub)
				}
			}
		}
		level = next
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: not a run folder and holds none (no %s in it or its folders)", dir, results.AttemptsFile)
	}
	return out, nil
}

func isRunDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, results.AttemptsFile))
	return err == nil
}

// NewHistory builds the history of runs, ordered by start time.
func NewHistory(runs []*Run) History {
	runs = append([]*Run(nil), runs...)
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i].Manifest, runs[j].Manifest
		if !a.Started.Equal(b.Started) {
			return a.Started.Before(b.Started)
		}
		return a.RunID < b.RunID
	})
	var h History
	hashes := map[string]bool{}
	for _, r := range runs {
		label := r.Manifest.RunID
		if !r.Manifest.Started.IsZero() {
			label = r.Manifest.Started.UTC().Format("01-02 15:04")
		}
		h.Runs = append(h.Runs, HistoryRun{ID: r.Manifest.RunID, Dir: r.Dir, Label: label, SuiteHash: r.Manifest.SuiteHash})
		hashes[r.Manifest.SuiteHash] = true
	}
	// Two runs started in the same minute would share a column head.
	labels := map[string]int{}
	for _, r := range h.Runs {
		labels[r.Label]++
	}
	for i, r := range h.Runs {
		if labels[r.Label] > 1 {
			h.Runs[i].Label = r.ID
		}
	}
	if len(hashes) > 1 {
		h.Warnings = append(h.Warnings, fmt.Sprintf("the runs used %d different suites (suite hashes differ); a task's rate may span changed task files", len(hashes)))
	}
	// compare refuses an agent change; here the runs are folded together,
	// so the reader must know the rates are not the model's alone.
	agents := map[string]bool{}
	for _, r := range runs {
		agents[r.Manifest.AgentName()] = true
	}
	if len(agents) > 1 {
		names := make([]string, 0, len(agents))
		for a := range agents {
			names = append(names, a)
		}
		sort.Strings(names)
		h.Warnings = append(h.Warnings, fmt.Sprintf("the runs were made by %d different agents (%s); a task's rate and flakiness mix the agents', not only the model's", len(names), strings.Join(names, ", ")))
	}
	var models, tasks []string
	seenM, seenT := map[string]bool{}, map[string]bool{}
	for _, r := range runs {
		for _, m := range r.models {
			if !seenM[m.Model] {
				seenM[m.Model] = true
				models = append(models, m.Model)
			}
		}
		for _, t := range r.tasks {
			if !seenT[t] {
				seenT[t] = true
				tasks = append(tasks, t)
			}
		}
	}
	for _, m := range models {
		hm := HistoryModel{Model: m}
		for _, r := range runs {
			var passed, scored, all, withVerdict int
			for _, t := range r.tasks {
				c := r.Cell(m, t)
				if c == nil || c.Scored() == 0 {
					continue
				}
				passed, scored, withVerdict = passed+c.Passed, scored+c.Scored(), withVerdict+1
				if c.AllPassed() {
					all++
				}
			}
			hm.Rates = append(hm.Rates, rateOf(passed, scored))
			var k *float64
			if withVerdict > 0 {
				k = ptr(float64(all) / float64(withVerdict))
			}
			hm.PassK = append(hm.PassK, k)
		}
		for _, t := range tasks {
			row := HistoryRow{Task: t}
			var passed, scored, chances, taken int
			var prev *bool
			ran := false
			for _, r := range runs {
				c := r.Cell(m, t)
				if c == nil || c.Scored() == 0 {
					row.Cells = append(row.Cells, nil)
					continue
				}
				ran = true
				row.Cells = append(row.Cells, rateOf(c.Passed, c.Scored()))
				passed, scored = passed+c.Passed, scored+c.Scored()
				if c.Scored() > 1 {
					chances++
					if c.Passed > 0 && c.AnyFailed() {
						taken++
						row.Mixed++
					}
				}
				verdict := c.AllPassed()
				if prev != nil {
					chances++
					if *prev != verdict {
						taken++
					}
				}
				prev = &verdict
			}
			if !ran {
				continue
			}
			row.Overall = rateOf(passed, scored)
			if chances > 0 {
				row.Flakiness = float64(taken) / float64(chances)
			}
			hm.Tasks = append(hm.Tasks, row)
		}
		h.Models = append(h.Models, hm)
	}
	return h
}

func historyCell(r *Rate) string {
	if r == nil {
		return markNone
	}
	if r.Scored == 1 {
		if r.Passed == 1 {
			return markPass
		}
		return markFail
	}
	return fmt.Sprintf("%d/%d", r.Passed, r.Scored)
}

func flakyText(row HistoryRow) string {
	s := strconv.FormatFloat(row.Flakiness, 'f', 2, 64)
	if row.Flaky() {
		s += " flaky"
	}
	return s
}

// tableFor is one model's table: a row per task, a column per night, then
// the pooled pass rate and the flakiness; the first rows are pass@1 and
// pass^k over the suite.
func (h History) tableFor(m HistoryModel) ([]string, [][]string) {
	heads := []string{"task"}
	for _, r := range h.Runs {
		heads = append(heads, r.Label)
	}
	heads = append(heads, "pass rate", "flakiness")
	row := []string{"pass@1"}
	for _, r := range m.Rates {
		if r == nil {
			row = append(row, markNone)
		} else {
			row = append(row, pct(r.Rate))
		}
	}
	rows := [][]string{append(row, "", "")}
	row = []string{"pass^k"}
	for _, k := range m.PassK {
		row = append(row, optRate(k))
	}
	rows = append(rows, append(row, "", ""))
	for _, t := range m.Tasks {
		row := []string{t.Task}
		for _, c := range t.Cells {
			row = append(row, historyCell(c))
		}
		rows = append(rows, append(row, t.Overall.text(), flakyText(t)))
	}
	return heads, rows
}

func (h History) flakyCount(m HistoryModel) int {
	n := 0
	for _, t := range m.Tasks {
		if t.Flaky() {
			n++
		}
	}
	return n
}

const historyNote = "n/m: passed of scored repeats; flakiness: share of nights whose repeats disagreed and of consecutive nights whose verdict flipped"

// Terminal writes the history for a terminal.
func (h History) Terminal(w io.Writer, color bool) error {
	p := painter(color)
	bw := bufio.NewWriter(w)
	for _, warn := range h.Warnings { // escaped where shown, as a run's report does
		fmt.Fprintln(bw, p.paint(ansiYellow, "warning: "+safetext.Line(warn)))
	}
	fmt.Fprintf(bw, "%s, %s to %s\n", plural(len(h.Runs), "run"), h.Runs[0].ID, h.Runs[len(h.Runs)-1].ID)
	for _, m := range h.Models {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, p.paint(ansiBold, fmt.Sprintf("%s · %s", m.Model, plural(h.flakyCount(m), "flaky task"))))
		heads, rows := h.tableFor(m)
		aligns := []tw.Align{tw.AlignLeft}
		for range len(heads) - 1 {
			aligns = append(aligns, tw.AlignRight)
		}
		if err := table(bw, heads, aligns, rows); err != nil {
			return err
		}
	}
	fmt.Fprintln(bw, p.paint(ansiDim, historyNote+"; "+historyNone))
	return bw.Flush()
}

// JSON writes the history for machines.
func (h History) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(h)
}

// Markdown writes the history with a mermaid chart of pass@1 per model.
func (h History) Markdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## goatbench: history\n\n")
	for _, warn := range h.Warnings {
		fmt.Fprintf(&b, "> [!WARNING]\n> %s\n\n", mdText(warn))
	}
	fmt.Fprintf(&b, "%s, `%s` to `%s`\n", plural(len(h.Runs), "run"),
		strings.ReplaceAll(h.Runs[0].ID, "`", "'"), strings.ReplaceAll(h.Runs[len(h.Runs)-1].ID, "`", "'"))
	for _, m := range h.Models {
		fmt.Fprintf(&b, "\n### %s · %s\n\n", mdText(m.Model), plural(h.flakyCount(m), "flaky task"))
		b.WriteString(h.mermaid(m))
		heads, rows := h.tableFor(m)
		right := []bool{false}
		for range len(heads) - 1 {
			right = append(right, true)
		}
		mdTable(&b, heads, right, rows)
	}
	fmt.Fprintf(&b, "\n<sub>%s; %s.</sub>\n", historyNote, historyNone)
	s := b.String()
	if len(s) > markdownBudget {
		s = cutLines(s, markdownBudget)
	}
	_, err := io.WriteString(w, s)
	return err
}

// historyNone is what the history's empty cells mean.
const historyNone = markNone + " no verdict (not run, or nothing but infrastructure errors)"

// mermaid is an xychart of pass@1 and pass^k per night; GitHub renders it
// in markdown. Syntax: https://mermaid.js.org/syntax/xyChart.html
// Mermaid has no gaps, and a night with no verdict drawn as 0 would read as
// a collapse, so the chart has only the nights the model has a rate for; it
// is empty when there is none.
func (h History) mermaid(m HistoryModel) string {
	var labels, bars, line []string
	for i, r := range m.Rates {
		if r == nil {
			continue
		}
		labels = append(labels, "\""+mermaidText(h.Runs[i].Label)+"\"")
		k := 0.0
		if m.PassK[i] != nil {
			k = *m.PassK[i] * 100
		}
		bars = append(bars, strconv.FormatFloat(r.Rate*100, 'f', 0, 64))
		line = append(line, strconv.FormatFloat(k, 'f', 0, 64))
	}
	if len(bars) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("```mermaid\nxychart-beta\n")
	fmt.Fprintf(&b, "    title \"%s: pass@1 (bars) and pass^k (line), %%\"\n", mermaidText(m.Model))
	fmt.Fprintf(&b, "    x-axis [%s]\n    y-axis \"%%\" 0 --> 100\n", strings.Join(labels, ", "))
	fmt.Fprintf(&b, "    bar [%s]\n    line [%s]\n```\n\n", strings.Join(bars, ", "), strings.Join(line, ", "))
	return b.String()
}

// mermaidText keeps a label inside its quotes and on its line, and out of
// mermaid's HTML labels.
func mermaidText(s string) string {
	return strings.NewReplacer("\"", "'", "\n", " ", "\r", " ", "`", "'", "<", "‹", ">", "›", "&", "+").Replace(oneLine(s, 60))
}

// HTML writes the history as a self-contained page: an SVG chart of pass@1
// per model over the nights, and the tables.
func (h History) HTML(w io.Writer) error {
	type table struct {
		Model string
		Flaky string
		Heads []string
		Rows  [][]string
	}
	view := struct {
		Warnings []string
		Span     string
		Chart    template.HTML
		Tables   []table
		Note     string
	}{Warnings: safeLines(h.Warnings), Span: fmt.Sprintf("%s, %s to %s", plural(len(h.Runs), "run"), h.Runs[0].ID, h.Runs[len(h.Runs)-1].ID),
		Chart: h.svg(), Note: historyNote + "; " + historyNone}
	for _, m := range h.Models {
		heads, rows := h.tableFor(m)
		view.Tables = append(view.Tables, table{m.Model, plural(h.flakyCount(m), "flaky task"), heads, rows})
	}
	if err := historyPage.Execute(w, view); err != nil {
		return fmt.Errorf("history.html: %w", err)
	}
	return nil
}

var historyColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"}

// svg draws pass@1 per model over the nights, one polyline each, broken
// where the model did not run, with a legend.
func (h History) svg() template.HTML {
	const left, top, plotW, plotH, legendRow = 48, 16, 640, 220, 18
	n := len(h.Runs)
	x := func(i int) float64 {
		if n == 1 {
			return left + plotW/2
		}
		return left + float64(i)*plotW/float64(n-1)
	}
	y := func(v float64) float64 { return top + (1-v)*plotH }
	height := top + plotH + 40 + legendRow*len(h.Models)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="pass rate per night">`, left+plotW+24, height)
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" font-size="11" text-anchor="end">%.0f%%</text>`,
			left, left+plotW, y(v), y(v), left-6, y(v)+4, v*100)
	}
	for i, r := range h.Runs {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x(i), top+plotH+16, template.HTMLEscapeString(r.Label))
	}
	for mi, m := range h.Models {
		color := historyColors[mi%len(historyColors)]
		var seg []string
		flush := func() {
			if len(seg) > 1 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(seg, " "))
			}
			seg = nil
		}
		for i, r := range m.Rates {
			if r == nil {
				flush()
				continue
			}
			seg = append(seg, fmt.Sprintf("%.1f,%.1f", x(i), y(r.Rate)))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>`,
				x(i), y(r.Rate), color, template.HTMLEscapeString(m.Model), template.HTMLEscapeString(h.Runs[i].Label), template.HTMLEscapeString(r.text()))
		}
		flush()
		ly := top + plotH + 36 + legendRow*mi
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`,
			left, ly-4, color, left+18, ly, template.HTMLEscapeString(m.Model))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

var historyPage = template.Must(template.New("history").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>goatbench history</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}.warn{color:#8a5a00}small{color:#555}</style>
</head><body>
<h1>goatbench: history</h1>
{{range .Warnings}}<p class="warn">warning: {{.}}</p>{{end}}
<p>{{.Span}}</p>
<h2>pass@1 per night</h2>
{{.Chart}}
{{range .Tables}}<h2>{{.Model}} · {{.Flaky}}</h2>
<table><tr>{{range .Heads}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}<p><small>{{.Note}}</small></p>
</body></html>
`))

func safeLines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = safetext.Line(l)
	}
	return out
}
