// Package runner schedules attempts (models × tasks × repeats) and owns the
// attempt lifecycle: workspace, agent loop, tools, checks and the results stream.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
	"github.com/sashabaranov/go-openai"
)

// Options configure a run.
type Options struct {
	RunID          string
	RunDir         string // results/<run-id>; results.jsonl and transcripts/ go here
	Parallel       int    // attempts in flight per model
	Repeat         int
	KeepWorkspaces bool
	WorkRoot       string          // parent of the attempt workspaces; "" is the system temp dir
	Sandbox        sandbox.Sandbox // nil is sandbox.Default(): bubblewrap where it works
	// WorkspaceDisk caps what one attempt may write to its workspace, run by
	// root (a tmpfs of that size; see sandbox.MountWorkspace): 0 is
	// sandbox.DefaultWorkspaceDisk, negative or KeepWorkspaces none (kept
	// workspaces stay on disk).
	WorkspaceDisk int64
	// RequestTimeout bounds each try of a chat request; 0 leaves only the
	// attempt's timeout (the task's) and the run's context.
	RequestTimeout time.Duration
	// Retry is the retry policy of chat requests; the zero value never retries.
	Retry RetryPolicy
	// Done holds the keys (results.Attempt.Key) of attempts already recorded
	// by an earlier run into the same folder; they are not run again.
	Done map[string]bool
	// OnAttempt is called once per attempt, after its line is written.
	OnAttempt func(results.Attempt)
	// OnStart is called as each attempt starts, before its workspace exists.
	OnStart func(model, task string, repeat int)
	// OnWarning is told, in a line, what went wrong without failing the
	// attempt: a transcript that could not be written. Attempts call it
	// from their own goroutines.
	OnWarning func(string)
	// Agent performs each attempt; nil is Builtin with RequestTimeout and Retry.
	Agent Agent
	// NewWorkspace makes each attempt's workspace; nil is a local folder under
	// WorkRoot whose commands run in Sandbox.
	NewWorkspace func(ctx context.Context, t tasks.Task) (sandbox.Workspace, error)
}

// Runner runs a suite against models and appends every attempt to the stream.
type Runner struct {
	opts  Options
	suite tasks.Suite
	out   *results.Writer

	// broken is cancelled, with a *WriteError as its cause, at the first
	// results write that fails: from then on nothing starts, what is in
	// flight is stopped and nothing more is written.
	broken context.Context
	breaks context.CancelCauseFunc
	work   *workDir
}

// WriteError is a failed write of the results stream (a full disk, say). The
// run stops at the first one; what is on disk stays valid for --resume.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "write results: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// New opens the run folder's results stream.
func New(suite tasks.Suite, opts Options) (*Runner, error) {
	if opts.Parallel < 1 || opts.Repeat < 1 {
		return nil, fmt.Errorf("parallel and repeat must be at least 1")
	}
	if opts.Sandbox == nil {
		opts.Sandbox = sandbox.Default()
	}
	if opts.Agent == nil {
		opts.Agent = Builtin{RequestTimeout: opts.RequestTimeout, Retry: opts.Retry}
	}
	if err := os.MkdirAll(filepath.Join(opts.RunDir, results.TranscriptsDir), 0o755); err != nil {
		return nil, err
	}
	work, err := openWorkDir(opts.WorkRoot, opts.RunID, opts.KeepWorkspaces)
	if err != nil {
		return nil, err
	}
	w, err := results.OpenWriter(opts.RunDir)
	if err != nil {
		work.close()
		return nil, err
	}
	r := &Runner{opts: opts, suite: suite, out: w, work: work}
	r.broken, r.breaks = context.WithCancelCause(context.Background())
	return r, nil
}

// Close closes the results stream and removes the run's workspace directory
// (unless workspaces are kept).
func (r *Runner) Close() error { return errors.Join(r.out.Close(), r.work.close()) }

// WorkspacesDir is where this run's workspaces are made (and kept, with
// KeepWorkspaces): <work root>/goatbench-work/<run id>.
func (r *Runner) WorkspacesDir() string { return r.work.dir }

// job is one attempt to make.
type job struct {
	task   tasks.Task
	repeat int
}

// jobs lists the attempts of a model still to make.
func (r *Runner) jobs(model string) []job {
	var js []job
	for _, t := range r.suite.Tasks {
		for i := range r.opts.Repeat {
			if r.opts.Done[results.Attempt{Model: model, Task: t.ID, Repeat: i}.Key()] {
				continue
			}
			js = append(js, job{t, i})
		}
	}
	return js
}

// Pending is the number of attempts a model still has to make.
func (r *Runner) Pending(model string) int { return len(r.jobs(model)) }

// RunModel runs every task and repeat for one model, at most Parallel at a
// time. Once ctx is cancelled nothing new starts, and each attempt not started
// is recorded as cancelled, with the context's cause as the reason. An
// attempt's line is written and synced before its slot takes the next one.
// The error is only ever a failure to write results (a *WriteError): the
// first one stops every model's attempts, those in flight included, so that
// no paid request is made whose result could not be kept.
func (r *Runner) RunModel(ctx context.Context, m Model) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(r.broken, func() { cancel(context.Cause(r.broken)) })()
	g := errgroup.Group{}
	g.SetLimit(r.opts.Parallel)
	for _, j := range r.jobs(m.Name) {
		if err := r.writeFailed(); err != nil {
			break
		}
		if ctx.Err() != nil {
			reason := cancelReason(context.Cause(ctx)) + " (before it started)"
			if err := r.record(r.skipped(m.Name, j, results.StatusError, results.ClassCancelled, reason)); err != nil {
				return err
			}
			continue
		}
		g.Go(func() error { return r.record(r.attempt(ctx, m, j)) })
	}
	return errors.Join(g.Wait(), r.writeFailed())
}

// writeFailed is the first failed write, if any.
func (r *Runner) writeFailed() error {
	if r.broken.Err() == nil {
		return nil
	}
	return context.Cause(r.broken)
}

// FailModel records every attempt of a model that could not run at all (its
// deployment failed, for example) as an infrastructure error.
func (r *Runner) FailModel(model, class, reason string) error {
	for _, j := range r.jobs(model) {
		if err := r.record(r.skipped(model, j, results.StatusError, class, reason)); err != nil {
			return err
		}
	}
	return r.writeFailed()
}

func (r *Runner) skipped(model string, j job, st results.Status, class, reason string) results.Attempt {
	return results.Attempt{RunID: r.opts.RunID, Model: model, Task: j.task.ID, Repeat: j.repeat,
		Status: st, FailureClass: class, Reason: reason, Started: time.Now().UTC()}
}

func (r *Runner) record(a results.Attempt) error {
	if err := r.writeFailed(); err != nil {
		return nil // reported once, by RunModel; this attempt is re-run on --resume
	}
	a = redacted(a)
	if err := r.out.Append(a); err != nil {
		r.breaks(&WriteError{Err: err})
		return nil
	}
	if r.opts.OnAttempt != nil {
		r.opts.OnAttempt(a)
	}
	return nil
}

// attempt is one model on one task: workspace → agent loop → checks.
// workspace makes an attempt's workspace: the plan's own backend when it has
// one, else a local folder named after the attempt under the run's work
// directory, so that the next run can tell and remove what a killed one left.
func (r *Runner) workspace(ctx context.Context, m Model, j job) (sandbox.Workspace, error) {
	if r.opts.NewWorkspace != nil {
		return r.opts.NewWorkspace(WithAttempt(ctx, AttemptID{r.opts.RunID, m.Name, j.task.ID, j.repeat}), j.task)
	}
	disk := r.opts.WorkspaceDisk
	switch {
	case r.opts.KeepWorkspaces:
		disk = 0
	case disk == 0:
		disk = sandbox.DefaultWorkspaceDisk
	}
	// The folder's name is for people looking at the work root. Both parts
	// are ASCII (the model's name made safe, a task id as Parse allows), and
	// cut they keep it within a file name's 255 bytes.
	name := fmt.Sprintf("%.64s-%.*s-r%d-", unsafeName.ReplaceAllString(m.Name, "_"), tasks.MaxIDLength, j.task.ID, j.repeat)
	w, err := newWorkspace(r.work.dir, name, disk, &r.work.free, j.task, r.opts.Sandbox)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return w, nil
}

func (r *Runner) attempt(ctx context.Context, m Model, j job) (a results.Attempt) {
	t := j.task
	a = results.Attempt{RunID: r.opts.RunID, Model: m.Name, Task: t.ID, Repeat: j.repeat, Started: time.Now().UTC()}
	start := time.Now()
	defer func() { a.WallSeconds = time.Since(start).Seconds() }()
	if r.opts.OnStart != nil {
		r.opts.OnStart(m.Name, t.ID, j.repeat)
	}

	ws, err := r.workspace(ctx, m, j)
	if err != nil {
		a.Status, a.FailureClass, a.Reason = results.StatusError, results.ClassServerError, oneLine(err.Error())
		if ae := (*AttemptError)(nil); errors.As(err, &ae) { // a backend that names its failure (sandbox quota)
			a.Status, a.FailureClass = ae.Status, ae.Class
		}
		return a
	}
	defer ws.Close(r.opts.KeepWorkspaces)

	timeout := t.Timeout
	if tl, ok := r.opts.Agent.(interface {
		AttemptTimeout(tasks.Task) time.Duration
	}); ok {
		timeout = tl.AttemptTimeout(t) // an external agent has its own timeout and a grace period
	}
	actx, cancel := context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
	defer cancel()
	l, loopErr := r.opts.Agent.Attempt(actx, m, t, ws)
	a.Turns, a.ToolCalls, a.ToolErrors, a.Retries = l.Turns, l.ToolCalls, l.ToolErrors, l.Retries
	a.TokensIn, a.TokensOut, a.CostUSD, a.Requests = l.TokensIn, l.TokensOut, l.CostUSD, l.Requests
	a.FinalAnswer = truncate(l.Answer, 2000)
	a.LastToolCall, a.LastToolOutput = truncate(l.LastToolCall, 500), truncate(l.LastToolOutput, 500)

	var classified *AttemptError
	switch {
	case errors.As(loopErr, &classified) && actx.Err() == nil:
		a.Status, a.FailureClass, a.Reason = classified.Status, classified.Class, oneLine(classified.Reason)
	case loopErr != nil:
		a.Status, a.FailureClass, a.Reason = classify(actx, loopErr)
	case !l.Answered:
		a.Status, a.FailureClass = results.StatusFail, results.ClassMaxTurns
		a.Reason = fmt.Sprintf("no final answer after %d turns", t.MaxTurns)
	default:
		// Checks get their own time: a model that answered in time is judged in full.
		var evalErr error
		a.Checks, evalErr = Evaluate(ctx, ws, t, l.Answer)
		a.Status, a.FailureClass, a.Reason = verdict(a.Checks, l)
		switch {
		case ctx.Err() != nil && a.Status != results.StatusPass:
			a.Status, a.FailureClass, a.Reason = results.StatusError, results.ClassCancelled, cancelReason(context.Cause(ctx))
		case evalErr != nil && !failedAny(a.Checks[:len(a.Checks)-1]):
			// A check goatbench could not run judges nothing: an error,
			// as a tool call the sandbox could not run is, unless a check
			// before it failed already.
			a.Status, a.FailureClass, a.Reason = results.StatusError, results.ClassServerError, oneLine(evalErr.Error())
		}
	}
	// A workspace that failed under the attempt (a remote sandbox that died)
	// makes it an infrastructure error, whatever the checks then saw.
	if lw, ok := ws.(interface{ Lost() *AttemptError }); ok && ctx.Err() == nil {
		if ae := lw.Lost(); ae != nil {
			a.Status, a.FailureClass, a.Reason = ae.Status, ae.Class, oneLine(ae.Reason)
		}
	}
	a.Transcript = r.writeTranscript(m.Name, j, l.Messages, &a)
	return a
}

// verdict turns check results into a status, naming the likeliest cause of a fail.
func verdict(checks []results.Check, l AgentResult) (results.Status, string, string) {
	if AllPass(checks) {
		return results.StatusPass, "", ""
	}
	reason := ""
	for _, c := range checks {
		if !c.Pass {
			reason = c.Name + ": " + c.Detail
			break
		}
	}
	switch {
	case l.CutOff:
		// First: a reply cut off may be a tool call not yet parsed as one
		// (llama-server sends its start as text), and a reasoning model that
		// spent the tokens thinking answers nothing.
		return results.StatusFail, results.ClassCutOff, "the model's last reply was cut off at the token limit (finish_reason length); " + reason
	case toolCallText.MatchString(l.Answer):
		return results.StatusFail, results.ClassToolCallAsText, "the model wrote a tool call as text; " + reason
	case l.BadArgs > 0 && l.BadArgs == l.ToolCalls:
		return results.StatusFail, results.ClassBadToolArguments, "every tool call was malformed; " + reason
	case len(l.Answer) == 0:
		return results.StatusFail, results.ClassNoFinalAnswer, "the final answer is empty; " + reason
	}
	return results.StatusFail, results.ClassChecksFailed, reason
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// folderName is a model's name made safe as one folder's: a name longer
// than a file name may be (--model-name takes any) is cut, and the cut one
// ends in a hash of the whole, so two names alike in their first 100 bytes
// still have folders of their own.
func folderName(model string) string {
	name := unsafeName.ReplaceAllString(model, "_")
	if len(name) <= 128 {
		return name
	}
	sum := sha256.Sum256([]byte(model))
	return name[:100] + "-" + hex.EncodeToString(sum[:8])
}

// writeTranscript stores every message of the attempt; it returns the path
// relative to the run folder, or "" when it could not be written.
func (r *Runner) writeTranscript(model string, j job, msgs []openai.ChatCompletionMessage, a *results.Attempt) string {
	rel := filepath.Join(results.TranscriptsDir, folderName(model),
		fmt.Sprintf("%s-r%d.json", j.task.ID, j.repeat))
	b, err := json.MarshalIndent(struct {
		Model    string                         `json:"model"`
		Task     string                         `json:"task"`
		Repeat   int                            `json:"repeat"`
		Status   results.Status                 `json:"status"`
		Checks   []results.Check                `json:"checks,omitempty"`
		Messages []openai.ChatCompletionMessage `json:"messages"`
	}{model, j.task.ID, j.repeat, a.Status, a.Checks, msgs}, "", "  ")
	if err == nil {
		// Inside the run folder whatever a resumed folder holds at rel.
		err = results.WriteInside(r.opts.RunDir, rel, redact.Bytes(b))
	}
	if err != nil {
		if r.opts.OnWarning != nil {
			r.opts.OnWarning(fmt.Sprintf("%s %s r%d: its transcript could not be written: %s", model, j.task.ID, j.repeat, oneLine(err.Error())))
		}
		return ""
	}
	return rel
}
