package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/safetext"
)

// specFields name the served-spec fields of run.json's models worth naming
// when a model got worse, in the order they are named. A field run.json
// gains later is compared too, under its JSON name, so a new field needs no
// code here; an entry only gives it a readable label and a place in the order.
var specFields = []struct{ key, label string }{
	{"spec_hash", "spec hash"},
	{"vllm_version", "vLLM version"},
	{"vllm_args", "vLLM flags"},
	{"vllm_flags", "vLLM flags"},
	{"revision", "revision"},
	{"hf_revision", "revision"},
	{"gpu", "GPU"},
	{"model_id", "model id"},
	{"base_url", "base URL"},
	{"kind", "kind"},
	{"agent", "agent"},
}

// notSpec are the model fields that describe the run, not what was served.
var notSpec = map[string]bool{"name": true, "key": true, "price_per_hour": true, "cold_start_s": true, "held_s": true, "error": true}

// servedSkip is notSpec, and for the reference model of both runs its base
// URL too: the in-process server listens on a new port every run.
func servedSkip(base, head map[string]json.RawMessage) map[string]bool {
	if fieldText(base["kind"]) != "reference" || fieldText(head["kind"]) != "reference" {
		return notSpec
	}
	skip := maps.Clone(notSpec)
	skip["base_url"] = true
	return skip
}

// runFields are the run-level fields of run.json that can explain a change:
// the agent loop (goatbench's own version, or an agent field when the
// manifest has one) and the sandbox it ran in.
var runFields = []struct{ key, label string }{
	{"agent", "agent"},
	{"agent_version", "agent version"},
	{"version", "goatbench version"},
	{"sandbox", "sandbox"},
}

// manifestFields is run.json as generic JSON: the run's top-level fields
// and each model's fields by model name. It reads the file when the run came
// from a folder, so fields newer than this package's Manifest type are seen.
type manifestFields struct {
	run    map[string]json.RawMessage
	models map[string]map[string]json.RawMessage
}

func readManifestFields(r *Run) manifestFields {
	var b []byte
	if r.Dir != "" {
		b, _ = results.ReadInside(r.Dir, results.ManifestFile, results.MaxManifest)
	}
	if len(b) == 0 {
		b, _ = json.Marshal(r.Manifest)
	}
	mf := manifestFields{models: map[string]map[string]json.RawMessage{}}
	// A run.json that does not parse was already reported by Load; the
	// explanation then treats every field as unknown.
	_ = json.Unmarshal(b, &mf.run)
	var doc struct {
		Models []map[string]json.RawMessage `json:"models"`
	}
	_ = json.Unmarshal(b, &doc)
	for _, m := range doc.Models {
		var name string
		if json.Unmarshal(m["name"], &name) == nil && name != "" {
			mf.models[safetext.Line(name)] = m // as report.New shows it (see shown)
		}
	}
	return mf
}

// fieldText prints a JSON value for a sentence: strings bare, the rest as
// JSON, "unknown" when absent.
func fieldText(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return "unknown"
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s == "" {
			return "unknown"
		}
		return oneLine(s, 120)
	}
	return oneLine(string(v), 120)
}

// fieldChanges names each field whose value differs, known fields first in
// the given order, then any other field by its JSON name.
func fieldChanges(base, head map[string]json.RawMessage, known []struct{ key, label string }, skip map[string]bool) []string {
	var out []string
	done := map[string]bool{}
	note := func(key, label string) {
		if done[key] || skip[key] || secretLike(key) {
			return
		}
		done[key] = true
		b, h := fieldText(base[key]), fieldText(head[key])
		if b != h {
			out = append(out, fmt.Sprintf("%s %s → %s", label, b, h))
		}
	}
	for _, f := range known {
		note(f.key, f.label)
	}
	var rest []string
	for k := range base {
		rest = append(rest, k)
	}
	for k := range head {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		note(k, oneLine(k, 60)) // a key of run.json, whatever it holds
	}
	return out
}

// secretLike keeps a field that may hold a credential out of the text,
// whatever run.json comes to record.
func secretLike(key string) bool {
	k := strings.ToLower(key)
	for _, w := range []string{"key", "token", "secret", "password", "auth", "header"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// outcome names how an attempt ended: "pass", or its failure class.
func outcome(a results.Attempt) string {
	if a.Status == results.StatusPass {
		return "pass"
	}
	if a.FailureClass != "" {
		return a.FailureClass
	}
	return string(a.Status)
}

// classShifts counts, over the given tasks, how many attempts moved from one
// outcome to another: per task, the outcomes head has fewer of are matched to
// those it has more of. Repeats are interchangeable, so matching counts, not
// repeat numbers, is what can be said. Moves to a pass explain no regression
// and are left out.
func classShifts(base, head *Run, model string, tasks []string) []string {
	type move struct{ from, to string }
	moves := map[move]int{}
	for _, task := range tasks {
		bc, hc := base.Cell(model, task), head.Cell(model, task)
		if bc == nil || hc == nil {
			continue
		}
		diff := map[string]int{}
		for _, a := range bc.Attempts {
			if !notRun(a) {
				diff[outcome(a)]--
			}
		}
		for _, a := range hc.Attempts {
			if !notRun(a) {
				diff[outcome(a)]++
			}
		}
		var less, more []string
		for k, v := range diff {
			if v < 0 {
				less = append(less, k)
			} else if v > 0 {
				more = append(more, k)
			}
		}
		sort.Strings(less)
		sort.Strings(more)
		// A pass lost is matched last, so class-to-class moves show first.
		sort.SliceStable(less, func(i, j int) bool { return less[j] == "pass" && less[i] != "pass" })
		for _, from := range less {
			for _, to := range more {
				n := min(-diff[from], diff[to])
				if n > 0 {
					moves[move{from, to}] += n
					diff[from] += n
					diff[to] -= n
				}
			}
		}
	}
	keys := make([]move, 0, len(moves))
	for k := range moves {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if moves[keys[i]] != moves[keys[j]] {
			return moves[keys[i]] > moves[keys[j]]
		}
		return keys[i].from+keys[i].to < keys[j].from+keys[j].to
	})
	var out []string
	for _, k := range keys {
		if k.to == "pass" {
			continue
		}
		out = append(out, fmt.Sprintf("%s moved from %s to %s", plural(moves[k], "attempt"), codeText(k.from), codeText(k.to)))
	}
	return out
}

// codeText quotes a failure class; "pass" reads better bare.
func codeText(s string) string {
	if s == "pass" {
		return s
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

// explain names, for each model that regressed, what changed between base
// and head: where its attempts' outcomes moved, its served spec, the suite,
// the agent.
func explain(c *Comparison, base, head *Run) {
	bm, hm := readManifestFields(base), readManifestFields(head)
	var runWhy []string
	if b, h := base.Manifest.SuiteHash, head.Manifest.SuiteHash; b != h {
		runWhy = append(runWhy, fmt.Sprintf("suite hash %s → %s", orUnknown(b), orUnknown(h)))
	}
	runWhy = append(runWhy, fieldChanges(bm.run, hm.run, runFields, nonRunFields(bm.run, hm.run))...)
	for i := range c.Models {
		m := &c.Models[i]
		if !m.InBase || !m.InHead {
			continue
		}
		regressed := m.Regressed()
		for _, t := range c.Tasks {
			regressed = regressed || t.Model == m.Model && t.Regression
		}
		if !regressed {
			continue
		}
		if m.Unavailable != "" {
			m.Why = append(m.Why, m.Unavailable)
		}
		// The regressed tasks say the most; a model whose pooled rate fell
		// without one looks at every task both runs have.
		var tasks []string
		for _, t := range c.Tasks {
			if t.Model == m.Model && t.Regression {
				tasks = append(tasks, t.Task)
			}
		}
		if len(tasks) == 0 {
			tasks = intersect(base.tasks, head.tasks)
		}
		if m.Unavailable == "" {
			// A model that never ran has only its deploy to say.
			m.Why = append(m.Why, classShifts(base, head, m.Model, tasks)...)
		}
		for _, s := range fieldChanges(bm.models[m.Model], hm.models[m.Model], specFields, servedSkip(bm.models[m.Model], hm.models[m.Model])) {
			m.Why = append(m.Why, "served spec: "+s)
		}
		m.Why = append(m.Why, runWhy...)
		if len(m.Why) == 0 {
			m.Why = []string{"nothing recorded changed: same suite, served spec and agent"}
		}
	}
}

// nonRunFields are the top-level fields that differ between any two runs
// and explain nothing.
func nonRunFields(a, b map[string]json.RawMessage) map[string]bool {
	skip := map[string]bool{}
	for _, m := range []map[string]json.RawMessage{a, b} {
		for k := range m {
			skip[k] = true
		}
	}
	for _, f := range runFields {
		delete(skip, f.key)
	}
	return skip
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Comparable refuses two runs a comparison could only mislead about: runs of
// different suites that share no task, or runs that share no (model, task)
// at all, where every row would be "added" or "removed".
func Comparable(base, head *Run) error {
	shared := intersect(base.tasks, head.tasks)
	bh, hh := base.Manifest.SuiteHash, head.Manifest.SuiteHash
	if bh != hh && len(shared) == 0 {
		return fmt.Errorf("base and head ran different suites (%s, %s) and share no task: nothing to compare",
			suiteText(base.Manifest), suiteText(head.Manifest))
	}
	for i, r := range []*Run{base, head} {
		if t := r.Totals(); t.Scored()+t.Errors == 0 {
			return fmt.Errorf("%s holds no finished attempt (its run stopped before the first one ended): nothing to compare", []string{"base", "head"}[i])
		}
	}
	for _, m := range base.models {
		for _, t := range shared {
			if base.Cell(m.Model, t) != nil && head.Cell(m.Model, t) != nil {
				return nil
			}
		}
	}
	return fmt.Errorf("base and head share no model on a common task (base: %s; head: %s): nothing to compare",
		strings.Join(modelNames(base), ", "), strings.Join(modelNames(head), ", "))
}

func suiteText(m results.Manifest) string {
	name := m.Suite
	if name == "" {
		name = "suite"
	}
	return name + " " + orUnknown(m.SuiteHash)
}

func modelNames(r *Run) []string {
	var out []string
	for _, m := range r.models {
		out = append(out, m.Model)
	}
	return out
}

func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, t := range b {
		in[t] = true
	}
	var out []string
	for _, t := range a {
		if in[t] {
			out = append(out, t)
		}
	}
	return out
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, t := range b {
		in[t] = true
	}
	var out []string
	for _, t := range a {
		if !in[t] {
			out = append(out, t)
		}
	}
	return out
}

// overlapWarnings say when the runs overlap only in part, so that "0
// regressions" is not read as "nothing got worse" for what was not compared.
func overlapWarnings(base, head *Run) []string {
	var out []string
	if bh, hh := base.Manifest.SuiteHash, head.Manifest.SuiteHash; bh != hh {
		out = append(out, fmt.Sprintf("base and head ran different suites (%s, %s); only the %s both have are compared",
			suiteText(base.Manifest), suiteText(head.Manifest), plural(len(intersect(base.tasks, head.tasks)), "task")))
	}
	if only := minus(base.tasks, head.tasks); len(only) > 0 {
		out = append(out, fmt.Sprintf("%s only in base, not compared: %s", plural(len(only), "task"), listText(only)))
	}
	if only := minus(head.tasks, base.tasks); len(only) > 0 {
		out = append(out, fmt.Sprintf("%s only in head, not compared: %s", plural(len(only), "task"), listText(only)))
	}
	bm, hm := modelNames(base), modelNames(head)
	if only := minus(bm, hm); len(only) > 0 {
		out = append(out, fmt.Sprintf("%s only in base, not compared: %s", plural(len(only), "model"), listText(only)))
	}
	if only := minus(hm, bm); len(only) > 0 {
		out = append(out, fmt.Sprintf("%s only in head, not compared: %s", plural(len(only), "model"), listText(only)))
	}
	return out
}

// listText lists names, at most eight, then how many more.
func listText(names []string) string {
	const most = 8
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
}
