package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/goatbench/goatbench/internal/didyoumean"
)

// Untiered is how a task without a tier is counted and shown.
const Untiered = "untiered"

// TierOf is a task's tier, or Untiered.
func (t Task) TierOf() string {
	if t.Tier == "" {
		return Untiered
	}
	return t.Tier
}

// Select keeps the tasks in any of the tiers (all tiers when none is given)
// that carry any of the tags (all tasks when none is given). A tier or tag
// that no task of the suite has is an error, so a typo never runs nothing or
// everything. The selection is part of the hash: a run of a selection is
// not comparable, task for task, with a run of another.
func (s Suite) Select(tiers, tags []string) (Suite, error) {
	tiers, tags = nonEmpty(tiers), nonEmpty(tags)
	if len(tiers) == 0 && len(tags) == 0 {
		return s, nil
	}
	haveTiers, haveTags := map[string]bool{}, map[string]bool{}
	for _, t := range s.Tasks {
		haveTiers[t.TierOf()] = true
		for _, g := range t.Tags {
			haveTags[g] = true
		}
	}
	for _, tier := range tiers {
		if !haveTiers[tier] {
			return Suite{}, fmt.Errorf("--tier %s: no task of suite %s has this tier%s", tier, s.Name, hint(tier, haveTiers))
		}
	}
	for _, tag := range tags {
		if !haveTags[tag] {
			return Suite{}, fmt.Errorf("--tags %s: no task of suite %s has this tag%s", tag, s.Name, hint(tag, haveTags))
		}
	}
	out := Suite{Name: s.Name}
	for _, t := range s.Tasks {
		if len(tiers) > 0 && !slices.Contains(tiers, t.TierOf()) {
			continue
		}
		if len(tags) > 0 && !slices.ContainsFunc(t.Tags, func(g string) bool { return slices.Contains(tags, g) }) {
			continue
		}
		out.Tasks = append(out.Tasks, t)
	}
	if len(out.Tasks) == 0 {
		return Suite{}, fmt.Errorf("no task of suite %s is in tier %s with tag %s", s.Name, strings.Join(tiers, " or "), strings.Join(tags, " or "))
	}
	h := sha256.Sum256([]byte(s.Hash + "\x00tier=" + strings.Join(tiers, ",") + "\x00tags=" + strings.Join(tags, ",")))
	out.Hash = hex.EncodeToString(h[:])
	return out, nil
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func hint(v string, have map[string]bool) string {
	known := make([]string, 0, len(have))
	for k := range have {
		known = append(known, k)
	}
	sort.Strings(known)
	if c := didyoumean.One(v, known); c != "" {
		return fmt.Sprintf(" (did you mean %s?)", c)
	}
	if len(known) == 0 {
		return " (it has none)"
	}
	return " (it has: " + strings.Join(known, ", ") + ")"
}

// TierCount is how many tasks of a suite are in one tier.
type TierCount struct {
	Tier  string `json:"tier"`
	Tasks int    `json:"tasks"`
}

// TierCounts counts the suite's tasks per tier, in the order of Tiers, with
// untiered tasks last.
func (s Suite) TierCounts() []TierCount {
	n := map[string]int{}
	for _, t := range s.Tasks {
		n[t.TierOf()]++
	}
	var out []TierCount
	for _, tier := range append(slices.Clone(Tiers), Untiered) {
		if n[tier] > 0 {
			out = append(out, TierCount{tier, n[tier]})
		}
	}
	return out
}

// TaskTiers maps each task id that has a tier to it, for reports; nil when
// no task has one.
func (s Suite) TaskTiers() map[string]string {
	var m map[string]string
	for _, t := range s.Tasks {
		if t.Tier != "" {
			if m == nil {
				m = make(map[string]string, len(s.Tasks))
			}
			m[t.ID] = t.Tier
		}
	}
	return m
}
