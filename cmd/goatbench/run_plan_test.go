package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/engine"
)

// parseRun parses `goatbench run` flags into options without running them.
func parseRun(t *testing.T, args ...string) *runOptions {
	t.Helper()
	var got *runOptions
	var out, errOut bytes.Buffer
	cmd := newRunCmd(streams{Out: &out, Err: &errOut}, func(o *runOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	require.NoError(t, cmd.Execute())
	require.NotNil(t, got)
	return got
}

func TestFlagsBecomeThePlan(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-env")
	t.Setenv("OPENAI_BASE_URL", "")
	o := parseRun(t, "--models", "reference", "--suite", "smoke", "--repeat", "3", "--parallel", "2",
		"--deadline", "2h", "--max-retries", "1", "--request-timeout", "30s", "--no-stream", "--keep-workspaces",
		"--stop-after", "--direct", "--out", "/tmp/somewhere", "--temperature", "0.5")
	p, err := o.plan(nil)
	require.NoError(t, err)
	require.Equal(t, "smoke", p.Suite.Name)
	require.Equal(t, 3, p.Repeat)
	require.Equal(t, 2, p.Parallel)
	require.Equal(t, 2*time.Hour, p.Deadline)
	require.Equal(t, 1, p.Retry.Max)
	require.NotZero(t, p.Retry.Base, "the default backoff, with --max-retries")
	require.Equal(t, 30*time.Second, p.RequestTimeout)
	require.True(t, p.NoStream && p.KeepWorkspaces && p.StopAfter && p.Direct)
	require.Equal(t, "/tmp/somewhere", p.Out)
	require.Equal(t, "sk-env", p.APIKey, "the key comes from $OPENAI_API_KEY without --api-key")
	require.Equal(t, version, p.Version)
	require.Contains(t, p.Args, "--repeat=3")
	require.Len(t, p.Targets, 1)
	require.Equal(t, float32(0.5), *p.Targets[0].Temperature)
	require.Nil(t, p.Resume)
	require.Nil(t, p.Sandbox, "opened by runRun, after the plan")

	o = parseRun(t, "--models", "reference", "--api-key", "sk-flag")
	p, err = o.plan(nil)
	require.NoError(t, err)
	require.Equal(t, "sk-flag", p.APIKey)
	require.Equal(t, float32(0.3), *p.Targets[0].Temperature, "no --temperature: the model's own")
	require.Contains(t, p.Args, "--api-key=***", "run.json never holds the key")
}

func TestModalTargetsGetWhatTheDeployerNeeds(t *testing.T) {
	t.Setenv("MODAL_WORKSPACE", "")
	o := parseRun(t, "--models", "qwen3-4b,gpt-5-nano", "--base-url", "http://proxy.invalid/v1", "--modal-workspace", "acme")
	p, err := o.plan(nil)
	require.NoError(t, err)
	require.True(t, onModal(p))
	require.Equal(t, "goat-vllm-qwen3-4b", p.Targets[0].Deploy.AppName)
	require.Equal(t, "modal/vllm.py", p.Targets[0].Deploy.Script)
	require.NotEmpty(t, p.Targets[0].Deploy.SpecJSON)
	require.Contains(t, p.Targets[0].Deploy.FallbackURL, "acme")
	require.Nil(t, p.Targets[1].Modal, "an API model is not deployed")
}

func TestEngineErrorsMapToExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"a plan that cannot run", &engine.ConfigError{Err: errors.New("cannot reach x")}, exitUsage},
		{"interrupted before anything was written", errInterrupted, exitCancel},
		{"the deadline before anything was written", context.DeadlineExceeded, exitInfra},
		{"anything else", errors.New("write run.json: disk full"), exitInfra},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ee *exitError
			require.ErrorAs(t, exitFor(tc.err), &ee)
			require.Equal(t, tc.code, ee.code)
			require.Equal(t, tc.err.Error(), ee.Error())
		})
	}
}
