package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

func TestRunRecordsTheSandbox(t *testing.T) {
	_, _, bwrapErr := sandbox.Open(sandbox.ModeBwrap, sandbox.Limits{})
	for _, tc := range []struct {
		flag, want string
	}{
		{"plain", "plain"},
		{"auto", map[bool]string{true: "bwrap", false: "plain"}[bwrapErr == nil]},
		{"bwrap", "bwrap"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			if tc.flag == "bwrap" && bwrapErr != nil {
				out := t.TempDir()
				code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out, "--sandbox", "bwrap")
				require.Equal(t, exitUsage, code, "asking for isolation that cannot be had is a configuration error")
				require.Contains(t, stderr, "bubblewrap")
				return
			}
			out := t.TempDir()
			code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--out", out, "--sandbox", tc.flag)
			require.Equal(t, exitOK, code, stderr)
			require.Contains(t, stderr, "sandbox "+tc.want)
			if tc.want == "plain" && tc.flag == "auto" {
				require.Contains(t, stderr, "WARNING", "falling back is loud")
			} else {
				require.NotContains(t, stderr, "WARNING")
			}
			m, err := results.ReadManifest(onlyRunDir(t, out))
			require.NoError(t, err)
			require.Equal(t, tc.want, m.Sandbox)
		})
	}
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--sandbox", "docker", "--out", t.TempDir())
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `--sandbox must be bwrap, plain, auto or modal, got "docker"`)
}

// A secret that a tool prints, the model repeats and a check quotes appears
// in no file of the run and on no output stream.
func TestSecretsNeverReachAWrittenFile(t *testing.T) {
	const envSecret = "hf_planted_SECRET_0123456789"
	const flagSecret = "sk-flag-planted-9876543210"
	t.Setenv("HF_TOKEN", envSecret)
	tasksDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tasksDir, "leak.yaml"), []byte(`id: leak
prompt: print the token
setup:
  - {path: notes.txt, content: "token=`+envSecret+` key=`+flagSecret+`\n"}
checks:
  - command: {run: "cat notes.txt; exit 1"}
  - answer_contains: nothing-like-this
reference:
  - {tool: bash, args: {command: "cat notes.txt; echo `+envSecret+`; echo `+flagSecret+` >&2"}}
  - {tool: read_file, args: {path: notes.txt}}
  - {answer: "the token is `+envSecret+` and the key `+flagSecret+`"}
`), 0o644))
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--tasks-dir", tasksDir, "--out", out,
		"--api-key", flagSecret)
	require.Equal(t, exitFailed, code, stderr)
	for _, secret := range []string{envSecret, flagSecret} {
		require.NotContains(t, stdout, secret)
		require.NotContains(t, stderr, secret)
	}
	require.Contains(t, stderr, "[REDACTED:", "the failing check's detail is still shown, redacted")
	files := 0
	require.NoError(t, filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		files++
		for _, secret := range []string{envSecret, flagSecret} {
			require.NotContains(t, string(b), secret, p)
		}
		return nil
	}))
	require.GreaterOrEqual(t, files, 3, "results.jsonl, run.json and a transcript")
	tr, err := filepath.Glob(filepath.Join(out, "*", "transcripts", "*", "leak-r0.json"))
	require.NoError(t, err)
	require.Len(t, tr, 1)
	b, err := os.ReadFile(tr[0])
	require.NoError(t, err)
	require.True(t, strings.Count(string(b), "[REDACTED:HF_TOKEN]") >= 3, "tool output, file content and answer: %s", b)
}

// The sandbox session's init (package pid1) takes over from goatbench's
// own binary before the packages a run needs and the init does not are
// initialised: ahead of net, gRPC and the Modal SDK, whose initialisation
// is most of the binary's start (see pid1's package comment).
func TestSandboxInitComesEarlyInTheBinary(t *testing.T) {
	cmd := exec.Command(buildBinary(t), "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run())
	var order []string
	for line := range strings.Lines(stderr.String()) {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order = append(order, f[1])
		}
	}
	at := func(pkg string) int {
		i := slices.Index(order, pkg)
		require.GreaterOrEqual(t, i, 0, "%s is not initialised in goatbench", pkg)
		return i
	}
	init := at("github.com/goatbench/goatbench/internal/sandbox/pid1")
	for _, later := range []string{
		"net",
		"google.golang.org/grpc",
		"github.com/modal-labs/modal-client/go/proto/modal_proto",
		"github.com/goatbench/goatbench/internal/sandbox",
	} {
		require.Less(t, init, at(later), "pid1 before %s", later)
	}
}
