package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
	"github.com/goatbench/goatbench/internal/modalsandbox"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/sandbox"
)

func TestRunInModalSandboxes(t *testing.T) {
	cp, err := fakemodal.Start(t.TempDir(), "ak-test", "as-test")
	require.NoError(t, err)
	t.Cleanup(cp.Close)
	cp.ConfigureSandboxes(fakemodal.SandboxOptions{Run: sandbox.Plain{}})
	for k, v := range map[string]string{"HOME": t.TempDir(), "MODAL_CONFIG_PATH": "", "MODAL_PROFILE": "", "MODAL_ENVIRONMENT": "",
		"MODAL_SERVER_URL": cp.URL, "MODAL_TOKEN_ID": "ak-test", "MODAL_TOKEN_SECRET": "as-test"} {
		t.Setenv(k, v)
	}
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--sandbox", "modal", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "reference 5/5")
	require.Contains(t, stderr, "sandbox modal")
	dir := onlyRunDir(t, out)
	man, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, "modal", man.Sandbox)
	require.Len(t, cp.Sandboxes(), 5)

	// A killed run leaves sandboxes running; --resume terminates them.
	client, err := modalsandbox.NewClient()
	require.NoError(t, err)
	defer client.Close()
	p, err := modalsandbox.Open(context.Background(), client, modalsandbox.Config{})
	require.NoError(t, err)
	task := tasks.Task{ID: "bash-command"}
	for i := range 2 {
		_, err := p.Workspace(runner.WithAttempt(context.Background(), runner.AttemptID{RunID: man.RunID, Model: "reference", Task: task.ID, Repeat: i}), task)
		require.NoError(t, err)
	}
	code, _, stderr = goatbench(t, "run", "--resume", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "terminated 2 Modal sandboxes that run "+man.RunID+" left running")
	for _, v := range cp.Sandboxes() {
		require.False(t, v.Running, "%s", strings.Join([]string{v.ID, v.Tags[modalsandbox.TagTask]}, " "))
	}
}

// An agent command runs on this machine; in Modal it would find no workspace.
// It is refused before anything runs, not failed attempt by attempt.
func TestExternalAgentInModalIsRefused(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--sandbox", "modal",
		"--agent", "goatbench agent", "--out", out)
	require.Equal(t, exitUsage, code, stderr)
	require.Empty(t, stdout)
	require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	require.Contains(t, stderr, "cannot run with --sandbox modal")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written")
}

// Without Modal credentials --sandbox modal says, in one line and before any
// run folder exists, what to set: not the SDK's advice to its programmers.
func TestModalSandboxWithoutCredentials(t *testing.T) {
	for k, v := range map[string]string{"HOME": t.TempDir(), "MODAL_CONFIG_PATH": "", "MODAL_PROFILE": "",
		"MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": "", "MODAL_OAUTH_REFRESH_TOKEN": "", "MODAL_OAUTH_CLIENT_ID": ""} {
		t.Setenv(k, v)
	}
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--sandbox", "modal", "--out", out)
	require.Equal(t, exitUsage, code, stderr)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, stderr)
	require.Contains(t, stderr, "no Modal credentials: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, or run `modal token new`")
	require.NotContains(t, stderr, "NewClientWithOptions")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries, "no run folder")
}
