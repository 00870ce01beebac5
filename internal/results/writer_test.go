package results

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

// Linux reports a failed writeback to one fsync only: a sync that succeeds
// after it proves nothing of the lines the failed one held, so every Append
// after a failure fails too.
func TestAFailedSyncFailsEveryAppendAfterIt(t *testing.T) {
	broken := errors.New("input/output error")
	n := 0
	watchSyncs(t, func(f *os.File) error {
		n++
		if n == 2 {
			return broken
		}
		return f.Sync()
	})
	w, err := OpenWriter(t.TempDir())
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "a", Status: StatusPass}))
	require.ErrorIs(t, w.Append(Attempt{Model: "m", Task: "b", Status: StatusPass}), broken)
	for _, task := range []string{"c", "d"} {
		require.ErrorIs(t, w.Append(Attempt{Model: "m", Task: task, Status: StatusPass}), broken, "the disk lost what the failed sync held")
	}
	require.Equal(t, 2, n, "no sync after the failure is taken for proof")
}
