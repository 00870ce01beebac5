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
	"go.yaml.in/yaml/v3"
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

// A file of two documents is refused, naming where the second starts: it
// would be dropped without a word. A --- that opens the file, or ends it
// with nothing after, drops nothing.
func TestSingleRefusesASecondDocument(t *testing.T) {
	for data, want := range map[string]string{
		"a: 1\n---\nb: 2\n":           "line 3: a second YAML document (after ---); a file holds one",
		"---\na: 1\n---\n---\nb: 2\n": "line 5: a second YAML document (after ---); a file holds one",
		"---\na: 1\n":                 "",
		"a: 1\n---\n":                 "",
		"":                            "",
	} {
		var n yaml.Node
		err := Single([]byte(data), &n)
		if want == "" {
			require.NoError(t, err, "%q", data)
			continue
		}
		require.EqualError(t, err, want, "%q", data)
	}
	var n yaml.Node
	require.NoError(t, Single([]byte("a: 1\n"), &n))
	require.Equal(t, "a", n.Content[0].Content[0].Value, "the one document is decoded")
}
