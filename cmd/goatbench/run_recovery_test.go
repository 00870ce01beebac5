package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

// rewriteLines replaces results.jsonl with the given attempts, then appends raw.
func rewriteLines(t *testing.T, dir string, attempts []results.Attempt, raw string) {
	t.Helper()
	var b bytes.Buffer
	for _, a := range attempts {
		line, err := json.Marshal(a)
		require.NoError(t, err)
		b.Write(append(line, '\n'))
	}
	b.WriteString(raw)
	require.NoError(t, os.WriteFile(filepath.Join(dir, results.AttemptsFile), b.Bytes(), 0o644))
}

func readAll(t *testing.T, dir string) []results.Attempt {
	t.Helper()
	got, warnings, err := results.ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	return got
}

func TestResumeRunsOnlyWhatHasNoResult(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--repeat", "2", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	dir := onlyRunDir(t, out)
	full := readAll(t, dir)
	require.Len(t, full, 10)
	before, err := results.ReadManifest(dir)
	require.NoError(t, err)

	// A killed run: four whole lines, a torn fifth, one attempt cancelled.
	kept := append([]results.Attempt{}, full[:4]...)
	kept[3].Status, kept[3].FailureClass, kept[3].Reason = results.StatusError, results.ClassCancelled, "cancelled: interrupted"
	line, err := json.Marshal(full[4])
	require.NoError(t, err)
	rewriteLines(t, dir, kept, string(line[:len(line)/2]))

	code, stdout, stderr := goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "ignoring a torn last line")
	require.Contains(t, stderr, "resume "+filepath.Base(dir)+": 7 of 10 attempts to run")
	require.Equal(t, 7, strings.Count(stderr, "PASS "))
	require.Contains(t, stdout, "10/10 passed, 0 failed, 0 errors")

	got := readAll(t, dir)
	require.Len(t, got, 11, "three kept, the cancelled one again, six new")
	latest := results.Latest(got)
	require.Len(t, latest, 10)
	for _, a := range latest {
		require.Equal(t, results.StatusPass, a.Status, a.Key())
		require.Equal(t, filepath.Base(dir), a.RunID)
	}
	m, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.Len(t, m.Resumed, 1)
	require.NotNil(t, m.Ended)
	require.Equal(t, 2, m.Repeat)
	require.Equal(t, "reference", m.Models[0].Name)
	require.NotEqual(t, before.Models[0].BaseURL, m.Models[0].BaseURL, "the endpoint of this run, not the last one's")

	// Nothing left: a second resume runs nothing and reports the same, and
	// the run still ended when it did (its time is not stretched to now).
	ended, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.NotNil(t, ended.Ended)
	time.Sleep(20 * time.Millisecond)
	code, stdout, stderr = goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "0 of 10 attempts to run")
	require.Contains(t, stdout, "10/10 passed")
	require.Len(t, readAll(t, dir), 11)
	again, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.NotNil(t, again.Ended)
	require.True(t, ended.Ended.Equal(*again.Ended), "ended %v, then %v", ended.Ended, again.Ended)
}

func TestResumeRetriesErrorsOnlyWhenAsked(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	dir := onlyRunDir(t, out)
	all := readAll(t, dir)
	all[1].Status, all[1].FailureClass, all[1].Reason = results.StatusError, results.ClassServerError, "HTTP 503: overloaded"
	rewriteLines(t, dir, all, "")

	code, stdout, stderr := goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitInfra, code, stderr)
	require.Contains(t, stderr, "0 of 5 attempts to run")
	require.Contains(t, stdout, "4/4 passed, 0 failed, 1 error")

	code, stdout, stderr = goatbench(t, "run", "--resume", dir, "--retry-errors")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "1 of 5 attempts to run")
	require.Contains(t, stdout, "5/5 passed, 0 failed, 0 errors")
	got := readAll(t, dir)
	require.Len(t, got, 6)
	require.Equal(t, all[1].Key(), got[5].Key(), "the errored attempt ran again")
}

func TestResumeRefusesToMixRuns(t *testing.T) {
	tasksDir := t.TempDir()
	task := `id: one
prompt: write ok.txt
checks: [{file_exists: ok.txt}]
reference: [{tool: write_file, args: {path: ok.txt, content: ok}}, {answer: done}]
`
	require.NoError(t, os.WriteFile(filepath.Join(tasksDir, "one.yaml"), []byte(task), 0o644))
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--tasks-dir", tasksDir, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	dir := onlyRunDir(t, out)

	// The suite is found again from the run's own arguments.
	code, _, stderr = goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitOK, code, stderr)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"other models", []string{"--models", "reference,gpt-5-nano", "--base-url", "http://127.0.0.1:1/v1"}, "it ran models reference, not gpt-5-nano,reference"},
		{"other repeat", []string{"--repeat", "3"}, "it was run with --repeat 1"},
		{"other suite", []string{"--suite", "smoke"}, `it ran suite "` + filepath.Base(tasksDir) + `", not "smoke"`},
		{"with --out", []string{"--out", t.TempDir()}, "leave out --out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := goatbench(t, append([]string{"run", "--resume", dir}, tc.args...)...)
			require.Equal(t, exitUsage, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
		})
	}

	// The tasks changed on disk since: same name, new content hash.
	require.NoError(t, os.WriteFile(filepath.Join(tasksDir, "one.yaml"), []byte(strings.Replace(task, "write ok.txt", "write ok.txt now", 1)), 0o644))
	code, _, stderr = goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "has changed since the run started")
	require.Contains(t, stderr, "start a new run")

	code, _, stderr = goatbench(t, "run", "--resume", t.TempDir())
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "not a run folder")

	code, _, stderr = goatbench(t, "run", "--models", "reference", "--retry-errors", "--out", t.TempDir())
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--retry-errors needs --resume")
	require.Len(t, readAll(t, dir), 1, "refusals write nothing")

	// A run.json without what a resume takes from it says so, not that a
	// flag nobody gave is wrong.
	man, err := os.ReadFile(filepath.Join(dir, "run.json"))
	require.NoError(t, err)
	for body, want := range map[string]string{
		"{}":                           "its run.json has no run id; start a new run",
		"null":                         "its run.json has no run id; start a new run",
		`{"run_id": "x", "repeat": 0}`: "its run.json names no repeat count, tasks or models; start a new run",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "run.json"), []byte(body), 0o644))
		code, _, stderr = goatbench(t, "run", "--resume", dir)
		require.Equal(t, exitUsage, code, body)
		require.Contains(t, stderr, want, body)
		require.NotContains(t, stderr, "--repeat", body)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run.json"), man, 0o644))
	require.Len(t, readAll(t, dir), 1, "refusals write nothing")
}

// heldServer is a reference server that answers only the bash-command task;
// every other task's requests wait until the client goes away (attempts held
// in flight), or until release. Holding by task, not by a request count, keeps
// the tests independent of how attempts interleave.
type heldServer struct {
	*reference.Server
	URL      string
	mu       sync.Mutex
	released bool
	held     int
}

func newHeldServer(t *testing.T) *heldServer {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	var pass string
	for _, task := range suite.Tasks {
		if task.ID == "bash-command" {
			pass = task.Prompt
		}
	}
	require.NotEmpty(t, pass)
	h := &heldServer{Server: reference.New(suite)}
	h.Intercept = func(_ http.ResponseWriter, r *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
		h.mu.Lock()
		hold := !h.released && !slices.ContainsFunc(req.Messages, func(m openai.ChatCompletionMessage) bool {
			return m.Role == openai.ChatMessageRoleUser && m.Content == pass
		})
		if hold {
			h.held++
		}
		h.mu.Unlock()
		if hold {
			<-r.Context().Done()
		}
		return hold
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/v1"
	return h
}

func (h *heldServer) heldNow() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

func (h *heldServer) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
}

func TestDeadlineCancelsWhatIsInFlight(t *testing.T) {
	srv := newHeldServer(t) // bash-command passes, then everything waits
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--base-url", srv.URL, "--model-name", "sim-local", "--suite", "smoke",
		"--parallel", "1", "--deadline", "500ms", "--out", out)
	require.Equal(t, exitInfra, code, stderr)
	require.Contains(t, stderr, "the run's --deadline of 500ms passed; 4 attempts not run")
	require.Contains(t, stdout, "1/1 passed, 0 failed, 0 errors, 4 not run")
	dir := onlyRunDir(t, out)
	got := readAll(t, dir)
	require.Len(t, got, 5)
	for _, a := range got[1:] {
		require.Equal(t, results.ClassCancelled, a.FailureClass)
		require.Contains(t, a.Reason, "--deadline of 500ms passed")
	}
	m, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.NotNil(t, m.Ended)
}

func TestStreamingAndPlainRequests(t *testing.T) {
	for _, stream := range []bool{true, false} {
		out := t.TempDir()
		args := []string{"run", "--models", "reference", "--suite", "smoke", "--out", out}
		if !stream {
			args = append(args, "--no-stream")
		}
		code, _, stderr := goatbench(t, args...)
		require.Equal(t, exitOK, code, stderr)
		for _, a := range readAll(t, onlyRunDir(t, out)) {
			for _, r := range a.Requests {
				require.Equal(t, stream, r.Stream)
				require.Equal(t, stream, r.TTFT > 0, "time to first token only when streamed")
				require.Positive(t, r.TokensPerSec)
			}
		}
	}
}

func TestSignalsStopThenQuit(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	var errOut bytes.Buffer
	ctx, stop := watchSignals(context.Background(), sigs, &lockedWriter{w: &errOut}, func(code int) { exited <- code })
	defer stop()
	sigs <- syscall.SIGINT
	<-ctx.Done()
	require.True(t, errors.Is(context.Cause(ctx), errInterrupted))
	sigs <- syscall.SIGTERM
	require.Equal(t, exitCancel, <-exited, "a second signal quits at once")

	// Stopping without a signal cancels nothing early and exits nothing.
	ctx, stop = watchSignals(context.Background(), make(chan os.Signal), &lockedWriter{w: &errOut}, func(int) { t.Fatal("exit called") })
	require.NoError(t, ctx.Err())
	stop()
	stop()
	require.ErrorIs(t, ctx.Err(), context.Canceled)
}

func TestServerErrorsAreNeitherPassNorFail(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	srv := reference.New(suite)
	srv.Intercept = func(w http.ResponseWriter, _ *http.Request, _ *openai.ChatCompletionRequest, _ int) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"message":"no healthy upstream","type":"None","code":"503"}}`))
		return true
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--base-url", hs.URL+"/v1", "--model-name", "sim-local", "--max-retries", "0", "--out", out)
	require.Equal(t, exitInfra, code, stderr)
	require.Contains(t, stdout, "0/0 passed, 0 failed, 5 errors")
	require.Contains(t, stderr, "HTTP 503: no healthy upstream")
	require.EqualValues(t, 5, srv.Requests(), "--max-retries 0: one try per attempt")
	for _, a := range readAll(t, onlyRunDir(t, out)) {
		require.Equal(t, results.StatusError, a.Status)
		require.Equal(t, results.ClassServerError, a.FailureClass)
	}
}

func TestASecondResumeOfTheSameFolderIsRefused(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	dir := onlyRunDir(t, out)
	before := readAll(t, dir)

	// The folder held as a running goatbench holds it.
	lock, err := results.LockDir(dir)
	require.NoError(t, err)
	code, stdout, stderr := goatbench(t, "run", "--resume", dir, "--retry-errors")
	require.Equal(t, exitUsage, code, stderr)
	require.Equal(t, fmt.Sprintf("goatbench: %s is in use by goatbench pid %d; wait for it to end (or stop it) before resuming\n", dir, os.Getpid()), stderr)
	require.Empty(t, stdout)
	require.Equal(t, before, readAll(t, dir), "nothing written")

	require.NoError(t, lock.Unlock())
	code, _, stderr = goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitOK, code, stderr)
}

func TestKeepWorkspacesSaysWhere(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out, "--keep-workspaces")
	require.Equal(t, exitOK, code, stderr)
	top := "goatbench-work" // root's; every other user has goatbench-work-<uid>
	if uid := os.Geteuid(); uid != 0 {
		top += "-" + strconv.Itoa(uid)
	}
	dir := filepath.Join(tmp, top, filepath.Base(onlyRunDir(t, out)))
	require.Contains(t, stderr, "workspaces kept in "+dir+"\n")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "reference-") {
			n++
		}
	}
	require.Equal(t, 5, n, "one workspace per attempt, named after it")

	m, err := results.ReadManifest(onlyRunDir(t, out))
	require.NoError(t, err)
	if m.Sandbox == "bwrap" {
		require.FileExists(t, m.SandboxBinary, "run.json names the bubblewrap used")
		require.Empty(t, m.SandboxWarning)
	} else {
		require.Contains(t, m.SandboxWarning, "NOT isolated")
		require.Contains(t, stderr, "warning: "+m.SandboxWarning, "the final summary repeats it")
	}
}

// A run started with a relative --tasks-dir, resumed from another folder,
// says where to resume from, and resumes given the path again. (A
// --registry must be given again in any case: see askedAgain.)
func TestResumeFromAnotherFolder(t *testing.T) {
	const task = "id: say-ok\nprompt: say ok\nchecks: [{answer_contains: ok}]\nreference: [{answer: ok}]\n"
	for _, flag := range []string{"tasks-dir"} {
		t.Run(flag, func(t *testing.T) {
			top := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(top, "here", "mine"), 0o755))
			require.NoError(t, os.MkdirAll(filepath.Join(top, "tasks"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(top, "here", "mine", "t.yaml"), []byte(task), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(top, "tasks", "t.yaml"), []byte(task), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(top, "here", "reg.yaml"), []byte("models: []\n"), 0o644))
			rel, args := "mine", []string{"--tasks-dir", "mine"}
			if flag == "registry" {
				rel, args = "reg.yaml", []string{"--tasks-dir", filepath.Join(top, "tasks"), "--registry", "reg.yaml"}
			}
			t.Chdir(filepath.Join(top, "here"))
			code, _, stderr := goatbench(t, append([]string{"run", "--models", "reference", "--out", filepath.Join(top, "out")}, args...)...)
			require.Equal(t, exitOK, code, stderr)
			dir := onlyRunDir(t, filepath.Join(top, "out"))

			t.Chdir(top)
			code, _, stderr = goatbench(t, "run", "--resume", dir)
			require.Equal(t, exitUsage, code, stderr)
			require.Contains(t, stderr, "the run's --"+flag+" "+rel+" is relative to the folder it was started in")
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)

			code, _, stderr = goatbench(t, "run", "--resume", dir, "--"+flag, filepath.Join("here", rel))
			require.Equal(t, exitOK, code, stderr)
			require.Contains(t, stderr, "0 of 1 attempts to run")
		})
	}
}

// A resumed run keeps what it was started with: a --no-stream run sends plain
// requests to the end, and its --min-pass-rate decides its exit code.
func TestResumeKeepsTheRunsFlags(t *testing.T) {
	dir := t.TempDir()
	tasksDir := filepath.Join(dir, "tasks")
	require.NoError(t, os.MkdirAll(tasksDir, 0o755))
	for _, task := range []string{
		"id: say-ok\nprompt: say ok\nchecks: [{answer_contains: ok}]\nreference: [{answer: ok}]\n",
		"id: say-no\nprompt: say no\nchecks: [{answer_contains: yes}]\nreference: [{answer: no}]\n",
	} {
		id := strings.TrimPrefix(strings.SplitN(task, "\n", 2)[0], "id: ")
		require.NoError(t, os.WriteFile(filepath.Join(tasksDir, id+".yaml"), []byte(task), 0o644))
	}
	out := filepath.Join(dir, "out")
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--tasks-dir", tasksDir, "--no-stream", "--min-pass-rate", "0.5", "--out", out)
	require.Equal(t, exitOK, code, "half passed, as --min-pass-rate asks: %s", stderr)
	run := onlyRunDir(t, out)

	// The run stopped after its first attempt.
	path := filepath.Join(run, results.AttemptsFile)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	require.NoError(t, os.WriteFile(path, []byte(first+"\n"), 0o644))

	code, _, stderr = goatbench(t, "run", "--resume", run)
	require.Equal(t, exitOK, code, "the run's own --min-pass-rate 0.5: %s", stderr)
	attempts, _, err := results.ReadAttempts(run)
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	for _, a := range attempts {
		require.NotEmpty(t, a.Requests, a.Task)
		for _, q := range a.Requests {
			require.False(t, q.Stream, "%s: the run was --no-stream", a.Task)
		}
	}

	// Given again, a flag holds for the resume.
	require.NoError(t, os.WriteFile(path, []byte(first+"\n"), 0o644))
	code, _, stderr = goatbench(t, "run", "--resume", run, "--min-pass-rate", "1")
	require.Equal(t, exitFailed, code, stderr)
}

// A run folder decides nothing that runs outside the sandbox's say: resuming
// one whose run.json names an agent command, or unisolated commands, needs
// them given again.
func TestResumeRunsNoCommandTheFolderAloneNames(t *testing.T) {
	t.Chdir(t.TempDir())
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	run := onlyRunDir(t, out)
	path := filepath.Join(run, results.AttemptsFile)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, os.WriteFile(path, []byte(first+"\n"), 0o644))
	m, err := results.ReadManifest(run)
	require.NoError(t, err)

	dropped := filepath.Join(t.TempDir(), "ran")
	forged := m
	forged.Agent = "sh -c 'touch " + dropped + "'"
	require.NoError(t, results.WriteManifest(run, forged))
	code, _, stderr = goatbench(t, "run", "--resume", run)
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "it ran the agent command sh -c 'touch "+dropped+"', which a resume runs only when given again: add --agent 'sh -c '\\''touch")
	require.NoFileExists(t, dropped)

	forged = m
	forged.Args = append(slices.Clone(m.Args), "--sandbox=plain")
	require.NoError(t, results.WriteManifest(run, forged))
	code, _, stderr = goatbench(t, "run", "--resume", run)
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "it ran commands unisolated, which a resume does only when told again: add --sandbox plain")
	code, _, stderr = goatbench(t, "run", "--resume", run, "--sandbox", "plain")
	require.Equal(t, exitOK, code, stderr)
}

// What a resume takes from run.json: the run's own flags, never the program
// that deploys (--modal-cli), never --deadline.
func TestResumeTakesTheRunsFlagsButNoProgram(t *testing.T) {
	var got *runOptions
	cmd := newRunCmd(streams{Out: io.Discard, Err: io.Discard}, func(o *runOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--resume", "x"})
	require.NoError(t, cmd.Execute())
	prev := &engine.Previous{Dir: "x", Manifest: results.Manifest{Repeat: 1, Suite: "smoke", Args: []string{
		"--modal-cli=sh -c 'touch /tmp/pwned'", "--deadline=1s", "--no-stream=true", "--max-retries=2", "--request-timeout=3m0s"}}}
	require.NoError(t, got.fill(prev))
	require.Equal(t, "modal", got.Modal.CLI)
	// What comes back is checked as what the command line gives is.
	forged := *prev
	forged.Manifest.Args = []string{"--min-pass-rate=NaN"}
	_, err := got.plan(&forged)
	require.ErrorContains(t, err, "--min-pass-rate must be between 0 and 1, got NaN")
	require.Zero(t, got.Deadline)
	require.True(t, got.NoStream)
	require.Equal(t, 2, got.MaxRetries)
	require.Equal(t, 3*time.Minute, got.RequestTimeout)
	// What picks the models' specs and endpoints (where the API key goes)
	// is asked for again.
	for _, arg := range []string{"--registry=forge/reg.yaml", "--direct=true", "--modal-workspace=attacker", "--env-suffix=x", "--modal-env=other"} {
		forged := *prev
		forged.Manifest.Args = []string{arg}
		name, value, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		require.EqualError(t, got.fill(&forged), "cannot resume x: it ran with "+arg+", which a resume takes only when given again: add --"+name+" '"+value+"'")
	}
}

// Where bubblewrap does not work, --sandbox auto runs commands unisolated
// with a warning; a resume does so only when told.
func TestAResumeFallsBackToUnisolatedOnlyWhenTold(t *testing.T) {
	require.NoError(t, fellBack("results/r", ""))
	err := fellBack("results/r", "WARNING: bwrap: not found; commands run with --sandbox plain: NOT isolated")
	require.EqualError(t, err, "cannot resume results/r unisolated (bwrap: not found; commands run with --sandbox plain: NOT isolated): add --sandbox plain to do so")
}
