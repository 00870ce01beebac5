package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// fakeDeployer keeps deploy.Deployer's contract (internal/deploy/deploy.go,
// EnsureAll and StopStarted): every target is handled at once; onReady runs
// on that target's goroutine the moment it is ready and EnsureAll waits for
// it; a failure does not stop the others; outcomes are in target order, and a
// failed one still says whether its app was started.
type fakeDeployer struct {
	progress func(string, deploy.Phase, time.Duration)
	logDir   string
	ready    map[string]deploy.Endpoint // how each key's app answers
	fail     map[string]error           // keys that never become ready
	after    map[string]<-chan struct{} // a key warms only once this is closed

	mu      sync.Mutex
	stopped []string
	closed  bool
}

func (d *fakeDeployer) EnsureAll(ctx context.Context, ts []deploy.Target, onReady func(deploy.Endpoint)) deploy.Outcomes {
	out := make(deploy.Outcomes, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.progress(t.Key, deploy.PhaseLookup, 0)
			ep := d.ready[t.Key]
			ep.Key, ep.AppName = t.Key, t.AppName
			err := d.fail[t.Key]
			if c := d.after[t.Key]; c != nil {
				select {
				case <-c:
				case <-ctx.Done():
					err = ctx.Err()
				case <-time.After(10 * time.Second): // fail, not hang, when what it waits for never comes
					err = errors.New("what this model waits for never happened")
				}
			}
			if err != nil {
				d.progress(t.Key, deploy.PhaseFailed, time.Second)
				out[i] = deploy.Outcome{Key: t.Key, Endpoint: ep, Err: err}
				return
			}
			d.progress(t.Key, deploy.PhaseReady, time.Second)
			out[i] = deploy.Outcome{Key: t.Key, Endpoint: ep}
			onReady(ep)
		}()
	}
	wg.Wait()
	return out
}

func (d *fakeDeployer) StopStarted(_ context.Context, eps []deploy.Endpoint) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ep := range eps {
		if ep.Started() {
			d.stopped = append(d.stopped, ep.AppName)
		}
	}
	return nil
}

func (d *fakeDeployer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

// writer is a fake agent that does the task: it writes note.txt and answers.
type writer struct {
	started func(model string) // called as each attempt starts, if set
}

func (a writer) Attempt(_ context.Context, m runner.Model, _ tasks.Task, w sandbox.Workspace) (runner.AgentResult, error) {
	if a.started != nil {
		a.started(m.Name)
	}
	if err := w.WriteFile("note.txt", []byte("hello")); err != nil {
		return runner.AgentResult{}, err
	}
	return runner.AgentResult{Answer: "done", Answered: true, Turns: 2, ToolCalls: 1}, nil
}

// blocker is a fake agent that works until its context ends.
type blocker struct{}

func (blocker) Attempt(ctx context.Context, _ runner.Model, _ tasks.Task, _ sandbox.Workspace) (runner.AgentResult, error) {
	<-ctx.Done()
	return runner.AgentResult{}, ctx.Err()
}

func noteSuite(t *testing.T, n int) tasks.Suite {
	t.Helper()
	s := tasks.Suite{Name: "notes", Hash: "h1"}
	for i := range n {
		task, err := tasks.Parse("t.yaml", fmt.Appendf(nil, `
id: note-%d
prompt: write note.txt saying hello
max_turns: 3
timeout: 1m
checks:
  - file_contains: {path: note.txt, text: hello}
reference:
  - tool: write_file
    args: {path: note.txt, content: hello}
  - answer: done
`, i))
		require.NoError(t, err)
		s.Tasks = append(s.Tasks, task)
	}
	return s
}

func registry(t *testing.T) *models.Registry {
	t.Helper()
	reg, err := models.Load("")
	require.NoError(t, err)
	return reg
}

// modalTarget is a Modal-served registry model as ResolveTargets makes it.
func modalTarget(t *testing.T, key string) Target {
	t.Helper()
	spec, err := registry(t).Lookup(key)
	require.NoError(t, err)
	tg, err := ResolveTargets(registry(t), Selection{Names: []string{key}, Direct: true, Temperature: -1})
	require.NoError(t, err)
	require.NotNil(t, tg[0].Modal)
	tg[0].Deploy = deploy.Target{Key: spec.Key, AppName: spec.AppName()}
	return tg[0]
}

// events collects what the engine emits, and fails the test if two events
// are ever delivered at once.
type events struct {
	t      *testing.T
	inside atomic.Int32
	mu     sync.Mutex
	all    []Event
}

func (e *events) sink(ev Event) {
	if e.inside.Add(1) != 1 {
		e.t.Error("two events delivered at once")
	}
	defer e.inside.Add(-1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) of(kind string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.all {
		if fmt.Sprintf("%T", ev) == "engine."+kind {
			out = append(out, ev)
		}
	}
	return out
}

type fixture struct {
	opts Options
	dep  *fakeDeployer
	ev   *events
}

func newFixture(t *testing.T, plan Plan) *fixture {
	t.Helper()
	f := &fixture{dep: &fakeDeployer{ready: map[string]deploy.Endpoint{}, fail: map[string]error{}, after: map[string]<-chan struct{}{}},
		ev: &events{t: t}}
	if plan.Out == "" {
		plan.Out = t.TempDir()
	}
	if plan.Sandbox == nil {
		plan.Sandbox = sandbox.Plain{}
	}
	plan.WorkRoot = searchableDir(t)
	plan.Repeat, plan.Parallel = max(plan.Repeat, 1), max(plan.Parallel, 1)
	f.opts = Options{Plan: plan, Events: f.ev.sink,
		NewDeployer: func(logDir string, progress func(string, deploy.Phase, time.Duration)) Deployer {
			f.dep.logDir, f.dep.progress = logDir, progress
			return f.dep
		}}
	return f
}

// searchableDir is a fresh directory every user can pass through, as the
// system temp dir is: run by root, unisolated commands run as a uid of their
// own, which t.TempDir()'s 0700 parents would shut out.
func searchableDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "goatbench-engine-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

func (f *fixture) run(t *testing.T) (Outcome, []results.Attempt, results.Manifest) {
	t.Helper()
	out, err := Run(context.Background(), f.opts)
	require.NoError(t, err)
	attempts, _, err := results.ReadAttempts(out.Dir)
	require.NoError(t, err)
	man, err := results.ReadManifest(out.Dir)
	require.NoError(t, err)
	return out, attempts, man
}

func statuses(as []results.Attempt) map[string]results.Status {
	m := map[string]results.Status{}
	for _, a := range as {
		m[a.Model+"/"+a.Task] = a.Status
	}
	return m
}

func TestEachModelRunsTheMomentItIsWarm(t *testing.T) {
	qwen, llama := modalTarget(t, "qwen3-4b"), modalTarget(t, "llama-3.1-8b")
	qwenStarted := make(chan struct{})
	var once sync.Once
	f := newFixture(t, Plan{Suite: noteSuite(t, 2), Targets: []Target{qwen, llama}, Direct: true,
		Agent: writer{started: func(m string) {
			if m == qwen.Name {
				once.Do(func() { close(qwenStarted) })
			}
		}}})
	f.dep.ready["qwen3-4b"] = deploy.Endpoint{URL: "http://qwen.invalid"}
	f.dep.ready["llama-3.1-8b"] = deploy.Endpoint{URL: "http://llama.invalid"}
	// llama warms only once qwen's attempts are under way: a run that waited
	// for every model to be warm would never start.
	f.dep.after["llama-3.1-8b"] = qwenStarted
	out, attempts, man := f.run(t)
	require.Len(t, attempts, 4)
	for k, st := range statuses(attempts) {
		require.Equal(t, results.StatusPass, st, k)
	}
	require.Equal(t, out.Dir, f.dep.logDir, "deploy logs go to the run folder")
	require.True(t, f.dep.closed)
	require.Nil(t, out.Stop)
	require.NotNil(t, man.Ended)
	require.Equal(t, "http://qwen.invalid/v1", man.Models[0].BaseURL, "--direct: the app's own URL is recorded")

	require.IsType(t, RunStarted{}, f.ev.all[0])
	require.Len(t, f.ev.of("Warm"), 2)
	require.Len(t, f.ev.of("AttemptStarted"), 4)
	require.Len(t, f.ev.of("AttemptFinished"), 4)
	require.Len(t, f.ev.of("DeployPhase"), 4, "lookup and ready for each")
	done := f.ev.of("ModelDone")
	require.Len(t, done, 2)
	for _, d := range done {
		require.NotEmpty(t, d.(ModelDone).Key, "Modal-served models are named by key")
	}
}

func TestAModelThatCannotDeployErrorsAlone(t *testing.T) {
	qwen, llama := modalTarget(t, "qwen3-4b"), modalTarget(t, "llama-3.1-8b")
	f := newFixture(t, Plan{Suite: noteSuite(t, 2), Targets: []Target{llama, qwen}, Agent: writer{}, StopAfter: true})
	f.dep.ready["qwen3-4b"] = deploy.Endpoint{URL: "http://qwen.invalid", Deployed: true}
	f.dep.ready["llama-3.1-8b"] = deploy.Endpoint{Woke: true}
	f.dep.fail["llama-3.1-8b"] = errors.New("llama-3.1-8b: not warm after 1s:\nHTTP 503")
	_, attempts, man := f.run(t)
	require.Len(t, attempts, 4)
	for _, a := range attempts {
		if a.Model == llama.Name {
			require.Equal(t, results.StatusError, a.Status)
			require.Equal(t, results.ClassDeploy, a.FailureClass)
			require.Equal(t, "llama-3.1-8b: not warm after 1s:; HTTP 503", a.Reason)
		} else {
			require.Equal(t, results.StatusPass, a.Status)
		}
	}
	require.Equal(t, "llama-3.1-8b: not warm after 1s:; HTTP 503", man.Models[0].Error)
	require.Empty(t, man.Models[1].Error)
	require.ElementsMatch(t, []string{"goat-vllm-qwen3-4b", "goat-vllm-llama-3.1-8b"}, f.dep.stopped,
		"--stop-after stops what this run deployed or woke, ready or not")
}

// stepClock advances a minute every time it is read.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Minute)
	return c.now
}

func TestHeldTimeCountsColdStartAndScaledown(t *testing.T) {
	tests := []struct {
		name      string
		ep        deploy.Endpoint
		stopAfter bool
		held      time.Duration
		stopped   []string
	}{
		// The run's attempts take one clock step: one minute.
		{"woken, left to scale down", deploy.Endpoint{Woke: true, ColdStart: 30 * time.Second}, false, time.Minute + 30*time.Second + Scaledown, nil},
		{"woken, stopped after", deploy.Endpoint{Woke: true, ColdStart: 30 * time.Second}, true, time.Minute + 30*time.Second, []string{"goat-vllm-qwen3-4b"}},
		{"already warm", deploy.Endpoint{ColdStart: 30 * time.Second}, false, time.Minute + Scaledown, nil},
		{"already warm, stop after", deploy.Endpoint{}, true, time.Minute, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Plan{Suite: noteSuite(t, 1), Targets: []Target{modalTarget(t, "qwen3-4b")}, Agent: writer{}, StopAfter: tc.stopAfter})
			clock := &stepClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			f.opts.Now = clock.Now
			tc.ep.URL = "http://qwen.invalid"
			f.dep.ready["qwen3-4b"] = tc.ep
			out, _, man := f.run(t)
			require.Equal(t, tc.held.Seconds(), man.Models[0].HeldSeconds)
			require.Equal(t, tc.ep.ColdStart.Seconds(), man.Models[0].ColdStartSeconds)
			require.Equal(t, tc.stopped, f.dep.stopped)
			require.Equal(t, "20260102-030505", out.RunID[:15], "the run id comes from the clock")
			require.Equal(t, time.Date(2026, 1, 2, 3, 6, 5, 0, time.UTC), man.Started)
		})
	}
}

func TestModelsOffModalNeedNoDeployer(t *testing.T) {
	f := newFixture(t, Plan{Suite: noteSuite(t, 2), Targets: []Target{{Name: "api", ModelID: "api", Info: results.ModelInfo{Name: "api"}}}, Agent: writer{}, Repeat: 2})
	f.opts.NewDeployer = nil // calling it would panic
	_, attempts, man := f.run(t)
	require.Len(t, attempts, 4)
	require.Equal(t, 2, man.Repeat)
	require.Equal(t, []string{"note-0", "note-1"}, man.Tasks)
	done := f.ev.of("ModelDone")
	require.Len(t, done, 1)
	require.Empty(t, done[0].(ModelDone).Key)
}

func TestTheReferenceTargetGetsItsServer(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	tg, err := ResolveTargets(registry(t), Selection{Names: []string{reference.ModelID}, Temperature: -1})
	require.NoError(t, err)
	f := newFixture(t, Plan{Suite: suite, Targets: tg, Parallel: 4})
	_, attempts, man := f.run(t)
	require.Len(t, attempts, len(suite.Tasks))
	for k, st := range statuses(attempts) {
		require.Equal(t, results.StatusPass, st, k)
	}
	require.Contains(t, man.Models[0].BaseURL, "http://127.0.0.1:")
}

func TestResumeRunsWhatHasNoJudgedResult(t *testing.T) {
	suite := noteSuite(t, 3)
	api := Target{Name: "api", ModelID: "api", Info: results.ModelInfo{Name: "api"}}
	first := newFixture(t, Plan{Suite: suite, Targets: []Target{api}, Agent: writer{}})
	out, attempts, _ := first.run(t)
	// The first run: one pass, one infrastructure error, one cancelled.
	attempts[1].Status, attempts[1].FailureClass = results.StatusError, results.ClassServerError
	attempts[2].Status, attempts[2].FailureClass = results.StatusError, results.ClassCancelled
	var b []byte
	for _, a := range attempts {
		line, err := jsonLine(a)
		require.NoError(t, err)
		b = append(b, line...)
	}
	require.NoError(t, os.WriteFile(filepath.Join(out.Dir, results.AttemptsFile), b, 0o644))

	for i, tc := range []struct {
		retryErrors bool
		pending     int
	}{{false, 1}, {true, 2}} {
		t.Run(fmt.Sprintf("retry errors %v", tc.retryErrors), func(t *testing.T) {
			require.NoError(t, os.WriteFile(filepath.Join(out.Dir, results.AttemptsFile), b, 0o644))
			prev, warnings, err := OpenPrevious(out.Dir)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, prev.Close()) })
			require.Empty(t, warnings)
			require.NoError(t, prev.Check(suite, []Target{api}))
			f := newFixture(t, Plan{Suite: suite, Targets: []Target{api}, Agent: writer{}, Resume: prev, RetryErrors: tc.retryErrors, Parallel: 3})
			again, all, man := f.run(t)
			require.Equal(t, out.Dir, again.Dir, "a resumed run writes into its own folder")
			require.Len(t, all, 3+tc.pending)
			started := f.ev.of("RunStarted")[0].(RunStarted)
			require.True(t, started.Resumed)
			require.Equal(t, tc.pending, started.Pending)
			require.Equal(t, map[string]int{api.Name: tc.pending}, started.ByModel)
			require.Equal(t, 3, started.Total)
			require.Len(t, man.Resumed, i+1, "each resume is noted")
			require.Equal(t, 3, man.Parallel, "the resumed run's own parallelism is recorded")
			for k, st := range statuses(results.Latest(all)) {
				if k == "api/note-1" && !tc.retryErrors {
					require.Equal(t, results.StatusError, st)
					continue
				}
				require.Equal(t, results.StatusPass, st, k)
			}
		})
	}
}

func TestResumeRefusesAnotherSuiteOrModels(t *testing.T) {
	prev := &Previous{Dir: "d", Manifest: results.Manifest{Suite: "notes", SuiteHash: "h1", Models: []results.ModelInfo{{Name: "a"}}}}
	suite := noteSuite(t, 1)
	var ce *ConfigError
	require.NoError(t, prev.Check(suite, []Target{{Name: "a"}}))
	err := prev.Check(suite, []Target{{Name: "b"}})
	require.ErrorAs(t, err, &ce)
	require.Contains(t, err.Error(), "it ran models a, not b")
	suite.Hash = "h2"
	require.ErrorContains(t, prev.Check(suite, []Target{{Name: "a"}}), "has changed since the run started")
	suite.Name = "other"
	require.ErrorContains(t, prev.Check(suite, []Target{{Name: "a"}}), `it ran suite "notes", not "other"`)
	_, _, err = OpenPrevious(t.TempDir())
	require.ErrorAs(t, err, &ce)
	require.Contains(t, err.Error(), "not a run folder")
}

func TestDeadlineStopsTheRunAndKeepsItsFolder(t *testing.T) {
	f := newFixture(t, Plan{Suite: noteSuite(t, 3), Targets: []Target{{Name: "api", Info: results.ModelInfo{Name: "api"}}},
		Agent: blocker{}, Deadline: 50 * time.Millisecond})
	out, attempts, man := f.run(t)
	require.ErrorContains(t, out.Stop, "the run's --deadline of 50ms passed")
	require.Len(t, attempts, 3)
	for _, a := range attempts {
		require.Equal(t, results.StatusError, a.Status)
		require.Equal(t, results.ClassCancelled, a.FailureClass)
	}
	require.NotNil(t, man.Ended)
}

func TestAnUnreachableEndpointWritesNothing(t *testing.T) {
	f := newFixture(t, Plan{Suite: noteSuite(t, 1), Targets: []Target{{Name: "api", BaseURL: "http://127.0.0.1:1/v1"}}, Agent: writer{}})
	_, err := Run(context.Background(), f.opts)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, err.Error(), "cannot reach http://127.0.0.1:1/v1")
	entries, _ := os.ReadDir(f.opts.Plan.Out)
	require.Empty(t, entries)
	require.Empty(t, f.ev.all)
}

// An endpoint whose chat route is missing (a base URL without its /v1) or
// refuses the key is refused before anything is written: every chat request
// would get the same, and the run was a folder of errors. A key that may
// chat but not list the models (a LiteLLM virtual key limited to the chat
// routes gets a 403 on /models, litellm/proxy/auth/route_checks.py) runs.
func TestAnEndpointThatRefusesChatWritesNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case r.URL.Path != "/v1/models" && r.URL.Path != "/v1/chat/completions":
			http.NotFound(w, r)
		case key != "right" && key != "chat-only":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/v1/models" && key == "chat-only":
			w.WriteHeader(http.StatusForbidden) // LiteLLM's "Virtual key is not allowed to call this route"
		case r.URL.Path == "/v1/chat/completions":
			w.WriteHeader(http.StatusBadRequest) // the body {} has no model: the key was good
		default:
			_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct{ base, key, want string }{
		{srv.URL, "right", "/chat/completions answers HTTP 404: does --base-url lack its /v1?"},
		{srv.URL + "/v2", "right", "/chat/completions answers HTTP 404: does --base-url lack its /v1?"},
		{srv.URL + "/v1", "wrong", "refused the API key (HTTP 401 on POST /chat/completions)"},
	} {
		f := newFixture(t, Plan{Suite: noteSuite(t, 1), Targets: []Target{{Name: "api", BaseURL: tc.base}}, Agent: writer{}, APIKey: tc.key})
		_, err := Run(context.Background(), f.opts)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, tc.base)
		require.ErrorContains(t, err, tc.want)
		entries, _ := os.ReadDir(f.opts.Plan.Out)
		require.Empty(t, entries)
	}
	for _, key := range []string{"right", "chat-only"} {
		f := newFixture(t, Plan{Suite: noteSuite(t, 1), Targets: []Target{{Name: "api", BaseURL: srv.URL + "/v1"}}, Agent: writer{}, APIKey: key})
		_, err := Run(context.Background(), f.opts)
		require.NoError(t, err, "the right URL and a key that may chat pass: %s", key)
	}
}

func TestAnUnreachableEndpointNamesNoPassword(t *testing.T) {
	f := newFixture(t, Plan{Suite: noteSuite(t, 1), Targets: []Target{{Name: "api", BaseURL: "http://u:p4ss@127.0.0.1:1/v1"}}, Agent: writer{}})
	_, err := Run(context.Background(), f.opts)
	require.ErrorContains(t, err, "cannot reach http://u:xxxxx@127.0.0.1:1/v1")
	require.NotContains(t, err.Error(), "p4ss")
}

func TestStoppedBeforeStartReturnsTheCause(t *testing.T) {
	srv := httptest.NewServer(nil)
	defer srv.Close()
	f := newFixture(t, Plan{Suite: noteSuite(t, 1), Targets: []Target{{Name: "api", BaseURL: srv.URL}}, Agent: writer{}})
	why := errors.New("interrupted")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(why)
	_, err := Run(ctx, f.opts)
	require.ErrorIs(t, err, why)
	entries, _ := os.ReadDir(f.opts.Plan.Out)
	require.Empty(t, entries)
}

func jsonLine(a results.Attempt) ([]byte, error) {
	b, err := json.Marshal(a)
	return append(b, '\n'), err
}
