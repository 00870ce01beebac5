package report

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/goatbench/goatbench/internal/results"
)

// BenchmarkReports measures aggregating a large run and writing every
// format: 20 models × 100 tasks × 5 repeats, a fifth of them failed.
func BenchmarkReports(b *testing.B) {
	man := results.Manifest{RunID: "bench", Suite: "core", Repeat: 5, Started: t0}
	var as []results.Attempt
	for t := range 100 {
		man.Tasks = append(man.Tasks, fmt.Sprintf("task-%03d", t))
	}
	for m := range 20 {
		name := fmt.Sprintf("model-%02d", m)
		man.Models = append(man.Models, results.ModelInfo{Name: name, Kind: "vllm", PricePerHour: 3.3, HeldSeconds: 900})
		for t, task := range man.Tasks {
			for rep := range 5 {
				st := results.StatusPass
				if (m+t+rep)%5 == 0 {
					st = results.StatusFail
				}
				a := att(name, task, rep, st, float64(t), 2+float64(rep))
				a.Requests = []results.Request{{TTFT: 0.3, Total: 1.5, TokensIn: 1200, TokensOut: 90}}
				a.LastToolOutput = "FAIL: expected 5, got -1"
				as = append(as, a)
			}
		}
	}
	var out bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		out.Reset()
		r := New(man, as, nil)
		for _, write := range []func() error{
			func() error { return r.Terminal(&out, false) },
			func() error { return r.Markdown(&out) },
			func() error { return r.JSON(&out) },
			func() error { return r.JUnit(&out) },
			func() error { return r.HTML(&out) },
		} {
			if err := write(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(as))*float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
}

// BenchmarkManyRepeats measures aggregating one model's run of 5 tasks at
// --repeat 8,000 (40,000 attempts), the shape where a run's size lies in its
// repeats: an aggregation that looks at a cell's attempts once per repeat
// grows with the square of them.
//
//	go test ./internal/report -run '^$' -bench ManyRepeats
func BenchmarkManyRepeats(b *testing.B) {
	const repeat = 8000
	man := results.Manifest{RunID: "bench", Suite: "smoke", Repeat: repeat, Started: t0,
		Models: []results.ModelInfo{{Name: "model-00", Kind: "vllm"}}}
	var as []results.Attempt
	for t := range 5 {
		task := fmt.Sprintf("task-%d", t)
		man.Tasks = append(man.Tasks, task)
		for rep := range repeat {
			as = append(as, att("model-00", task, rep, results.StatusPass, 1, 2))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := New(man, as, nil); len(r.Attempts) != len(as) {
			b.Fatalf("%d attempts, want %d", len(r.Attempts), len(as))
		}
	}
	b.ReportMetric(float64(len(as))*float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
}
