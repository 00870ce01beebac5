package runner

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

// A full disk: every write of the results stream fails (it is /dev/full).
// The run must stop at the first failure, not go on spending a paid model's
// requests on attempts whose results cannot be kept.
func TestAFailedResultsWriteStopsTheRun(t *testing.T) {
	suite := tasks.Suite{Name: "many"}
	for i := range 40 {
		suite.Tasks = append(suite.Tasks, mustTask(t, fmt.Sprintf("id: t%d\nprompt: say %d\nchecks: [{answer_contains: \"%d\"}]\nreference: [{answer: \"%d\"}]\n", i, i, i, i)))
	}
	h := newHarness(t, suite)
	h.opts.Parallel = 2
	require.NoError(t, os.Symlink("/dev/full", filepath.Join(h.opts.RunDir, results.AttemptsFile)))
	srv := httptest.NewServer(h.server)
	defer srv.Close()
	r, err := New(h.suite, h.opts)
	require.NoError(t, err)
	m := Model{Name: "m", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", "")}

	var we *WriteError
	require.ErrorAs(t, r.RunModel(context.Background(), m), &we)
	require.ErrorContains(t, we, "no space left on device")
	// The attempt whose line failed, and those already in flight beside it.
	require.LessOrEqual(t, h.server.Requests(), int64(2*h.opts.Parallel), "attempts went on after the first failed write")

	// Another model of the same run starts nothing.
	before := h.server.Requests()
	require.ErrorAs(t, r.RunModel(context.Background(), m), &we)
	require.Equal(t, before, h.server.Requests())
	require.ErrorAs(t, r.FailModel("other", results.ClassDeploy, "x"), &we)
	require.NoError(t, r.Close())
}
