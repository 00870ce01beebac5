package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/goatbench/goatbench/bench/tasks"
)

// TierRow is one tier of a run: how many of its tasks, and each model's
// counts over them, in the models' order.
type TierRow struct {
	Tier   string      `json:"tier"`
	Tasks  int         `json:"tasks"`
	Models []TierEntry `json:"models"`
}

// TierEntry is one model over the tasks of one tier.
type TierEntry struct {
	Model string `json:"model"`
	Counts
	// PassRate is Passed/Scored; nil when nothing was scored.
	PassRate *float64 `json:"pass_rate"`
}

// taskTiers maps the run's tasks to their tiers: from run.json, or, for runs
// recorded before run.json held them, from the embedded suite of that name.
func (r *Run) taskTiers() map[string]string {
	if len(r.Manifest.Tiers) > 0 {
		return r.Manifest.Tiers
	}
	if r.Manifest.Suite == "" {
		return nil
	}
	if m, ok := embeddedTiers.Load(r.Manifest.Suite); ok {
		return m.(map[string]string)
	}
	s, err := tasks.Load(r.Manifest.Suite)
	if err != nil {
		return nil
	}
	m := s.TaskTiers()
	embeddedTiers.Store(r.Manifest.Suite, m)
	return m
}

// embeddedTiers holds each embedded suite's tiers (read only) once parsed:
// parsing a suite took a sixth of a large report's time, paid again by every
// run a history or a comparison reads.
var embeddedTiers sync.Map

// tierOf is a task's tier, or "" when the run has no tiers.
func (r *Run) tierOf(task string) string {
	if r.tiers == nil {
		return ""
	}
	if t, ok := r.tiers[task]; ok && t != "" {
		return t
	}
	return tasks.Untiered
}

// groupByTier orders the run's tasks by tier (in tasks.Tiers order, then
// untiered), keeping the suite's order within a tier. A run without tiers
// keeps its order and shows no grouping.
func (r *Run) groupByTier() {
	tiers := r.taskTiers()
	tiered := false
	for _, t := range r.tasks {
		if tier := tiers[t]; tier != "" && tier != tasks.Untiered {
			tiered = true
		}
	}
	if !tiered {
		return
	}
	r.tiers = tiers
	rank := func(task string) int {
		if i := slices.Index(tasks.Tiers, r.tierOf(task)); i >= 0 {
			return i
		}
		return len(tasks.Tiers)
	}
	// Tiers no suite has (a hand-edited run.json) come last, each in one
	// block, by name.
	slices.SortStableFunc(r.tasks, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 || rank(a) < len(tasks.Tiers) {
			return d
		}
		return strings.Compare(r.tierOf(a), r.tierOf(b))
	})
	r.tierTasks = map[string]int{}
	for _, t := range r.tasks {
		r.tierTasks[r.tierOf(t)]++
	}
}

// TierRows is the pass rate per tier and model; empty when the run's tasks
// have no tiers.
func (r *Run) TierRows() []TierRow {
	if r.tiers == nil {
		return nil
	}
	var rows []TierRow
	for _, t := range r.tasks {
		tier := r.tierOf(t)
		if len(rows) == 0 || rows[len(rows)-1].Tier != tier {
			row := TierRow{Tier: tier}
			for _, m := range r.models {
				row.Models = append(row.Models, TierEntry{Model: m.Model})
			}
			rows = append(rows, row)
		}
		row := &rows[len(rows)-1]
		row.Tasks++
		for i, m := range r.models {
			if c := r.Cell(m.Model, t); c != nil {
				e := &row.Models[i]
				e.Passed += c.Passed
				e.Failed += c.Failed
				e.Timeouts += c.Timeouts
				e.Errors += c.Errors
				e.NotRun += c.NotRun
			}
		}
	}
	for i := range rows {
		for j := range rows[i].Models {
			e := &rows[i].Models[j]
			if n := e.Scored(); n > 0 {
				e.PassRate = ptr(float64(e.Passed) / float64(n))
			}
		}
	}
	return rows
}

// text is a model's cell in the tier table: "5/6 83%".
func (e TierEntry) text() string {
	if e.PassRate == nil {
		return dash
	}
	return fmt.Sprintf("%d/%d %s", e.Passed, e.Scored(), pct(*e.PassRate))
}

// tierHeading is the matrix row that opens a tier's tasks, or "" when the
// task is in the same tier as the one before it (or the run has no tiers).
func (r *Run) tierHeading(i int) string {
	if r.tiers == nil {
		return ""
	}
	tier := r.tierOf(r.tasks[i])
	if i > 0 && r.tierOf(r.tasks[i-1]) == tier {
		return ""
	}
	return fmt.Sprintf("%s (%s)", tier, plural(r.tierTasks[tier], "task"))
}

// tierTable is the tier table's header and rows, for every renderer.
func (r *Run) tierTable() ([]string, [][]string) {
	rows := r.TierRows()
	if len(rows) == 0 {
		return nil, nil
	}
	heads := []string{"tier", "tasks"}
	for _, m := range r.models {
		heads = append(heads, m.Model)
	}
	var out [][]string
	for _, row := range rows {
		cells := []string{row.Tier, fmt.Sprint(row.Tasks)}
		for _, e := range row.Models {
			cells = append(cells, e.text())
		}
		out = append(out, cells)
	}
	return heads, out
}

// mdTiers is the markdown section with the pass rate per tier and model.
func (r *Run) mdTiers() string {
	heads, rows := r.tierTable()
	if heads == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("### Pass rate by tier\n\n")
	right := make([]bool, len(heads))
	for i := 1; i < len(right); i++ {
		right[i] = true
	}
	mdTable(&b, heads, right, rows)
	b.WriteString("\n")
	return b.String()
}

// terminalTiers writes the tier table after the terminal summary, when the
// run's tasks have tiers.
func (r *Run) terminalTiers(w io.Writer) error {
	heads, rows := r.tierTable()
	if heads == nil {
		return nil
	}
	fmt.Fprintln(w)
	aligns := make([]tw.Align, len(heads))
	for i := range aligns {
		aligns[i] = align(i > 0)
	}
	return table(w, heads, aligns, rows)
}
