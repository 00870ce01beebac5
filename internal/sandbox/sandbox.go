// Package sandbox runs the shell commands of a model (and of task checks)
// inside an attempt's workspace. Two modes share one contract: Bwrap isolates
// each command with bubblewrap (new user, PID, IPC and network namespaces, the
// system read-only, only the workspace writable); Plain only scrubs the
// environment. Both apply the same Limits, cap the output and kill everything
// a command started when it ends.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goatbench/goatbench/internal/sandbox/pid1"
	"golang.org/x/sys/unix"
)

// Command is one shell command to run in a workspace.
type Command struct {
	Dir       string        // the workspace: the command's working directory and HOME
	Script    string        // run as `bash -c Script`
	Timeout   time.Duration // wall-clock limit; 0 means the sandbox's Limits.Timeout
	OutputCap int           // bytes of combined output kept; 0 means the sandbox's Limits.OutputCap

	// For a long-lived program such as an external agent; the zero values
	// keep a plain shell command as above.
	Env       []string // more NAME=value variables, after the sandbox's own (which they may override)
	Binds     []Bind   // host paths shown inside at the same path (bwrap; Plain sees the host anyway)
	Stdout    bool     // keep stdout apart in Result.Stdout; Output then holds stderr alone
	StdoutCap int      // bytes of stdout kept when Stdout; 0 means OutputCap
}

// Bind is a host file or directory shown inside a bwrap sandbox at the same
// path: read-only unless Writable.
type Bind struct {
	Path     string
	Writable bool
}

// Result is what a command did.
type Result struct {
	Output   string        // combined stdout and stderr, at most OutputCap bytes
	Dropped  int64         // output bytes beyond the cap, counted and discarded
	ExitCode int           // -1 when killed by a signal
	TimedOut bool          // killed at its timeout
	Duration time.Duration // wall time

	Stdout        string // with Command.Stdout: stdout alone, at most StdoutCap bytes
	StdoutDropped int64  // stdout bytes beyond StdoutCap
}

// Defaults for a command that sets no limit.
const (
	DefaultTimeout   = 60 * time.Second
	DefaultOutputCap = 64 << 10
)

// Sandbox runs commands.
type Sandbox interface {
	// Run runs c and returns its result. The error is non-nil only when the
	// command could not be run (the sandbox failed, or ctx ended); a failing
	// command is a Result with its exit code.
	Run(ctx context.Context, c Command) (Result, error)
	// Mode names the sandbox in run.json and reports: "bwrap" or "plain".
	Mode() string
}

// Releaser is a Sandbox that keeps something per workspace (a uid, its
// processes) until told the workspace is done with.
type Releaser interface {
	Release(dir string) error
}

// Warmer is a Sandbox that can ready a workspace's sandbox ahead of its first
// command. The built-in agent calls Warm while the model thinks (see
// runner.Workspace.Warm), which takes longer than the build, so that the
// first command does not wait for it. A workspace warmed and never used
// costs that build and nothing else; Release deals with it as with any.
type Warmer interface {
	Warm(dir string)
}

// The modes Open accepts.
const (
	ModeAuto  = "auto" // bwrap when it works on this machine, else plain
	ModeBwrap = "bwrap"
	ModePlain = "plain"
)

// Open returns the sandbox for a mode. In ModeAuto (or "") it falls back to
// Plain when bubblewrap does not work here, and says why in warning; asking for
// ModeBwrap where it does not work is an error.
func Open(mode string, l Limits) (sb Sandbox, warning string, err error) {
	return open(mode, l, true)
}

// open is Open; keep lets a Bwrap keep idle sessions for the next
// workspace (see slot), for a caller that closes it.
func open(mode string, l Limits, keep bool) (Sandbox, string, error) {
	if mode == ModePlain {
		return Plain{Limits: l}, "", nil
	}
	if mode != ModeBwrap && mode != ModeAuto && mode != "" {
		return nil, "", fmt.Errorf("unknown sandbox %q (use bwrap, plain or auto)", mode)
	}
	b, err := NewBwrap(l)
	switch {
	case err != nil && mode == ModeBwrap:
		return nil, "", err
	case err != nil:
		return Plain{Limits: l}, fmt.Sprintf("WARNING: %v; commands run with --sandbox plain: NOT isolated from this machine's files, processes and network", err), nil
	}
	if keep && b.keeps() {
		b.keep = keepIdle
	}
	return b, "", nil
}

var (
	defaultOnce sync.Once
	defaultSB   Sandbox
)

// Default is the sandbox of ModeAuto with DefaultLimits, chosen once per process.
func Default() Sandbox {
	defaultOnce.Do(func() {
		// No one closes it: idle sessions would leave their cgroups behind
		// at exit.
		defaultSB, _, _ = open(ModeAuto, DefaultLimits, false)
	})
	return defaultSB
}

// searchPath is the PATH of every command. It names only system directories, so
// nothing under the invoking user's home (a pyenv shim, say) is ever run.
const searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Env is the whole environment a command gets: no variable of the parent
// process (API keys, tokens) reaches it. Python writes no bytecode: its
// cache is checked by mtime in whole seconds and size, so a check that runs a
// module again after a same-size edit within the second would run the old
// code. SHELL is set so that bash need not look its user up: run by root,
// the workspace's uid has no entry in the host's /etc/passwd, and every bash
// then read it and loaded the next NSS module (libnss_systemd) to look again.
func Env(home, tmp string) []string {
	return []string{
		"PATH=" + searchPath,
		"HOME=" + home,
		"SHELL=" + bash(),
		"LANG=C.UTF-8",
		"TMPDIR=" + tmp,
		"PYTHONDONTWRITEBYTECODE=1",
	}
}

// bash is the shell found on searchPath, not on goatbench's own PATH.
var bash = sync.OnceValue(func() string {
	if p, err := lookPath("bash"); err == nil {
		return p
	}
	return "/bin/bash"
})

// Every command runs as `bash -c Script` with BASH_ENV naming a pipe on fd 4.
// Bash sources that file before it even parses the script, so the limits are
// set (with setrlimit, in the process that then runs the script, at no extra
// exec) and the script keeps its own line numbers in error messages. The file
// then writes one byte to fd 3: a command that never wrote it did not start,
// which is the sandbox's failure, not the model's.
// Tests' views into run: called by the output's reader before it reads, and
// once the command has exited and its group is killed. Nil outside tests.
var testHookRead, testHookExited func()

// exitGrace bounds how long the output is awaited once the command and its
// group are gone, for a process that left the group and still holds the pipe.
// What was written before is kept however late the reader gets to it. A
// variable for tests.
var exitGrace = 500 * time.Millisecond

const (
	fdStarted  = 3
	fdBashEnv  = 4
	firstExtra = 5 // the first fd a mode may pass for its own use

	// setupGrace bounds how long a timed-out or cancelled command may take
	// to finish starting before it is killed anyway.
	setupGrace = 10 * time.Second
)

// bashEnv is the file BASH_ENV names. It unsets BASH_ENV so that a bash the
// script starts does not read it again, and the count of the sandbox's own
// tasks its limits used.
func bashEnv(ulimit string) string {
	return fmt.Sprintf("%s || exit 126\nprintf x >&%d\nexec %d>&- %d<&-\nunset BASH_ENV %s\n",
		ulimit, fdStarted, fdStarted, fdBashEnv, pid1.TasksVar)
}

// spec is how a mode runs one command.
type spec struct {
	cmd    *exec.Cmd // without Env, Dir, Stdout, Stderr or ExtraFiles
	env    []string
	extra  []*os.File // passed from fd 5 on; closed once the command started
	ulimit string
	after  func()       // once the command has exited, after its group is killed
	netns  *netns       // the network namespace to start the command in; nil: goatbench's
	forker *pid1.Forker // the thread that forks it (see forker); nil: goatbench's
	sess   *session     // the workspace's sandbox to run the command in; nil: run cmd itself
}

// process is a started command.
type process interface {
	// wait waits for it to end and returns its exit code (-1 when it was
	// killed); the error says it could not be waited for.
	wait() (int, error)
	// kill kills it and everything it started.
	kill()
}

func (s spec) start(cmd *exec.Cmd) (process, error) {
	if s.sess != nil {
		return s.sess.start(cmd)
	}
	if err := s.netns.start(cmd, s.forker); err != nil {
		return nil, err
	}
	return execProc{cmd}, nil
}

// execProc is a command goatbench started itself, in its own process group.
type execProc struct{ cmd *exec.Cmd }

func (p execProc) wait() (int, error) {
	err := p.cmd.Wait()
	if p.cmd.ProcessState == nil {
		return 0, err
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

func (p execProc) kill() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// run starts s.cmd in its own process group with one pipe for its output,
// enforces the timeout, and kills the group once the command has exited so
// that nothing it left in the background survives.
func run(ctx context.Context, c Command, l Limits, s spec) (Result, error) {
	timeout, limit := c.Timeout, c.OutputCap
	if timeout <= 0 {
		timeout = l.Timeout
	}
	if limit <= 0 {
		limit = l.OutputCap
	}
	// Every file made for the command is closed when run returns, whatever
	// the way out; s.extra are the caller's, handed over here.
	closers := make([]io.Closer, 0, len(s.extra)+8)
	for _, f := range s.extra {
		closers = append(closers, f)
	}
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return Result{}, err // nothing starts for a command whose time is over
	}
	if res, bad := Unrunnable(c.Script); bad {
		return res, nil
	}
	cmd := s.cmd
	cmd.Dir = c.Dir
	cmd.Env = append(append(s.env, c.Env...), fmt.Sprintf("BASH_ENV=/dev/fd/%d", fdBashEnv))
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL

	pipe := func() (*os.File, *os.File, error) {
		r, w, err := os.Pipe()
		if err == nil {
			closers = append(closers, r, w)
		}
		return r, w, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	startR, startW, err := pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	envR, envW, err := pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	// A few hundred bytes: far below a pipe's buffer, so this cannot block.
	if _, err := io.WriteString(envW, bashEnv(s.ulimit)); err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	envW.Close()
	// Bash opens /dev/fd/4 anew, as the command's user: a pipe is 0600 to
	// its creator, which in bwrap mode under root is not that user.
	if err := envR.Chmod(0o444); err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, outW
	var soR, soW *os.File
	if c.Stdout {
		if soR, soW, err = pipe(); err != nil {
			return Result{}, fmt.Errorf("sandbox: %w", err)
		}
		cmd.Stdout = soW
	}
	cmd.ExtraFiles = append([]*os.File{startW, envR}, s.extra...)

	start := time.Now()
	proc, err := s.start(cmd)
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: start command: %w", err)
	}
	// Only the command holds these now; the output pipe ends when it and
	// everything it started are gone.
	outW.Close()
	startW.Close()
	envR.Close()
	stdout := make(chan capped, 1)
	if soW != nil {
		soW.Close()
		soLimit := c.StdoutCap
		if soLimit <= 0 {
			soLimit = limit
		}
		go func() { stdout <- readCapped(soR, soLimit) }()
	} else {
		stdout <- capped{}
	}
	for _, f := range s.extra {
		f.Close()
	}
	kill := proc.kill

	out := make(chan capped, 1)
	go func() {
		if testHookRead != nil {
			testHookRead()
		}
		out <- readCapped(outR, limit)
	}()
	var startedOK atomic.Bool
	started := make(chan struct{})
	go func() {
		var b [1]byte
		n, _ := startR.Read(b[:])
		startedOK.Store(n > 0)
		close(started)
	}()

	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan struct{})
	var killed atomic.Bool // by the timeout or ctx, not after a normal exit
	go func() {
		select {
		case <-tctx.Done():
		case <-done:
			return
		}
		// bwrap killed while it builds the sandbox can leave the half-built
		// sandbox running on its own; once the shell has started, the sandbox
		// dies with bwrap. Setup takes milliseconds.
		select {
		case <-started:
		case <-done:
		case <-time.After(setupGrace):
		}
		killed.Store(true)
		kill()
	}()
	code, werr := proc.wait()
	close(done)
	kill() // whatever the command left behind in its group
	if s.after != nil {
		s.after()
	}
	// In plain mode a process that left the group may still hold the pipe: do
	// not wait for it.
	_ = outR.SetReadDeadline(time.Now().Add(exitGrace))
	if soR != nil {
		_ = soR.SetReadDeadline(time.Now().Add(exitGrace))
	}
	if testHookExited != nil {
		testHookExited()
	}
	o, so := <-out, <-stdout
	select {
	case <-started:
	case <-time.After(100 * time.Millisecond):
		// The reader may not have run yet: a byte written is in the pipe
		// still, and counts (a session's command is run again only if it
		// did not start).
		_ = startR.SetReadDeadline(time.Now())
		<-started
		if !startedOK.Load() && pending(startR) {
			startedOK.Store(true)
		}
	}

	res := Result{Output: string(o.data), Dropped: o.dropped, Duration: time.Since(start),
		Stdout: string(so.data), StdoutDropped: so.dropped}
	res.TimedOut = killed.Load() && ctx.Err() == nil
	res.ExitCode = code
	if errors.Is(werr, errSessionDied) {
		werr = nil
		if !startedOK.Load() && !killed.Load() && ctx.Err() == nil {
			return Result{}, fmt.Errorf("%w: it died before the command started", errSessionGone)
		}
	}
	switch {
	case werr != nil:
		return res, fmt.Errorf("sandbox: %w", werr)
	case ctx.Err() != nil:
		return res, ctx.Err()
	case !startedOK.Load() && !res.TimedOut:
		return res, fmt.Errorf("sandbox: the command did not start: %s", firstLine(res.Output))
	}
	return res, nil
}

// maxScript is the longest script a command line holds: one argument of
// execve(2) is at most MAX_ARG_STRLEN (32 pages) bytes, its NUL included.
var maxScript = 32*os.Getpagesize() - 1

// Unrunnable is the result of a script that execve(2) would refuse, and
// whether it is one: a NUL byte, or more than one argument holds. It is the
// command's failure (a model's tool call), exit code 126, never the
// sandbox's error.
func Unrunnable(script string) (Result, bool) {
	why := ""
	switch {
	case strings.IndexByte(script, 0) >= 0:
		why = "it contains a NUL byte"
	case len(script) > maxScript:
		why = fmt.Sprintf("it is %d bytes long, more than the %d a command line holds", len(script), maxScript)
	default:
		return Result{}, false
	}
	return Result{Output: "goatbench: this command cannot run: " + why + "\n", ExitCode: 126}, true
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	if s == "" {
		return "no output"
	}
	return s
}

type capped struct {
	data    []byte
	dropped int64
}

// readCapped reads r to its end, keeping at most limit bytes. When r's read
// deadline passes (a process outside the group still holds the pipe), it
// takes what the pipe holds at that moment without waiting for more: what the
// command wrote before it exited is in there however late this goroutine got
// to run.
func readCapped(r *os.File, limit int) capped {
	var c capped
	buf := make([]byte, 32<<10)
	keep := func(n int) {
		k := min(n, limit-len(c.data))
		c.data = append(c.data, buf[:k]...)
		c.dropped += int64(n - k)
	}
	for {
		n, err := r.Read(buf)
		if n > 0 {
			keep(n)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			drain(r, buf, keep)
		}
		if err != nil {
			return c
		}
	}
}

// pending reports whether the pipe r holds a byte now, without waiting.
func pending(r *os.File) bool {
	rc, err := r.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _ = unix.Read(int(fd), b[:])
	})
	return n > 0
}

// drain reads what the pipe r holds now, at most its capacity (so a writer
// that keeps writing cannot keep it reading), without waiting.
func drain(r *os.File, buf []byte, keep func(int)) {
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	// Control, not Read: RawConn.Read refuses once the deadline has passed.
	// The pipe is non-blocking (os.Pipe), so a read of an empty pipe with a
	// writer left returns EAGAIN at once.
	_ = rc.Control(func(fd uintptr) {
		left, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
		if err != nil {
			left = 1 << 20 // the default /proc/sys/fs/pipe-max-size
		}
		for left > 0 {
			n, err := unix.Read(int(fd), buf[:min(len(buf), left)])
			if err == unix.EINTR {
				continue
			}
			if n <= 0 || err != nil {
				return
			}
			keep(n)
			left -= n
		}
	})
}

// dataPipe is the read end of a pipe that data is written to and closed
// behind: what a process given it reads to its end. Data no larger than a
// pipe holds at the least (a page) is written at once, and the pipe's
// write end is closed before dataPipe returns; more is written in the
// background, and if the reader goes away, that write fails.
func dataPipe(data []byte) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	if len(data) <= os.Getpagesize() {
		_, err = w.Write(data)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			r.Close()
			return nil, err
		}
		return r, nil
	}
	go func() {
		defer w.Close()
		_, _ = w.Write(data)
	}()
	return r, nil
}
