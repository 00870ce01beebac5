package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestLitellmConfigPrint(t *testing.T) {
	// Read before run changes directory.
	golden, err := os.ReadFile(filepath.Join("..", "..", "internal", "models", "testdata", "litellm-config.golden"))
	require.NoError(t, err)
	code, out, errOut := run(t, "", "litellm-config", "--workspace", "phare-goat")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, string(golden), out)
}

func TestLitellmConfigPrintParses(t *testing.T) {
	code, out, errOut := run(t, "", "litellm-config", "--workspace", "ws")
	require.Equal(t, exitOK, code, errOut)
	var f struct {
		ModelList []struct {
			ModelName     string            `yaml:"model_name"`
			LiteLLMParams map[string]string `yaml:"litellm_params"`
		} `yaml:"model_list"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &f))
	require.Len(t, f.ModelList, 6)
	require.Equal(t, "llama-3.1-8b-local", f.ModelList[0].ModelName)
	require.Equal(t, map[string]string{
		"model":    "openai/meta-llama/Llama-3.1-8B-Instruct",
		"api_base": "https://ws--goat-vllm-llama-3-1-8b-serve.modal.run/v1",
		"api_key":  "not-needed",
	}, f.ModelList[0].LiteLLMParams)
}

func TestLitellmConfigMerge(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "internal", "models", "testdata", "litellm-config-modal.yaml"))
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("..", "..", "internal", "models", "testdata", "litellm-config-modal.merged.golden"))
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "litellm-config-modal.yaml")
	require.NoError(t, os.WriteFile(cfg, src, 0o640))

	code, out, errOut := run(t, dir, "litellm-config", "--workspace", "phare-goat", "--merge", cfg)
	require.Equal(t, exitOK, code, errOut)
	require.Empty(t, out)
	require.Equal(t, cfg+": 4 added, 1 updated, 1 unchanged\n", errOut)
	got, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	info, err := os.Stat(cfg)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), info.Mode().Perm(), "permissions kept")

	code, _, errOut = run(t, dir, "litellm-config", "--workspace", "phare-goat", "--merge", cfg)
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
	notYAML := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(notYAML, []byte("model_list: [\n"), 0o644))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no workspace", []string{"litellm-config"}, "--workspace is required"},
		{"bad workspace", []string{"litellm-config", "--workspace", "Phare_Goat"}, "--workspace: workspace \"Phare_Goat\""},
		{"merge target missing", []string{"litellm-config", "--workspace", "ws", "--merge", filepath.Join(t.TempDir(), "none.yaml")}, "--merge: open"},
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
