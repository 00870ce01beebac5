package results

import (
	"fmt"
	"os"
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
