package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/report"
)

// compareOptions are the inputs of `goatbench compare`.
type compareOptions struct {
	Base, Head       string
	Format           string
	Color            string
	LatencyThreshold float64 // percent
	LatencyFloor     float64 // seconds
	FailOnRegression bool
}

func newCompareCmd(s streams) *cobra.Command {
	o := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare <base-run-folder> <head-run-folder>",
		Short: "Compare two runs: newly failing and passing tasks, latency and cost changes",
		Long: `Compare a head run with a base run (last night's, or the main branch's) per
model and task: newly failing, newly passing and still failing tasks, and the
change in p50 latency and cost.

A regression is a (model, task) that passed every base repeat and failed a
head repeat, or a model whose p50 attempt latency, over the tasks both runs
have, rose more than --latency-threshold percent and by at least
--latency-floor seconds. With --fail-on-regression
the command exits 1 when there is one.`,
		Example: `  goatbench compare results/20250531-020000-aaaaaa results/20250601-020000-bbbbbb
  goatbench compare base/ head/ --format markdown >> "$GITHUB_STEP_SUMMARY"
  goatbench compare base/ head/ --latency-threshold 40 --fail-on-regression`,
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
	f.BoolVar(&o.FailOnRegression, "fail-on-regression", false, "exit 1 when there is a regression")
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
	opts := report.CompareOptions{LatencyThreshold: o.LatencyThreshold / 100, LatencyFloor: o.LatencyFloor}
	if o.LatencyFloor == 0 {
		opts.LatencyFloor = -1 // none
	}
	if o.LatencyThreshold == 0 {
		opts.LatencyThreshold = -1 // off
	}
	c := report.Compare(base, head, opts)
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
