package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// run executes goatbench in a fresh working directory and returns the exit
// code, stdout and stderr.
func run(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := execute(args, streams{Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestModelsTable(t *testing.T) {
	code, out, errOut := run(t, "", "models")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 11, "header and ten models")
	require.Equal(t, []string{"KEY", "KIND", "HF", "ID", "GPU", "EST.", "MEMORY", "FITS?", "$/H", "ROUTE"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"llama-3.1-8b", "vllm", "meta-llama/Llama-3.1-8B-Instruct", "1×", "A10G",
		"19.0", "/", "20.2", "GiB", "yes", "(94%)", "1.10", "llama-3.1-8b-local"}, strings.Fields(lines[1]))
	require.Equal(t, []string{"qwen3-235b", "vllm", "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", "4×", "H100!",
		"226.0", "/", "286.7", "GiB", "yes", "(79%)", "18.00", "qwen3-235b-local"}, strings.Fields(lines[4]))
	require.Equal(t, []string{"gpt-5-nano", "api", "-", "-", "-", "-", "-", "gpt-5-nano"}, strings.Fields(lines[7]))
	for _, l := range lines {
		require.Equal(t, strings.TrimRight(l, " "), l, "no trailing blanks")
	}
}

func TestModelsByName(t *testing.T) {
	code, out, errOut := run(t, "", "models", "gpt-oss-20b-local", "qwen3-4b")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 3)
	require.True(t, strings.HasPrefix(lines[1], "gpt-oss-20b "), "in the order asked: %q", lines[1])
	require.True(t, strings.HasPrefix(lines[2], "qwen3-4b "))
}

func TestModelsJSON(t *testing.T) {
	code, out, errOut := run(t, "", "models", "--json")
	require.Equal(t, exitOK, code, errOut)
	var got []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got, 10)
	require.Equal(t, "qwen3-235b", got[3]["key"])
	require.Equal(t, 18.0, got[3]["price_per_hour"])
	est := got[3]["estimate"].(map[string]any)
	require.Equal(t, 226.02, est["total_gib"])
	require.Equal(t, true, est["fits"])
	require.Nil(t, got[6]["estimate"], "API models have no estimate")
	// The contract fields come first, in the contract's order.
	require.True(t, strings.HasPrefix(strings.TrimSpace(out), "[\n  {\n    \"key\": \"llama-3.1-8b\",\n    \"kind\": \"vllm\","))
}

func TestModelsRegistryOverride(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "goatbench.yaml"),
		[]byte("models:\n  - key: qwen3-4b\n    gpu: {count: 2}\n"), 0o644))
	extra := filepath.Join(t.TempDir(), "extra.yaml")
	require.NoError(t, os.WriteFile(extra, []byte("models:\n  - key: my-api\n    kind: api\n"), 0o644))

	code, out, errOut := run(t, dir, "models", "--registry", extra)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "2× A10G")
	require.True(t, strings.HasPrefix(strings.Split(strings.TrimRight(out, "\n"), "\n")[11], "my-api "))
}

func TestModelsBadRegistry(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("models:\n  - key: qwen3-30b-a3b\n    gpu: {type: A10G}\n"), 0o644))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"model does not fit", []string{"models", "--registry", bad},
			`bad.yaml:2: model "qwen3-30b-a3b": gpu: does not fit: needs an estimated 59.9 GiB`},
		{"missing file", []string{"models", "--registry", filepath.Join(t.TempDir(), "nope.yaml")}, "read registry"},
		{"unknown model suggests the closest keys", []string{"models", "qwen3-4"},
			`unknown model "qwen3-4" (did you mean qwen3-4b`},
		{"unknown route", []string{"models", "llama-3.1-8b-locl"}, "did you mean llama-3.1-8b"},
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
}
