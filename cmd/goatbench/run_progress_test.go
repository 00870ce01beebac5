package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/results"
)

func TestProgressLines(t *testing.T) {
	var errOut bytes.Buffer
	qwen := models.Spec{Key: "qwen3-4b"}
	plan := engine.Plan{Suite: tasks.Suite{Tasks: make([]tasks.Task, 5)}, Repeat: 1,
		Targets: []engine.Target{{Name: "qwen3-4b-local", Modal: &qwen}, {Name: "m"}}}
	v := newProgressView(context.Background(), streams{Err: &errOut}, plan)
	for _, ev := range []engine.Event{
		engine.RunStarted{RunID: "r1", Dir: "results/r1", Sandbox: "bwrap", Tasks: 5, Models: 2, Repeat: 1, Pending: 10, Total: 10,
			ByModel: map[string]int{"qwen3-4b-local": 5, "m": 5}},
		engine.RunStarted{RunID: "r1", Dir: "results/r1", Resumed: true, Pending: 3, Total: 10},
		engine.RunStarted{RunID: "r2", Dir: "results/r2", Sandbox: "bwrap", Tasks: 5, Models: 2, Repeat: 1, Pending: 5, Total: 10},
		engine.DeployPhase{Key: "qwen3-4b", Phase: deploy.PhaseDeploying, Elapsed: 1400 * time.Millisecond},
		engine.Warm{},
		engine.AttemptStarted{Model: "m", Task: "t"},
		engine.AttemptFinished{Attempt: results.Attempt{Model: "m", Task: "t", Repeat: 1, Status: results.StatusError,
			WallSeconds: 1.25, Turns: 2, ToolCalls: 1, Retries: 3, FailureClass: results.ClassServerError, Reason: "HTTP 502"}},
		engine.AttemptFinished{Attempt: results.Attempt{Model: "m", Task: "u", Status: results.StatusError,
			FailureClass: results.ClassCancelled, Reason: "cancelled: interrupted"}},
		engine.ModelDone{Model: "m"},
		engine.DeployPhase{Key: "qwen3-4b", Phase: deploy.PhaseFailed, Elapsed: 61 * time.Second},
		engine.ModelDone{Model: "qwen3-4b-local", Key: "qwen3-4b", Elapsed: 61 * time.Second},
		engine.Warning{Text: "--stop-after: app stop failed"},
	} {
		v.event(ev)
	}
	v.Close()
	require.Equal(t, `run r1: 5 tasks × 2 models × 1 repeat, sandbox bwrap → results/r1
resume r1: 3 of 10 attempts to run → results/r1
run r2: 5 tasks × 2 models × 1 repeat (this shard: 5 of 10 attempts), sandbox bwrap → results/r2
qwen3-4b-local: deploying
ERROR   m  t #1  1.2s  2 turns  1 tool call  3 retries  server_error: HTTP 502
m  done  1/5  ✓0 ✗0 ⚠1 ·1 not run  0s
qwen3-4b-local  failed: deploy failed after 1m1s
warning: --stop-after: app stop failed
`, errOut.String())
}
