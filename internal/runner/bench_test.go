package runner

import (
	"context"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

func peakRSS(b *testing.B) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}

// BenchmarkPipeline runs the smoke suite end to end (workspace, agent loop over
// HTTP, real tool processes, checks, results stream) against the reference
// server at --parallel 8, and reports attempts per second and the process's
// peak resident memory, for streamed and plain requests, with the model's
// commands under bubblewrap (the default) and unisolated.
func BenchmarkPipeline(b *testing.B) {
	for _, mode := range []struct {
		name     string
		noStream bool
		sandbox  func() sandbox.Sandbox
	}{
		{"bwrap/stream", false, sandbox.Default},
		{"bwrap/plain", true, sandbox.Default},
		{"unisolated/stream", false, func() sandbox.Sandbox { return sandbox.Plain{} }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			suite := smoke(b)
			srv := httptest.NewServer(reference.New(suite))
			defer srv.Close()
			m := Model{Name: "reference", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", ""), NoStream: mode.noStream}
			const repeat = 8
			attempts := 0
			start := time.Now()
			b.ResetTimer()
			for b.Loop() {
				r, err := New(suite, Options{RunID: "bench", RunDir: b.TempDir(), Parallel: 8, Repeat: repeat, Retry: DefaultRetry, Sandbox: mode.sandbox()})
				require.NoError(b, err)
				require.NoError(b, r.RunModel(context.Background(), m))
				require.NoError(b, r.Close())
				attempts += len(suite.Tasks) * repeat
			}
			b.ReportMetric(float64(attempts)/time.Since(start).Seconds(), "attempts/s")
			peakRSS(b)
		})
	}
}

// BenchmarkHarnessOnly is the pipeline with no tool process at all (the
// math-simple task: one request, answer checks): what goatbench itself costs
// per attempt, apart from the commands a suite runs.
func BenchmarkHarnessOnly(b *testing.B) {
	var suite tasks.Suite
	for _, t := range smoke(b).Tasks {
		if t.ID == "math-simple" {
			suite.Tasks = append(suite.Tasks, t)
		}
	}
	srv := httptest.NewServer(reference.New(suite))
	defer srv.Close()
	m := Model{Name: "reference", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", "")}
	const repeat = 200
	attempts := 0
	start := time.Now()
	for b.Loop() {
		r, err := New(suite, Options{RunID: "bench", RunDir: b.TempDir(), Parallel: 8, Repeat: repeat, Retry: DefaultRetry})
		require.NoError(b, err)
		require.NoError(b, r.RunModel(context.Background(), m))
		require.NoError(b, r.Close())
		attempts += repeat
	}
	b.ReportMetric(float64(attempts)/time.Since(start).Seconds(), "attempts/s")
	peakRSS(b)
}

// BenchmarkThousandAttempts runs 1,000 attempts (the smoke suite × 200) in one
// run against the reference server with zero latency, streaming, at
// --parallel 8. Besides attempts per second it reports the live heap after
// 100 and after 1,000 finished attempts: finished attempts are on disk, not
// in memory, so the two must stay level.
func BenchmarkThousandAttempts(b *testing.B) {
	suite := smoke(b)
	srv := httptest.NewServer(reference.New(suite))
	defer srv.Close()
	m := Model{Name: "reference", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", "")}
	const repeat = 200
	total := len(suite.Tasks) * repeat
	var heapAt100, heapAtEnd uint64
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	attempts := 0
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		var done atomic.Int64
		r, err := New(suite, Options{RunID: "bench", RunDir: b.TempDir(), Parallel: 8, Repeat: repeat, Retry: DefaultRetry,
			OnAttempt: func(a results.Attempt) {
				if done.Add(1) == 100 {
					heapAt100 = heap()
				}
			}})
		require.NoError(b, err)
		require.NoError(b, r.RunModel(context.Background(), m))
		require.NoError(b, r.Close())
		heapAtEnd = heap()
		require.EqualValues(b, total, done.Load())
		attempts += total
	}
	b.ReportMetric(float64(attempts)/time.Since(start).Seconds(), "attempts/s")
	b.ReportMetric(float64(heapAt100)/(1<<20), "heap-MB@100")
	b.ReportMetric(float64(heapAtEnd)/(1<<20), "heap-MB@1000")
	peakRSS(b)
}

// BenchmarkChatRequest is the cost of one chat request (the first turn of
// code-fix: a tool call in about ten deltas) over loopback with zero server
// latency, streamed and plain; the difference is streaming's overhead.
func BenchmarkChatRequest(b *testing.B) {
	suite := smoke(b)
	var prompt string
	for _, t := range suite.Tasks {
		if t.ID == "code-fix" {
			prompt = t.Prompt
		}
	}
	for _, mode := range []struct {
		name     string
		noStream bool
	}{{"stream", false}, {"plain", true}} {
		b.Run(mode.name, func(b *testing.B) {
			srv := httptest.NewServer(reference.New(suite))
			defer srv.Close()
			m := Model{Name: "reference", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", ""), NoStream: mode.noStream}
			msgs := []openai.ChatCompletionMessage{
				{Role: openai.ChatMessageRoleSystem, Content: systemPrompt},
				{Role: openai.ChatMessageRoleUser, Content: prompt},
			}
			b.ReportAllocs()
			for b.Loop() {
				l := loop{messages: msgs}
				msg, err := l.chat(context.Background(), m)
				if err != nil || len(msg.ToolCalls) != 1 {
					b.Fatalf("chat: %v %+v", err, msg)
				}
			}
		})
	}
}
