#!/usr/bin/env python3
"""Known values for the statistics in internal/report/stats.go, computed
independently of the Go code with Python's standard library only.

One-sided Fisher exact test (H1: head's pass rate is lower than base's):
  condition on the margins; the head's passes X are hypergeometric with
  population base_n+head_n, base_pass+head_pass successes and head_n draws.
  p = P(X <= head_pass), summed exactly with math.comb and fractions.Fraction.

Wilson score interval (95%): E. B. Wilson (1927), with z the 0.975 normal
quantile from statistics.NormalDist.

Textbook cases are checked here before the file is written:
  - R. A. Fisher, The Design of Experiments (1935), ch. II, the lady tasting
    tea: 8 cups, 4 with milk first; all 4 picked right has p = 1/70, three
    right p = 17/70.
  - R. G. Newcombe, "Two-sided confidence intervals for the single
    proportion: comparison of seven methods", Statistics in Medicine 17
    (1998) 857-872, Table II, method 3 (Wilson score without continuity
    correction): 81/263 -> 0.2553-0.3662, 15/148 -> 0.0624-0.1605,
    0/20 -> 0-0.1611, 1/29 -> 0.0061-0.1718.

Run: python3 known_values.py > known_values.json
"""
import json
from fractions import Fraction
from math import comb, sqrt
from statistics import NormalDist


def fisher_less(base_pass, base_n, head_pass, head_n):
    N, K, n = base_n + head_n, base_pass + head_pass, head_n
    total = comb(N, n)
    lo = max(0, n - (N - K))
    return Fraction(sum(comb(K, x) * comb(N - K, n - x) for x in range(lo, head_pass + 1)), total)


def wilson(k, n, z=NormalDist().inv_cdf(0.975)):
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


# The textbook values, before anything is written.
assert fisher_less(4, 4, 0, 4) == Fraction(1, 70)
assert fisher_less(3, 4, 1, 4) == Fraction(17, 70)
for (k, n), (lo, hi) in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605),
                         (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
    got = wilson(k, n)
    assert abs(got[0] - lo) < 5e-5 and abs(got[1] - hi) < 5e-5, (k, n, got)

fisher_cases = [
    ("Fisher 1935, tea tasting, all four right", 4, 4, 0, 4),
    ("Fisher 1935, tea tasting, three right", 3, 4, 1, 4),
    ("5/5 to 0/5", 5, 5, 0, 5),
    ("5/5 to 3/5", 5, 5, 3, 5),
    ("4/5 to 0/5", 4, 5, 0, 5),
    ("5/5 to 4/5", 5, 5, 4, 5),
    ("4/5 to 4/5", 4, 5, 4, 5),
    ("0/5 to 5/5, better", 0, 5, 5, 5),
    ("1/1 to 0/1", 1, 1, 0, 1),
    ("10/10 to 5/10", 10, 10, 5, 10),
    ("pooled suite, 80/100 to 65/100", 80, 100, 65, 100),
    ("pooled suite, 450/500 to 430/500", 450, 500, 430, 500),
    ("unequal sizes, 3/3 to 2/7", 3, 3, 2, 7),
]
wilson_cases = [(81, 263), (15, 148), (0, 20), (1, 29), (5, 5), (0, 5), (4, 5), (1, 2), (45, 50)]

out = {
    "method": "exact enumeration with math.comb and fractions.Fraction (Fisher, one-sided lower tail); "
              "Wilson 1927 score interval with z = NormalDist().inv_cdf(0.975); "
              "textbook checks: Fisher 1935 tea tasting, Newcombe 1998 Table II",
    "fisher_less": [{"name": name, "base_pass": bp, "base_n": bn, "head_pass": hp, "head_n": hn,
                     "p": float(fisher_less(bp, bn, hp, hn)),
                     "p_exact": str(fisher_less(bp, bn, hp, hn))}
                    for name, bp, bn, hp, hn in fisher_cases],
    "wilson95": [{"k": k, "n": n, "low": wilson(k, n)[0], "high": wilson(k, n)[1]} for k, n in wilson_cases],
}
print(json.dumps(out, indent=2))
