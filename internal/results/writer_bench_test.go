package results

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkAppendParallel is attempts finishing at once, as at --parallel
// 8: eight goroutines each appending a line to one run folder's stream on
// this machine's disk, each line synced before its Append returns. Reported:
// appends per second, and the syncs each append cost (fewer than one when
// appends that wait for a sync share the next).
//
//	go test ./internal/results -run '^$' -bench AppendParallel -benchtime 2000x
func BenchmarkAppendParallel(b *testing.B) {
	var syncs atomic.Int64
	sync0 := syncFile
	syncFile = func(f *os.File) error { syncs.Add(1); return sync0(f) }
	defer func() { syncFile = sync0 }()
	w, err := OpenWriter(b.TempDir())
	require.NoError(b, err)
	defer w.Close()
	a := Attempt{RunID: "bench", Model: "qwen3-4b", Task: "code-fix", Status: StatusPass, WallSeconds: 12.5,
		Reason: "every check passed", Started: time.Now().UTC()}
	const writers = 8
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range writers {
		wg.Go(func() {
			for i := range next {
				a := a
				a.Repeat = i
				if err := w.Append(a); err != nil {
					b.Error(err)
				}
			}
		})
	}
	n := 0
	for b.Loop() {
		next <- n
		n++
	}
	close(next)
	wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "appends/s")
	b.ReportMetric(float64(syncs.Load())/float64(n), "syncs/append")
}
