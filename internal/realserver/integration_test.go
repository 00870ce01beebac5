package realserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
)

// One llama-server and one goatbench binary serve every test of the package.
var (
	server  *Server
	binary  string
	skipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	kit, err := Find()
	if err != nil {
		skipWhy = err.Error()
		fmt.Println("realserver: integration tests skipped:", skipWhy)
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "goatbench-realserver-")
	if err != nil {
		fmt.Println("realserver:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binary = filepath.Join(tmp, "goatbench")
	if out, err := exec.Command("go", "build", "-o", binary, "../../cmd/goatbench").CombinedOutput(); err != nil {
		fmt.Printf("realserver: build goatbench: %v\n%s", err, out)
		return 1
	}
	// More llama-server arguments for an experiment, as in
	// GOATBENCH_REALSERVER_ARGS="--poll 0" go test -bench StreamingVersusFloor.
	server, err = kit.Start(context.Background(), Options{Args: strings.Fields(os.Getenv("GOATBENCH_REALSERVER_ARGS"))})
	if err != nil {
		fmt.Println("realserver:", err)
		return 1
	}
	defer server.Stop()
	return m.Run()
}

func needServer(t *testing.T) {
	t.Helper()
	if server == nil {
		t.Skip("llama-server kit not found: " + skipWhy)
	}
}

// goatbench runs the real binary and returns its exit code and the run's attempts.
func goatbench(t *testing.T, args ...string) (int, []results.Attempt, string) {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(binary, append(args, "--out", out)...)
	cmd.Env = append(os.Environ(), "OPENAI_API_KEY=", "OPENAI_BASE_URL=")
	combined, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 1, "one run folder; output:\n%s", combined)
	attempts, warnings, err := results.ReadAttempts(filepath.Join(out, entries[0].Name()))
	require.NoError(t, err)
	require.Empty(t, warnings)
	return code, attempts, string(combined)
}

// smoke runs the smoke suite against the llama-server at url, streamed or
// not: every task fails there (exit 1), and five attempts are made.
func smoke(t *testing.T, url string, stream bool) []results.Attempt {
	t.Helper()
	args := []string{"run", "--base-url", url, "--model-name", "tiny-random", "--suite", "smoke"}
	if !stream {
		args = append(args, "--no-stream")
	}
	code, attempts, out := goatbench(t, args...)
	require.Equal(t, 1, code, out)
	require.Len(t, attempts, 5)
	return attempts
}

// The tiny model calls one tool with empty arguments, then answers
// "Hello world!": every smoke task must fail its checks, never error, and the
// same whether the replies are streamed or plain.
func TestSmokeFailsItsChecksAgainstTheRealServer(t *testing.T) {
	needServer(t)
	statuses := map[bool]map[string]string{}
	for _, stream := range []bool{true, false} {
		attempts := smoke(t, server.URL, stream)
		statuses[stream] = map[string]string{}
		for _, a := range attempts {
			statuses[stream][a.Task] = string(a.Status) + "/" + a.FailureClass
			require.Equal(t, results.StatusFail, a.Status, "%s: %s", a.Task, a.Reason)
			require.Equal(t, results.ClassChecksFailed, a.FailureClass, "%s: %s", a.Task, a.Reason)
			require.Zero(t, a.Retries, "%s: a dead pooled connection is no retry: %v", a.Task, a.Requests)
			require.GreaterOrEqual(t, a.ToolCalls, 1, a.Task)
			require.Equal(t, "Hello world!", a.FinalAnswer, a.Task)
			require.Positive(t, a.TokensIn, a.Task)
			require.Positive(t, a.TokensOut, a.Task)
			require.NotEmpty(t, a.Requests, a.Task)
			for _, r := range a.Requests {
				require.Positive(t, r.Total, a.Task)
				require.Equal(t, stream, r.Stream, a.Task)
				if stream {
					require.Positive(t, r.TTFT, "%s: time to first token", a.Task)
				} else {
					require.Zero(t, r.TTFT, a.Task)
				}
			}
		}
	}
	require.Equal(t, statuses[true], statuses[false])
}

// More attempts in flight than the server has slots: llama-server queues
// them, and every attempt still completes.
//
// This llama-server build also closes the connection after every streamed
// reply while its headers say keep-alive; the next request on that pooled
// connection dies before any reply byte. The transport resends it on a new
// connection, so a streamed run records no retry at all.
func TestMoreParallelThanSlots(t *testing.T) {
	needServer(t)
	code, attempts, out := goatbench(t, "run", "--base-url", server.URL, "--model-name", "tiny-random", "--suite", "smoke", "--parallel", "8", "--repeat", "2")
	require.Equal(t, 1, code, out)
	require.Len(t, attempts, 10)
	for _, a := range attempts {
		require.Equal(t, results.StatusFail, a.Status, "%s: %s", a.Task, a.Reason)
		require.Zero(t, a.Retries, "%s: %v", a.Task, a.Requests)
	}
}

// A prompt over the server's context is classified, not a crash.
func TestPromptOverTheContext(t *testing.T) {
	needServer(t)
	kit, err := Find()
	require.NoError(t, err)
	small, err := kit.Start(context.Background(), Options{Context: 512, Slots: 1})
	require.NoError(t, err)
	defer small.Stop()
	code, attempts, out := goatbench(t, "run", "--base-url", small.URL, "--model-name", "tiny-random", "--suite", "smoke")
	require.Equal(t, 1, code, out)
	require.Len(t, attempts, 5)
	for _, a := range attempts {
		require.Equal(t, results.StatusFail, a.Status, "%s: %s", a.Task, a.Reason)
		require.Equal(t, results.ClassContextLength, a.FailureClass, "%s: %s", a.Task, a.Reason)
		require.Contains(t, a.Reason, "exceeds the available context size")
	}
}

// A reply cut at the token limit is classified as such, not as a wrong
// answer: llama-server started with -n 2 stops every reply after 2 tokens
// with finish_reason "length" (seen, build b11669: "Hello world" of
// "Hello world!"; a tool call cut to its first tokens comes as text, which
// without the finish reason read as a tool call written as text).
func TestAReplyCutAtTheTokenLimit(t *testing.T) {
	needServer(t)
	kit, err := Find()
	require.NoError(t, err)
	cut, err := kit.Start(context.Background(), Options{Slots: 2, Args: []string{"-n", "2"}})
	require.NoError(t, err)
	defer cut.Stop()
	for _, stream := range []bool{true, false} {
		attempts := smoke(t, cut.URL, stream)
		for _, a := range attempts {
			require.Equal(t, results.StatusFail, a.Status, "%s: %s", a.Task, a.Reason)
			require.Equal(t, results.ClassCutOff, a.FailureClass, "stream %v, %s: %s", stream, a.Task, a.Reason)
			require.Contains(t, a.Reason, "cut off at the token limit")
		}
	}
	// An external agent (urllib, plain replies) through the proxy: its last
	// reply was cut, and it answered with what it got.
	script, err := filepath.Abs("../agentcmd/testdata/agent.py")
	require.NoError(t, err)
	code, attempts, out := goatbench(t, "run", "--base-url", cut.URL, "--model-name", "tiny-random", "--suite", "smoke",
		"--agent", script) // the executable, so the sandbox binds it
	require.Equal(t, 1, code, out)
	require.Len(t, attempts, 5)
	for _, a := range attempts {
		require.Equal(t, results.StatusFail, a.Status, "agent, %s: %s", a.Task, a.Reason)
		require.Equal(t, results.ClassCutOff, a.FailureClass, "agent, %s: %s", a.Task, a.Reason)
	}
}

// The tool-call probe passes against a server with tool calling (--jinja) and
// fails against the same server started without it.
func TestToolCallProbe(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	require.NoError(t, runner.ProbeToolCall(ctx, runner.NewClient(server.URL, ""), "tiny-random", nil))

	kit, err := Find()
	require.NoError(t, err)
	plain, err := kit.Start(ctx, Options{NoJinja: true, Slots: 1, Context: 4096})
	require.NoError(t, err)
	defer plain.Stop()
	err = runner.ProbeToolCall(ctx, runner.NewClient(plain.URL, ""), "tiny-random", nil)
	require.Error(t, err)
	t.Log(err)
}
