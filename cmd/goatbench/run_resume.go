package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
)

// previousRun is what a run folder given to --resume already holds.
type previousRun struct {
	dir      string
	manifest results.Manifest
	attempts []results.Attempt // the latest line of each attempt
}

// resumeFrom reads the run folder of --resume; nil when not resuming.
func (o *runOptions) resumeFrom(s streams) (*previousRun, error) {
	switch {
	case o.Resume == "" && o.RetryErrors:
		return nil, usageError("--retry-errors needs --resume <run folder>")
	case o.Resume == "":
		return nil, nil
	case o.changed["out"]:
		return nil, usageError("--resume writes into the run folder it is given; leave out --out")
	}
	man, err := results.ReadManifest(o.Resume)
	if err != nil {
		return nil, usageError("cannot resume %s: not a run folder (%v)", o.Resume, err)
	}
	all, warnings, err := results.ReadAttempts(o.Resume)
	if err != nil && !errors.Is(err, results.ErrNoRun) {
		return nil, usageError("cannot resume %s: %v", o.Resume, err)
	}
	for _, w := range warnings {
		fmt.Fprintln(s.Err, "warning:", w)
	}
	return &previousRun{dir: o.Resume, manifest: man, attempts: results.Latest(all)}, nil
}

// fill takes from the earlier run what the command line leaves out: the
// suite, the models, the repeats and the parallelism.
func (p *previousRun) fill(o *runOptions) error {
	m := p.manifest
	if !o.changed["suite"] && !o.changed["tasks-dir"] {
		o.Suite, o.TasksDir = m.Suite, ""
		for _, a := range m.Args {
			if dir, ok := strings.CutPrefix(a, "--tasks-dir="); ok {
				o.TasksDir = dir
			}
		}
	}
	if !o.changed["models"] && !o.changed["model-name"] {
		o.Models, o.ModelName = nil, ""
		for _, mi := range m.Models {
			o.Models = append(o.Models, mi.Name)
		}
	}
	if o.changed["repeat"] && o.Repeat != m.Repeat {
		return usageError("cannot resume %s with --repeat %d: it was run with --repeat %d", p.dir, o.Repeat, m.Repeat)
	}
	o.Repeat = m.Repeat
	if !o.changed["parallel"] && m.Parallel > 0 {
		o.Parallel = m.Parallel
	}
	return nil
}

// baseURL is the endpoint the earlier run used for a model.
func (p *previousRun) baseURL(model string) string {
	for _, mi := range p.manifest.Models {
		if mi.Name == model {
			return mi.BaseURL
		}
	}
	return ""
}

// check refuses to mix results: the suite's content and the models must be
// those of the earlier run.
func (p *previousRun) check(suite tasks.Suite, targets []target) error {
	m := p.manifest
	if suite.Name != m.Suite {
		return usageError("cannot resume %s: it ran suite %q, not %q; leave out --suite and --tasks-dir to resume with its own", p.dir, m.Suite, suite.Name)
	}
	if suite.Hash != m.SuiteHash {
		return usageError("cannot resume %s: suite %q has changed since the run started (content hash %s, now %s); start a new run",
			p.dir, m.Suite, short(m.SuiteHash), short(suite.Hash))
	}
	var was, now []string
	for _, mi := range m.Models {
		was = append(was, mi.Name)
	}
	for _, t := range targets {
		now = append(now, t.name)
	}
	slices.Sort(was)
	slices.Sort(now)
	if !slices.Equal(was, now) {
		return usageError("cannot resume %s: it ran models %s, not %s; leave out --models to resume with its own",
			p.dir, strings.Join(was, ","), strings.Join(now, ","))
	}
	return nil
}

// done lists the attempts a resumed run must not run again: every attempt with
// a result, except cancelled ones (never judged) and, with retryErrors, those
// that ended in an infrastructure error.
func (p *previousRun) done(retryErrors bool) map[string]bool {
	done := make(map[string]bool, len(p.attempts))
	for _, a := range p.attempts {
		switch {
		case a.Status == results.StatusError && a.FailureClass == results.ClassCancelled:
		case a.Status == results.StatusError && retryErrors:
		default:
			done[a.Key()] = true
		}
	}
	return done
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
