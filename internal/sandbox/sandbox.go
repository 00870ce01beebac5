// Package sandbox runs the shell commands of a model (and of task checks)
// inside an attempt's workspace: a scrubbed environment, a timeout, capped
// output, and the whole process group killed when the command ends.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Command is one shell command to run in a workspace.
type Command struct {
	Dir       string        // the workspace; the command's working directory and HOME
	Script    string        // run as `bash -c Script`
	Timeout   time.Duration // wall-clock limit; 0 means DefaultTimeout
	OutputCap int           // bytes of combined output kept; 0 means DefaultOutputCap
}

// Result is what a command did.
type Result struct {
	Output   string        // combined stdout and stderr, at most OutputCap bytes
	Dropped  int64         // output bytes beyond the cap, counted and discarded
	ExitCode int           // -1 when killed by a signal
	TimedOut bool          // killed at its timeout
	Duration time.Duration // wall time
}

// Defaults for a command that sets no limit.
const (
	DefaultTimeout   = 60 * time.Second
	DefaultOutputCap = 64 << 10
)

// Sandbox runs commands.
type Sandbox interface {
	Run(ctx context.Context, c Command) (Result, error)
	Mode() string
}

// Plain runs commands directly on the host, in their own process group, with
// nothing of goatbench's environment but a minimal PATH and locale.
type Plain struct{}

// Mode names the sandbox in run.json and reports.
func (Plain) Mode() string { return "plain" }

// Env is the whole environment a command gets: no variable of the parent
// process (API keys, tokens) reaches it.
func Env(home string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		"TMPDIR=" + home,
	}
}

// Run runs c and returns its result. The error is non-nil only when the
// command could not be started; a failing command is a Result with its exit code.
func (Plain) Run(ctx context.Context, c Command) (Result, error) {
	return run(ctx, c, exec.Command("bash", "-c", c.Script), Env(c.Dir))
}

// run starts cmd in its own process group with a pipe for output, enforces the
// timeout, and kills the group once the command has exited so that nothing it
// left in the background survives.
func run(ctx context.Context, c Command, cmd *exec.Cmd, env []string) (Result, error) {
	timeout, limit := c.Timeout, c.OutputCap
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if limit <= 0 {
		limit = DefaultOutputCap
	}
	cmd.Dir = c.Dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{}, err
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return Result{}, fmt.Errorf("start command: %w", err)
	}
	pw.Close()
	pgid := cmd.Process.Pid
	kill := func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

	out := make(chan capped, 1)
	go func() { out <- readCapped(pr, limit) }()

	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		select {
		case <-tctx.Done():
			kill()
		case <-done:
		}
	}()
	werr := cmd.Wait()
	close(done)
	kill() // whatever the command left behind in its group
	// A process that left the group may still hold the pipe: do not wait for it.
	_ = pr.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	o := <-out

	res := Result{Output: string(o.data), Dropped: o.dropped, Duration: time.Since(start)}
	res.TimedOut = errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if werr != nil && cmd.ProcessState == nil {
		return res, werr
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

type capped struct {
	data    []byte
	dropped int64
}

func readCapped(r io.Reader, limit int) capped {
	var c capped
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			keep := min(n, limit-len(c.data))
			c.data = append(c.data, buf[:keep]...)
			c.dropped += int64(n - keep)
		}
		if err != nil {
			return c
		}
	}
}
