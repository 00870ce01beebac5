package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// ANSI colours, used only when the caller asks for colour.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiPurple = "\x1b[35m"
	ansiDim    = "\x1b[2m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p || s == "" {
		return s
	}
	return code + s + ansiReset
}

// Terminal writes the at-a-glance line, the summary table and the task matrix
// for a terminal; colour only when asked.
func (r *Run) Terminal(w io.Writer, color bool) error {
	p := painter(color)
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, p.paint(ansiBold, strings.Join(r.headline(), " · ")))
	fmt.Fprintln(bw, p.paint(ansiDim, r.runLine()))
	fmt.Fprintln(bw)

	summaryColumns := r.summaryColumns()
	heads := make([]string, len(summaryColumns))
	aligns := make([]tw.Align, len(summaryColumns))
	for i, c := range summaryColumns {
		heads[i], aligns[i] = c.head, align(c.right)
	}
	var rows [][]string
	for _, s := range r.models {
		row := make([]string, len(summaryColumns))
		for i, c := range summaryColumns {
			row[i] = c.cell(s)
		}
		row[2] = p.paintCount(ansiYellow, s.Errors, row[2])
		row[3] = p.paint(rateColour(s), row[3])
		rows = append(rows, row)
	}
	if err := table(bw, heads, aligns, rows); err != nil {
		return err
	}

	fmt.Fprintln(bw)
	heads = []string{"task"}
	aligns = []tw.Align{tw.AlignLeft}
	for _, s := range r.models {
		heads = append(heads, s.Model)
		aligns = append(aligns, tw.AlignCenter)
	}
	rows = rows[:0]
	for _, t := range r.tasks {
		row := []string{t}
		for _, s := range r.models {
			c := r.Cell(s.Model, t)
			row = append(row, p.paint(cellColour(c), c.markText(r.repeats())))
		}
		rows = append(rows, row)
	}
	if err := table(bw, heads, aligns, rows); err != nil {
		return err
	}
	fmt.Fprintln(bw, p.paint(ansiDim, r.legend()))
	if n := len(r.failures()); n > 0 {
		fmt.Fprintf(bw, "\n%s did not pass; details in report.md, report.html and the transcripts.\n", plural(n, "attempt"))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintln(bw, p.paint(ansiYellow, "warning: "+warn))
	}
	return bw.Flush()
}

func (p painter) paintCount(code string, n int, s string) string {
	if n == 0 {
		return s
	}
	return p.paint(code, s)
}

func rateColour(s ModelSummary) string {
	switch {
	case s.PassRate == nil:
		return ansiYellow
	case *s.PassRate == 1:
		return ansiGreen
	case *s.PassRate >= 0.5:
		return ansiYellow
	}
	return ansiRed
}

func cellColour(c *Cell) string {
	switch {
	case c == nil:
		return ansiDim
	case c.Scored() == 0:
		return ansiYellow
	case c.AllPassed() && c.Errors == 0:
		return ansiGreen
	case c.Passed == 0 && c.Timeouts > 0 && c.Failed == 0:
		return ansiPurple
	case c.Passed == 0:
		return ansiRed
	}
	return ansiYellow
}

func align(right bool) tw.Align {
	if right {
		return tw.AlignRight
	}
	return tw.AlignLeft
}

// table renders rows with light box borders; headers keep their case and
// units, and cells keep their spacing.
func table(w io.Writer, heads []string, aligns []tw.Align, rows [][]string) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleLight)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		tablewriter.WithTrimSpace(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	t.Header(toAny(heads)...)
	for _, r := range rows {
		if err := t.Append(toAny(r)...); err != nil {
			return fmt.Errorf("summary table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("summary table: %w", err)
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
