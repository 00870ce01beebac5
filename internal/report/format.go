package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goatbench/goatbench/internal/results"

	"github.com/goatbench/goatbench/internal/safetext"
)

// The marks of the task matrix.
const (
	markPass    = "✓"
	markFail    = "✗"
	markError   = "⚠"
	markTimeout = "◷" // a clock face DejaVu (the fonts CI installs) has; ⏱ is not in it
	markNone    = "·" // not run
	dash        = "—" // unknown or not applicable
)

// column is one column of the summary table, shared by every format so the
// terminal, markdown and HTML tables never drift apart.
type column struct {
	head  string
	right bool
	cell  func(ModelSummary) string
	key   bool // shown in the narrow terminal table; the rest need --wide
}

var summaryColumns = []column{
	{"model", false, func(s ModelSummary) string { return s.Model }, true},
	{"passed", true, func(s ModelSummary) string { return fmt.Sprintf("%d/%d", s.Passed, s.Scored()) }, true},
	{"errors", true, func(s ModelSummary) string { return strconv.Itoa(s.Errors) }, true},
	{"not run", true, func(s ModelSummary) string { return strconv.Itoa(s.NotRun) }, true},
	{"pass rate", true, func(s ModelSummary) string { return rateText(s) }, true},
	{"wall (s)", true, func(s ModelSummary) string { return secs(s.WallSeconds) }, true},
	{"cold start (s)", true, func(s ModelSummary) string {
		if s.ColdStartSeconds == 0 {
			return dash
		}
		return secs(s.ColdStartSeconds)
	}, false},
	{"p50 (s)", true, func(s ModelSummary) string { return opt(s.LatencyP50, "%.1f") }, true},
	{"p95 (s)", true, func(s ModelSummary) string { return opt(s.LatencyP95, "%.1f") }, false},
	{"TTFT p50 (s)", true, func(s ModelSummary) string { return opt(s.TTFTP50, "%.2f") }, false},
	{"out (tok/s)", true, func(s ModelSummary) string { return opt(s.TokensPerSecond, "%.1f") }, false},
	{"turns", true, func(s ModelSummary) string { return opt(s.MeanTurns, "%.1f") }, false},
	{"tokens in", true, func(s ModelSummary) string { return thousands(s.TokensIn) }, false},
	{"tokens out", true, func(s ModelSummary) string { return thousands(s.TokensOut) }, false},
	{"cost ($)", true, costWithSandbox, true},
}

// summaryColumns are the run's summary columns. An external agent's run
// gets an agent column after the model's, so a table pasted on its own
// still says whose attempts they were; the built-in loop's keeps its shape.
// (The renderers shadow the package's columns with these.)
func (r *Run) summaryColumns() []column {
	agent := r.Manifest.AgentName()
	if agent == results.BuiltinAgent {
		return summaryColumns
	}
	agent = oneLine(agent, 40)
	cols := []column{summaryColumns[0], {"agent", false, func(ModelSummary) string { return agent }, true}}
	return append(cols, summaryColumns[1:]...)
}

func rateText(s ModelSummary) string {
	if s.PassRate == nil {
		return dash
	}
	t := pct(*s.PassRate)
	if s.PassLow != nil && s.PassHigh != nil {
		t += fmt.Sprintf(" (%.0f–%.0f)", *s.PassLow*100, *s.PassHigh*100)
	}
	return t
}

func pct(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }

// secs prints a duration in seconds, with a decimal only when it matters.
func secs(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func opt(v *float64, format string) string {
	if v == nil {
		return dash
	}
	return fmt.Sprintf(format, *v)
}

func costText(v *float64) string {
	if v == nil {
		return dash
	}
	switch {
	case *v >= 1:
		return fmt.Sprintf("%.2f", *v)
	case *v >= 0.01:
		return fmt.Sprintf("%.3f", *v)
	}
	return fmt.Sprintf("%.4f", *v)
}

// thousands groups digits by three: 1234567 → 1,234,567.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// markText is the matrix cell: a mark for a single attempt, passed/scored
// with the errors and timeouts beside it for repeats.
func (c *Cell) markText(repeats int) string {
	if c == nil || len(c.Attempts) == 0 || c.NotRun == len(c.Attempts) {
		return markNone
	}
	if repeats <= 1 && len(c.Attempts) == 1 {
		return statusMark(c.Attempts[0].Status)
	}
	var parts []string
	if n := c.Scored(); n > 0 {
		s := fmt.Sprintf("%d/%d", c.Passed, n)
		switch {
		case c.Passed == n:
			s = markPass + " " + s
		case c.Passed == 0:
			s = markFail + " " + s
		}
		parts = append(parts, s)
	}
	if c.Timeouts > 0 {
		parts = append(parts, fmt.Sprintf("%s%d", markTimeout, c.Timeouts))
	}
	if c.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%s%d", markError, c.Errors))
	}
	if c.NotRun > 0 {
		parts = append(parts, fmt.Sprintf("%s%d", markNone, c.NotRun))
	}
	return strings.Join(parts, " ")
}

func statusMark(s results.Status) string {
	switch s {
	case StatusNotRun:
		return markNone
	case results.StatusPass:
		return markPass
	case results.StatusFail:
		return markFail
	case results.StatusTimeout:
		return markTimeout
	}
	return markError
}

// headline is the at-a-glance line: each model's passed/scored and wall time,
// like "qwen3-4b-local 5/5 (74 s)".
func (r *Run) headline() []string {
	var out []string
	for _, s := range r.models {
		extra := ""
		if s.Errors > 0 {
			extra = ", " + plural(s.Errors, "error")
		}
		if s.NotRun > 0 {
			extra += fmt.Sprintf(", %d not run", s.NotRun)
		}
		out = append(out, fmt.Sprintf("%s %d/%d (%s s%s)", s.Model, s.Passed, s.Scored(), secs(s.WallSeconds), extra))
	}
	return out
}

// runLine describes the run: id, suite, shape, start and duration.
func (r *Run) runLine() string {
	m := r.Manifest
	parts := []string{"run " + m.RunID}
	if m.Suite != "" {
		parts = append(parts, "suite "+m.Suite)
	}
	parts = append(parts, plural(len(r.models), "model")+" × "+plural(len(r.tasks), "task")+" × "+plural(r.repeats(), "repeat"))
	if !m.Started.IsZero() {
		parts = append(parts, "started "+m.Started.UTC().Format("2006-01-02 15:04 UTC"))
		if m.Ended != nil {
			parts = append(parts, "took "+took(r.elapsed()))
		}
	}
	if m.Sandbox != "" {
		// Results from unisolated commands are worth knowing about.
		parts = append(parts, "sandbox "+m.Sandbox)
	}
	if a := m.AgentName(); a != results.BuiltinAgent {
		parts = append(parts, "agent "+oneLine(a, 80))
	}
	if m.Version != "" {
		parts = append(parts, "goatbench "+m.Version)
	}
	// Each served model's context, so an unequal budget is never hidden.
	var ctx []string
	for _, s := range r.models {
		if s.Context > 0 {
			ctx = append(ctx, fmt.Sprintf("%s %dk", s.Model, s.Context/1024))
		}
	}
	if len(ctx) > 0 {
		parts = append(parts, "context "+strings.Join(ctx, ", "))
	}
	return strings.Join(parts, " · ")
}

// elapsed is how long the run ran: from its start to its end, less the time
// between an interrupted sitting's last attempt and the resume that followed
// it, when nothing ran. The caller checks that the run has ended.
func (r *Run) elapsed() time.Duration {
	m := r.Manifest
	resumed := sittings(m)
	if len(resumed) == 0 {
		return max(m.Ended.Sub(m.Started), 0) // an end before the start is no time
	}
	starts := append([]time.Time{m.Started}, resumed...)
	ends := make([]time.Time, len(starts))
	end := func(t time.Time) {
		if k := sitting(t, resumed); t.After(ends[k]) {
			ends[k] = t
		}
	}
	end(*m.Ended)               // a resume with nothing left to run keeps the end before it
	for _, a := range r.lines { // every line: see New
		if !a.Started.IsZero() && !(notRun(a) && a.WallSeconds == 0) {
			end(a.Started.Add(seconds(a.WallSeconds)))
		}
	}
	var d float64 // seconds: a Duration sum can wrap round
	for k, s := range starts {
		if ends[k].After(s) {
			d += ends[k].Sub(s).Seconds()
		}
	}
	return seconds(d)
}

// took prints a run's duration: tenths of a second while it is short, so a
// run of 0.4 s does not read "took 0s" beside attempts of 0.4 s.
func took(d time.Duration) string {
	if d < 10*time.Second {
		return secs(d.Seconds()) + "s"
	}
	return d.Round(time.Second).String()
}

// attemptName names an attempt in failure lists: the task, and the repeat
// when the run has several.
func (r *Run) attemptName(a results.Attempt) string {
	if r.repeats() > 1 {
		return fmt.Sprintf("%s #%d", a.Task, a.Repeat)
	}
	return a.Task
}

// oneLine squeezes text onto one line of at most n runes.
// Control characters are escaped (safetext), here and in tail and head: these
// three shape every text of an attempt that a report shows.
func oneLine(s string, n int) string {
	s = safetext.Line(strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// tail keeps the last n runes of s, marking the cut.
func tail(s string, n int) string {
	s = safetext.Block(s)
	if r := []rune(s); len(r) > n {
		return "…" + string(r[len(r)-n+1:])
	}
	return s
}

// head keeps the first n runes of s, marking the cut.
func head(s string, n int) string {
	s = safetext.Block(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// legend explains the matrix marks.
func (r *Run) legend() string {
	s := fmt.Sprintf("%s pass, %s fail, %s timeout, %s infrastructure error, %s not run", markPass, markFail, markTimeout, markError, markNone)
	if r.repeats() > 1 {
		s += "; n/m: passed of judged repeats"
	}
	return s
}

// plural counts things in English: 1 model, 2 models.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
