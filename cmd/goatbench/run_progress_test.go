package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/results"
)

func TestProgressLines(t *testing.T) {
	var errOut bytes.Buffer
	p := progressPrinter(streams{Err: &errOut})
	for _, ev := range []engine.Event{
		engine.RunStarted{RunID: "r1", Dir: "results/r1", Sandbox: "bwrap", Tasks: 5, Models: 2, Repeat: 1, Pending: 10, Total: 10},
		engine.RunStarted{RunID: "r1", Dir: "results/r1", Resumed: true, Pending: 3, Total: 10},
		engine.DeployPhase{Key: "qwen3-4b", Phase: deploy.PhaseDeploying, Elapsed: 1400 * time.Millisecond},
		engine.Warm{},
		engine.AttemptStarted{Model: "m", Task: "t"},
		engine.AttemptFinished{Attempt: results.Attempt{Model: "m", Task: "t", Repeat: 1, Status: results.StatusError,
			WallSeconds: 1.25, Turns: 2, ToolCalls: 1, Retries: 3, FailureClass: results.ClassServerError, Reason: "HTTP 502"}},
		engine.ModelDone{Model: "api"},
		engine.ModelDone{Model: "qwen3-4b-local", Key: "qwen3-4b", Elapsed: 61 * time.Second},
		engine.Warning{Text: "--stop-after: app stop failed"},
	} {
		p(ev)
	}
	require.Equal(t, `run r1: 5 tasks × 2 models × 1 repeats, sandbox bwrap → results/r1
resume r1: 3 of 10 attempts to run → results/r1
qwen3-4b       deploying 1s
ERROR   m  t #1  1.2s  2 turns  1 tool calls  3 retries  server_error: HTTP 502
qwen3-4b       done      1m1s
warning: --stop-after: app stop failed
`, errOut.String())
}
