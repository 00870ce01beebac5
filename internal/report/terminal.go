package report

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/goatbench/goatbench/internal/safetext"
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

// TerminalWidth is the width the terminal report fits: the key columns of
// the summary, and the lines above it wrapped. Wide shows every column.
const TerminalWidth = 100

// Terminal writes the at-a-glance line, the summary table and the task matrix
// for a terminal; colour only when asked. Unless r.Wide, the summary has only
// its key columns, so that it fits TerminalWidth; the files have them all.
func (r *Run) Terminal(w io.Writer, color bool) error {
	p := painter(color)
	bw := bufio.NewWriter(w)
	for _, l := range wrapParts(r.headline(), TerminalWidth) {
		fmt.Fprintln(bw, p.paint(ansiBold, l))
	}
	for _, l := range wrapParts(strings.Split(r.runLine(), " · "), TerminalWidth) {
		fmt.Fprintln(bw, p.paint(ansiDim, l))
	}
	fmt.Fprintln(bw)

	var cols []column
	for _, c := range r.summaryColumns() {
		if c.key || r.Wide {
			cols = append(cols, c)
		}
	}
	heads := make([]string, len(cols))
	aligns := make([]tw.Align, len(cols))
	for i, c := range cols {
		heads[i], aligns[i] = c.head, align(c.right)
	}
	var rows [][]string
	for _, s := range r.models {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = c.cell(s)
			switch c.head {
			case "errors":
				row[i] = p.paintCount(ansiYellow, s.Errors, row[i])
			case "pass rate":
				row[i] = p.paint(rateColour(s), row[i])
			}
		}
		rows = append(rows, row)
	}
	if !r.Wide {
		fitFirstColumn(heads, rows, TerminalWidth)
	}
	if err := table(bw, heads, aligns, rows); err != nil {
		return err
	}
	if err := r.terminalTiers(bw); err != nil {
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
	for i, t := range r.tasks {
		if h := r.tierHeading(i); h != "" {
			rows = append(rows, append([]string{p.paint(ansiBold, h)}, make([]string, len(r.models))...))
		}
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
	if !r.Wide {
		fmt.Fprintln(bw, p.paint(ansiDim, "More columns (cold start, p95, TTFT, tokens/s, turns, tokens): goatbench report --wide, the files."))
	}
	if n := len(r.failures()); n > 0 {
		fmt.Fprintf(bw, "\n%s did not pass; details in report.md, report.html and the transcripts.\n", plural(n, "attempt"))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintln(bw, p.paint(ansiYellow, "warning: "+safetext.Line(warn)))
	}
	return bw.Flush()
}

// fitFirstColumn shortens the first column's cells (model names) as much
// as the table needs to fit width, but never below 12 columns.
func fitFirstColumn(heads []string, rows [][]string, width int) {
	widths := make([]int, len(heads))
	for i, h := range heads {
		widths[i] = runewidth.StringWidth(h)
	}
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], runewidth.StringWidth(stripANSI(c)))
		}
	}
	total := 1
	for _, w := range widths {
		total += w + 3 // padding on each side and a border
	}
	if total <= width {
		return
	}
	keep := max(12, widths[0]-(total-width))
	for _, row := range rows {
		row[0] = runewidth.Truncate(row[0], keep, "…")
	}
}

var ansiCode = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(s string) string { return ansiCode.ReplaceAllString(s, "") }

// wrapParts joins parts with " · " into lines of at most width runes,
// breaking only between parts.
func wrapParts(parts []string, width int) []string {
	var lines []string
	cur := ""
	for _, part := range parts {
		switch {
		case cur == "":
			cur = part
		case utf8.RuneCountInString(cur)+3+utf8.RuneCountInString(part) <= width:
			cur += " · " + part
		default:
			lines = append(lines, cur)
			cur = part
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
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
	case c == nil, c.NotRun == len(c.Attempts):
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
