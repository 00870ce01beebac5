package modalsandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	modal "github.com/modal-labs/modal-client/go"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// argBudget is how much data one Exec carries in its arguments: the SDK
// refuses more than 64 KiB of arguments in all (sandbox.go, validateExecArgs),
// and the script itself needs some.
const argBudget = 60 << 10

// fileOpTimeout bounds a file operation, which has no context of its own.
const fileOpTimeout = 2 * time.Minute

// Workspace is one attempt's Modal Sandbox.
type Workspace struct {
	p       *Provider
	sb      *modal.Sandbox
	ctx     context.Context // the attempt's values, without its cancellation: for file operations
	model   string
	size    Config // image, cores and memory
	started time.Time
	setup   map[string][]byte

	mu     sync.Mutex
	lost   *runner.AttemptError
	closed bool
}

var _ sandbox.Workspace = (*Workspace)(nil)

// Lost is why the sandbox failed under the attempt; nil while it works. The
// runner then records the attempt as an infrastructure error.
func (w *Workspace) Lost() *runner.AttemptError {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// output is what one Exec did.
type output struct {
	out      []byte
	dropped  int64
	code     int
	timedOut bool
}

// exec runs argv in the workspace: ExecStart, then ExecWait with the stdout
// stream read beside it when limit > 0. An error is a failure of the sandbox
// (recorded by Lost) or the end of ctx; a failing command is an output.
func (w *Workspace) exec(ctx context.Context, argv []string, timeout time.Duration, limit int) (output, error) {
	params := &modal.SandboxExecParams{Workdir: Workdir, Stderr: modal.Ignore}
	if limit <= 0 {
		params.Stdout = modal.Ignore
	}
	if timeout > 0 {
		params.Timeout = timeout.Truncate(time.Second)
		if params.Timeout < timeout {
			params.Timeout += time.Second // whole seconds only, rounded up
		}
	}
	w.p.mu.Lock()
	w.p.usage.ExecCount++
	w.p.mu.Unlock()
	start := time.Now()
	cp, err := w.sb.Exec(ctx, argv, params)
	if err != nil {
		return output{}, w.failed(ctx, err)
	}
	var o output
	read := make(chan error, 1)
	go func() {
		if limit <= 0 {
			read <- nil
			return
		}
		var buf bytes.Buffer
		_, err := io.Copy(&buf, io.LimitReader(cp.Stdout, int64(limit)))
		if err == nil {
			o.dropped, err = io.Copy(io.Discard, cp.Stdout)
		}
		o.out = buf.Bytes()
		read <- err
	}()
	code, werr := cp.Wait(ctx, nil)
	rerr := <-read
	var te modal.ExecTimeoutError
	switch {
	case errors.As(werr, &te) || errors.As(rerr, &te):
		o.timedOut, o.code = true, -1
		return o, nil
	case werr != nil:
		return o, w.failed(ctx, werr)
	case rerr != nil:
		return o, w.failed(ctx, rerr)
	}
	o.code = code
	// A command killed at its timeout ends with SIGKILL (128+9), as the
	// local sandbox's: reported the same way, as timed out with exit -1.
	if timeout > 0 && code == 137 && time.Since(start) >= timeout {
		o.timedOut, o.code = true, -1
	}
	return o, nil
}

// failed records a failure of the sandbox, unless it is only ctx ending.
func (w *Workspace) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost == nil {
		w.lost = &runner.AttemptError{Status: results.StatusError, Class: ClassLost,
			Reason: fmt.Sprintf("modal sandbox %s failed: %v", w.sb.SandboxID, err)}
	}
	return w.lost
}

// Run runs a shell command, its stderr on its stdout as in a local workspace.
func (w *Workspace) Run(ctx context.Context, script string, timeout time.Duration) (sandbox.Result, error) {
	if timeout <= 0 {
		timeout = sandbox.DefaultTimeout
	}
	// On the script's own line, so that bash's "line N" messages match.
	script = "exec 2>&1; " + script
	if res, bad := sandbox.Unrunnable(script); bad {
		return res, nil
	}
	start := time.Now()
	o, err := w.exec(ctx, []string{"bash", "-c", script}, timeout, sandbox.DefaultOutputCap)
	res := sandbox.Result{Output: string(o.out), Dropped: o.dropped, ExitCode: o.code, TimedOut: o.timedOut, Duration: time.Since(start)}
	return res, err
}

// valid refuses what a local workspace's os.Root refuses: absolute paths and
// paths that climb out of the root.
func valid(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "."
	}
	clean := path.Clean(name)
	if path.IsAbs(name) || !fs.ValidPath(clean) {
		return "", fmt.Errorf("%s: path escapes from parent", name)
	}
	return clean, nil
}

// fileOp runs a file script; exit 0 is success, any other exit an error
// carrying the script's message. limit bounds the output read (0: enough for
// a message); a negative limit reads none, which saves the output stream's RPC.
func (w *Workspace) fileOp(script string, limit int, args ...string) (output, error) {
	ctx, cancel := context.WithTimeout(w.ctx, fileOpTimeout)
	defer cancel()
	if limit == 0 {
		limit = 4 << 10 // room for the message of a failure
	}
	o, err := w.exec(ctx, append([]string{"bash", "-c", script, "goatbench"}, args...), fileOpTimeout, limit)
	if err != nil {
		return o, err
	}
	if o.code != 0 {
		msg := strings.TrimSpace(string(o.out))
		if msg == "" {
			msg = fmt.Sprintf("exit code %d", o.code)
		}
		return o, errors.New(msg)
	}
	return o, nil
}

// ReadFile reads at most limit bytes of a regular file.
func (w *Workspace) ReadFile(name string, limit int) ([]byte, bool, error) {
	name, err := valid(name)
	if err != nil {
		return nil, false, err
	}
	o, err := w.fileOp(`f=$1
if [ ! -e "$f" ]; then echo "open $f: no such file or directory"; exit 2; fi
if [ ! -f "$f" ]; then echo "$f: not a regular file"; exit 3; fi
exec head -c "$2" -- "$f"`, max(limit+1, 4<<10), name, fmt.Sprint(limit+1))
	if err != nil {
		return nil, false, err
	}
	if len(o.out) > limit {
		return o.out[:limit], true, nil
	}
	return o.out, false, nil
}

// writeScript writes files given as (path, mode, base64 content) triples.
const writeScript = `set -e
while [ $# -gt 0 ]; do
  f=$1; m=$2; d=$3; shift 3
  if [ -d "$f" ]; then echo "open $f: is a directory"; exit 3; fi
  mkdir -p -- "$(dirname -- "$f")"
  printf %s "$d" | base64 -d > "$f"
  chmod "$m" -- "$f"
done`

// WriteFile writes a file, creating its parent directories.
func (w *Workspace) WriteFile(name string, data []byte) error {
	name, err := valid(name)
	if err != nil {
		return err
	}
	return w.write(w.ctx, []tasks.File{{Path: name, Content: string(data), Mode: 0o644}})
}

// write writes files, as many per Exec as fit in the argument budget; a file
// too large for one goes through the filesystem API.
func (w *Workspace) write(ctx context.Context, files []tasks.File) error {
	var args []string
	size := 0
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := w.fileOp(writeScript, 0, args...)
		args, size = nil, 0
		return err
	}
	for _, f := range files {
		enc := base64.StdEncoding.EncodeToString([]byte(f.Content))
		if len(enc) > argBudget {
			if err := w.writeLarge(ctx, f); err != nil {
				return err
			}
			continue
		}
		if size+len(enc)+len(f.Path)+16 > argBudget {
			if err := flush(); err != nil {
				return err
			}
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		args = append(args, f.Path, fmt.Sprintf("%o", mode), enc)
		size += len(enc) + len(f.Path) + 16
	}
	return flush()
}

// writeLarge writes one file through the SDK's filesystem API, then sets its mode.
func (w *Workspace) writeLarge(ctx context.Context, f tasks.File) error {
	ctx, cancel := context.WithTimeout(ctx, fileOpTimeout)
	defer cancel()
	if err := w.sb.Filesystem.WriteBytes(ctx, []byte(f.Content), path.Join(Workdir, f.Path), nil); err != nil {
		var fe modal.SandboxFilesystemError
		if errors.As(err, &fe) || ctx.Err() != nil {
			return err
		}
		return w.failed(ctx, err)
	}
	if f.Mode != 0 && f.Mode != 0o644 {
		_, err := w.fileOp(`chmod "$1" -- "$2"`, 0, fmt.Sprintf("%o", f.Mode), f.Path)
		return err
	}
	return nil
}

// seed writes the setup files: one Exec for all of them when they fit.
func (w *Workspace) seed(ctx context.Context, files []tasks.File) error {
	if len(files) == 0 {
		return nil
	}
	for _, f := range files {
		w.setup[path.Clean(f.Path)] = []byte(f.Content)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		mode := int64(f.Mode)
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: path.Clean(f.Path), Mode: mode, Size: int64(len(f.Content)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, f.Content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if w.p.perFileSetup {
		for _, f := range files {
			if err := w.writeLarge(ctx, f); err != nil {
				return err
			}
		}
		return nil
	}
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	if len(enc) > argBudget {
		return w.write(ctx, files) // several Execs (and the filesystem API for large files)
	}
	_, err := w.fileOp(`printf %s "$1" | base64 -d | tar -x --no-same-owner -f -`, 0, enc)
	return err
}

// ListDir lists a directory, sorted; directories end with '/'.
func (w *Workspace) ListDir(name string) ([]string, error) {
	name, err := valid(name)
	if err != nil {
		return nil, err
	}
	o, err := w.fileOp(`d=$1
if [ ! -d "$d" ]; then echo "$d: not a directory"; exit 3; fi
exec find "$d/" -mindepth 1 -maxdepth 1 -printf '%y%f\0'`, 4<<20, name)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range strings.Split(string(o.out), "\x00") {
		if len(e) < 2 {
			continue
		}
		n := e[1:]
		if e[0] == 'd' {
			n += "/"
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// Exists reports whether a path exists.
func (w *Workspace) Exists(name string) bool {
	name, err := valid(name)
	if err != nil {
		return false
	}
	_, err = w.fileOp(`[ -e "$1" ]`, -1, name)
	return err == nil
}

// Seeded returns a setup file's original content.
func (w *Workspace) Seeded(name string) ([]byte, bool) {
	b, ok := w.setup[path.Clean(name)]
	return b, ok
}

// Close terminates the sandbox: nothing of it outlives the attempt. keep
// cannot keep a remote sandbox; it is ignored.
func (w *Workspace) Close(bool) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), time.Minute)
	defer cancel()
	_, err := w.sb.Terminate(ctx, nil)
	_ = w.sb.Detach()
	w.p.held(w.model, w.size, time.Since(w.started).Seconds())
	if err != nil {
		return fmt.Errorf("modal sandbox %s: terminate: %w", w.sb.SandboxID, err)
	}
	return nil
}
