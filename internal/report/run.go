// Package report turns a run folder (results.jsonl and run.json) into the
// tables, charts and files people and CI read: a terminal summary, markdown
// for pull requests, summary.json, JUnit XML, a self-contained HTML page, and
// the comparison of two runs. It reads files only and never calls the runner.
package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/safetext"
)

// Run is one run folder, loaded and aggregated.
type Run struct {
	Dir      string
	Manifest results.Manifest
	Attempts []results.Attempt
	// Warnings are problems that did not stop the report: a torn last line,
	// a missing run.json, duplicated or missing attempts.
	Warnings []string
	// Wide makes the terminal summary show every column, not only the key ones.
	Wide bool

	models []ModelSummary // sorted: pass rate, then wall time
	rep    int            // attempts per task and model the run intended
	tasks  []string       // the manifest's order, then tasks seen only in results
	cells  map[string]map[string]*Cell
	tiers  map[string]string // task → tier; nil when the run's tasks have none
	// tierTasks counts the tasks of each tier (with tiers).
	tierTasks map[string]int
	// info is each model's entry in the manifest, by name.
	info map[string]int
	// lines are every line of a resumed run, superseded ones too (see New).
	lines []results.Attempt
}

// Load reads a run folder. A torn last line becomes a warning; a missing or
// empty results.jsonl is an error that says so in one line.
func Load(dir string) (*Run, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%s: no such run folder", dir)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", dir, err)
	case !st.IsDir():
		return nil, fmt.Errorf("%s: not a run folder (expected a directory holding %s and %s)", dir, results.AttemptsFile, results.ManifestFile)
	}
	attempts, warnings, err := results.ReadAttempts(dir)
	if err != nil {
		if errors.Is(err, results.ErrNoRun) {
			return nil, fmt.Errorf("%s: no %s: not a run folder, or the run wrote no attempt", dir, results.AttemptsFile)
		}
		return nil, err
	}
	if err := withinOneRun(attempts); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, results.AttemptsFile), err)
	}
	man, err := results.ReadManifest(dir)
	if len(attempts) == 0 {
		if err == nil && len(man.Tasks) > 0 && len(man.Models) > 0 {
			// A run stopped before its first attempt ended (in a deploy, say):
			// its plan says what was not run.
			warnings = append(warnings, fmt.Sprintf("%s: no attempt finished: the run stopped before its first one ended", dir))
			r := New(man, nil, warnings)
			r.Dir = dir
			return r, nil
		}
		msg := "holds no attempt"
		if len(warnings) > 0 {
			msg = "holds no complete attempt (its only line is torn)"
		}
		return nil, fmt.Errorf("%s: %s", filepath.Join(dir, results.AttemptsFile), msg)
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		// The attempts alone still make a report; the manifest only adds
		// prices, cold starts and the intended task list.
		warnings = append(warnings, fmt.Sprintf("%s: no %s; prices, cold starts and run times are unknown", dir, results.ManifestFile))
		man = results.Manifest{RunID: attempts[0].RunID}
	}
	if man.RunID == "" {
		man.RunID = attempts[0].RunID // a manifest without one (hand-made, or cut short)
	}
	r := New(man, attempts, warnings)
	r.Dir = dir
	return r, nil
}

// shown is the run with every name and label a format shows as safetext
// makes it: model and task names, failure classes, the run's ID, suite,
// version, sandbox and tiers. A run never writes them with a control
// character (registry keys and task IDs have strict patterns, --model-name
// refuses one), but a run folder can come from anywhere, and they would reach
// a terminal, report.md or report.html as they are: escape sequences,
// newlines that end a markdown block, bidirectional overrides. Manifest and
// attempts change alike, so they still match, and clean text is unchanged.
// The agent, a user's command kept exact in JSON, is escaped where it is
// shown. The attempts are copied when one changes.
func shown(man results.Manifest, attempts []results.Attempt, warnings []string) (results.Manifest, []results.Attempt, []string) {
	l := safetext.Line
	man.RunID, man.Version, man.Suite, man.SuiteHash = l(man.RunID), l(man.Version), l(man.Suite), l(man.SuiteHash)
	man.Sandbox, man.SandboxBinary, man.SandboxWarning = l(man.Sandbox), l(man.SandboxBinary), l(man.SandboxWarning)
	man.Tasks = slices.Clone(man.Tasks)
	for i := range man.Tasks {
		man.Tasks[i] = l(man.Tasks[i])
	}
	man.Models = slices.Clone(man.Models)
	for i := range man.Models {
		m := &man.Models[i]
		m.Name, m.Key, m.Kind, m.BaseURL, m.ModelID, m.GPU, m.SpecHash, m.Error = l(m.Name), l(m.Key), l(m.Kind), l(m.BaseURL), l(m.ModelID), l(m.GPU), l(m.SpecHash), l(m.Error)
	}
	if man.Tiers != nil {
		tiers := make(map[string]string, len(man.Tiers))
		for k, v := range man.Tiers {
			tiers[l(k)] = l(v)
		}
		man.Tiers = tiers
	}
	copied := false
	for i := range attempts {
		a := &attempts[i]
		if a.Model == l(a.Model) && a.Task == l(a.Task) && a.FailureClass == l(a.FailureClass) && a.RunID == l(a.RunID) {
			continue
		}
		if !copied {
			attempts, copied = slices.Clone(attempts), true
			a = &attempts[i]
		}
		a.Model, a.Task, a.FailureClass, a.RunID = l(a.Model), l(a.Task), l(a.FailureClass), l(a.RunID)
	}
	out := make([]string, len(warnings))
	for i, w := range warnings {
		out[i] = l(w)
	}
	return man, attempts, out
}

// withinOneRun refuses attempts of more models × tasks than one run holds:
// every format has a cell per model and task, so 4,000 lines that each name
// a model and a task of their own would make 16 million.
func withinOneRun(attempts []results.Attempt) error {
	models, tasks := map[string]bool{}, map[string]bool{}
	for _, a := range attempts {
		models[a.Model], tasks[a.Task] = true, true
	}
	if err := results.CheckAttempts(len(tasks), len(models), 1); err != nil {
		return fmt.Errorf("its lines name %d models and %d tasks, more than one run holds", len(models), len(tasks))
	}
	return nil
}

// New aggregates a manifest and its attempts; Load calls it, and tests can
// build a run in memory with it.
func New(man results.Manifest, attempts []results.Attempt, warnings []string) *Run {
	man, attempts, warnings = shown(man, attempts, warnings)
	r := &Run{Manifest: man}
	// Each model's entry, looked up by every format: a scan per lookup made
	// a run of 100,000 models take minutes.
	r.info = make(map[string]int, len(man.Models))
	for i, m := range man.Models {
		if _, dup := r.info[m.Name]; !dup {
			r.info[m.Name] = i
		}
	}
	// First: every report shows its warnings at the top, and this one says
	// the model's commands could reach this machine.
	if man.SandboxWarning != "" {
		r.Warnings = append(r.Warnings, man.SandboxWarning)
	}
	r.Warnings = append(r.Warnings, warnings...)
	if len(sittings(man)) > 0 {
		// Times are summed per sitting over every line, a superseded one
		// too: a sitting whose lines a resume ran again still took its time.
		r.lines = attempts
	}
	r.Attempts = r.dedupe(attempts)
	r.index()
	return r
}

// dedupe keeps the last line of each (model, task, repeat): the stream is
// append-only, so a later line supersedes an earlier one.
func (r *Run) dedupe(in []results.Attempt) []results.Attempt {
	last := make(map[string]int, len(in))
	for i, a := range in {
		last[a.Key()] = i
	}
	if len(last) == len(in) {
		return append([]results.Attempt(nil), in...)
	}
	out := make([]results.Attempt, 0, len(last))
	twice := 0
	for i, a := range in {
		switch {
		case last[a.Key()] == i:
			out = append(out, a)
		case notRun(a) || a.Status == results.StatusError:
			// A resume runs again what was not run (and, with --retry-errors,
			// what errored): superseding those lines is what it is for.
		default:
			twice++
		}
	}
	if twice > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d attempts were recorded more than once; the last record of each counts", twice))
	}
	return out
}

func (r *Run) index() {
	r.cells = map[string]map[string]*Cell{}
	seenTask := map[string]bool{}
	for _, t := range r.Manifest.Tasks {
		if !seenTask[t] {
			seenTask[t] = true
			r.tasks = append(r.tasks, t)
		}
	}
	byModel := map[string][]results.Attempt{}
	var order []string
	for _, m := range r.Manifest.Models {
		if _, ok := byModel[m.Name]; !ok {
			byModel[m.Name] = nil
			order = append(order, m.Name)
		}
	}
	for _, a := range r.Attempts {
		if _, ok := byModel[a.Model]; !ok {
			order = append(order, a.Model)
		}
		byModel[a.Model] = append(byModel[a.Model], a)
		if !seenTask[a.Task] {
			seenTask[a.Task] = true
			r.tasks = append(r.tasks, a.Task)
		}
		row := r.cells[a.Model]
		if row == nil {
			row = map[string]*Cell{}
			r.cells[a.Model] = row
		}
		c := row[a.Task]
		if c == nil {
			c = &Cell{}
			row[a.Task] = c
		}
		c.add(a)
	}
	r.rep = max(r.Manifest.Repeat, 1)
	r.planned(byModel)
	for _, row := range r.cells {
		for _, c := range row {
			sort.SliceStable(c.Attempts, func(i, j int) bool { return c.Attempts[i].Repeat < c.Attempts[j].Repeat })
			r.rep = max(r.rep, len(c.Attempts))
		}
	}
	resumed := sittings(r.Manifest)
	linesOf := map[string][]results.Attempt{}
	for _, a := range r.lines {
		linesOf[a.Model] = append(linesOf[a.Model], a)
	}
	for _, name := range order {
		info, _ := r.modelInfo(name)
		if info.Error != "" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %s", name, oneLine(info.Error, 300)))
		}
		s := summarize(info, byModel[name], resumed)
		if r.lines != nil {
			s.WallSeconds = wallSpan(linesOf[name], resumed)
		}
		r.models = append(r.models, s)
	}
	sort.SliceStable(r.models, func(i, j int) bool { return r.models[i].less(r.models[j]) })
	r.groupByTier()
}

// planned adds the attempts the manifest planned that have no line (the run
// was stopped or killed before them) as not run, so every count and format
// shows them, and the totals add up to the plan.
func (r *Run) planned(byModel map[string][]results.Attempt) {
	if len(r.Manifest.Tasks) == 0 || r.Manifest.Repeat < 1 {
		return
	}
	var own map[string]bool // a shard's folder plans only its share
	if sh := r.Manifest.Shard; sh != nil && !sh.Whole() {
		var names []string
		for _, m := range r.Manifest.Models {
			names = append(names, m.Name)
		}
		own = results.ShardOf(*sh, names, r.Manifest.Tasks, r.Manifest.Repeat)
	}
	for _, m := range r.Manifest.Models {
		for _, t := range r.Manifest.Tasks {
			// The repeats the cell has a line for, looked up once: a search
			// of the cell per repeat made a report of one task's 8,000
			// repeats take seconds.
			have := make([]bool, r.Manifest.Repeat)
			if c := r.cell(m.Name, t); c != nil {
				for _, a := range c.Attempts {
					if a.Repeat >= 0 && a.Repeat < len(have) {
						have[a.Repeat] = true
					}
				}
			}
			for i := range r.Manifest.Repeat {
				if own != nil && !own[(results.Attempt{Model: m.Name, Task: t, Repeat: i}).Key()] {
					continue
				}
				if have[i] {
					continue
				}
				a := results.Attempt{RunID: r.Manifest.RunID, Model: m.Name, Task: t, Repeat: i, Status: StatusNotRun,
					Reason: "no result recorded: the run stopped before this attempt"}
				r.Attempts = append(r.Attempts, a)
				byModel[m.Name] = append(byModel[m.Name], a)
				row := r.cells[m.Name]
				if row == nil {
					row = map[string]*Cell{}
					r.cells[m.Name] = row
				}
				if row[t] == nil {
					row[t] = &Cell{}
				}
				row[t].add(a)
			}
		}
	}
}

// StatusNotRun marks, in reports only, an attempt the run planned but never
// judged. The runner never writes it: it is what a missing line means.
const StatusNotRun results.Status = "not_run"

// notRun reports whether an attempt never reached a verdict: it has no line,
// or the run was stopped (interrupt, deadline) before or while it ran. A
// resume runs it; it is neither a result nor an infrastructure error.
func notRun(a results.Attempt) bool {
	return a.Status == StatusNotRun || a.Cancelled()
}

func (r *Run) modelInfo(name string) (results.ModelInfo, bool) {
	if i, ok := r.info[name]; ok {
		return r.Manifest.Models[i], true
	}
	return results.ModelInfo{Name: name}, false
}

// Models returns one summary per model, best first: pass rate, then wall time.
func (r *Run) Models() []ModelSummary { return r.models }

// Tasks returns the run's tasks in the suite's order.
func (r *Run) Tasks() []string { return r.tasks }

// Cell returns the attempts of one model on one task, or nil when it has
// none that ran: attempts not run are no data about the model.
func (r *Run) Cell(model, task string) *Cell {
	c := r.cells[model][task]
	if c == nil || c.NotRun == len(c.Attempts) {
		return nil
	}
	return c
}

// cell is every attempt of one model on one task, not-run ones included.
func (r *Run) cell(model, task string) *Cell { return r.cells[model][task] }

// repeats is how many attempts per task and model the run intended: the
// manifest's count, or more when more were recorded.
func (r *Run) repeats() int { return r.rep }

// Totals counts attempts across the run.
func (r *Run) Totals() Counts {
	var c Counts
	for _, a := range r.Attempts {
		c.add(a)
	}
	return c
}

// failures are the attempts worth a closer look, in report order (models as
// sorted, then tasks, then repeats); cancelled attempts are not among them.
func (r *Run) failures() []results.Attempt {
	var out []results.Attempt
	for _, m := range r.models {
		for _, t := range r.tasks {
			c := r.Cell(m.Model, t)
			if c == nil {
				continue
			}
			for _, a := range c.Attempts {
				if a.Status != results.StatusPass && !notRun(a) {
					out = append(out, a)
				}
			}
		}
	}
	return out
}
