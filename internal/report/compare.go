package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/goatbench/goatbench/internal/results"

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
	// Alpha is the significance level of the pass-rate test; 0 means
	// DefaultAlpha.
	Alpha float64
	// Correction is how the per-task tests of one model share alpha:
	// CorrectionNone (each task at alpha) or CorrectionHolm.
	Correction string
}

// The multiple-comparison corrections of the per-task tests.
const (
	// CorrectionNone tests each task at alpha: most sensitive; with many
	// tasks, an unchanged one is now and then flagged.
	CorrectionNone = "none"
	// CorrectionHolm is Holm's step-down method (Holm 1979) over one model's
	// tasks: the chance of flagging any unchanged task of the model stays
	// below alpha, at the cost of missing smaller drops.
	CorrectionHolm = "holm"
)

func (o CompareOptions) alpha() float64 {
	if o.Alpha <= 0 {
		return DefaultAlpha
	}
	return o.Alpha
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
	ChangeWorse        Change = "worse"         // failed in base, and head passed a smaller share
	ChangeStillFailing Change = "still failing" // failed in base and in head
	ChangeNoVerdict    Change = "no verdict"    // only infrastructure errors on one side
	ChangeAdded        Change = "added"         // only in head
	ChangeRemoved      Change = "removed"       // only in base
	ChangeNotRun       Change = "not run"       // in base; head planned it, but stopped before it recorded a result
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
	// BaseRate and HeadRate are the pass rates with their Wilson intervals.
	BaseRate *Rate `json:"base_rate,omitempty"`
	HeadRate *Rate `json:"head_rate,omitempty"`
	// PValue is the one-sided exact test that head passes less often than
	// base; nil when either side had a single scored repeat (the rule is
	// then "passed in base, failed in head") or none.
	PValue *float64 `json:"p_value,omitempty"`
	// Flaky is set when head's repeats disagree: some passed, some failed.
	Flaky      bool `json:"flaky"`
	Regression bool `json:"regression"`
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
	// BaseShared and HeadShared pool the pass rates over the tasks both runs
	// scored, and PValue tests them with the same one-sided exact test.
	BaseShared     *Rate    `json:"base_shared_rate,omitempty"`
	HeadShared     *Rate    `json:"head_shared_rate,omitempty"`
	PValue         *float64 `json:"p_value,omitempty"`
	PassRegression bool     `json:"pass_regression"`
	// BasePassK and HeadPassK are pass^k: the share of tasks whose every
	// scored repeat passed, what counts for an agent that must be right
	// every time. The pass rates above are pass@1.
	BasePassK *float64 `json:"base_pass_k,omitempty"`
	HeadPassK *float64 `json:"head_pass_k,omitempty"`
	// Flaky counts the tasks whose head repeats disagree.
	Flaky int `json:"flaky_tasks"`
	// Unavailable is why head could not run the model at all: its deploy or
	// warm-up failed, or every attempt that ran ended in an infrastructure
	// error. It is a regression whatever the numbers say.
	Unavailable string `json:"unavailable,omitempty"`
	// HeadNotRun counts the attempts, on tasks base scored, that head
	// planned and never recorded: it stopped early (Ctrl-C, --max-duration,
	// a crash). They have no verdict, as an infrastructure error has none;
	// the stopped run's own exit code is what fails a job.
	HeadNotRun int `json:"head_not_run,omitempty"`
	// Why names what changed between base and head for a model that got
	// worse: failure classes, the served spec, the suite, the agent.
	Why []string `json:"why,omitempty"`
}

// Regressed reports whether the model counts against the gate.
func (m ModelDelta) Regressed() bool {
	return m.LatencyRegression || m.PassRegression || m.Unavailable != ""
}

// Comparison is base versus head, per model and per task.
type Comparison struct {
	BaseRun    string       `json:"base_run"`
	HeadRun    string       `json:"head_run"`
	Threshold  float64      `json:"latency_threshold"`
	Floor      float64      `json:"latency_floor_s"`
	Alpha      float64      `json:"alpha"`
	Correction string       `json:"correction"`
	Models     []ModelDelta `json:"models"`
	Tasks      []TaskDelta  `json:"tasks"`
	// Shared counts the (model, task) pairs both runs have.
	Shared int `json:"shared"`
	// Warnings say why the comparison may mislead: runs of different
	// suites, tasks or models on one side only.
	Warnings []string `json:"warnings,omitempty"`
}

// Compare compares two runs. A regression is a (model, task) whose pass rate
// fell significantly (one-sided Fisher exact test, p < alpha; with a single
// repeat on each side, one that passed in base and failed in head), a model
// whose pooled pass rate fell significantly, a model head could not deploy
// or warm, or a model whose p50 attempt latency rose beyond the threshold.
func Compare(base, head *Run, opts CompareOptions) Comparison {
	c := Comparison{BaseRun: base.Manifest.RunID, HeadRun: head.Manifest.RunID, Threshold: opts.threshold(), Floor: opts.floor(), Alpha: opts.alpha(), Correction: opts.Correction}
	if c.Correction == "" {
		c.Correction = CorrectionNone
	}
	inBase, headSum := map[string]ModelSummary{}, map[string]ModelSummary{}
	for _, m := range base.models {
		inBase[m.Model] = m
	}
	for _, m := range head.models {
		headSum[m.Model] = m
	}
	tasks := taskUnion(base.tasks, head.tasks)
	// Head's models first, in its order, then those only base ran.
	for _, name := range taskUnion(modelNames(base), modelNames(head)) {
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
		var bp, bn, hp, hn int
		var baseAll, baseTasks, headAll, headTasks int
		first := len(c.Tasks) // this model's deltas are appended together
		for _, task := range tasks {
			bc, hc := base.Cell(name, task), head.Cell(name, task)
			// What base scored and head planned but never recorded, in part
			// or whole: a run stopped early. What base did not have is
			// nothing to compare, whatever head did with it.
			planned := head.cell(name, task)
			if bc != nil && planned != nil {
				md.HeadNotRun += planned.NotRun
			}
			if bc == nil && hc == nil {
				continue
			}
			td := compareCell(name, task, bc, hc, c.Alpha)
			if hc == nil && planned != nil {
				td.Change = ChangeNotRun
			}
			if bc != nil && hc != nil {
				c.Shared++
				baseLat = append(baseLat, latencies(bc.Attempts)...)
				headLat = append(headLat, latencies(hc.Attempts)...)
				if td.Base.Scored() > 0 && td.Head.Scored() > 0 {
					bp, bn, hp, hn = bp+td.Base.Passed, bn+td.Base.Scored(), hp+td.Head.Passed, hn+td.Head.Scored()
				}
			}
			if bc != nil && bc.Scored() > 0 {
				baseTasks++
				if bc.AllPassed() {
					baseAll++
				}
			}
			if hc != nil && hc.Scored() > 0 {
				headTasks++
				if hc.AllPassed() {
					headAll++
				}
			}
			if td.Flaky {
				md.Flaky++
			}
			c.Tasks = append(c.Tasks, td)
		}
		if c.Correction == CorrectionHolm {
			holm(c.Tasks[first:], c.Alpha)
		}
		if baseTasks > 0 {
			md.BasePassK = ptr(float64(baseAll) / float64(baseTasks))
		}
		if headTasks > 0 {
			md.HeadPassK = ptr(float64(headAll) / float64(headTasks))
		}
		md.BaseShared, md.HeadShared = rateOf(bp, bn), rateOf(hp, hn)
		if bn > 1 || hn > 1 {
			md.PValue = ptr(fisherLess(bp, bn, hp, hn))
			md.PassRegression = *md.PValue < c.Alpha
		}
		if okH {
			md.Unavailable = unavailable(head, name)
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
	c.Warnings = overlapWarnings(base, head)
	explain(&c, base, head)
	return c
}

func compareCell(model, task string, bc, hc *Cell, alpha float64) TaskDelta {
	td := TaskDelta{Model: model, Task: task}
	if bc != nil {
		td.Base = bc.Counts
		td.BaseRate = rateOf(bc.Passed, bc.Scored())
		if bc.Scored() > 0 {
			td.BaseP50 = ptr(bc.P50())
		}
	}
	if hc != nil {
		td.Head = hc.Counts
		td.HeadRate = rateOf(hc.Passed, hc.Scored())
		td.Flaky = hc.Passed > 0 && hc.AnyFailed()
		if hc.Scored() > 0 {
			td.HeadP50 = ptr(hc.P50())
		}
	}
	td.LatencyChange = relChange(td.BaseP50, td.HeadP50)
	switch {
	case bc == nil:
		td.Change = ChangeAdded
		return td
	case hc == nil:
		td.Change = ChangeRemoved
		return td
	case td.Base.Scored() == 0 || td.Head.Scored() == 0:
		td.Change = ChangeNoVerdict
		return td
	case td.Base.AllPassed() && td.Head.AnyFailed():
		td.Change = ChangeNewlyFailing
	case td.Base.AllPassed():
		td.Change = ChangePassing
	case td.Head.AllPassed():
		td.Change = ChangeNewlyPassing
	case td.HeadRate.Rate < td.BaseRate.Rate:
		td.Change = ChangeWorse
	default:
		td.Change = ChangeStillFailing
	}
	if td.Base.Scored() == 1 && td.Head.Scored() == 1 {
		// One repeat each: no test can tell a change from chance, so the
		// rule is the plain one.
		td.Regression = td.Change == ChangeNewlyFailing
		return td
	}
	td.PValue = ptr(fisherLess(td.Base.Passed, td.Base.Scored(), td.Head.Passed, td.Head.Scored()))
	td.Regression = *td.PValue < alpha
	return td
}

// holm applies Holm's step-down method to the tested tasks: sorted by
// p-value, the i-th smallest of m is a regression while p < alpha/(m-i);
// the first that is not stops the rest. Tasks judged by the one-repeat rule
// are outside the family.
func holm(tasks []TaskDelta, alpha float64) {
	var idx []int
	for i, t := range tasks {
		if t.PValue != nil {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return *tasks[idx[a]].PValue < *tasks[idx[b]].PValue })
	m, stopped := len(idx), false
	for rank, i := range idx {
		stopped = stopped || *tasks[i].PValue >= alpha/float64(m-rank)
		tasks[i].Regression = !stopped
	}
}

// unavailable is why head could not run the model at all, "" when it ran:
// the manifest's error, or every attempt an infrastructure error of a failed
// deploy.
func unavailable(r *Run, model string) string {
	if info, ok := r.modelInfo(model); ok && info.Error != "" {
		return unavailableDeploy + ": " + oneLine(info.Error, 200)
	}
	n, deploy, errs, scored := 0, 0, 0, 0
	for _, t := range r.tasks {
		c := r.Cell(model, t)
		if c == nil {
			continue
		}
		for _, a := range c.Attempts {
			n++
			switch {
			case notRun(a):
			case a.Status == results.StatusError && a.FailureClass == results.ClassDeploy:
				deploy++
				errs++
			case a.Status == results.StatusError:
				errs++
			default:
				scored++
			}
		}
	}
	switch {
	case n > 0 && deploy == n:
		return unavailableDeploy
	case scored == 0 && errs > 0:
		// Errors leave the pass rate, so the numbers alone would say "ok".
		return fmt.Sprintf("%s: every attempt that ran ended in an infrastructure error (%d)", unavailableErrors, errs)
	}
	return ""
}

// The two ways head could not run a model, as Unavailable begins.
const (
	unavailableDeploy = "failed to deploy or warm"
	unavailableErrors = "no verdict"
)

// taskUnion is b's names in order, then a's that b lacks.
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

// Regressions counts the (model, task) pairs whose pass rate fell
// significantly, and per model: a pooled pass rate that fell significantly,
// a failed deploy or warm-up, a latency rise beyond the threshold.
func (c Comparison) Regressions() int {
	n := 0
	for _, t := range c.Tasks {
		if t.Regression {
			n++
		}
	}
	for _, m := range c.Models {
		for _, b := range []bool{m.LatencyRegression, m.PassRegression, m.Unavailable != ""} {
			if b {
				n++
			}
		}
	}
	return n
}

func (c Comparison) count(match func(TaskDelta) bool) int {
	n := 0
	for _, t := range c.Tasks {
		if match(t) {
			n++
		}
	}
	return n
}

func (c Comparison) countModels(match func(ModelDelta) bool) int {
	n := 0
	for _, m := range c.Models {
		if match(m) {
			n++
		}
	}
	return n
}

// headline is the one-line verdict.
func (c Comparison) headline() string {
	parts := []string{plural(c.Regressions(), "regression")}
	for _, ch := range []Change{ChangeNewlyFailing, ChangeWorse, ChangeNewlyPassing, ChangeStillFailing} {
		if n := c.count(func(t TaskDelta) bool { return t.Change == ch }); n > 0 || ch != ChangeWorse {
			parts = append(parts, fmt.Sprintf("%d %s", n, ch))
		}
	}
	if n := c.count(func(t TaskDelta) bool { return !t.Regression && t.PValue != nil && isDrop(t) }); n > 0 {
		parts = append(parts, fmt.Sprintf("%d within noise", n))
	}
	if n := c.count(func(t TaskDelta) bool { return t.Flaky }); n > 0 {
		parts = append(parts, fmt.Sprintf("%d flaky", n))
	}
	if n := c.countModels(func(m ModelDelta) bool { return m.PassRegression }); n > 0 {
		parts = append(parts, nWords(n, "model's pass rate fell", "models' pass rates fell"))
	}
	if n := c.countModels(func(m ModelDelta) bool { return strings.HasPrefix(m.Unavailable, unavailableDeploy) }); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", n, unavailableDeploy))
	}
	if n := c.countModels(func(m ModelDelta) bool { return m.HeadNotRun > 0 }); n > 0 {
		parts = append(parts, nWords(n, "model with attempts head never ran (no verdict)", "models with attempts head never ran (no verdict)"))
	}
	if n := c.countModels(func(m ModelDelta) bool { return strings.HasPrefix(m.Unavailable, unavailableErrors) }); n > 0 {
		parts = append(parts, fmt.Sprintf("%d with nothing but infrastructure errors", n))
	}
	if c.Threshold > 0 {
		slow := c.countModels(func(m ModelDelta) bool { return m.LatencyRegression })
		parts = append(parts, fmt.Sprintf("%d slower beyond +%.0f%%", slow, c.Threshold*100))
	}
	return strings.Join(parts, " · ")
}

// nWords counts n of a phrase whose plural is not the singular plus "s".
func nWords(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// isDrop reports whether head passed a smaller share than base.
func isDrop(t TaskDelta) bool {
	return t.BaseRate != nil && t.HeadRate != nil && t.HeadRate.Rate < t.BaseRate.Rate
}

// The tables' pairs are "base → head", as the line above them says.
var compareModelHeads = []string{"model", "pass@1", "p", "pass^k", "p50 (s)", "Δ p50", "cost ($)", "Δ cost", "verdict"}

// modelRows are the model table; wide adds the Wilson intervals of the
// pooled rates, which a terminal has no room for.
func (c Comparison) modelRows(wide bool) [][]string {
	var rows [][]string
	for _, m := range c.Models {
		var verdict []string
		switch {
		case !m.InHead:
			verdict = append(verdict, "missing in head")
		case !m.InBase:
			verdict = append(verdict, "new in head")
		}
		switch {
		case strings.HasPrefix(m.Unavailable, unavailableDeploy):
			verdict = append(verdict, unavailableDeploy)
		case m.Unavailable != "":
			verdict = append(verdict, "no verdict: infrastructure errors")
		case m.InHead && m.HeadPassRate == nil && m.HeadNotRun > 0:
			verdict = append(verdict, "no verdict in head: "+plural(m.HeadNotRun, "attempt")+" not run")
		case m.InHead && m.HeadPassRate == nil:
			verdict = append(verdict, "no verdict in head")
		case m.HeadNotRun > 0:
			verdict = append(verdict, plural(m.HeadNotRun, "attempt")+" not run in head")
		}
		if m.PassRegression {
			verdict = append(verdict, "pass rate fell")
		}
		for _, t := range c.Tasks {
			if t.Model == m.Model && t.Regression {
				verdict = append(verdict, "task regressed")
				break
			}
		}
		if m.LatencyRegression {
			verdict = append(verdict, "slower")
		}
		if len(verdict) == 0 {
			verdict = []string{"ok"}
		}
		pass := arrow(optRate(m.BasePassRate), optRate(m.HeadPassRate))
		switch {
		case m.BaseShared != nil && m.HeadShared != nil && wide:
			// The tested rates: over the tasks both runs scored.
			pass = arrow(m.BaseShared.text(), m.HeadShared.text())
		case m.BaseShared != nil && m.HeadShared != nil:
			pass = arrow(pct(m.BaseShared.Rate), pct(m.HeadShared.Rate))
		}
		rows = append(rows, []string{m.Model, pass, pText(m.PValue),
			arrow(optRate(m.BasePassK), optRate(m.HeadPassK)),
			pairText(m.BaseP50, m.HeadP50, m.LatencyChange, 1), signedPct(m.LatencyChange),
			costPair(m.BaseCost, m.HeadCost, m.CostChange), signedPct(m.CostChange), strings.Join(verdict, ", ")})
	}
	return rows
}

var compareTaskHeads = []string{"model", "task", "base", "head", "p", "change", "p50 (s)", "Δ p50"}

// changeRank puts what needs attention first in the task table.
var changeRank = map[Change]int{ChangeNewlyFailing: 0, ChangeWorse: 1, ChangeStillFailing: 2, ChangeNoVerdict: 3,
	ChangeNotRun: 4, ChangeNewlyPassing: 5, ChangeAdded: 6, ChangeRemoved: 7, ChangePassing: 8}

// taskRows lists every (model, task) that did not simply pass both times,
// regressions first.
func (c Comparison) taskRows() [][]string {
	tasks := append([]TaskDelta(nil), c.Tasks...)
	sort.SliceStable(tasks, func(i, j int) bool {
		if tasks[i].Regression != tasks[j].Regression {
			return tasks[i].Regression
		}
		return changeRank[tasks[i].Change] < changeRank[tasks[j].Change]
	})
	var rows [][]string
	for _, t := range tasks {
		if t.Change == ChangePassing {
			continue
		}
		change := string(t.Change)
		switch {
		case t.Regression:
			change += " (regression)"
		case t.PValue != nil && isDrop(t):
			change += " (noise)"
		}
		if t.Flaky {
			change += ", flaky"
		}
		rows = append(rows, []string{t.Model, t.Task, countsText(t.Base, t.BaseRate, t.Change == ChangeAdded),
			countsText(t.Head, t.HeadRate, t.Change == ChangeRemoved), pText(t.PValue),
			change, pairText(t.BaseP50, t.HeadP50, t.LatencyChange, 1), signedPct(t.LatencyChange)})
	}
	return rows
}

// countsText is "4/5 [38–96%]": passes of scored attempts, the Wilson
// interval when there was more than one, and the infrastructure errors.
func countsText(c Counts, r *Rate, absent bool) string {
	if absent {
		return dash
	}
	s := fmt.Sprintf("%d/%d", c.Passed, c.Scored())
	if r != nil && r.Scored > 1 {
		s += " [" + pctBare(r.Low) + "–" + pct(r.High) + "]"
	}
	if c.Errors > 0 {
		s += fmt.Sprintf(" %s%d", markError, c.Errors)
	}
	return s
}

// pText prints a p-value with the precision that matters near the usual
// thresholds.
func pText(p *float64) string {
	switch {
	case p == nil:
		return dash
	case *p < 0.001:
		return "<0.001"
	case *p < 0.01:
		return fmt.Sprintf("%.3f", *p)
	}
	return fmt.Sprintf("%.2f", *p)
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

// pairText prints "base → head" with the fewest decimals, from minDec up to
// 4, at which the printed values show the change printed beside them, so
// that 0.1 → 0.1 never sits beside +83%.
func pairText(a, b, change *float64, minDec int) string {
	if a == nil || b == nil || change == nil {
		return arrow(optDec(a, minDec), optDec(b, minDec))
	}
	want := signedPct(change)
	d := minDec
	for ; d < 4; d++ {
		ra, rb := roundTo(*a, d), roundTo(*b, d)
		if ra != 0 && signedPct(ptr(rb/ra-1)) == want {
			break
		}
	}
	return arrow(optDec(a, d), optDec(b, d))
}

// costPair is pairText with costText's precision as the least.
func costPair(a, b, change *float64) string {
	if a == nil || b == nil {
		return arrow(costText(a), costText(b))
	}
	return pairText(a, b, change, max(costDecimals(*a), costDecimals(*b)))
}

func costDecimals(v float64) int {
	switch {
	case v >= 1:
		return 2
	case v >= 0.01:
		return 3
	}
	return 4
}

func optDec(v *float64, d int) string {
	if v == nil {
		return dash
	}
	return strconv.FormatFloat(*v, 'f', d, 64)
}

func roundTo(v float64, d int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', d, 64), 64)
	return r
}

// Terminal writes the comparison for a terminal; colour only when asked.
func (c Comparison) Terminal(w io.Writer, color bool) error {
	p := painter(color)
	bw := bufio.NewWriter(w)
	for _, warn := range c.Warnings {
		fmt.Fprintln(bw, p.paint(ansiBold+ansiYellow, "WARNING: "+warn))
	}
	code := ansiGreen
	if c.Regressions() > 0 {
		code = ansiRed
	}
	fmt.Fprintln(bw, p.paint(ansiBold+code, c.headline()))
	fmt.Fprintln(bw, p.paint(ansiDim, fmt.Sprintf("base %s → head %s; pairs read base → head", c.BaseRun, c.HeadRun)))
	fmt.Fprintln(bw)
	rows := c.modelRows(false)
	last := len(compareModelHeads) - 1
	for _, r := range rows {
		if r[last] != "ok" {
			r[last] = p.paint(ansiRed, r[last])
		}
	}
	// A terminal has room for 100 columns: the cost pair stays in the files,
	// its change here.
	heads, rows := dropColumn(compareModelHeads, rows, 6)
	aligns := []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}
	if err := table(bw, heads, aligns, rows); err != nil {
		return err
	}
	fmt.Fprintln(bw)
	if rows = c.taskRows(); len(rows) == 0 {
		fmt.Fprintln(bw, "Every task passed in both runs.")
	} else {
		for _, r := range rows {
			switch {
			case strings.Contains(r[5], "(regression)"):
				r[5] = p.paint(ansiRed, r[5])
			case r[5] == string(ChangeNewlyPassing):
				r[5] = p.paint(ansiGreen, r[5])
			}
		}
		// Nor for the p50 pair; its change stays.
		heads, rows = dropColumn(compareTaskHeads, rows, 6)
		aligns = []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignRight}
		if err := table(bw, heads, aligns, rows); err != nil {
			return err
		}
	}
	for _, m := range c.Models {
		if len(m.Why) == 0 {
			continue
		}
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, p.paint(ansiBold, fmt.Sprintf("Why %s got worse:", m.Model)))
		for _, why := range m.Why {
			fmt.Fprintln(bw, "  - "+why)
		}
	}
	return bw.Flush()
}

// dropColumn leaves column i out of a table.
func dropColumn(heads []string, rows [][]string, i int) ([]string, [][]string) {
	out := make([][]string, len(rows))
	for j, r := range rows {
		out[j] = append(r[:i:i], r[i+1:]...)
	}
	return append(heads[:i:i], heads[i+1:]...), out
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
	for _, warn := range c.Warnings {
		fmt.Fprintf(&b, "> [!WARNING]\n> %s\n\n", mdText(warn))
	}
	fmt.Fprintf(&b, "**%s**\n\n", mdText(c.headline()))
	fmt.Fprintf(&b, "base `%s` → head `%s`; pairs read base → head\n\n", strings.ReplaceAll(c.BaseRun, "`", "'"), strings.ReplaceAll(c.HeadRun, "`", "'"))
	mdTable(&b, compareModelHeads, []bool{false, true, true, true, true, true, true, true, false}, c.modelRows(true))
	b.WriteString("\n")
	if rows := c.taskRows(); len(rows) == 0 {
		b.WriteString("Every task passed in both runs.\n")
	} else {
		b.WriteString("### Tasks that changed or still fail\n\n")
		mdTable(&b, compareTaskHeads, []bool{false, false, true, true, true, false, true, true}, rows)
	}
	for _, m := range c.Models {
		if len(m.Why) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### Why %s got worse\n\n", mdText(m.Model))
		for _, why := range m.Why {
			fmt.Fprintf(&b, "- %s\n", mdText(why))
		}
	}
	latency := "Latency was not checked."
	if c.Threshold > 0 {
		latency = fmt.Sprintf("So is a model whose p50 attempt latency (over the tasks both runs have) rose more than %.0f%% and by at least %s s.", c.Threshold*100, strconv.FormatFloat(c.Floor, 'f', -1, 64))
	}
	holmNote := ""
	if c.Correction == CorrectionHolm {
		holmNote = " (per task, Holm-corrected over each model's tasks)"
	}
	fmt.Fprintf(&b, "\n<sub>A regression is a pass rate that fell with p < %s%s in a one-sided Fisher exact test, per task and per model over the tasks both runs scored; with one repeat on each side, a task that passed in base and failed in head. A model that failed to deploy or warm is one too. %s Rates show 95%% Wilson intervals; pass^k is the share of tasks whose every repeat passed. %sn: infrastructure errors.</sub>\n",
		strconv.FormatFloat(c.Alpha, 'f', -1, 64), holmNote, latency, markError)
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
