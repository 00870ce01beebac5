package runner

import (
	"context"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/reference"
)

// BenchmarkPipeline runs the smoke suite end to end (workspace, agent loop over
// HTTP, real tool processes, checks, results stream) against the reference
// server at --parallel 8, and reports attempts per second and the process's
// peak resident memory.
func BenchmarkPipeline(b *testing.B) {
	suite := smoke(b)
	srv := httptest.NewServer(reference.New(suite))
	defer srv.Close()
	m := Model{Name: "reference", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", "")}
	const repeat = 8
	attempts := 0
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		r, err := New(suite, Options{RunID: "bench", RunDir: b.TempDir(), Parallel: 8, Repeat: repeat})
		require.NoError(b, err)
		require.NoError(b, r.RunModel(context.Background(), m))
		require.NoError(b, r.Close())
		attempts += len(suite.Tasks) * repeat
	}
	b.ReportMetric(float64(attempts)/time.Since(start).Seconds(), "attempts/s")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}
