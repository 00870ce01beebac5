package sandbox

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// deepTree builds what a model builds with `mkdir $n && cd $n` in a loop:
// levels directories of 200-character names, far past PATH_MAX (4096), the
// deepest read-only, with a file at the bottom. It returns that file's depth
// in bytes of path.
func deepTree(t *testing.T, dir string, levels int) int {
	t.Helper()
	name := strings.Repeat("d", 200)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	for range levels {
		require.NoError(t, unix.Mkdirat(fd, name, 0o755))
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		unix.Close(fd)
		fd = sub
	}
	f, err := unix.Openat(fd, "leaf", unix.O_CREAT|unix.O_WRONLY, 0o644)
	require.NoError(t, err)
	unix.Close(f)
	require.NoError(t, unix.Fchmod(fd, 0o555))
	unix.Close(fd)
	return len(dir) + levels*(len(name)+1) + len("/leaf")
}

func TestWorkspaceTreesDeeperThanAPathAreWalked(t *testing.T) {
	dir := t.TempDir()
	depth := deepTree(t, dir, 30)
	require.Greater(t, depth, unix.PathMax)

	if os.Geteuid() == 0 {
		require.NoError(t, own(dir, 12345), "handing the workspace over must not fail on a long path")
		leaf := 0
		require.NoError(t, walkAt(dir, func(_ int, name string, st *unix.Stat_t) error {
			require.Equal(t, uint32(12345), st.Uid, name)
			if name == "leaf" {
				leaf++
			}
			return nil
		}))
		require.Equal(t, 1, leaf, "the walk reached the bottom")
	}
	require.NoError(t, MakeRemovable(dir))
	require.NoError(t, os.RemoveAll(dir))
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestTooDeepATreeIsTheWorkspacesFault(t *testing.T) {
	dir := t.TempDir()
	name := "d"
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	for range maxDepth + 2 {
		require.NoError(t, unix.Mkdirat(fd, name, 0o755))
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		unix.Close(fd)
		fd = sub
	}
	unix.Close(fd)
	err = walkAt(dir, func(int, string, *unix.Stat_t) error { return nil })
	require.ErrorIs(t, err, ErrWorkspace)
	_ = MakeRemovable(dir) // stops at the bound; RemoveAll needs no help as the owner
	require.NoError(t, os.RemoveAll(dir))
	var st syscall.Stat_t
	require.Error(t, syscall.Stat(dir, &st))
}
