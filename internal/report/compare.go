package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter/tw"
)

// DefaultLatencyThreshold is the p50 latency rise (25%) beyond which a model
// counts as regressed.
const DefaultLatencyThreshold = 0.25

// DefaultLatencyFloor is the p50 rise, in seconds, below which a latency
// change is noise whatever its percentage: 0.02 s → 0.03 s is +50%.
const DefaultLatencyFloor = 1.0

// CompareOptions tune what counts as a regression.
type CompareOptions struct {
	// LatencyThreshold is the relative p50 latency rise (0.25 for 25%) beyond
	// which a model has regressed; 0 means DefaultLatencyThreshold, and a
	// negative value turns the latency check off.
	LatencyThreshold float64
	// LatencyFloor is the smallest p50 rise in seconds that can count; 0
	// means DefaultLatencyFloor, a negative value none.
	LatencyFloor float64
}

func (o CompareOptions) floor() float64 {
	switch {
	case o.LatencyFloor == 0:
		return DefaultLatencyFloor
	case o.LatencyFloor < 0:
		return 0
	}
	return o.LatencyFloor
}

func (o CompareOptions) threshold() float64 {
	if o.LatencyThreshold == 0 {
		return DefaultLatencyThreshold
	}
	return o.LatencyThreshold
}

// Change is how one (model, task) moved from base to head.
type Change string

// The kinds of change.
const (
	ChangePassing      Change = "passing"       // every judged repeat passed, both times
	ChangeNewlyFailing Change = "newly failing" // passed every base repeat, failed a head repeat
	ChangeNewlyPassing Change = "newly passing" // failed in base, passed every head repeat
	ChangeStillFailing Change = "still failing" // failed in base and in head
	ChangeNoVerdict    Change = "no verdict"    // only infrastructure errors on one side
	ChangeAdded        Change = "added"         // only in head
	ChangeRemoved      Change = "removed"       // only in base
)

// TaskDelta compares one model on one task.
type TaskDelta struct {
	Model         string   `json:"model"`
	Task          string   `json:"task"`
	Base          Counts   `json:"base"`
	Head          Counts   `json:"head"`
	Change        Change   `json:"change"`
	BaseP50       *float64 `json:"base_latency_p50_s"`
	HeadP50       *float64 `json:"head_latency_p50_s"`
	LatencyChange *float64 `json:"latency_change"` // relative: 0.1 is +10%
	Regression    bool     `json:"regression"`
}

// ModelDelta compares one model across the two runs.
type ModelDelta struct {
	Model        string   `json:"model"`
	InBase       bool     `json:"in_base"`
	InHead       bool     `json:"in_head"`
	BasePassRate *float64 `json:"base_pass_rate"`
	HeadPassRate *float64 `json:"head_pass_rate"`
	// BaseP50 and HeadP50 are p50 attempt latencies over the tasks both runs
	// have, so an added or removed task does not move them.
	BaseP50           *float64 `json:"base_latency_p50_s"`
	HeadP50           *float64 `json:"head_latency_p50_s"`
	LatencyChange     *float64 `json:"latency_change"`
	BaseCost          *float64 `json:"base_cost_usd"`
	HeadCost          *float64 `json:"head_cost_usd"`
	CostChange        *float64 `json:"cost_change"`
	LatencyRegression bool     `json:"latency_regression"`
}

// Comparison is base versus head, per model and per task.
type Comparison struct {
	BaseRun   string       `json:"base_run"`
	HeadRun   string       `json:"head_run"`
	Threshold float64      `json:"latency_threshold"`
	Floor     float64      `json:"latency_floor_s"`
	Models    []ModelDelta `json:"models"`
	Tasks     []TaskDelta  `json:"tasks"`
}

// Compare compares two runs. A regression is a (model, task) that passed
// every base repeat and failed a head repeat, or a model whose p50 attempt
// latency rose beyond the threshold.
func Compare(base, head *Run, opts CompareOptions) Comparison {
	c := Comparison{BaseRun: base.Manifest.RunID, HeadRun: head.Manifest.RunID, Threshold: opts.threshold(), Floor: opts.floor()}
	inBase := map[string]ModelSummary{}
	for _, m := range base.models {
		inBase[m.Model] = m
	}
	var order []string
	seen := map[string]bool{}
	for _, m := range head.models {
		order, seen[m.Model] = append(order, m.Model), true
	}
	for _, m := range base.models {
		if !seen[m.Model] {
			order = append(order, m.Model)
		}
	}
	headSum := map[string]ModelSummary{}
	for _, m := range head.models {
		headSum[m.Model] = m
	}
	for _, name := range order {
		bs, okB := inBase[name]
		hs, okH := headSum[name]
		md := ModelDelta{Model: name, InBase: okB, InHead: okH}
		if okB {
			md.BasePassRate, md.BaseCost = bs.PassRate, bs.CostUSD
		}
		if okH {
			md.HeadPassRate, md.HeadCost = hs.PassRate, hs.CostUSD
		}
		md.CostChange = relChange(md.BaseCost, md.HeadCost)
		var baseLat, headLat []float64
		for _, task := range taskUnion(base.tasks, head.tasks) {
			bc, hc := base.Cell(name, task), head.Cell(name, task)
			if bc == nil && hc == nil {
				continue
			}
			td := compareCell(name, task, bc, hc)
			if bc != nil && hc != nil {
				baseLat = append(baseLat, latencies(bc.Attempts)...)
				headLat = append(headLat, latencies(hc.Attempts)...)
			}
			c.Tasks = append(c.Tasks, td)
		}
		if len(baseLat) > 0 && len(headLat) > 0 {
			sort.Float64s(baseLat)
			sort.Float64s(headLat)
			md.BaseP50, md.HeadP50 = ptr(percentile(baseLat, 50)), ptr(percentile(headLat, 50))
			md.LatencyChange = relChange(md.BaseP50, md.HeadP50)
			md.LatencyRegression = c.Threshold > 0 && md.LatencyChange != nil && *md.LatencyChange > c.Threshold &&
				*md.HeadP50-*md.BaseP50 >= c.Floor
		}
		c.Models = append(c.Models, md)
	}
	return c
}

func compareCell(model, task string, bc, hc *Cell) TaskDelta {
	td := TaskDelta{Model: model, Task: task}
	if bc != nil {
		td.Base = bc.Counts
		if bc.Scored() > 0 {
			td.BaseP50 = ptr(bc.P50())
		}
	}
	if hc != nil {
		td.Head = hc.Counts
		if hc.Scored() > 0 {
			td.HeadP50 = ptr(hc.P50())
		}
	}
	td.LatencyChange = relChange(td.BaseP50, td.HeadP50)
	switch {
	case bc == nil:
		td.Change = ChangeAdded
	case hc == nil:
		td.Change = ChangeRemoved
	case td.Base.Scored() == 0 || td.Head.Scored() == 0:
		td.Change = ChangeNoVerdict
	case td.Base.AllPassed() && td.Head.AnyFailed():
		td.Change, td.Regression = ChangeNewlyFailing, true
	case td.Base.AllPassed():
		td.Change = ChangePassing
	case td.Head.AllPassed():
		td.Change = ChangeNewlyPassing
	default:
		td.Change = ChangeStillFailing
	}
	return td
}

func taskUnion(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range append(append([]string(nil), b...), a...) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func relChange(base, head *float64) *float64 {
	if base == nil || head == nil || *base == 0 {
		return nil
	}
	return ptr(*head / *base - 1)
}

// Regressions counts the (model, task) pairs that newly fail and the models
// whose latency rose beyond the threshold.
func (c Comparison) Regressions() int {
	n := 0
	for _, t := range c.Tasks {
		if t.Regression {
			n++
		}
	}
	for _, m := range c.Models {
		if m.LatencyRegression {
			n++
		}
	}
	return n
}

func (c Comparison) count(ch Change) int {
	n := 0
	for _, t := range c.Tasks {
		if t.Change == ch {
			n++
		}
	}
	return n
}

// headline is the one-line verdict.
func (c Comparison) headline() string {
	n := c.Regressions()
	word := "regressions"
	if n == 1 {
		word = "regression"
	}
	parts := []string{fmt.Sprintf("%d %s", n, word)}
	for _, ch := range []Change{ChangeNewlyFailing, ChangeNewlyPassing, ChangeStillFailing} {
		parts = append(parts, fmt.Sprintf("%d %s", c.count(ch), ch))
	}
	if c.Threshold > 0 {
		slow := 0
		for _, m := range c.Models {
			if m.LatencyRegression {
				slow++
			}
		}
		parts = append(parts, fmt.Sprintf("%d slower beyond +%.0f%%", slow, c.Threshold*100))
	}
	return strings.Join(parts, " · ")
}

var compareModelHeads = []string{"model", "pass rate (base → head)", "p50 (s) (base → head)", "Δ p50", "cost ($) (base → head)", "Δ cost", "verdict"}

func (c Comparison) modelRows() [][]string {
	var rows [][]string
	for _, m := range c.Models {
		verdict := "ok"
		switch {
		case !m.InHead:
			verdict = "missing in head"
		case !m.InBase:
			verdict = "new in head"
		case m.LatencyRegression:
			verdict = "slower"
		}
		for _, t := range c.Tasks {
			if t.Model == m.Model && t.Regression {
				verdict = strings.TrimPrefix(verdict+", newly failing", "ok, ")
				break
			}
		}
		rows = append(rows, []string{m.Model,
			arrow(optRate(m.BasePassRate), optRate(m.HeadPassRate)),
			arrow(opt(m.BaseP50, "%.1f"), opt(m.HeadP50, "%.1f")), signedPct(m.LatencyChange),
			arrow(costText(m.BaseCost), costText(m.HeadCost)), signedPct(m.CostChange), verdict})
	}
	return rows
}

var compareTaskHeads = []string{"model", "task", "base", "head", "change", "p50 (s) (base → head)", "Δ p50"}

// changeRank puts what needs attention first in the task table.
var changeRank = map[Change]int{ChangeNewlyFailing: 0, ChangeStillFailing: 1, ChangeNoVerdict: 2,
	ChangeNewlyPassing: 3, ChangeAdded: 4, ChangeRemoved: 5, ChangePassing: 6}

// taskRows lists every (model, task) that did not simply pass both times,
// regressions first.
func (c Comparison) taskRows() [][]string {
	tasks := append([]TaskDelta(nil), c.Tasks...)
	sort.SliceStable(tasks, func(i, j int) bool { return changeRank[tasks[i].Change] < changeRank[tasks[j].Change] })
	var rows [][]string
	for _, t := range tasks {
		if t.Change == ChangePassing {
			continue
		}
		change := string(t.Change)
		if t.Regression {
			change += " (regression)"
		}
		rows = append(rows, []string{t.Model, t.Task, countsText(t.Base, t.Change == ChangeAdded), countsText(t.Head, t.Change == ChangeRemoved),
			change, arrow(opt(t.BaseP50, "%.1f"), opt(t.HeadP50, "%.1f")), signedPct(t.LatencyChange)})
	}
	return rows
}

func countsText(c Counts, absent bool) string {
	if absent {
		return dash
	}
	s := fmt.Sprintf("%d/%d", c.Passed, c.Scored())
	if c.Errors > 0 {
		s += fmt.Sprintf(" %s%d", markError, c.Errors)
	}
	return s
}

func optRate(v *float64) string {
	if v == nil {
		return dash
	}
	return pct(*v)
}

func arrow(a, b string) string { return a + " → " + b }

func signedPct(v *float64) string {
	if v == nil {
		return dash
	}
	return fmt.Sprintf("%+.0f%%", *v*100)
}

// Terminal writes the comparison for a terminal; colour only when asked.
func (c Comparison) Terminal(w io.Writer, color bool) error {
	p := painter(color)
	bw := bufio.NewWriter(w)
	code := ansiGreen
	if c.Regressions() > 0 {
		code = ansiRed
	}
	fmt.Fprintln(bw, p.paint(ansiBold+code, c.headline()))
	fmt.Fprintln(bw, p.paint(ansiDim, fmt.Sprintf("base %s → head %s", c.BaseRun, c.HeadRun)))
	fmt.Fprintln(bw)
	rows := c.modelRows()
	for _, r := range rows {
		if r[6] != "ok" {
			r[6] = p.paint(ansiRed, r[6])
		}
	}
	aligns := []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}
	if err := table(bw, compareModelHeads, aligns, rows); err != nil {
		return err
	}
	fmt.Fprintln(bw)
	if rows = c.taskRows(); len(rows) == 0 {
		fmt.Fprintln(bw, "Every task passed in both runs.")
	} else {
		for _, r := range rows {
			switch {
			case strings.HasSuffix(r[4], "(regression)"):
				r[4] = p.paint(ansiRed, r[4])
			case r[4] == string(ChangeNewlyPassing):
				r[4] = p.paint(ansiGreen, r[4])
			}
		}
		aligns = []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignRight}
		if err := table(bw, compareTaskHeads, aligns, rows); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// JSON writes the comparison for machines, with its regression count.
func (c Comparison) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Regressions int `json:"regressions"`
		Comparison
	}{c.Regressions(), c})
}

// CompareMarker opens the markdown comparison, so a workflow can find and
// update its comment.
const CompareMarker = "<!-- goatbench-compare -->"

// Markdown writes the comparison for a pull request or a job summary.
func (c Comparison) Markdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString(CompareMarker + "\n## goatbench: compared with the previous run\n\n")
	fmt.Fprintf(&b, "**%s**\n\n", mdText(c.headline()))
	fmt.Fprintf(&b, "base `%s` → head `%s`\n\n", strings.ReplaceAll(c.BaseRun, "`", "'"), strings.ReplaceAll(c.HeadRun, "`", "'"))
	mdTable(&b, compareModelHeads, []bool{false, true, true, true, true, true, false}, c.modelRows())
	b.WriteString("\n")
	if rows := c.taskRows(); len(rows) == 0 {
		b.WriteString("Every task passed in both runs.\n")
	} else {
		b.WriteString("### Tasks that changed or still fail\n\n")
		mdTable(&b, compareTaskHeads, []bool{false, false, true, true, false, true, true}, rows)
	}
	latency := "latency was not checked"
	if c.Threshold > 0 {
		latency = fmt.Sprintf("or a model whose p50 attempt latency (over the tasks both runs have) rose more than %.0f%% and by at least %s s", c.Threshold*100, strconv.FormatFloat(c.Floor, 'f', -1, 64))
	}
	fmt.Fprintf(&b, "\n<sub>A regression is a task that passed every base repeat and failed a head repeat, %s. %sn: infrastructure errors.</sub>\n", latency, markError)
	s := b.String()
	if len(s) > markdownBudget {
		s = cutLines(s, markdownBudget)
	}
	_, err := io.WriteString(w, s)
	return err
}

func mdTable(b *strings.Builder, heads []string, right []bool, rows [][]string) {
	hs := make([]string, len(heads))
	rule := make([]string, len(heads))
	for i, h := range heads {
		hs[i], rule[i] = mdText(h), "---"
		if right[i] {
			rule[i] = "---:"
		}
	}
	mdRow(b, hs)
	mdRow(b, rule)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = mdText(v)
		}
		mdRow(b, cells)
	}
}
