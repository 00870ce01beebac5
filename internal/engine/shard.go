package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/goatbench/goatbench/internal/results"
)

// ParseShard reads "i/n" (1 ≤ i ≤ n); "" is the whole run.
func ParseShard(s string) (results.Shard, error) {
	if s == "" {
		return results.Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return results.Shard{}, fmt.Errorf("--shard must be i/n with 1 ≤ i ≤ n, e.g. 2/4; got %q", s)
	}
	return results.Shard{Index: i, Count: n}, nil
}

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
func ShardOf(s results.Shard, models, tasks []string, repeat int) map[string]bool {
	all := allAttempts(models, tasks, repeat)
	lo, hi := 0, len(all)
	if !s.Whole() {
		lo, hi = (s.Index-1)*len(all)/s.Count, s.Index*len(all)/s.Count
	}
	own := make(map[string]bool, hi-lo)
	for _, k := range all[lo:hi] {
		own[results.Attempt{Model: k.model, Task: k.task, Repeat: k.repeat}.Key()] = true
	}
	return own
}

// shard lists the attempts of the plan that belong to other shards (the
// runner treats them as done) and counts this shard's own. A shard that would
// own nothing, or that resumes a folder of another shard, is refused before
// anything is written.
func (e *engine) shard() (map[string]bool, int, error) {
	p := &e.plan
	var was results.Shard
	if p.Resume != nil && p.Resume.Manifest.Shard != nil {
		was = *p.Resume.Manifest.Shard
	}
	if p.Shard.Whole() {
		p.Shard = results.Shard{} // 1/1 is the whole run
	}
	if p.Resume != nil && was != p.Shard {
		return nil, 0, configError("cannot resume %s as shard %s: it ran as shard %s", p.Resume.Dir, shardName(p.Shard), shardName(was))
	}
	var names, ids []string
	for _, t := range p.Targets {
		names = append(names, t.Name)
	}
	for _, t := range p.Suite.Tasks {
		ids = append(ids, t.ID)
	}
	own := ShardOf(p.Shard, names, ids, p.Repeat)
	skip := map[string]bool{}
	if p.Shard.Whole() {
		return skip, len(own), nil
	}
	if len(own) == 0 {
		all := len(names) * len(ids) * p.Repeat
		return nil, 0, configError("--shard %s owns no attempt: the run has only %d; use at most %d shards", p.Shard, all, all)
	}
	for _, k := range allAttempts(names, ids, p.Repeat) {
		if key := (results.Attempt{Model: k.model, Task: k.task, Repeat: k.repeat}).Key(); !own[key] {
			skip[key] = true
		}
	}
	return skip, len(own), nil
}

// notInShard reports whether every attempt of a model belongs to other shards.
func (e *engine) notInShard(model string, skip map[string]bool) bool {
	if len(skip) == 0 {
		return false
	}
	for _, t := range e.plan.Suite.Tasks {
		for r := range e.plan.Repeat {
			if !skip[results.Attempt{Model: model, Task: t.ID, Repeat: r}.Key()] {
				return false
			}
		}
	}
	return true
}

func shardName(s results.Shard) string {
	if s.Whole() {
		return "none (the whole run)"
	}
	return s.String()
}
