package engine

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

func TestResolveTargets(t *testing.T) {
	prev := &Previous{Manifest: results.Manifest{Models: []results.ModelInfo{{Name: "qwen3-4b-local", BaseURL: "http://earlier/v1"}}}}
	tests := []struct {
		name    string
		sel     Selection
		want    []string // name|model id|base URL|temperature|tool choice|modal
		wantErr string
	}{
		{"a key becomes its route, with the model's defaults",
			Selection{Names: []string{"qwen3-4b"}, BaseURL: "http://proxy/v1", Temperature: -1},
			[]string{"qwen3-4b-local|qwen3-4b-local|http://proxy/v1|0.3|auto|modal"}, ""},
		{"a route resolves and --temperature overrides; repeats are dropped",
			Selection{Names: []string{"qwen3-4b-local", " qwen3-4b-local", ""}, BaseURL: "http://proxy/v1", Temperature: 0.7},
			[]string{"qwen3-4b-local|qwen3-4b-local|http://proxy/v1|0.7|auto|modal"}, ""},
		{"an API model is not deployed",
			Selection{Names: []string{"gpt-5-nano"}, BaseURL: "http://proxy/v1", Temperature: -1},
			[]string{"gpt-5-nano|gpt-5-nano|http://proxy/v1|-||"}, ""},
		{"direct: the Hugging Face id, at a URL known once warm",
			Selection{Names: []string{"qwen3-4b"}, Direct: true, Temperature: -1},
			[]string{"qwen3-4b-local|Qwen/Qwen3-4B-Instruct-2507||0.3|auto|modal"}, ""},
		{"direct ignores the endpoint, whatever it holds",
			Selection{Names: []string{"qwen3-4b"}, Direct: true, BaseURL: "https://x.example/v1?api-version=2024-06-01", Temperature: -1},
			[]string{"qwen3-4b-local|Qwen/Qwen3-4B-Instruct-2507||0.3|auto|modal"}, ""},
		{"a raw Hugging Face id is recognised but not deployed",
			Selection{Names: []string{"qwen/qwen3-4b-instruct-2507"}, Raw: true, BaseURL: "http://vllm/v1", Temperature: -1},
			[]string{"qwen/qwen3-4b-instruct-2507|qwen/qwen3-4b-instruct-2507|http://vllm/v1|0.3|auto|"}, ""},
		{"a raw -local name gets local-model defaults",
			Selection{Names: []string{"mine-local"}, Raw: true, BaseURL: "http://vllm/v1", Temperature: -1},
			[]string{"mine-local|mine-local|http://vllm/v1|0.3|auto|"}, ""},
		{"the reference runs offline",
			Selection{Names: []string{"reference"}, Temperature: -1},
			[]string{"reference|reference||0.3|auto|"}, ""},
		{"a resumed run keeps its endpoint",
			Selection{Names: []string{"qwen3-4b"}, Temperature: -1, Previous: prev},
			[]string{"qwen3-4b-local|qwen3-4b-local|http://earlier/v1|0.3|auto|modal"}, ""},
		{"an unknown name", Selection{Names: []string{"nope"}, BaseURL: "http://proxy/v1"}, nil, "nope"},
		{"no endpoint", Selection{Names: []string{"gpt-5-nano"}, Temperature: -1}, nil, `model "gpt-5-nano" needs an endpoint`},
		{"nothing named", Selection{Names: []string{" "}}, nil, "--models is empty"},
		// The path is appended to the base URL: a query would sit in the
		// middle of every request's URL, and a key in it in run.json.
		{"a query string", Selection{Names: []string{"gpt-5-nano"}, BaseURL: "https://proxy/v1?key=s3cret"}, nil, "must not carry a query string"},
		{"a fragment", Selection{Names: []string{"gpt-5-nano"}, BaseURL: "https://proxy/v1#x"}, nil, "must not carry a query string"},
		{"no scheme", Selection{Names: []string{"gpt-5-nano"}, BaseURL: "proxy:4000/v1"}, nil, "must be an http:// or https:// URL"},
		{"a key in the wrong flag", Selection{Names: []string{"gpt-5-nano"}, BaseURL: "sk-s3cret"}, nil, "must be an http:// or https:// URL"},
		{"no host", Selection{Names: []string{"gpt-5-nano"}, BaseURL: "http:///v1"}, nil, "must be an http:// or https:// URL"},
		{"not a URL", Selection{Names: []string{"gpt-5-nano"}, BaseURL: "http://a b/v1?key=s3cret"}, nil, "is not a URL: invalid character \" \" in host name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveTargets(registry(t), tc.sel)
			if tc.wantErr != "" {
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "s3cret", "an error names no key")
				return
			}
			require.NoError(t, err)
			var rows []string
			for _, tg := range got {
				temp, modal := "-", ""
				if tg.Temperature != nil {
					temp = formatFloat(*tg.Temperature)
				}
				if tg.Modal != nil {
					modal = "modal"
				}
				rows = append(rows, tg.Name+"|"+tg.ModelID+"|"+tg.BaseURL+"|"+temp+"|"+tg.ToolChoice+"|"+modal)
				require.Equal(t, tg.Name, tg.Info.Name)
			}
			require.Equal(t, tc.want, rows)
		})
	}
}

func TestRecordedURLMasksThePassword(t *testing.T) {
	require.Equal(t, "http://u:xxxxx@proxy/v1", RecordedURL("http://u:s3cret@proxy/v1"))
	require.Equal(t, "http://proxy/v1", RecordedURL("http://proxy/v1"))
}

func formatFloat(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }
