package modalsandbox

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

const remoteLatency = 50 * time.Millisecond

// BenchmarkToolCallRoundTrips is one shell tool call in a sandbox whose every
// RPC takes 50 ms: RPCs and wall time per call.
func BenchmarkToolCallRoundTrips(b *testing.B) {
	cp, p := fake(b, fakemodal.SandboxOptions{Latency: remoteLatency})
	ws, err := p.Workspace(attemptCtx("bench", "m", "t", 0), task(b, "id: t\nprompt: p\nchecks: [{file_exists: a}]\nreference: [{answer: done}]\n"))
	require.NoError(b, err)
	defer ws.Close(false)
	before := cp.SandboxRPCs()
	b.ResetTimer()
	for b.Loop() {
		res, err := ws.Run(context.Background(), "echo hi", time.Minute)
		if err != nil || res.Output != "hi\n" {
			b.Fatalf("%v %q", err, res.Output)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cp.SandboxRPCs()-before)/float64(b.N), "RPCs/call")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(remoteLatency.Milliseconds()), "latencies/call")
}

// BenchmarkAttemptRoundTrips is whole attempts of the smoke suite (the
// reference model, one after another) with 50 ms per RPC: RPCs per attempt
// and per tool call, and seconds per attempt. setup=per-file writes each
// setup file with the filesystem API instead of one batch, to show what the
// batch saves; sandbox=v1 is the SDK's V1 backend, which asks for the task ID
// and the router's address in RPCs of their own.
func BenchmarkAttemptRoundTrips(b *testing.B) {
	for _, tc := range []struct{ name, v2 string }{{"setup=batch", "true"}, {"setup=per-file", "true"}, {"setup=batch/sandbox=v1", "false"}} {
		b.Run(tc.name, func(b *testing.B) {
			b.Setenv("MODAL_SANDBOX_V2", tc.v2)
			cp, p := fake(b, fakemodal.SandboxOptions{Latency: remoteLatency})
			p.perFileSetup = strings.Contains(tc.name, "per-file")
			suite := smokeSuite(b)
			runReference(b, suite, 1, 1, p, nil) // the run's one-time RPCs: app, environment, image
			before, n, calls := cp.SandboxRPCs(), 0, 0
			b.ResetTimer()
			for b.Loop() {
				got, _ := runReference(b, suite, 1, 1, p, nil)
				for _, a := range got {
					n++
					calls += a.ToolCalls
				}
			}
			b.StopTimer()
			rpcs := float64(cp.SandboxRPCs() - before)
			b.ReportMetric(rpcs/float64(n), "RPCs/attempt")
			b.ReportMetric(float64(calls)/float64(n), "toolcalls/attempt")
			b.ReportMetric(b.Elapsed().Seconds()/float64(n), "s/attempt")
		})
	}
}

// BenchmarkScale runs 6 models × 25 tasks × 3 repeats through the fake at
// --parallel 16 per model, with 50 ms per RPC: the wall time over the
// slowest model's own time, and the heap after the run (compared with one
// repeat, it stays flat: attempts stream to disk, nothing accumulates).
func BenchmarkScale(b *testing.B) {
	for _, repeat := range []int{1, 3} {
		b.Run(fmt.Sprintf("repeat=%d", repeat), func(b *testing.B) {
			_, p := fake(b, fakemodal.SandboxOptions{Latency: remoteLatency, Run: sandbox.Plain{}})
			suite := wideSuite(b, 25)
			var ratio, heap, attempts, failed float64
			for b.Loop() {
				r, h, n, f := scaleRun(b, suite, repeat, p)
				ratio, heap, attempts, failed = r, h, float64(n), float64(f)
			}
			b.ReportMetric(failed, "not-passed")
			b.ReportMetric(ratio, "wall/slowest")
			b.ReportMetric(heap/(1<<20), "heap-MB")
			b.ReportMetric(attempts, "attempts")
		})
	}
}

// wideSuite is n tasks made of the smoke tasks, repeated under new IDs.
func wideSuite(tb testing.TB, n int) tasks.Suite {
	tb.Helper()
	smoke, err := tasks.Load("smoke")
	require.NoError(tb, err)
	s := tasks.Suite{Name: "wide", Hash: "wide"}
	for i := range n {
		t := smoke.Tasks[i%len(smoke.Tasks)]
		t.ID = fmt.Sprintf("%s-%d", t.ID, i)
		s.Tasks = append(s.Tasks, t)
	}
	return s
}

func scaleRun(tb testing.TB, suite tasks.Suite, repeat int, p *Provider) (ratio, heap float64, n, notPassed int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := reference.New(suite).Start(ctx)
	require.NoError(tb, err)
	var targets []engine.Target
	for i := range 6 {
		name := fmt.Sprintf("model-%d", i)
		targets = append(targets, engine.Target{Name: name, ModelID: reference.ModelID, BaseURL: url, ToolChoice: "auto",
			Info: results.ModelInfo{Name: name}})
	}
	var slowest time.Duration
	start := time.Now()
	out, err := engine.Run(ctx, engine.Options{
		Plan: engine.Plan{Suite: suite, Targets: targets, Repeat: repeat, Parallel: 16, Out: tb.TempDir(),
			Sandbox: p, Workspaces: p.Workspace},
		Events: func(ev engine.Event) {
			if d, ok := ev.(engine.ModelDone); ok {
				slowest = max(slowest, d.Elapsed)
			}
		},
	})
	wall := time.Since(start)
	require.NoError(tb, err)
	as, _, err := results.ReadAttempts(out.Dir)
	require.NoError(tb, err)
	for _, a := range as {
		// Not a require: on a starved machine the local sandbox that plays
		// the remote one can lose a command's output (it stops reading 500 ms
		// after the command exits), which fails the attempt. Counted instead.
		if a.Status != results.StatusPass {
			notPassed++
			tb.Logf("%s %s: %s %s: %s", a.Model, a.Task, a.Status, a.FailureClass, a.Reason)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return wall.Seconds() / slowest.Seconds(), float64(ms.HeapInuse), len(as), notPassed
}
