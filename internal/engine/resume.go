package engine

import (
	"errors"
	"slices"
	"strings"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
)

// Previous is what a run folder given to --resume already holds.
type Previous struct {
	Dir      string
	Manifest results.Manifest
	Attempts []results.Attempt // the latest line of each attempt
	lock     *results.Lock     // held from OpenPrevious to Close: one resume at a time
}

// Close releases the run folder for another resume.
func (p *Previous) Close() error {
	if p == nil {
		return nil
	}
	return p.lock.Unlock()
}

// OpenPrevious reads a run folder to resume; warnings name lines of
// results.jsonl that could not be read.
//
// It locks the folder before reading it, so that a second resume of the same
// folder is refused instead of running every attempt twice; Close releases it.
func OpenPrevious(dir string) (*Previous, []string, error) {
	man, err := results.ReadManifest(dir)
	if err != nil {
		return nil, nil, configError("cannot resume %s: not a run folder (%v)", dir, err)
	}
	// What a resume takes from it; a run.json without them (cut short, or
	// made by hand) would surface as a flag the user never gave.
	switch {
	case man.RunID == "":
		return nil, nil, configError("cannot resume %s: its %s has no run id; start a new run", dir, results.ManifestFile)
	case man.Repeat < 1 || len(man.Tasks) == 0 || len(man.Models) == 0:
		return nil, nil, configError("cannot resume %s: its %s names no repeat count, tasks or models; start a new run", dir, results.ManifestFile)
	}
	lock, err := results.LockDir(dir)
	if err != nil {
		return nil, nil, configError("%v", err)
	}
	all, warnings, err := results.ReadAttempts(dir)
	if err != nil && !errors.Is(err, results.ErrNoRun) {
		_ = lock.Unlock()
		return nil, nil, configError("cannot resume %s: %v", dir, err)
	}
	return &Previous{Dir: dir, Manifest: man, Attempts: results.Latest(all), lock: lock}, warnings, nil
}

// EarlierFlag is the value a flag had in the earlier run, as run.json records it.
func (p *Previous) EarlierFlag(name string) (string, bool) {
	for _, a := range p.Manifest.Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// BaseURL is the endpoint the earlier run used for a model.
func (p *Previous) BaseURL(model string) string {
	for _, mi := range p.Manifest.Models {
		if mi.Name == model {
			return mi.BaseURL
		}
	}
	return ""
}

// Check refuses to mix results: the suite's content and the models must be
// those of the earlier run.
func (p *Previous) Check(suite tasks.Suite, targets []Target) error {
	m := p.Manifest
	if suite.Name != m.Suite {
		return configError("cannot resume %s: it ran suite %q, not %q; leave out --suite and --tasks-dir to resume with its own", p.Dir, m.Suite, suite.Name)
	}
	if suite.Hash != m.SuiteHash {
		return configError("cannot resume %s: suite %q has changed since the run started (content hash %s, now %s); start a new run",
			p.Dir, m.Suite, short(m.SuiteHash), short(suite.Hash))
	}
	var was, now []string
	for _, mi := range m.Models {
		was = append(was, mi.Name)
	}
	for _, t := range targets {
		now = append(now, t.Name)
	}
	slices.Sort(was)
	slices.Sort(now)
	if !slices.Equal(was, now) {
		return configError("cannot resume %s: it ran models %s, not %s; leave out --models to resume with its own",
			p.Dir, strings.Join(was, ","), strings.Join(now, ","))
	}
	return nil
}

// Rerun reports whether a resumed run makes an earlier attempt again: a
// cancelled one (never judged) and, with retryErrors, one that ended in an
// infrastructure error. Every other attempt with a result is done.
func Rerun(a results.Attempt, retryErrors bool) bool {
	return a.Cancelled() || retryErrors && a.Status == results.StatusError
}

// done lists the attempts a resumed run must not run again.
func (p *Previous) done(retryErrors bool) map[string]bool {
	done := make(map[string]bool, len(p.Attempts))
	for _, a := range p.Attempts {
		if !Rerun(a, retryErrors) {
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
