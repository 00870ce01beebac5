package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// built is the real goatbench, built once for the tests that run it; TestMain
// removes its folder.
var built struct {
	once sync.Once
	dir  string
	bin  string
	out  []byte
	err  error
}

// buildBinary builds the real goatbench into a temporary folder, once.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "goatbench-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "goatbench")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	require.NoError(t, built.err, "%s", built.out)
	return built.bin
}

// process is the real binary running in the background.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	exited         chan struct{}
}

func start(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// Workspaces left by a killed process land in the test's own folder;
	// run by root they are tmpfs mounts, which the next run in the same
	// folder would unmount: this process's folder sees no next run.
	tmp := t.TempDir()
	t.Cleanup(func() { unmountUnder(tmp) })
	p.cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "OPENAI_BASE_URL=", "OPENAI_API_KEY=")
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// unmountUnder unmounts every mount below dir.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			_ = syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
}

// wait returns the exit code, failing the test if the process has not
// exited within d.
func (p *process) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("still running after %s; stderr:\n%s", d, p.stderr.String())
		return -1
	}
}

// lines counts the complete lines of a results stream.
func lines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	r := bufio.NewReader(f)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			return n
		}
		n++
	}
}

// pollUntil checks cond every few milliseconds until it holds or d passes.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

func onlyRunDirEventually(t *testing.T, out string) string {
	t.Helper()
	var dir string
	pollUntil(t, 30*time.Second, "the run folder", func() bool {
		entries, _ := os.ReadDir(out)
		if len(entries) == 1 {
			dir = filepath.Join(out, entries[0].Name())
		}
		return dir != ""
	})
	return dir
}

// startHeldRun starts the real binary on the smoke suite (2 repeats, 2 in
// flight) and returns once bash-command's two attempts are written and two
// more are held in flight by the server.
func startHeldRun(t *testing.T) (bin string, srv *heldServer, p *process, dir string) {
	bin = buildBinary(t)
	srv = newHeldServer(t)
	out := t.TempDir()
	p = start(t, bin, "run", "--base-url", srv.URL, "--model-name", "sim-local", "--suite", "smoke",
		"--repeat", "2", "--parallel", "2", "--out", out)
	dir = onlyRunDirEventually(t, out)
	stream := filepath.Join(dir, results.AttemptsFile)
	pollUntil(t, 60*time.Second, "finished attempts and attempts in flight", func() bool {
		return lines(stream) >= 2 && srv.heldNow() >= 2
	})
	return bin, srv, p, dir
}

func TestKilledRunResumesToOneResultPerAttempt(t *testing.T) {
	t.Parallel() // a process of its own, in no folder of the test's
	bin, srv, p, dir := startHeldRun(t)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(t, 30*time.Second)
	before := readAll(t, dir)
	require.Len(t, before, 2, "only the finished attempts were written")

	srv.release()
	// No --base-url: the run folder remembers the endpoint.
	r := start(t, bin, "run", "--resume", dir)
	require.Equal(t, exitOK, r.wait(t, 120*time.Second), r.stderr.String())
	require.Contains(t, r.stderr.String(), "8 of 10 attempts to run")
	got := readAll(t, dir)
	require.Len(t, got, 10, "exactly one result per attempt")
	keys := map[string]bool{}
	for _, a := range got {
		require.Equal(t, results.StatusPass, a.Status, "%s: %s", a.Key(), a.Reason)
		keys[a.Key()] = true
	}
	require.Len(t, keys, 10)
	require.Contains(t, r.stdout.String(), "10/10 passed")
}

func TestInterruptWritesTheReportAndExits130(t *testing.T) {
	t.Parallel() // a process of its own, in no folder of the test's
	_, _, p, dir := startHeldRun(t)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, exitCancel, p.wait(t, 30*time.Second), p.stderr.String())

	got := readAll(t, dir)
	require.Len(t, got, 10, "every attempt has a line: finished or cancelled")
	pass, cancelled := 0, 0
	for _, a := range got {
		switch {
		case a.Status == results.StatusPass:
			pass++
		case a.FailureClass == results.ClassCancelled:
			cancelled++
			require.Equal(t, results.StatusError, a.Status)
			require.Contains(t, a.Reason, "interrupted")
		default:
			t.Fatalf("unexpected %s: %s %s", a.Key(), a.Status, a.Reason)
		}
	}
	require.Equal(t, 2, pass)
	require.Equal(t, 8, cancelled)
	m, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.NotNil(t, m.Ended, "run.json is finished")
	require.Contains(t, p.stdout.String(), "2/2 passed, 0 failed, 0 errors, 8 not run")
	require.Contains(t, p.stderr.String(), "stopped: 8 attempts not run; resume with: goatbench run --resume "+dir)
	require.True(t, strings.Contains(p.stderr.String(), "interrupted: cancelling attempts in flight"))
}
