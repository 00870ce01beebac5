package runner

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

// fullDisk is a run folder on a filesystem with no room left: a small tmpfs
// (so root only) filled by one file.
func fullDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is a tmpfs, mounted by root")
	}
	dir := t.TempDir()
	require.NoError(t, unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k"))
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	f, err := os.Create(filepath.Join(dir, "filler"))
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 1<<20))
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, f.Close())
	return dir
}

// A full disk: every write of the results stream fails.
// The run must stop at the first failure, not go on spending a paid model's
// requests on attempts whose results cannot be kept.
func TestAFailedResultsWriteStopsTheRun(t *testing.T) {
	suite := tasks.Suite{Name: "many"}
	for i := range 40 {
		suite.Tasks = append(suite.Tasks, mustTask(t, fmt.Sprintf("id: t%d\nprompt: say %d\nchecks: [{answer_contains: \"%d\"}]\nreference: [{answer: \"%d\"}]\n", i, i, i, i)))
	}
	h := newHarness(t, suite)
	h.opts.Parallel = 2
	h.opts.RunDir = fullDisk(t)
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
