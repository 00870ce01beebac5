package agentproxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/runner"
)

// BenchmarkProxyOverhead measures what the proxy adds to one request: each
// iteration sends the same request to the reference server directly and
// through the proxy, and the figures are the medians of each and of their
// difference. Target: under 1 ms added at p50.
func BenchmarkProxyOverhead(b *testing.B) {
	suite := smoke(b)
	up := httptest.NewServer(reference.New(suite))
	defer up.Close()
	p, err := New(Config{Model: reference.ModelID, Relay: runner.NewRelay(runner.NewClient(up.URL+"/v1", realKey), 0, runner.RetryPolicy{})})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proxyURL, err := p.Start(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "stream"}[stream]
		b.Run(name, func(b *testing.B) {
			body, _ := json.Marshal(map[string]any{
				"model": reference.ModelID, "stream": stream,
				"messages": []map[string]string{{"role": "user", "content": suite.Tasks[0].Prompt}},
			})
			client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
			once := func(url, key string) time.Duration {
				req, _ := http.NewRequest(http.MethodPost, url+"/chat/completions", strings.NewReader(string(body)))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
				return time.Since(t0)
			}
			var direct, proxied, added []float64
			b.ResetTimer()
			for range b.N {
				d := once(up.URL+"/v1", realKey)
				x := once(proxyURL, p.Key())
				direct = append(direct, ms(d))
				proxied = append(proxied, ms(x))
				added = append(added, ms(x-d))
			}
			b.ReportMetric(p50(direct), "direct-p50-ms")
			b.ReportMetric(p50(proxied), "proxy-p50-ms")
			b.ReportMetric(p50(added), "added-p50-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func p50(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
