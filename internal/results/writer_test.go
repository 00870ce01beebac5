package results

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// watchSyncs replaces syncFile for the test with sync, restoring it after.
func watchSyncs(t *testing.T, sync func(f *os.File) error) {
	t.Helper()
	before := syncFile
	syncFile = sync
	t.Cleanup(func() { syncFile = before })
}

// Attempts finishing together share syncs, and none returns before a sync
// that began after its line was written has finished: the line is on disk.
func TestEveryLineIsSyncedBeforeItsAppendReturns(t *testing.T) {
	var (
		mu      sync.Mutex
		durable int // bytes of the stream that a finished sync covers
		syncs   int
	)
	watchSyncs(t, func(f *os.File) error {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		// A slow disk: lines written meanwhile wait for the next sync.
		time.Sleep(5 * time.Millisecond)
		if err := f.Sync(); err != nil {
			return err
		}
		mu.Lock()
		durable = max(durable, int(st.Size()))
		syncs++
		mu.Unlock()
		return nil
	})
	dir := t.TempDir()
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				a := Attempt{Model: "m", Task: fmt.Sprintf("t%d", g), Repeat: i, Status: StatusPass}
				if !assertNoError(t, w.Append(a)) {
					return
				}
				data, err := os.ReadFile(dir + "/" + AttemptsFile)
				if !assertNoError(t, err) {
					return
				}
				mu.Lock()
				covered := data[:min(durable, len(data))]
				mu.Unlock()
				line := fmt.Sprintf(`"task":"t%d","repeat":%d,`, g, i)
				if !bytes.Contains(covered, []byte(line)) {
					t.Errorf("Append of %s returned before a sync covered it", line)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())
	got, _, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Len(t, got, writers*each)
	require.Less(t, syncs, writers*each/2, "appends waiting on one sync share the next")
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// failSecondSync gives a Writer whose second sync fails with broken; n
// counts the syncs.
func failSecondSync(t *testing.T) (w *Writer, broken error, n *int) {
	t.Helper()
	broken, n = errors.New("input/output error"), new(int)
	watchSyncs(t, func(f *os.File) error {
		*n++
		if *n == 2 {
			return broken
		}
		return f.Sync()
	})
	w, err := OpenWriter(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return w, broken, n
}

// Linux reports a writeback error once to each open file and marks the
// failed pages clean: a sync that succeeds after it proves nothing of the
// lines the failed one held, so every Append after a failure fails too.
func TestAFailedSyncFailsEveryAppendAfterIt(t *testing.T) {
	w, broken, n := failSecondSync(t)
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "a", Status: StatusPass}))
	require.ErrorIs(t, w.Append(Attempt{Model: "m", Task: "b", Status: StatusPass}), broken)
	for _, task := range []string{"c", "d"} {
		require.ErrorIs(t, w.Append(Attempt{Model: "m", Task: task, Status: StatusPass}), broken, "the disk lost what the failed sync held")
	}
	require.Equal(t, 2, *n, "no sync after the failure is taken for proof")
}

// A sync that failed says nothing of lines an earlier one made durable: an
// attempt whose line that sync covered is recorded, whenever it asks.
func TestALineAnEarlierSyncCoveredStaysRecordedAfterAFailure(t *testing.T) {
	w, broken, _ := failSecondSync(t)
	// Written, and its Append not yet at the sync when the next one syncs.
	first, err := w.write([]byte(`{"model":"m","task":"a","repeat":0,"status":"pass"}` + "\n"))
	require.NoError(t, err)
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "b", Status: StatusPass}), "the first sync covers a and b")
	require.ErrorIs(t, w.Append(Attempt{Model: "m", Task: "c", Status: StatusPass}), broken)
	require.NoError(t, w.syncTo(first), "a was on disk before the failure")
}

// Bytes someone else appends between the Writer's cut and its write are
// never kept before the Writer's line: the line goes where the Writer's own
// bytes end, and the next write cuts what is left of them.
func TestBytesAppendedJustBeforeALineAreNotKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, AttemptsFile)
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "a", Status: StatusFail}))
	forged := `{"model":"m","task":"a","repeat":0,"status":"pass"}` + "\n"
	testHookWrite = func() {
		testHookWrite = nil
		require.NoError(t, os.Chmod(path, 0o644))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.WriteString(forged + forged)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	t.Cleanup(func() { testHookWrite = nil })
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "b", Status: StatusFail}))
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "c", Status: StatusFail}))
	require.NoError(t, w.Close())
	got, warnings, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	var tasks []string
	for _, a := range got {
		require.Equal(t, StatusFail, a.Status, "a forged pass was kept")
		tasks = append(tasks, a.Task)
	}
	require.Equal(t, []string{"a", "b", "c"}, tasks)
}

// A disk that fills in the middle of a line: the part written is cut off,
// so once there is room again the next line starts a line of its own and the
// stream stays readable.
func TestALineTornByAFullDiskIsCutOff(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a small disk is a tmpfs, mounted by root")
	}
	dir := t.TempDir()
	// Two pages: the filler takes one, the stream the other.
	require.NoError(t, unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=8k"))
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	filler := filepath.Join(dir, "filler")
	require.NoError(t, os.WriteFile(filler, make([]byte, 4096), 0o644))
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	long := strings.Repeat("x", 1400)
	for _, task := range []string{"a", "b"} {
		require.NoError(t, w.Append(Attempt{Model: "m", Task: task, Status: StatusFail, Reason: long}))
	}
	err = w.Append(Attempt{Model: "m", Task: "c", Status: StatusFail, Reason: long})
	require.ErrorIs(t, err, syscall.ENOSPC, "the third line does not fit in the page")
	got, warnings, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings, "no torn line is left, should the run end here")
	require.Len(t, got, 2)
	require.NoError(t, os.Remove(filler))
	for _, task := range []string{"d", "e"} {
		require.NoError(t, w.Append(Attempt{Model: "m", Task: task, Status: StatusFail, Reason: long}))
	}
	require.NoError(t, w.Close())
	got, warnings, err = ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	var tasks []string
	for _, a := range got {
		tasks = append(tasks, a.Task)
	}
	require.Equal(t, []string{"a", "b", "d", "e"}, tasks)
}
