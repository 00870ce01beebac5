package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
)

// noModal makes sure the command finds no Modal credentials and derives
// every URL.
func noModal(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, k := range []string{"MODAL_CONFIG_PATH", "MODAL_PROFILE", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_ENVIRONMENT",
		"MODAL_WORKSPACE", "MODAL_OAUTH_REFRESH_TOKEN", "MODAL_OAUTH_CLIENT_ID"} {
		t.Setenv(k, "")
	}
}

func TestLitellmConfigPrint(t *testing.T) {
	noModal(t)
	t.Setenv("MODAL_PROXY_TOKEN_SECRET", "ws-must-not-appear")
	golden, err := os.ReadFile(filepath.Join("testdata", "litellm-config.golden"))
	require.NoError(t, err)
	code, out, errOut := run(t, "", "litellm-config", "--workspace", "W", "--env-suffix", "goat")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, string(golden), out)
	require.NotContains(t, out, "ws-must-not-appear")
}

// TestLitellmConfigURLs: the source part of the URL is <workspace>-<web
// suffix>, the suffix defaulting to the environment's name, and none for an
// explicit ""; Modal lowercases it (modal.com/docs/guide/webhook-urls).
func TestLitellmConfigURLs(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"the done-when example", "", []string{"--workspace", "W", "--env-suffix", "goat"}, "https://w-goat--goat-vllm-llama-3-1-8b-serve.modal.run/v1"},
		{"suffix defaults to the environment", "", []string{"--workspace", "ws"}, "https://ws-goat--goat-vllm-llama-3-1-8b-serve.modal.run/v1"},
		{"another environment", "dev", []string{"--workspace", "ws"}, "https://ws-dev--goat-vllm-llama-3-1-8b-serve.modal.run/v1"},
		{"--modal-env", "", []string{"--workspace", "ws", "--modal-env", "prod"}, "https://ws-prod--goat-vllm-llama-3-1-8b-serve.modal.run/v1"},
		{"environment without a suffix", "", []string{"--workspace", "ws", "--env-suffix", ""}, "https://ws--goat-vllm-llama-3-1-8b-serve.modal.run/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noModal(t)
			t.Setenv("MODAL_ENVIRONMENT", tt.env)
			code, out, errOut := run(t, "", append([]string{"litellm-config"}, tt.args...)...)
			require.Equal(t, exitOK, code, errOut)
			require.Equal(t, tt.want, firstAPIBase(t, out))
		})
	}
	t.Run("workspace from MODAL_WORKSPACE", func(t *testing.T) {
		noModal(t)
		t.Setenv("MODAL_WORKSPACE", "acme")
		code, out, errOut := run(t, "", "litellm-config")
		require.Equal(t, exitOK, code, errOut)
		require.Equal(t, "https://acme-goat--goat-vllm-llama-3-1-8b-serve.modal.run/v1", firstAPIBase(t, out))
	})
}

// TestLitellmConfigFromSDK: with credentials, a deployed app's URL is the
// one the SDK reports (Function.GetWebURL), whatever the flags would build.
func TestLitellmConfigFromSDK(t *testing.T) {
	noModal(t)
	cp, err := fakemodal.Start(t.TempDir(), "ak-1", "as-1")
	require.NoError(t, err)
	t.Cleanup(cp.Close)
	require.NoError(t, cp.Publish("goat", "goat-vllm-llama-3.1-8b", "https://acme-custom--goat-vllm-llama-3-1-8b-serve.modal.run"))
	t.Setenv("MODAL_SERVER_URL", cp.URL)
	t.Setenv("MODAL_TOKEN_ID", "ak-1")
	t.Setenv("MODAL_TOKEN_SECRET", "as-1")
	code, out, errOut := run(t, "", "litellm-config", "--workspace", "acme")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "https://acme-custom--goat-vllm-llama-3-1-8b-serve.modal.run/v1", firstAPIBase(t, out))
	require.Contains(t, out, "https://acme-goat--goat-vllm-qwen3-4b-serve.modal.run/v1", "an app not deployed gets the derived URL")
}

func firstAPIBase(t *testing.T, out string) string {
	t.Helper()
	var f struct {
		ModelList []struct {
			LiteLLMParams map[string]any `yaml:"litellm_params"`
		} `yaml:"model_list"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &f))
	require.NotEmpty(t, f.ModelList)
	return f.ModelList[0].LiteLLMParams["api_base"].(string)
}

func TestLitellmConfigPrintParses(t *testing.T) {
	noModal(t)
	code, out, errOut := run(t, "", "litellm-config", "--workspace", "ws")
	require.Equal(t, exitOK, code, errOut)
	var f struct {
		ModelList []struct {
			ModelName     string         `yaml:"model_name"`
			LiteLLMParams map[string]any `yaml:"litellm_params"`
		} `yaml:"model_list"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &f))
	require.Len(t, f.ModelList, 6)
	require.Equal(t, "llama-3.1-8b-local", f.ModelList[0].ModelName)
	require.Equal(t, map[string]any{
		"model":    "openai/meta-llama/Llama-3.1-8B-Instruct",
		"api_base": "https://ws-goat--goat-vllm-llama-3-1-8b-serve.modal.run/v1",
		"api_key":  "not-needed",
		// Modal proxy auth (modal.com/docs/guide/webhook-proxy-auth), values
		// read by LiteLLM from the environment.
		"extra_headers": map[string]any{"Modal-Key": "os.environ/MODAL_PROXY_TOKEN_ID", "Modal-Secret": "os.environ/MODAL_PROXY_TOKEN_SECRET"},
	}, f.ModelList[0].LiteLLMParams)
}

func TestLitellmConfigMerge(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "internal", "models", "testdata", "litellm-config-modal.yaml"))
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "litellm-config-modal.merged.golden"))
	require.NoError(t, err)
	noModal(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "litellm-config-modal.yaml")
	require.NoError(t, os.WriteFile(cfg, src, 0o640))

	code, out, errOut := run(t, dir, "litellm-config", "--workspace", "phare", "--merge", cfg)
	require.Equal(t, exitOK, code, errOut)
	require.Empty(t, out)
	require.Equal(t, cfg+": 4 added, 2 updated, 0 unchanged; litellm_settings.include_cost_in_streaming_usage set to true\n", errOut)
	got, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	info, err := os.Stat(cfg)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), info.Mode().Perm(), "permissions kept")

	code, _, errOut = run(t, dir, "litellm-config", "--workspace", "phare", "--merge", cfg)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, cfg+": 0 added, 0 updated, 6 unchanged\n", errOut)
	again, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.Equal(t, string(got), string(again), "a second merge changes nothing")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")
}

func TestLitellmConfigErrors(t *testing.T) {
	noModal(t)
	notYAML := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(notYAML, []byte("model_list: [\n"), 0o644))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no workspace", []string{"litellm-config"}, "--workspace is required"},
		{"bad workspace", []string{"litellm-config", "--workspace", "Phare_Goat"}, "--workspace: workspace \"Phare_Goat\""},
		{"merge target missing", []string{"litellm-config", "--workspace", "ws", "--merge", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml: no such file or directory"},
		{"merge target a device", []string{"litellm-config", "--workspace", "ws", "--merge", "/dev/zero"}, "--merge /dev/zero: not a regular file (a device)"},
		{"merge target not YAML", []string{"litellm-config", "--workspace", "ws", "--merge", notYAML}, "not valid YAML"},
		{"unknown flag", []string{"litellm-config", "--workspaces", "ws"}, "unknown flag: --workspaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", tt.args...)
			require.Equal(t, exitUsage, code)
			require.Empty(t, out)
			require.Contains(t, errOut, tt.want)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
		})
	}
	before, err := os.ReadFile(notYAML)
	require.NoError(t, err)
	require.Equal(t, "model_list: [\n", string(before), "a failed merge leaves the file alone")
}
