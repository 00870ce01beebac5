package runner

import (
	"golang.org/x/sync/errgroup"

	"context"
	"errors"
	"fmt"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// Soundness is whether a task's checks can tell a done task from an undone one.
type Soundness struct {
	Task            string
	ReferencePasses bool            // the reference solution passes every check
	ReferenceChecks []results.Check // its check results
	NothingFails    bool            // doing nothing fails at least one check
	EchoFails       bool            // answering with the prompt itself fails too
	Err             error           // the reference solution could not be run
	// Tries are the scripted attempts that must fail: doing nothing,
	// echoing the prompt, then every wrong solution of the task.
	Tries []Try
	// Dead lists the checks (0-based) that fail neither the empty attempt
	// nor any wrong solution: nothing shows they decide anything. Only
	// tasks with wrong solutions are judged on it.
	Dead []int
}

// Try is one scripted attempt that a sound task fails.
type Try struct {
	Name   string // "do nothing", "echo prompt", or "wrong: <name>"
	Wrong  bool   // one of the task's wrong solutions
	Failed []int  // the checks it failed (0-based); empty means it passed
	Err    error  // its steps could not be run
}

// Sound reports whether the task can be trusted.
func (s Soundness) Sound() bool {
	if s.Err != nil || !s.ReferencePasses || !s.NothingFails || !s.EchoFails || len(s.Dead) > 0 {
		return false
	}
	for _, t := range s.Tries {
		if t.Err != nil || len(t.Failed) == 0 {
			return false
		}
	}
	return true
}

// Validate runs each task's reference solution straight in a workspace (no
// model) and checks it passes, and checks that an attempt that does nothing,
// or only repeats the prompt, fails, and that every wrong solution fails.
// Tasks are judged a few at a time, each in its own workspaces; the result
// keeps the suite's order.
func Validate(ctx context.Context, suite tasks.Suite, sb sandbox.Sandbox, workRoot string) []Soundness {
	if sb == nil {
		sb = sandbox.Default()
	}
	out := make([]Soundness, len(suite.Tasks))
	var g errgroup.Group
	g.SetLimit(validateParallel)
	for i, t := range suite.Tasks {
		g.Go(func() error {
			out[i] = validateTask(ctx, t, sb, workRoot)
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// validateParallel bounds the tasks judged at once: their commands are short
// and mostly wait on process start-up.
const validateParallel = 4

func validateTask(ctx context.Context, t tasks.Task, sb sandbox.Sandbox, workRoot string) Soundness {
	s := Soundness{Task: t.ID}
	s.ReferenceChecks, s.Err = replay(ctx, t, sb, workRoot)
	s.ReferencePasses = s.Err == nil && AllPass(s.ReferenceChecks)
	type script struct {
		name   string
		wrong  bool
		steps  []tasks.Step
		answer string
	}
	tries := []script{{"do nothing", false, nil, ""}, {"echo prompt", false, nil, t.Prompt}}
	for _, w := range t.Wrong {
		tries = append(tries, script{"wrong: " + w.Name, true, w.Tools(), w.Answer()})
	}
	decisive := make([]bool, len(t.Checks))
	for i, c := range tries {
		checks, err := judge(ctx, t, sb, workRoot, c.steps, c.answer)
		if err != nil && len(checks) > 0 {
			checks = checks[:len(checks)-1] // the check that could not run decided nothing
		}
		try := Try{Name: c.name, Wrong: c.wrong, Err: err}
		for j, r := range checks {
			if !r.Pass {
				try.Failed = append(try.Failed, j)
				if i != 1 { // echoing the prompt is a sanity check, not a proof
					decisive[j] = true
				}
			}
		}
		if err != nil && !c.wrong {
			s.Err = errors.Join(s.Err, err)
		}
		switch i {
		case 0:
			s.NothingFails = err == nil && len(try.Failed) > 0
		case 1:
			s.EchoFails = err == nil && len(try.Failed) > 0
		}
		s.Tries = append(s.Tries, try)
	}
	if len(t.Wrong) > 0 {
		for j, d := range decisive {
			if !d {
				s.Dead = append(s.Dead, j)
			}
		}
	}
	return s
}

// replay executes the reference steps and judges the result.
func replay(ctx context.Context, t tasks.Task, sb sandbox.Sandbox, workRoot string) ([]results.Check, error) {
	steps := t.Reference[:len(t.Reference)-1]
	return judge(ctx, t, sb, workRoot, steps, t.Reference[len(t.Reference)-1].Answer)
}

func judge(ctx context.Context, t tasks.Task, sb sandbox.Sandbox, workRoot string, steps []tasks.Step, answer string) ([]results.Check, error) {
	ws, err := NewWorkspace(workRoot, t, sb)
	if err != nil {
		return nil, err
	}
	defer ws.Close(false)
	// The steps have the task's time, as a model's turns have in a run: a
	// reference slower than that would time out every attempt.
	sctx, cancel := context.WithTimeoutCause(ctx, t.Timeout, errAttemptTimeout)
	defer cancel()
	for i, st := range steps {
		if _, err := callTool(sctx, ws, st.Tool, st.ArgsJSON()); err != nil {
			if errors.Is(context.Cause(sctx), errAttemptTimeout) && ctx.Err() == nil {
				return nil, fmt.Errorf("step %d (%s) was still running when the task's timeout (%s) ran out", i+1, st.Tool, t.Timeout)
			}
			return nil, fmt.Errorf("step %d (%s): %w", i+1, st.Tool, err)
		}
	}
	return Evaluate(ctx, ws, t, answer)
}
