package agentcmd

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/agentproxy"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// TestMain lets the test binary play goatbench's `agent-forward`, as the
// goatbench binary does inside the sandbox.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ForwardCommand {
		os.Exit(ForwardMain(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

const realKey = "sk-real-key-never-in-the-agent"

var (
	bwrapOnce sync.Once
	bwrapSB   sandbox.Sandbox
	bwrapErr  error
)

func needBwrap(t *testing.T) sandbox.Sandbox {
	t.Helper()
	bwrapOnce.Do(func() { bwrapSB, bwrapErr = sandbox.NewBwrap(sandbox.Limits{}) })
	if bwrapErr != nil {
		t.Skipf("bwrap-only: %v", bwrapErr)
	}
	return bwrapSB
}

// eachSandbox runs f in plain mode and, where it works, under bubblewrap.
func eachSandbox(t *testing.T, f func(t *testing.T, sb sandbox.Sandbox)) {
	t.Run("plain", func(t *testing.T) { f(t, sandbox.Plain{}) })
	t.Run("bwrap", func(t *testing.T) { f(t, needBwrap(t)) })
}

func smoke(t *testing.T) tasks.Suite {
	s, err := tasks.Load("smoke")
	require.NoError(t, err)
	return s
}

// upstream is the reference model with the real key; it fails any request
// that does not carry it.
func upstream(t *testing.T, suite tasks.Suite) (string, *reference.Server) {
	ref := reference.New(suite)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+realKey {
			http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
			return
		}
		ref.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", ref
}

func workspace(t *testing.T) string {
	dir, err := os.MkdirTemp("", "goatbench-agent-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func attempt(t *testing.T, sb sandbox.Sandbox, baseURL, command string, timeout time.Duration) Attempt {
	t.Helper()
	ag, err := Prepare(Config{Name: "test", Command: command, Mounts: []string{agentScript(t)}})
	require.NoError(t, err)
	return Attempt{
		Agent: ag, Dir: workspace(t), Prompt: "do it", Timeout: timeout, Sandbox: sb, Grace: 300 * time.Millisecond,
		Proxy: agentproxy.Config{Model: reference.ModelID, Relay: runner.NewRelay(runner.NewClient(baseURL, realKey), 0, runner.RetryPolicy{})},
	}
}

func agentScript(t *testing.T) string {
	p, err := filepath.Abs("testdata/agent.py")
	require.NoError(t, err)
	return p
}

// TestPythonAgentPassesSmoke runs the independent urllib agent on every
// smoke task through the proxy and judges it with the tasks' own checks.
func TestPythonAgentPassesSmoke(t *testing.T) {
	eachSandbox(t, func(t *testing.T, sb sandbox.Sandbox) {
		suite := smoke(t)
		base, ref := upstream(t, suite)
		for _, task := range suite.Tasks {
			ws, err := runner.NewWorkspace("", task, sb)
			require.NoError(t, err)
			a := attempt(t, sb, base, "/usr/bin/python3 "+agentScript(t), task.Timeout)
			a.Dir, a.Prompt = ws.Dir, task.Prompt
			out, err := Run(context.Background(), a)
			require.NoError(t, err, task.ID)
			require.Equal(t, 0, out.ExitCode, "%s: %s", task.ID, out.Stderr)
			checks, err := runner.Evaluate(context.Background(), ws, task, out.Answer)
			require.NoError(t, err, task.ID)
			require.True(t, runner.AllPass(checks), "%s: %+v", task.ID, checks)
			require.Len(t, out.Requests, len(task.Reference), task.ID)
			for _, r := range out.Requests {
				require.Empty(t, r.Error)
				require.Positive(t, r.TokensOut)
			}
			require.NotEmpty(t, out.Messages)
			tot := out.Totals()
			require.Equal(t, len(task.Reference), tot.Turns, task.ID)
			require.Equal(t, len(task.Reference)-1, tot.ToolCalls, task.ID)
			require.Positive(t, tot.TokensIn)
			require.Len(t, out.Messages, 2*len(task.Reference), "%s: the prompt, each call and its result, the answer, once each", task.ID)
			require.NoError(t, ws.Close(false))
		}
		require.Positive(t, ref.Requests())
	})
}

func TestPromptAndAnswer(t *testing.T) {
	eachSandbox(t, func(t *testing.T, sb sandbox.Sandbox) {
		base, _ := upstream(t, smoke(t))
		prompt := `it's "quoted"; $(touch pwned) ` + "`x`\nline 2"
		cases := []struct {
			name, command, answerMode, want string
			exit                            int
		}{
			{"prompt as word, file and stdin", `/usr/bin/bash -c 'printf "%s|" "$1"; cat "$2"; printf "|"; cat' _ {prompt} {prompt_file}`, "", prompt + "|" + prompt + "|" + prompt, 0},
			{"answer file wins over stdout", `/usr/bin/bash -c 'echo log line; echo the answer > "$1"' _ {answer_file}`, "", "the answer", 0},
			{"stdout mode ignores the answer file", `/usr/bin/bash -c 'echo out; echo file > "$1"' _ {answer_file}`, AnswerStdout, "out", 0},
			{"non-zero exit is recorded, the answer kept", `/usr/bin/bash -c 'echo partial; exit 3'`, "", "partial", 3},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				a := attempt(t, sb, base, c.command, 10*time.Second)
				a.Agent.Answer = c.answerMode
				a.Prompt = prompt
				out, err := Run(context.Background(), a)
				require.NoError(t, err)
				require.Equal(t, c.exit, out.ExitCode, out.Stderr)
				require.Equal(t, c.want, out.Answer)
				require.NoFileExists(t, filepath.Join(a.Dir, "pwned"), "the prompt is never run as shell")
			})
		}
	})
}

func TestHostileAgents(t *testing.T) {
	eachSandbox(t, func(t *testing.T, sb sandbox.Sandbox) {
		base, _ := upstream(t, smoke(t))

		t.Run("ignores SIGTERM", func(t *testing.T) {
			mark := fmt.Sprintf("gbterm%d", time.Now().UnixNano())
			a := attempt(t, sb, base, `/usr/bin/bash -c 'trap "" TERM; (trap "" TERM; exec -a `+mark+` sleep 300) & exec -a `+mark+` sleep 300'`, time.Second)
			out, err := Run(context.Background(), a)
			require.NoError(t, err)
			require.True(t, out.TimedOut)
			require.Less(t, out.Duration, 10*time.Second, "killed after the grace, not at the backstop")
			if sb.Mode() == sandbox.ModeBwrap { // the forwarder inside says why it stopped the agent
				require.Contains(t, out.Stderr, "ran past its timeout")
			}
			requireGone(t, mark)
		})

		t.Run("prints 50 MB", func(t *testing.T) {
			a := attempt(t, sb, base, `/usr/bin/bash -c 'head -c 52428800 /dev/zero | tr "\0" a; head -c 52428800 /dev/zero >&2'`, 30*time.Second)
			out, err := Run(context.Background(), a)
			require.NoError(t, err)
			require.Equal(t, 0, out.ExitCode)
			require.Len(t, out.Answer, AnswerCap)
			require.Equal(t, int64(50<<20-AnswerCap), out.StdoutDropped)
			require.LessOrEqual(t, len(out.Stderr), StderrCap)
		})

		t.Run("asks for another model", func(t *testing.T) {
			a := attempt(t, sb, base, `/usr/bin/python3 -c 'import os, urllib.request, urllib.error, json
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", json.dumps({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}).encode(), {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"], "Content-Type": "application/json"})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    print(e.code)'`, 20*time.Second)
			out, err := Run(context.Background(), a)
			require.NoError(t, err)
			require.Equal(t, "400", out.Answer, out.Stderr)
			require.Len(t, out.Requests, 1)
			require.Contains(t, out.Requests[0].Error, `"gpt-5"`)
		})
	})
}

func TestPrepareRefusesMissingExecutable(t *testing.T) {
	for _, c := range []struct{ command, want string }{
		{"no-such-agent-xyz --prompt {prompt}", "no-such-agent-xyz not found on PATH"},
		{"/no/such/agent run", "/no/such/agent is not an executable file"},
		{"$AGENT run", "must be the agent's executable"},
		{"'unterminated", `the first word "'unterminated" must be the agent's executable, a name on PATH or a path, as a plain word: no quotes`},
	} {
		_, err := Prepare(Config{Name: "x", Command: c.command})
		require.ErrorContains(t, err, c.want)
		require.NotContains(t, err.Error(), "\n")
	}
	_, err := Prepare(Config{Name: "x", Command: "/usr/bin/true", Mounts: []string{"/no/such/runtime"}})
	require.ErrorContains(t, err, "mount /no/such/runtime")
}

// requireGone fails unless no process has marker in its command line, after
// a short poll: killed processes take a moment to be reaped.
func requireGone(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if !alive(marker) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a process named %s outlived its agent", marker)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(marker string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(b), marker) {
			return true
		}
	}
	return false
}

// TestIsolation is a hostile agent under bubblewrap: it must reach the proxy
// and nothing else, never see the real key, and write nowhere but its
// workspace (and the answer file).
func TestIsolation(t *testing.T) {
	sb := needBwrap(t)
	suite := smoke(t)
	base, _ := upstream(t, suite)
	// Another server on the host's loopback, which the agent must not reach.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("reached")) }))
	defer other.Close()
	otherPort := other.Listener.Addr().(*net.TCPAddr).Port

	upURL, err := url.Parse(base)
	require.NoError(t, err)
	outside := t.TempDir()
	script := `
import os, socket, glob, subprocess
def can_connect(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False
def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False
print("proxy", can_connect("127.0.0.1", 4000))
print("other", can_connect("127.0.0.1", ` + fmt.Sprint(otherPort) + `))
print("upstream", can_connect("127.0.0.1", ` + upURL.Port() + `))
print("internet", can_connect("1.1.1.1", 443))
env = open("/proc/self/environ").read() + "".join(open(p, errors="replace").read() for p in glob.glob("/proc/*/environ") if os.access(p, os.R_OK))
print("env", env.replace("\0", " "))
import sys
for p in ["` + outside + `/escape", "/usr/escape", "/etc/escape", os.path.dirname(sys.argv[1]) + "/escape", "` + os.Args[0] + `"]:
    print("write", p, can_write(p))
print("escape-home", can_write(os.environ["HOME"] + "/../escape"))
`
	a := attempt(t, sb, base, "/usr/bin/python3 -c "+ShellQuote(script)+" {answer_file}", 30*time.Second)
	out, err := Run(context.Background(), a)
	require.NoError(t, err)
	require.Equal(t, 0, out.ExitCode, out.Stderr)
	lines := out.Answer
	require.Contains(t, lines, "proxy True", "the agent reaches its proxy")
	require.Contains(t, lines, "other False", "no other loopback port of the host")
	require.Contains(t, lines, "upstream False", "not the model server itself")
	require.Contains(t, lines, "internet False")
	require.NotContains(t, lines, realKey)
	require.NotContains(t, out.Stderr, realKey)
	for _, l := range strings.Split(lines, "\n") {
		if strings.HasPrefix(l, "write ") {
			require.True(t, strings.HasSuffix(l, " False"), l)
		}
	}
	require.NoFileExists(t, filepath.Join(outside, "escape"))
	// The workspace's parent: inside, a private tmpfs; the host's stays clean.
	require.NoFileExists(t, filepath.Join(filepath.Dir(a.Dir), "escape"))
}
