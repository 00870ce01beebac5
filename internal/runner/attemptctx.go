package runner

import "context"

// AttemptID names one attempt of a run.
type AttemptID struct {
	RunID  string
	Model  string
	Task   string
	Repeat int
}

type attemptKey struct{}

// AttemptOf is the attempt a context belongs to: a workspace backend
// (Options.NewWorkspace) reads it to label what it creates, for example a
// remote sandbox tagged with model, task and repeat.
func AttemptOf(ctx context.Context) (AttemptID, bool) {
	id, ok := ctx.Value(attemptKey{}).(AttemptID)
	return id, ok
}

// WithAttempt labels ctx with the attempt it belongs to.
func WithAttempt(ctx context.Context, id AttemptID) context.Context {
	return context.WithValue(ctx, attemptKey{}, id)
}
