package engine

import (
	"fmt"
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
	own := results.ShardOf(p.Shard, names, ids, p.Repeat)
	skip := map[string]bool{}
	if p.Shard.Whole() {
		return skip, len(own), nil
	}
	if len(own) == 0 {
		all := len(names) * len(ids) * p.Repeat
		return nil, 0, configError("--shard %s owns no attempt: the run has only %d; use at most %d shards", p.Shard, all, all)
	}
	for key := range results.ShardOf(results.Shard{}, names, ids, p.Repeat) {
		if !own[key] {
			skip[key] = true
		}
	}
	return skip, len(own), nil
}

// nothingToRun reports whether every attempt of a model is done: another
// shard's, or recorded by the run this one resumes.
func (e *engine) nothingToRun(model string, done map[string]bool) bool {
	if len(done) == 0 {
		return false
	}
	for _, t := range e.plan.Suite.Tasks {
		for r := range e.plan.Repeat {
			if !done[results.Attempt{Model: model, Task: t.ID, Repeat: r}.Key()] {
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
