package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/modalsandbox"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// openSandbox opens where the run's commands go. With --sandbox modal every
// attempt gets its own Modal Sandbox (plan.Workspaces), and a resumed run
// first terminates the sandboxes its killed predecessor left running.
func (o *runOptions) openSandbox(ctx context.Context, plan *engine.Plan, prev *engine.Previous) (sandbox.Sandbox, string, error) {
	if o.Sandbox != modalsandbox.Mode {
		sb, warning, err := sandbox.Open(o.Sandbox, sandbox.DefaultLimits)
		if err == nil && prev != nil && !o.changed["sandbox"] {
			err = fellBack(prev.Dir, warning)
		}
		return sb, warning, err
	}
	// The SDK's own message names its Go API; say what to set instead.
	if err := deploy.CheckCredentials(); err != nil {
		return nil, "", err
	}
	client, err := modalsandbox.NewClient()
	if err != nil {
		return nil, "", err
	}
	p, err := modalsandbox.Open(ctx, client, modalsandbox.Config{Environment: o.Modal.Env})
	if err != nil {
		return nil, "", err
	}
	plan.Workspaces = p.Workspace
	warning := ""
	if prev != nil {
		n, err := p.Sweep(ctx, prev.Manifest.RunID)
		if err != nil {
			return nil, "", err
		}
		if n > 0 {
			warning = fmt.Sprintf("terminated %d Modal sandboxes that run %s left running", n, prev.Manifest.RunID)
		}
	}
	return p, warning, nil
}

// fellBack refuses a resume whose --sandbox auto fell back to plain (warning
// says why): whatever the folder's tasks and the model's commands are, a
// resume runs them unisolated only when told to (see fill).
func fellBack(dir, warning string) error {
	if warning == "" {
		return nil
	}
	return usageError("cannot resume %s unisolated (%s): add --sandbox plain to do so", dir, strings.TrimPrefix(warning, "WARNING: "))
}
