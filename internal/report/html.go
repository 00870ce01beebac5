package report

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"

	"github.com/goatbench/goatbench/internal/results"

	"github.com/goatbench/goatbench/internal/safetext"
)

// HTML writes report.html: one self-contained page (inline CSS and SVG, no
// script, nothing fetched) with the same tables as the markdown, a latency
// chart per model, and every failure in full.
func (r *Run) HTML(w io.Writer) error {
	if err := htmlPage.Execute(w, r.htmlView()); err != nil {
		return fmt.Errorf("report.html: %w", err)
	}
	return nil
}

type htmlView struct {
	Title     string
	Headline  []string
	RunLine   string
	Warnings  []string
	Heads     []htmlHead
	Rows      [][]htmlCell
	Models    []string
	Matrix    []htmlMatrixRow
	TierHeads []string
	TierRows  [][]string
	Legend    string
	Charts    []htmlChart
	Failures  []htmlFailure
}

type htmlHead struct {
	Text  string
	Right bool
}

type htmlCell struct {
	Text  string
	Right bool
	Class string
}

type htmlMatrixRow struct {
	Heading string // opens a tier's tasks
	Task    string
	Cells   []htmlCell
}

type htmlChart struct {
	Model         string
	Width, Height int
	Bars          []htmlBar
	Ticks         []htmlTick
	AxisY, TickY  int
	BarX, BarH    int
}

type htmlBar struct {
	Label      string
	Y, W       int
	TextY      int
	Value      string
	Class      string
	ValueX     int
	LabelRight int
}

type htmlTick struct {
	X     int
	Label string
}

type htmlFailure struct {
	Mark, Model, Name, Class, Wall, Reason string
	Checks                                 []results.Check
	LastToolCall, LastToolOutput, Final    string
	Transcript                             string
	Messages                               []htmlMessage // the conversation, when its file is at hand
	TranscriptNote                         string
}

// The chart's geometry in pixels.
const (
	chartLabelW = 150
	chartPlotW  = 480
	chartValueW = 60
	chartBarH   = 18
	chartGap    = 8
	chartTop    = 10
	chartAxisH  = 24
)

func (r *Run) htmlView() htmlView {
	v := htmlView{Title: "goatbench", Headline: r.headline(), RunLine: r.runLine()}
	v.Warnings = safeLines(r.Warnings)
	summaryColumns := r.summaryColumns()
	if r.Manifest.Suite != "" {
		v.Title += ": " + r.Manifest.Suite + " suite"
	}
	for _, c := range summaryColumns {
		v.Heads = append(v.Heads, htmlHead{c.head, c.right})
	}
	for _, s := range r.models {
		var row []htmlCell
		for _, c := range summaryColumns {
			cell := htmlCell{Text: c.cell(s), Right: c.right}
			if c.head == "pass rate" {
				cell.Class = rateClass(s)
			}
			row = append(row, cell)
		}
		v.Rows = append(v.Rows, row)
		v.Models = append(v.Models, s.Model)
	}
	v.TierHeads, v.TierRows = r.tierTable()
	for i, t := range r.tasks {
		if h := r.tierHeading(i); h != "" {
			v.Matrix = append(v.Matrix, htmlMatrixRow{Heading: h})
		}
		row := htmlMatrixRow{Task: t}
		for _, s := range r.models {
			c := r.Cell(s.Model, t)
			row.Cells = append(row.Cells, htmlCell{Text: c.markText(r.repeats()), Class: cellClass(c)})
		}
		v.Matrix = append(v.Matrix, row)
	}
	v.Legend = r.legend()
	for _, s := range r.models {
		if ch, ok := r.htmlChart(s.Model); ok {
			v.Charts = append(v.Charts, ch)
		}
	}
	for _, a := range r.failures() {
		class := a.FailureClass
		if class == "" {
			class = string(a.Status)
		}
		f := htmlFailure{Mark: statusMark(a.Status), Model: a.Model, Name: r.attemptName(a),
			Class: class, Wall: secs(a.WallSeconds), Reason: safetext.Line(a.Reason), Checks: safeChecks(a.Checks),
			LastToolCall: safetext.Block(a.LastToolCall), LastToolOutput: safetext.Block(a.LastToolOutput), Final: safetext.Block(a.FinalAnswer), Transcript: a.Transcript}
		f.Messages, f.TranscriptNote = r.htmlTranscript(a.Transcript)
		v.Failures = append(v.Failures, f)
	}
	return v
}

// safeChecks escapes what a check's name (a task's) and detail (often a
// command's output) may hold; html/template escapes markup, not controls.
func safeChecks(cs []results.Check) []results.Check {
	out := make([]results.Check, len(cs))
	for i, c := range cs {
		c.Name, c.Detail = safetext.Line(c.Name), safetext.Block(c.Detail)
		out[i] = c
	}
	return out
}

// htmlChart lays out a horizontal bar per task: its p50 attempt latency,
// coloured by how the task went.
func (r *Run) htmlChart(model string) (htmlChart, bool) {
	vals, top := r.taskLatencies(model)
	if top == 0 {
		return htmlChart{}, false
	}
	axis := niceCeil(top)
	ch := htmlChart{Model: model, Width: chartLabelW + chartPlotW + chartValueW, BarX: chartLabelW, BarH: chartBarH}
	y := chartTop
	for i, t := range r.tasks {
		w := int(vals[i] / axis * chartPlotW)
		if vals[i] > 0 {
			w = max(w, 1)
		}
		ch.Bars = append(ch.Bars, htmlBar{Label: t, Y: y, W: w, TextY: y + chartBarH - 5,
			Value: strconv.FormatFloat(vals[i], 'f', 1, 64) + " s", Class: cellClass(r.Cell(model, t)),
			ValueX: chartLabelW + w + 6, LabelRight: chartLabelW - 8})
		y += chartBarH + chartGap
	}
	ch.AxisY, ch.TickY = y, y+16
	for i := 0; i <= 4; i++ {
		ch.Ticks = append(ch.Ticks, htmlTick{X: chartLabelW + i*chartPlotW/4, Label: tickLabel(axis * float64(i) / 4)})
	}
	ch.Height = y + chartAxisH
	return ch, true
}

// tickLabel prints an axis value without float noise: 0.15, not 0.15000000000000002.
func tickLabel(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func rateClass(s ModelSummary) string {
	switch {
	case s.PassRate == nil:
		return "warn"
	case *s.PassRate == 1:
		return "pass"
	case *s.PassRate >= 0.5:
		return "warn"
	}
	return "fail"
}

func cellClass(c *Cell) string {
	switch {
	case c == nil, c.NotRun == len(c.Attempts):
		return "none"
	case c.Scored() == 0:
		return "error"
	case c.AllPassed() && c.Errors == 0:
		return "pass"
	case c.Passed == 0 && c.Timeouts > 0 && c.Failed == 0:
		return "timeout"
	case c.Passed == 0:
		return "fail"
	}
	return "warn"
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{"inc": func(n int) int { return n + 1 }}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #fff; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.headline { font-weight: 600; margin: 4px 0; }
.meta, .note { color: #59636e; font-size: 12px; }
.warning { background: #fff8c5; border: 1px solid #d4a72c; padding: 6px 10px; margin: 6px 0; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; white-space: nowrap; }
th { background: #eaeef2; text-align: left; }
/* The summary fits a 1400 px window: headers wrap between words, model names anywhere. */
#summary th { white-space: normal; vertical-align: bottom; }
#summary td:first-child { white-space: normal; overflow-wrap: anywhere; min-width: 10em; max-width: 16em; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
#matrix td.mark { text-align: center; }
td.pass { background: #dafbe1; } td.fail { background: #ffebe9; } td.warn { background: #fff8c5; }
td.timeout { background: #fbefff; } td.error { background: #fff1e5; } td.none { color: #8c959f; }
.chart { display: block; margin: 6px 0 18px; }
.chart text { font: 12px system-ui, sans-serif; fill: #1f2328; }
.chart .grid { stroke: #d0d7de; stroke-width: 1; }
rect.pass { fill: #1a7f37; } rect.fail { fill: #cf222e; } rect.warn { fill: #bf8700; }
rect.timeout { fill: #8250df; } rect.error { fill: #bc4c00; } rect.none { fill: #8c959f; }
details { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
summary { cursor: pointer; }
details.msg { margin: 4px 0; padding: 2px 8px; } details.msg > summary { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
details.msg.assistant { border-left: 3px solid #0969da; } details.msg.tool { border-left: 3px solid #8c959f; }
details.msg.user { border-left: 3px solid #1a7f37; } .role { font-weight: 600; font-family: ui-monospace, monospace; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Headline}}<div class="headline">{{.}}</div>
{{end}}<div class="meta">{{.RunLine}}</div>
{{range .Warnings}}<div class="warning">⚠ {{.}}</div>
{{end}}
<h2>Summary</h2>
<table id="summary">
<thead><tr>{{range .Heads}}<th{{if .Right}} class="num"{{end}}>{{.Text}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td class="{{if .Right}}num {{end}}{{.Class}}">{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<div class="note">Errors are infrastructure failures, counted neither as passes nor as fails. p50/p95: attempt wall time. Cost: GPU price × time the run held the model (Modal), or the proxy's reported cost (API).</div>

{{if .TierHeads}}<h2>Pass rate by tier</h2>
<table id="tiers">
<thead><tr>{{range $i, $h := .TierHeads}}<th{{if $i}} class="num"{{end}}>{{$h}}</th>{{end}}</tr></thead>
<tbody>
{{range .TierRows}}<tr>{{range $i, $c := .}}<td{{if $i}} class="num"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</tbody>
</table>

{{end}}<h2>Tasks</h2>
<table id="matrix">
<thead><tr><th>task</th>{{range .Models}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Matrix}}{{if .Heading}}<tr class="tier"><th colspan="{{len $.Models | inc}}" style="background: #f6f8fa">{{.Heading}}</th></tr>
{{else}}<tr><td>{{.Task}}</td>{{range .Cells}}<td class="mark {{.Class}}">{{.Text}}</td>{{end}}</tr>
{{end}}{{end}}</tbody>
</table>
<div class="note">{{.Legend}}</div>

<h2>Latency</h2>
<div class="note">Bars: p50 attempt wall time per task; green every judged repeat passed, amber some did, red none did, purple timed out, orange infrastructure errors only.</div>
{{range .Charts}}{{$c := .}}<figure>
<figcaption>{{.Model}}: p50 attempt latency per task (s)</figcaption>
<svg class="chart" role="img" aria-label="{{.Model}} latency per task" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" xmlns="http://www.w3.org/2000/svg">
{{range .Ticks}}<line class="grid" x1="{{.X}}" y1="0" x2="{{.X}}" y2="{{$c.AxisY}}"></line>
{{end}}{{range .Bars}}<text x="{{.LabelRight}}" y="{{.TextY}}" text-anchor="end">{{.Label}}</text>
<rect class="bar {{.Class}}" x="{{$c.BarX}}" y="{{.Y}}" width="{{.W}}" height="{{$c.BarH}}"></rect>
<text x="{{.ValueX}}" y="{{.TextY}}">{{.Value}}</text>
{{end}}{{range .Ticks}}<text x="{{.X}}" y="{{$c.TickY}}" text-anchor="middle">{{.Label}}</text>
{{end}}</svg>
</figure>
{{end}}
{{if .Failures}}<h2>Failures ({{len .Failures}})</h2>
{{range .Failures}}<details class="failure">
<summary>{{.Mark}} <b>{{.Model}}</b> · {{.Name}} · <code>{{.Class}}</code> · {{.Wall}} s</summary>
{{if .Reason}}<p><b>Reason:</b> {{.Reason}}</p>{{end}}
{{if .Checks}}<ul>{{range .Checks}}<li>{{if .Pass}}✓{{else}}✗{{end}} check <b>{{.Name}}</b>{{if .Detail}}: <code>{{.Detail}}</code>{{end}}</li>{{end}}</ul>{{end}}
{{if .LastToolCall}}<p>Last tool call:</p><pre>{{.LastToolCall}}</pre>{{end}}
{{if .LastToolOutput}}<p>Last tool output:</p><pre>{{.LastToolOutput}}</pre>{{end}}
{{if .Final}}<p>Final answer:</p><pre>{{.Final}}</pre>{{end}}
{{if .Messages}}<details class="transcript"><summary>Conversation ({{len .Messages}} steps)</summary>
{{range .Messages}}<details class="msg {{.Role}}"{{if .Open}} open{{end}}><summary><span class="role">{{.Role}}</span> {{.Summary}}</summary>
{{if .Text}}<pre>{{.Text}}</pre>{{end}}{{range .Calls}}<div class="call">tool call <b>{{.Name}}</b></div><pre>{{.Arguments}}</pre>{{end}}</details>
{{end}}</details>
{{end}}{{if .TranscriptNote}}<p class="note">{{.TranscriptNote}}</p>{{end}}
{{if .Transcript}}<p>Transcript: <code>{{.Transcript}}</code></p>{{end}}
</details>
{{end}}{{end}}</body>
</html>
`))
