package report

import "math"

// DefaultAlpha is the significance level below which a drop in pass rate
// counts as a regression.
const DefaultAlpha = 0.05

// fisherLess is the one-sided Fisher exact test that head's pass rate is
// lower than base's. Given both runs' attempt counts and the total of passes,
// head's passes are hypergeometric under "nothing changed"; the p-value is
// the chance of head passing this few or fewer. Exact, so it is right at the
// small counts a few repeats give, where normal approximations are not, and
// conservative, which suits a gate that must not cry wolf. It returns 1 when
// a side has no scored attempt.
func fisherLess(basePass, baseN, headPass, headN int) float64 {
	if baseN <= 0 || headN <= 0 {
		return 1
	}
	n, k, draws := baseN+headN, basePass+headPass, headN
	lo := max(0, draws-(n-k))
	logTotal := logChoose(n, draws)
	p := 0.0
	for x := lo; x <= headPass; x++ {
		p += math.Exp(logChoose(k, x) + logChoose(n-k, draws-x) - logTotal)
	}
	return math.Min(1, p)
}

// logChoose is ln C(n, k) through the log-gamma function, which stays finite
// for any suite size where the binomial coefficient itself would overflow.
func logChoose(n, k int) float64 {
	if k < 0 || k > n {
		return math.Inf(-1)
	}
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// Rate is a pass rate with its 95% Wilson interval.
type Rate struct {
	Passed int     `json:"passed"`
	Scored int     `json:"scored"`
	Rate   float64 `json:"rate"`
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
}

// rateOf is the pass rate of counts, nil when nothing was scored.
func rateOf(passed, scored int) *Rate {
	if scored <= 0 {
		return nil
	}
	lo, hi := wilson(passed, scored)
	return &Rate{Passed: passed, Scored: scored, Rate: float64(passed) / float64(scored), Low: lo, High: hi}
}

// text is "80% [38–96%]": the rate and its interval.
func (r *Rate) text() string {
	if r == nil {
		return dash
	}
	return pct(r.Rate) + " [" + pctBare(r.Low) + "–" + pct(r.High) + "]"
}

func pctBare(v float64) string {
	s := pct(v)
	return s[:len(s)-1]
}
