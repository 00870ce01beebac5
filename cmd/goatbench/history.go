package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/report"
	"github.com/goatbench/goatbench/internal/safetext"
)

// historyOptions are the inputs of `goatbench history`.
type historyOptions struct {
	Dirs   []string
	Format string
	Color  string
	Out    string
}

func newHistoryCmd(s streams) *cobra.Command {
	o := &historyOptions{}
	cmd := &cobra.Command{
		Use:   "history <run-folder>...",
		Short: "Pass rates over several runs per model and task, with flakiness and a chart",
		Long: `Read several runs (nights) and print, per model and task, the pass rate of
each run, the rate over all of them with its 95% Wilson interval, and a
flakiness score; per model, pass@1 (the mean) and pass^k (the share of tasks
whose every repeat passed) for each run.

Flakiness is the share of chances to disagree that were taken: runs whose
repeats disagreed, and consecutive runs whose verdict flipped. A task from
0.25 up is flaky. A folder that holds run folders (results/, a downloaded
artifact, a folder of downloaded artifacts, two levels down at most) stands
for all of them; runs are ordered by start time. A run folder that cannot be
read is left out with a warning; the same run found twice counts once (the
merge of its shards rather than a shard).

Markdown draws a mermaid chart of each model's pass@1 and pass^k; HTML is a
self-contained page with an SVG chart.`,
		Example: `  goatbench history results/
  goatbench history nights/*/ --format markdown >> "$GITHUB_STEP_SUMMARY"
  goatbench history results/ --format html --out history.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Dirs = args
			return runHistory(o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Format, "format", "terminal", "output format: terminal, markdown, html, json")
	f.StringVar(&o.Color, "color", "auto", "colour the terminal output: auto (on a terminal, unless NO_COLOR is set), always, never")
	f.StringVarP(&o.Out, "out", "o", "", "write to this file instead of stdout")
	return cmd
}

func runHistory(o *historyOptions, s streams) error {
	format := strings.ToLower(o.Format)
	if format == "md" {
		format = "markdown"
	}
	if !slices.Contains([]string{"terminal", "markdown", "html", "json"}, format) {
		return usageError("unknown --format %q: use terminal, markdown, html or json", o.Format)
	}
	out := s.Out
	if o.Out != "" {
		out = io.Discard // chosen below, once the runs have loaded
	}
	color, err := wantColor(o.Color, out)
	if err != nil {
		return err
	}
	h, err := report.LoadHistory(o.Dirs)
	if err != nil {
		return usageError("%v", err)
	}
	if format != "terminal" {
		for _, w := range h.Warnings {
			fmt.Fprintln(s.Err, "warning:", safetext.Line(w))
		}
	}
	var write func(io.Writer) error
	switch format {
	case "terminal":
		write = func(w io.Writer) error { return h.Terminal(w, color) }
	case "markdown":
		write = h.Markdown
	case "html":
		write = h.HTML
	case "json":
		write = h.JSON
	}
	if o.Out == "" {
		if err := write(s.Out); err != nil {
			return fmt.Errorf("write the history: %w", err)
		}
		return nil
	}
	f, err := os.Create(o.Out)
	if err != nil {
		return usageError("--out: %v", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	return nil
}
