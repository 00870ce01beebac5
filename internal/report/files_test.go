package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// copyRun copies a fixture run folder, so files can be written beside it.
func copyRun(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"run.json", "results.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata", fixture, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	return dir
}

func TestWriteFiles(t *testing.T) {
	dir := copyRun(t, "run")
	summary := filepath.Join(t.TempDir(), "step-summary.md")
	require.NoError(t, os.WriteFile(summary, []byte("earlier step\n"), 0o644))
	t.Setenv(StepSummaryEnv, summary)

	require.NoError(t, WriteFiles(dir))

	for name, goldenName := range map[string]string{
		MarkdownFile: "report.md.golden", SummaryFile: "summary.json.golden",
		JUnitFile: "junit.xml.golden", HTMLFile: "report.html.golden",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join("testdata", "golden", goldenName))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s is the same report as its golden file", name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 6, "the two inputs and four reports, no temporary files left")

	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	require.NoError(t, err)
	step, err := os.ReadFile(summary)
	require.NoError(t, err)
	require.Equal(t, "earlier step\n"+string(md)+"\n", string(step), "appended, not replaced")

	var s Summary
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &s))
	require.Equal(t, SummarySchema, s.Schema)
	require.Equal(t, Counts{Passed: 36, Failed: 5, Timeouts: 1, Errors: 1, NotRun: 2}, s.Totals)
	require.Len(t, s.Failures, 7)
}

func TestWriteFilesWithoutStepSummary(t *testing.T) {
	dir := copyRun(t, "run")
	t.Setenv(StepSummaryEnv, "")
	require.NoError(t, WriteFiles(dir))
	require.FileExists(t, filepath.Join(dir, JUnitFile))
}

// A job summary that is a FIFO nobody reads is refused at once, the run's
// own reports written all the same: the append blocked for ever.
func TestWriteFilesRefusesAStepSummaryThatIsNoFile(t *testing.T) {
	dir := copyRun(t, "run")
	fifo := filepath.Join(t.TempDir(), "summary")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	t.Setenv(StepSummaryEnv, fifo)
	done := make(chan error, 1)
	go func() { done <- WriteFiles(dir) }()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "job summary: "+fifo+": not a regular file")
		require.FileExists(t, filepath.Join(dir, MarkdownFile))
	case <-time.After(10 * time.Second):
		t.Fatal("blocked on the FIFO")
	}
}

func TestWriteFilesOnBadRunSaysWhy(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "results.jsonl"), nil, 0o644))
	err := WriteFiles(dir)
	require.Error(t, err)
	require.Contains(t, err.Error(), "holds no attempt")
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 1, "nothing written for a run with no attempt")
}

func TestWriteFilesReportsAFileItCannotWriteAndWritesTheRest(t *testing.T) {
	dir := copyRun(t, "run")
	// A folder where report.md should go: renaming onto it fails, even for root.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, MarkdownFile, "keep"), 0o755))
	err := WriteFiles(dir)
	require.Error(t, err)
	require.Contains(t, err.Error(), "write "+filepath.Join(dir, MarkdownFile))
	for _, name := range []string{SummaryFile, JUnitFile, HTMLFile} {
		require.FileExists(t, filepath.Join(dir, name))
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), "."), "temporary file %s left behind", e.Name())
	}
}
