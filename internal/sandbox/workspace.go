package sandbox

import (
	"context"
	"time"
)

// Workspace is one attempt's workspace as the agent's tools and the task
// checks use it: files addressed relative to the workspace root, and shell
// commands run inside it. Nothing in it is a local path, so a backend whose
// workspace lives elsewhere (a remote sandbox) implements it as well as a
// local folder does.
type Workspace interface {
	// ReadFile reads at most limit bytes of a regular file; truncated
	// reports whether the file holds more.
	ReadFile(name string, limit int) (data []byte, truncated bool, err error)
	// WriteFile writes a file, creating parent directories.
	WriteFile(name string, data []byte) error
	// ListDir lists a directory, sorted; directories end with '/'.
	ListDir(name string) ([]string, error)
	// Exists reports whether a path exists.
	Exists(name string) bool
	// Seeded returns a setup file's original content.
	Seeded(name string) ([]byte, bool)
	// Run runs a shell command in the workspace.
	Run(ctx context.Context, script string, timeout time.Duration) (Result, error)
	// Close releases the workspace and removes it unless keep is set.
	Close(keep bool) error
}
