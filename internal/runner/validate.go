package runner

import (
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
}

// Sound reports whether the task can be trusted.
func (s Soundness) Sound() bool {
	return s.Err == nil && s.ReferencePasses && s.NothingFails && s.EchoFails
}

// Validate runs each task's reference solution straight in a workspace (no
// model) and checks it passes, and checks that an attempt that does nothing,
// or only repeats the prompt, fails.
func Validate(ctx context.Context, suite tasks.Suite, sb sandbox.Sandbox, workRoot string) []Soundness {
	if sb == nil {
		sb = sandbox.Default()
	}
	out := make([]Soundness, 0, len(suite.Tasks))
	for _, t := range suite.Tasks {
		s := Soundness{Task: t.ID}
		s.ReferenceChecks, s.Err = replay(ctx, t, sb, workRoot)
		s.ReferencePasses = s.Err == nil && AllPass(s.ReferenceChecks)
		for _, c := range []struct {
			answer string
			fails  *bool
		}{{"", &s.NothingFails}, {t.Prompt, &s.EchoFails}} {
			checks, err := judge(ctx, t, sb, workRoot, nil, c.answer)
			if err != nil {
				s.Err = errors.Join(s.Err, err)
			}
			*c.fails = err == nil && !AllPass(checks)
		}
		out = append(out, s)
	}
	return out
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
	for i, st := range steps {
		if _, err := callTool(ctx, ws, st.Tool, st.ArgsJSON()); err != nil {
			return nil, fmt.Errorf("reference step %d (%s): %w", i+1, st.Tool, err)
		}
	}
	return Evaluate(ctx, ws, t, answer), nil
}
