package modalsandbox

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

const (
	testToken  = "ak-test"
	testSecret = "as-test"
)

// fake starts the fake control plane and points the SDK at it, as
// MODAL_SERVER_URL does in CI's tests; nothing reads ~/.modal.toml.
func fake(tb testing.TB, o fakemodal.SandboxOptions) (*fakemodal.ControlPlane, *Provider) {
	tb.Helper()
	cp, err := fakemodal.Start(tb.TempDir(), testToken, testSecret)
	require.NoError(tb, err)
	tb.Cleanup(cp.Close)
	if o.Run == nil {
		o.Run = sandbox.Plain{}
	}
	cp.ConfigureSandboxes(o)
	tb.Setenv("HOME", tb.TempDir())
	tb.Setenv("MODAL_CONFIG_PATH", "")
	tb.Setenv("MODAL_PROFILE", "")
	tb.Setenv("MODAL_ENVIRONMENT", "")
	tb.Setenv("MODAL_SERVER_URL", cp.URL)
	tb.Setenv("MODAL_TOKEN_ID", testToken)
	tb.Setenv("MODAL_TOKEN_SECRET", testSecret)
	client, err := NewClient()
	require.NoError(tb, err)
	tb.Cleanup(client.Close)
	p, err := Open(context.Background(), client, Config{})
	require.NoError(tb, err)
	return cp, p
}

func task(tb testing.TB, yaml string) tasks.Task {
	tb.Helper()
	t, err := tasks.Parse("t.yaml", []byte(yaml))
	require.NoError(tb, err)
	return t
}

const setupTask = `id: setup
prompt: p
timeout: 2m
setup:
  - {path: notes/a.txt, content: "alpha\n"}
  - {path: run.sh, content: "#!/bin/sh\necho ran\n", mode: 0o755}
  - {path: b.txt, content: "beta"}
checks: [{file_exists: a}]
reference: [{answer: done}]
`

func attemptCtx(run, model, task string, repeat int) context.Context {
	return runner.WithAttempt(context.Background(), runner.AttemptID{RunID: run, Model: model, Task: task, Repeat: repeat})
}

func TestAWorkspaceInASandbox(t *testing.T) {
	cp, p := fake(t, fakemodal.SandboxOptions{})
	ws, err := p.Workspace(attemptCtx("run-1", "qwen3-4b", "setup", 2), task(t, setupTask))
	require.NoError(t, err)
	w := ws.(*Workspace)

	sbs := cp.Sandboxes()
	require.Len(t, sbs, 1)
	v := sbs[0]
	require.Equal(t, map[string]string{TagRun: "run-1", TagModel: "qwen3-4b", TagTask: "setup", TagRepeat: "2"}, v.Tags)
	require.Equal(t, []string{"FROM python:3.12-slim", "FROM base", "WORKDIR /work"}, v.Image)
	require.EqualValues(t, (2*time.Minute+checksTime)/time.Second, v.TimeoutSecs, "the task's timeout plus the checks' time")
	require.EqualValues(t, 1000, v.MilliCPU)
	require.EqualValues(t, 1024, v.MemoryMB)
	require.Equal(t, pb.NetworkAccess_BLOCKED, v.Network)
	require.Equal(t, Workdir, v.Workdir)
	require.Equal(t, 1, cp.Requests("TaskExecStart"), "three setup files in one Exec")

	b, more, err := w.ReadFile("notes/a.txt", 100)
	require.NoError(t, err)
	require.False(t, more)
	require.Equal(t, "alpha\n", string(b))
	b, more, err = w.ReadFile("./b.txt", 2)
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, "be", string(b))
	seeded, ok := w.Seeded("./notes/a.txt")
	require.True(t, ok)
	require.Equal(t, "alpha\n", string(seeded))

	res, err := w.Run(context.Background(), "./run.sh; echo oops >&2; exit 3", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "ran\noops\n", res.Output, "stderr merged into the output; the setup file's mode kept")
	require.Equal(t, 3, res.ExitCode)
	require.False(t, res.TimedOut)

	require.NoError(t, w.WriteFile("deep/er/c.txt", []byte("it's \"quoted\"\n$HOME")))
	b, _, err = w.ReadFile("deep/er/c.txt", 100)
	require.NoError(t, err)
	require.Equal(t, "it's \"quoted\"\n$HOME", string(b))
	names, err := w.ListDir(".")
	require.NoError(t, err)
	require.Equal(t, []string{"b.txt", "deep/", "notes/", "run.sh"}, names)
	require.True(t, w.Exists("deep/er"))
	require.False(t, w.Exists("nope"))

	for _, bad := range []string{"/etc/passwd", "../x", "a/../../x"} {
		_, _, err := w.ReadFile(bad, 10)
		require.ErrorContains(t, err, "escapes", bad)
		require.ErrorContains(t, w.WriteFile(bad, nil), "escapes", bad)
	}
	_, _, err = w.ReadFile("notes", 10)
	require.ErrorContains(t, err, "not a regular file")
	_, _, err = w.ReadFile("missing.txt", 10)
	require.ErrorContains(t, err, "no such file")
	_, err = w.ListDir("b.txt")
	require.ErrorContains(t, err, "not a directory")
	require.ErrorContains(t, w.WriteFile("notes", []byte("x")), "is a directory")

	// A file beyond one Exec's arguments goes through the filesystem API.
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB
	require.NoError(t, w.WriteFile("big.txt", []byte(big)))
	require.Equal(t, 1, cp.Requests("TaskExecStdinWriteStream"))
	b, _, err = w.ReadFile("big.txt", len(big)+10)
	require.NoError(t, err)
	require.Equal(t, big, string(b))

	// A script no command line holds is the command's failure, and never
	// reaches Modal, whose exec would refuse it.
	execs := cp.Requests("TaskExecStart")
	for _, s := range []string{"echo a\x00b", strings.Repeat("x", 130<<10)} {
		res, err = w.Run(context.Background(), s, time.Minute)
		require.NoError(t, err)
		require.Equal(t, 126, res.ExitCode)
		require.Contains(t, res.Output, "this command cannot run")
	}
	require.Equal(t, execs, cp.Requests("TaskExecStart"))

	res, err = w.Run(context.Background(), "sleep 30", time.Second)
	require.NoError(t, err)
	require.True(t, res.TimedOut)
	require.Equal(t, -1, res.ExitCode)
	require.Nil(t, w.Lost())

	dir := v.Dir
	require.NoError(t, w.Close(false))
	require.False(t, cp.Sandboxes()[0].Running, "nothing of the sandbox outlives the attempt")
	require.Equal(t, pb.GenericResult_GENERIC_STATUS_TERMINATED, cp.Sandboxes()[0].Result)
	require.Eventually(t, func() bool { _, err := os.Stat(dir); return os.IsNotExist(err) }, 5*time.Second, 10*time.Millisecond)
	u := p.Usage()
	require.Equal(t, 1, u.Sandboxes)
	require.Greater(t, u.CPUSeconds, 0.0)
	require.InDelta(t, u.Seconds, u.GiBSeconds, 1e-9, "1 GiB")
}

func TestSandboxFaultsAreInfrastructureErrors(t *testing.T) {
	simple := `id: t
prompt: p
checks: [{file_exists: a}]
reference: [{answer: done}]
`
	t.Run("creation refused", func(t *testing.T) {
		_, p := fake(t, fakemodal.SandboxOptions{Refuse: "image not allowed"})
		_, err := p.Workspace(attemptCtx("r", "m", "t", 0), task(t, simple))
		var ae *runner.AttemptError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, results.StatusError, ae.Status)
		require.Equal(t, ClassRefused, ae.Class)
		require.Contains(t, ae.Reason, "image not allowed")
	})
	t.Run("quota exceeded", func(t *testing.T) {
		_, p := fake(t, fakemodal.SandboxOptions{Quota: 1})
		first, err := p.Workspace(attemptCtx("r", "m", "t", 0), task(t, simple))
		require.NoError(t, err)
		_, err = p.Workspace(attemptCtx("r", "m", "t", 1), task(t, simple))
		var ae *runner.AttemptError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, ClassQuota, ae.Class)
		require.NoError(t, first.Close(false))
		again, err := p.Workspace(attemptCtx("r", "m", "t", 1), task(t, simple))
		require.NoError(t, err, "a closed sandbox frees its place")
		require.NoError(t, again.Close(false))
	})
	t.Run("dies mid-attempt", func(t *testing.T) {
		_, p := fake(t, fakemodal.SandboxOptions{DieAfter: 2, DieTags: map[string]string{TagTask: "t"}})
		ws, err := p.Workspace(attemptCtx("r", "m", "t", 0), task(t, simple))
		require.NoError(t, err)
		w := ws.(*Workspace)
		res, err := w.Run(context.Background(), "echo one", time.Minute)
		require.NoError(t, err)
		require.Equal(t, "one\n", res.Output)
		_, err = w.Run(context.Background(), "echo two", time.Minute)
		var ae *runner.AttemptError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, ClassLost, ae.Class)
		require.Equal(t, ae, w.Lost())
		require.False(t, w.Exists("anything"))
		require.NoError(t, w.Close(false), "terminating a dead sandbox is not an error")
	})
}

func TestSweepTerminatesAKilledRunsSandboxes(t *testing.T) {
	cp, p := fake(t, fakemodal.SandboxOptions{})
	simple := task(t, "id: t\nprompt: p\nchecks: [{file_exists: a}]\nreference: [{answer: done}]\n")
	// More than one page of SandboxList (100), so that the SDK's paging by
	// created_at is exercised.
	const killed = 105
	for i := range killed {
		_, err := p.Workspace(attemptCtx("killed-run", "m", "t", i), simple)
		require.NoError(t, err)
	}
	other, err := p.Workspace(attemptCtx("other-run", "m", "t", 0), simple)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := p.Sweep(ctx, "killed-run")
	require.NoError(t, err)
	require.Equal(t, killed, n)
	running := 0
	for _, v := range cp.Sandboxes() {
		if v.Running {
			running++
			require.Equal(t, "other-run", v.Tags[TagRun])
		}
	}
	require.Equal(t, 1, running)
	n, err = p.Sweep(ctx, "killed-run")
	require.NoError(t, err)
	require.Zero(t, n, "nothing left")
	require.NoError(t, other.Close(false))
}

func TestBothSandboxBackends(t *testing.T) {
	// The SDK v0.11.1 uses the V2 backend unless MODAL_SANDBOX_V2=false
	// (config.go); both go through the same command router, whose https URL
	// it dials without TLS only because the server URL is on localhost
	// (task_command_router_client.go).
	for _, tc := range []struct {
		v2           string
		create, once []string // the create RPC, and what the SDK asks once per sandbox
	}{
		{"true", []string{"SandboxCreateV2", "SandboxTerminateV2"}, nil},
		{"false", []string{"SandboxCreate", "SandboxTerminate"}, []string{"SandboxGetTaskId", "TaskGetCommandRouterAccess"}},
	} {
		t.Run("MODAL_SANDBOX_V2="+tc.v2, func(t *testing.T) {
			t.Setenv("MODAL_SANDBOX_V2", tc.v2)
			cp, p := fake(t, fakemodal.SandboxOptions{})
			ws, err := p.Workspace(attemptCtx("r", "m", "t", 0), task(t, "id: t\nprompt: p\nsetup: [{path: a, content: x}]\nchecks: [{file_exists: a}]\nreference: [{answer: done}]\n"))
			require.NoError(t, err)
			require.True(t, ws.Exists("a"))
			require.NoError(t, ws.Close(false))
			for _, m := range append(tc.create, tc.once...) {
				require.Equal(t, 1, cp.Requests(m), m)
			}
			require.Equal(t, 2, cp.Requests("TaskExecStart"), "setup, then Exists")
			// App, environment and two image layers are once per run; then
			// create, setup (start, output, wait), Exists (start, wait), terminate.
			require.Equal(t, 4+7+len(tc.once), cp.SandboxRPCs())
			require.True(t, strings.HasPrefix(cp.RouterURL(), "https://127.0.0.1:"))
			require.False(t, cp.Sandboxes()[0].Running)
		})
	}
}

func TestATaskChoosesItsSandbox(t *testing.T) {
	cp, p := fake(t, fakemodal.SandboxOptions{})
	big := task(t, "id: big\nprompt: p\nsandbox: {image: node:22-slim, cpu: 2, memory_mib: 4096, network: true}\nchecks: [{file_exists: a}]\nreference: [{answer: done}]\n")
	small := task(t, "id: small\nprompt: p\nchecks: [{file_exists: a}]\nreference: [{answer: done}]\n")
	for _, tk := range []tasks.Task{big, small, big} {
		ws, err := p.Workspace(attemptCtx("r", "m", tk.ID, 0), tk)
		require.NoError(t, err)
		require.NoError(t, ws.Close(false))
	}
	sbs := cp.Sandboxes()
	require.Len(t, sbs, 3)
	require.Equal(t, []string{"FROM node:22-slim", "FROM base", "WORKDIR /work"}, sbs[0].Image)
	require.EqualValues(t, 2000, sbs[0].MilliCPU)
	require.EqualValues(t, 4096, sbs[0].MemoryMB)
	require.Equal(t, pb.NetworkAccess_OPEN, sbs[0].Network, "the task asked for network")
	require.Equal(t, []string{"FROM python:3.12-slim", "FROM base", "WORKDIR /work"}, sbs[1].Image)
	require.EqualValues(t, 1000, sbs[1].MilliCPU)
	require.Equal(t, pb.NetworkAccess_BLOCKED, sbs[1].Network)
	require.Equal(t, sbs[0].ImageID, sbs[2].ImageID)
	require.Equal(t, 4, cp.Requests("ImageGetOrCreate"), "two layers per image, each image built once")
	u := p.SandboxUsage("m")
	require.Equal(t, 3, u.Sandboxes)
	require.Greater(t, u.GiBSeconds, u.CPUSeconds, "the big sandboxes count at 4 GiB and 2 cores")
}
