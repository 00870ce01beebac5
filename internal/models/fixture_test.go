package models

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite fixtures and golden files from what the code produces now")

// specFixture is where the Python Modal apps' tests read the specs from. It
// is made absolute at package init, while the working directory is still this
// package's: tests change directory to keep a stray goatbench.yaml out.
var specFixture = mustAbs(filepath.Join("..", "..", "modal", "tests", "fixtures", "specs.json"))

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return abs
}

// specsJSON renders every Modal-served model's spec keyed by model key.
func specsJSON(t *testing.T, r *Registry) []byte {
	t.Helper()
	specs := map[string]json.RawMessage{}
	for _, s := range r.Local() {
		b, err := s.JSON()
		require.NoError(t, err)
		specs[s.Key] = b
	}
	out, err := json.MarshalIndent(specs, "", "  ")
	require.NoError(t, err)
	return append(out, '\n')
}

// TestSpecFixture keeps modal/tests/fixtures/specs.json equal to what the
// registry hands the Modal apps, so the Python side is tested against the
// real specs rather than a copy that drifts.
func TestSpecFixture(t *testing.T) {
	got := specsJSON(t, loadBuiltIn(t))
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(specFixture), 0o755))
		require.NoError(t, os.WriteFile(specFixture, got, 0o644))
		return
	}
	want, err := os.ReadFile(specFixture)
	require.NoError(t, err, "run: go test ./internal/models -run TestSpecFixture -update")
	if !bytes.Equal(want, got) {
		t.Fatal("modal/tests/fixtures/specs.json is out of date with the registry; run: go test ./internal/models -run TestSpecFixture -update")
	}

	// Every value in it is exactly one spec's JSON.
	var parsed map[string]map[string]any
	require.NoError(t, json.Unmarshal(want, &parsed))
	require.Len(t, parsed, 6)
	for key, spec := range parsed {
		require.Equal(t, key, spec["key"])
		require.Contains(t, []any{"vllm", "gpt-oss"}, spec["kind"])
	}
}
