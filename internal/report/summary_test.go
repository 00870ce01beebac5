package report

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

var t0 = time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC)

func att(model, task string, repeat int, st results.Status, startOffset, wall float64) results.Attempt {
	a := results.Attempt{RunID: "r", Model: model, Task: task, Repeat: repeat, Status: st,
		Started: t0.Add(time.Duration(startOffset * float64(time.Second))), WallSeconds: wall, Turns: 2}
	switch st {
	case results.StatusFail:
		a.FailureClass = results.ClassChecksFailed
	case results.StatusTimeout:
		a.FailureClass = results.ClassTimeout
	case results.StatusError:
		a.FailureClass = results.ClassServerError
	}
	return a
}

func TestPercentileAndWilson(t *testing.T) {
	require.Equal(t, 0.0, percentile(nil, 50))
	require.Equal(t, 7.0, percentile([]float64{7}, 95))
	require.InDelta(t, 2.5, percentile([]float64{1, 2, 3, 4}, 50), 1e-9)
	require.InDelta(t, 3.85, percentile([]float64{1, 2, 3, 4}, 95), 1e-9)

	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		{5, 10, 0.2366, 0.7634},
		{3, 3, 0.4385, 1},
		{0, 3, 0, 0.5615},
		{14, 15, 0.7018, 0.9881},
	} {
		lo, hi := wilson(tc.k, tc.n)
		require.InDelta(t, tc.lo, lo, 1e-4, "%d/%d", tc.k, tc.n)
		require.InDelta(t, tc.hi, hi, 1e-4, "%d/%d", tc.k, tc.n)
	}
}

func TestModelSummary(t *testing.T) {
	gpu := results.ModelInfo{Name: "gpu-local", Kind: "vllm", GPU: "A10G", PricePerHour: 1.10, HeldSeconds: 412, ColdStartSeconds: 42}
	api := results.ModelInfo{Name: "api", Kind: "api"}
	as := []results.Attempt{
		att("gpu-local", "a", 0, results.StatusPass, 0, 10),
		att("gpu-local", "a", 1, results.StatusFail, 2, 20),
		att("gpu-local", "b", 0, results.StatusTimeout, 5, 30), // ends last, at 35 s
		att("gpu-local", "b", 1, results.StatusError, 1, 99),   // infrastructure: no verdict, no latency, but it took time
	}
	as[0].Requests = []results.Request{{TTFT: 0.2, Total: 2, TokensOut: 100}, {TTFT: 0.4, Total: 3, TokensOut: 150}}
	as[1].Requests = []results.Request{{TTFT: 0.3, Total: 5, TokensOut: 250}}
	as[0].TokensIn, as[0].TokensOut = 1000, 250
	as[3].TokensIn = 500 // spent even though the attempt errored

	s := summarize(gpu, as, nil)
	require.Equal(t, Counts{Passed: 1, Failed: 1, Timeouts: 1, Errors: 1}, s.Counts)
	require.Equal(t, 3, s.Scored())
	require.InDelta(t, 1.0/3, *s.PassRate, 1e-9)
	require.NotNil(t, s.PassLow, "repeats give an interval")
	require.InDelta(t, 100, s.WallSeconds, 1e-9, "from the first start to the last end, errors included")
	require.InDelta(t, 20, *s.LatencyP50, 1e-9, "errors have no latency")
	require.InDelta(t, 29, *s.LatencyP95, 1e-9)
	require.InDelta(t, 0.3, *s.TTFTP50, 1e-9)
	require.InDelta(t, 500.0/10, *s.TokensPerSecond, 1e-9)
	require.InDelta(t, 2, *s.MeanTurns, 1e-9)
	require.Equal(t, 1500, s.TokensIn)
	require.InDelta(t, 1.10*412/3600, *s.CostUSD, 1e-12)
	require.Equal(t, "gpu", s.CostSource)

	b := []results.Attempt{att("api", "a", 0, results.StatusPass, 0, 4), att("api", "b", 0, results.StatusPass, 0, 6)}
	b[0].CostUSD = 0.002
	b[1].Requests = []results.Request{{Total: 1, CostUSD: 0.0005}, {Total: 1, CostUSD: 0.0007}} // attempt total missing: sum requests
	s = summarize(api, b, nil)
	require.InDelta(t, 0.0032, *s.CostUSD, 1e-12)
	require.Equal(t, "api", s.CostSource)
	require.Nil(t, s.PassLow, "no repeats, no interval")
	require.Nil(t, s.TTFTP50, "not streamed")

	unheld := summarize(results.ModelInfo{Name: "x", Kind: "vllm", PricePerHour: 3.3}, b[:1], nil)
	require.Nil(t, unheld.CostUSD, "a GPU model without held time has no honest cost")

	allErr := summarize(api, []results.Attempt{att("api", "a", 0, results.StatusError, 0, 1)}, nil)
	require.Nil(t, allErr.PassRate)
	require.Nil(t, allErr.LatencyP50)
}

func TestModelsSortByPassRateThenWall(t *testing.T) {
	var as []results.Attempt
	add := func(model string, wall float64, sts ...results.Status) {
		for i, st := range sts {
			as = append(as, att(model, "t", i, st, 0, wall))
		}
	}
	add("slow-perfect", 200, results.StatusPass, results.StatusPass)
	add("half", 10, results.StatusPass, results.StatusFail)
	add("fast-perfect", 100, results.StatusPass, results.StatusPass)
	add("broken", 1, results.StatusError, results.StatusError)
	add("also-fast-perfect", 100, results.StatusPass, results.StatusPass)
	r := New(results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 2}, as, nil)
	var got []string
	for _, m := range r.Models() {
		got = append(got, m.Model)
	}
	require.Equal(t, []string{"also-fast-perfect", "fast-perfect", "slow-perfect", "half", "broken"}, got)
}

func TestMarkText(t *testing.T) {
	cell := func(sts ...results.Status) *Cell {
		c := &Cell{}
		for i, st := range sts {
			a := att("m", "t", i, st, 0, 1)
			if st == results.StatusError && i == 0 {
				a.FailureClass = results.ClassCancelled
			}
			c.add(a)
		}
		return c
	}
	P, F, T, E := results.StatusPass, results.StatusFail, results.StatusTimeout, results.StatusError
	for _, tc := range []struct {
		cell    *Cell
		repeats int
		want    string
	}{
		{nil, 1, "·"},
		{cell(P), 1, "✓"},
		{cell(F), 1, "✗"},
		{cell(T), 1, "◷"},
		{cell(E), 1, "·"}, // stopped before its verdict: not run
		{cell(P, P, P), 3, "✓ 3/3"},
		{cell(P, F, P), 3, "2/3"},
		{cell(F, T, F), 3, "✗ 0/3 ◷1"},
		{cell(E, P, P), 3, "✓ 2/2 ·1"},
		{cell(E, E), 2, "⚠1 ·1"},
		{cell(P), 3, "✓ 1/1"}, // the other repeats were never recorded
	} {
		require.Equal(t, tc.want, tc.cell.markText(tc.repeats))
	}
}

func TestModelErrorFromTheManifestIsShown(t *testing.T) {
	man := results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 1, Models: []results.ModelInfo{
		{Name: "ok"}, {Name: "broken-local", Kind: "vllm", Error: "deploy goat-vllm-broken: modal deploy exited 1"},
	}}
	as := []results.Attempt{att("ok", "t", 0, results.StatusPass, 0, 1)}
	r := New(man, as, nil)
	require.Len(t, r.Models(), 2)
	require.Equal(t, "broken-local", r.Models()[1].Model, "unscored models last")
	require.Nil(t, r.Models()[1].PassRate)
	require.Contains(t, r.Warnings, "broken-local: deploy goat-vllm-broken: modal deploy exited 1")
	var b strings.Builder
	require.NoError(t, r.Markdown(&b))
	require.Contains(t, b.String(), "> ⚠ broken-local: deploy goat-vllm-broken: modal deploy exited 1")
	require.Contains(t, b.String(), "| broken-local | 0/0 | 0 | 1 | — |")
}

func TestTerminalFits100Columns(t *testing.T) {
	fixture, err := Load(filepath.Join("testdata", "run"))
	require.NoError(t, err)
	// The widest cells a run can have: a long --model-name, a full interval.
	man := results.Manifest{RunID: "20260102-030405-a1b2c3", Suite: "smoke", Tasks: []string{"t"}, Repeat: 2,
		Models:  []results.ModelInfo{{Name: "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8-with-a-long-suffix"}, {Name: "qwen3-30b-a3b-local"}},
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Version: "v0.3.1-0.20260102030405-0123456789ab+dirty", Sandbox: "bwrap"}
	var as []results.Attempt
	for _, m := range man.Models {
		for i := range 2 {
			as = append(as, att(m.Name, "t", i, results.StatusPass, 0, 1234.5))
		}
	}
	long := New(man, as, nil)
	for _, r := range []*Run{fixture, long} {
		for _, color := range []bool{false, true} {
			var b strings.Builder
			require.NoError(t, r.Terminal(&b, color))
			for _, l := range strings.Split(b.String(), "\n") {
				require.LessOrEqual(t, runewidth.StringWidth(stripANSI(l)), TerminalWidth, "%q", l)
			}
			require.NotContains(t, b.String(), "TTFT p50 (s) │")
		}
		r.Wide = true
		var b strings.Builder
		require.NoError(t, r.Terminal(&b, false))
		require.Contains(t, b.String(), "TTFT p50 (s)", "--wide shows every column")
		r.Wide = false
	}
}

// The repeats a cell has no line for, and only those, are not run, whatever
// order the lines came in and whatever repeat a hand-edited line claims.
func TestPlannedRepeatsWithoutALineAreNotRun(t *testing.T) {
	man := results.Manifest{RunID: "r", Repeat: 4, Started: t0, Tasks: []string{"t"},
		Models: []results.ModelInfo{{Name: "m", Kind: "vllm"}}}
	as := []results.Attempt{
		att("m", "t", 3, results.StatusPass, 0, 1),
		att("m", "t", 0, results.StatusFail, 0, 1),
		att("m", "t", 7, results.StatusPass, 0, 1),
		att("m", "t", -2, results.StatusPass, 0, 1),
	}
	r := New(man, as, nil)
	var notRun []int
	for _, a := range r.Cell("m", "t").Attempts {
		if a.Status == StatusNotRun {
			notRun = append(notRun, a.Repeat)
		}
	}
	require.Equal(t, []int{1, 2}, notRun)
	require.Equal(t, 2, r.Cell("m", "t").NotRun)
}

// A run stopped and resumed an hour later took the time of its two sittings,
// and so did each model: the hour between them, when nothing ran, is left
// out.
func TestAResumedRunLeavesOutThePause(t *testing.T) {
	s := time.Second
	end := t0.Add(time.Hour + 6*s)
	man := results.Manifest{RunID: "r", Repeat: 2, Started: t0, Ended: &end, Resumed: []time.Time{t0.Add(time.Hour)},
		Tasks: []string{"a", "b"}, Models: []results.ModelInfo{{Name: "m", Kind: "vllm"}}}
	as := []results.Attempt{
		att("m", "a", 0, results.StatusPass, 1, 4),    // sitting 1: 1 s to 11 s
		att("m", "a", 1, results.StatusPass, 5, 6),    // ends at 11 s
		att("m", "b", 0, results.StatusPass, 3601, 4), // sitting 2: the hour and 1 s to 5 s
	}
	cut := as[1]
	cut.Status, cut.FailureClass, cut.Repeat, cut.Task = results.StatusError, results.ClassCancelled, 1, "b"
	cut.Started, cut.WallSeconds = t0.Add(2*s), 8 // interrupted at 10 s, run again below
	as = append(as, cut, att("m", "b", 1, results.StatusPass, 3602, 2))
	r := New(man, as, nil)
	require.Contains(t, r.runLine(), "took 17s")
	require.InDelta(t, 14, r.models[0].WallSeconds, 1e-9)

	// Resumed with nothing left to run: the end stays the first sitting's.
	first := t0.Add(12 * s)
	man.Ended = &first
	r = New(man, as[:2], nil)
	require.Contains(t, r.runLine(), "took 12s")
	require.InDelta(t, 10, r.models[0].WallSeconds, 1e-9)

	man.Resumed = nil
	man.Ended = &end
	require.Contains(t, New(man, as, nil).runLine(), "took 1h0m6s", "a run never resumed spans its start to its end")
}

// A sitting whose every line a resume ran again still took its time; a
// merged run's shards ran side by side, so its resumes cut nothing.
func TestSittingsCountSupersededLinesAndNotMerges(t *testing.T) {
	s := time.Second
	end := t0.Add(time.Hour + 10*s)
	man := results.Manifest{RunID: "r", Repeat: 2, Started: t0, Ended: &end, Resumed: []time.Time{t0.Add(time.Hour)},
		Tasks: []string{"a"}, Models: []results.ModelInfo{{Name: "m", Kind: "vllm"}}}
	as := []results.Attempt{
		att("m", "a", 0, results.StatusError, 0, 60),
		att("m", "a", 1, results.StatusError, 0, 60),
		att("m", "a", 0, results.StatusPass, 3600, 10), // --retry-errors
		att("m", "a", 1, results.StatusPass, 3600, 10),
	}
	r := New(man, as, nil)
	require.Contains(t, r.runLine(), "took 1m10s")
	require.InDelta(t, 70, r.models[0].WallSeconds, 1e-9)

	man.MergedFrom = []string{"r", "r2"}
	r = New(man, as, nil)
	require.Contains(t, r.runLine(), "took 1h0m10s", "a merge spans its start to its end")
	require.InDelta(t, 10, r.models[0].WallSeconds, 1e-9, "the span of its lines that count")
}
