package report

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/goatbench/goatbench/internal/results"
)

// Counts tallies attempts by outcome. Errors are infrastructure failures:
// neither passes nor fails. Attempts not run (the run stopped before they
// started or finished, or no result was recorded) are none of these.
type Counts struct {
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`   // status fail
	Timeouts int `json:"timeouts"` // status timeout, counted as failures
	Errors   int `json:"errors"`   // status error, not-run attempts excluded
	NotRun   int `json:"not_run"`  // planned but never judged; a resume runs them
}

func (c *Counts) add(a results.Attempt) {
	switch {
	case notRun(a):
		c.NotRun++
	case a.Status == results.StatusPass:
		c.Passed++
	case a.Status == results.StatusFail:
		c.Failed++
	case a.Status == results.StatusTimeout:
		c.Timeouts++
	default:
		// Anything else that is not a verdict on the model is the infrastructure's.
		c.Errors++
	}
}

// Scored is the number of attempts that judged the model: passes, fails and timeouts.
func (c Counts) Scored() int { return c.Passed + c.Failed + c.Timeouts }

// Total is every planned attempt: judged, errors and not run.
func (c Counts) Total() int { return c.Scored() + c.Errors + c.NotRun }

// AllPassed reports whether at least one attempt was scored and every scored one passed.
func (c Counts) AllPassed() bool { return c.Scored() > 0 && c.Passed == c.Scored() }

// AnyFailed reports whether a scored attempt failed or timed out.
func (c Counts) AnyFailed() bool { return c.Failed+c.Timeouts > 0 }

// Cell is one model on one task: its attempts across repeats.
type Cell struct {
	Counts
	Attempts []results.Attempt // by repeat
}

func (c *Cell) add(a results.Attempt) {
	c.Counts.add(a)
	c.Attempts = append(c.Attempts, a)
}

// latencies are the wall times of the attempts that reached a verdict.
func latencies(as []results.Attempt) []float64 {
	var out []float64
	for _, a := range as {
		if a.Status != results.StatusError && !notRun(a) {
			out = append(out, a.WallSeconds)
		}
	}
	sort.Float64s(out)
	return out
}

// P50 is the median wall time of the cell's scored attempts, 0 when none.
func (c *Cell) P50() float64 { return percentile(latencies(c.Attempts), 50) }

// ModelSummary is one row of the summary table.
type ModelSummary struct {
	Model string `json:"model"`
	Kind  string `json:"kind,omitempty"`
	GPU   string `json:"gpu,omitempty"`
	// Context is the max model length a Modal-served model was served with,
	// 0 when unknown (API models): models compared side by side should have
	// the same budget.
	Context int `json:"context_tokens,omitempty"`
	Counts
	Attempts int `json:"attempts"`
	// PassRate is Passed/Scored; nil when nothing was scored.
	PassRate *float64 `json:"pass_rate"`
	// PassLow and PassHigh bound the 95% Wilson interval of the pass rate,
	// given when some task was attempted more than once.
	PassLow  *float64 `json:"pass_rate_low,omitempty"`
	PassHigh *float64 `json:"pass_rate_high,omitempty"`
	// WallSeconds spans the model's first attempt start to its last attempt end.
	WallSeconds      float64  `json:"wall_s"`
	ColdStartSeconds float64  `json:"cold_start_s"`
	LatencyP50       *float64 `json:"latency_p50_s"` // attempt wall time
	LatencyP95       *float64 `json:"latency_p95_s"`
	TTFTP50          *float64 `json:"ttft_p50_s"`
	TokensPerSecond  *float64 `json:"tokens_out_per_s"` // output tokens over request time
	MeanTurns        *float64 `json:"mean_turns"`
	TokensIn         int      `json:"tokens_in"`
	TokensOut        int      `json:"tokens_out"`
	// CostUSD is the estimated cost; nil when unknown. CostSource says how it
	// was estimated: "gpu" (price per hour × time held) or "api" (summed
	// x-litellm-response-cost).
	CostUSD    *float64 `json:"cost_usd"`
	CostSource string   `json:"cost_source,omitempty"`
	Error      string   `json:"error,omitempty"` // the manifest's error for this model, e.g. a failed deploy
	// SandboxCostUSD is the CPU and memory time of the model's remote
	// sandboxes (--sandbox modal), priced; nil when its commands ran here.
	SandboxCostUSD *float64 `json:"sandbox_cost_usd,omitempty"`
}

// less orders the summary: pass rate (unscored last), then wall time, then name.
func (s ModelSummary) less(o ModelSummary) bool {
	a, b := -1.0, -1.0
	if s.PassRate != nil {
		a = *s.PassRate
	}
	if o.PassRate != nil {
		b = *o.PassRate
	}
	if a != b {
		return a > b
	}
	if s.WallSeconds != o.WallSeconds {
		return s.WallSeconds < o.WallSeconds
	}
	return s.Model < o.Model
}

func summarize(info results.ModelInfo, as []results.Attempt, resumed []time.Time) ModelSummary {
	s := ModelSummary{Model: info.Name, Kind: info.Kind, GPU: info.GPU, Context: info.MaxModelLen, Attempts: len(as),
		ColdStartSeconds: info.ColdStartSeconds, Error: info.Error}
	perCell := map[string]int{}
	var (
		ttft            []float64
		outTok, reqTime float64
		turns, turnsN   int
		apiCost         float64
	)
	for _, a := range as {
		s.Counts.add(a)
		perCell[a.Task]++
		s.TokensIn += a.TokensIn
		s.TokensOut += a.TokensOut
		cost := a.CostUSD
		if cost == 0 {
			for _, q := range a.Requests {
				cost += q.CostUSD
			}
		}
		apiCost += cost
		if a.Status == results.StatusError || notRun(a) {
			continue
		}
		turns += a.Turns
		turnsN++
		for _, q := range a.Requests {
			if q.TTFT > 0 {
				ttft = append(ttft, q.TTFT)
			}
			outTok += float64(q.TokensOut)
			reqTime += q.Total
		}
	}
	if n := s.Scored(); n > 0 {
		s.PassRate = ptr(float64(s.Passed) / float64(n))
		repeated := false
		for _, k := range perCell {
			repeated = repeated || k > 1
		}
		if repeated {
			lo, hi := wilson(s.Passed, n)
			s.PassLow, s.PassHigh = &lo, &hi
		}
	}
	s.WallSeconds = wallSpan(as, resumed)
	if l := latencies(as); len(l) > 0 {
		s.LatencyP50, s.LatencyP95 = ptr(percentile(l, 50)), ptr(percentile(l, 95))
	}
	if len(ttft) > 0 {
		sort.Float64s(ttft)
		s.TTFTP50 = ptr(percentile(ttft, 50))
	}
	if r := outTok / reqTime; reqTime > 0 && !math.IsInf(r, 0) { // a denormal time makes +Inf, which no JSON holds
		s.TokensPerSecond = ptr(r)
	}
	if turnsN > 0 {
		s.MeanTurns = ptr(float64(turns) / float64(turnsN))
	}
	switch {
	case info.Kind == "api" || info.PricePerHour == 0:
		// API models bill per request; the proxy reports it per response.
		if apiCost > 0 {
			s.CostUSD, s.CostSource = ptr(apiCost), "api"
		}
	case info.HeldSeconds > 0:
		// A Modal model bills for the whole time its GPUs were held, idle or not.
		s.CostUSD, s.CostSource = ptr(info.PricePerHour*info.HeldSeconds/3600), "gpu"
	}
	if info.Sandbox != nil {
		s.SandboxCostUSD = ptr(info.Sandbox.CostUSD)
	}
	return s
}

// wallSpan is the time from the first attempt's start to the last one's end,
// summed over the run's sittings (see sitting): the time between an
// interrupted run and its resume, when nothing ran, is no model's.
func wallSpan(as []results.Attempt, resumed []time.Time) float64 {
	first := make([]time.Time, len(resumed)+1)
	last := make([]time.Time, len(resumed)+1)
	timed := false
	for _, a := range as {
		if a.Started.IsZero() || notRun(a) && a.WallSeconds == 0 {
			continue
		}
		timed = true
		k := sitting(a.Started, resumed)
		end := a.Started.Add(seconds(a.WallSeconds))
		if first[k].IsZero() || a.Started.Before(first[k]) {
			first[k] = a.Started
		}
		if end.After(last[k]) {
			last[k] = end
		}
	}
	if !timed {
		// No timestamps: the attempts' own times are all there is.
		var sum float64
		for _, a := range as {
			if !notRun(a) {
				sum += a.WallSeconds
			}
		}
		return sum
	}
	var span float64 // seconds: a Duration sum can wrap round
	for k := range first {
		if !first[k].IsZero() {
			span += last[k].Sub(first[k]).Seconds() // Sub saturates
		}
	}
	return span
}

// seconds is s seconds as a Duration, the longest one for more than it holds
// (292 years): converted, a bigger float is no number a Duration can be, and
// came out negative.
func seconds(s float64) time.Duration {
	if s >= float64(math.MaxInt64)/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}

// sitting is which of a run's sittings a time falls in: 0 before its first
// resume, k after its k-th. resumed is run.json's "resumed", sorted (see
// sittings).
func sitting(t time.Time, resumed []time.Time) int {
	return sort.Search(len(resumed), func(i int) bool { return t.Before(resumed[i]) })
}

// sittings is when a run was resumed, in order. A merged run has none: its
// shards ran side by side, each with its own sittings, and one line of
// resumes would cut one shard's running in two where another resumed.
func sittings(m results.Manifest) []time.Time {
	if len(m.MergedFrom) > 0 {
		return nil
	}
	r := slices.Clone(m.Resumed)
	slices.SortFunc(r, time.Time.Compare)
	return r
}

// percentile interpolates linearly between the closest ranks of sorted values.
func percentile(sorted []float64, p float64) float64 {
	switch len(sorted) {
	case 0:
		return 0
	case 1:
		return sorted[0]
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (rank-float64(lo))*(sorted[hi]-sorted[lo])
}

// wilson is the 95% Wilson score interval of k successes in n trials; unlike
// the normal approximation it stays inside [0, 1] and is sane at 0/n and n/n.
func wilson(k, n int) (lo, hi float64) {
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	centre := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

func ptr[T any](v T) *T { return &v }
