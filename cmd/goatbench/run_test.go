package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/progress"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

// goatbench runs the CLI in-process and returns its exit code and outputs.
func goatbench(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, streams{Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func onlyRunDir(t *testing.T, out string) string {
	t.Helper()
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 1, "exactly one run folder")
	return filepath.Join(out, entries[0].Name())
}

func TestRunReferenceSmoke(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "reference 5/5")
	require.Equal(t, 5, strings.Count(stderr, "PASS "), "a live line per attempt")

	dir := onlyRunDir(t, out)
	for _, f := range []string{"report.md", "summary.json", "junit.xml", "report.html"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	attempts, warnings, err := results.ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Len(t, attempts, 5)
	for _, a := range attempts {
		require.Equal(t, results.StatusPass, a.Status)
		require.FileExists(t, filepath.Join(dir, a.Transcript))
	}
	m, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, "smoke", m.Suite)
	require.Len(t, m.SuiteHash, 64)
	require.Len(t, m.Tasks, 5)
	require.Equal(t, "reference", m.Models[0].Name)
	require.NotNil(t, m.Ended)
	require.ElementsMatch(t, []string{"--models=reference", "--suite=smoke", "--out=" + out}, m.Args)
}

func TestRunFailingAttemptsExitOne(t *testing.T) {
	// A suite whose reference solution does not satisfy its own checks.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(`id: wrong
prompt: make x
checks: [{file_exists: x}]
reference: [{tool: write_file, args: {path: y, content: "1"}}, {answer: done}]
`), 0o644))
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--tasks-dir", dir, "--out", out)
	require.Equal(t, exitFailed, code, stderr)
	require.Contains(t, stdout, "reference 0/1")
	code, _, stderr = goatbench(t, "run", "--models", "reference", "--tasks-dir", dir, "--out", out, "--min-pass-rate", "0")
	require.Equal(t, exitOK, code, stderr)
}

func TestRunUsageErrors(t *testing.T) {
	// a port nothing listens on
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String() + "/v1"
	require.NoError(t, ln.Close())

	broken := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(broken, "bad.yaml"), []byte("id: x\nprompt: [\n"), 0o644))

	t.Setenv("OPENAI_BASE_URL", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no models", []string{"run"}, "name the models to run"},
		{"unknown suite", []string{"run", "--models", "reference", "--suite", "nope"}, `unknown suite "nope"`},
		{"empty agent", []string{"run", "--models", "reference", "--agent", ""}, "--agent is empty"},
		{"base url for the reference model", []string{"run", "--models", "reference", "--base-url", dead}, "--base-url has no model to serve"},
		{"suite and tasks dir", []string{"run", "--models", "reference", "--suite", "core", "--tasks-dir", "."}, "use either --suite or --tasks-dir, not both"},
		{"parallel 0", []string{"run", "--models", "reference", "--parallel", "0"}, "--parallel must be from 1 to 1024, got 0"},
		{"parallel beyond", []string{"run", "--models", "reference", "--parallel", "2000000000"}, "--parallel must be from 1 to 1024"},
		{"repeat 0", []string{"run", "--models", "reference", "--repeat", "0"}, "--repeat must be at least 1"},
		{"repeat past any run", []string{"run", "--models", "reference", "--repeat", "100000000000"}, "--repeat must be at most 100000"},
		{"too many attempts", []string{"run", "--models", "reference", "--repeat", "30000"}, "5 tasks × 1 model × --repeat 30000 is over the 100000 attempts one run holds"},
		{"bad flag value", []string{"run", "--parallel", "many"}, "invalid argument \"many\""},
		{"unknown flag", []string{"run", "--modles", "x"}, "unknown flag: --modles"},
		{"model without endpoint", []string{"run", "--models", "qwen3-4b-local"}, "needs an endpoint"},
		{"unreachable base url", []string{"run", "--base-url", dead, "--model-name", "m"}, "cannot reach " + dead},
		{"model name with escapes", []string{"run", "--base-url", dead, "--model-name", "bad\x1b[31mname"}, `--model-name "bad\x1b[31mname" has control characters`},
		{"broken task file", []string{"run", "--models", "reference", "--tasks-dir", broken}, "bad.yaml:"},
		{"unknown command", []string{"runn"}, `unknown command "runn"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, _, stderr := goatbench(t, append(tc.args, "--out", out)...)
			if tc.name == "unknown command" {
				code, _, stderr = goatbench(t, tc.args...)
			}
			require.Equal(t, exitUsage, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
			entries, _ := os.ReadDir(out)
			require.Empty(t, entries, "nothing written")
		})
	}
}

func TestValidateCommand(t *testing.T) {
	code, stdout, stderr := goatbench(t, "validate", "--suite", "smoke")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 5, strings.Count(stdout, "yes"))

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(`id: lazy
prompt: say anything
checks: [{answer_not_contains: zebra}]
reference: [{answer: ok}]
`), 0o644))
	code, stdout, _ = goatbench(t, "validate", "--tasks-dir", dir)
	require.Equal(t, exitFailed, code)
	require.Contains(t, stdout, "lazy")
	require.Contains(t, stdout, "PASSES")
}

// What validate prints of a task file (a check's name, a wrong solution's)
// has its control characters escaped, as run and the reports do.
func TestValidateEscapesWhatTheTaskFileSays(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(`id: loud
prompt: say ok
checks: [{answer_contains: ok, name: "chk \u001b[32mgreen\u001b]0;pwned\u0007"}]
reference: [{answer: ok}]
wrong:
  - name: "w \u001b[2J"
    steps: [{answer: nope}]
`), 0o644))
	code, stdout, stderr := goatbench(t, "validate", "--tasks-dir", dir)
	require.Contains(t, []int{exitOK, exitFailed}, code, stderr)
	require.Contains(t, stdout, "loud")
	require.NotContains(t, stdout+stderr, "\x1b")
	require.NotContains(t, stdout+stderr, "\x07")
	require.Contains(t, stdout, `chk \x1b[32mgreen\x1b]0;pwned\x07`)
	require.Contains(t, stdout, `w \x1b[2J`)
}

func TestVersionAndHelp(t *testing.T) {
	code, stdout, _ := goatbench(t, "version")
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "goatbench ")
	for _, c := range []string{"run", "validate", "version"} {
		code, stdout, _ = goatbench(t, c, "--help")
		require.Equal(t, exitOK, code)
		require.Contains(t, stdout, "Examples:")
		require.Contains(t, stdout, "goatbench "+c)
	}
}

func TestRegistryModelsThroughAProxy(t *testing.T) {
	cp := fakeModal(t) // qwen3-4b is Modal-served: deployed and warm
	app, _ := modelApp(t)
	publish(t, cp, "", "qwen3-4b", app)
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	srv := reference.New(suite)
	var mu sync.Mutex
	seen := map[string]string{}
	srv.Intercept = func(_ http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
		mu.Lock()
		defer mu.Unlock()
		seen[req.Model] = fmt.Sprintf("temperature=%v tool_choice=%v", req.Temperature, req.ToolChoice)
		return false
	}
	proxy := httptest.NewServer(srv)
	defer proxy.Close()

	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--base-url", proxy.URL+"/v1", "--models", "qwen3-4b,gpt-5-nano", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "qwen3-4b-local 5/5")
	require.Contains(t, stdout, "gpt-5-nano 5/5")
	require.Equal(t, map[string]string{
		"qwen3-4b-local": "temperature=0.3 tool_choice=auto", // local-model defaults
		"gpt-5-nano":     "temperature=0 tool_choice=<nil>",  // the provider's own
	}, seen)
	m, err := results.ReadManifest(onlyRunDir(t, out))
	require.NoError(t, err)
	require.Equal(t, "qwen3-4b-local", m.Models[0].Name)
	require.Equal(t, "A10G:1", m.Models[0].GPU)
	require.Equal(t, 1.10, m.Models[0].PricePerHour)

	clear(seen)
	code, _, stderr = goatbench(t, "run", "--base-url", proxy.URL+"/v1", "--models", "qwen3-4b-local", "--temperature", "0.7", "--tasks-dir", "bench/tasks/smoke", "--out", t.TempDir())
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "temperature=0.7 tool_choice=auto", seen["qwen3-4b-local"], "a route resolves, --temperature overrides")

	clear(seen)
	code, _, stderr = goatbench(t, "run", "--base-url", proxy.URL+"/v1", "--model-name", "Qwen/Qwen3-4B-Instruct-2507", "--out", t.TempDir())
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "temperature=0.3 tool_choice=auto", seen["Qwen/Qwen3-4B-Instruct-2507"], "a vLLM served by hand is recognised by its HF id")
}

func TestUnknownModelSuggests(t *testing.T) {
	code, _, stderr := goatbench(t, "run", "--base-url", "http://127.0.0.1:1/v1", "--models", "qwen3-4", "--out", t.TempDir())
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "qwen3-4b")
	code, _, stderr = goatbench(t, "run", "--models", "reference", "--temperature", "-1", "--out", t.TempDir())
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--temperature must be between 0 and 2")
}

func TestNaNFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"--min-pass-rate", "nan"}, {"--temperature", "NaN"}} {
		code, _, stderr := goatbench(t, append([]string{"run", "--models", "reference", "--out", t.TempDir()}, args...)...)
		require.Equal(t, exitUsage, code, stderr)
		require.Contains(t, stderr, "must be between")
	}
}

func TestPasswordInBaseURLIsNotWritten(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	srv := httptest.NewServer(reference.New(suite))
	defer srv.Close()
	withPassword := strings.Replace(srv.URL, "http://", "http://user:pw-planted-123@", 1) + "/v1"
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--base-url", withPassword, "--model-name", "m", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stdout+stderr, "pw-planted-123")
	dir := onlyRunDir(t, out)
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NotContains(t, string(b), "pw-planted-123", p)
		}
		return nil
	}))
	m, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.Contains(t, m.Models[0].BaseURL, "user:xxxxx@")
}

func TestAttemptLineEscapesWhatTheModelWrote(t *testing.T) {
	a := results.Attempt{Model: "m", Task: "t", Status: results.StatusFail, FailureClass: results.ClassChecksFailed,
		Reason: "check: exit code 1: \r\x1b[2K\x1b[32mPASS\x1b[0m m  t #0\nnext"}
	line := progress.Line(a)
	require.True(t, strings.HasPrefix(line, "FAIL "), line)
	require.NotContains(t, line, "\x1b")
	require.NotContains(t, line, "\r")
	require.NotContains(t, line, "\n")
	require.Contains(t, line, `\r\x1b[2K\x1b[32mPASS`)
}

// An error that quotes a task file (here an unknown field's name) is printed
// escaped, on one line.
func TestErrorsQuotingATaskFileAreEscaped(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.yaml"), []byte("id: x\nprompt: p\nchecks: [{answer_contains: ok}]\n\"\\e]0;PWNED\\a\\e[2K\": 1\n"), 0o644))
	code, _, stderr := goatbench(t, "validate", "--tasks-dir", dir)
	require.Equal(t, exitUsage, code, stderr)
	require.NotContains(t, stderr, "\x1b")
	require.NotContains(t, stderr, "\a")
	require.Contains(t, stderr, `\x1b]0;PWNED\x07\x1b[2K`)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
}
