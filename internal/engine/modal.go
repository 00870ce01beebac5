package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
)

// Scaledown is how long a Modal app keeps its GPUs after its last request
// (the apps' scaledown_window), counted in the cost unless the run stops them.
const Scaledown = 5 * time.Minute

// runOnModal deploys and warms the Modal-served models all at once and runs
// each one's attempts the moment that model is warm. A model that cannot be
// deployed or warmed has all its attempts recorded as errors; the others run.
// The manifest's models get their cold start and the time this run held them.
func (e *engine) runOnModal(ctx context.Context, r *runner.Runner, dir string, ts []Target, man *results.Manifest) error {
	p := e.plan
	byKey := map[string]Target{}
	var dts []deploy.Target
	for _, t := range ts {
		byKey[t.Modal.Key] = t
		dts = append(dts, t.Deploy)
	}
	d := e.NewDeployer(dir, func(key string, ph deploy.Phase, elapsed time.Duration) {
		e.emit(DeployPhase{Key: key, Phase: ph, Elapsed: elapsed})
	})
	defer d.Close()

	var (
		mu      sync.Mutex
		runErrs []error
	)
	note := func(name string, f func(*results.ModelInfo)) {
		mu.Lock()
		defer mu.Unlock()
		for i := range man.Models {
			if man.Models[i].Name == name {
				f(&man.Models[i])
			}
		}
	}
	outcomes := d.EnsureAll(ctx, dts, func(ep deploy.Endpoint) {
		e.emit(Warm{Endpoint: ep})
		t := byKey[ep.Key]
		if p.Direct {
			t.BaseURL = strings.TrimSuffix(ep.URL, "/") + "/v1"
		}
		start := e.Now()
		err := r.RunModel(ctx, e.model(t))
		ran := e.Now().Sub(start)
		held := ran
		if ep.Started() {
			held += ep.ColdStart
		}
		if !p.StopAfter {
			held += Scaledown
		}
		note(t.Name, func(mi *results.ModelInfo) {
			mi.ColdStartSeconds, mi.HeldSeconds = ep.ColdStart.Seconds(), held.Seconds()
			mi.SpecHash = ep.SpecHash
			if p.Direct {
				mi.BaseURL = RecordedURL(t.BaseURL)
			}
		})
		e.emit(ModelDone{Model: t.Name, Key: ep.Key, Elapsed: ran})
		mu.Lock()
		runErrs = append(runErrs, err)
		mu.Unlock()
	})
	for _, out := range outcomes {
		if out.Err == nil {
			continue
		}
		t := byKey[out.Key]
		note(t.Name, func(mi *results.ModelInfo) { mi.Error = oneLine(out.Err.Error()) })
		runErrs = append(runErrs, r.FailModel(t.Name, results.ClassDeploy, oneLine(out.Err.Error())))
	}
	if p.StopAfter {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := d.StopStarted(sctx, outcomes.Started()); err != nil {
			e.emit(Warning{Text: "--stop-after: " + oneLine(err.Error())})
		}
	}
	return errors.Join(runErrs...)
}
