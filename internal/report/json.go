package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/goatbench/goatbench/internal/results"
)

// SummarySchema is the version of summary.json; it changes when a field is
// renamed or removed, not when one is added.
const SummarySchema = 2

// Summary is summary.json: the aggregates every other format shows, for machines.
type Summary struct {
	Schema    int            `json:"schema"`
	RunID     string         `json:"run_id"`
	Version   string         `json:"version,omitempty"`
	Suite     string         `json:"suite,omitempty"`
	SuiteHash string         `json:"suite_hash,omitempty"`
	Started   *time.Time     `json:"started,omitempty"`
	Ended     *time.Time     `json:"ended,omitempty"`
	Repeat    int            `json:"repeat"`
	Agent     string         `json:"agent"` // results.BuiltinAgent, a goatbench.yaml agent, or a command
	Tasks     []string       `json:"tasks"`
	Totals    Counts         `json:"totals"`
	Models    []ModelSummary `json:"models"`
	Matrix    []TaskRow      `json:"matrix"`
	Tiers     []TierRow      `json:"tiers,omitempty"` // pass rate per tier and model
	Failures  []FailureInfo  `json:"failures"`
	Warnings  []string       `json:"warnings"`
}

// TaskRow is one task of the matrix: its cell per model, in the models' order.
type TaskRow struct {
	Task  string      `json:"task"`
	Tier  string      `json:"tier,omitempty"`
	Cells []CellEntry `json:"cells"`
}

// CellEntry is one model on one task.
type CellEntry struct {
	Model string `json:"model"`
	Mark  string `json:"mark"` // as the matrix shows it
	Counts
	LatencyP50 *float64 `json:"latency_p50_s"`
}

// FailureInfo is one attempt that did not pass (cancelled ones excepted).
type FailureInfo struct {
	Model        string         `json:"model"`
	Task         string         `json:"task"`
	Repeat       int            `json:"repeat"`
	Status       results.Status `json:"status"`
	FailureClass string         `json:"failure_class,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	WallSeconds  float64        `json:"wall_s"`
	Transcript   string         `json:"transcript,omitempty"`
}

// Summary builds summary.json's content.
func (r *Run) Summary() Summary {
	s := Summary{Schema: SummarySchema, RunID: r.Manifest.RunID, Version: r.Manifest.Version,
		Suite: r.Manifest.Suite, SuiteHash: r.Manifest.SuiteHash, Ended: r.Manifest.Ended,
		Repeat: r.repeats(), Agent: r.Manifest.AgentName(), Tasks: r.tasks, Totals: r.Totals(), Models: r.models,
		Matrix: []TaskRow{}, Failures: []FailureInfo{}, Warnings: r.Warnings, Tiers: r.TierRows()}
	if !r.Manifest.Started.IsZero() {
		s.Started = &r.Manifest.Started
	}
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
	for _, t := range r.tasks {
		row := TaskRow{Task: t, Tier: r.tierOf(t)}
		for _, m := range r.models {
			e := CellEntry{Model: m.Model, Mark: markNone}
			if c := r.cell(m.Model, t); c != nil {
				e.Mark, e.Counts = c.markText(r.repeats()), c.Counts
				if c.Scored() > 0 {
					e.LatencyP50 = ptr(c.P50())
				}
			}
			row.Cells = append(row.Cells, e)
		}
		s.Matrix = append(s.Matrix, row)
	}
	for _, a := range r.failures() {
		s.Failures = append(s.Failures, FailureInfo{Model: a.Model, Task: a.Task, Repeat: a.Repeat,
			Status: a.Status, FailureClass: a.FailureClass, Reason: a.Reason, WallSeconds: a.WallSeconds, Transcript: a.Transcript})
	}
	return s
}

// JSON writes summary.json.
func (r *Run) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Summary())
}
