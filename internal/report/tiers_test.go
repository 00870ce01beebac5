package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// tieredRun: two models on four tasks in two tiers, listed in the suite's
// (alphabetical) order, which is not the tiers' order.
func tieredRun() *Run {
	man := results.Manifest{RunID: "r1", Suite: "mine", Repeat: 1,
		Tasks:  []string{"code-a", "code-b", "fid-a", "fid-b"},
		Tiers:  map[string]string{"code-a": "code", "code-b": "code", "fid-a": "fidelity", "fid-b": "fidelity"},
		Models: []results.ModelInfo{{Name: "big"}, {Name: "small"}}}
	at := func(model, task string, st results.Status) results.Attempt {
		return results.Attempt{RunID: "r1", Model: model, Task: task, Status: st}
	}
	return New(man, []results.Attempt{
		at("big", "code-a", results.StatusPass), at("big", "code-b", results.StatusPass),
		at("big", "fid-a", results.StatusPass), at("big", "fid-b", results.StatusFail),
		at("small", "code-a", results.StatusFail), at("small", "code-b", results.StatusError),
		at("small", "fid-a", results.StatusPass), at("small", "fid-b", results.StatusPass),
	}, nil)
}

func TestTierRows(t *testing.T) {
	r := tieredRun()
	require.Equal(t, []string{"fid-a", "fid-b", "code-a", "code-b"}, r.Tasks(), "grouped in tier order")
	rows := r.TierRows()
	require.Len(t, rows, 2)
	require.Equal(t, "fidelity", rows[0].Tier)
	require.Equal(t, 2, rows[0].Tasks)
	require.Equal(t, "big", rows[0].Models[0].Model)
	require.Equal(t, 0.5, *rows[0].Models[0].PassRate)
	require.Equal(t, 1.0, *rows[0].Models[1].PassRate)
	require.Equal(t, "code", rows[1].Tier)
	require.Equal(t, 1.0, *rows[1].Models[0].PassRate)
	small := rows[1].Models[1]
	require.Equal(t, 0.0, *small.PassRate, "the error counts neither way")
	require.Equal(t, 1, small.Errors)
	require.Equal(t, "0/1 0%", small.text())
}

func TestTiersInEveryFormat(t *testing.T) {
	r := tieredRun()
	var md bytes.Buffer
	require.NoError(t, r.Markdown(&md))
	require.Contains(t, md.String(), "### Pass rate by tier\n\n| tier | tasks | big | small |\n")
	require.Contains(t, md.String(), "| fidelity | 2 | 1/2 50% | 2/2 100% |\n| code | 2 | 2/2 100% | 0/1 0% |\n")
	require.Regexp(t, `\| \*\*fidelity \(2 tasks\)\*\* \|  \|  \|\n\| fid-a \|`, md.String())

	var term bytes.Buffer
	require.NoError(t, r.Terminal(&term, false))
	out := term.String()
	require.Less(t, strings.Index(out, "fidelity (2 tasks)"), strings.Index(out, "code (2 tasks)"))
	require.Regexp(t, `│ fidelity\s+│\s+2 │\s+1/2 50% │\s+2/2 100% │`, out)

	var js bytes.Buffer
	require.NoError(t, r.JSON(&js))
	var sum Summary
	require.NoError(t, json.Unmarshal(js.Bytes(), &sum))
	require.Len(t, sum.Tiers, 2)
	require.Equal(t, "fidelity", sum.Matrix[0].Tier)

	var page bytes.Buffer
	require.NoError(t, r.HTML(&page))
	require.Contains(t, page.String(), `<h2>Pass rate by tier</h2>`)
	require.Contains(t, page.String(), `<tr class="tier"><th colspan="3" style="background: #f6f8fa">code (2 tasks)</th></tr>`)
}

// TestUntieredRunUnchanged: a run whose tasks have no tier (the smoke suite)
// shows neither the tier table nor tier headings.
func TestUntieredRunUnchanged(t *testing.T) {
	r := loadFixture(t, "run")
	require.Nil(t, r.TierRows())
	var md bytes.Buffer
	require.NoError(t, r.Markdown(&md))
	require.NotContains(t, md.String(), "tier")
}
