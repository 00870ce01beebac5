package realserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/runner"
)

// BenchmarkStreamRead is what reading one streamed reply costs this process
// over Go's own transport and over goatbench's (runner.NewTransport), one
// request at a time, the two taking turns in batches of 20. The body is
// goatbench's first request of a two-turn task, whose reply is a tool call
// in some 24 events, one character of its arguments each. Reported per
// request: the CPU of each, and their ratio.
//
//	go test ./internal/realserver -run '^$' -bench StreamRead -benchtime 10x
func BenchmarkStreamRead(b *testing.B) {
	if server == nil {
		b.Skip("llama-server kit not found: " + skipWhy)
	}
	suite := twoTurnSuite(b, 1)
	g := goatbenchArm(b, suite, false, 1)
	require.NotEmpty(b, g.log)
	body := g.log[0].body
	transports := map[string]*http.Client{
		"go":        {Transport: pooled()},
		"goatbench": {Transport: runner.NewTransport()},
	}
	spent := map[string]time.Duration{}
	n := 0
	for b.Loop() {
		for _, name := range []string{"go", "goatbench"} {
			c := cpu()
			for range 20 {
				require.NoError(b, replay(context.Background(), transports[name], body))
			}
			spent[name] += cpu() - c
		}
		n += 20
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(n) / 1e6 }
	b.ReportMetric(per(spent["go"]), "go-cpu-ms/req")
	b.ReportMetric(per(spent["goatbench"]), "goatbench-cpu-ms/req")
	b.ReportMetric(float64(spent["goatbench"])/float64(spent["go"]), "goatbench/go")
}
