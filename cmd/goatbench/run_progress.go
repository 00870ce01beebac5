package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/report"
	"github.com/goatbench/goatbench/internal/results"
)

// progressPrinter renders the engine's events as lines on stderr.
func progressPrinter(s streams) func(engine.Event) {
	phase := phasePrinter(s)
	return func(ev engine.Event) {
		switch e := ev.(type) {
		case engine.RunStarted:
			if e.Resumed {
				fmt.Fprintf(s.Err, "resume %s: %d of %d attempts to run → %s\n", e.RunID, e.Pending, e.Total, e.Dir)
			} else {
				fmt.Fprintf(s.Err, "run %s: %d tasks × %d models × %d repeats, sandbox %s → %s\n", e.RunID, e.Tasks, e.Models, e.Repeat, e.Sandbox, e.Dir)
			}
		case engine.DeployPhase:
			phase(e.Key, e.Phase, e.Elapsed)
		case engine.AttemptFinished:
			fmt.Fprintln(s.Err, attemptLine(e.Attempt))
		case engine.ModelDone:
			if e.Key != "" { // the deploy phases' column: only Modal-served models have one
				fmt.Fprintf(s.Err, "%-14s done      %s\n", e.Key, e.Elapsed.Round(time.Second))
			}
		case engine.Warning:
			fmt.Fprintln(s.Err, "warning:", e.Text)
		}
	}
}

// attemptLine is the live progress line of one finished attempt.
func attemptLine(a results.Attempt) string {
	mark := map[results.Status]string{results.StatusPass: "PASS", results.StatusFail: "FAIL", results.StatusError: "ERROR", results.StatusTimeout: "TIMEOUT"}[a.Status]
	line := fmt.Sprintf("%-7s %s  %s #%d  %.1fs  %d turns  %d tool calls", mark, a.Model, a.Task, a.Repeat, a.WallSeconds, a.Turns, a.ToolCalls)
	if a.Retries > 0 {
		line += fmt.Sprintf("  %d retries", a.Retries)
	}
	if a.FailureClass != "" {
		line += "  " + a.FailureClass
	}
	if a.Reason != "" {
		line += ": " + a.Reason
	}
	return line
}

// finish writes every report from the run folder, prints the summary, and
// maps the attempts to the exit code. stop is why the run was stopped early
// (an interrupt, the deadline), nil when it ran to the end. Counts are of each
// attempt's latest line: a resumed run may have recorded an attempt twice.
func finish(stop error, dir string, minPassRate float64, s streams) error {
	rep, err := report.Load(dir)
	if err != nil {
		return infraError(err)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(s.Err, "warning:", w)
	}
	color, _ := wantColor("auto", s.Out)
	if err := rep.Terminal(s.Out, color); err != nil {
		return err
	}
	if err := rep.WriteFiles(dir); err != nil {
		return infraError(fmt.Errorf("write reports: %w", err))
	}
	fmt.Fprintf(s.Err, "reports: %s\n", dir)
	c := rep.Totals()
	pass, fail, errs, cancelled := c.Passed, c.Failed+c.Timeouts, c.Errors-c.Cancelled, c.Cancelled
	// One last line for logs and CI: the denominator and the errors beside it.
	line := fmt.Sprintf("%d/%d passed, %d failed, %d errors", pass, pass+fail, fail, errs)
	if cancelled > 0 {
		line += fmt.Sprintf(", %d cancelled", cancelled)
	}
	fmt.Fprintf(s.Out, "%s — %s\n", line, dir)
	if cancelled > 0 {
		fmt.Fprintf(s.Err, "%d attempts did not finish; complete the run with: goatbench run --resume %s\n", cancelled, dir)
	}
	switch {
	case errors.Is(stop, errInterrupted):
		return &exitError{code: exitCancel, err: stop}
	case stop != nil && cancelled > 0:
		return infraError(fmt.Errorf("%v; %d attempts did not finish", stop, cancelled))
	case errs+cancelled > 0:
		return infraError(fmt.Errorf("%d attempts could not run (infrastructure errors); see %s", errs+cancelled, filepath.Join(dir, results.AttemptsFile)))
	case pass+fail > 0 && float64(pass)/float64(pass+fail) >= minPassRate:
		return nil
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%d attempts failed", fail)}
}
