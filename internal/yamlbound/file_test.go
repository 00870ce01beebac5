package yamlbound

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// What is named where a YAML file belongs is read only when it is a regular
// file of at most MaxFileSize bytes, and refused at once otherwise: a FIFO
// nobody writes to, or /dev/zero, would block or fill the memory.
func TestReadFileRefusesWhatIsNoYAMLFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o644))
	ok := filepath.Join(dir, "ok.yaml")
	require.NoError(t, os.WriteFile(ok, []byte("models: []\n"), 0o644))

	for path, want := range map[string]string{
		fifo:        "not a regular file (a FIFO)",
		"/dev/zero": "not a regular file (a device)",
		dir:         "a folder, not a file",
		big:         "4194305 bytes, more than a YAML file here may hold (4194304)",
	} {
		start := time.Now()
		_, err := ReadFile(path)
		require.EqualError(t, err, want, path)
		require.Less(t, time.Since(start), 2*time.Second, "refused without waiting: %s", path)
	}
	_, err := ReadFile(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a missing file is still told from a bad one")
	b, err := ReadFile(ok)
	require.NoError(t, err)
	require.Equal(t, "models: []\n", string(b))
}
