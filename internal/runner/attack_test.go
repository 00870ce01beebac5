package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// Attacks made by a hostile model, as real attempts: each task's reference
// solution performs the attack with the bash tool, and its checks pass only if
// the attack worked. Every attack must cost its own attempt and nothing else.

// attack is one hostile task and how its attempt must end.
type attack struct {
	yaml   string
	status results.Status
	class  string
}

// attackTask fills in a task: id, prompt (unique: the reference server finds
// the task by it), a short timeout, the reference steps and the checks.
func attackTask(id, timeout, steps, checks string) string {
	return fmt.Sprintf("id: %s\nprompt: attack %s\nmax_turns: 8\ntimeout: %s\nreference:\n%s  - answer: done\nchecks:\n%s", id, id, timeout, steps, checks)
}

func bash(cmd string) string {
	return fmt.Sprintf("  - tool: bash\n    args:\n      command: %q\n", cmd)
}

// attackRun runs the attacks and a harmless task together, and returns each
// attempt by task id once the run is over.
func attackRun(t *testing.T, sb sandbox.Sandbox, workRoot string, attacks map[string]attack, setup ...func(*harness)) map[string]results.Attempt {
	t.Helper()
	suite := tasks.Suite{Name: "attacks"}
	for id, a := range attacks {
		suite.Tasks = append(suite.Tasks, mustTask(t, a.yaml))
		require.Equal(t, id, suite.Tasks[len(suite.Tasks)-1].ID)
	}
	suite.Tasks = append(suite.Tasks, mustTask(t, attackTask("harmless", "30s",
		bash("echo fine > ok.txt"), "  - file_contains: {path: ok.txt, text: fine}\n")))
	h := newHarness(t, suite)
	h.opts.Sandbox, h.opts.WorkRoot = sb, workRoot
	for _, f := range setup {
		f(h)
	}
	got := map[string]results.Attempt{}
	for _, a := range h.run(t, context.Background()) {
		got[a.Task] = a
	}
	require.Len(t, got, len(attacks)+1, "every attempt has its line")
	require.Equal(t, results.StatusPass, got["harmless"].Status, "the run goes on: %+v", got["harmless"])
	for id, want := range attacks {
		a := got[id]
		require.Equal(t, want.status, a.Status, "%s: %s %s", id, a.FailureClass, a.Reason)
		require.Equal(t, want.class, a.FailureClass, "%s: %s", id, a.Reason)
	}
	return got
}

// searchableDir is a fresh directory in the system temp dir that every user
// can pass through, as the runner's default work root is.
func searchableDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "goatbench-attacks-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

func marker(prefix string) string { return fmt.Sprintf("gb-%s-%d", prefix, time.Now().UnixNano()) }

// requireGone waits for every process whose command line holds marker to end.
func requireGone(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
		require.NoError(t, err)
		found := ""
		for _, p := range procs {
			b, err := os.ReadFile(p)
			stat, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
			if err == nil && strings.Contains(string(b), marker) && !strings.Contains(string(stat), ") Z ") {
				found = p
			}
		}
		if found == "" {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s survived its attempt", found)
		time.Sleep(20 * time.Millisecond)
	}
}

// initialEntry is an entry of this process's environment as it was started,
// one no sandboxed command has of its own.
func initialEntry(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/environ")
	require.NoError(t, err)
	for _, kv := range strings.Split(string(b), "\x00") {
		name, v, _ := strings.Cut(kv, "=")
		switch name {
		case "", "PATH", "HOME", "LANG", "TMPDIR", "PWD", "SHLVL", "_", "OLDPWD":
			continue
		}
		if len(v) > 3 && !strings.ContainsAny(kv, "\n\"\\") {
			return kv
		}
	}
	t.Skip("this process was started with no environment to steal")
	return ""
}

// deepNames builds a tree whose paths are longer than PATH_MAX, read-only at
// the bottom, then calls every tool: the workspace's bookkeeping (handing it
// to the command's uid, the checks, the cleanup) must cope, and the attempt
// is the model's fail, never an error.
var deepNames = attack{attackTask("deep-names", "30s",
	bash(`n=$(printf 'd%.0s' $(seq 200)); for i in $(seq 30); do mkdir $n && cd $n || exit 1; done; touch leaf; chmod 555 .; pwd | wc -c`)+
		bash("ls")+
		"  - tool: write_file\n    args: {path: x.txt, content: hi}\n"+
		"  - tool: list_dir\n    args: {path: .}\n"+
		"  - tool: read_file\n    args: {path: x.txt}\n",
	"  - file_exists: never\n  - command: {run: \"true\"}\n"), fail, results.ClassChecksFailed}

const (
	fail    = results.StatusFail
	timeout = results.StatusTimeout
)

func TestAttacksThroughTheRunner(t *testing.T) {
	sb := sandbox.Default()
	if sb.Mode() != sandbox.ModeBwrap {
		_, err := sandbox.NewBwrap(sandbox.Limits{})
		t.Skipf("bwrap-only: %v", err)
	}
	root := searchableDir(t)
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, ".modal.toml"), []byte("token_secret = \"as-modal-stolen\"\n"), 0o600))
	t.Setenv("HOME", home)
	// What goatbench's /proc/<pid>/environ shows is the environment it was
	// started with (setenv does not change it): steal one of those entries.
	// Its name is no secret's, so isolation, not redaction, must stop it.
	environ := initialEntry(t)
	victim := func(name string) string {
		p := filepath.Join(root, name)
		require.NoError(t, os.WriteFile(p, []byte("original\n"), 0o644))
		return p
	}
	dotdot, abs, link := victim("dotdot.txt"), victim("abs.txt"), victim("link.txt")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	bg, bomb, flag := marker("daemon"), marker("bomb"), "/tmp/"+marker("flag")
	stolen := "  - file_contains: {path: stolen.txt, text: stolen}\n"
	pwned := func(p string) string { return fmt.Sprintf("  - command: {run: %q}\n", "grep -q pwned "+p) }

	var runDir string
	attempts := attackRun(t, sb, root, map[string]attack{
		"read-home": {attackTask("read-home", "30s",
			bash("cat ~/.modal.toml "+filepath.Join(home, ".modal.toml")+" > stolen.txt"), stolen), fail, results.ClassChecksFailed},
		"read-environ": {attackTask("read-environ", "30s",
			bash(fmt.Sprintf("cat /proc/%d/environ /proc/[0-9]*/environ | tr '\\0' '\\n' > environ.txt", os.Getpid())),
			fmt.Sprintf("  - file_contains: {path: environ.txt, text: %q}\n", environ)), fail, results.ClassChecksFailed},
		"write-dotdot": {attackTask("write-dotdot", "30s",
			bash("echo pwned > ../dotdot.txt"), pwned("../dotdot.txt")), fail, results.ClassChecksFailed},
		"write-absolute": {attackTask("write-absolute", "30s",
			bash("echo pwned > "+abs), pwned(abs)), fail, results.ClassChecksFailed},
		"write-symlink": {attackTask("write-symlink", "30s",
			bash("ln -s "+link+" link && echo pwned > link")+
				"  - tool: write_file\n    args: {path: link, content: pwned}\n", pwned(link)), fail, results.ClassChecksFailed},
		"tcp": {attackTask("tcp", "30s",
			bash(fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && echo connected > net.txt", port)),
			"  - file_exists: net.txt\n"), fail, results.ClassChecksFailed},
		"fool-the-check": {attackTask("fool-the-check", "30s",
			bash("echo ok > "+flag), fmt.Sprintf("  - command: {run: %q}\n", "test -f "+flag)), fail, results.ClassChecksFailed},
		"fork-bomb": {attackTask("fork-bomb", "4s",
			bash(":(){ :|: & :; }; : # "+bomb), "  - file_exists: never\n"), timeout, results.ClassTimeout},
		"fork-many": {attackTask("fork-many", "30s",
			bash(`python3 -c 'import os, time
n = 0
try:
    while n < 1000:
        if os.fork() == 0:
            time.sleep(60); os._exit(0)
        n += 1
except BlockingIOError:
    pass
open("forked.txt", "w").write(str(n))'`), "  - file_contains: {path: forked.txt, text: \"1000\"}\n"), fail, results.ClassChecksFailed},
		"print-forever": printForever,
		"print-a-lot":   printALot,
		"allocate-forever": {attackTask("allocate-forever", "60s",
			bash(`python3 -c 'x = [bytearray(1 << 30) for _ in range(16)]' && touch allocated`), "  - file_exists: allocated\n"), fail, results.ClassChecksFailed},
		"daemon": {attackTask("daemon", "30s",
			bash("setsid bash -c 'exec -a "+bg+" sleep 300' >/dev/null 2>&1 </dev/null & (exec -a "+bg+" sleep 300) & echo started"),
			fmt.Sprintf("  - command: {run: %q}\n", "pgrep -f [g]"+bg[1:])), fail, results.ClassChecksFailed},
		"sleep-past-timeout": {attackTask("sleep-past-timeout", "2s", bash("sleep 600"), "  - file_exists: never\n"), timeout, results.ClassTimeout},
		"deep-names":         deepNames,
	}, func(h *harness) { runDir = h.opts.RunDir })

	for _, p := range []string{dotdot, abs, link} {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, "original\n", string(b), "%s was written from a sandbox", p)
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Len(t, entries, 3, "no workspace left behind and nothing new beside them")
	require.NoError(t, ln.(*net.TCPListener).SetDeadline(time.Now().Add(50*time.Millisecond)))
	c, err := ln.Accept()
	if c != nil {
		c.Close()
	}
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the listener saw a connection: %v", err)
	requireGone(t, bg)
	requireGone(t, bomb)
	require.NoFileExists(t, flag)
	requireCappedOutput(t, runDir, attempts["print-a-lot"])
}

// printForever prints until the attempt's timeout ends it, which it does,
// output and all; no tool message comes of it, since the call never
// returned.
var printForever = attack{attackTask("print-forever", "2s", bash("yes flood"), "  - file_exists: never\n"), timeout, results.ClassTimeout}

// printALot prints 200 MB, too much to hold, and ends: the model gets the
// first toolOutputCap bytes, with what the sandbox kept beyond them counted
// in one marker and what it dropped in another.
var printALot = attack{attackTask("print-a-lot", "60s", bash("yes flood | head -c 200000000"), "  - file_exists: never\n"), fail, results.ClassChecksFailed}

// requireCappedOutput reads printALot's tool message from its transcript.
func requireCappedOutput(t *testing.T, runDir string, a results.Attempt) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, a.Transcript))
	require.NoError(t, err)
	var tr struct {
		Messages []openai.ChatCompletionMessage `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(b, &tr))
	var out string
	for _, m := range tr.Messages {
		if m.Role == openai.ChatMessageRoleTool {
			out = m.Content
		}
	}
	require.True(t, strings.HasPrefix(out, "flood\nflood\n"), "%.100q", out)
	require.Less(t, len(out), toolOutputCap+200, "a capped tool message")
	m := regexp.MustCompile(`\[\.\.\. (\d+) more bytes of output dropped \.\.\.\]\n\[exit code 0\]$`).FindStringSubmatch(out)
	require.NotNil(t, m, "%q", out[max(0, len(out)-200):])
	dropped, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.Greater(t, dropped, 100_000_000, "the rest is counted, not held")
}

// Plain mode isolates nothing, but its limits hold: the same attacks on
// resources, through the runner, with commands run unisolated.
func TestLimitAttacksThroughTheRunnerInPlainMode(t *testing.T) {
	t.Parallel() // waits on limits and timeouts
	bg := marker("plain-bg")
	attacks := map[string]attack{
		"print-forever": printForever,
		"print-a-lot":   printALot,
		"allocate-forever": {attackTask("allocate-forever", "60s",
			bash(`python3 -c 'x = [bytearray(1 << 30) for _ in range(16)]' && touch allocated`), "  - file_exists: allocated\n"), fail, results.ClassChecksFailed},
		"big-file": {attackTask("big-file", "60s",
			bash("head -c 100000000 /dev/zero > big; echo status=$? > status"), "  - file_contains: {path: status, text: \"status=0\"}\n"), fail, results.ClassChecksFailed},
		"background": {attackTask("background", "30s",
			bash("(exec -a "+bg+" sleep 300) & echo started"), fmt.Sprintf("  - command: {run: %q}\n", "pgrep -f [g]"+bg[1:])), fail, results.ClassChecksFailed},
		"sleep-past-timeout": {attackTask("sleep-past-timeout", "2s", bash("sleep 600"), "  - file_exists: never\n"), timeout, results.ClassTimeout},
		"deep-names":         deepNames,
	}
	var runDir string
	attempts := attackRun(t, sandbox.Plain{Limits: sandbox.Limits{FileSize: 10 << 20}}, searchableDir(t), attacks,
		func(h *harness) { runDir = h.opts.RunDir })
	requireGone(t, bg)
	requireCappedOutput(t, runDir, attempts["print-a-lot"])
}

// Plain mode run by root: the commands run as a uid of the attempt's own, so
// what redaction could never stop (goatbench's environ, base64'd) is not
// readable at all, and no results stream, this run's or an earlier one's, can
// take a forged line. The run folders are reachable by any user here, so only
// ownership stands in the way.
func TestPlainAsRootAttacksThroughTheRunner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	environ := initialEntry(t)
	runs := searchableDir(t)
	earlier := filepath.Join(runs, "earlier", results.AttemptsFile)
	require.NoError(t, os.MkdirAll(filepath.Dir(earlier), 0o755))
	require.NoError(t, os.WriteFile(earlier, []byte("{}\n"), 0o644))
	runDir := filepath.Join(runs, "this")
	forged := `{"run_id":"test","model":"m","task":"harmless","repeat":0,"status":"pass"}`
	bg := marker("plain-root-daemon")
	attackRun(t, sandbox.Plain{}, searchableDir(t), map[string]attack{
		"read-environ": {attackTask("read-environ", "30s",
			bash(fmt.Sprintf("base64 -w0 /proc/%d/environ > environ.txt; rev /proc/%d/environ >> environ.txt; tr '\\0' '\\n' < /proc/%d/environ >> environ.txt", os.Getpid(), os.Getpid(), os.Getpid())),
			fmt.Sprintf("  - file_contains: {path: environ.txt, text: %q}\n", environ)), fail, results.ClassChecksFailed},
		"forge-results": {attackTask("forge-results", "30s",
			bash(fmt.Sprintf("echo '%s' >> %s && echo '%s' >> %s && touch forged", forged, filepath.Join(runDir, results.AttemptsFile), forged, earlier)),
			"  - file_exists: forged\n"), fail, results.ClassChecksFailed},
		"setsid-daemon": {attackTask("setsid-daemon", "30s",
			bash("setsid bash -c 'exec -a "+bg+" sleep 300' >/dev/null 2>&1 </dev/null & echo started"),
			fmt.Sprintf("  - command: {run: %q}\n", "pgrep -f [g]"+bg[1:])), fail, results.ClassChecksFailed},
		"deep-names": deepNames,
	}, func(h *harness) {
		h.opts.RunDir = runDir
		require.NoError(t, os.MkdirAll(runDir, 0o755))
	})
	b, err := os.ReadFile(earlier)
	require.NoError(t, err)
	require.Equal(t, "{}\n", string(b), "an earlier run's stream took a line")
	requireGone(t, bg)
}
