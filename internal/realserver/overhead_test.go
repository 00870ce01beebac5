package realserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
)

// timingsTransport records the server-side time llama-server reports in each
// response's "timings" field, in request order.
type timingsTransport struct {
	mu     sync.Mutex
	server []time.Duration // what the server says it computed
	http   []time.Duration // request written to response body read, seen from the transport
}

func (t *timingsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var v struct {
		Timings struct {
			PromptMS    float64 `json:"prompt_ms"`
			PredictedMS float64 `json:"predicted_ms"`
		} `json:"timings"`
	}
	if json.Unmarshal(body, &v) == nil {
		t.mu.Lock()
		t.server = append(t.server, time.Duration((v.Timings.PromptMS+v.Timings.PredictedMS)*float64(time.Millisecond)))
		t.http = append(t.http, time.Since(start))
		t.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// BenchmarkHarnessOverhead runs the smoke suite against llama-server one
// attempt at a time, with plain requests (their body carries the timings) and reports the harness's own time per request: the wall
// time the agent loop records minus the time the server says it computed.
func BenchmarkHarnessOverhead(b *testing.B) {
	if server == nil {
		b.Skip("llama-server kit not found: " + skipWhy)
	}
	suite, err := tasks.Load("smoke")
	require.NoError(b, err)
	var overheads, client []time.Duration
	for b.Loop() {
		tt := &timingsTransport{}
		dir := b.TempDir()
		r, err := runner.New(suite, runner.Options{RunID: "bench", RunDir: dir, Parallel: 1, Repeat: 1})
		require.NoError(b, err)
		require.NoError(b, r.RunModel(context.Background(), runner.Model{Name: "tiny", ModelID: "tiny-random", Client: runner.NewClient(server.URL, "", runner.WithTransport(tt)), NoStream: true}))
		require.NoError(b, r.Close())
		attempts, _, err := results.ReadAttempts(dir)
		require.NoError(b, err)
		var walls []time.Duration
		for _, a := range attempts {
			for _, q := range a.Requests {
				walls = append(walls, time.Duration(q.Total*float64(time.Second)))
			}
		}
		require.Len(b, tt.server, len(walls), "one server timing per request")
		for i := range walls {
			overheads = append(overheads, walls[i]-tt.server[i])
			client = append(client, walls[i]-tt.http[i])
		}
	}
	slices.Sort(overheads)
	slices.Sort(client)
	b.ReportMetric(float64(overheads[len(overheads)/2])/1e6, "p50-overhead-ms")
	b.ReportMetric(float64(overheads[len(overheads)*95/100])/1e6, "p95-overhead-ms")
	// The part spent in goatbench's own code (encoding the request, decoding
	// the reply) rather than in the server's HTTP, templating and queueing.
	b.ReportMetric(float64(client[len(client)/2])/1e6, "p50-client-ms")
	b.ReportMetric(float64(client[len(client)*95/100])/1e6, "p95-client-ms")
}
