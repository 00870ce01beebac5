package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/report"
	"github.com/goatbench/goatbench/internal/safetext"
)

// reportFormats are what `goatbench report --format` writes, by name.
var reportFormats = []string{"terminal", "markdown", "json", "junit", "html"}

// reportOptions are the inputs of `goatbench report`.
type reportOptions struct {
	Dir    string
	Format string
	Color  string // auto, always or never
	Write  bool
	Wide   bool // every column of the terminal summary
}

func newReportCmd(s streams) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report <run-folder>",
		Short: "Rebuild a run's tables and reports from its files",
		Long: `Read results.jsonl and run.json from a run folder and print one report:
the summary table and task matrix for a terminal, markdown for a pull request,
summary.json, JUnit XML for CI, or the self-contained HTML page. Nothing is run
again; a run cut short still reports what it finished.

--write also (re)writes report.md, summary.json, junit.xml and report.html in
the run folder, and appends the markdown to $GITHUB_STEP_SUMMARY when set.`,
		Example: `  goatbench report results/20250601-020000-c0ffee
  goatbench report results/20250601-020000-c0ffee --wide
  goatbench report results/20250601-020000-c0ffee --format markdown
  goatbench report results/20250601-020000-c0ffee --format junit > junit.xml
  goatbench report results/20250601-020000-c0ffee --write`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Dir = args[0]
			return runReport(o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Format, "format", "terminal", "output format: "+strings.Join(reportFormats, ", "))
	f.StringVar(&o.Color, "color", "auto", "colour the terminal table: auto (on a terminal, unless NO_COLOR is set), always, never")
	f.BoolVar(&o.Wide, "wide", false, "terminal format: show every column of the summary (cold start, p95, TTFT, tokens/s, turns, tokens), not only the key ones that fit 100 columns")
	f.BoolVar(&o.Write, "write", false, "also write report.md, summary.json, junit.xml and report.html into the run folder")
	return cmd
}

func runReport(o *reportOptions, s streams) error {
	color, err := wantColor(o.Color, s.Out)
	if err != nil {
		return err
	}
	format := strings.ToLower(o.Format)
	if format == "md" {
		format = "markdown"
	}
	if !slices.Contains(reportFormats, format) {
		return usageError("unknown --format %q: use one of %s", o.Format, strings.Join(reportFormats, ", "))
	}
	r, err := report.Load(o.Dir)
	if err != nil {
		return usageError("%v", err)
	}
	r.Wide = o.Wide
	if format != "terminal" {
		// The terminal table shows its warnings; other formats are for machines or files.
		for _, w := range r.Warnings {
			fmt.Fprintln(s.Err, "warning:", safetext.Line(w))
		}
	}
	var write func(io.Writer) error
	switch format {
	case "terminal":
		write = func(w io.Writer) error { return r.Terminal(w, color) }
	case "markdown":
		write = r.Markdown
	case "json":
		write = r.JSON
	case "junit":
		write = r.JUnit
	case "html":
		write = r.HTML
	}
	if err := write(s.Out); err != nil {
		return fmt.Errorf("write the %s report: %w", format, err)
	}
	if o.Write {
		if err := r.WriteFiles(o.Dir); err != nil {
			return err
		}
		fmt.Fprintf(s.Err, "wrote %s, %s, %s and %s in %s\n", report.MarkdownFile, report.SummaryFile, report.JUnitFile, report.HTMLFile, o.Dir)
	}
	return nil
}

// wantColor decides whether to colour output: "auto" colours a terminal
// unless NO_COLOR is set (https://no-color.org); "always" and "never" are explicit.
func wantColor(mode string, out io.Writer) (bool, error) {
	switch strings.ToLower(mode) {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		return os.Getenv("NO_COLOR") == "" && terminal(out) != nil, nil
	}
	return false, usageError("unknown --color %q: use auto, always or never", mode)
}

// terminal is the terminal behind out, or nil. Writers that wrap another
// (redaction, locking) say what they wrap with Unwrap, so wrapping output
// never turns off colour or live progress.
func terminal(out io.Writer) *os.File {
	for range 8 { // wrappers do not nest deeper than this
		switch w := out.(type) {
		case *os.File:
			if isatty.IsTerminal(w.Fd()) {
				return w
			}
			return nil
		case interface{ Unwrap() io.Writer }:
			out = w.Unwrap()
		default:
			return nil
		}
	}
	return nil
}
