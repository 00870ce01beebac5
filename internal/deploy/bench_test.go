package deploy

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkEnsureAll measures how well EnsureAll overlaps models: three
// models whose cold starts and runs are in the ratio of the first nightly
// results (74 : 90 : 241 s, scaled to milliseconds), each run starting in
// onReady the moment its model is warm. The metric is the wall time from
// start to the last run done, divided by the slowest model's cold start plus
// run: 1.0 is perfect overlap; running models one after another (the
// "sequential" case, Parallel 1) gives the sum, about 1.68.
func BenchmarkEnsureAll(b *testing.B) {
	const (
		coldUnit = 4 * time.Millisecond // per second of the real wall time
		runUnit  = 2 * time.Millisecond
	)
	walls := []int{74, 90, 241}
	slowest := time.Duration(241) * (coldUnit + runUnit)

	for _, bc := range []struct {
		name     string
		parallel int
	}{{"pipelined", 0}, {"sequential", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b)
			d := h.deployer(b, func(o *Options) {
				o.Parallel = bc.parallel
				o.PollInterval = 5 * time.Millisecond
				o.MaxPollInterval = 25 * time.Millisecond
				o.Progress = nil
			})
			var ratios float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				targets := make([]Target, len(walls))
				runs := map[string]time.Duration{}
				for j, w := range walls {
					ms := startModelServer(b, coldStart{coldFor: time.Duration(w) * coldUnit})
					targets[j] = target(fmt.Sprintf("m%d-%d", i, j), "modal/vllm.py")
					if err := h.cp.PublishSpec(testEnv, targets[j].AppName, ms.URL, SpecHash(targets[j].SpecJSON)); err != nil {
						b.Fatal(err)
					}
					runs[targets[j].Key] = time.Duration(w) * runUnit
				}
				b.StartTimer()

				start := time.Now()
				out := d.EnsureAll(context.Background(), targets, func(ep Endpoint) {
					<-time.After(runs[ep.Key]) // the model's simulated run
				})
				wall := time.Since(start)
				if err := out.Err(); err != nil {
					b.Fatal(err)
				}
				ratios += float64(wall) / float64(slowest)
			}
			b.ReportMetric(ratios/float64(b.N), "wall/slowest")
		})
	}
}
