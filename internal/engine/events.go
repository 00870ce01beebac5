package engine

import (
	"time"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/results"
)

// Event is one step of a run's progress, for the CLI to render. Events reach
// the sink one at a time, never concurrently.
type Event interface{ isEvent() }

// RunStarted: the run folder and run.json exist; attempts are about to start.
type RunStarted struct {
	RunID   string
	Dir     string
	Sandbox string // the sandbox's mode, as run.json records it
	Resumed bool
	Tasks   int
	Models  int
	Repeat  int
	Pending int            // attempts this invocation will make
	ByModel map[string]int // the same, by model: this shard's, less those a resumed run keeps
	Total   int            // attempts of the whole run
}

// DeployPhase: a Modal-served model entered a deploy phase (lookup, deploying,
// warming, ready, failed).
type DeployPhase struct {
	Key     string // registry key
	Phase   deploy.Phase
	Elapsed time.Duration
}

// Warm: a Modal-served model answers; its attempts start now.
type Warm struct {
	Endpoint deploy.Endpoint
}

// AttemptStarted: an attempt is about to create its workspace.
type AttemptStarted struct {
	Model  string
	Task   string
	Repeat int
}

// AttemptFinished: an attempt's line is in results.jsonl.
type AttemptFinished struct {
	Attempt results.Attempt
}

// ModelDone: every attempt of a model has been made.
type ModelDone struct {
	Model   string        // the name in results
	Key     string        // registry key of a Modal-served model; "" for the others
	Elapsed time.Duration // since the model's first attempt could start
}

// Warning: something the user should know that did not stop the run.
type Warning struct {
	Text string
}

func (RunStarted) isEvent()      {}
func (DeployPhase) isEvent()     {}
func (Warm) isEvent()            {}
func (AttemptStarted) isEvent()  {}
func (AttemptFinished) isEvent() {}
func (ModelDone) isEvent()       {}
func (Warning) isEvent()         {}
