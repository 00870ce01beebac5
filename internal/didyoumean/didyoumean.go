// Package didyoumean finds the names near a misspelt one, for the "did you
// mean" hints of every loader and flag.
package didyoumean

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Near reports whether name is close enough to candidate to suggest it:
// a few edits away, or sharing a prefix.
func Near(name, candidate string) bool { return len(Closest(name, []string{candidate}, 1)) > 0 }

// One is the candidate nearest to name, or "" when none is near.
func One(name string, candidates []string) string {
	if c := Closest(name, candidates, 1); len(c) > 0 {
		return c[0]
	}
	return ""
}

// Hint ends an "unknown name" error: " (did you mean X?)" when a name is
// near, else the names that are known.
func Hint(name string, known []string) string {
	if c := One(name, known); c != "" {
		return fmt.Sprintf(" (did you mean %s?)", c)
	}
	return fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
}

// Closest returns up to n candidates near name, nearest first. Candidates
// that share a prefix with name or are within a few edits of it count as
// near; anything further is noise and left out.
func Closest(name string, candidates []string, n int) []string {
	type scored struct {
		cand string
		dist int
		pos  int
	}
	var near []scored
	for i, c := range candidates {
		d := editDistance(name, c)
		// A third of the longer name may differ: tool_parser is still
		// recognisably tool_call_parser, mistral-7b is not llama-3.1-8b.
		limit := max(2, max(len(name), len(c))/3)
		prefix := len(name) >= 3 && (strings.HasPrefix(c, name) || strings.HasPrefix(name, c))
		if d <= limit || prefix {
			near = append(near, scored{c, d, i})
		}
	}
	slices.SortStableFunc(near, func(a, b scored) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.pos, b.pos))
	})
	var out []string
	for _, s := range near {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, s.cand) {
			out = append(out, s.cand)
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
