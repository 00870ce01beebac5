package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/report"
	"github.com/goatbench/goatbench/internal/safetext"
)

// compareOptions are the inputs of `goatbench compare`.
type compareOptions struct {
	Base, Head       string
	Format           string
	Color            string
	LatencyThreshold float64 // percent
	LatencyFloor     float64 // seconds
	Alpha            float64
	Correction       string
	FailOnRegression bool
	AllowAgentChange bool
}

func newCompareCmd(s streams) *cobra.Command {
	o := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare <base-run-folder> <head-run-folder>",
		Short: "Compare two runs: significant pass-rate drops, flaky tasks, latency and cost changes, and why",
		Long: `Compare a head run with a base run (last night's, or the main branch's) per
model and task: pass rates with their 95% Wilson intervals and the p-value of
the drop, pass@1 and pass^k, flaky tasks (head repeats that disagree), the
change in p50 latency and cost, and for a model that got worse, what changed:
where its attempts' failure classes moved, its served spec, the suite, the
agent.

A regression is a pass rate that fell with p < --alpha in a one-sided Fisher
exact test, per task and per model over the tasks both runs scored (with one
repeat on each side, a task that passed in base and failed in head); a model
head could not deploy or warm; or a model whose p50 attempt latency, over the
tasks both runs have, rose more than --latency-threshold percent and by at
least --latency-floor seconds. A drop that chance explains is shown as noise;
a task head planned and never ran (the run stopped early) as "not run", with
no verdict.
With many tasks, --correction holm keeps the chance of flagging any unchanged
task of a model below --alpha (Holm's step-down method).
With --fail-on-regression the command exits 1 when there is a regression.

Runs of different suites that share no task are refused (exit 2); a partial
overlap is compared with a warning. Runs made by different agents (run --agent)
are refused too, since the difference would be the agent's and not the
model's, unless --allow-agent-change is given: the comparison then warns, and
names the agent change among the causes of each regression.`,
		Example: `  goatbench compare results/20250531-020000-aaaaaa results/20250601-020000-bbbbbb
  goatbench compare base/ head/ --format markdown >> "$GITHUB_STEP_SUMMARY"
  goatbench compare base/ head/ --latency-threshold 40 --fail-on-regression
  goatbench compare base/ head/ --alpha 0.01 --fail-on-regression

  # your agent against goatbench's built-in loop, on the same models and tasks
  goatbench compare results/builtin-run results/goat-run --allow-agent-change`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Base, o.Head = args[0], args[1]
			return runCompare(o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Format, "format", "terminal", "output format: terminal, markdown, json")
	f.StringVar(&o.Color, "color", "auto", "colour the terminal output: auto (on a terminal, unless NO_COLOR is set), always, never")
	f.Float64Var(&o.LatencyThreshold, "latency-threshold", report.DefaultLatencyThreshold*100, "p50 latency rise, in percent, that counts as a regression (0 turns the check off)")
	f.Float64Var(&o.LatencyFloor, "latency-floor", report.DefaultLatencyFloor, "smallest p50 rise, in seconds, that can count as a regression")
	f.Float64Var(&o.Alpha, "alpha", report.DefaultAlpha, "significance level: a pass-rate drop with a p-value below it is a regression")
	f.StringVar(&o.Correction, "correction", report.CorrectionNone, "how a model's per-task tests share --alpha: none (each task at --alpha) or holm")
	f.BoolVar(&o.FailOnRegression, "fail-on-regression", false, "exit 1 when there is a regression")
	f.BoolVar(&o.AllowAgentChange, "allow-agent-change", false, "compare runs made by different agents (run --agent), e.g. yours against the built-in loop")
	return cmd
}

func runCompare(o *compareOptions, s streams) error {
	color, err := wantColor(o.Color, s.Out)
	if err != nil {
		return err
	}
	if o.LatencyThreshold < 0 {
		return usageError("--latency-threshold must be a percentage of at least 0, got %g", o.LatencyThreshold)
	}
	if o.LatencyFloor < 0 {
		return usageError("--latency-floor must be at least 0 seconds, got %g", o.LatencyFloor)
	}
	if !(o.Alpha > 0 && o.Alpha < 1) {
		return usageError("--alpha must be between 0 and 1 (exclusive), got %g", o.Alpha)
	}
	if o.Correction != report.CorrectionNone && o.Correction != report.CorrectionHolm {
		return usageError("unknown --correction %q: use none or holm", o.Correction)
	}
	format := strings.ToLower(o.Format)
	if format == "md" {
		format = "markdown"
	}
	if !slices.Contains([]string{"terminal", "markdown", "json"}, format) {
		return usageError("unknown --format %q: use terminal, markdown or json", o.Format)
	}
	base, err := report.Load(o.Base)
	if err != nil {
		return usageError("base: %v", err)
	}
	head, err := report.Load(o.Head)
	if err != nil {
		return usageError("head: %v", err)
	}
	if err := report.Comparable(base, head); err != nil {
		return usageError("%v", err)
	}
	agentChange := ""
	if b, h := base.Manifest.AgentName(), head.Manifest.AgentName(); b != h {
		if !o.AllowAgentChange {
			return usageError("base was run with agent %q and head with agent %q; pass --allow-agent-change to compare them", b, h)
		}
		agentChange = fmt.Sprintf("the agent changed: %q in base, %q in head", b, h)
	}
	opts := report.CompareOptions{LatencyThreshold: o.LatencyThreshold / 100, LatencyFloor: o.LatencyFloor, Alpha: o.Alpha, Correction: o.Correction}
	if o.LatencyFloor == 0 {
		opts.LatencyFloor = -1 // none
	}
	if o.LatencyThreshold == 0 {
		opts.LatencyThreshold = -1 // off
	}
	c := report.Compare(base, head, opts)
	if agentChange != "" {
		c.Warnings = append(c.Warnings, agentChange)
	}
	if format != "terminal" {
		// The terminal output opens with them; a file does not catch the eye.
		for _, w := range c.Warnings {
			fmt.Fprintln(s.Err, "warning:", safetext.Line(w))
		}
	}
	var write func(io.Writer) error
	switch format {
	case "terminal":
		write = func(w io.Writer) error { return c.Terminal(w, color) }
	case "markdown":
		write = c.Markdown
	case "json":
		write = c.JSON
	}
	if err := write(s.Out); err != nil {
		return fmt.Errorf("write the comparison: %w", err)
	}
	if n := c.Regressions(); n > 0 && o.FailOnRegression {
		fmt.Fprintf(s.Err, "goatbench: %d regression(s) from %s to %s\n", n, o.Base, o.Head)
		return &exitError{code: exitFailed, err: fmt.Errorf("%d regressions", n)}
	}
	return nil
}
