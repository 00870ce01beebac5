package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// testdata is absolute because the tests change directory.
var testdata = mustAbs("testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "run: go test ./internal/models -update, and review the diff")
}

// litellmFile is the part of a LiteLLM config the tests read back.
type litellmFile struct {
	ModelList []struct {
		ModelName     string         `yaml:"model_name"`
		LiteLLMParams map[string]any `yaml:"litellm_params"`
		ModelInfo     map[string]any `yaml:"model_info"`
	} `yaml:"model_list"`
	LiteLLMSettings map[string]any `yaml:"litellm_settings"`
	GeneralSettings map[string]any `yaml:"general_settings"`
}

func TestRenderLiteLLMGolden(t *testing.T) {
	r := loadBuiltIn(t)
	entries := r.LiteLLMEntries(LiteLLMTarget{Workspace: "phare-goat"})
	out := RenderLiteLLM(entries)
	golden(t, "litellm-config.golden", out)

	var f litellmFile
	require.NoError(t, yaml.Unmarshal(out, &f))
	require.Len(t, f.ModelList, 6)
	for i, s := range r.Local() {
		got := f.ModelList[i]
		require.Equal(t, s.Key+"-local", got.ModelName)
		require.Equal(t, map[string]any{
			"model":    "openai/" + s.HFID,
			"api_base": "https://phare-goat--goat-vllm-" + strings.ReplaceAll(s.Key, ".", "-") + "-serve.modal.run/v1",
			"api_key":  "not-needed",
		}, got.LiteLLMParams)
	}
}

func TestScalarQuoting(t *testing.T) {
	for _, s := range []string{
		"openai/meta-llama/Llama-3.1-8B-Instruct",
		"https://ws--goat-vllm-a-serve.modal.run/v1",
		"not-needed", "true", "null", "1.5", "a: b", "#x", "x #y", "", "it's", `q"uote`, "tab\there", "-dash", "~",
	} {
		text := scalar(s)
		var back map[string]any
		require.NoError(t, yaml.Unmarshal([]byte("v: "+text), &back), text)
		require.Equal(t, s, back["v"], "%q renders as %s", s, text)
	}
	require.Equal(t, "openai/Qwen/Qwen3-4B-Instruct-2507", scalar("openai/Qwen/Qwen3-4B-Instruct-2507"), "plain when safe")
}

// lcsKept marks which lines of a survive, in order, into b (longest common
// subsequence), so a test can tell edited lines from untouched ones.
func lcsKept(a, b []string) (keptA, keptB []bool) {
	n, m := len(a), len(b)
	dp := make([][]int, n+1)
	for i := range dp {
		dp[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	keptA, keptB = make([]bool, n), make([]bool, m)
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case a[i] == b[j]:
			keptA[i], keptB[j] = true, true
			i++
			j++
		case dp[i+1][j] >= dp[i][j+1]:
			i++
		default:
			j++
		}
	}
	return keptA, keptB
}

func TestMergeLiteLLMRealShapedConfig(t *testing.T) {
	r := loadBuiltIn(t)
	entries := r.LiteLLMEntries(LiteLLMTarget{Workspace: "phare-goat"})
	src, err := os.ReadFile(filepath.Join(testdata, "litellm-config-modal.yaml"))
	require.NoError(t, err)

	out, rep, err := MergeLiteLLM(src, entries)
	require.NoError(t, err)
	// llama-3.1-8b-local had the old single-app URL, qwen3-4b-local was right
	// (api_key unquoted, which reads the same), the other four were missing.
	require.Equal(t, MergeReport{Added: 4, Updated: 1, Unchanged: 1}, rep)
	golden(t, "litellm-config-modal.merged.golden", out)

	// Running it again changes nothing.
	again, rep2, err := MergeLiteLLM(out, entries)
	require.NoError(t, err)
	require.Equal(t, string(out), string(again))
	require.Equal(t, MergeReport{Unchanged: 6}, rep2)

	// Byte for byte, the only lines that differ are the stale api_base and
	// the added entries (with the blank lines that separate entries here).
	in, got := strings.SplitAfter(string(src), "\n"), strings.SplitAfter(string(out), "\n")
	keptIn, keptOut := lcsKept(in, got)
	var dropped, added []string
	for i, ok := range keptIn {
		if !ok {
			dropped = append(dropped, in[i])
		}
	}
	for i, ok := range keptOut {
		if !ok {
			added = append(added, got[i])
		}
	}
	require.Equal(t, []string{
		"      api_base: https://phare-goat--goat-vllm-serve.modal.run/v1   # single-app URL, before per-model apps\n",
	}, dropped)
	require.Equal(t,
		"      api_base: https://phare-goat--goat-vllm-llama-3-1-8b-serve.modal.run/v1   # single-app URL, before per-model apps\n",
		added[0], "the value changes, its comment stays")
	managed := strings.Join(added[1:], "")
	for _, e := range entries[2:] {
		require.Contains(t, managed, "  - model_name: "+e.ModelName+"\n")
	}
	for _, l := range added[1:] {
		require.True(t, strings.TrimSpace(l) == "" || strings.HasPrefix(l, "  - model_name: ") || strings.HasPrefix(l, "    "),
			"added line is part of a new entry: %q", l)
	}

	// Read back: every other entry and setting is as it was.
	var before, after litellmFile
	require.NoError(t, yaml.Unmarshal(src, &before))
	require.NoError(t, yaml.Unmarshal(out, &after))
	require.Equal(t, before.LiteLLMSettings, after.LiteLLMSettings)
	require.Equal(t, before.GeneralSettings, after.GeneralSettings)
	require.Equal(t, before.ModelList[:5], after.ModelList[:5], "cloud entries")
	require.Len(t, after.ModelList, 11)
	byName := map[string]int{}
	for i, m := range after.ModelList {
		byName[m.ModelName] = i
	}
	for _, e := range entries {
		m := after.ModelList[byName[e.ModelName]]
		require.Equal(t, e.Model, m.LiteLLMParams["model"])
		require.Equal(t, e.APIBase, m.LiteLLMParams["api_base"])
		require.Equal(t, "not-needed", m.LiteLLMParams["api_key"])
	}
	llama := after.ModelList[byName["llama-3.1-8b-local"]]
	require.Equal(t, 600, llama.LiteLLMParams["timeout"], "keys goatbench does not manage stay")
	require.Equal(t, map[string]any{"mode": "chat"}, llama.ModelInfo)
	// New entries go right after the last entry goatbench manages, before the
	// commented-out one and the settings.
	require.Less(t, strings.Index(string(out), "gpt-oss-120b-local"), strings.Index(string(out), "# - model_name: qwen3-30b-a3b-local"))
}

func TestMergeLiteLLMLayouts(t *testing.T) {
	one := []LiteLLMEntry{{ModelName: "m-local", Model: "openai/org/M", APIBase: "https://ws--goat-vllm-m-serve.modal.run/v1", APIKey: "not-needed"}}
	const entry = "  - model_name: m-local\n    litellm_params:\n      model: openai/org/M\n" +
		"      api_base: https://ws--goat-vllm-m-serve.modal.run/v1\n      api_key: \"not-needed\"\n"
	tests := []struct {
		name string
		in   string
		want string
		rep  MergeReport
	}{
		{"empty file", "", "model_list:\n" + entry, MergeReport{Added: 1}},
		{"no model_list", "litellm_settings:\n  drop_params: true", "litellm_settings:\n  drop_params: true\nmodel_list:\n" + entry, MergeReport{Added: 1}},
		{"empty model_list", "model_list:\n\nrouter_settings: {}\n", "model_list:\n" + entry + "\nrouter_settings: {}\n", MergeReport{Added: 1}},
		{"model_list: []", "model_list: []  # none yet\nx: 1\n", "model_list:  # none yet\n" + entry + "x: 1\n", MergeReport{Added: 1}},
		{"appended after the last entry, keeping its indentation",
			"model_list:\n    - model_name: other\n      litellm_params: {model: x}\n# end\n",
			"model_list:\n    - model_name: other\n      litellm_params: {model: x}\n" +
				"    - model_name: m-local\n      litellm_params:\n        model: openai/org/M\n" +
				"        api_base: https://ws--goat-vllm-m-serve.modal.run/v1\n        api_key: \"not-needed\"\n# end\n",
			MergeReport{Added: 1}},
		{"missing keys are added inside the entry",
			"model_list:\n  - model_name: m-local\n    litellm_params:\n      model: openai/org/M\n      timeout: 5\n",
			"model_list:\n  - model_name: m-local\n    litellm_params:\n      model: openai/org/M\n      timeout: 5\n" +
				"      api_base: https://ws--goat-vllm-m-serve.modal.run/v1\n      api_key: \"not-needed\"\n",
			MergeReport{Updated: 1}},
		{"entry without litellm_params",
			"model_list:\n  - model_name: m-local\n    model_info: {mode: chat}\n",
			"model_list:\n  - model_name: m-local\n    model_info: {mode: chat}\n    litellm_params:\n      model: openai/org/M\n" +
				"      api_base: https://ws--goat-vllm-m-serve.modal.run/v1\n      api_key: \"not-needed\"\n",
			MergeReport{Updated: 1}},
		{"flow mapping values are replaced in place",
			"model_list:\n  - model_name: m-local\n    litellm_params: {model: old, api_base: 'x', api_key: \"k\"}  # note\n",
			"model_list:\n  - model_name: m-local\n    litellm_params: {model: openai/org/M, api_base: https://ws--goat-vllm-m-serve.modal.run/v1, api_key: \"not-needed\"}  # note\n",
			MergeReport{Updated: 1}},
		{"quoted values with comments",
			"model_list:\n  - model_name: \"m-local\"\n    litellm_params:\n      model: \"openai/old\" # was\n      api_base: 'https://old/v1'\n      api_key: not-needed\n",
			"model_list:\n  - model_name: \"m-local\"\n    litellm_params:\n      model: openai/org/M # was\n      api_base: https://ws--goat-vllm-m-serve.modal.run/v1\n      api_key: not-needed\n",
			MergeReport{Updated: 1}},
		{"CRLF line endings are kept",
			"# c\r\nmodel_list:\r\n  - model_name: other\r\n    litellm_params:\r\n      model: x\r\n",
			"# c\r\nmodel_list:\r\n  - model_name: other\r\n    litellm_params:\r\n      model: x\r\n" + strings.ReplaceAll(entry, "\n", "\r\n"),
			MergeReport{Added: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep, err := MergeLiteLLM([]byte(tt.in), one)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(out))
			require.Equal(t, tt.rep, rep)
			again, rep, err := MergeLiteLLM(out, one)
			require.NoError(t, err)
			require.Equal(t, string(out), string(again), "idempotent")
			require.Equal(t, MergeReport{Unchanged: 1}, rep)
		})
	}
}

func TestMergeLiteLLMRejects(t *testing.T) {
	one := []LiteLLMEntry{{ModelName: "m-local", Model: "openai/org/M", APIBase: "https://x/v1", APIKey: "not-needed"}}
	tests := []struct{ name, in, want string }{
		{"not YAML", "model_list: [\n", "not valid YAML"},
		{"top level is a list", "- a\n", "want a mapping at the top"},
		{"flow model_list", "model_list: [{model_name: a}]\n", "must be a block list"},
		{"multi-line value", "model_list:\n  - model_name: m-local\n    litellm_params:\n      model: |\n        old\n", "not a one-line value"},
		{"flow mapping missing a key", "model_list:\n  - model_name: m-local\n    litellm_params: {model: x}\n", "flow mapping without api_base"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := MergeLiteLLM([]byte(tt.in), one)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestCheckWorkspace(t *testing.T) {
	require.NoError(t, CheckWorkspace("phare-goat"))
	require.NoError(t, CheckWorkspace("ECorp"), "Modal lowercases it in URLs")
	for _, bad := range []string{"", "a.b", "a_b", "-a", "a/b"} {
		require.Error(t, CheckWorkspace(bad), bad)
	}
}

var proxyHeaders = []EnvHeader{{"Modal-Key", "MODAL_PROXY_TOKEN_ID"}, {"Modal-Secret", "MODAL_PROXY_TOKEN_SECRET"}}

// Modal's proxy auth (modal.com/docs/guide/webhook-proxy-auth) wants the
// token in Modal-Key and Modal-Secret headers; the entry names the variables
// LiteLLM reads them from and never holds the values.
func TestLiteLLMExtraHeaders(t *testing.T) {
	e := LiteLLMEntry{ModelName: "m-local", Model: "openai/org/M", APIBase: "https://ws--goat-vllm-m-serve.modal.run/v1", APIKey: "not-needed", ExtraHeaders: proxyHeaders}
	out := RenderLiteLLM([]LiteLLMEntry{e})
	var f litellmFile
	require.NoError(t, yaml.Unmarshal(out, &f))
	require.Equal(t, map[string]any{"Modal-Key": "os.environ/MODAL_PROXY_TOKEN_ID", "Modal-Secret": "os.environ/MODAL_PROXY_TOKEN_SECRET"},
		f.ModelList[0].LiteLLMParams["extra_headers"])

	tests := []struct{ name, in string }{
		{"entry without headers", "model_list:\n  - model_name: m-local\n    litellm_params:\n      model: openai/org/M\n      timeout: 5\n"},
		{"headers with a stale value and one missing", "model_list:\n  - model_name: m-local\n    litellm_params:\n      model: x\n      extra_headers:\n        Modal-Key: wk-literal # old\n        X-Other: y\n      timeout: 5\n"},
		{"no litellm_params", "model_list:\n  - model_name: m-local\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := MergeLiteLLM([]byte(tt.in), []LiteLLMEntry{e})
			require.NoError(t, err)
			var f litellmFile
			require.NoError(t, yaml.Unmarshal(out, &f), string(out))
			h, ok := f.ModelList[0].LiteLLMParams["extra_headers"].(map[string]any)
			require.True(t, ok, string(out))
			require.Equal(t, "os.environ/MODAL_PROXY_TOKEN_ID", h["Modal-Key"], string(out))
			require.Equal(t, "os.environ/MODAL_PROXY_TOKEN_SECRET", h["Modal-Secret"], string(out))
			require.NotContains(t, string(out), "wk-literal")
			again, rep, err := MergeLiteLLM(out, []LiteLLMEntry{e})
			require.NoError(t, err)
			require.Equal(t, string(out), string(again), "idempotent")
			require.Equal(t, MergeReport{Unchanged: 1}, rep)
		})
	}
}

func TestEnableLiteLLMSetting(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no settings", "model_list: []\n", "model_list: []\nlitellm_settings:\n  include_cost_in_streaming_usage: true\n"},
		{"settings without it", "litellm_settings:\n    drop_params: true   # keep\nrouter_settings: {}\n",
			"litellm_settings:\n    drop_params: true   # keep\n    include_cost_in_streaming_usage: true\nrouter_settings: {}\n"},
		{"turned off", "litellm_settings:\n  include_cost_in_streaming_usage: false # was\n",
			"litellm_settings:\n  include_cost_in_streaming_usage: true # was\n"},
		{"empty settings", "litellm_settings:\nx: 1\n", "litellm_settings:\n  include_cost_in_streaming_usage: true\nx: 1\n"},
		{"already on", "litellm_settings:\n  include_cost_in_streaming_usage: true\n", "litellm_settings:\n  include_cost_in_streaming_usage: true\n"},
		{"CRLF", "a: 1\r\n", "a: 1\r\nlitellm_settings:\r\n  include_cost_in_streaming_usage: true\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := EnableLiteLLMSetting([]byte(tt.in), StreamingCostSetting)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(out))
			require.Equal(t, tt.in != tt.want, changed)
			var f litellmFile
			require.NoError(t, yaml.Unmarshal(out, &f))
			require.Equal(t, true, f.LiteLLMSettings[StreamingCostSetting])
			again, changed, err := EnableLiteLLMSetting(out, StreamingCostSetting)
			require.NoError(t, err)
			require.False(t, changed)
			require.Equal(t, string(out), string(again))
		})
	}
	_, _, err := EnableLiteLLMSetting([]byte("litellm_settings: {a: 1}\n"), StreamingCostSetting)
	require.ErrorContains(t, err, "block mapping")
}
