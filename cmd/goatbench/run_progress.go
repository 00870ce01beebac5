package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/progress"
	"github.com/goatbench/goatbench/internal/report"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/safetext"
)

// progressView renders the engine's events through the progress renderer:
// on a terminal one live line per model with finished attempts scrolling
// above, elsewhere plain lines (phase changes, one per attempt, a progress
// line at most every 30 s). Close it before printing anything else.
type progressView struct {
	r      *progress.Renderer
	byKey  map[string]string // registry key → the model's name in results
	closed chan struct{}
	wg     sync.WaitGroup
}

// newProgressView starts the view of a run whose context is ctx.
func newProgressView(ctx context.Context, s streams, plan engine.Plan) *progressView {
	color, _ := wantColor(s.color, s.Err)
	v := &progressView{r: progress.New(s.Err, progress.Options{Terminal: terminal(s.Err), Color: color}),
		byKey: map[string]string{}, closed: make(chan struct{})}
	if v.r.Live() {
		// The signal watcher's notice goes straight to stderr, where the next
		// redraw of the live lines erases it: say it again above them.
		v.wg.Go(func() {
			select {
			case <-ctx.Done():
				if errors.Is(context.Cause(ctx), errInterrupted) {
					v.r.Println("goatbench: interrupted: cancelling attempts in flight and keeping every finished one (Ctrl-C again quits at once)")
				}
			case <-v.closed:
			}
		})
	}
	for _, t := range plan.Targets {
		v.r.Plan(t.Name, -1) // in the plan's order; the totals come with RunStarted
		if t.Modal != nil {
			v.byKey[t.Modal.Key] = t.Name
		}
	}
	return v
}

// phases maps the deployer's phases onto the renderer's.
var phases = map[deploy.Phase]progress.Phase{
	deploy.PhaseLookup: progress.LookingUp, deploy.PhaseDeploying: progress.Deploying,
	deploy.PhaseWarming: progress.Warming, deploy.PhaseReady: progress.Running,
}

func (v *progressView) event(ev engine.Event) {
	switch e := ev.(type) {
	case engine.RunStarted:
		for name, n := range e.ByModel {
			v.r.Plan(name, n)
		}
		if e.Resumed {
			v.r.Println(fmt.Sprintf("resume %s: %d of %d attempts to run → %s", e.RunID, e.Pending, e.Total, e.Dir))
		} else {
			share := ""
			if e.Pending != e.Total { // a shard
				share = fmt.Sprintf(" (this shard: %d of %d attempts)", e.Pending, e.Total)
			}
			v.r.Println(fmt.Sprintf("run %s: %s × %s × %s%s, sandbox %s → %s", e.RunID, progress.Plural(e.Tasks, "task"),
				progress.Plural(e.Models, "model"), progress.Plural(e.Repeat, "repeat"), share, e.Sandbox, e.Dir))
		}
	case engine.DeployPhase:
		name := cmp.Or(v.byKey[e.Key], e.Key)
		if e.Phase == deploy.PhaseFailed {
			v.r.ModelDone(name, fmt.Errorf("deploy failed after %s", e.Elapsed.Round(time.Second)))
		} else if p, ok := phases[e.Phase]; ok {
			v.r.Phase(name, p, e.Elapsed)
		}
	case engine.AttemptStarted:
		v.r.Started(e.Model)
	case engine.AttemptFinished:
		v.r.Finished(e.Attempt)
	case engine.ModelDone:
		v.r.ModelDone(e.Model, nil)
	case engine.Warning:
		v.r.Println("warning: " + e.Text)
	}
}

// Close draws the last state of every model and stops the live lines.
func (v *progressView) Close() {
	close(v.closed)
	v.wg.Wait()
	v.r.Close()
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
		fmt.Fprintln(s.Err, "warning:", safetext.Line(w))
	}
	color, _ := wantColor(s.color, s.Out)
	if err := rep.Terminal(s.Out, color); err != nil {
		return err
	}
	if err := rep.WriteFiles(dir); err != nil {
		return infraError(fmt.Errorf("write reports: %w", err))
	}
	fmt.Fprintf(s.Err, "reports: %s\n", dir)
	c := rep.Totals()
	pass, fail, errs, notRun := c.Passed, c.Failed+c.Timeouts, c.Errors, c.NotRun
	// One last line for logs and CI: the denominator and the errors beside it.
	line := fmt.Sprintf("%d/%d passed, %d failed, %s", pass, pass+fail, fail, progress.Plural(errs, "error"))
	if notRun > 0 {
		line += fmt.Sprintf(", %d not run", notRun)
	}
	fmt.Fprintf(s.Out, "%s — %s\n", line, dir)
	if notRun > 0 {
		fmt.Fprintf(s.Err, "stopped: %s not run; resume with: goatbench run --resume %s\n", progress.Plural(notRun, "attempt"), dir)
	}
	switch {
	case errors.Is(stop, errInterrupted):
		return &exitError{code: exitCancel, err: stop}
	case stop != nil && notRun > 0:
		return infraError(fmt.Errorf("%v; %s not run", stop, progress.Plural(notRun, "attempt")))
	case errs > 0:
		return infraError(fmt.Errorf("%s could not run (infrastructure errors); see %s", progress.Plural(errs, "attempt"), filepath.Join(dir, results.AttemptsFile)))
	case notRun > 0:
		return infraError(fmt.Errorf("%s not run", progress.Plural(notRun, "attempt")))
	case pass+fail > 0 && float64(pass)/float64(pass+fail) >= minPassRate:
		return nil
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%d attempts failed", fail)}
}
