package realserver

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkHarnessOverhead is what goatbench adds to one request, with
// nothing else competing: 40 generated two-turn tasks one attempt at a time,
// streamed and plain, each run followed by a bare keep-alive client sending
// the same bodies one at a time. Per mode:
//   - p50-over-floor-ms: the median of latency minus the server's own
//     computing time (its "timings"), goatbench's less the floor's;
//   - p50-beyond-server-ms: goatbench's median alone: the server's HTTP,
//     templating, tokenizing and queueing, which are not in its timings, plus
//     goatbench's own time.
//
// BenchmarkStreamingVersusFloor measures the same at --parallel 4, where the
// other attempts (their workspaces, transcripts and results, and their
// requests) compete for the cores.
//
//	go test ./internal/realserver -run '^$' -bench HarnessOverhead -benchtime 3x
func BenchmarkHarnessOverhead(b *testing.B) {
	if server == nil {
		b.Skip("llama-server kit not found: " + skipWhy)
	}
	suite := twoTurnSuite(b, 40)
	warm := suite
	warm.Tasks = suite.Tasks[:4]
	goatbenchArm(b, warm, true, 4)
	arms := map[string]*arm{}
	modes := []string{"stream", "plain"}
	for _, m := range modes {
		arms[m], arms["floor-"+m] = &arm{}, &arm{}
	}
	for b.Loop() {
		for _, m := range modes {
			g := goatbenchArm(b, suite, m == "plain", 1)
			arms[m].add(g)
			arms["floor-"+m].add(floorArm(b, g.log, 1))
		}
		slices.Reverse(modes)
	}
	for _, m := range []string{"stream", "plain"} {
		g, f := median(arms[m].log, beyond), median(arms["floor-"+m].log, beyond)
		b.ReportMetric(float64(g-f)/float64(time.Millisecond), m+"-p50-over-floor-ms")
		b.ReportMetric(float64(g)/float64(time.Millisecond), m+"-p50-beyond-server-ms")
	}
}
