package realserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
)

// capture records the exact bodies goatbench sends, for the floor to replay.
type capture struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies [][]byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Method == http.MethodPost {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		c.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return c.base.RoundTrip(r)
}

func pooled() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// cpu is this process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is llama-server's user+system CPU time, from /proc.
func serverCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

type arm struct {
	requests  int
	wall      time.Duration
	cpu, srv  time.Duration
	retries   int
	latencies []time.Duration
}

func (a *arm) add(o arm) {
	a.requests += o.requests
	a.wall += o.wall
	a.cpu += o.cpu
	a.srv += o.srv
	a.retries += o.retries
	a.latencies = append(a.latencies, o.latencies...)
}

func p50(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// goatbenchArm runs the suite once through the runner and returns what it
// cost, and the bodies it sent.
func goatbenchArm(b *testing.B, suite tasks.Suite, repeat int, noStream bool) (arm, [][]byte) {
	capt := &capture{base: pooled()}
	dir := b.TempDir()
	r, err := runner.New(suite, runner.Options{RunID: "bench", RunDir: dir, Parallel: 4, Repeat: repeat, Retry: runner.DefaultRetry})
	require.NoError(b, err)
	c0, s0, t0 := cpu(), serverCPU(server.PID), time.Now()
	require.NoError(b, r.RunModel(context.Background(), runner.Model{Name: "tiny", ModelID: "tiny-random",
		Client: runner.NewClient(server.URL, "", runner.WithTransport(capt)), NoStream: noStream}))
	a := arm{wall: time.Since(t0), cpu: cpu() - c0, srv: serverCPU(server.PID) - s0}
	require.NoError(b, r.Close())
	attempts, _, err := results.ReadAttempts(dir)
	require.NoError(b, err)
	for _, at := range attempts {
		a.retries += at.Retries
		for _, q := range at.Requests {
			a.requests++
			a.latencies = append(a.latencies, time.Duration(q.Total*float64(time.Second)))
		}
	}
	return a, capt.bodies
}

// floorArm replays bodies with a plain keep-alive client, 4 at a time, each
// reply read to its end.
func floorArm(b *testing.B, bodies [][]byte) arm {
	hc := &http.Client{Transport: pooled()}
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(4)
	c0, s0, t0 := cpu(), serverCPU(server.PID), time.Now()
	for _, body := range bodies {
		g.Go(func() error {
			start := time.Now()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, server.URL+"/chat/completions", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header["Idempotency-Key"] = nil
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			lat = append(lat, time.Since(start))
			mu.Unlock()
			return err
		})
	}
	require.NoError(b, g.Wait())
	return arm{requests: len(bodies), wall: time.Since(t0), cpu: cpu() - c0, srv: serverCPU(server.PID) - s0, latencies: lat}
}

// BenchmarkStreamingVersusFloor runs the smoke suite (repeated) against
// llama-server streamed and plain, and a keep-alive client replaying the
// exact bodies each arm sent (the floor), interleaved round by round. It
// reports per request: the overhead over the floor (p50 latency and wall),
// the harness's CPU, the server's CPU, and retries.
//
//	go test ./internal/realserver -run '^$' -bench StreamingVersusFloor -benchtime 3x
func BenchmarkStreamingVersusFloor(b *testing.B) {
	if server == nil {
		b.Skip("llama-server kit not found: " + skipWhy)
	}
	suite, err := tasks.Load("smoke")
	require.NoError(b, err)
	const repeat = 4
	arms := map[string]*arm{"stream": {}, "plain": {}, "floor-stream": {}, "floor-plain": {}}
	for b.Loop() {
		s, sb := goatbenchArm(b, suite, repeat, false)
		arms["stream"].add(s)
		arms["floor-stream"].add(floorArm(b, sb))
		p, pb := goatbenchArm(b, suite, repeat, true)
		arms["plain"].add(p)
		arms["floor-plain"].add(floorArm(b, pb))
	}
	per := func(d time.Duration, n int) float64 { return float64(d) / float64(n) / 1e6 }
	for _, mode := range []string{"stream", "plain"} {
		g, f := arms[mode], arms["floor-"+mode]
		b.ReportMetric(per(g.wall, g.requests)-per(f.wall, f.requests), mode+"-wall-over-floor-ms/req")
		b.ReportMetric(float64(p50(g.latencies)-p50(f.latencies))/1e6, mode+"-p50-over-floor-ms")
		b.ReportMetric(per(g.cpu, g.requests), mode+"-harness-cpu-ms/req")
		b.ReportMetric(per(f.cpu, f.requests), mode+"-floor-cpu-ms/req")
		b.ReportMetric(per(g.srv, g.requests), mode+"-server-cpu-ms/req")
		b.ReportMetric(per(f.srv, f.requests), mode+"-floor-server-cpu-ms/req")
		b.ReportMetric(float64(g.retries), mode+"-retries")
	}
	b.ReportMetric(per(arms["stream"].cpu, arms["stream"].requests)/per(arms["plain"].cpu, arms["plain"].requests), "stream/plain-cpu")
}
