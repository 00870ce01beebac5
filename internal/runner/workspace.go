package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// Workspace is one attempt's private directory. Every file access goes through
// an os.Root, so `../`, absolute paths and symlinks pointing outside are refused.
type Workspace struct {
	Dir    string
	root   *os.Root
	sb     sandbox.Sandbox
	setup  map[string][]byte // seeded content, for file_unchanged checks
	tmpfs  bool              // a size-capped tmpfs (sandbox.MountWorkspace)
	points *mountPoints      // where its emptied mount point goes back; nil: removed
}

// NewWorkspace creates a fresh directory under parent (the system temp dir when
// empty) and seeds it with the task's setup files.
func NewWorkspace(parent string, t tasks.Task, sb sandbox.Sandbox) (*Workspace, error) {
	return newWorkspace(parent, "goatbench-"+t.ID+"-", 0, nil, t, sb)
}

// newWorkspace is NewWorkspace with the directory's name (before a random
// suffix) given, a run names each after its attempt, and the mount points
// a tmpfs workspace may take its directory from and give it back to (nil:
// none).
func newWorkspace(parent, name string, disk int64, points *mountPoints, t tasks.Task, sb sandbox.Sandbox) (*Workspace, error) {
	if disk <= 0 {
		points = nil
	}
	dir, err := points.make(parent, name)
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	mounted, err := sandbox.MountWorkspace(dir, disk)
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("workspace: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("workspace: %w", err)
	}
	if !mounted {
		points = nil
	}
	w := &Workspace{Dir: dir, root: root, sb: sb, setup: map[string][]byte{}, tmpfs: mounted, points: points}
	for _, f := range t.Setup {
		mode := fs.FileMode(f.Mode)
		if mode == 0 {
			mode = 0o644
		}
		if err := w.writeFile(f.Path, []byte(f.Content), mode); err != nil {
			w.Close(false)
			return nil, fmt.Errorf("workspace: seed %s: %w", f.Path, err)
		}
		w.setup[path.Clean(f.Path)] = []byte(f.Content)
	}
	return w, nil
}

// Warm has the sandbox build the workspace's sandbox in the background,
// where it can (sandbox.Warmer): an agent whose commands run through the
// workspace calls it before it first asks the model, so the first command
// does not wait for that build. An agent run as one command of its own (an
// external agent) does not, since nothing else runs there.
func (w *Workspace) Warm() {
	if sw, ok := w.sb.(sandbox.Warmer); ok {
		sw.Warm(w.Dir)
	}
}

// Close releases the workspace and removes it unless keep is set.
func (w *Workspace) Close(keep bool) error {
	var err error
	if r, ok := w.sb.(sandbox.Releaser); ok {
		err = r.Release(w.Dir) // nothing the commands started outlives the attempt
	}
	err = errors.Join(err, w.root.Close())
	if !keep {
		if w.tmpfs {
			uerr := sandbox.UnmountWorkspace(w.Dir)
			if err == nil && uerr == nil && w.points.keep(w.Dir) {
				return nil
			}
			err = errors.Join(err, uerr)
		}
		// Commands may have left read-only directories behind, and trees
		// deeper than a path can name: both are removed all the same.
		_ = sandbox.MakeRemovable(w.Dir)
		err = errors.Join(err, os.RemoveAll(w.Dir))
	}
	return err
}

// ReadFile reads at most limit bytes of a regular file inside the workspace;
// truncated reports whether the file holds more.
func (w *Workspace) ReadFile(name string, limit int) (data []byte, truncated bool, err error) {
	f, err := w.open(clean(name), os.O_RDONLY, 0, false)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if len(data) > limit {
		return data[:limit], true, err
	}
	return data, false, err
}

// open opens a path in the workspace without ever blocking: a model can leave
// a FIFO or a device where a file is expected, and opening one for reading or
// writing would hang the attempt past its timeout. Only regular files (or
// directories, with dir) are accepted.
func (w *Workspace) open(name string, flag int, mode fs.FileMode, dir bool) (*os.File, error) {
	f, err := w.root.OpenFile(name, flag|syscall.O_NONBLOCK, mode)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	switch {
	case err != nil:
	case dir && !st.IsDir():
		err = fmt.Errorf("%s: not a directory", name)
	case !dir && !st.Mode().IsRegular():
		err = fmt.Errorf("%s: not a regular file", name)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// WriteFile writes a file inside the workspace, creating parent directories.
func (w *Workspace) WriteFile(name string, data []byte) error {
	return w.writeFile(name, data, 0o644)
}

func (w *Workspace) writeFile(name string, data []byte, mode fs.FileMode) error {
	name = clean(name)
	if dir := path.Dir(name); dir != "." {
		if err := w.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := w.open(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode, false)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// ListDir lists a directory inside the workspace; directories end with '/'.
func (w *Workspace) ListDir(name string) ([]string, error) {
	f, err := w.open(clean(name), os.O_RDONLY, 0, true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Exists reports whether a path exists inside the workspace.
func (w *Workspace) Exists(name string) bool {
	_, err := w.root.Stat(clean(name))
	return err == nil
}

// Seeded returns a setup file's original content.
func (w *Workspace) Seeded(name string) ([]byte, bool) {
	b, ok := w.setup[path.Clean(name)]
	return b, ok
}

// Run runs a shell command in the workspace's sandbox.
func (w *Workspace) Run(ctx context.Context, script string, timeout time.Duration) (sandbox.Result, error) {
	return w.sb.Run(ctx, sandbox.Command{Dir: w.Dir, Script: script, Timeout: timeout})
}

// clean keeps the model's notion of "the workspace root" working for
// "", "." and "./x"; anything absolute is left for os.Root to refuse.
func clean(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "."
	}
	return name
}
