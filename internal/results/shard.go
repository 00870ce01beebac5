package results

import (
	"fmt"
	"slices"
)

// Shard names one share of a run split across machines: Index of Count,
// counted from 1. The zero value is the whole run.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Whole reports whether s is the whole run rather than a share of it.
func (s Shard) Whole() bool { return s.Count <= 1 }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// attemptKey is one attempt of a run, before it is made.
type attemptKey struct {
	model, task string
	repeat      int
}

// allAttempts lists every attempt of a run in one order that depends only on
// the names: models, then tasks, sorted, then repeats. Every machine given the
// same models, suite and --repeat computes the same list.
func allAttempts(models, tasks []string, repeat int) []attemptKey {
	ms, ts := slices.Sorted(slices.Values(models)), slices.Sorted(slices.Values(tasks))
	out := make([]attemptKey, 0, len(ms)*len(ts)*repeat)
	for _, m := range ms {
		for _, t := range ts {
			for r := range repeat {
				out = append(out, attemptKey{m, t, r})
			}
		}
	}
	return out
}

// ShardOf returns the attempts (results.Attempt.Key) shard s owns: the s.Index-th
// of s.Count contiguous, near-equal blocks of the sorted attempt list. Blocks
// rather than round-robin keep a shard's attempts on as few models as
// possible, so a shard deploys and warms only the models it runs; with as many
// shards as models (and every model on the same tasks), each shard is one
// model. The whole run owns everything.
func ShardOf(s Shard, models, tasks []string, repeat int) map[string]bool {
	all := allAttempts(models, tasks, repeat)
	lo, hi := 0, len(all)
	if !s.Whole() {
		if s.Index < 1 || s.Index > s.Count {
			return map[string]bool{} // no share of any run (ReadManifest refuses it)
		}
		lo, hi = (s.Index-1)*len(all)/s.Count, s.Index*len(all)/s.Count
	}
	own := make(map[string]bool, hi-lo)
	for _, k := range all[lo:hi] {
		own[Attempt{Model: k.model, Task: k.task, Repeat: k.repeat}.Key()] = true
	}
	return own
}
