package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// withAgent copies the fixture run with run.json naming an agent.
func withAgent(t *testing.T, agent string) *Run {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{results.ManifestFile, results.AttemptsFile} {
		b, err := os.ReadFile(filepath.Join("testdata", "run", f))
		require.NoError(t, err)
		if f == results.ManifestFile {
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			m["agent"] = agent
			b, err = json.Marshal(m)
			require.NoError(t, err)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	r, err := Load(dir)
	require.NoError(t, err)
	return r
}

// TestReportsNameAnExternalAgent: every format says whose attempts they
// were; the built-in loop's reports keep their shape (the golden files).
func TestReportsNameAnExternalAgent(t *testing.T) {
	r := withAgent(t, "goat eval {prompt}")
	var term, md, html, js bytes.Buffer
	require.NoError(t, r.Terminal(&term, false))
	require.NoError(t, r.Markdown(&md))
	require.NoError(t, r.HTML(&html))
	require.NoError(t, r.JSON(&js))
	for name, out := range map[string]string{"terminal": term.String(), "markdown": md.String(), "html": html.String()} {
		require.Regexp(t, `agent goat eval \{prompt\}`, out, "%s: the run line", name)
	}
	require.Regexp(t, `│ model\s+│ agent\s+│ passed`, term.String(), "the terminal's agent column")
	require.True(t, strings.Contains(md.String(), "| model | agent | passed"), "the markdown's agent column")
	require.Regexp(t, `<th[^>]*>agent</th>`, html.String(), "the HTML's agent column")
	var s Summary
	require.NoError(t, json.Unmarshal(js.Bytes(), &s))
	require.Equal(t, "goat eval {prompt}", s.Agent)

	builtin := loadFixture(t, "run")
	var plain bytes.Buffer
	require.NoError(t, builtin.Terminal(&plain, false))
	require.False(t, strings.Contains(plain.String(), "│ agent"), "no agent column for the built-in loop")
	require.Equal(t, results.BuiltinAgent, builtin.Summary().Agent, "a run.json without the field used the built-in loop")
}
