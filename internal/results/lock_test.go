package results

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestASecondLockIsRefusedNamingTheHolder(t *testing.T) {
	dir := t.TempDir()
	first, err := LockDir(dir)
	require.NoError(t, err)

	// flock conflicts between open files, even in one process.
	_, err = LockDir(dir)
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, fmt.Sprintf("in use by goatbench pid %d", os.Getpid()))
	require.NotContains(t, err.Error(), "\n")

	require.NoError(t, first.Unlock())
	again, err := LockDir(dir)
	require.NoError(t, err, "released with its holder")
	require.NoError(t, again.Unlock())
}

func TestLinesTheWriterDidNotWriteAreCut(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "t", Status: StatusFail}))
	path := filepath.Join(dir, AttemptsFile)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o444), st.Mode().Perm(), "read-only while open")

	// A command of the same user makes it writable again and forges a pass.
	require.NoError(t, os.Chmod(path, 0o644))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	forged := `{"model":"m","task":"t","repeat":0,"status":"pass"}` + "\n"
	_, err = f.WriteString(forged)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	require.NoError(t, w.Append(Attempt{Model: "m", Task: "u", Status: StatusFail}))
	require.NoError(t, w.Close())
	require.EqualValues(t, len(forged), w.Cut())
	got, warnings, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Len(t, got, 2)
	for _, a := range got {
		require.Equal(t, StatusFail, a.Status)
	}

	// A resumed run opens it again.
	w, err = OpenWriter(dir)
	require.NoError(t, err)
	require.NoError(t, w.Append(Attempt{Model: "m", Task: "v", Status: StatusPass}))
	require.NoError(t, w.Close())
	got, _, err = ReadAttempts(dir)
	require.NoError(t, err)
	require.Len(t, got, 3)
}

// A process that opened a folder's lock file, then lost the processor while
// another removed the folder (a leftover) and a new run made it again and
// locked it, must not take the folder: its lock is on a file no longer there,
// and taking it would let it remove the new run's workspaces under its feet.
func TestALockOnAFileSinceRemovedIsNoLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.Mkdir(dir, 0o755))
	old, err := LockDir(dir) // a leftover's lock file
	require.NoError(t, err)
	require.NoError(t, old.Unlock())

	var live *Lock
	testHookOpened = func() {
		testHookOpened = nil
		// Meanwhile: the leftover is removed, a new run makes the folder anew
		// and locks it.
		require.NoError(t, os.RemoveAll(dir))
		require.NoError(t, os.Mkdir(dir, 0o755))
		var err error
		live, err = LockDir(dir)
		require.NoError(t, err)
	}
	t.Cleanup(func() { testHookOpened = nil })

	_, err = LockDir(dir)
	require.ErrorIs(t, err, ErrLocked, "the new run holds the folder")
	require.NotNil(t, live)
	require.NoError(t, live.Unlock())
}
