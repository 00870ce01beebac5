package report

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `go test ./internal/report -update` to create the golden files")
	require.Equal(t, string(want), string(got), "%s differs from its golden file; rerun with -update if the change is intended", name)
}

func loadFixture(t testing.TB, dir string) *Run {
	t.Helper()
	r, err := Load(filepath.Join("testdata", dir))
	require.NoError(t, err)
	return r
}

func TestGoldenOutputs(t *testing.T) {
	r := loadFixture(t, "run")
	require.Empty(t, r.Warnings)
	for _, tc := range []struct {
		golden string
		write  func(io.Writer) error
	}{
		{"terminal.golden", func(w io.Writer) error { return r.Terminal(w, false) }},
		{"terminal_color.golden", func(w io.Writer) error { return r.Terminal(w, true) }},
		{"report.md.golden", r.Markdown},
		{"junit.xml.golden", r.JUnit},
		{"summary.json.golden", r.JSON},
		{"report.html.golden", r.HTML},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tc.write(&b))
			golden(t, tc.golden, b.Bytes())
		})
	}
}

func TestOutputsAreDeterministic(t *testing.T) {
	var first []byte
	for range 5 {
		r := loadFixture(t, "run")
		var b bytes.Buffer
		require.NoError(t, r.Markdown(&b))
		require.NoError(t, r.JUnit(&b))
		require.NoError(t, r.JSON(&b))
		require.NoError(t, r.HTML(&b))
		require.NoError(t, r.Terminal(&b, true))
		if first == nil {
			first = b.Bytes()
			continue
		}
		require.Equal(t, string(first), b.String())
	}
}
